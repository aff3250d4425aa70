"""Per-pixel targets: label maps and dense maps, warped with the images (:mod:`gpuaug.targets`)."""

from __future__ import annotations

import math

import torch

from gpuaug.core.checks import MASK_DTYPES, check_int
from gpuaug.core.planes import Planes, label_padding
from gpuaug.core.ragged import from_padded, pack
from gpuaug.targets.base import Context, Frame, TargetKind

__all__ = ["Target", "MapTarget", "LabelMap", "DenseMap", "INTERPOLATIONS", "FLOAT_DTYPES"]

INTERPOLATIONS = ("nearest", "bilinear")
#: Floating dtypes a dense map may have (it keeps it).
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


class Target:
    """A per-pixel target with its interpolation and fill made explicit.

    Args:
        tensor: B×H×W, B×1×H×W or B×K×H×W integer labels, or B×K×H×W floating maps.
        interpolation: "nearest" (gather: labels, or a float map that must not be
            interpolated) or "bilinear" (float maps only: an integer map would get labels
            that are not in it). Default: "nearest" for integer tensors, "bilinear" for float.
        fill: value written where the source point is outside the image; must fit the
            dtype. Default: ``ignore_index`` for integer tensors, 0.0 for float ones.

    Checked when it is used, so that errors name the target (``targets['depth']: ...``).

    Example:
        >>> targets = {"instances": gpuaug.Target(instance_ids, fill=0), "depth": depth}
        >>> images, masks, out = aug(images, masks, generator=g, targets=targets)
    """

    __slots__ = ("tensor", "interpolation", "fill")

    def __init__(self, tensor: torch.Tensor, interpolation: str | None = None, fill: float | int | None = None):
        self.tensor = tensor
        self.interpolation = interpolation
        self.fill = fill

    def __repr__(self) -> str:
        shape = tuple(self.tensor.shape) if isinstance(self.tensor, torch.Tensor) else type(self.tensor).__name__
        return f"Target({shape}, interpolation={self.interpolation!r}, fill={self.fill!r})"


class MapTarget(TargetKind, family=True):
    """A per-pixel map warped with the images: one :class:`Planes` source, and its output
    B×h×w or B×K×h×w (the layout it came with), stacked also for samples of several sizes.

    The family of :class:`LabelMap` (integer dtypes) and :class:`DenseMap` (floating ones):
    :meth:`check` picks one by the dtype, which then sets the defaults and the padding.
    """

    takes = ("tensor", "gpuaug.Target")
    title = "a per-pixel map"

    def __init__(self, planes: Planes, layout: tuple[int, ...]):
        self.sources = (planes,)
        #: Output dims between B and h×w: () for B×h×w, (K,) for B×K×h×w.
        self.layout = layout

    @classmethod
    def claims(cls, value: object, context: Context) -> bool:
        return isinstance(value, (Target, torch.Tensor)) or isinstance(value, (list, tuple)) and context.listed

    @classmethod
    def check(cls, value: object, key: str, context: Context) -> MapTarget:
        if isinstance(value, Target):
            tensor, interpolation, fill = value.tensor, value.interpolation, value.fill
        else:
            tensor, interpolation, fill = value, None, None
        batch = context.batch
        if context.listed:
            labels, dtype, layout = _check_list(tensor, key, batch)
            warped = pack(tensor, layout[0] if layout else 1)
        else:
            labels = _check_map(tensor, key, (batch.batch, *batch.in_size), batch.device)
            dtype, layout = tensor.dtype, tuple(tensor.shape[1:-2])
            warped = from_padded(tensor, batch.sizes) if batch.variable else tensor
        kind = LabelMap if labels else DenseMap
        interpolation = kind.check_interpolation(interpolation, dtype, key)
        fill = kind.check_fill(fill, dtype, key, context.ignore_index)
        return kind(Planes(warped, (fill,), interpolation == "bilinear", kind.padding(context)), layout)

    def finish(self, warped: tuple[torch.Tensor, ...], frame: Frame) -> torch.Tensor:
        (tensor,) = warped  # B×K×h×w when warped from a Ragged batch, else in the layout given
        shape = (frame.batch, *self.layout, *frame.out_size)
        return (tensor if tensor.shape == shape else tensor.reshape(shape)).contiguous()


class LabelMap(MapTarget):
    """An integer map: gathered by nearest like the masks (dtype and layout kept),
    ``ignore_index`` (or its fill) outside, following ``mask_padding``."""

    @staticmethod
    def padding(context: Context) -> str:
        return label_padding(context.padding_mode, context.mask_padding)

    @staticmethod
    def check_interpolation(interpolation: object, dtype: torch.dtype, key: str) -> str:
        interpolation = _check_interpolation(interpolation, key, "nearest")
        if interpolation == "bilinear":
            raise ValueError(
                f"{key}: interpolation='bilinear' on an integer tensor ({dtype}): integer maps are labels and are "
                "only gathered ('nearest'), bilinear would invent labels; pass a float tensor for a dense map"
            )
        return interpolation

    @staticmethod
    def check_fill(fill: object, dtype: torch.dtype, key: str, ignore_index: int) -> int:
        info = torch.iinfo(dtype)
        if fill is None:
            if not info.min <= ignore_index <= info.max:
                raise ValueError(
                    f"{key}: ignore_index {ignore_index} cannot be stored in {dtype} (range [{info.min}, "
                    f"{info.max}]); pass gpuaug.Target(tensor, fill=...) with a value the dtype can hold"
                )
            return ignore_index
        try:
            value = check_int(fill, f"{key}: fill")
        except TypeError:
            raise TypeError(f"{key}: fill: expected an int for a {dtype} label map, got {fill!r}") from None
        if not info.min <= value <= info.max:
            raise ValueError(f"{key}: fill: {value} cannot be stored in {dtype} (range [{info.min}, {info.max}])")
        return value


class DenseMap(MapTarget):
    """A floating map (depth, loss weights, heatmaps, logits): sampled bilinearly (or
    gathered) in its own dtype, 0.0 (or its fill) outside, following ``padding_mode``, never
    touched by the pixel ops."""

    @staticmethod
    def padding(context: Context) -> str:
        return context.padding_mode

    @staticmethod
    def check_interpolation(interpolation: object, dtype: torch.dtype, key: str) -> str:
        return _check_interpolation(interpolation, key, "bilinear")

    @staticmethod
    def check_fill(fill: object, dtype: torch.dtype, key: str, ignore_index: int) -> float:
        if fill is None:
            return 0.0
        if isinstance(fill, bool) or not isinstance(fill, (int, float)):
            raise TypeError(f"{key}: fill: expected a number for a {dtype} map, got {fill!r}")
        value = float(fill)
        limit = torch.finfo(dtype).max
        if not math.isfinite(value) or abs(value) > limit:
            raise ValueError(
                f"{key}: fill: expected a finite value that {dtype} can hold (|fill| <= {limit:g}), got {fill!r}"
            )
        return value


def _check_list(tensors: object, key: str, batch) -> tuple[bool, torch.dtype, tuple[int, ...]]:
    """Check a list of per-sample maps against a list of images: (labels, dtype, layout)."""
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(
            f"{key}: expected a list of {batch.batch} per-sample maps like the images, got {type(tensors).__name__}"
        )
    if len(tensors) != batch.batch:
        raise ValueError(f"{key}: expected {batch.batch} maps (one per image), got {len(tensors)}")
    first = tensors[0]
    if not isinstance(first, torch.Tensor):
        raise TypeError(f"{key}[0]: expected a torch.Tensor, got {type(first).__name__}")
    layout = tuple(first.shape[:-2])
    for k, (t, size) in enumerate(zip(tensors, batch.sizes, strict=True)):
        item = f"{key}[{k}]"
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{item}: expected a torch.Tensor, got {type(t).__name__}")
        labels = _check_map(t.unsqueeze(0), item, (1, *size), batch.device)
        if t.dtype != first.dtype or tuple(t.shape[:-2]) != layout:
            raise ValueError(f"{item}: every map must have {key}[0]'s dtype and planes, got {tuple(t.shape)} {t.dtype}")
    return labels, first.dtype, layout


def _check_map(tensor: object, key: str, size: tuple[int, int, int], device: torch.device) -> bool:
    """Check a per-pixel map; True for an integer (label) map, False for a float one."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{key}: expected a torch.Tensor, got {type(tensor).__name__}")
    dtype = tensor.dtype
    labels = dtype in MASK_DTYPES
    if not labels and dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{key}: expected an integer label map (uint8, int8, int16, int32, int64) or a float map "
            f"(float16, bfloat16, float32, float64), got {dtype}"
            + ("; pass binary masks as uint8 labels" if dtype == torch.bool else "")
        )
    shape = tuple(tensor.shape)
    if labels and tensor.dim() not in (3, 4):
        raise ValueError(f"{key}: an integer label map must be B×H×W, B×1×H×W or B×K×H×W, got shape {shape}")
    if not labels and tensor.dim() != 4:
        raise ValueError(f"{key}: a float map must be B×K×H×W (unsqueeze(1) a B×H×W map), got shape {shape}")
    if tensor.dim() == 4 and tensor.shape[1] == 0:
        raise ValueError(f"{key}: expected at least one plane, got shape {shape}")
    b, h, w = size
    if tensor.shape[0] != b:
        raise ValueError(f"{key}: batch size {tensor.shape[0]} does not match images batch size {b}")
    if tuple(tensor.shape[-2:]) != (h, w):
        raise ValueError(
            f"{key}: spatial size {tensor.shape[-2]}×{tensor.shape[-1]} does not match images spatial size {h}×{w}"
        )
    if tensor.device != device:
        raise ValueError(f"{key}: expected the images' device {device}, got {tensor.device}")
    return labels


def _check_interpolation(interpolation: object, key: str, default: str) -> str:
    if interpolation is None:
        return default
    if not isinstance(interpolation, str):
        raise TypeError(f"{key}: interpolation: expected one of {INTERPOLATIONS}, got {type(interpolation).__name__}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"{key}: interpolation: expected one of {INTERPOLATIONS}, got {interpolation!r}")
    return interpolation
