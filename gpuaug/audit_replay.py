"""The audit's second probe, for pipelines whose pixel ops hide the value-coded one: the
same draws replayed (one seed) on grey stripe and Gray-code planes that read the geometry
apart from the pixel ops; and the calls and flattenings both probes share.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from gpuaug import probe
from gpuaug.audit_report import AuditReport
from gpuaug.core.types import PairFn

__all__ = ["check_replayed", "check_sample_shapes", "flat_labels", "flat_grey", "flatten", "call_pair", "call_lists"]


#: Relative tolerance of the validity plateaus and of a bit's tie, against the inside plateau.
PLATEAU_TOLERANCE = 1e-3
TIE_TOLERANCE = 1e-4
BLUR_TIE_TOLERANCE = 0.1
#: Pixels this close to the output edge of a spatially filtered sample are not measured: a blur's
#: border rule (reflect) moves the stripes there, which is appearance, not geometry.
EDGE_MARGIN = 3
#: A sample has source-less pixels only when its lowest validity is at most this share of its
#: highest: ColorJitter's contrast (factor >= 0.5) lifts the fill towards the mean, never past half.
OUTSIDE_SHARE = 0.6


def check_replayed(
    fn: PairFn,
    sizes: list[tuple[int, int]],
    ignore_index: int,
    seed: int,
    device: torch.device | str | None,
    *,
    stacked: bool,
    mixing: bool = False,
) -> AuditReport | None:
    """:func:`check_pair` by bit planes (:mod:`gpuaug.probe`), every call of ``fn`` under the same
    seed so that it draws the same geometry and the same pixel-op parameters each time; None
    when two calls on the same input disagree (``fn`` does not replay under ``torch.manual_seed``).

    ``stacked``: the samples go to ``fn`` as one batch of equal sizes (they are identical unless
    ``mixing``, and the labels do not name the sample)."""
    call = _replayer(fn, seed, stacked, mixing)
    named = mixing or not stacked  # the labels and a sample code say which sample a pixel shows
    low, high = probe.BIT_LEVELS  # the flat images: both levels inside [0, 1], so noise is not clipped at 0
    grey = [torch.full((3, h, w), high, device=device) for h, w in sizes]
    if mixing:
        labels_x = labels_y = probe.coordinate_probe_list(sizes, ignore_index, device)[1]
    else:
        labels_x = probe.axis_labels(sizes, 1, ignore_index, shared=stacked, device=device)
        labels_y = probe.axis_labels(sizes, 0, ignore_index, shared=stacked, device=device)
    first, again = call(grey, labels_x), call(grey, labels_x)
    if not all(torch.equal(a, b) for a, b in zip(first[0] + first[1], again[0] + again[1], strict=True)):
        return None
    counts = [check_sample_shapes(k, image, mask) for k, (image, mask) in enumerate(zip(*first, strict=True))]
    out_device = first[0][0].device
    own = torch.repeat_interleave(torch.arange(len(sizes), device=out_device), torch.tensor(counts, device=out_device))
    valid = flat_grey(first[0]) - flat_grey(call([torch.full_like(g, low) for g in grey], labels_x)[0])
    top = torch.stack([v.max() for v in valid.split(counts)])[own]
    bottom = torch.stack([v.min() for v in valid.split(counts)])[own]
    inside = valid >= top - PLATEAU_TOLERANCE * top.abs()
    maps = {
        "col": ([torch.arange(w, device=device).expand(h, w) for h, w in sizes], labels_x),
        "row": ([torch.arange(h, device=device).view(h, 1).expand(h, w) for h, w in sizes], labels_y),
    }
    if named:
        maps["sample"] = ([torch.full(size, k, device=device) for k, size in enumerate(sizes)], labels_x)
    middle = [torch.full_like(g, (low + high) / 2) for g in grey]
    diffs, row_masks = _read_planes(call, maps, middle, inside, counts)
    stripes = probe.STRIPE_PERIOD // 2
    filtered = (_filtered(diffs["col"][:stripes], inside, counts) | _filtered(diffs["row"][:stripes], inside, counts))[
        own
    ]
    # A blurred sample's near-ties are no reading: halfway within a tenth of the level.
    tie = torch.where(filtered, BLUR_TIE_TOLERANCE, TIE_TOLERANCE) * top.abs()
    decoded = {
        name: probe.decode_gray(d, tie) if name == "sample" else probe.decode_axis(d[:stripes], d[stripes:], tie)
        for name, d in diffs.items()
    }
    inside &= ~(filtered & (_edge_distance(first[0]) < EDGE_MARGIN))
    labels = _read_labels(call, grey, sizes, ignore_index, first[1], row_masks, stacked, mixing)
    metrics = _replayed_metrics(decoded, labels, own if named else torch.zeros_like(own), inside, mixing)
    outside = (valid <= bottom + PLATEAU_TOLERANCE * top.abs()) & (bottom <= OUTSIDE_SHARE * top)
    same = call(probe.stripe_plane(maps["col"][0], 0), labels_x)[0]
    if not stacked and len(set(sizes)) > 1:  # identical inputs, to see per-sample draws
        same_sizes = [sizes[0]] * len(sizes)
        same_maps = [torch.arange(sizes[0][1], device=device).expand(*sizes[0])] * len(sizes)
        same = call(probe.stripe_plane(same_maps, 0), probe.axis_labels(same_sizes, 1, ignore_index, device=device))[0]
    return AuditReport(
        alignment_px=metrics["alignment_px"],
        mean_offset_px=metrics["mean_offset_px"],
        outside_not_ignore=int((outside & (flat_labels(first[1]) != ignore_index)).sum()),
        new_labels=labels["new"],
        dtype_kept=all(m.dtype == torch.int64 for m in first[1]),
        mask_dtype=", ".join(sorted({str(m.dtype).removeprefix("torch.") for m in first[1]})),
        per_sample=probe.varies_across_batch(same),
        inside_pixels=metrics["inside_pixels"],
        foreign_pixels=metrics["foreign_pixels"] if named else None,
        pasted_pixels=metrics["pasted_pixels"] if mixing else None,
        appearance_separated=True,
    )


def _read_planes(
    call, maps: dict, middle: list[torch.Tensor], inside: torch.Tensor, counts: list[int]
) -> tuple[dict, list[torch.Tensor]]:
    """Each code's centred differences between its planes' outputs and the output of the flat
    grey ``middle`` halfway between the levels, under the same seed (n×N: the stripes then the
    Gray code of the cells for "col" and "row", the Gray code for "sample"), and the output
    masks of the first "row" call."""
    diffs, row_masks = {}, None
    for name, (codes, masks) in maps.items():
        if name == "sample":
            planes = [(probe.bit_plane, codes, bit) for bit in range(probe.code_bits(len(codes)))]
        else:
            cells = [code // probe.CELL for code in codes]
            planes = [(probe.stripe_plane, codes, shift) for shift in range(probe.STRIPE_PERIOD // 2)]
            bits = probe.code_bits(int(max(cell.max() for cell in cells)) + 1)
            planes += [(probe.bit_plane, cells, bit) for bit in range(bits)]
        rows, reference = [], flat_grey(call(middle, masks)[0])
        for plane, plane_codes, index in planes:
            on_images, on_masks = call(plane(plane_codes, index), masks)
            rows.append(flat_grey(on_images) - reference)
            row_masks = on_masks if name == "row" and row_masks is None else row_masks
        diffs[name] = _centred(torch.stack(rows), inside, counts)
    return diffs, row_masks


def _read_labels(call, grey, sizes, ignore_index, col_masks, row_masks, stacked: bool, mixing: bool) -> dict:
    """The labels' source sample, column and row per output pixel (int64), whether it is
    labelled (not ignore), and the pixels whose label is new in the checkerboard call ("new":
    interpolated labels; the call's own draws, so a pipeline whose pastes follow the labels
    counts them too)."""
    checker, _ = probe.checkerboard_labels(sizes, ignore_index, grey[0].device)
    checker_out = flatten(call(grey, checker)[1])
    col_labels = flat_labels(col_masks)
    if mixing:
        sample, col, row = probe.decode_list(col_labels, sizes, ignore_index)
        labelled = col_labels != ignore_index
    else:
        row_labels = flat_labels(row_masks)
        widths = [(1, w) for _, w in sizes[: 1 if stacked else None]]
        heights = [(1, h) for h, _ in sizes[: 1 if stacked else None]]
        sample_x, col, _ = probe.decode_list(col_labels, widths, ignore_index)
        sample_y, row, _ = probe.decode_list(row_labels, heights, ignore_index)
        sample = torch.where(sample_x == sample_y, sample_x, -1)
        labelled = (col_labels != ignore_index) & (row_labels != ignore_index)
    return {
        "sample": sample,
        "col": col,
        "row": row,
        "labelled": labelled,
        "new": probe.count_new_labels(flatten(checker), checker_out, ignore_index),
    }


def _filtered(stripes: torch.Tensor, inside: torch.Tensor, counts: list[int]) -> torch.Tensor:
    """B bool: the samples whose image was filtered in space after the probe (a blur): some
    inside pixel has two stripes off their level, where a bilinear tap between two source
    pixels puts at most one."""
    flags = []
    for values, mask in zip(stripes.split(counts, 1), inside.split(counts), strict=True):
        level = values[:, mask].abs().amax(1, keepdim=True) if mask.any() else values.new_zeros(len(values), 1)
        off = (values.abs() < (1 - PLATEAU_TOLERANCE) * level).sum(0) >= 2
        flags.append(bool((off & mask).any()))
    return torch.tensor(flags, device=inside.device)


def _edge_distance(images: Sequence[torch.Tensor]) -> torch.Tensor:
    """Every output pixel's distance in pixels to its sample's nearest output edge, flattened."""
    distances = []
    for image in images:
        h, w = image.shape[-2:]
        rows = torch.arange(h, device=image.device).view(h, 1)
        cols = torch.arange(w, device=image.device).view(1, w)
        distances.append(
            torch.minimum(torch.minimum(rows, h - 1 - rows), torch.minimum(cols, w - 1 - cols)).reshape(-1)
        )
    return torch.cat(distances)


def _centred(diffs: torch.Tensor, inside: torch.Tensor, counts: list[int]) -> torch.Tensor:
    """Each plane's differences less, per sample, the midpoint of its two levels (the largest and
    the smallest over the inside pixels, when they lie on either side of 0): a contrast that
    blends towards the image mean adds the same offset to every pixel of a plane, which would
    otherwise decide the ties."""
    centred = []
    for plane in diffs:
        parts = []
        for values, mask in zip(plane.split(counts), inside.split(counts), strict=True):
            seen = values[mask]
            top, bottom = (seen.max(), seen.min()) if len(seen) else (values.new_zeros(()),) * 2
            offset = (top + bottom) / 2 if bottom < 0 < top else values.new_zeros(())
            parts.append(values - offset)
        centred.append(torch.cat(parts))
    return torch.stack(centred)


def _replayed_metrics(decoded: dict, labels: dict, own: torch.Tensor, inside: torch.Tensor, mixing: bool) -> dict:
    """Offsets between the labels' source pixel and the image's nearest source pixel, and the
    pixels from another sample, over the pixels both read from the source.

    A halfway image pixel (a tie) is 0.5 px off and counts 0 in the mean: either neighbour is
    its nearest source pixel."""
    col, col_half, col_ok = decoded["col"]
    row, row_half, row_ok = decoded["row"]
    if "sample" in decoded:
        image_sample, half, sample_ok = decoded["sample"]
        image_sample, sample_ok = image_sample.long(), sample_ok & ~half
    else:
        image_sample, sample_ok = own, torch.ones_like(col_ok)
    expected = torch.where(sample_ok, image_sample, -2) if mixing else own
    label_sample, labelled = labels["sample"], labels["labelled"]
    measured = inside & labelled & col_ok & row_ok & sample_ok & (image_sample == expected)
    measured &= label_sample == expected
    dx, dy = labels["col"].double() - col, labels["row"].double() - row
    n = int(measured.sum())
    if n:
        alignment = tuple(d.abs()[measured].max().item() for d in (dx, dy))
        mean = tuple(torch.where(half, 0.0, d)[measured].mean().item() for d, half in ((dx, col_half), (dy, row_half)))
    else:
        alignment = mean = (float("nan"), float("nan"))
    if mixing:
        foreign = labelled & ((label_sample < 0) | (inside & sample_ok & (label_sample != image_sample)))
    else:
        foreign = (labelled & (label_sample != own)) | (inside & sample_ok & (image_sample != own))
    pasted = measured & (label_sample != own)
    return {
        "alignment_px": alignment,
        "mean_offset_px": mean,
        "inside_pixels": n,
        "foreign_pixels": int(foreign.sum()),
        "pasted_pixels": int(pasted.sum()),
    }


def _replayer(fn: PairFn, seed: int, stacked: bool, mixing: bool):
    """``fn`` on per-sample lists, under ``torch.manual_seed(seed)``, its output as two lists
    (``stacked``: the lists go to ``fn`` as one batch, masks B×1×H×W, or B×H×W with ``mixing``)."""

    def call(images: list[torch.Tensor], masks: list[torch.Tensor]) -> tuple[list, list]:
        torch.manual_seed(seed)
        if not stacked:
            return call_lists(fn, images, masks)
        batch = torch.stack(masks) if mixing else torch.stack(masks)[:, None]
        out_images, out_masks = call_pair(fn, torch.stack(images), batch)
        return list(out_images), list(out_masks)

    return call


def check_sample_shapes(k: int, image: torch.Tensor, mask: torch.Tensor) -> int:
    """Pixels of output sample ``k``, checked to be the same for its image and its mask."""
    if image.dim() != 3 or mask.numel() != image[0].numel():
        raise ValueError(
            f"masks[{k}]: expected a C×h×w image and an h×w mask, got {tuple(image.shape)} and {tuple(mask.shape)}"
        )
    return mask.numel()


def flat_labels(masks: Sequence[torch.Tensor]) -> torch.Tensor:
    """Every label of the output masks as int64 (float labels rounded), flattened sample after sample."""
    flat = flatten(masks)
    return flat.round().long() if flat.is_floating_point() else flat.long()


def flat_grey(images: Sequence[torch.Tensor]) -> torch.Tensor:
    """Every pixel of the output images, its channels summed (float64), flattened sample after sample."""
    return torch.cat([image.double().sum(0).reshape(-1) for image in images])


def flatten(samples: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in samples])


def call_pair(fn: PairFn, images: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``fn(images, masks)``, checked to be an (images, masks) pair of tensors."""
    out = fn(images, masks)
    if not (isinstance(out, (tuple, list)) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out)):
        raise TypeError(f"fn: expected fn(images, masks) to return (images, masks) tensors, got {type(out).__name__}")
    return out[0], out[1]


def call_lists(
    fn: PairFn, images: list[torch.Tensor], masks: list[torch.Tensor]
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """``fn(images, masks)`` on lists, its output as two lists of B per-sample tensors; each output
    may be stacked (B×...) or a list of B tensors."""
    out = fn(images, masks)
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TypeError(f"fn: expected fn(images, masks) to return (images, masks), got {type(out).__name__}")
    samples = []
    for name, value in zip(("images", "masks"), out, strict=True):
        if isinstance(value, torch.Tensor):
            value = list(value)
        elif not (isinstance(value, (tuple, list)) and all(isinstance(t, torch.Tensor) for t in value)):
            raise TypeError(f"fn: expected its {name} to be a tensor or a list of tensors, got {type(value).__name__}")
        if len(value) != len(images):
            raise ValueError(f"fn: returned {len(value)} {name} for a batch of {len(images)} samples")
        samples.append(list(value))
    return samples[0], samples[1]
