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
- Bit planes (:func:`bit_plane`, :func:`decode_gray`, :func:`axis_labels`,
  :func:`checkerboard_labels`): probes that survive pixel ops. A value-coded image cannot
  tell geometry from appearance (ColorJitter, Normalize, noise and blur change the values
  that carry the coordinate), so each code (column, row, sample) is sent as grey two-level
  planes, each compared with a flat grey halfway between the levels, every call under the
  same seed. Whatever monotone, per-sample colour map the pipeline applies (brightness,
  contrast, saturation and hue leave grey grey; Normalize; added noise, the same in every
  call), ``plane − flat`` keeps the sign of the bit. A column or row is the phase of shifted stripes
  (:func:`stripe_plane`, period :data:`STRIPE_PERIOD`, a Johnson code: neighbours differ in
  one stripe) and the Gray code of its cell of :data:`CELL` pixels (:func:`bit_plane` of
  ``code // CELL``), so no plane has edges closer than 8 px and a blur keeps every sign
  even after a downscale; a
  bilinear tap between two neighbours differs in one stripe only, so the signs give the
  nearest source pixel, or a tie exactly halfway (:func:`decode_axis`). A sample index is
  the Gray code itself (:func:`decode_gray`). Labels carry one axis each (:func:`axis_labels`), so a label
  interpolated between neighbours stays within a pixel of its source instead of naming a
  pixel rows away; :func:`checkerboard_labels` alternates two labels pixel by pixel, so
  interpolation invents labels at every scale.

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
    "code_bits",
    "bit_plane",
    "stripe_plane",
    "decode_gray",
    "decode_axis",
    "axis_labels",
    "checkerboard_labels",
]

#: Labels of :func:`label_probe`.
PROBE_LABELS = (0, 10, 20, 30)
#: Grey levels of :func:`bit_plane` (bit clear, bit set): inside [0, 1] with room on both sides,
#: so colour ops that scale and shift clip neither level (PhotoMetricDistortion at its defaults:
#: (0.54 + 32/255) · 1.5 < 1).
BIT_LEVELS = (0.44, 0.54)
#: Period in pixels of :func:`stripe_plane`'s stripes (half of it on, half off).
STRIPE_PERIOD = 16
#: Pixels per cell of the coarse code that says which period a stripe phase lies in.
CELL = STRIPE_PERIOD // 4
#: The two labels of :func:`checkerboard_labels`.
CHECKER_LABELS = (0, 160)


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


def code_bits(n: int) -> int:
    """Bits of the Gray code that numbers ``n`` values (at least one)."""
    return max(1, (n - 1).bit_length())


def bit_plane(codes: Sequence[torch.Tensor], bit: int) -> list[torch.Tensor]:
    """Grey float32 images 3×H×W, one per int64 code map H×W: :data:`BIT_LEVELS` [1] where bit
    ``bit`` of the code's Gray code is set and [0] where it is clear."""
    low, high = BIT_LEVELS
    images = []
    for code in codes:
        on = (((code ^ (code >> 1)) >> bit) & 1).bool()
        image = torch.where(on, torch.tensor(high), torch.tensor(low)).to(torch.float32)
        images.append(image.expand(3, *code.shape).contiguous())
    return images


def stripe_plane(codes: Sequence[torch.Tensor], shift: int) -> list[torch.Tensor]:
    """Grey float32 images 3×H×W, one per int64 code map H×W: :data:`BIT_LEVELS` [1] where
    ``(code − shift) mod STRIPE_PERIOD`` is in the first half of the period, [0] elsewhere.
    Shifts 0 … STRIPE_PERIOD/2 − 1 make a Johnson code."""
    low, high = BIT_LEVELS
    images = []
    for code in codes:
        on = (code - shift) % STRIPE_PERIOD < STRIPE_PERIOD // 2
        images.append(torch.where(on, torch.tensor(high), torch.tensor(low)).to(torch.float32).expand(3, *code.shape))
    return [image.contiguous() for image in images]


def decode_axis(
    stripes: torch.Tensor, cells: torch.Tensor, tie: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source column (or row) of pixels from the differences of their :func:`stripe_plane` planes
    (``stripes``, STRIPE_PERIOD/2 × N) and of the :func:`bit_plane` planes of ``code // CELL``
    (``cells``, n×N); ``tie`` as :func:`decode_gray`'s.

    The stripes give the position modulo the period (halfway at a single tie between
    neighbours), the cell code says which period: the position nearest to its cell's centre
    (a cell read one off still unwraps right).

    Returns:
        ``(position, halfway, reliable)`` as :func:`decode_gray`'s: float64, bool, bool.
    """
    ties = stripes.abs() <= tie
    bits = stripes > tie
    low, high = _johnson(bits), _johnson(bits | ties)
    count = ties.sum(0)
    step = (high[0] - low[0]).remainder(STRIPE_PERIOD)
    neighbours = (step == 1) | (step == STRIPE_PERIOD - 1)
    reliable = low[1] & high[1] & ((count == 0) | ((count == 1) & neighbours))
    phase = torch.where(step == STRIPE_PERIOD - 1, high[0], low[0]).double() + (count == 1).double() / 2
    cell, _, cell_ok = decode_gray(cells, tie)
    centre = CELL * cell + (CELL - 1) / 2
    position = phase + STRIPE_PERIOD * torch.round((centre - phase) / STRIPE_PERIOD)
    return position, reliable & (count == 1), reliable & cell_ok


def _johnson(bits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """m×N bool stripe signs as N int64 positions modulo 2m, and N bool valid words (ones then
    zeros, or zeros then ones)."""
    ones = bits.sum(0)
    changes = (bits[1:] != bits[:-1]).sum(0)
    period = 2 * bits.shape[0]
    position = torch.where(bits[0], ones - 1, period - ones - 1).remainder(period)
    return position, changes <= 1


def decode_gray(diffs: torch.Tensor, tie: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Codes of pixels from their bit planes' differences (plane − flat mid grey, under one seed).

    Args:
        diffs: n×N float, bit k's difference at each of N pixels: > 0 where the bit is set.
        tie: N float, the largest |difference| that counts as zero (the pixel sits exactly
            halfway between two source pixels whose codes differ in that bit).

    Returns:
        ``(code, halfway, reliable)``: N float64 codes (``c + 0.5`` halfway between codes c
        and c + 1), N bool halfway, N bool reliable (no tie, or one tie between neighbouring
        codes; two ties or a tie between codes that are not neighbours is no position).
    """
    ties = diffs.abs() <= tie
    bits = diffs > tie
    low, high = _binary(bits), _binary(bits | ties)
    count = ties.sum(0)
    reliable = (count == 0) | ((count == 1) & ((high - low).abs() == 1))
    return (low + high).double() / 2, reliable & (count == 1), reliable


def _binary(gray: torch.Tensor) -> torch.Tensor:
    """n×N bool Gray-code bits (bit 0 first) as N int64 values."""
    value = torch.zeros(gray.shape[1:], dtype=torch.int64, device=gray.device)
    bit = torch.zeros(gray.shape[1:], dtype=torch.bool, device=gray.device)
    for k in reversed(range(gray.shape[0])):
        bit = bit ^ gray[k]
        value |= bit.long() << k
    return value


def axis_labels(
    sizes: Sequence[tuple[int, int]],
    axis: int,
    ignore_index: int = 255,
    shared: bool = False,
    device: torch.device | str | None = None,
) -> list[torch.Tensor]:
    """int64 masks Hₖ×Wₖ labelled by one axis: the column (``axis=1``) or the row (``axis=0``),
    offset by the lengths of that axis in the samples before k (so a label names its sample;
    ``shared``: no offset, every sample labelled alike), skipping ``ignore_index``.
    :func:`decode_list` with sizes ``(1, length)`` reads them back (sample, index on the axis)."""
    masks, base = [], 0
    for height, width in sizes:
        length = (height, width)[axis]
        line = _encode(torch.arange(base, base + length, dtype=torch.int64, device=device), ignore_index)
        masks.append((line.view(1, width) if axis else line.view(height, 1)).expand(height, width).contiguous())
        base += 0 if shared else length
    return masks


def checkerboard_labels(
    sizes: Sequence[tuple[int, int]], ignore_index: int = 255, device: torch.device | str | None = None
) -> tuple[list[torch.Tensor], tuple[int, int]]:
    """int64 masks Hₖ×Wₖ alternating two labels pixel by pixel, and those labels
    (:data:`CHECKER_LABELS`, moved off ``ignore_index``). Every pair of neighbours differs, so a
    label read anywhere but at a pixel centre by interpolation is a label never in the input."""
    labels = tuple(label + 1 if label == ignore_index else label for label in CHECKER_LABELS)
    masks = []
    for height, width in sizes:
        rows = torch.arange(height, device=device).view(height, 1)
        cols = torch.arange(width, device=device).view(1, width)
        masks.append(torch.where((rows + cols) % 2 == 1, labels[1], labels[0]).to(torch.int64))
    return masks, labels
