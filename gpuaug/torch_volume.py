"""The torch path of the volume warps: source coordinates once, then every map from them.

Volumes through a 5-D ``grid_sample`` (trilinear), labels through one ``index_select`` of
``floor(s)`` (exact, any dtype). The coordinate contract is docs/design.md's, one dimension
up: output voxel (k, i, j) has centre (x, y, z) = (j + 0.5, i + 0.5, k + 0.5), and the
float32 order is ``sx = ((m00·x + m01·y) + m02·z) + m03`` (likewise ``sy``, ``sz``), the
order of the Triton kernels (``kernels/volume.py``) and :mod:`gpuaug.reference_volumes`, so
labels are bit-identical across the three. The inside rule and the reflection are
:mod:`gpuaug.torch_path`'s, on three axes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gpuaug.core.device import channel_values
from gpuaug.core.planes import Planes
from gpuaug.torch_path import inside, reflect

__all__ = ["volume_coords", "warp_volume_torch"]


def volume_coords(matrix: torch.Tensor, out_size: tuple[int, int, int]) -> tuple[torch.Tensor, ...]:
    """Source coordinates (sx, sy, sz), each B×d×h×w float32, of every output voxel centre,
    in the contract's order, from 1-D bases (no B×d×h×w×4 grid)."""
    d, h, w = out_size
    device = matrix.device
    x = torch.arange(w, device=device, dtype=torch.float32).add_(0.5).view(1, 1, 1, w)
    y = torch.arange(h, device=device, dtype=torch.float32).add_(0.5).view(1, 1, h, 1)
    z = torch.arange(d, device=device, dtype=torch.float32).add_(0.5).view(1, d, 1, 1)
    m = matrix.to(torch.float32).reshape(-1, 16, 1, 1, 1)

    def row(r: int) -> torch.Tensor:
        xy = torch.add(m[:, 4 * r] * x, m[:, 4 * r + 1] * y)  # B×1×h×w
        return torch.add(xy, m[:, 4 * r + 2] * z).add_(m[:, 4 * r + 3])

    return row(0), row(1), row(2)


def warp_volume_torch(
    images: torch.Tensor | None,
    planes: list[Planes],
    matrix: torch.Tensor,
    out_size: tuple[int, int, int],
    fill: tuple[float, ...],
    image_padding: str,
    sizes: torch.Tensor | None = None,
) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
    """Warp volumes B×C×D×H×W (float32 out, intensities unscaled) and label ``planes``
    (B×D×H×W or B×K×D×H×W, nearest) through B×4×4 output→source matrices; ``fill`` and each
    plane's fill outside. Paddings other than "constant" must be one mode (as in 2D).
    ``sizes`` (B×3 int64, (d, h, w)): each sample's valid part of a padded stack, the
    extents every rule reads per sample instead of the stack's."""
    source = images if images is not None else planes[0].tensor
    extents = tuple(source.shape[-1:-4:-1])  # (W, H, D)
    if sizes is not None:
        extents = tuple(sizes[:, axis].to(torch.float32).view(-1, 1, 1, 1) for axis in (2, 1, 0))
    points = volume_coords(matrix, out_size)
    in_volume = inside(points, extents)
    padded = {image_padding if images is not None else "constant"} | {p.padding for p in planes}
    padded -= {"constant"}
    if len(padded) > 1:
        raise ValueError(f"image_padding, mask_padding: expected one padding mode, got {sorted(padded)}")
    valid = None
    if padded:
        valid = (
            torch.isfinite(points[0]).logical_and_(torch.isfinite(points[1])).logical_and_(torch.isfinite(points[2]))
        )
        if padded == {"reflect"}:
            points = tuple(reflect(s, e) for s, e in zip(points, extents, strict=True))
    cache: dict[str, tuple] = {}

    def clamped(padding: str) -> tuple:
        # Inside points clamped to the edge voxels' centres (floor unchanged, taps inside);
        # outside ones (NaN included) at the first voxel, masked by the caller.
        if padding not in cache:
            outside = (in_volume if padding == "constant" else valid).logical_not()
            moved = tuple(
                torch.minimum(s.clamp(min=0.5), _as_tensor(e - 0.5, s)).masked_fill_(outside, 0.5)
                for s, e in zip(points, extents, strict=True)
            )
            cache[padding] = (*moved, outside)
        return cache[padding]

    outs = [_nearest(p.tensor, *clamped(p.padding), p.fill[0]) for p in planes]
    out_images = None
    if images is not None and sizes is not None:  # a padded stack: never read past a sample, even at weight 0
        out_images = _trilinear_gather(images, *clamped(image_padding), fill, extents)
    elif images is not None:
        out_images = _trilinear(images, *clamped(image_padding), fill)
    return out_images, outs


def _as_tensor(value, like: torch.Tensor) -> torch.Tensor:
    """``value`` (a number, or a per-sample tensor) as a tensor that broadcasts with ``like``."""
    return value if isinstance(value, torch.Tensor) else torch.tensor(value, dtype=like.dtype, device=like.device)


def _nearest(labels: torch.Tensor, px, py, pz, outside, fill) -> torch.Tensor:
    """Labels of voxel floor(p) of every plane, one index for all; ``fill`` at ``outside``."""
    b, (depth, height, width) = labels.shape[0], labels.shape[-3:]
    planes = labels.shape[1] if labels.dim() == 5 else 1
    out_shape = labels.shape[:-3] + tuple(px.shape[1:])
    if b == 0:
        return labels.new_empty(out_shape)
    dtype = torch.int32 if labels.numel() < 2**31 else torch.int64
    flat = pz.floor().to(dtype).mul_(height).add_(py.floor().to(dtype)).mul_(width).add_(px.floor().to(dtype))
    base = torch.arange(b * planes, device=labels.device, dtype=dtype).mul_(depth * height * width)
    index = flat.view(b, 1, -1) + base.view(b, planes, 1)
    out = labels.reshape(-1).index_select(0, index.view(-1)).view(b, planes, -1)
    out.masked_fill_(outside.view(b, 1, -1), fill)
    return out.view(out_shape)


def _trilinear_gather(volumes: torch.Tensor, px, py, pz, outside, fill: tuple[float, ...], extents) -> torch.Tensor:
    """Trilinear samples as the kernels take them: eight explicit gathers, each axis's second
    tap clamped to the sample's own extent (``extents``: per-sample W, H, D), so a padded
    stack is never read past a sample (its padding may hold anything, NaN included)."""
    b, c, depth, height, width = volumes.shape
    flat = volumes.reshape(b, c, -1)
    taps = []
    for s, e in zip((px, py, pz), extents, strict=True):
        i = s - 0.5
        low = torch.floor(i)
        first = low.long()
        taps.append((first, torch.minimum(first + 1, (e - 1).long()), i - low))
    (x0, x1, wx), (y0, y1, wy), (z0, z1, wz) = taps

    def line(z, y):
        row = (z * height + y) * width
        v0, v1 = (flat.gather(2, (row + x).view(b, 1, -1).expand(b, c, -1)).float() for x in (x0, x1))
        return v0 * (1.0 - wx).view(b, 1, -1) + v1 * wx.view(b, 1, -1)

    wy, wz = wy.view(b, 1, -1), wz.view(b, 1, -1)
    front = line(z0, y0) * (1.0 - wy) + line(z0, y1) * wy
    back = line(z1, y0) * (1.0 - wy) + line(z1, y1) * wy
    fills = channel_values(fill, c, volumes.device).view(1, c, 1)
    out = torch.where(outside.view(b, 1, -1), fills, front * (1.0 - wz) + back * wz)
    return out.view(b, c, *px.shape[1:])


def _trilinear(volumes: torch.Tensor, px, py, pz, outside, fill: tuple[float, ...]) -> torch.Tensor:
    """Trilinear samples (float32 B×C×d×h×w) at p − 0.5, the taps clamped to the volume (the
    clamped points keep every tap of weight > 0 inside; ``grid_sample``'s zeros padding
    reads the others), ``fill`` at ``outside``."""
    b, c, depth, height, width = volumes.shape
    if b == 0:
        return torch.empty((0, c, *px.shape[1:]), dtype=torch.float32, device=volumes.device)
    grid = torch.stack(
        [s.mul(2.0 / e).sub_(1.0) for s, e in ((px, width), (py, height), (pz, depth))], dim=-1
    ).masked_fill_(outside.unsqueeze(-1), -4.0)  # far outside: every tap reads 0
    src = volumes.float()
    fill_c = channel_values(fill, c, volumes.device).view(1, c, 1, 1, 1)
    if any(fill):
        src = src - fill_c
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return (out.add_(fill_c) if any(fill) else out).contiguous()
