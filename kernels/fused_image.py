"""The fused image kernel: warp + colour + grayscale + noise + normalise + cast, one pass.

Layout: source ``src`` is a contiguous B×3×H×W tensor, uint8 (read as value/255) or float;
output ``out`` is contiguous B×3×h×w of float32, bfloat16 or float16. ``mat`` is B×3×3
float32 output→source; ``fill`` three float32 values (output scale, applied at the warp).

Per-sample parameters (float32 unless noted), neutral where an op is absent:

- ``jitter``: B×5 (applied, brightness, contrast, saturation, hue);
- ``photometric``: B×6 (applied, brightness δ, contrast first, contrast α, saturation α,
  hue δ) of PhotoMetricDistortion, each step off where its value is the neutral one;
- ``mean``: B, the grey mean that ColorJitter's contrast blends towards (see below);
- ``gray``: B, 1 where RandomGrayscale applies;
- ``noise``: B×2 (applied, std); ``seed``: B int64; ``noise_mean`` a float;
- ``norm``: 2×3 (mean, std) of Normalize.

Each program warps one BLOCK_H×BLOCK_W tile of one sample (coordinates once, three
bilinear planes), then applies, in registers and in this fixed order, the steps switched on
by the constexpr flags: brightness, contrast, saturation, hue (torchvision's formulas, each
clamped to [0, 1]), PhotoMetricDistortion (``PMD``: brightness, contrast when it comes first,
one HSV round trip for saturation and hue, contrast when it comes last, each clamped),
grayscale, noise (counter-based, ``kernels.common.hash_normal``), normalise; and stores once
in the output dtype.

ColorJitter's contrast blends towards the mean grey of the *warped, brightness-adjusted*
image, which no tile knows alone. It is computed exactly by a cheap first launch of the same
kernel with ``MEAN_ONLY``: warp + brightness, grey, one sum per tile added atomically into
``mean`` (divided by h·w on the device afterwards), no store. So a batch with that contrast
reads the source twice and writes once; without it (PhotoMetricDistortion's contrast is a
plain scale), once and once.
"""

import torch
import triton
import triton.language as tl

from gpuaug.core.constants import GRAY_WEIGHTS
from gpuaug.core.views import Views

from .common import (
    bilinear_sample,
    bilinear_taps,
    hash_normal,
    launch,
    sample_extent,
    source_layout,
    source_point,
    tile_sources,
)

# Two pixels per thread: the whole colour chain on four output pixels per thread needs
# more than 128 registers (bench/results/kernels-sm90.md).
NUM_WARPS = 16
# The torch path's luma weights; a kernel may only read module globals that are constexpr.
GRAY_R = tl.constexpr(GRAY_WEIGHTS[0])
GRAY_G = tl.constexpr(GRAY_WEIGHTS[1])
GRAY_B = tl.constexpr(GRAY_WEIGHTS[2])


@triton.jit
def _clamp01(x):
    return tl.minimum(tl.maximum(x, 0.0), 1.0)


@triton.jit
def _scale01(r, g, b, factor, on):
    """``x · factor`` clamped to [0, 1] in each channel where ``on``."""
    return (
        tl.where(on, _clamp01(r * factor), r),
        tl.where(on, _clamp01(g * factor), g),
        tl.where(on, _clamp01(b * factor), b),
    )


@triton.jit
def _adjust_hsv(r, g, b, saturation, shift):
    """torchvision's RGB → HSV, S · saturation clamped to [0, 1] (where it is not 1), H += shift
    (a fraction of the circle), HSV → RGB.

    One of three HSV implementations (docs/design.md): ``gpuaug.reference`` is the truth,
    this per-pixel sector table and the torch path's closed form are tested against it.
    """
    maxc = tl.maximum(tl.maximum(r, g), b)
    minc = tl.minimum(tl.minimum(r, g), b)
    same = maxc == minc
    cr = maxc - minc
    s = cr / tl.where(same, 1.0, maxc)
    s = tl.where(saturation != 1.0, _clamp01(s * saturation), s)
    divisor = tl.where(same, 1.0, cr)
    rc = (maxc - r) / divisor
    gc = (maxc - g) / divisor
    bc = (maxc - b) / divisor
    hr = tl.where(maxc == r, bc - gc, 0.0)
    hg = tl.where((maxc == g) & (maxc != r), 2.0 + rc - bc, 0.0)
    hb = tl.where((maxc != g) & (maxc != r), 4.0 + gc - rc, 0.0)
    h = (hr + hg + hb) / 6.0 + 1.0
    h = h - tl.floor(h)  # fmod(h, 1) for positive h
    h = h + shift
    h = h - tl.floor(h)
    v = maxc
    i6 = tl.floor(h * 6.0)
    f = h * 6.0 - i6
    i = i6.to(tl.int32) % 6
    p = _clamp01(v * (1.0 - s))
    q = _clamp01(v * (1.0 - s * f))
    t = _clamp01(v * (1.0 - s * (1.0 - f)))
    r2 = tl.where(i == 0, v, tl.where(i == 1, q, tl.where(i == 2, p, tl.where(i == 3, p, tl.where(i == 4, t, v)))))
    g2 = tl.where(i == 0, t, tl.where(i == 1, v, tl.where(i == 2, v, tl.where(i == 3, q, tl.where(i == 4, p, p)))))
    b2 = tl.where(i == 0, p, tl.where(i == 1, p, tl.where(i == 2, t, tl.where(i == 3, v, tl.where(i == 4, v, q)))))
    return r2, g2, b2


@triton.jit
def fused_image_kernel(
    src_ptr,
    out_ptr,
    fill_ptr,
    jitter_ptr,
    mean_ptr,
    gray_ptr,
    noise_ptr,
    seed_ptr,
    norm_ptr,
    photometric_ptr,
    ext_ptr,
    noise_mean,
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
    BRIGHTNESS: tl.constexpr,
    CONTRAST: tl.constexpr,
    SATURATION: tl.constexpr,
    HUE: tl.constexpr,
    PMD: tl.constexpr,
    GRAY: tl.constexpr,
    NOISE: tl.constexpr,
    NOISE_CLIP: tl.constexpr,
    NORMALIZE: tl.constexpr,
    MEAN_ONLY: tl.constexpr,
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
    base, area, row, height, width = sample_extent(ext_ptr, source, 3, H, W, EXTENTS)
    sx, sy, inside = source_point(sx, sy, front, height, width, PADDING)
    row0, row1, col0, col1, wx, wy = bilinear_taps(sx, sy, height, width, row)
    src = src_ptr + base
    r = bilinear_sample(src, row0, row1, col0, col1, wx, wy, inside, tl.load(fill_ptr + 0), SCALE)
    g = bilinear_sample(src + area, row0, row1, col0, col1, wx, wy, inside, tl.load(fill_ptr + 1), SCALE)
    bl = bilinear_sample(src + 2 * area, row0, row1, col0, col1, wx, wy, inside, tl.load(fill_ptr + 2), SCALE)
    in_tile = (rows < h) & (cols < w)

    jitter = jitter_ptr + b * 5
    jittered = tl.load(jitter) > 0
    if BRIGHTNESS:
        r, g, bl = _scale01(r, g, bl, tl.load(jitter + 1), jittered)
    if MEAN_ONLY:
        grey = tl.where(in_tile, GRAY_R * r + GRAY_G * g + GRAY_B * bl, 0.0)
        tl.atomic_add(mean_ptr + b, tl.sum(tl.sum(grey, axis=1), axis=0))
    else:
        if CONTRAST:
            factor = tl.load(jitter + 2)
            mean = tl.load(mean_ptr + b)
            r = tl.where(jittered, _clamp01(factor * r + (1.0 - factor) * mean), r)
            g = tl.where(jittered, _clamp01(factor * g + (1.0 - factor) * mean), g)
            bl = tl.where(jittered, _clamp01(factor * bl + (1.0 - factor) * mean), bl)
        if SATURATION:
            factor = tl.load(jitter + 3)
            grey = GRAY_R * r + GRAY_G * g + GRAY_B * bl
            r = tl.where(jittered, _clamp01(factor * r + (1.0 - factor) * grey), r)
            g = tl.where(jittered, _clamp01(factor * g + (1.0 - factor) * grey), g)
            bl = tl.where(jittered, _clamp01(factor * bl + (1.0 - factor) * grey), bl)
        if HUE:
            r2, g2, b2 = _adjust_hsv(r, g, bl, 1.0, tl.load(jitter + 4))
            r = tl.where(jittered, _clamp01(r2), r)
            g = tl.where(jittered, _clamp01(g2), g)
            bl = tl.where(jittered, _clamp01(b2), bl)
        if PMD:
            photometric = photometric_ptr + b * 6
            distorted = tl.load(photometric) > 0
            delta = tl.load(photometric + 1)
            first = tl.load(photometric + 2) > 0
            last = tl.load(photometric + 2) == 0
            alpha = tl.load(photometric + 3)
            saturation = tl.load(photometric + 4)
            shift = tl.load(photometric + 5)
            on = distorted & (delta != 0.0)
            r = tl.where(on, _clamp01(r + delta), r)
            g = tl.where(on, _clamp01(g + delta), g)
            bl = tl.where(on, _clamp01(bl + delta), bl)
            contrast = distorted & (alpha != 1.0)
            r, g, bl = _scale01(r, g, bl, alpha, contrast & first)
            r2, g2, b2 = _adjust_hsv(r, g, bl, saturation, shift)
            on = distorted & ((saturation != 1.0) | (shift != 0.0))
            r = tl.where(on, _clamp01(r2), r)
            g = tl.where(on, _clamp01(g2), g)
            bl = tl.where(on, _clamp01(b2), bl)
            r, g, bl = _scale01(r, g, bl, alpha, contrast & last)
        if GRAY:
            grey = GRAY_R * r + GRAY_G * g + GRAY_B * bl
            greyed = tl.load(gray_ptr + b) > 0
            r = tl.where(greyed, grey, r)
            g = tl.where(greyed, grey, g)
            bl = tl.where(greyed, grey, bl)
        plane = tl.cast(h, tl.int64) * w
        pixel = rows.to(tl.int64) * w + cols
        if NOISE:
            noisy = tl.load(noise_ptr + b * 2) > 0
            std = tl.load(noise_ptr + b * 2 + 1)
            seed = tl.load(seed_ptr + b)
            nr = r + (noise_mean + std * hash_normal(seed, pixel))
            ng = g + (noise_mean + std * hash_normal(seed, pixel + plane))
            nb = bl + (noise_mean + std * hash_normal(seed, pixel + 2 * plane))
            if NOISE_CLIP:
                nr = _clamp01(nr)
                ng = _clamp01(ng)
                nb = _clamp01(nb)
            r = tl.where(noisy, nr, r)
            g = tl.where(noisy, ng, g)
            bl = tl.where(noisy, nb, bl)
        if NORMALIZE:
            r = (r - tl.load(norm_ptr + 0)) / tl.load(norm_ptr + 3)
            g = (g - tl.load(norm_ptr + 1)) / tl.load(norm_ptr + 4)
            bl = (bl - tl.load(norm_ptr + 2)) / tl.load(norm_ptr + 5)
        out = out_ptr + b.to(tl.int64) * 3 * plane + pixel
        dtype = out_ptr.dtype.element_ty
        tl.store(out, r.to(dtype), mask=in_tile)
        tl.store(out + plane, g.to(dtype), mask=in_tile)
        tl.store(out + 2 * plane, bl.to(dtype), mask=in_tile)


def fused_image(
    images: torch.Tensor,
    matrix: torch.Tensor,
    out_size: tuple[int, int],
    fill: torch.Tensor,
    perspective: bool,
    out_dtype: torch.dtype,
    *,
    padding: int,
    jitter: torch.Tensor,
    photometric: torch.Tensor,
    gray: torch.Tensor,
    noise: torch.Tensor,
    seed: torch.Tensor,
    norm: torch.Tensor,
    noise_mean: float,
    flags: dict[str, bool],
    views: Views | None = None,
) -> torch.Tensor:
    """Launch :func:`fused_image_kernel` (twice when contrast is on).

    Args:
        images: B×3×H×W uint8 or float (validated by the caller), or a Ragged batch.
        matrix, out_size, fill, perspective, padding: the warp, as for ``warp_bilinear``.
        out_dtype: float32, bfloat16 or float16.
        jitter, photometric, gray, noise, seed, norm: per-sample parameters (module
            docstring), on the images' device.
        noise_mean: the mean of the noise.
        flags: which steps run: BRIGHTNESS, CONTRAST, SATURATION, HUE, PMD, GRAY, NOISE,
            NOISE_CLIP, NORMALIZE.
        views: the per-pixel source (:class:`gpuaug.core.views.Views`), or None (sample b at ``M_b·p``).

    Returns:
        Contiguous B×3×h×w tensor of ``out_dtype``.
    """
    src, table, (b, _, height, width) = source_layout(images)
    h, w = out_size
    out = torch.empty((b, 3, h, w), dtype=out_dtype, device=src.device)
    if b == 0:
        return out
    mean = torch.zeros(b, dtype=torch.float32, device=src.device)
    ext = matrix if table is None else table
    steps = (jitter, mean, gray, noise, seed, norm, photometric, ext, noise_mean)
    args = (src, out, fill, *steps, height, width, h, w)
    scale = 1.0 / 255.0 if src.dtype == torch.uint8 else 1.0
    meta = dict(SCALE=scale, PERSPECTIVE=perspective, PADDING=padding, EXTENTS=table is not None, **flags)
    meta |= dict(matrix=matrix, views=views)
    if flags["CONTRAST"]:
        launch(fused_image_kernel, b, out_size, *args, num_warps=NUM_WARPS, MEAN_ONLY=True, **meta)
        mean.div_(h * w)
    launch(fused_image_kernel, b, out_size, *args, num_warps=NUM_WARPS, MEAN_ONLY=False, **meta)
    return out
