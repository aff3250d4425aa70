"""Label histograms of candidate views, for the class-aware crop, without materialising them.

Each of R = B·N rows is one candidate view of one sample: row ``r`` reads source sample
``r // N`` through row ``r`` of an R×9 float32 output→source matrix table, over an h×w
output. A label is gathered exactly as :mod:`gather_nearest` gathers it (the coordinate
contract of :mod:`common`, ``floor``, the padding mode); points outside, and labels equal to
``ignore``, are not counted. Nothing is written per pixel: every program counts its tile
into ``CLASS_BINS`` bins (``tl.histogram``) and adds the non-empty bins to its row.

Labels outside [0, ``CLASS_BINS``) cannot be binned. :func:`class_histogram_kernel` records,
per row, the smallest and largest of them; :func:`class_window_kernel` then counts those
rows exactly by windows of ``CLASS_BINS`` labels: each pass counts the labels in [c, c +
CLASS_BINS) and finds the smallest label above the window, the next pass's c, so a row takes
as many passes as its labels occupy windows, whatever their range. Rows whose labels all fit
the bins return at once. Both are launched for every batch, so which rows take which way is
decided on the device: no host sync.
"""

import torch
import triton
import triton.language as tl

from gpuaug.core.ragged import Ragged

from .common import MAX_REGISTERS, sample_extent, source_coords, source_layout, source_point

#: Bins of the per-program histograms: the labels [0, 256) of every 8-bit mask and of the
#: usual class maps (ADE20K's 150, COCO-Stuff's 171, Cityscapes' 34 ids) fit them.
CLASS_BINS = 256
#: Output tile of one histogram program (rows × columns), and pixels per pass of the window kernel.
BLOCK_H = 16
BLOCK_W = 64
BLOCK = 1024
NUM_WARPS = 4
#: Sentinels of the per-row range of unbinned labels: no label outside the bins.
NO_LOW = torch.iinfo(torch.int64).max
NO_HIGH = torch.iinfo(torch.int64).min


@triton.jit
def _candidate_labels(
    src_ptr, ext_ptr, mat_ptr, r, N, H, W, rows, cols, h, w, ignore, PADDING: tl.constexpr, EXTENTS: tl.constexpr
):
    """Labels (int64) of row ``r`` at output pixels (rows, cols), and where they count."""
    sx, sy, front = source_coords(mat_ptr, r, cols.to(tl.float32) + 0.5, rows.to(tl.float32) + 0.5, True)
    base, plane, row, height, width = sample_extent(ext_ptr, r // N, 1, H, W, EXTENTS)
    sx, sy, inside = source_point(sx, sy, front, height, width, PADDING)
    inside = inside & (rows < h) & (cols < w)
    offset = base + tl.floor(sy).to(tl.int32).to(tl.int64) * row + tl.floor(sx).to(tl.int32)
    labels = tl.load(src_ptr + offset, mask=inside, other=0).to(tl.int64)
    return labels, inside & (labels != ignore)


@triton.jit
def class_histogram_kernel(
    src_ptr,
    ext_ptr,
    mat_ptr,
    counts_ptr,
    low_ptr,
    high_ptr,
    N,
    H,
    W,
    h,
    w,
    ignore,
    PADDING: tl.constexpr,
    EXTENTS: tl.constexpr,
    BINS: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_W: tl.constexpr,
):
    """Add this program's tile to row ``r``'s histogram (R×BINS int32); unbinned labels to its range."""
    r = tl.program_id(0)
    rows = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)[:, None]
    cols = tl.program_id(2) * BLOCK_W + tl.arange(0, BLOCK_W)[None, :]
    labels, counted = _candidate_labels(
        src_ptr, ext_ptr, mat_ptr, r, N, H, W, rows, cols, h, w, ignore, PADDING, EXTENTS
    )
    binned = counted & (labels >= 0) & (labels < BINS)
    hist = tl.histogram(tl.reshape(tl.where(binned, labels, 0).to(tl.int32), [BLOCK_H * BLOCK_W]), BINS)
    bins = tl.arange(0, BINS)
    hist = hist - tl.where(bins == 0, tl.sum(tl.where(binned, 0, 1)), 0)  # the unbinned pixels went to bin 0
    tl.atomic_add(counts_ptr + r.to(tl.int64) * BINS + bins, hist, mask=hist > 0)
    outliers = counted & ~binned
    if tl.sum(outliers.to(tl.int32)) > 0:
        tl.atomic_min(low_ptr + r, tl.min(tl.where(outliers, labels, 9223372036854775807)))
        tl.atomic_max(high_ptr + r, tl.max(tl.where(outliers, labels, -9223372036854775807)))


@triton.jit
def class_window_kernel(
    src_ptr,
    ext_ptr,
    mat_ptr,
    low_ptr,
    high_ptr,
    out_ptr,
    N,
    H,
    W,
    h,
    w,
    ignore,
    PADDING: tl.constexpr,
    EXTENTS: tl.constexpr,
    BINS: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """Row ``r``'s (classes, largest count, total) into R×3 int64, counted by label windows,
    when the row holds labels outside [0, BINS) (nothing otherwise)."""
    r = tl.program_id(0)
    low = tl.load(low_ptr + r)
    high = tl.maximum(tl.load(high_ptr + r), BINS - 1)
    if low <= high:
        cursor = tl.minimum(low, 0)
        classes = tl.zeros([], dtype=tl.int64)
        largest = tl.zeros([], dtype=tl.int64)
        total = tl.zeros([], dtype=tl.int64)
        bins = tl.arange(0, BINS)
        while cursor <= high:
            window = tl.zeros([BINS], dtype=tl.int32)
            after = high + 1
            for start in range(0, h * w, BLOCK):
                pixels = start + tl.arange(0, BLOCK)
                labels, counted = _candidate_labels(
                    src_ptr, ext_ptr, mat_ptr, r, N, H, W, pixels // w, pixels % w, h, w, ignore, PADDING, EXTENTS
                )
                binned = counted & (labels >= cursor) & (labels < cursor + BINS)
                hist = tl.histogram(tl.where(binned, labels - cursor, 0).to(tl.int32), BINS)
                window += hist - tl.where(bins == 0, tl.sum(tl.where(binned, 0, 1)), 0)
                above = counted & (labels >= cursor + BINS)
                after = tl.minimum(after, tl.min(tl.where(above, labels, high + 1)))
            classes += tl.sum((window > 0).to(tl.int64))
            largest = tl.maximum(largest, tl.max(window).to(tl.int64))
            total += tl.sum(window.to(tl.int64))
            cursor = after
        tl.store(out_ptr + r * 3, classes)
        tl.store(out_ptr + r * 3 + 1, largest)
        tl.store(out_ptr + r * 3 + 2, total)


def class_counts(
    masks: torch.Tensor | Ragged, matrix: torch.Tensor, out_size: tuple[int, int], ignore: int, padding: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Count the labels of N candidate views per sample.

    Args:
        masks: B×H×W or B×1×H×W labels of any integer dtype, or a :class:`gpuaug.core.ragged.Ragged`
            batch (one plane per sample).
        matrix: B×N×3×3 float32 output→source matrices on the masks' device (the chain so far
            composed with each candidate), read with the perspective divide (exact for w = 1).
        out_size: (h, w) of every candidate view.
        ignore: the label not counted (also what outside points would read).
        padding: 0 constant (outside points are not counted), 1 replicate, 2 reflect (they
            read the same source pixel as the mask warp).

    Returns:
        ``(classes, largest, total)``: B×N int64 each, the number of distinct labels, the
        count of the most frequent one, and the number of counted pixels.
    """
    h, w = out_size
    src, table, (b, _, height, width) = source_layout(masks)
    n = matrix.shape[1]
    rows = b * n
    mat = matrix.reshape(rows, 9).contiguous()
    device = src.device
    counts = torch.zeros((rows, CLASS_BINS), dtype=torch.int32, device=device)
    low = torch.full((rows,), NO_LOW, dtype=torch.int64, device=device)
    high = torch.full((rows,), NO_HIGH, dtype=torch.int64, device=device)
    windowed = torch.zeros((rows, 3), dtype=torch.int64, device=device)
    if rows and h and w:
        ext = mat if table is None else table
        common = dict(PADDING=padding, EXTENTS=table is not None, BINS=CLASS_BINS, num_warps=NUM_WARPS)
        common |= dict(maxnreg=MAX_REGISTERS, enable_fp_fusion=False)
        grid = (rows, triton.cdiv(h, BLOCK_H), triton.cdiv(w, BLOCK_W))
        args = (n, height, width, h, w, ignore)
        class_histogram_kernel[grid](
            src, ext, mat, counts, low, high, *args, BLOCK_H=BLOCK_H, BLOCK_W=BLOCK_W, **common
        )
        class_window_kernel[(rows,)](src, ext, mat, low, high, windowed, *args, BLOCK=BLOCK, **common)
    binned = torch.stack(((counts > 0).sum(1), counts.amax(1), counts.sum(1)), dim=1).to(torch.int64)
    result = torch.where((low <= high).unsqueeze(1), windowed, binned).view(b, n, 3)
    return result[..., 0], result[..., 1], result[..., 2]
