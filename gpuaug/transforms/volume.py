"""Geometric ops on volumes: each draws per-sample parameters and contributes one B×4×4 matrix.

The same contract as the 2D ops (:mod:`gpuaug.transforms.geometric`), one dimension up: the
matrix maps an *output* voxel centre (x, y, z) = (j + 0.5, i + 0.5, k + 0.5) (x along W, z
along D) to a *source* coordinate, composed in float64 by :class:`gpuaug.Compose` and cast
to float32 once. Every user-facing tuple is ordered (D, H, W), as the tensors are. A canvas
is one (d, h, w) for the whole batch, or :class:`VolumeSizes` for volumes of their own sizes
(a list, or ``sizes=``), which every op computes with per sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from gpuaug.core.checks import check_probability, check_range, check_size
from gpuaug.core.matrices import affine_matrix_3d, axis_matrix
from gpuaug.transforms.base import Draw, Op, Step

__all__ = ["RandomAffine3D", "RandomFlip3D", "RandomCrop3D", "Resize3D", "VolumeSizes"]

#: The axes of a volume, in the users' order.
AXES = ("d", "h", "w")


class VolumeOp(Op, abstract=True):
    """Base class of the geometric ops on volumes."""

    spatial_dims = (3,)


class VolumeSizes(NamedTuple):
    """Per-sample canvas sizes of volumes.

    Attributes:
        extent: B×3 float64 (d, h, w) (integer-valued) on the draw's device.
        host: the same sizes as int triples.
    """

    extent: torch.Tensor
    host: tuple[tuple[int, int, int], ...]


def _per_axis(draw: Draw, size: tuple[int, int, int] | VolumeSizes) -> torch.Tensor:
    """The canvas (D, H, W) of every sample as B×3 float64 on the draw's device."""
    if isinstance(size, VolumeSizes):
        return size.extent
    return torch.tensor(size, dtype=torch.float64, device=draw.device).expand(draw.batch, 3)


def _xyz(values: torch.Tensor) -> torch.Tensor:
    """B×3 values in the users' (D, H, W) order as the matrix's (x, y, z)."""
    return values.flip(1)


def _ranges(value, name: str, *, symmetric: bool = False, positive: bool = False) -> tuple[tuple[float, float], ...]:
    """One range for all three axes (a number, with ``symmetric``, or a (lo, hi) pair) or three."""
    if isinstance(value, Sequence) and len(value) == 3 and all(isinstance(v, Sequence) for v in value):
        return tuple(check_range(v, f"{name}[{k}]", positive=positive) for k, v in enumerate(value))
    if isinstance(value, Sequence) and len(value) == 3:
        raise TypeError(f"{name}: expected a (lo, hi) pair or three (lo, hi) pairs for D, H and W, got {value!r}")
    return (check_range(value, name, symmetric=symmetric, positive=positive),) * 3


class RandomAffine3D(VolumeOp):
    """Random rotation about the D, H and W axes, scale and translation, about the volume centre.

    Args:
        degrees: a number d for (−d, d) on all three axes, a (lo, hi) pair for all three, or
            three (lo, hi) ranges for the axes D, H and W, in degrees. The rotations turn the
            plane of the other two axes as :func:`gpuaug.functional.affine_matrix_3d` says
            (about D: each H×W slice counter-clockwise as displayed, like 2D's positive
            angle) and are applied about W first, then H, then D.
        translate: None, a fraction f for all three axes or three fractions (D, H, W): the
            content moves by a uniform shift in ±f·D (±f·H, ±f·W) voxels, continuous (not
            rounded).
        scale: None (1), a (lo, hi) pair (one isotropic factor per sample) or three pairs
            (D, H, W); > 1 magnifies the content, as in 2D. nnU-Net's ``scale_range`` is the
            same; its zoom of the coordinates is the inverse (nnU-Net's 1.2 zooms out, here
            it magnifies: pass ``(1 / hi, 1 / lo)``). MONAI's ``RandAffine(scale_range=s)``
            draws a coordinate factor 1 + u, u in ±s: the content scale is 1 / (1 + u).
            MONAI's ``rotate_range`` is in radians about the spatial axes in (D, H, W) order.
        p: probability of applying the op to a sample (per sample; others keep the identity).

    Draws: ``applied`` (B bool), ``angle_d``, ``angle_h``, ``angle_w`` (degrees),
    ``translate_d``, ``translate_h``, ``translate_w`` (voxels), ``scale_d``, ``scale_h``,
    ``scale_w`` (B float each).
    """

    def __init__(self, degrees, translate=None, scale=None, p: float = 1.0):
        self.degrees = _ranges(degrees, "degrees", symmetric=True)
        if translate is not None:
            values = (translate,) * 3 if isinstance(translate, (int, float)) else translate
            if isinstance(values, bool) or not (isinstance(values, Sequence) and len(values) == 3):
                raise TypeError(f"translate: expected a fraction or three fractions (D, H, W), got {translate!r}")
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                raise TypeError(f"translate: expected numbers, got {translate!r}")
            if not all(0.0 <= v <= 1.0 for v in values):
                raise ValueError(f"translate: expected fractions in [0, 1], got {translate!r}")
            translate = tuple(float(v) for v in values)
        self.translate = translate
        self.isotropic = scale is None or not (isinstance(scale, Sequence) and len(scale) == 3)
        self.scale = None if scale is None else _ranges(scale, "scale", positive=True)
        self.p = check_probability(p)

    def sample(self, draw, size):
        applied = draw.coin(self.p)
        angles = torch.stack([draw.uniform(*r) for r in self.degrees], 1)
        if self.translate is not None:
            limit = _per_axis(draw, size) * torch.tensor(self.translate, dtype=torch.float64, device=draw.device)
            shift = (draw.rand(3, dtype=torch.float64) * 2.0 - 1.0) * limit
        else:
            shift = torch.zeros((draw.batch, 3), dtype=torch.float64, device=draw.device)
        if self.scale is None:
            scale = torch.ones((draw.batch, 3), device=draw.device)
        elif self.isotropic:
            scale = draw.uniform(*self.scale[0]).unsqueeze(1).expand(-1, 3)
        else:
            scale = torch.stack([draw.uniform(*r) for r in self.scale], 1)
        on = applied.unsqueeze(1)
        angles, shift = torch.where(on, angles, 0.0), torch.where(on, shift, 0.0)
        scale = torch.where(on, scale, 1.0)
        extent = _per_axis(draw, size)
        matrix = affine_matrix_3d(angles, shift, scale, tuple(extent[:, k] / 2.0 for k in range(3)))
        draws = {"applied": applied}
        for name, values in (("angle", angles), ("translate", shift.float()), ("scale", scale)):
            draws |= {f"{name}_{axis}": values[:, k].contiguous() for k, axis in enumerate(AXES)}
        return Step(draws, matrix, size)


class RandomFlip3D(VolumeOp):
    """Mirror each of ``axes`` (0: D, 1: H, 2: W) with probability ``p``, an independent coin
    per axis per sample (source coordinate = extent − coordinate on a flipped axis), as
    nnU-Net's mirroring and MONAI's ``RandFlip`` per axis.

    Draws: ``flip_d``, ``flip_h``, ``flip_w`` (B bool; False on the axes not listed).
    """

    def __init__(self, axes: Sequence[int] = (0, 1, 2), p: float = 0.5):
        if isinstance(axes, int) and not isinstance(axes, bool):
            axes = (axes,)
        if not isinstance(axes, Sequence) or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
            raise TypeError(f"axes: expected a sequence of axis indices in (0, 1, 2) (D, H, W), got {axes!r}")
        if not axes or not all(a in (0, 1, 2) for a in axes) or len(set(axes)) != len(axes):
            raise ValueError(f"axes: expected distinct axis indices in (0, 1, 2) (D, H, W), got {tuple(axes)!r}")
        self.axes = tuple(sorted(axes))
        self.p = check_probability(p)

    def sample(self, draw, size):
        flips = []
        for axis in range(3):
            coin = draw.coin(self.p)  # drawn for every axis, so keyed draws do not depend on ``axes``
            flips.append(coin if axis in self.axes else torch.zeros_like(coin))
        flipped = torch.stack(flips, 1)
        scale = 1.0 - 2.0 * flipped.double()
        offset = flipped.double() * _per_axis(draw, size)
        draws = {f"flip_{axis}": flips[k] for k, axis in enumerate(AXES)}
        return Step(draws, axis_matrix(_xyz(scale), _xyz(offset)), size)


class Resize3D(VolumeOp):
    """Resize to ``size``: an int is a cube, a (d, h, w) triple exact (source = output ·
    input / output per axis, voxel centres to voxel centres as ``F.interpolate`` with
    ``align_corners=False``).

    Draws: none.
    """

    def __init__(self, size: int | Sequence[int]):
        self.size = check_size(size, "size", dims=3)

    @property
    def fixed_size(self) -> tuple[int, int, int]:
        return self.size

    def sample(self, draw, size):
        scale = _per_axis(draw, size) / torch.tensor(self.size, dtype=torch.float64, device=draw.device)
        return Step({}, axis_matrix(_xyz(scale), torch.zeros_like(scale)), self.size)


class RandomCrop3D(VolumeOp):
    """A random patch of ``size`` (an int for a cube, or (d, h, w)), optionally around foreground.

    Per axis the patch's corner is an integer drawn uniformly in ``[min(D − d, 0), max(D − d,
    0)]`` (negative: the patch starts before the volume, padded with fill / ignore). Without
    ``pad_if_needed`` a volume smaller than the patch raises ValueError.

    With probability ``foreground_p`` per sample (its own coin, on the device) the patch is
    centred on a foreground voxel instead: drawn uniformly among the voxels whose label, read
    through the chain before the crop as the warp reads masks, is neither 0 nor the
    Compose's ``ignore_index`` (nnU-Net's foreground oversampling; nnU-Net first draws a
    class, then a voxel of it, which favours small classes: this draws voxels, so classes
    come in proportion to their size). The patch's centre is its voxel ``size // 2``; the
    corner is then clamped into the range above: inside the volume along an axis at least
    as long as the patch, the volume inside the patch (padded) along a shorter one. A sample
    without foreground voxels takes the random patch. Needs the masks when sampling.

    Draws: ``corner_d``, ``corner_h``, ``corner_w`` (B float, integer-valued), ``foreground``
    (B bool: the patch was centred on a foreground voxel).
    """

    def __init__(self, size: int | Sequence[int], pad_if_needed: bool = False, foreground_p: float = 0.0):
        self.size = check_size(size, "size", dims=3)
        self.pad_if_needed = bool(pad_if_needed)
        self.foreground_p = check_probability(foreground_p, "foreground_p")

    @property
    def fixed_size(self) -> tuple[int, int, int]:
        return self.size

    @property
    def needs_masks(self) -> bool:  # type: ignore[override]
        return self.foreground_p > 0.0

    def sample(self, draw, size):
        if not self.pad_if_needed:
            for k, host in enumerate(size.host if isinstance(size, VolumeSizes) else (size,)):
                if any(s < p for s, p in zip(host, self.size, strict=True)):
                    which = f" (sample {k})" if isinstance(size, VolumeSizes) else ""
                    raise ValueError(
                        f"size: RandomCrop3D's patch {'×'.join(map(str, self.size))} is larger than its input canvas "
                        f"{'×'.join(map(str, host))}{which}; pass pad_if_needed=True to pad it with fill / ignore_index"
                    )
        extent = _per_axis(draw, size)
        patch = torch.tensor(self.size, dtype=torch.float64, device=draw.device)
        slack = extent - patch
        low, high = torch.clamp(slack, max=0), torch.clamp(slack, min=0)
        span = high - low + 1
        corner = torch.minimum(torch.floor(draw.rand(3, dtype=torch.float64) * span), span - 1) + low
        coin, pick = draw.coin(self.foreground_p), draw.rand(dtype=torch.float64)
        chosen = torch.zeros_like(coin)
        if self.foreground_p > 0.0:
            voxel, found = self._foreground_voxel(draw, pick)
            centred = torch.minimum(torch.maximum(voxel - torch.floor(patch / 2), low), high)
            chosen = coin & found
            corner = torch.where(chosen.unsqueeze(1), centred, corner)
        draws = {f"corner_{axis}": corner[:, k].contiguous() for k, axis in enumerate(AXES)}
        draws["foreground"] = chosen
        return Step(draws, axis_matrix(torch.ones_like(corner), _xyz(corner)), self.size)

    def _foreground_voxel(self, draw: Draw, pick: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B×3 float64 (d, h, w) of the ``pick``-th foreground voxel, B bool: there is one)``,
        by a cumulative count of each sample's foreground (no host sync)."""
        if draw.foreground is None:
            raise ValueError(
                f"masks: RandomCrop3D(foreground_p={self.foreground_p}) centres patches on foreground voxels and "
                "needs the masks when sampling: pass them, aug(volumes, masks) or aug.sample(volumes, masks=masks)"
            )
        canvas = draw.foreground()  # B×D×H×W, the largest canvas of the batch
        d, h, w = canvas.shape[1:]
        foreground = canvas.reshape(draw.batch, d * h * w)
        running = foreground.cumsum(1)  # int64
        count = running[:, -1:] if running.shape[1] else running.new_zeros((draw.batch, 1))
        rank = torch.minimum(torch.floor(pick.unsqueeze(1) * count).long(), (count - 1).clamp(min=0)) + 1
        index = torch.searchsorted(running, rank).clamp_(max=running.shape[1] - 1).squeeze(1)
        voxel = torch.stack((index // (h * w), index // w % h, index % w), 1).double()
        return voxel, count.squeeze(1) > 0
