"""gpuaug: batched, on-device augmentation for semantic segmentation.

Image and mask share one per-sample parameter draw, every geometric op folds into one
output→source 3×3 matrix per sample, images are resampled bilinearly and masks by
nearest-neighbour gather (dtype and ``ignore_index`` kept), once.
"""

from gpuaug import audit, functional, metrics, mmseg, naive, peers, probe, reference, viz
from gpuaug.compose import Compose
from gpuaug.core.records import Params
from gpuaug.data import to_device
from gpuaug.guardrails import ClassPixelMonitor, check_image_values, check_mask
from gpuaug.mmseg import from_mmseg
from gpuaug.targets import Points, Target
from gpuaug.transforms import (
    CenterCrop,
    ClassMix,
    ColorJitter,
    CutMix,
    ElasticTransform,
    GaussianBlur,
    GaussianNoise,
    Mosaic,
    Normalize,
    OneOf,
    PhotoMetricDistortion,
    RandomAffine,
    RandomAffine3D,
    RandomApply,
    RandomContrast,
    RandomCrop,
    RandomCrop3D,
    RandomFlip3D,
    RandomGamma,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomMultiplicativeBrightness,
    RandomPerspective,
    RandomResize,
    RandomResizedCrop,
    RandomRotation,
    RandomScale,
    RandomVerticalFlip,
    Resize,
    Resize3D,
)

__version__ = "0.1.0"

__all__ = [
    "Compose",
    "Params",
    "Target",
    "Points",
    "ClassPixelMonitor",
    "check_mask",
    "check_image_values",
    "to_device",
    "from_mmseg",
    "CenterCrop",
    "ClassMix",
    "ColorJitter",
    "CutMix",
    "ElasticTransform",
    "GaussianBlur",
    "GaussianNoise",
    "Mosaic",
    "Normalize",
    "OneOf",
    "PhotoMetricDistortion",
    "RandomAffine",
    "RandomApply",
    "RandomCrop",
    "RandomGrayscale",
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
    # submodules
    "audit",
    "functional",
    "metrics",
    "mmseg",
    "naive",
    "peers",
    "probe",
    "reference",
    "viz",
]
