"""Bilinear warp for images.

Layout: source ``src`` is a contiguous B×C×H×W tensor, uint8 (read as value/255) or float
(16/32/64); output ``out`` is contiguous B×C×h×w float32, or a float dtype of the caller's
choice (dense maps keep theirs); values are computed in float32 and cast at the store. ``mat`` is B×3×3 float32,
output→source; ``fill`` is a C-vector of float32 in the output scale.

Each program handles one BLOCK_H×BLOCK_W output tile of one sample: source coordinates are
computed once in registers and reused for every channel. A point inside the image (the
masks' rule: [0, W)×[0, H), finite, w > 0) is sampled at ``s − 0.5`` in index space
(``align_corners=False``) with its taps clamped to the image, like ``F.interpolate``; a
point outside reads ``fill``. So image content ends exactly where mask labels do.
"""

import torch
import triton
import triton.language as tl

from gpuaug.core.ragged import Ragged
from gpuaug.core.views import Views

from .common import (
    bilinear_sample,
    bilinear_taps,
    launch,
    sample_extent,
    source_layout,
    source_point,
    tile_sources,
)

# Two pixels per thread: with four, ptxas used up to 128 registers and spilled on sm_80.
NUM_WARPS = 16


@triton.jit
def warp_bilinear_kernel(
    src_ptr,
    out_ptr,
    fill_ptr,
    ext_ptr,
    C,
    H,
    W,
    h,
    w,
    mat_ptr,
    sel_ptr,
    view_ptr,
    pre_ptr,
    field_ptr,
    L,
    GH,
    GW,
    inv_cell,
    SCALE: tl.constexpr,
    PERSPECTIVE: tl.constexpr,
    VIEWS: tl.constexpr,
    DISPLACE: tl.constexpr,
    PADDING: tl.constexpr,
    EXTENTS: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_W: tl.constexpr,
):
    b, source, rows, cols, sx, sy, front = tile_sources(
        mat_ptr,
        sel_ptr,
        view_ptr,
        pre_ptr,
        field_ptr,
        L,
        GH,
        GW,
        inv_cell,
        h,
        w,
        PERSPECTIVE,
        VIEWS,
        DISPLACE,
        BLOCK_H,
        BLOCK_W,
    )
    base, plane, row, height, width = sample_extent(ext_ptr, source, C, H, W, EXTENTS)
    sx, sy, inside = source_point(sx, sy, front, height, width, PADDING)
    row0, row1, col0, col1, wx, wy = bilinear_taps(sx, sy, height, width, row)
    in_tile = (rows < h) & (cols < w)
    out_off = rows.to(tl.int64) * w + cols
    for c in range(C):
        f = tl.load(fill_ptr + c)
        value = bilinear_sample(src_ptr + base + c * plane, row0, row1, col0, col1, wx, wy, inside, f, SCALE)
        tl.store(out_ptr + (b.to(tl.int64) * C + c) * h * w + out_off, value, mask=in_tile)


def warp_bilinear(
    images: torch.Tensor | Ragged,
    matrix: torch.Tensor,
    out_size: tuple[int, int],
    fill: torch.Tensor,
    perspective: bool,
    padding: int,
    out_dtype: torch.dtype = torch.float32,
    views: Views | None = None,
) -> torch.Tensor:
    """Launch :func:`warp_bilinear_kernel`.

    Args:
        images: B×C×H×W, uint8 or float (validated by the caller); any memory format; or a
            :class:`gpuaug.core.ragged.Ragged` batch of samples of different sizes.
        matrix: B×3×3 float32 output→source matrix on the images' device.
        out_size: (h, w) of the output.
        fill: C float32 values (output scale) read by taps outside the source.
        perspective: divide by the homogeneous coordinate (False only for affine matrices).
        padding: where points outside the image read: 0 nowhere (``fill``), 1 the nearest
            edge pixel (replicate), 2 the point reflected about the border (reflect).
        out_dtype: floating dtype of the output (float32 for images; a dense map's own).
        views: the per-pixel source (:class:`gpuaug.core.views.Views`), or None (sample b at ``M_b·p``).

    Returns:
        Contiguous images B×C×h×w of ``out_dtype``.
    """
    src, table, (b, c, height, width) = source_layout(images)
    h, w = out_size
    out = torch.empty((b, c, h, w), dtype=out_dtype, device=src.device)
    if b == 0:
        return out
    scale = 1.0 / 255.0 if src.dtype == torch.uint8 else 1.0
    launch(
        warp_bilinear_kernel,
        b,
        out_size,
        src,
        out,
        fill.contiguous(),
        matrix if table is None else table,
        c,
        height,
        width,
        h,
        w,
        matrix=matrix,
        views=views,
        num_warps=NUM_WARPS,
        SCALE=scale,
        PERSPECTIVE=perspective,
        PADDING=padding,
        EXTENTS=table is not None,
    )
    return out
