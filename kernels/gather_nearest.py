"""Nearest-neighbour gather for masks and label maps of K planes.

Layout: source ``src`` is a contiguous B×K×H×W tensor (B×H×W and B×1×H×W are K = 1) of any
dtype (integer labels, or a float map gathered by nearest); output ``out`` is contiguous
B×K×h×w of the same dtype. ``mat`` is B×3×3 float32, output→source; ``fill`` holds K values
of the source dtype, one per plane.

Each program handles one BLOCK_H×BLOCK_W output tile of one sample: it computes the source
coordinate of every pixel centre in registers (no grid tensor), takes ``floor`` once and
gathers that pixel from every plane. A source outside [0, W)×[0, H), non-finite, or behind
the camera (w <= 0) writes the plane's ``fill`` (the ignore index). Values are moved, never
converted: int64 stays exact.
"""

import torch
import triton
import triton.language as tl

from gpuaug.core.ragged import Ragged
from gpuaug.core.views import Views

from .common import launch, sample_extent, source_layout, source_point, tile_sources

NUM_WARPS = 8


@triton.jit
def gather_nearest_kernel(
    src_ptr,
    out_ptr,
    fill_ptr,
    ext_ptr,
    K,
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
    base, plane, row, height, width = sample_extent(ext_ptr, source, K, H, W, EXTENTS)
    sx, sy, inside = source_point(sx, sy, front, height, width, PADDING)
    ix = tl.floor(sx).to(tl.int32)
    iy = tl.floor(sy).to(tl.int32)
    src_off = base + iy.to(tl.int64) * row + ix
    in_tile = (rows < h) & (cols < w)
    out_off = rows.to(tl.int64) * w + cols
    for k in range(K):
        fill = tl.load(fill_ptr + k)
        labels = tl.load(src_ptr + k * plane + src_off, mask=inside, other=fill)
        tl.store(out_ptr + (b.to(tl.int64) * K + k) * h * w + out_off, labels, mask=in_tile)


def gather_nearest(
    masks: torch.Tensor | Ragged,
    matrix: torch.Tensor,
    out_size: tuple[int, int],
    fill: torch.Tensor,
    perspective: bool,
    padding: int,
    views: Views | None = None,
) -> torch.Tensor:
    """Launch :func:`gather_nearest_kernel`.

    Args:
        masks: B×H×W, B×1×H×W or B×K×H×W labels (validated by the caller), any dtype; or a
            :class:`gpuaug.core.ragged.Ragged` batch of samples of different sizes.
        matrix: B×3×3 float32 output→source matrix on the masks' device.
        out_size: (h, w) of the output.
        fill: K values of the masks' dtype on their device (or one for every plane),
            written where the source is outside the image.
        perspective: divide by the homogeneous coordinate (False only for affine matrices).
        padding: where points outside the image read: 0 nowhere (``fill``), 1 the nearest
            edge pixel (replicate), 2 the point reflected about the border (reflect).
        views: the per-pixel source (:class:`gpuaug.core.views.Views`), or None (sample b at ``M_b·p``).

    Returns:
        Contiguous labels of the masks' layout (B×h×w, B×1×h×w or B×K×h×w; B×K×h×w for a
        Ragged batch) and dtype.
    """
    h, w = out_size
    src, table, (b, planes, height, width) = source_layout(masks)
    shape = (b, planes, h, w) if table is not None else src.shape[:-2] + (h, w)
    fill = fill.to(src.dtype).expand(planes).contiguous()
    out = torch.empty(shape, dtype=src.dtype, device=src.device)
    if b == 0:
        return out
    launch(
        gather_nearest_kernel,
        b,
        out_size,
        src,
        out,
        fill,
        matrix if table is None else table,
        planes,
        height,
        width,
        h,
        w,
        matrix=matrix,
        views=views,
        num_warps=NUM_WARPS,
        PERSPECTIVE=perspective,
        PADDING=padding,
        EXTENTS=table is not None,
    )
    return out
