"""Antialiased downscaling: each sample's source image box-filtered by its own scale.

With ``Compose(..., antialias=True)`` the images (never the masks, never the target maps)
are prefiltered before the one resample, so that a chain that shrinks (a resize, a resized
crop, a scale, an affine or perspective chain) averages the source pixels an output pixel
covers instead of reading four of them, as torchvision v2's resize and OpenCV's INTER_AREA
do. The rule (docs/design.md, "Antialiased downscaling"), per sample, from its final
float32 output→source matrix M:

1. the Jacobian J of the map output → source at the output canvas centre (w/2, h/2)
   (M's linear part; with a perspective row, the derivative of the divided map there);
2. per source axis, the scale ``s_x = |J[0, :]|``, ``s_y = |J[1, :]|`` (Euclidean row
   norms): how far the source x (y) coordinate moves per output pixel;
3. along each axis with ``s > 1``, every source pixel becomes the mean of the source over a
   box of width ``s`` centred on it (an area average with fractional edge weights), the box
   cut at the sample's own edges and renormalised; an axis with ``s <= 1`` (or a non-finite
   ``s``) is left as it is.

The warp then samples that filtered image bilinearly, as always. The filter is computed
from float64 prefix sums along each axis (the cost does not grow with ``s``), written
in float32; a variable-size batch is filtered in its zero-padded form with each sample's
own extent. :mod:`gpuaug.reference` implements the same rule independently (per sample,
with explicit overlap weights).
"""

from __future__ import annotations

import torch

from gpuaug.core.ragged import Ragged, from_padded

__all__ = ["source_scale", "antialias"]


def source_scale(matrix: torch.Tensor, out_size: tuple[int, int], perspective: bool) -> torch.Tensor:
    """Each sample's source pixels per output pixel along the source x and y axes.

    Args:
        matrix: B×3×3 output→source matrices (any float dtype; used in float64).
        out_size: the output (h, w); the Jacobian is taken at its centre (w/2, h/2).
        perspective: whether the matrices may have a perspective row.

    Returns:
        B×2 float64 ``(s_x, s_y)``, the row norms of the Jacobian (NaN where the centre is
        behind the camera or at infinity).
    """
    m = matrix.to(torch.float64)
    h, w = out_size
    centre = torch.tensor([w / 2, h / 2, 1.0], dtype=torch.float64, device=m.device)
    jacobian = m[:, :2, :2]
    if perspective:
        p = m @ centre  # B×3: (u, v, q) at the centre; d(u/q)/dx_j = (m_ij q − u m_2j) / q²
        q = p[:, 2, None, None]
        jacobian = (jacobian * q - p[:, :2, None] * m[:, 2:3, :2]) / (q * q)
        jacobian = torch.where(q > 0, jacobian, torch.nan)
    return torch.linalg.vector_norm(jacobian, dim=2)


def antialias(
    images: torch.Tensor | Ragged, matrix: torch.Tensor, out_size: tuple[int, int], perspective: bool
) -> torch.Tensor | Ragged:
    """The images box-filtered per sample and per axis by :func:`source_scale` (module docstring).

    Args:
        images: B×C×H×W (uint8 read as [0, 1], or float), or a :class:`Ragged` batch.
        matrix, out_size, perspective: as :func:`source_scale`.

    Returns:
        float32 images of the same form (a Ragged batch comes back as a padded one with the
        same sizes); samples and axes that do not shrink keep their values.
    """
    scale = source_scale(matrix, out_size, perspective)
    if isinstance(images, Ragged):
        x, sizes = images.padded(), images.sizes
    else:
        x, sizes = images, ((images.shape[-2], images.shape[-1]),) * images.shape[0]
    x = x.to(torch.float32).contiguous()
    if images.dtype == torch.uint8:
        x = x * (1.0 / 255.0)
    b, c, h, w = x.shape
    extents = torch.tensor(sizes, dtype=torch.float64).to(x.device, non_blocking=True)
    x = _box(x.view(b, c * h, w), scale[:, 0], extents[:, 1]).view(b, c, h, w)
    x = _box(x.transpose(2, 3).reshape(b, c * w, h), scale[:, 1], extents[:, 0])
    x = x.view(b, c, w, h).transpose(2, 3).contiguous()
    return from_padded(x, sizes) if isinstance(images, Ragged) else x


def _box(x: torch.Tensor, width: torch.Tensor, extent: torch.Tensor) -> torch.Tensor:
    """``x`` (B×R×n float32, filtered along its last dim) averaged over boxes of ``width`` (B)
    pixels centred on each pixel, cut to [0, ``extent``) (B, each sample's valid length)."""
    b, r, n = x.shape
    shrinks = width > 1
    width = torch.where(shrinks, width, 1.0)  # NaN (behind the camera) too: no filter, and finite indices
    integral = x.new_zeros((b, r, n + 1), dtype=torch.float64)  # integral[..., k] = x[..., :k].sum(-1)
    torch.cumsum(x, dim=2, dtype=torch.float64, out=integral[..., 1:])
    centre = torch.arange(n, dtype=torch.float64, device=x.device) + 0.5
    half, extent = (width / 2)[:, None], extent[:, None]
    lo = torch.minimum((centre - half).clamp(min=0.0), extent)
    hi = torch.minimum(centre + half, extent)
    k_lo, k_hi = lo.floor().long(), hi.floor().long()  # the pixels the box's ends fall in (k_hi may be n)

    def at(t: torch.Tensor, k: torch.Tensor) -> torch.Tensor:  # t[i, :, k[i, j]] (B×R×n)
        return t.gather(2, k[:, None].expand(b, r, n))

    # The pixels in [k_lo, k_hi), plus the covered part of pixel k_hi, minus the uncovered part of k_lo.
    total = (at(integral, k_hi) - at(integral, k_lo)).to(torch.float32)
    total += (hi - k_hi).to(torch.float32)[:, None] * at(x, k_hi.clamp(max=n - 1))
    total -= (lo - k_lo).to(torch.float32)[:, None] * at(x, k_lo)
    # A box holds [i, i + 1) of its pixel, so hi − lo >= 1; past a sample's extent (padding)
    # the box is empty: zeros, as the padded copy has there.
    length = torch.where(centre < extent, hi - lo, torch.inf).to(torch.float32)
    return torch.where(shrinks[:, None, None], total / length[:, None], x)
