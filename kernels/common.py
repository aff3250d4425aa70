"""Shared ``@triton.jit`` helpers for the gpuaug kernels.

Coordinate convention (DESIGN.md): output pixel (i, j) has centre (j + 0.5, i + 0.5); the
per-sample float32 matrix ``M`` (row-major, 9 values per sample) maps it to the source point
``s = M·(x, y, 1)``. The operation order below is the contract that keeps the Triton kernels,
the torch path and the reference bit-identical: ``(m00·x + m01·y) + m02`` (likewise y and w),
then a correctly rounded divide by ``w`` when the matrix has a perspective row. Kernels that
call this helper are launched with ``enable_fp_fusion=False`` so no FMA merges the steps.
"""

import triton
import triton.language as tl


@triton.jit
def source_coords(mat_ptr, b, x, y, PERSPECTIVE: tl.constexpr):
    """Map output pixel centres (x, y) of sample ``b`` to source coordinates.

    Returns ``(sx, sy, front)`` where ``front`` is False where the homogeneous ``w <= 0`` or
    the coordinate is NaN; callers still test the range, which also rejects infinities.
    """
    base = mat_ptr + b.to(tl.int64) * 9
    m00 = tl.load(base + 0)
    m01 = tl.load(base + 1)
    m02 = tl.load(base + 2)
    m10 = tl.load(base + 3)
    m11 = tl.load(base + 4)
    m12 = tl.load(base + 5)
    sx = (m00 * x + m01 * y) + m02
    sy = (m10 * x + m11 * y) + m12
    if PERSPECTIVE:
        m20 = tl.load(base + 6)
        m21 = tl.load(base + 7)
        m22 = tl.load(base + 8)
        w = (m20 * x + m21 * y) + m22
        sx = tl.math.div_rn(sx, w)
        sy = tl.math.div_rn(sy, w)
        front = w > 0
    else:
        front = sx == sx  # False only for NaN
    return sx, sy, front


@triton.jit
def pixel_centres(pid_h, pid_w, BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr):
    """Row and column indices of one output tile and their float32 pixel centres."""
    rows = pid_h * BLOCK_H + tl.arange(0, BLOCK_H)[:, None]
    cols = pid_w * BLOCK_W + tl.arange(0, BLOCK_W)[None, :]
    return rows, cols, cols.to(tl.float32) + 0.5, rows.to(tl.float32) + 0.5
