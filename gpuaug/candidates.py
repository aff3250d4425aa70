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
  the recipes' chains): per view, a row and a column index per output line, so the labels
  are one gather by a broadcast index and one ``bincount`` (:func:`separable_labels`);
- otherwise the views' labels through :func:`gpuaug.functional.warp_all`, then counted.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from gpuaug import backends
from gpuaug._checks import PADDING_MODES
from gpuaug.functional import to_device, warp_all
from gpuaug.ragged import Ragged

#: Most bins :func:`row_counts` allocates for one ``bincount`` (rows × label range).
MAX_BINS = 1 << 24

Counts = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class CandidateCounts:
    """``Draw.class_counts`` of one batch: ``counts(matrices, out_size)`` → (classes, largest, total).

    Args:
        masks: the batch's labels as a :class:`gpuaug.ragged.Ragged` batch (one plane).
        prefix: B×3×3 float64 output→source matrices of the chain so far, on the draws' device.
        ignore_index: the label that is not counted.
        padding: the masks' padding mode (:data:`gpuaug._checks.PADDING_MODES`).
        backend: the Compose's backend.

    Calling it with B×N×3×3 float64 candidate matrices (candidate output → the chain's
    canvas) and the candidates' (h, w) returns three B×N int64 tensors on the draws' device.
    With ``samples`` (host positions in the batch, S of them) the matrices are S×N×3×3, those
    samples' candidates, and the counts S×N. ``at_once`` says whether checking all N
    candidates in one call is the cheap way (on CUDA: one launch, no host sync), or one
    candidate at a time for the samples that have not passed yet (on the CPU, Triton's
    interpreter included).
    """

    def __init__(self, masks: Ragged, prefix: torch.Tensor, ignore_index: int, padding: str, backend: str):
        self.masks = masks
        self.prefix = prefix
        self.ignore_index = ignore_index
        self.padding = padding
        self.backend = backends.resolve(backend, masks.device)

    @property
    def at_once(self) -> bool:
        return self.masks.device.type == "cuda"

    def __call__(
        self, matrices: torch.Tensor, out_size: tuple[int, int], samples: Sequence[int] | None = None
    ) -> Counts:
        b, n = matrices.shape[:2]
        masks, prefix = self.masks, self.prefix
        if samples is not None:
            masks = masks.select(samples)
            prefix = prefix.index_select(0, torch.as_tensor(samples, dtype=torch.int64, device=prefix.device))
        chained = torch.matmul(prefix.unsqueeze(1), matrices)  # float64, cast once
        chained = to_device(chained.to(torch.float32), masks.device)
        if self.backend == "triton":
            from gpuaug.kernels.class_counts import class_counts

            padding = PADDING_MODES.index(self.padding)
            counts = class_counts(masks, chained, out_size, self.ignore_index, padding)
        else:
            counts = row_counts(self._labels(masks, chained, out_size).reshape(b * n, -1), self.ignore_index)
            counts = tuple(c.view(b, n) for c in counts)
        return tuple(to_device(c, matrices.device) for c in counts)

    def _labels(self, masks: Ragged, chained: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
        """The labels of every view of ``masks``, B·N×h×w, ``ignore_index`` where nothing is counted."""
        n = chained.shape[1]
        flat = chained.reshape(-1, 3, 3)
        if chained.device.type == "cpu" and self.padding == "constant" and keeps_axes(flat):
            return separable_labels(masks, flat, n, out_size, self.ignore_index)
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
        return warped


def keeps_axes(matrix: torch.Tensor) -> bool:
    """Whether every R×3×3 matrix maps rows to rows and columns to columns (no rotation,
    shear or perspective): then a source column depends on the output column only."""
    return bool((matrix[:, 0, 1] == 0).all() and (matrix[:, 1, 0] == 0).all() and (matrix[:, 2, :2] == 0).all())


def separable_labels(
    masks: Ragged, matrix: torch.Tensor, n: int, out_size: tuple[int, int], ignore_index: int
) -> torch.Tensor:
    """Labels (R×h×w, R = B·n) of views whose float32 matrices keep the axes, view r reading
    sample r // n, outside points ``ignore_index``.

    With m01 = m10 = 0 and the last row (0, 0, 1), the contract's ``(m00·x + m01·y) + m02``
    is exactly ``m00·x + m02`` (and the divide by w = 1 exact), so each output column has one
    source column and each output row one source row, computed once per line, and the labels
    are one gather: bit-identical to the mask warp's.
    """
    h, w = out_size
    x = torch.arange(w, dtype=torch.float32).add_(0.5)
    y = torch.arange(h, dtype=torch.float32).add_(0.5)
    sx = (matrix[:, 0, 0:1] * x).add_(matrix[:, 0, 2:3])  # R×w
    sy = (matrix[:, 1, 1:2] * y).add_(matrix[:, 1, 2:3])  # R×h
    table = masks.table.repeat_interleave(n, dim=0)
    start, row, height, width = table[:, 0:1], table[:, 2:3], table[:, 3:4], table[:, 4:5]
    in_x = (sx >= 0) & (sx < width)
    in_y = (sy >= 0) & (sy < height)
    dtype = torch.int32 if masks.data.numel() < 2**31 else torch.int64  # half the index traffic
    cols = torch.where(in_x, sx.floor(), 0).to(dtype)
    rows = torch.where(in_y, sy.floor(), 0).to(torch.int64).mul_(row).add_(start).to(dtype)
    index = rows.unsqueeze(2) + cols.unsqueeze(1)  # R×h×w
    labels = masks.data.reshape(-1).index_select(0, index.view(-1)).view(index.shape)
    return labels.masked_fill_(~(in_y.unsqueeze(2) & in_x.unsqueeze(1)), ignore_index)


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
