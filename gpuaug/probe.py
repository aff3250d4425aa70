"""Coordinate-encoded probes: make any misalignment between image and mask measurable in pixels.

Two probes, both float32 images B×3×H×W and int64 masks B×1×H×W for a stacked batch, and
their variable-size forms (lists of B samples of sizes of their own):

- :func:`coordinate_probe`: image channels hold each pixel's column index ``j`` and row
  index ``i`` and a validity channel of ones; the mask label encodes ``i·W + j`` (skipping
  the ignore value). After any pair transform, a pixel's image channels say where in the
  source the image was sampled (index space, bilinear of a linear ramp is exact) and its
  label says which source pixel the mask took, so the two can be compared. The validity
  channel is 1 where the image was sampled from the source and 0 where it took the fill
  (0), so a pipeline that blends taps with the fill near the border shows values between.
- :func:`label_probe`: a few sparse labels (0, 10, 20, 30) in blocks, so interpolating
  labels shows up as labels that were never in the input.
- :func:`coordinate_probe_list` / :func:`label_probe_list`: the same for a list of sizes
  (Hₖ, Wₖ): sample k is a float32 image 4×Hₖ×Wₖ (column, row, validity and a fourth
  channel holding k) and an int64 mask Hₖ×Wₖ. The coordinate label is the pixel's index in
  the whole batch, ``baseₖ + i·Wₖ + j`` with ``baseₖ = Σ_{l<k} Hₗ·Wₗ`` (skipping the ignore
  value), so it names the sample as well as the pixel: a mask or image that shows another
  sample's pixels is counted (:func:`measure_alignment_list`'s ``foreign_pixels``), and each
  sample is decoded with its own width. The stacked probe's encoding is unchanged.

Conventions follow docs/design.md: the mask's source pixel is ``floor(s)`` and the image samples
``s − 0.5``, so per axis ``|mask pixel − image coordinate| <= 0.5`` and the mean signed
offset is about 0 for a correct pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = [
    "coordinate_probe",
    "label_probe",
    "coordinate_probe_list",
    "label_probe_list",
    "decode",
    "decode_list",
    "measure_alignment",
    "measure_alignment_list",
    "count_new_labels",
    "varies_across_batch",
]

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


def coordinate_probe_list(
    sizes: Sequence[tuple[int, int]], ignore_index: int = 255, device: torch.device | str | None = None
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Per sample k of ``sizes[k]`` = (Hₖ, Wₖ): a float32 image 4×Hₖ×Wₖ (column, row, validity,
    sample k) and an int64 mask Hₖ×Wₖ labelled ``baseₖ + i·Wₖ + j`` (``baseₖ`` the pixels of
    the samples before k), skipping ``ignore_index``. :func:`decode_list` reads the labels back."""
    images, masks, base = [], [], 0
    for k, (height, width) in enumerate(sizes):
        image, _ = coordinate_probe(1, height, width, device=device)
        sample = torch.full((1, 1, height, width), float(k), device=device)
        images.append(torch.cat((image, sample), 1)[0])
        index = torch.arange(base, base + height * width, dtype=torch.int64, device=device).view(height, width)
        masks.append(_encode(index, ignore_index))
        base += height * width
    return images, masks


def label_probe(
    batch: int, height: int, width: int, block: int = 4, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Coordinate images and int64 masks of blocks labelled from :data:`PROBE_LABELS`."""
    images, _ = coordinate_probe(batch, height, width, device=device)
    rows = torch.arange(height, device=device).view(height, 1) // block
    cols = torch.arange(width, device=device).view(1, width) // block
    labels = torch.tensor(PROBE_LABELS, dtype=torch.int64, device=device)[(rows + 2 * cols) % len(PROBE_LABELS)]
    return images, labels.expand(batch, 1, height, width).contiguous()


def label_probe_list(
    sizes: Sequence[tuple[int, int]], block: int = 4, device: torch.device | str | None = None
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The images of :func:`coordinate_probe_list` and int64 masks Hₖ×Wₖ of blocks labelled from
    :data:`PROBE_LABELS`, laid out as :func:`label_probe` lays them."""
    images, _ = coordinate_probe_list(sizes, device=device)
    masks = [label_probe(1, height, width, block, device)[1][0, 0] for height, width in sizes]
    return images, masks


def _encode(index: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """Pixel index → label, skipping ``ignore_index``."""
    return index + (index >= ignore_index).to(index.dtype) if ignore_index >= 0 else index


def decode(labels: torch.Tensor, width: int, ignore_index: int = 255) -> tuple[torch.Tensor, torch.Tensor]:
    """Source column and row (int64) that :func:`coordinate_probe` labels encode."""
    labels = labels.long()
    index = labels - (labels > ignore_index).long() if ignore_index >= 0 else labels
    return index % width, torch.div(index, width, rounding_mode="floor")


def decode_list(
    labels: torch.Tensor, sizes: Sequence[tuple[int, int]], ignore_index: int = 255
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source sample, column and row (int64, shaped as ``labels``) that :func:`coordinate_probe_list`
    labels encode; each sample's pixels are decoded with that sample's width. Labels that are
    no pixel of the batch (and ``ignore_index``) get sample −1."""
    labels = labels.long()
    index = labels - (labels > ignore_index).long() if ignore_index >= 0 else labels
    areas = torch.tensor([h * w for h, w in sizes], dtype=torch.int64, device=labels.device)
    ends = areas.cumsum(0)
    widths = torch.tensor([w for _, w in sizes], dtype=torch.int64, device=labels.device)
    known = (index >= 0) & (index < ends[-1]) & (labels != ignore_index)
    sample = torch.searchsorted(ends, index, right=True).clamp(max=len(sizes) - 1)
    local = index - (ends - areas)[sample]
    width = widths[sample]
    sample = torch.where(known, sample, -1)
    return sample, local % width, torch.div(local, width, rounding_mode="floor")


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
    alignment, mean, n = _offsets(dx, dy, inside)
    outside = int(((valid <= tolerance) & not_ignore).sum())
    return {"alignment_px": alignment, "mean_offset_px": mean, "outside_not_ignore": outside, "inside_pixels": n}


def measure_alignment_list(
    images: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor],
    sizes: Sequence[tuple[int, int]],
    ignore_index: int = 255,
    tolerance: float = 1e-4,
    *,
    mixing: bool = False,
) -> dict:
    """Alignment metrics of a transformed :func:`coordinate_probe_list` batch, sample by sample.

    Args:
        images: B transformed images 4×hₖ×wₖ (column, row, validity, sample), or a stacked
            B×4×h×w tensor.
        masks: B transformed labels hₖ×wₖ or 1×hₖ×wₖ (any dtype; float is rounded), or a
            stacked B×h×w / B×1×h×w tensor.
        sizes: the source (Hₖ, Wₖ) of each sample, as the probe was built.
        ignore_index: the ignore value of the probe.
        tolerance: how close to 1 the validity must be for a pixel to count as inside, and
            how close to k the sample channel must be.
        mixing: the pipeline may show other samples' pixels (CutMix, ClassMix, Mosaic): a
            pixel then counts as measured when its label and its image come from the same
            sample, whichever it is, and as foreign when they come from different samples.

    Returns:
        dict with ``alignment_px``, ``mean_offset_px``, ``outside_not_ignore``,
        ``inside_pixels`` (as :func:`measure_alignment`, measured over the pixels of sample k
        whose label and image both come from sample k) and ``foreign_pixels``: pixels of
        sample k whose label (ignore excepted) is not a source pixel of sample k, or whose
        image (where its validity says inside) was sampled from another sample (with
        ``mixing``: whose label names no pixel of the batch, or a sample other than the one
        its image was sampled from); and ``pasted_pixels``, the measured pixels that show
        another sample (0 without ``mixing``).

    Raises:
        ValueError: ``images``, ``masks`` and ``sizes`` of different lengths, or a sample whose
            mask and image sizes differ.
    """
    if not len(images) == len(masks) == len(sizes):
        n = len(sizes)
        raise ValueError(f"masks: expected {n} images and {n} masks (one per size), got {len(images)} and {len(masks)}")
    columns, labels, expected = [], [], []
    for k, (image, mask) in enumerate(zip(images, masks, strict=True)):
        if image.shape[0] < 4 or mask.numel() != image[0].numel():
            raise ValueError(
                f"masks[{k}]: expected a 4×h×w image and an h×w mask, got {tuple(image.shape)} and {tuple(mask.shape)}"
            )
        columns.append(image[:4].float().reshape(4, -1))
        label = mask.reshape(-1)
        labels.append(label.round().long() if label.is_floating_point() else label.long())
        expected.append(torch.full_like(labels[-1], k))
    col, row, valid, image_sample = torch.cat(columns, 1)
    labels, expected = torch.cat(labels), torch.cat(expected)
    label_sample, source_col, source_row = decode_list(labels, sizes, ignore_index)
    not_ignore = labels != ignore_index
    valid_inside = valid >= 1.0 - tolerance
    own = expected
    if mixing:  # the sample each pixel's image was read from stands in for "its own"
        read = image_sample.round().long()
        expected = torch.where((image_sample - read).abs() <= tolerance, read, -2)
    image_own = (image_sample - expected).abs() <= tolerance
    label_own = label_sample == expected
    inside = valid_inside & not_ignore & image_own & label_own
    dx = source_col.float() - col
    dy = source_row.float() - row
    alignment, mean, n = _offsets(dx, dy, inside)
    outside = int(((valid <= tolerance) & not_ignore).sum())
    if mixing:
        foreign = int((not_ignore & ((label_sample < 0) | (valid_inside & ~label_own))).sum())
    else:
        foreign = int(((not_ignore & ~label_own) | (valid_inside & ~image_own)).sum())
    pasted = int((inside & (label_sample != own)).sum())
    return {
        "alignment_px": alignment,
        "mean_offset_px": mean,
        "outside_not_ignore": outside,
        "inside_pixels": n,
        "foreign_pixels": foreign,
        "pasted_pixels": pasted,
    }


def _offsets(dx: torch.Tensor, dy: torch.Tensor, inside: torch.Tensor) -> tuple[tuple, tuple, int]:
    """Max |offset| and mean offset per axis (x, y) over ``inside`` (NaN when empty), and its count."""
    n = int(inside.sum())
    if not n:
        return (float("nan"), float("nan")), (float("nan"), float("nan")), 0
    alignment = (dx[inside].abs().max().item(), dy[inside].abs().max().item())
    return alignment, (dx[inside].mean().item(), dy[inside].mean().item()), n


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


def varies_across_batch(images: torch.Tensor | Sequence[torch.Tensor]) -> bool:
    """Whether the samples of a transformed probe batch (identical inputs) came out different,
    i.e. the pipeline drew parameters per sample rather than once per batch.

    ``images`` is a stacked B×C×h×w tensor or B tensors C×hₖ×wₖ (samples of different
    shapes count as different).
    """
    first = images[0]
    return any(t.shape != first.shape or bool((t != first).any()) for t in images[1:])
