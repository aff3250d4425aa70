"""Label counts of candidate views, for ops that choose by content (the class-aware crop).

A candidate view is the chain so far composed with a candidate's own matrix, read as the
mask warp reads labels (the coordinate contract of docs/design.md, ``floor``, the masks'
padding). What the class check needs of each view is three numbers: how many distinct
labels it shows, the count of the most frequent one and how many pixels it counts, with
``ignore_index`` (and every outside point) left out. :class:`CandidateCounts` computes them
the cheapest way each backend allows, never by warping and sorting every candidate:

- Triton (CUDA, or the interpreter): :func:`gpuaug.kernels.class_counts.class_counts`
  gathers each view's labels through its matrix and bins them in registers, all candidates
  of all samples in one launch, no host sync;
- the torch path on the CPU, for chains that keep the axes (flips, crops, resizes, scales:
  the recipes' chains): per view, a source row and column per output line, so each source
  row and column is gathered once and its labels counted by their multiplicities
  (:func:`separable_counts`);
- otherwise the views' labels through :func:`gpuaug.functional.warp_all`, then counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate

import torch
from torch.nn.functional import pad
from torch.nn.utils.rnn import pad_sequence

from gpuaug.backends import Backend
from gpuaug.core.checks import PADDING_MODES
from gpuaug.core.device import to_device
from gpuaug.core.ragged import Ragged
from gpuaug.functional import warp_all
from gpuaug.torch_axes import all_axis_aligned, axis_points

#: Most bins :func:`row_counts` allocates for one ``bincount`` (rows × label range).
MAX_BINS = 1 << 24

Counts = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class CandidateCounts:
    """``Draw.class_counts`` of one batch: ``counts(matrices, out_size)`` → (classes, largest, total).

    Args:
        masks: the batch's labels as a :class:`gpuaug.core.ragged.Ragged` batch (one plane).
        prefix: B×3×3 float64 output→source matrices of the chain so far, on the draws' device.
        ignore_index: the label that is not counted.
        padding: the masks' padding mode (:data:`gpuaug.core.checks.PADDING_MODES`).
        backend: the Compose's backend, resolved for the masks' device (:func:`gpuaug.backends.resolve`).

    Calling it with B×N×3×3 float64 candidate matrices (candidate output → the chain's
    canvas) and the candidates' (h, w) returns three B×N int64 tensors on the draws' device.
    With ``samples`` (host positions in the batch, S of them) the matrices are S×N×3×3, those
    samples' candidates, and the counts S×N. ``at_once`` says whether checking all N
    candidates in one call is the cheap way (on CUDA: one launch, no host sync), or one
    candidate at a time for the samples that have not passed yet (on the CPU, Triton's
    interpreter included).
    """

    def __init__(self, masks: Ragged, prefix: torch.Tensor, ignore_index: int, padding: str, backend: Backend):
        self.masks = masks
        self.prefix = prefix
        self.ignore_index = ignore_index
        self.padding = padding
        self.backend = backend

    @property
    def at_once(self) -> bool:
        return self.masks.device.type == "cuda"

    def __call__(
        self, matrices: torch.Tensor, out_size: tuple[int, int], samples: Sequence[int] | None = None
    ) -> Counts:
        b, n = matrices.shape[:2]
        masks, prefix = self.masks, self.prefix
        if samples is not None and list(samples) != list(range(masks.batch)):  # a first round reads them all
            masks = masks.select(samples)
            prefix = prefix.index_select(0, torch.as_tensor(samples, dtype=torch.int64, device=prefix.device))
        chained = torch.matmul(prefix.unsqueeze(1), matrices)  # float64, cast once
        chained = to_device(chained.to(torch.float32), masks.device)
        if self.backend.kernels:
            from gpuaug.kernels.class_counts import class_counts

            padding = PADDING_MODES.index(self.padding)
            counts = class_counts(masks, chained, out_size, self.ignore_index, padding)
        else:
            counts = tuple(c.view(b, n) for c in self._counts(masks, chained, out_size))
        return tuple(to_device(c, matrices.device) for c in counts)

    def _counts(self, masks: Ragged, chained: torch.Tensor, out_size: tuple[int, int]) -> Counts:
        """:func:`row_counts` of every view of ``masks`` (B·N of them)."""
        n = chained.shape[1]
        flat = chained.reshape(-1, 3, 3)
        if chained.device.type == "cpu" and self.padding == "constant" and keeps_axes(flat):
            return separable_counts(masks, flat, n, out_size, self.ignore_index)
        warped = warp_all(
            None,
            masks.repeat(n),
            (),
            flat,
            out_size,
            (0.0,),
            self.ignore_index,
            self.backend,
            True,
            mask_padding=self.padding,
        )[1]
        return row_counts(warped.reshape(flat.shape[0], -1), self.ignore_index)


def keeps_axes(matrix: torch.Tensor) -> bool:
    """Whether every R×3×3 CPU matrix maps rows to rows and columns to columns (no rotation,
    shear or perspective row; :func:`gpuaug.torch_axes.axis_aligned`): then a source column
    depends on the output column only."""
    return all_axis_aligned(matrix, perspective=bool((matrix[:, 2, :2] != 0).any()))


def separable_counts(
    masks: Ragged, matrix: torch.Tensor, n: int, out_size: tuple[int, int], ignore_index: int
) -> Counts:
    """:func:`row_counts` of the views (R = B·n) whose float32 matrices keep the axes, view r
    reading sample r // n, outside points not counted.

    With m01 = m10 = 0 and the last row (0, 0, 1), the contract's ``(m00·x + m01·y) + m02``
    is exactly ``m00·x + m02`` (and the divide by w = 1 exact), so each output column has one
    source column and each output row one source row: every view's source rows and columns
    are found at once (:func:`source_lines`), and each view reads each of them once, the
    window they span narrowed to the rows it reads (selected) and then to its columns
    (gathered along them by one row of indices broadcast), with no copy along an axis whose
    every line in the window is read. The counts are the mask warp's exactly
    (:func:`weighted_counts`), with no per-pixel index and nothing outside to mask.
    """
    views = list(range(matrix.shape[0]))
    (ys, rows_out), (xs, cols_out) = axis_points(
        matrix, out_size, [masks.sizes[r // n] for r in views], "constant", views
    )
    times = torch.int32 if out_size[0] * out_size[1] < 2**31 else torch.int64  # a count is at most h·w
    points, outside = _both_axes((xs, cols_out), (ys, rows_out))
    lines = source_lines(points, outside, torch.cat((matrix[:, 0, 0] < 0, matrix[:, 1, 1] < 0)), times)
    counts = []
    for r, (col_lines, row_lines) in enumerate(zip(lines[: len(views)], lines[len(views) :], strict=True)):
        if col_lines is None or row_lines is None:
            counts.append(torch.zeros(1, dtype=torch.int64))
            continue
        (col_span, col_picks, col_times), (row_span, row_picks, row_times) = col_lines, row_lines
        labels = masks.samples[r // n][0, row_span, col_span]
        if row_picks is not None:
            labels = labels.index_select(0, row_picks)
        if col_picks is not None:
            labels = torch.gather(labels, 1, col_picks.expand(labels.shape[0], -1))
        counts.append(weighted_counts(labels, row_times, col_times, ignore_index))
    if not counts:
        return tuple(torch.zeros(0, dtype=torch.int64) for _ in range(3))
    counts = pad_sequence(counts, batch_first=True)  # R×(most bins), zero past a view's own
    return (counts > 0).sum(dim=1), counts.amax(dim=1), counts.sum(dim=1)


Lines = tuple[slice, torch.Tensor | None, torch.Tensor]


def _both_axes(*axes: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """R×n points and outside masks of several axes (:func:`gpuaug.torch_axes.axis_points`'
    pairs) as one batch of lines, one after the other (a shorter axis's lines padded with
    outside points, which no line reads), so :func:`source_lines` finds them all at once."""
    n = max(points.shape[1] for points, _ in axes)
    points = torch.cat([pad(points, (0, n - points.shape[1]), value=0.5) for points, _ in axes])
    outside = torch.cat([pad(outside, (0, n - outside.shape[1]), value=True) for _, outside in axes])
    return points, outside


def source_lines(
    points: torch.Tensor, outside: torch.Tensor, descending: torch.Tensor, dtype: torch.dtype = torch.int64
) -> list[Lines | None]:
    """Per view (R of them), the source lines (rows or columns, ascending) that its n output
    lines read along one axis, from :func:`gpuaug.torch_axes.axis_points`' R×n points and
    outside masks for that axis ("constant" padding; ``descending``: R bool, the views whose
    scale along it is negative): the span from the first line to the last, the offsets in it
    of those read (None where every line of the span is), and how many output lines read each
    (``dtype``); None where no output line lands inside.

    A line reads the floor of its point, which is monotonic along the view's lines: equal
    floors are adjacent, and the inside points are one run. All views are found by one run
    search, a view's lines keyed apart from the next view's."""
    floors, inside = points.floor().to(torch.int64), outside.logical_not()
    flip = descending.view(-1, 1)
    floors, inside = torch.where(flip, floors.flip(1), floors), torch.where(flip, inside.flip(1), inside)
    stride = int(floors.max()) + 1 if floors.numel() else 1  # every floor is in [0, extent): clamped points
    keys = floors.add_(torch.arange(floors.shape[0]).view(-1, 1) * stride)[inside]
    keys, times = torch.unique_consecutive(keys, return_counts=True)
    times = times.to(dtype)
    views, lines = keys.div(stride, rounding_mode="floor"), keys.remainder(stride)
    found = torch.bincount(views, minlength=floors.shape[0]).tolist()
    ends = list(accumulate(found))
    firsts = lines[[end - count for end, count in zip(ends, found, strict=True) if count]].tolist()
    lasts = lines[[end - 1 for end, count in zip(ends, found, strict=True) if count]].tolist()
    spans = zip(firsts, lasts, strict=True)
    out: list[Lines | None] = []
    for count, view_lines, view_times in zip(found, lines.split(found), times.split(found), strict=True):
        if not count:
            out.append(None)
            continue
        first, last = next(spans)
        picks = None if count == last - first + 1 else view_lines - first
        out.append((slice(first, last + 1), picks, view_times))
    return out


def weighted_counts(
    labels: torch.Tensor, row_times: torch.Tensor, col_times: torch.Tensor, ignore_index: int
) -> torch.Tensor:
    """The int64 count of each label (one bin per label, in no set order; ``ignore_index``'s
    is 0) of R×C labels (any strides), label (r, c) counted ``row_times[r] · col_times[c]``
    times (the times' integer dtype holds a bin's count times its row's: int32 where the
    view's pixel count fits). Each row's labels go into one bin per label of the range the
    labels span, weighted by their columns' times (one ``scatter_add_`` of the broadcast
    column times, no R×C weight tensor), and the rows' bins are summed weighted by the rows'
    times, in int64; where R bins of that range exceed :data:`MAX_BINS`, per distinct label
    instead."""
    low, high = (int(v) for v in labels.aminmax())
    span, r = high - low + 1, labels.shape[0]
    if r * span <= MAX_BINS:
        bins = labels.long() - low if low else labels.long()  # int64 labels from 0: no copy
        per_row = torch.zeros(r, span, dtype=col_times.dtype).scatter_add_(1, bins, col_times.expand(r, -1))
        counts = per_row.mul_(row_times.view(-1, 1)).sum(dim=0, dtype=torch.int64)
        if low <= ignore_index <= high:
            counts[ignore_index - low] = 0
    else:
        distinct, bins = torch.unique(labels, return_inverse=True)
        times = (row_times.view(-1, 1).long() * col_times).view(-1)
        counts = torch.zeros(distinct.numel(), dtype=torch.int64).scatter_add_(0, bins.reshape(-1), times)
        counts[distinct == ignore_index] = 0
    return counts


def row_counts(rows: torch.Tensor, ignore_index: int) -> Counts:
    """(classes, largest count, total) of each row of R×P labels, ``ignore_index`` removed:
    on the CPU by one ``bincount`` when the labels span a small range (it reads the range),
    else (and on CUDA: fixed shapes, no host sync) by sorting."""
    counts = None
    if rows.device.type == "cpu" and rows.numel():
        counts = counts_by_bincount(rows, ignore_index)
    return counts if counts is not None else counts_by_sort(rows, ignore_index)


def counts_by_sort(rows: torch.Tensor, ignore_index: int) -> Counts:
    """As :func:`row_counts`: each row sorted, each class's count the length of its run."""
    ordered = rows.sort(dim=-1).values
    valid = ordered != ignore_index
    starts = torch.ones_like(valid)
    starts[..., 1:] = ordered[..., 1:] != ordered[..., :-1]
    classes = (starts & valid).sum(dim=-1)
    position = torch.arange(ordered.shape[-1], device=rows.device).expand_as(ordered)
    run_start = torch.where(starts, position, 0).cummax(dim=-1).values
    largest = torch.where(valid, position - run_start + 1, 0).amax(dim=-1)
    return classes, largest, valid.sum(dim=-1)


def counts_by_bincount(rows: torch.Tensor, ignore_index: int) -> Counts | None:
    """As :func:`row_counts`, by one ``bincount`` over (row, label − min) bins; None when the
    labels span too wide a range for :data:`MAX_BINS`."""
    low, high = (int(v) for v in rows.aminmax())
    span = high - low + 1
    if rows.shape[0] * span > MAX_BINS:
        return None
    bins = rows + (torch.arange(rows.shape[0]) * span - low).view(-1, 1)  # row r's labels in bins r·span..
    counts = torch.bincount(bins.view(-1), minlength=rows.shape[0] * span).view(-1, span)
    if low <= ignore_index <= high:
        counts[:, ignore_index - low] = 0
    return (counts > 0).sum(dim=-1), counts.amax(dim=-1), counts.sum(dim=-1)
