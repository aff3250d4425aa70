"""The volume kernels: trilinear warp for volumes, nearest gather for label volumes.

Layout: sources are contiguous B×C×D×H×W (labels B×D×H×W, B×1×D×H×W or B×K×D×H×W, K
planes), outputs contiguous B×C×d×h×w of float32 (volumes, intensities unscaled) or of the
labels' dtype. ``mat`` is B×4×4 float32 output→source, row-major (16 values per sample).

Each program handles one BLOCK_H × BLOCK_W tile of one output slice (k) of one sample (for
the trilinear warp, of one channel of it; the gather loops over its planes): it
maps every voxel centre (j + 0.5, i + 0.5, k + 0.5) in registers in the contract's order,
``sx = ((m00·x + m01·y) + m02·z) + m03`` (likewise y, z; no fp fusion), and reads the source
through the 2D kernels' helpers on three axes (``common.axis_point`` / ``clamp_point``: the
inside rule and the padding modes; ``common.axis_taps``: the linear taps). Offsets are
int64: a 512³ volume has 2^27 voxels per plane.
"""

import torch
import triton
import triton.language as tl

from .common import axis_point, axis_taps, clamp_point, launch_volume

NUM_WARPS = 8


@triton.jit
def volume_extent(ext_ptr, b, D, H, W, EXTENTS: tl.constexpr):
    """Sample ``b``'s valid (d, h, w): the stack's own, or row ``b`` of the B×3 int64 table at
    ``ext_ptr`` (``EXTENTS``: volumes of their own sizes in a padded stack, whose strides stay
    the stack's)."""
    if EXTENTS:
        entry = ext_ptr + tl.cast(b, tl.int64) * 3
        depth = tl.load(entry).to(tl.int32)
        height = tl.load(entry + 1).to(tl.int32)
        width = tl.load(entry + 2).to(tl.int32)
    else:
        depth = tl.cast(D, tl.int32)
        height = tl.cast(H, tl.int32)
        width = tl.cast(W, tl.int32)
    return depth, height, width


@triton.jit
def volume_point(mat_ptr, b, k, D, H, W, PADDING: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr):
    """This program's tile rows and columns of output slice ``k`` of sample ``b``, and where
    each voxel reads the sample's D×H×W: ``(rows, cols, sx, sy, sz, inside)``, the point
    clamped as :func:`common.source_point` clamps (``PADDING`` as there)."""
    rows = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)[:, None]
    cols = tl.program_id(2) * BLOCK_W + tl.arange(0, BLOCK_W)[None, :]
    x = cols.to(tl.float32) + 0.5
    y = rows.to(tl.float32) + 0.5
    z = tl.cast(k, tl.float32) + 0.5
    base = mat_ptr + tl.cast(b, tl.int64) * 16
    sx = ((tl.load(base + 0) * x + tl.load(base + 1) * y) + tl.load(base + 2) * z) + tl.load(base + 3)
    sy = ((tl.load(base + 4) * x + tl.load(base + 5) * y) + tl.load(base + 6) * z) + tl.load(base + 7)
    sz = ((tl.load(base + 8) * x + tl.load(base + 9) * y) + tl.load(base + 10) * z) + tl.load(base + 11)
    sx, in_x = axis_point(sx, W, PADDING)
    sy, in_y = axis_point(sy, H, PADDING)
    sz, in_z = axis_point(sz, D, PADDING)
    inside = in_x & in_y & in_z
    sx = clamp_point(sx, W, inside)
    sy = clamp_point(sy, H, inside)
    sz = clamp_point(sz, D, inside)
    return rows, cols, sx, sy, sz, inside


@triton.jit
def gather_nearest_3d_kernel(
    src_ptr,
    out_ptr,
    fill_ptr,
    mat_ptr,
    ext_ptr,
    K,
    D,
    H,
    W,
    d,
    h,
    w,
    PADDING: tl.constexpr,
    EXTENTS: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_W: tl.constexpr,
):
    pid = tl.program_id(0)
    b = pid // d
    k = pid % d
    own_d, own_h, own_w = volume_extent(ext_ptr, b, D, H, W, EXTENTS)
    rows, cols, sx, sy, sz, inside = volume_point(mat_ptr, b, k, own_d, own_h, own_w, PADDING, BLOCK_H, BLOCK_W)
    plane = tl.cast(D, tl.int64) * H * W
    voxel = (tl.floor(sz).to(tl.int64) * H + tl.floor(sy).to(tl.int64)) * W + tl.floor(sx).to(tl.int64)
    out_plane = tl.cast(d, tl.int64) * h * w
    out_off = (tl.cast(k, tl.int64) * h + rows) * w + cols
    in_tile = (rows < h) & (cols < w)
    for c in range(K):
        fill = tl.load(fill_ptr + c)
        at = tl.cast(b, tl.int64) * K + c
        labels = tl.load(src_ptr + at * plane + voxel, mask=inside & in_tile, other=fill)
        tl.store(out_ptr + at * out_plane + out_off, labels, mask=in_tile)


@triton.jit
def warp_trilinear_kernel(
    src_ptr,
    out_ptr,
    fill_ptr,
    mat_ptr,
    ext_ptr,
    C,
    D,
    H,
    W,
    d,
    h,
    w,
    PADDING: tl.constexpr,
    EXTENTS: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_W: tl.constexpr,
):
    pid = tl.program_id(0)  # (b·C + c)·d + k: a channel per program, so no tap outlives its reads
    k = pid % d
    c = pid // d % C
    b = pid // d // C
    own_d, own_h, own_w = volume_extent(ext_ptr, b, D, H, W, EXTENTS)
    rows, cols, sx, sy, sz, inside = volume_point(mat_ptr, b, k, own_d, own_h, own_w, PADDING, BLOCK_H, BLOCK_W)
    x0, x1, wx = axis_taps(sx, own_w)
    y0, y1, wy = axis_taps(sy, own_h)
    z0, z1, wz = axis_taps(sz, own_d)
    row = tl.cast(W, tl.int64)
    slab = tl.cast(H, tl.int64) * W
    r00 = z0.to(tl.int64) * slab + y0.to(tl.int64) * row
    r01 = z0.to(tl.int64) * slab + y1.to(tl.int64) * row
    r10 = z1.to(tl.int64) * slab + y0.to(tl.int64) * row
    r11 = z1.to(tl.int64) * slab + y1.to(tl.int64) * row
    plane = tl.cast(D, tl.int64) * slab
    out_plane = tl.cast(d, tl.int64) * h * w
    out_off = (tl.cast(k, tl.int64) * h + rows) * w + cols
    in_tile = (rows < h) & (cols < w)
    read = inside & in_tile
    at = tl.cast(b, tl.int64) * C + c
    p = src_ptr + at * plane
    front = _line(p, r00, x0, x1, wx, read) * (1.0 - wy) + _line(p, r01, x0, x1, wx, read) * wy
    back = _line(p, r10, x0, x1, wx, read) * (1.0 - wy) + _line(p, r11, x0, x1, wx, read) * wy
    value = tl.where(inside, front * (1.0 - wz) + back * wz, tl.load(fill_ptr + c))
    tl.store(out_ptr + at * out_plane + out_off, value, mask=in_tile)


@triton.jit
def _line(plane_ptr, row, x0, x1, wx, read):
    """The linear value along x of one source row (the order of ``common.bilinear_sample``)."""
    v0 = tl.load(plane_ptr + row + x0, mask=read, other=0).to(tl.float32)
    v1 = tl.load(plane_ptr + row + x1, mask=read, other=0).to(tl.float32)
    return v0 * (1.0 - wx) + v1 * wx


def _launch(kernel, source, out, fill, matrix, out_size, padding: int, per_plane: bool, sizes) -> torch.Tensor:
    """Launch a volume kernel over every sample (and, ``per_plane``, every plane) of ``source``;
    ``sizes``: the B×3 int64 valid (d, h, w) of a padded stack, or None."""
    src = source.contiguous()
    planes = src.shape[1] if src.dim() == 5 else 1
    if src.shape[0] == 0:
        return out
    depth, height, width = src.shape[-3:]
    launch_volume(
        kernel,
        src.shape[0] * (planes if per_plane else 1),
        out_size,
        src,
        out,
        fill,
        matrix.to(torch.float32).contiguous(),
        out if sizes is None else sizes.contiguous(),  # never read without EXTENTS
        planes,
        depth,
        height,
        width,
        *out_size,
        num_warps=NUM_WARPS,
        PADDING=padding,
        EXTENTS=sizes is not None,
    )
    return out


def warp_trilinear(
    volumes: torch.Tensor,
    matrix: torch.Tensor,
    out_size: tuple[int, int, int],
    fill: torch.Tensor,
    padding: int,
    sizes: torch.Tensor | None = None,
) -> torch.Tensor:
    """Launch :func:`warp_trilinear_kernel`: volumes B×C×D×H×W of any dtype the checks take,
    read unscaled; ``fill`` C float32 values outside; ``padding`` the index of the mode in
    ``gpuaug.core.checks.PADDING_MODES``; ``sizes`` each sample's valid (d, h, w) of a padded
    stack (B×3 int64) or None. Returns float32 B×C×d×h×w."""
    out = torch.empty((volumes.shape[0], volumes.shape[1], *out_size), dtype=torch.float32, device=volumes.device)
    fill = fill.float().contiguous()
    return _launch(warp_trilinear_kernel, volumes, out, fill, matrix, out_size, padding, True, sizes)


def gather_nearest_3d(
    labels: torch.Tensor,
    matrix: torch.Tensor,
    out_size: tuple[int, int, int],
    fill: torch.Tensor,
    padding: int,
    sizes: torch.Tensor | None = None,
) -> torch.Tensor:
    """Launch :func:`gather_nearest_3d_kernel`: labels B×D×H×W, B×1×D×H×W or B×K×D×H×W of any
    dtype (moved, never converted); ``fill`` one value (or K) of their dtype outside;
    ``sizes`` as :func:`warp_trilinear`. Returns the labels' layout at ``out_size``."""
    planes = labels.shape[1] if labels.dim() == 5 else 1
    out = torch.empty(labels.shape[:-3] + tuple(out_size), dtype=labels.dtype, device=labels.device)
    fill = fill.to(labels.dtype).expand(planes).contiguous()
    return _launch(gather_nearest_3d_kernel, labels, out, fill, matrix, out_size, padding, False, sizes)
