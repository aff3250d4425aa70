"""Shared ``@triton.jit`` helpers for the gpuaug kernels.

Coordinate convention (docs/design.md): output pixel (i, j) has centre (j + 0.5, i + 0.5); the
per-sample float32 matrix ``M`` (row-major, 9 values per sample) maps it to the source point
``s = M·(x, y, 1)``. The operation order below is the contract that keeps the Triton kernels,
the torch path and the reference bit-identical: ``(m00·x + m01·y) + m02`` (likewise y and w),
then a correctly rounded divide by ``w`` when the matrix has a perspective row. Kernels that
call this helper are launched with ``enable_fp_fusion=False`` so no FMA merges the steps.
"""

import torch
import triton
import triton.language as tl

from gpuaug.core.ragged import Ragged
from gpuaug.core.views import Views

#: Output tile of one program (rows × columns), shared by every kernel. With the kernels'
#: ``num_warps`` it sets the pixels per thread, which sets the registers per thread: see
#: ``bench/results/kernels-sm90.md``.
BLOCK_H = 16
BLOCK_W = 64
#: Registers per thread the assembler may use (``maxnreg``). Without it, ptxas sometimes
#: spills at 40-80 registers on sm_80 to fit more blocks; with it, no launch spills on
#: sm_80 or sm_90 (tests/test_compile.py), and at most 128 keeps >= 16 warps per SM.
MAX_REGISTERS = 128


def launch(
    kernel,
    batch: int,
    out_size: tuple[int, int],
    *args,
    matrix: torch.Tensor,
    views: Views | None,
    num_warps: int,
    **constexprs,
) -> None:
    """Launch ``kernel`` on a (sample, tile row, tile column) grid covering ``out_size``.

    ``args`` are the kernel's arguments up to ``h, w``; the launch adds the matrix table and
    the per-pixel source arguments of :func:`tile_sources` (from ``matrix`` and ``views``)
    after them. Every kernel is launched without fp fusion, so no FMA merges the steps of the
    coordinate contract (and the compiled kernels agree with the interpreter and the
    reference), and with at most :data:`MAX_REGISTERS` registers per thread.
    """
    h, w = out_size
    grid = (batch, triton.cdiv(h, BLOCK_H), triton.cdiv(w, BLOCK_W))
    mat = matrix.contiguous()
    if views is None:
        sources = (mat, mat, mat, mat, mat, 1, 1, 1, 1.0)
        mode, displace = 0, False
    else:
        table = (views.matrix.contiguous() if views.field is None else mat).view(-1, 9)
        # Unused pointers get the matrix (never read: the constexprs drop their loads).
        sample = mat if views.sample is None else views.sample
        select = mat if views.select is None else views.select
        pre = mat if views.pre is None else views.pre
        field = mat if views.field is None else views.field
        grid_h, grid_w = (1, 1) if views.field is None else views.field.shape[-2:]
        sources = (table, select, sample, pre, field, views.slots, grid_h, grid_w, views.inv_cell)
        mode, displace = views.mode, views.field is not None
    run(kernel, grid, *args, *sources, num_warps=num_warps, VIEWS=mode, DISPLACE=displace, **constexprs)


def launch_volume(kernel, batch: int, out_size: tuple[int, int, int], *args, num_warps: int, **constexprs) -> None:
    """Launch a volume kernel on a (sample · output slice, tile row, tile column) grid
    covering ``out_size`` = (d, h, w): each program one BLOCK_H × BLOCK_W tile of one slice."""
    d, h, w = out_size
    run(kernel, (batch * d, triton.cdiv(h, BLOCK_H), triton.cdiv(w, BLOCK_W)), *args, num_warps=num_warps, **constexprs)


def run(kernel, grid: tuple[int, int, int], *args, num_warps: int, **constexprs) -> None:
    """Every kernel's launch settings: the shared tile, no fp fusion (no FMA merges the steps of
    the coordinate contract, so the compiled kernels agree with the interpreter and the
    reference) and at most :data:`MAX_REGISTERS` registers per thread."""
    kernel[grid](
        *args,
        BLOCK_H=BLOCK_H,
        BLOCK_W=BLOCK_W,
        num_warps=num_warps,
        maxnreg=MAX_REGISTERS,
        enable_fp_fusion=False,
        **constexprs,
    )


def source_layout(source: torch.Tensor | Ragged) -> tuple[torch.Tensor, torch.Tensor | None, tuple[int, int, int, int]]:
    """What a launcher passes for a source: ``(storage, extent table or None, (B, K, H, W))``.

    A stacked B×H×W or B×K×H×W tensor is made contiguous and has no table (K = 1 for
    B×H×W); a :class:`gpuaug.core.ragged.Ragged` batch gives its storage and table, with H = W
    = 0 (its kernels read the extents from the table, under ``EXTENTS``).
    """
    if isinstance(source, Ragged):
        return source.data, source.table, (source.batch, source.planes, 0, 0)
    src = source.contiguous()
    planes = src.shape[1] if src.dim() == 4 else 1
    return src, None, (src.shape[0], planes, src.shape[-2], src.shape[-1])


@triton.jit
def source_coords(mat_ptr, b, x, y, PERSPECTIVE: tl.constexpr):
    """Map output pixel centres (x, y) of sample ``b`` to source coordinates.

    Returns ``(sx, sy, front)`` where ``front`` is False where the homogeneous ``w <= 0`` or
    the coordinate is NaN; :func:`source_point` adds the range test (or the padding).
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
def _field_value(plane_ptr, row0, row1, col0, col1, wx, wy):
    """Bilinear value of one displacement plane (the order of :func:`bilinear_sample`)."""
    top = tl.load(plane_ptr + row0 + col0) * (1.0 - wx) + tl.load(plane_ptr + row0 + col1) * wx
    bottom = tl.load(plane_ptr + row1 + col0) * (1.0 - wx) + tl.load(plane_ptr + row1 + col1) * wx
    return top * (1.0 - wy) + bottom * wy


@triton.jit
def displacement(field_ptr, sample, qx, qy, GH, GW, inv_cell):
    """The displacement ``(dx, dy)`` of ``sample``'s canvas at points (qx, qy), bilinear in its
    coarse 2×GH×GW field, whose node (i, j) lies at canvas point (j, i) / ``inv_cell``
    (clamped to the grid; the torch twin is ``gpuaug.core.views.displacement``)."""
    gx = tl.minimum(tl.maximum(qx * inv_cell, 0.0), GW - 1.0)
    gy = tl.minimum(tl.maximum(qy * inv_cell, 0.0), GH - 1.0)
    x0f = tl.floor(gx)
    y0f = tl.floor(gy)
    x0 = x0f.to(tl.int32)
    y0 = y0f.to(tl.int32)
    x1 = tl.minimum(x0 + 1, GW - 1)
    row0 = y0 * GW
    row1 = tl.minimum(y0 + 1, GH - 1) * GW
    plane = field_ptr + sample.to(tl.int64) * 2 * GH * GW
    dx = _field_value(plane, row0, row1, x0, x1, gx - x0f, gy - y0f)
    dy = _field_value(plane + GH * GW, row0, row1, x0, x1, gx - x0f, gy - y0f)
    return dx, dy


@triton.jit
def tile_sources(
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
    PERSPECTIVE: tl.constexpr,
    VIEWS: tl.constexpr,
    DISPLACE: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_W: tl.constexpr,
):
    """This program's sample ``b``, its BLOCK_H×BLOCK_W output tile, and where each pixel reads.

    The grid is (output sample, tile row, tile column). Returns ``(b, source, rows, cols, sx,
    sy, front)``: ``rows``/``cols`` the output indices (callers mask them against h, w),
    ``source`` the sample each pixel reads (``b`` itself without views) and ``sx, sy,
    front`` from :func:`source_coords`. The per-pixel source (docs/design.md), by constexpr:

    - ``VIEWS`` 0: every pixel reads sample ``b`` through row ``b`` of the matrix table;
      1: through view ``b`` (its matrix row, its source sample ``view_ptr[b]``); 2: through
      view ``b·L + slot``, the slot read per pixel from the B×h×w uint8 map at ``sel_ptr``
      (CutMix's box, Mosaic's quadrants, ClassMix's classes).
    - ``DISPLACE``: the pixel centre is first taken to the source sample's canvas by the
      view's (ax, tx, ay, ty) at ``pre_ptr`` (with views), displaced by that sample's field
      (:func:`displacement`), then mapped by the sample's own matrix; without it the view's
      matrix maps the centre directly.
    """
    b = tl.program_id(0)
    rows = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)[:, None]
    cols = tl.program_id(2) * BLOCK_W + tl.arange(0, BLOCK_W)[None, :]
    x = cols.to(tl.float32) + 0.5
    y = rows.to(tl.float32) + 0.5
    if VIEWS == 0:
        view = b
        source = b
    elif VIEWS == 1:
        view = b
        source = tl.load(view_ptr + b)
    else:
        at = b.to(tl.int64) * h * w + rows.to(tl.int64) * w + cols
        slot = tl.load(sel_ptr + at, mask=(rows < h) & (cols < w), other=0).to(tl.int32)
        view = b * L + slot
        source = tl.load(view_ptr + view)
    if DISPLACE:
        if VIEWS == 0:
            qx = tl.broadcast_to(x, (BLOCK_H, BLOCK_W))
            qy = tl.broadcast_to(y, (BLOCK_H, BLOCK_W))
        else:
            pre = pre_ptr + view.to(tl.int64) * 4
            qx = tl.load(pre) * x + tl.load(pre + 1)
            qy = tl.load(pre + 2) * y + tl.load(pre + 3)
        dx, dy = displacement(field_ptr, source, qx, qy, GH, GW, inv_cell)
        sx, sy, front = source_coords(mat_ptr, source, qx + dx, qy + dy, PERSPECTIVE)
    else:
        sx, sy, front = source_coords(mat_ptr, view, x, y, PERSPECTIVE)
    return b, source, rows, cols, sx, sy, front


@triton.jit
def sample_extent(ext_ptr, b, planes, H, W, EXTENTS: tl.constexpr):
    """Where sample ``b``'s source lies: ``(base, plane, row, H, W)``.

    ``base`` is the int64 element offset of its first plane in the source buffer, ``plane``
    and ``row`` the int64 strides between planes and rows, ``H``, ``W`` its valid size. A
    stacked batch (``EXTENTS`` False) has them from its shape: sample ``b`` starts at
    ``b·planes·H·W``. A variable-size batch (``EXTENTS``) reads them from row ``b`` of the
    B×5 int64 table at ``ext_ptr`` (packed samples, or a padded batch with valid sizes).
    """
    if EXTENTS:
        entry = ext_ptr + b.to(tl.int64) * 5
        base = tl.load(entry)
        plane = tl.load(entry + 1)
        row = tl.load(entry + 2)
        height = tl.load(entry + 3).to(tl.int32)
        width = tl.load(entry + 4).to(tl.int32)
    else:
        plane = tl.cast(H, tl.int64) * W  # tl.cast: H is a constexpr when it equals 1
        base = b.to(tl.int64) * planes * plane
        row = tl.cast(W, tl.int64)
        height = tl.cast(H, tl.int32)
        width = tl.cast(W, tl.int32)
    return base, plane, row, height, width


@triton.jit
def _reflect(s, extent):
    """Reflect coordinates about 0 and ``extent`` into [0, extent] (period 2·extent).

    The float32 steps are those of the torch path and the reference: ``q = floor(s / p)``
    (correctly rounded divide), ``t = s − q·p``, then ``t`` or ``p − t``.
    """
    period = extent * 2.0
    t = s - tl.floor(tl.math.div_rn(s, period)) * period
    return tl.where(t < extent, t, period - t)


@triton.jit
def axis_point(s, extent, PADDING: tl.constexpr):
    """One axis of :func:`source_point`: ``(s, ok)``, ``ok`` where the coordinate is inside
    along this axis (``PADDING`` 0: in [0, extent); 1, 2: finite), ``s`` reflected about the
    border for 2. Shared by the image and the volume kernels."""
    if PADDING == 0:
        ok = (s >= 0.0) & (s < extent)
    else:
        ok = tl.abs(s) < 3.0e38  # finite
        if PADDING == 2:
            s = _reflect(s, extent)
    return s, ok


@triton.jit
def clamp_point(s, extent, inside):
    """Inside points clamped to the edge pixels' centres [0.5, extent − 0.5] along one axis,
    which keeps ``floor`` (the label's pixel) and the bilinear taps in the source; the
    others at 0.5, a safe index that callers mask."""
    return tl.where(inside, tl.minimum(tl.maximum(s, 0.5), extent - 0.5), 0.5)


@triton.jit
def source_point(sx, sy, front, H, W, PADDING: tl.constexpr):
    """Where each output pixel reads the H×W source: ``(sx, sy, inside)``.

    ``PADDING`` 0 (constant): a point is *inside* when it lies in [0, W)×[0, H), finite and
    in front; 1 (replicate) and 2 (reflect): every finite point in front is inside, after
    reflection about the image border for 2 (replicate needs no mapping: the clamp is it).
    Inside points come back clamped by :func:`clamp_point`; the others as (0.5, 0.5).
    One definition for every kernel (:func:`axis_point` per axis, volumes included), so image
    content and labels end at the same edge.
    """
    sx, in_x = axis_point(sx, W, PADDING)
    sy, in_y = axis_point(sy, H, PADDING)
    inside = front & in_x & in_y
    return clamp_point(sx, W, inside), clamp_point(sy, H, inside), inside


@triton.jit
def axis_taps(s, extent):
    """One axis of the linear taps at s − 0.5 of a point from :func:`source_point`: ``(i0, i1,
    weight)``, the first tap (inside already), the second clamped to the source (edge
    replicate) and the weight of the second."""
    i = s - 0.5
    f = tl.floor(i)
    i0 = f.to(tl.int32)
    return i0, tl.minimum(i0 + 1, extent - 1), i - f


@triton.jit
def bilinear_taps(sx, sy, H, W, row_stride):
    """The four bilinear taps at (sx − 0.5, sy − 0.5) of points from :func:`source_point`.

    Returns ``(row0, row1, col0, col1, wx, wy)``: int64 offsets of the two tap rows within a
    plane (row index × ``row_stride``), the two tap columns (:func:`axis_taps`), and the
    weights of the second row and column.
    """
    col0, col1, wx = axis_taps(sx, W)
    y0, y1, wy = axis_taps(sy, H)
    return y0.to(tl.int64) * row_stride, y1.to(tl.int64) * row_stride, col0, col1, wx, wy


@triton.jit
def bilinear_sample(plane_ptr, row0, row1, col0, col1, wx, wy, inside, fill, SCALE: tl.constexpr):
    """Bilinear value of one plane from :func:`bilinear_taps` at inside points, ``fill`` elsewhere."""
    v00 = tl.load(plane_ptr + row0 + col0, mask=inside, other=0).to(tl.float32) * SCALE
    v01 = tl.load(plane_ptr + row0 + col1, mask=inside, other=0).to(tl.float32) * SCALE
    v10 = tl.load(plane_ptr + row1 + col0, mask=inside, other=0).to(tl.float32) * SCALE
    v11 = tl.load(plane_ptr + row1 + col1, mask=inside, other=0).to(tl.float32) * SCALE
    top = v00 * (1.0 - wx) + v01 * wx
    bottom = v10 * (1.0 - wx) + v11 * wx
    return tl.where(inside, top * (1.0 - wy) + bottom * wy, fill)


@triton.jit
def hash_uniform(seed, index):
    """Uniforms in (0, 1) from int64 seed and counter; the integer spec of gpuaug/hashing.py."""
    x = ((seed & 0xFFFFFFFF) * 0x632BE5AB + index) & 0xFFFFFFFF
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x = x ^ (x >> 15)
    x = (x * 0x2C1B3C6D) & 0xFFFFFFFF
    x = x ^ (x >> 16)
    return ((x >> 8).to(tl.float32) + 0.5) * (1.0 / 16777216.0)


@triton.jit
def hash_normal(seed, index):
    """Standard normals by Box-Muller of two :func:`hash_uniform` draws (counters 2n, 2n + 1)."""
    u1 = hash_uniform(seed, 2 * index)
    u2 = hash_uniform(seed, 2 * index + 1)
    return tl.sqrt(-2.0 * tl.log(u1)) * tl.cos(6.283185307179586 * u2)
