"""Coordinate-encoded probes: make any misalignment between image and mask measurable in pixels.

Two probes, both float32 images B×3×H×W and int64 masks B×1×H×W:

- :func:`coordinate_probe`: image channels hold each pixel's column index ``j`` and row
  index ``i`` and a validity channel of ones; the mask label encodes ``i·W + j`` (skipping
  the ignore value). After any pair transform, a pixel's image channels say where in the
  source the image was sampled (index space, bilinear of a linear ramp is exact) and its
  label says which source pixel the mask took, so the two can be compared. The validity
  channel is 1 where the image was sampled from the source and 0 where it took the fill
  (0), so a pipeline that blends taps with the fill near the border shows values between.
- :func:`label_probe`: a few sparse labels (0, 10, 20, 30) in blocks, so interpolating
  labels shows up as labels that were never in the input.

Conventions follow docs/design.md: the mask's source pixel is ``floor(s)`` and the image samples
``s − 0.5``, so per axis ``|mask pixel − image coordinate| <= 0.5`` and the mean signed
offset is about 0 for a correct pipeline.
"""

from __future__ import annotations

import torch

__all__ = ["coordinate_probe", "label_probe", "decode", "measure_alignment", "count_new_labels", "varies_across_batch"]

#: Labels of :func:`label_probe`.
PROBE_LABELS = (0, 10, 20, 30)


def coordinate_probe(
    batch: int, height: int, width: int, ignore_index: int = 255, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images B×3×H×W (column, row, validity) and int64 masks B×1×H×W labelled ``i·W + j``."""
    rows = torch.arange(height, dtype=torch.float32, device=device).view(height, 1).expand(height, width)
    cols = torch.arange(width, dtype=torch.float32, device=device).view(1, width).expand(height, width)
    image = torch.stack((cols, rows, torch.ones_like(rows)))
    index = torch.arange(height * width, dtype=torch.int64, device=device).view(1, height, width)
    label = _encode(index, ignore_index)
    return image.expand(batch, 3, height, width).contiguous(), label.expand(batch, 1, height, width).contiguous()


def label_probe(
    batch: int, height: int, width: int, block: int = 4, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Coordinate images and int64 masks of blocks labelled from :data:`PROBE_LABELS`."""
    images, _ = coordinate_probe(batch, height, width, device=device)
    rows = torch.arange(height, device=device).view(height, 1) // block
    cols = torch.arange(width, device=device).view(1, width) // block
    labels = torch.tensor(PROBE_LABELS, dtype=torch.int64, device=device)[(rows + 2 * cols) % len(PROBE_LABELS)]
    return images, labels.expand(batch, 1, height, width).contiguous()


def _encode(index: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """Pixel index → label, skipping ``ignore_index``."""
    return index + (index >= ignore_index).to(index.dtype) if ignore_index >= 0 else index


def decode(labels: torch.Tensor, width: int, ignore_index: int = 255) -> tuple[torch.Tensor, torch.Tensor]:
    """Source column and row (int64) that :func:`coordinate_probe` labels encode."""
    labels = labels.long()
    index = labels - (labels > ignore_index).long() if ignore_index >= 0 else labels
    return index % width, torch.div(index, width, rounding_mode="floor")


def measure_alignment(
    images: torch.Tensor, masks: torch.Tensor, width: int, ignore_index: int = 255, tolerance: float = 1e-4
) -> dict:
    """Alignment metrics of a transformed :func:`coordinate_probe` pair.

    Args:
        images: B×3×h×w transformed probe images (column, row, validity channels).
        masks: B×h×w or B×1×h×w transformed probe labels (any dtype; float is rounded).
        width: the source width W used to encode the labels.
        ignore_index: the ignore value of the probe.
        tolerance: how close to 1 the validity must be for a pixel to count as inside.

    Returns:
        dict with ``alignment_px``, ``mean_offset_px``, ``outside_not_ignore``, ``inside_pixels``.
    """
    images = images.float()
    labels = masks.reshape(images.shape[0], *images.shape[-2:])
    labels = labels.round().long() if labels.is_floating_point() else labels.long()
    col, row, valid = images[:, 0], images[:, 1], images[:, 2]
    not_ignore = labels != ignore_index
    inside = (valid >= 1.0 - tolerance) & not_ignore
    source_col, source_row = decode(labels, width, ignore_index)
    dx = source_col.float() - col
    dy = source_row.float() - row
    n = int(inside.sum())
    if n:
        alignment = (dx[inside].abs().max().item(), dy[inside].abs().max().item())
        mean = (dx[inside].mean().item(), dy[inside].mean().item())
    else:
        alignment = mean = (float("nan"), float("nan"))
    outside = int(((valid <= tolerance) & not_ignore).sum())
    return {"alignment_px": alignment, "mean_offset_px": mean, "outside_not_ignore": outside, "inside_pixels": n}


def count_new_labels(masks_in: torch.Tensor, masks_out: torch.Tensor, ignore_index: int = 255) -> int:
    """Pixels of ``masks_out`` whose label (ignore excepted) never occurs in ``masks_in``.

    A float ``masks_out`` is rounded first, so only interpolation between labels counts, not
    the last-bit error of an otherwise exact value.
    """
    if masks_out.is_floating_point():
        masks_out = masks_out.round()
    known = torch.unique(masks_in).to(masks_out.dtype)
    known = torch.cat((known, torch.tensor([ignore_index], dtype=masks_out.dtype, device=known.device)))
    return int((~torch.isin(masks_out, known)).sum())


def varies_across_batch(images: torch.Tensor) -> bool:
    """Whether the samples of a transformed probe batch (identical inputs) came out different,
    i.e. the pipeline drew parameters per sample rather than once per batch."""
    if images.shape[0] < 2:
        return False
    return bool((images[1:] != images[:1]).any())
