"""The ops a :class:`gpuaug.Compose` chains, one module per family."""

from gpuaug.transforms.affine import RandomAffine, RandomPerspective, RandomRotation
from gpuaug.transforms.base import CanvasOp, Op, PixelOp, Step
from gpuaug.transforms.blur import GaussianBlur
from gpuaug.transforms.canvas import ClassMix, CutMix, ElasticTransform, Mosaic
from gpuaug.transforms.color import ColorJitter, GaussianNoise, Normalize, PhotoMetricDistortion, RandomGrayscale
from gpuaug.transforms.composite import OneOf, RandomApply
from gpuaug.transforms.geometric import (
    CenterCrop,
    RandomCrop,
    RandomHorizontalFlip,
    RandomResize,
    RandomResizedCrop,
    RandomScale,
    RandomVerticalFlip,
    Resize,
)
from gpuaug.transforms.intensity import RandomContrast, RandomGamma, RandomMultiplicativeBrightness
from gpuaug.transforms.volume import RandomAffine3D, RandomCrop3D, RandomFlip3D, Resize3D

__all__ = [
    "Op",
    "PixelOp",
    "CanvasOp",
    "Step",
    "ClassMix",
    "CutMix",
    "ElasticTransform",
    "Mosaic",
    "OneOf",
    "RandomApply",
    "ColorJitter",
    "GaussianBlur",
    "GaussianNoise",
    "Normalize",
    "PhotoMetricDistortion",
    "RandomGrayscale",
    "CenterCrop",
    "RandomAffine",
    "RandomCrop",
    "RandomHorizontalFlip",
    "RandomPerspective",
    "RandomResize",
    "RandomResizedCrop",
    "RandomRotation",
    "RandomScale",
    "RandomVerticalFlip",
    "Resize",
    "RandomAffine3D",
    "RandomCrop3D",
    "RandomFlip3D",
    "Resize3D",
    "RandomContrast",
    "RandomGamma",
    "RandomMultiplicativeBrightness",
]
