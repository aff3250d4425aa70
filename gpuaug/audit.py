"""Audit any image+mask pair transform for the three silent segmentation bugs.

:func:`check_pair` feeds a pair transform the probes of :mod:`gpuaug.probe` and reports,
in pixels and counts, whether image and mask stayed aligned, whether labels were invented,
whether pixels from outside the image kept ``ignore_index`` and whether the mask dtype
survived. It works for gpuaug, for peers (kornia, albumentations, wrapped), and for a
user's own code, on CPU or CUDA, including pipelines that change the output size. With
``image_size`` a list of (h, w) sizes it audits a variable-size pair transform
``fn(images_list, masks_list)`` sample by sample, and also counts pixels that show another
sample's image or labels.

``python -m gpuaug audit`` runs it on the naive pipeline with each classic bug, on gpuaug,
and on kornia / albumentations when they are installed, and prints the table;
``python -m gpuaug audit --pipeline module:function`` audits your own pair transform
instead and exits non-zero when it is not ok; ``--sizes 23x31,40x17,...`` audits on lists
of samples of those sizes.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import torch

from gpuaug import probe
from gpuaug._checks import check_int, check_size
from gpuaug.core.types import PairFn

__all__ = ["AuditReport", "check_pair", "format_table", "load_pipeline", "main"]

#: Float tolerance on the half-pixel alignment bound.
ALIGNMENT_TOLERANCE = 1e-3
#: Largest mean signed offset per axis that still counts as unbiased.
MAX_MEAN_OFFSET = 0.1


@dataclass(frozen=True)
class AuditReport:
    """What an audit measured on one pair transform.

    Attributes:
        alignment_px: per axis (x, y), max |mask source pixel − image source coordinate| over
            pixels whose four bilinear taps are inside the source (NaN when there is none).
        mean_offset_px: per axis, the mean signed mask − image offset over those pixels;
            about 0 when aligned, ±0.5 for a constant half-pixel shift that the max allows.
        outside_not_ignore: pixels mapped wholly from outside the source whose label is not
            ``ignore_index``.
        new_labels: pixels whose label was never in the input (interpolated labels).
        dtype_kept: whether the mask dtype came out as it went in (int64).
        mask_dtype: the output mask dtype, as text.
        per_sample: whether the samples of the batch (identical inputs) came out different.
        inside_pixels: how many pixels the alignment was measured on.
        foreign_pixels: for a variable-size audit, pixels of sample k whose label is not a
            source pixel of sample k (another sample's, or none) or whose image was sampled
            from another sample; None for a stacked audit, whose identical samples cannot
            show it. With ``mixing``: pixels whose label and image come from different
            samples, or whose label names no pixel of the batch.
        pasted_pixels: for a ``mixing`` audit, the measured pixels that show another sample
            (label and image both from it); None otherwise.
        appearance_separated: whether the audit read the geometry apart from the pixel ops
            (bit planes replayed under one seed, :mod:`gpuaug.probe`); False when ``fn`` does
            not give the same output twice under ``torch.manual_seed`` (it holds its own
            generator), so the value-coded probe was used and pixel ops would count as
            misalignment; None for a report built by hand.
    """

    alignment_px: tuple[float, float]
    mean_offset_px: tuple[float, float]
    outside_not_ignore: int
    new_labels: int
    dtype_kept: bool
    mask_dtype: str
    per_sample: bool
    inside_pixels: int
    foreign_pixels: int | None = None
    pasted_pixels: int | None = None
    appearance_separated: bool | None = None

    @property
    def bugs(self) -> tuple[str, ...]:
        """The bugs the audit found, by name: ``"desync"`` (labels and image more than half a
        pixel apart, or biased, or, where labels are interpolated, more than a pixel apart; or
        from different samples), ``"interpolated labels"``, ``"lost
        ignore"`` (source-less pixels labelled as a class), ``"lost dtype"``; ``"nothing
        measured"`` when no pixel could be measured. Empty when the pipeline is correct."""
        # An interpolated label may be either tap's, rounded or truncated: up to 1 px, and a bias,
        # is the interpolation.
        limit = 1.0 if self.new_labels else 0.5
        aligned = all(a <= limit + ALIGNMENT_TOLERANCE for a in self.alignment_px)
        unbiased = self.new_labels > 0 or all(abs(m) <= MAX_MEAN_OFFSET for m in self.mean_offset_px)
        found = {
            "nothing measured": self.inside_pixels == 0,
            "desync": (self.inside_pixels > 0 and not (aligned and unbiased)) or bool(self.foreign_pixels),
            "interpolated labels": self.new_labels > 0,
            "lost ignore": self.outside_not_ignore > 0,
            "lost dtype": not self.dtype_kept,
        }
        return tuple(name for name, present in found.items() if present)

    @property
    def ok(self) -> bool:
        """Aligned within half a pixel, unbiased, ignore kept outside, no new labels, dtype kept,
        and (variable-size audits) no pixel from another sample: no :attr:`bugs`."""
        return not self.bugs

    def to_dict(self) -> dict:
        """JSON-ready dict of every field and ``ok`` (NaN becomes None)."""
        data = asdict(self) | {"ok": self.ok, "bugs": list(self.bugs)}
        for key in ("alignment_px", "mean_offset_px"):
            data[key] = [None if math.isnan(v) else v for v in data[key]]
        return data

    def __str__(self) -> str:
        ax, ay = self.alignment_px
        mx, my = self.mean_offset_px
        rows = [
            ("alignment error px (x, y)", f"{ax:.3f}, {ay:.3f}", "<= 0.5"),
            ("mean offset px (x, y)", f"{mx:+.3f}, {my:+.3f}", f"|.| <= {MAX_MEAN_OFFSET}"),
            ("outside pixels not ignore", str(self.outside_not_ignore), "0"),
            ("labels invented (pixels)", str(self.new_labels), "0"),
            ("mask dtype out", self.mask_dtype, "int64 (kept)"),
            ("per-sample params", "yes" if self.per_sample else "no", ""),
            ("pixels measured", str(self.inside_pixels), ""),
        ]
        if self.appearance_separated is not None:
            separated = "yes" if self.appearance_separated else "no: fn does not replay under torch.manual_seed"
            rows.append(("geometry read apart from pixel ops", separated, ""))
        if self.foreign_pixels is not None:
            what = "label/image from different samples" if self.pasted_pixels is not None else "from another sample"
            rows.insert(4, (f"{what} (pixels)", str(self.foreign_pixels), "0"))
        if self.pasted_pixels is not None:
            rows.insert(5, ("pasted from another sample (pixels)", str(self.pasted_pixels), ""))
        width = max(len(r[0]) for r in rows)
        lines = [f"{name.ljust(width)}  {value:<16} {want}".rstrip() for name, value, want in rows]
        if self.bugs:
            lines.append(f"{'bugs'.ljust(width)}  {', '.join(self.bugs)}")
        return "\n".join(lines + [f"{'ok'.ljust(width)}  {'yes' if self.ok else 'NO'}"])


def check_pair(
    fn: PairFn,
    image_size: int | tuple[int, int] | Sequence[tuple[int, int]] = (64, 64),
    batch_size: int | None = None,
    ignore_index: int = 255,
    seed: int = 0,
    *,
    device: torch.device | str | None = None,
    mixing: bool = False,
) -> AuditReport:
    """Audit the pair transform ``fn(images, masks) -> (images, masks)``.

    With ``image_size`` an int or an (H, W) pair, ``fn`` receives a stacked batch: float32
    images B×3×H×W (column, row and validity channels) and int64 masks B×1×H×W (label
    y·W + x, skipping ``ignore_index``), then a second batch with a few sparse labels.

    With ``image_size`` a list of (h, w) pairs, one per sample, ``fn`` receives lists:
    B float32 images 4×Hₖ×Wₖ (a fourth channel holds the sample index k) and B int64 masks
    Hₖ×Wₖ labelled by the pixel's index in the whole batch (see
    :func:`gpuaug.probe.coordinate_probe_list`), then sparse labels of the same sizes, then a
    list of B samples all of the first size (to see per-sample params on identical inputs).
    It may return a stacked pair (B×C×h×w images, B×h×w or B×1×h×w masks) or lists of B
    per-sample tensors. Each sample is measured against its own source, decoded with its own
    width, and :attr:`AuditReport.foreign_pixels` counts pixels from another sample.

    With ``mixing`` (pipelines that paste other samples' pixels: CutMix, ClassMix, Mosaic)
    a stacked probe is the list probe of B samples of one size, stacked (4 channels, the
    sample index in the fourth and in the labels), and a pixel from another sample is fine
    when its label and its image come from that same sample and agree within half a pixel;
    :attr:`AuditReport.foreign_pixels` counts those whose label and image disagree on the
    sample, :attr:`AuditReport.pasted_pixels` the consistent pasted ones.

    ``fn`` should treat the probes like any training batch with image fill 0. The global
    torch seed is set to ``seed`` before each call, so an ``fn`` that uses the global RNG is
    audited reproducibly.

    Args:
        fn: the pair transform under audit.
        image_size: (H, W) of a stacked probe (an int for a square), or a list of (h, w)
            pairs, one per sample, for a variable-size probe.
        batch_size: samples per stacked probe batch (>= 2 to see per-sample params; 8 when
            None). With a list of sizes the batch has one sample per size: leave it None or
            give that length.
        ignore_index: the value ``fn`` should write outside the image.
        seed: the torch seed set before each call.
        device: where the probes are made (CPU by default).
        mixing: audit a pipeline that mixes samples (above).

    Raises:
        TypeError: ``fn`` not callable, or returning something other than an (images, masks)
            pair of tensors (or, for list probes, of B-tensor lists).
        ValueError: a bad ``image_size`` or ``batch_size``, or a ``batch_size`` that is not
            the length of the ``image_size`` list.
    """
    if not callable(fn):
        raise TypeError(f"fn: expected a callable fn(images, masks) -> (images, masks), got {type(fn).__name__}")
    if batch_size is not None and check_int(batch_size, "batch_size") < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size}")
    sizes = _read_sizes(image_size)
    if sizes is not None:
        if batch_size is not None and batch_size != len(sizes):
            raise ValueError(
                f"batch_size: image_size lists {len(sizes)} sizes, one per sample, so the batch has {len(sizes)} "
                f"samples; got batch_size={batch_size} (leave it out)"
            )
        return _audit(fn, sizes, ignore_index, seed, device, stacked=False, mixing=mixing)
    batch_size = 8 if batch_size is None else batch_size
    height, width = check_size(image_size, "image_size")
    return _audit(fn, [(height, width)] * batch_size, ignore_index, seed, device, stacked=True, mixing=mixing)


class _Refused(Exception):
    """``fn`` raised on the value-coded probe (a pixel op that wants 3 channels, say)."""


def _audit(fn: PairFn, sizes, ignore_index: int, seed: int, device, *, stacked: bool, mixing: bool) -> AuditReport:
    """The value-coded probe first (few calls); when it is not ok, or ``fn`` refuses it, the
    bit planes, which read the geometry apart from pixel ops, if ``fn`` replays under one seed."""
    report, refused = None, None
    try:
        if stacked and not mixing:
            report = _check_stacked(fn, sizes, ignore_index, seed, device)
        else:
            report = _check_list(fn, sizes, ignore_index, seed, device, mixing, stacked=stacked)
    except _Refused as exc:
        refused = exc.__cause__
    if report is not None and report.ok:
        return report
    replayed = _check_replayed(fn, sizes, ignore_index, seed, device, stacked=stacked, mixing=mixing)
    if replayed is not None:
        return replayed
    if report is None:  # fn does not replay, and it refused the value probe: its own error
        raise refused
    return replace(report, appearance_separated=False)


def _check_stacked(fn: PairFn, sizes, ignore_index: int, seed: int, device) -> AuditReport:
    """:func:`check_pair` by the value-coded stacked probe (:func:`gpuaug.probe.coordinate_probe`)."""
    (height, width), batch_size = sizes[0], len(sizes)
    images, masks = probe.coordinate_probe(batch_size, height, width, ignore_index, device)
    torch.manual_seed(seed)
    out_images, out_masks = _call(_refusing(fn), images, masks)
    metrics = probe.measure_alignment(out_images, out_masks, width, ignore_index)
    checker, _ = probe.checkerboard_labels(sizes, ignore_index, device)
    torch.manual_seed(seed)
    _, checker_out = _call(_refusing(fn), images, torch.stack(checker)[:, None])
    return AuditReport(
        alignment_px=metrics["alignment_px"],
        mean_offset_px=metrics["mean_offset_px"],
        outside_not_ignore=metrics["outside_not_ignore"],
        new_labels=probe.count_new_labels(_flat(checker), _flat(list(checker_out)), ignore_index),
        dtype_kept=out_masks.dtype == masks.dtype,
        mask_dtype=str(out_masks.dtype).removeprefix("torch."),
        per_sample=probe.varies_across_batch(out_images),
        inside_pixels=metrics["inside_pixels"],
    )


def _refusing(fn: PairFn) -> PairFn:
    """``fn``, its own exceptions raised as :class:`_Refused`."""

    def call(images, masks):
        try:
            return fn(images, masks)
        except Exception as exc:
            raise _Refused(str(exc)) from exc

    return call


def _read_sizes(image_size: object) -> list[tuple[int, int]] | None:
    """``image_size`` as a list of per-sample (h, w) when it is a sequence of pairs; None for one size."""
    pairs = isinstance(image_size, Sequence) and not isinstance(image_size, str)
    if not (pairs and any(isinstance(v, Sequence) and not isinstance(v, str) for v in image_size)):
        return None  # one size: check_size reads it
    sizes = []
    for k, size in enumerate(image_size):
        if not (isinstance(size, Sequence) and len(size) == 2):
            raise TypeError(f"image_size[{k}]: expected an (h, w) pair in a list of sizes, got {size!r}")
        sizes.append(check_size(size, f"image_size[{k}]"))
    return sizes


def _check_list(
    fn: PairFn,
    sizes: list[tuple[int, int]],
    ignore_index: int,
    seed: int,
    device: torch.device | str | None,
    mixing: bool = False,
    stacked: bool = False,
) -> AuditReport:
    """:func:`check_pair` on list probes of per-sample ``sizes`` (``stacked``: passed to ``fn``
    as one B×4×H×W batch and B×H×W masks)."""

    fn = _refusing(fn)

    def call(images, masks):
        if stacked:
            return _call_list(lambda i, m: fn(torch.stack(i), torch.stack(m)), images, masks)
        return _call_list(fn, images, masks)

    images, masks = probe.coordinate_probe_list(sizes, ignore_index, device)
    torch.manual_seed(seed)
    out_images, out_masks = call(images, masks)
    metrics = probe.measure_alignment_list(out_images, out_masks, sizes, ignore_index, mixing=mixing)
    checker, _ = probe.checkerboard_labels(sizes, ignore_index, device)
    torch.manual_seed(seed)
    _, checker_out = call(images, checker)
    same_images, same_masks = probe.coordinate_probe_list([sizes[0]] * len(sizes), ignore_index, device)
    torch.manual_seed(seed)
    same_out, _ = call(same_images, same_masks)
    dtypes = sorted({str(m.dtype).removeprefix("torch.") for m in out_masks})
    return AuditReport(
        alignment_px=metrics["alignment_px"],
        mean_offset_px=metrics["mean_offset_px"],
        outside_not_ignore=metrics["outside_not_ignore"],
        new_labels=probe.count_new_labels(_flat(checker), _flat(checker_out), ignore_index),
        dtype_kept=all(m.dtype == torch.int64 for m in out_masks),
        mask_dtype=", ".join(dtypes),
        per_sample=probe.varies_across_batch([image[:3] for image in same_out]),  # the sample channel differs
        inside_pixels=metrics["inside_pixels"],
        foreign_pixels=metrics["foreign_pixels"],
        pasted_pixels=metrics["pasted_pixels"] if mixing else None,
    )


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


def _check_replayed(
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
    counts = [_check_shapes(k, image, mask) for k, (image, mask) in enumerate(zip(*first, strict=True))]
    out_device = first[0][0].device
    own = torch.repeat_interleave(torch.arange(len(sizes), device=out_device), torch.tensor(counts, device=out_device))
    valid = _grey(first[0]) - _grey(call([torch.full_like(g, low) for g in grey], labels_x)[0])
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
        outside_not_ignore=int((outside & (_labels(first[1]) != ignore_index)).sum()),
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
        rows, reference = [], _grey(call(middle, masks)[0])
        for plane, plane_codes, index in planes:
            on_images, on_masks = call(plane(plane_codes, index), masks)
            rows.append(_grey(on_images) - reference)
            row_masks = on_masks if name == "row" and row_masks is None else row_masks
        diffs[name] = _centred(torch.stack(rows), inside, counts)
    return diffs, row_masks


def _read_labels(call, grey, sizes, ignore_index, col_masks, row_masks, stacked: bool, mixing: bool) -> dict:
    """The labels' source sample, column and row per output pixel (int64), whether it is
    labelled (not ignore), and the pixels whose label is new in the checkerboard call ("new":
    interpolated labels; the call's own draws, so a pipeline whose pastes follow the labels
    counts them too)."""
    checker, _ = probe.checkerboard_labels(sizes, ignore_index, grey[0].device)
    checker_out = _flat(call(grey, checker)[1])
    col_labels = _labels(col_masks)
    if mixing:
        sample, col, row = probe.decode_list(col_labels, sizes, ignore_index)
        labelled = col_labels != ignore_index
    else:
        row_labels = _labels(row_masks)
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
        "new": probe.count_new_labels(_flat(checker), checker_out, ignore_index),
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
            return _call_list(fn, images, masks)
        batch = torch.stack(masks) if mixing else torch.stack(masks)[:, None]
        out_images, out_masks = _call(fn, torch.stack(images), batch)
        return list(out_images), list(out_masks)

    return call


def _check_shapes(k: int, image: torch.Tensor, mask: torch.Tensor) -> int:
    """Pixels of output sample ``k``, checked to be the same for its image and its mask."""
    if image.dim() != 3 or mask.numel() != image[0].numel():
        raise ValueError(
            f"masks[{k}]: expected a C×h×w image and an h×w mask, got {tuple(image.shape)} and {tuple(mask.shape)}"
        )
    return mask.numel()


def _labels(masks: Sequence[torch.Tensor]) -> torch.Tensor:
    """Every label of the output masks as int64 (float labels rounded), flattened sample after sample."""
    flat = _flat(masks)
    return flat.round().long() if flat.is_floating_point() else flat.long()


def _grey(images: Sequence[torch.Tensor]) -> torch.Tensor:
    """Every pixel of the output images, its channels summed (float64), flattened sample after sample."""
    return torch.cat([image.double().sum(0).reshape(-1) for image in images])


def _flat(samples: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in samples])


def _call(fn: PairFn, images: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``fn(images, masks)``, checked to be an (images, masks) pair of tensors."""
    out = fn(images, masks)
    if not (isinstance(out, (tuple, list)) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out)):
        raise TypeError(f"fn: expected fn(images, masks) to return (images, masks) tensors, got {type(out).__name__}")
    return out[0], out[1]


def _call_list(
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


def format_table(reports: dict[str, AuditReport], extra: dict[str, dict[str, str]] | None = None) -> str:
    """Side-by-side table of named reports; ``extra`` adds columns (column → name → cell).

    Variable-size reports (``foreign_pixels`` not None) add a "from another sample" column.
    """
    extra = dict(extra or {})
    if any(r.foreign_pixels is not None for r in reports.values()):
        foreign = {name: "-" if r.foreign_pixels is None else str(r.foreign_pixels) for name, r in reports.items()}
        extra = {"from another sample": foreign, **extra}
    header = [
        "pipeline",
        "align err px (x, y)",
        "mean offset px",
        "labels invented",
        "mask dtype out",
        "outside not ignore",
        "per-sample",
        *extra,
        "bugs",
        "ok",
    ]
    rows = []
    for name, r in reports.items():
        cells = [
            name,
            f"{r.alignment_px[0]:.2f}, {r.alignment_px[1]:.2f}",
            f"{r.mean_offset_px[0]:+.2f}, {r.mean_offset_px[1]:+.2f}",
            str(r.new_labels),
            r.mask_dtype,
            str(r.outside_not_ignore),
            "yes" if r.per_sample else "no",
            *(column[name] for column in extra.values()),
            ", ".join(r.bugs) or "-",
            "yes" if r.ok else "NO",
        ]
        rows.append(cells)
    table = [header, *rows]
    widths = [max(len(row[k]) for row in table) for k in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --- python -m gpuaug audit ------------------------------------------------------------------


def default_pipelines(size: int, ignore_index: int = 255) -> dict[str, PairFn]:
    """The audited pipelines: the naive one with each classic bug, gpuaug, and installed peers.

    Each runs the chain of :mod:`gpuaug.peers` (random resized crop to ``size``, flip,
    small random affine).
    """
    from gpuaug import peers
    from gpuaug.compose import Compose
    from gpuaug.naive import BUGS, NaivePipeline

    ops = peers.gpuaug_ops(size)
    pipelines: dict[str, PairFn] = {
        f"naive: {label}": NaivePipeline.only(bug, ops, ignore_index) for bug, label in BUGS.items()
    }
    pipelines["gpuaug"] = Compose(ops, ignore_index=ignore_index)
    for name, factory in (("kornia", peers.kornia_pipeline), ("albumentations", peers.albumentations_pipeline)):
        try:
            pipelines[name] = factory(size, ignore_index)
        except ImportError:
            continue  # not installed: no row
    return pipelines


def load_pipeline(spec: str) -> PairFn:
    """The pair transform named by ``spec`` = ``"module:function"`` (the module is imported).

    Raises:
        ValueError: a spec that is not ``module:function``, a module that cannot be imported,
            a missing attribute or one that is not callable; the message says which.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"--pipeline: expected module:function (e.g. my_project.augment:pair), got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"--pipeline: cannot import module {module_name!r}: {exc}") from exc
    fn = module
    for part in attribute.split("."):
        if not hasattr(fn, part):
            raise ValueError(f"--pipeline: module {module_name!r} has no attribute {attribute!r}")
        fn = getattr(fn, part)
    if not callable(fn):
        raise ValueError(f"--pipeline: {spec} is a {type(fn).__name__}, expected fn(images, masks) -> (images, masks)")
    return fn


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m gpuaug audit``; returns 1 when a ``--pipeline`` is not ok."""
    parser = argparse.ArgumentParser(prog="python -m gpuaug audit", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pipeline",
        metavar="MODULE:FUNCTION",
        help="audit your own pair transform fn(images, masks) -> (images, masks) instead of the built-in "
        "pipelines, e.g. my_project.augment:train_pair (imported from the current directory or sys.path)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the reports as JSON")
    parser.add_argument("--size", type=int, default=48, help="output size of the audited chain (default 48)")
    probe_size = parser.add_mutually_exclusive_group()
    probe_size.add_argument("--image-size", type=int, default=64, help="probe image size (default 64)")
    probe_size.add_argument(
        "--sizes",
        type=_parse_sizes,
        metavar="HxW,HxW,...",
        help="audit on a variable-size batch instead: lists of one probe per size, e.g. 23x31,40x17,9x50, passed "
        "as fn(images_list, masks_list); the batch has one sample per size. Of the built-in pipelines only "
        "gpuaug takes lists",
    )
    parser.add_argument("--batch", type=int, help="probe batch size (default 8; with --sizes, the number of sizes)")
    parser.add_argument("--device", default="cpu", help="'cpu' or 'cuda' (peers that cannot run there are skipped)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.sizes is not None:
        if args.batch is not None and args.batch != len(args.sizes):
            parser.error(f"--batch: --sizes gives {len(args.sizes)} samples, got --batch {args.batch}")
        size, batch = args.sizes, None
        probes = f"{len(args.sizes)} samples " + ",".join(f"{h}x{w}" for h, w in args.sizes)
    else:
        size, batch = (args.image_size, args.image_size), 8 if args.batch is None else args.batch
        probes = f"{batch}x{args.image_size}x{args.image_size}"
    if args.pipeline is not None:
        try:
            fn = load_pipeline(args.pipeline)
        except ValueError as exc:
            parser.error(str(exc))
        report = check_pair(fn, size, batch, seed=args.seed, device=device)
        print(f"gpuaug audit of {args.pipeline}: probes {probes} on {device}, ignore_index=255")
        print(report)
        _write_json(args.json, {args.pipeline: report})
        return 0 if report.ok else 1
    if args.sizes is not None:
        from gpuaug import peers
        from gpuaug.compose import Compose

        pipelines: dict[str, PairFn] = {"gpuaug": Compose(peers.gpuaug_ops(args.size))}
    else:
        pipelines = default_pipelines(args.size)
    reports = {}
    for name, fn in pipelines.items():
        if name == "albumentations" and device.type != "cpu":
            continue
        reports[name] = check_pair(fn, size, batch, seed=args.seed, device=device)
    print(f"gpuaug audit: probes {probes} on {device}, ignore_index=255")
    print(format_table(reports))
    _write_json(args.json, reports)
    return 0


def _parse_sizes(text: str) -> list[tuple[int, int]]:
    """``--sizes`` text ``23x31,40x17`` as [(23, 31), (40, 17)]."""
    sizes = []
    for part in text.split(","):
        h, sep, w = part.strip().lower().partition("x")
        if not (sep and h.isdigit() and w.isdigit() and int(h) > 0 and int(w) > 0):
            raise argparse.ArgumentTypeError(
                f"expected positive HxW sizes separated by commas (e.g. 23x31,40x17), got {part.strip()!r} in {text!r}"
            )
        sizes.append((int(h), int(w)))
    return sizes


def _write_json(path: str | None, reports: dict[str, AuditReport]) -> None:
    if path:
        with open(path, "w") as f:
            json.dump({name: r.to_dict() for name, r in reports.items()}, f, indent=2)
        print(f"reports written to {path}")
