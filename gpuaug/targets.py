"""Several targets: label maps, dense maps and points warped with the images (docs/design.md).

``targets`` is a dict name → value, passed to :class:`gpuaug.Compose` calls, ``apply`` and
:func:`gpuaug.reference.apply`; each value is

- an integer tensor B×H×W, B×1×H×W or B×K×H×W: a label map, gathered by nearest like the
  masks (dtype and layout kept), ``ignore_index`` outside (following ``mask_padding``);
- a floating tensor B×K×H×W: a dense map (depth, loss weights, heatmaps, logits), sampled
  bilinearly like the images but in its own float dtype, 0.0 outside (following
  ``padding_mode``), never touched by the pixel ops;
- a :class:`Target`, which overrides either default;
- a :class:`Points`, B×N×2 pixel coordinates mapped source → output.

With samples of different sizes, a map is a list of B per-sample tensors (Hᵢ×Wᵢ or
K×Hᵢ×Wᵢ, matching the images of a list), or a padded tensor like the images with ``sizes=``;
each is read within its sample's own extent, and comes back stacked.

Targets are data, not params: :class:`gpuaug.Params` is the same with or without them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from gpuaug.core.checks import MASK_DTYPES, check_int
from gpuaug.core.planes import Planes, label_padding
from gpuaug.core.ragged import from_padded, pack

__all__ = ["Target", "Points", "INTERPOLATIONS"]

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


class Points:
    """Points (keypoints, box corners) that follow the warp, source → output.

    Args:
        xy: B×N×2 floating (x, y) pixel coordinates in the source, pixel-centre convention
            (the centre of pixel (i, j) is (j + 0.5, i + 0.5)).

    The result for a Points target is ``(xy, visible)``: B×N×2 output coordinates (same
    dtype as ``xy``), mapped with the float64 inverse of each sample's matrix, and a B×N
    bool, False where the point lands outside the output canvas [0, w) × [0, h), behind the
    camera (w <= 0 after the inverse) or at a non-finite coordinate.
    """

    __slots__ = ("xy",)

    def __init__(self, xy: torch.Tensor):
        self.xy = xy

    def __repr__(self) -> str:
        shape = tuple(self.xy.shape) if isinstance(self.xy, torch.Tensor) else type(self.xy).__name__
        return f"Points({shape})"


@dataclass(frozen=True, eq=False)
class Spec:
    """One checked target: its name, and either its planes or its points."""

    key: str
    planes: Planes | None = None
    points: torch.Tensor | None = None
    #: Integer maps follow ``mask_padding``, float maps ``padding_mode``.
    labels: bool = True
    #: The map as given (a tensor, or a list of per-sample tensors).
    source: object = None
    #: Output dims between B and h×w: () for B×h×w, (K,) for B×K×h×w.
    layout: tuple[int, ...] = ()


def check_targets(
    targets: object, batch, ignore_index: int, padding_mode: str, mask_padding: str
) -> list[tuple[object, Spec]]:
    """Check ``targets`` against the batch (:func:`gpuaug.core.batch.read_batch`) and return
    (name, spec) pairs in the dict's order."""
    if not isinstance(targets, Mapping):
        raise TypeError(
            f"targets: expected a dict name → tensor, gpuaug.Target or gpuaug.Points, got {type(targets).__name__}"
        )
    labels_padding = label_padding(padding_mode, mask_padding)
    listed = batch.in_size is None  # a list of images: maps are lists too
    specs = []
    for name, value in targets.items():
        key = f"targets[{name!r}]"
        if isinstance(value, Points):
            specs.append((name, Spec(key, points=_check_points(value.xy, key, batch.batch, batch.device))))
            continue
        if isinstance(value, Target):
            tensor, interpolation, fill = value.tensor, value.interpolation, value.fill
        elif isinstance(value, torch.Tensor) or isinstance(value, (list, tuple)) and listed:
            tensor, interpolation, fill = value, None, None
        else:
            raise TypeError(f"{key}: expected a tensor, gpuaug.Target or gpuaug.Points, got {type(value).__name__}")
        if listed:
            labels, dtype, layout = _check_list(tensor, key, batch)
            warped = pack(tensor, layout[0] if layout else 1)
        else:
            labels = _check_map(tensor, key, (batch.batch, *batch.in_size), batch.device)
            dtype, layout = tensor.dtype, tuple(tensor.shape[1:-2])
            warped = from_padded(tensor, batch.sizes) if batch.variable else tensor
        interpolation = _check_interpolation(interpolation, dtype, key, labels)
        fill = _check_fill(fill, dtype, key, labels, ignore_index)
        padding = labels_padding if labels else padding_mode
        planes = Planes(warped, (fill,), interpolation == "bilinear", padding)
        specs.append((name, Spec(key, planes=planes, labels=labels, source=tensor, layout=layout)))
    return specs


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


def _check_interpolation(interpolation: object, dtype: torch.dtype, key: str, labels: bool) -> str:
    if interpolation is None:
        return "nearest" if labels else "bilinear"
    if not isinstance(interpolation, str):
        raise TypeError(f"{key}: interpolation: expected one of {INTERPOLATIONS}, got {type(interpolation).__name__}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"{key}: interpolation: expected one of {INTERPOLATIONS}, got {interpolation!r}")
    if labels and interpolation == "bilinear":
        raise ValueError(
            f"{key}: interpolation='bilinear' on an integer tensor ({dtype}): integer maps are labels and are "
            "only gathered ('nearest'), bilinear would invent labels; pass a float tensor for a dense map"
        )
    return interpolation


def _check_fill(fill: object, dtype: torch.dtype, key: str, labels: bool, ignore_index: int) -> int | float:
    if labels:
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


def _check_points(xy: object, key: str, batch: int, device: torch.device) -> torch.Tensor:
    if not isinstance(xy, torch.Tensor):
        raise TypeError(f"{key}: Points: expected a B×N×2 float tensor, got {type(xy).__name__}")
    if xy.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{key}: Points: expected a float tensor of (x, y) coordinates, got {xy.dtype}")
    if xy.dim() != 3 or xy.shape[-1] != 2:
        raise ValueError(f"{key}: Points: expected shape B×N×2 (x, y per point), got {tuple(xy.shape)}")
    if xy.shape[0] != batch:
        raise ValueError(f"{key}: Points: batch size {xy.shape[0]} does not match images batch size {batch}")
    if xy.device != device:
        raise ValueError(f"{key}: Points: expected the images' device {device}, got {xy.device}")
    return xy


def map_points(xy: torch.Tensor, matrix: torch.Tensor, out_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Source points B×N×2 → output points through the float64 inverse of the B×3×3 matrices.

    Returns ``(xy, visible)``: ``xy`` in the dtype of the input, ``visible`` B×N bool.
    """
    inverse = torch.linalg.inv_ex(matrix.double())[0]
    p = xy.double()
    homogeneous = torch.cat((p, torch.ones_like(p[..., :1])), dim=-1)
    q = homogeneous @ inverse.transpose(1, 2)
    hw = q[..., 2]
    x, y = q[..., 0] / hw, q[..., 1] / hw
    h, w = out_size
    visible = (hw > 0) & (x >= 0) & (x < w) & (y >= 0) & (y < h)
    return torch.stack((x, y), dim=-1).to(xy.dtype), visible
