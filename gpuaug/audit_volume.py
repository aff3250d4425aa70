"""Audit a volume pair transform for the three silent segmentation bugs, in 3D.

:func:`check_volume_pair` (also :func:`gpuaug.audit.check_pair` given a (D, H, W) size)
feeds ``fn(volumes, labels)`` a coordinate-encoded probe: float32 volumes B×4×D×H×W whose
channels hold each voxel centre's z, y and x (the (D, H, W) order of the tensors) and a
validity channel (1 inside, the transform's fill 0 outside), and int64 labels B×D×H×W that encode the voxel,
(z·H + y)·W + x, skipping ``ignore_index``. A correct spatial transform (trilinear
intensities, nearest labels through one map, ignore outside) leaves every labelled voxel
within half a voxel of where its intensities were read, on every axis; float-resampled
labels invent labels, and labels padded with 0 lose ``ignore_index``. The report is an
:class:`gpuaug.audit_report.AuditReport` with three axes (x, y, z). Pass the spatial part of
a pipeline: intensity ops change the coordinate channels.
"""

from __future__ import annotations

import torch

from gpuaug.audit_report import ALIGNMENT_TOLERANCE, AuditReport
from gpuaug.core.checks import check_int, check_size
from gpuaug.core.types import PairFn

__all__ = ["volume_probe", "check_volume_pair"]


def volume_probe(
    batch: int, size: tuple[int, int, int], ignore_index: int = 255, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(volumes, labels)``: B×4×D×H×W float32 (z, y, x of each voxel centre, then 1) and
    B×D×H×W int64 labels, the voxel's index (z·H + y)·W + x, one more from ``ignore_index``
    up (so no voxel is labelled ``ignore_index``)."""
    d, h, w = size
    z, y, x = torch.meshgrid(
        *(torch.arange(n, dtype=torch.float32, device=device) + 0.5 for n in (d, h, w)), indexing="ij"
    )
    volumes = torch.stack((z, y, x, torch.ones_like(x))).expand(batch, 4, d, h, w).contiguous()
    index = torch.arange(d * h * w, dtype=torch.int64, device=device).view(d, h, w)
    labels = index + (index >= ignore_index).long() if ignore_index >= 0 else index
    return volumes, labels.expand(batch, d, h, w).contiguous()


def check_volume_pair(
    fn: PairFn,
    volume_size: int | tuple[int, int, int] = (24, 28, 32),
    batch_size: int = 4,
    ignore_index: int = 255,
    seed: int = 0,
    *,
    device: torch.device | str | None = None,
) -> AuditReport:
    """Audit ``fn(volumes, labels) -> (volumes, labels)`` on :func:`volume_probe` (see the
    module docstring): ``alignment_px`` and ``mean_offset_px`` per axis (x, y, z) over
    labelled voxels whose taps all lie inside (validity channel 1), ``outside_not_ignore``
    over voxels wholly outside (validity 0), ``new_labels`` the labels no voxel had.
    ``fn`` may return labels B×d×h×w or B×1×d×h×w and volumes B×4×d×h×w (any float dtype);
    the global torch seed is ``seed`` before the call."""
    if not callable(fn):
        raise TypeError(f"fn: expected a callable fn(volumes, labels) -> (volumes, labels), got {type(fn).__name__}")
    if check_int(batch_size, "batch_size") < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size}")
    d, h, w = size = check_size(volume_size, "volume_size", dims=3)
    volumes, labels = volume_probe(batch_size, size, ignore_index, device)
    torch.manual_seed(seed)
    out = fn(volumes, labels)
    if not (isinstance(out, tuple) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out)):
        raise TypeError(f"fn: expected it to return (volumes, labels) tensors, got {type(out).__name__}")
    images, masks = out[0].float().cpu(), out[1].cpu()
    masks = masks.reshape(masks.shape[0], *masks.shape[-3:])
    rounded = masks.long()
    labelled = rounded != ignore_index
    index = rounded - (rounded > ignore_index).long() if ignore_index >= 0 else rounded
    exists = (index >= 0) & (index < d * h * w) & (masks.double() == rounded.double())
    new_labels = int((labelled & ~exists).sum())
    validity = images[:, 3]
    measured = labelled & exists & (validity >= 1.0 - ALIGNMENT_TOLERANCE)
    voxel = torch.stack((index % w, index // w % h, index // (h * w)), 1).float() + 0.5
    offset = (voxel - images[:, :3].flip(1)).movedim(1, -1)[measured]  # N×3, (x, y, z): the channels reversed
    if offset.shape[0]:
        alignment = tuple(float(v) for v in offset.abs().amax(0))
        mean = tuple(float(v) for v in offset.mean(0))
    else:
        alignment = mean = (float("nan"),) * 3
    per_sample = masks.shape[0] > 1 and not all(torch.equal(masks[0], m) for m in masks[1:])
    return AuditReport(
        alignment_px=alignment,
        mean_offset_px=mean,
        outside_not_ignore=int((labelled & (validity <= ALIGNMENT_TOLERANCE)).sum()),
        new_labels=new_labels,
        dtype_kept=masks.dtype == labels.dtype,
        mask_dtype=str(masks.dtype).removeprefix("torch."),
        per_sample=per_sample,
        inside_pixels=int(measured.sum()),
    )
