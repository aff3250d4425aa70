"""Nearest-neighbour label gather for masks.

Layout: source ``src`` is a contiguous B×H×W (or B×1×H×W) tensor of any integer dtype;
output ``out`` is contiguous B×h×w of the same dtype. ``mat`` is B×3×3 float32, output→source.

Each program handles one BLOCK_H×BLOCK_W output tile of one sample: it computes the source
coordinate of every pixel centre in registers (no grid tensor), takes ``floor`` and gathers
that label. A source outside [0, W)×[0, H), non-finite, or behind the camera (w <= 0) writes
``fill`` (the ignore index). Labels are moved, never converted: int64 stays exact.
"""

import torch
import triton
import triton.language as tl

from .common import launch, source_point, tile_sources

NUM_WARPS = 8


@triton.jit
def gather_nearest_kernel(
    src_ptr,
    out_ptr,
    mat_ptr,
    fill,
    H,
    W,
    h,
    w,
    PERSPECTIVE: tl.constexpr,
    PADDING: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_W: tl.constexpr,
):
    b, rows, cols, sx, sy, front = tile_sources(mat_ptr, PERSPECTIVE, BLOCK_H, BLOCK_W)
    sx, sy, inside = source_point(sx, sy, front, H, W, PADDING)
    ix = tl.floor(sx).to(tl.int32)
    iy = tl.floor(sy).to(tl.int32)
    src = src_ptr + b.to(tl.int64) * H * W
    labels = tl.load(src + iy.to(tl.int64) * W + ix, mask=inside, other=fill)
    in_tile = (rows < h) & (cols < w)
    out = out_ptr + b.to(tl.int64) * h * w
    tl.store(out + rows.to(tl.int64) * w + cols, labels, mask=in_tile)


def gather_nearest(
    masks: torch.Tensor,
    matrix: torch.Tensor,
    out_size: tuple[int, int],
    fill: int,
    perspective: bool,
    padding: int,
) -> torch.Tensor:
    """Launch :func:`gather_nearest_kernel`.

    Args:
        masks: B×H×W or B×1×H×W integer labels (validated by the caller).
        matrix: B×3×3 float32 output→source matrix on the masks' device.
        out_size: (h, w) of the output.
        fill: label written where the source is outside the image.
        perspective: divide by the homogeneous coordinate (False only for affine matrices).
        padding: where points outside the image read: 0 nowhere (``fill``), 1 the nearest
            edge pixel (replicate), 2 the point reflected about the border (reflect).

    Returns:
        Contiguous labels B×h×w (or B×1×h×w), same dtype as ``masks``.
    """
    src = masks.contiguous()
    mat = matrix.contiguous()
    b, height, width = src.shape[0], src.shape[-2], src.shape[-1]
    h, w = out_size
    out = torch.empty(src.shape[:-2] + (h, w), dtype=src.dtype, device=src.device)
    if b == 0:
        return out
    launch(
        gather_nearest_kernel,
        b,
        out_size,
        src,
        out,
        mat,
        fill,
        height,
        width,
        h,
        w,
        num_warps=NUM_WARPS,
        PERSPECTIVE=perspective,
        PADDING=padding,
    )
    return out
