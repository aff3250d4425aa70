"""Bilinear warp for images.

Layout: source ``src`` is a contiguous B×C×H×W tensor, uint8 (read as value/255) or float
(16/32/64); output ``out`` is contiguous B×C×h×w float32. ``mat`` is B×3×3 float32,
output→source; ``fill`` is a C-vector of float32 in the output scale.

Each program handles one BLOCK_H×BLOCK_W output tile of one sample: source coordinates are
computed once in registers and reused for every channel. The image is sampled at
``s − 0.5`` in index space (``align_corners=False``); each of the four taps that falls
outside the source reads ``fill``, so pixels within half a pixel of the border blend
towards it, exactly like ``grid_sample`` with zeros padding when fill = 0.
"""

import torch
import triton
import triton.language as tl

from .common import pixel_centres, source_coords

BLOCK_H = 16
BLOCK_W = 64


@triton.jit
def warp_bilinear_kernel(
    src_ptr,
    out_ptr,
    mat_ptr,
    fill_ptr,
    C,
    H,
    W,
    h,
    w,
    SCALE: tl.constexpr,
    PERSPECTIVE: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_W: tl.constexpr,
):
    b = tl.program_id(0)
    rows, cols, x, y = pixel_centres(tl.program_id(1), tl.program_id(2), BLOCK_H, BLOCK_W)
    sx, sy, front = source_coords(mat_ptr, b, x, y, PERSPECTIVE)
    # Beyond two pixels outside, every tap is outside: park such (and non-finite) points there.
    near = front & (sx > -2.0) & (sx < W + 2.0) & (sy > -2.0) & (sy < H + 2.0)
    ix = tl.where(near, sx - 0.5, -3.0)
    iy = tl.where(near, sy - 0.5, -3.0)
    x0f = tl.floor(ix)
    y0f = tl.floor(iy)
    wx = ix - x0f
    wy = iy - y0f
    x0 = x0f.to(tl.int32)
    y0 = y0f.to(tl.int32)
    x1 = x0 + 1
    y1 = y0 + 1
    vx0 = (x0 >= 0) & (x0 < W)
    vx1 = (x1 >= 0) & (x1 < W)
    vy0 = (y0 >= 0) & (y0 < H)
    vy1 = (y1 >= 0) & (y1 < H)
    m00 = vy0 & vx0
    m01 = vy0 & vx1
    m10 = vy1 & vx0
    m11 = vy1 & vx1
    o00 = y0 * W + x0
    o01 = o00 + 1
    o10 = o00 + W
    o11 = o10 + 1
    in_tile = (rows < h) & (cols < w)
    out_off = rows.to(tl.int64) * w + cols
    for c in range(C):
        plane = b.to(tl.int64) * C + c
        src = src_ptr + plane * H * W
        f = tl.load(fill_ptr + c)
        v00 = tl.where(m00, tl.load(src + o00, mask=m00, other=0).to(tl.float32) * SCALE, f)
        v01 = tl.where(m01, tl.load(src + o01, mask=m01, other=0).to(tl.float32) * SCALE, f)
        v10 = tl.where(m10, tl.load(src + o10, mask=m10, other=0).to(tl.float32) * SCALE, f)
        v11 = tl.where(m11, tl.load(src + o11, mask=m11, other=0).to(tl.float32) * SCALE, f)
        top = v00 * (1.0 - wx) + v01 * wx
        bottom = v10 * (1.0 - wx) + v11 * wx
        value = top * (1.0 - wy) + bottom * wy
        tl.store(out_ptr + plane * h * w + out_off, value, mask=in_tile)


def warp_bilinear(
    images: torch.Tensor, matrix: torch.Tensor, out_size: tuple[int, int], fill: torch.Tensor, perspective: bool
) -> torch.Tensor:
    """Launch :func:`warp_bilinear_kernel`.

    Args:
        images: B×C×H×W, uint8 or float (validated by the caller); any memory format.
        matrix: B×3×3 float32 output→source matrix on the images' device.
        out_size: (h, w) of the output.
        fill: C float32 values (output scale) read by taps outside the source.
        perspective: divide by the homogeneous coordinate (False only for affine matrices).

    Returns:
        Contiguous float32 images B×C×h×w.
    """
    src = images.contiguous()
    mat = matrix.contiguous()
    b, c, height, width = src.shape
    h, w = out_size
    out = torch.empty((b, c, h, w), dtype=torch.float32, device=src.device)
    if b == 0:
        return out
    scale = 1.0 / 255.0 if src.dtype == torch.uint8 else 1.0
    grid = (b, triton.cdiv(h, BLOCK_H), triton.cdiv(w, BLOCK_W))
    warp_bilinear_kernel[grid](
        src,
        out,
        mat,
        fill.contiguous(),
        c,
        height,
        width,
        h,
        w,
        SCALE=scale,
        PERSPECTIVE=perspective,
        BLOCK_H=BLOCK_H,
        BLOCK_W=BLOCK_W,
        enable_fp_fusion=False,
    )
    return out
