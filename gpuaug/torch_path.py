"""The torch path of the warps: source coordinates once, then every map from them.

Images through ``grid_sample`` (a variable-size batch from a padded float copy), labels
through one ``index_select``; a variable-size batch's labels, slot maps and the compiled
path (:mod:`gpuaug.inductor`) through explicit gathers that read the extent table and the
views. The coordinate contract is docs/design.md's, evaluated in the kernels' float32
order, so masks are bit-identical to the Triton kernels' and the reference's.
:mod:`gpuaug.functional` dispatches here.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
import torch.nn.functional as F

from gpuaug.core.device import channel_values
from gpuaug.core.planes import Planes, per_plane
from gpuaug.core.ragged import Ragged
from gpuaug.core.views import Views, rows_of, view_coords
from gpuaug.core.words import word_channel

__all__ = ["TILE", "warp_torch", "untile", "source_coords", "inside", "reflect"]

#: Side of the compiled path's square output tiles (:func:`warp_torch` with ``tiled``).
TILE = 16


def untile(tiled: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
    """A map of the tiled layout (``…×ny×nx×T×T``, :data:`TILE`) as ``…×h×w``, contiguous."""
    h, w = out_size
    ny, nx, ty, tx = tiled.shape[-4:]
    out = tiled.transpose(-3, -2).reshape(tiled.shape[:-4] + (ny * ty, nx * tx))
    return out[..., :h, :w].contiguous()


def warp_torch(
    images: torch.Tensor | None,
    planes: list[Planes],
    matrix: torch.Tensor,
    out_size: tuple[int, int],
    fill: tuple[float, ...],
    perspective: bool,
    image_padding: str,
    tiled: bool = False,
    views: Views | None = None,
    interleaved: int = 0,
) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
    """The torch path: source coordinates once, then every map from them. Images go through
    ``grid_sample`` (a variable-size batch from a padded float copy of each sample's window,
    :func:`_grid_source`), labels through one ``index_select`` (a variable-size batch's by
    :func:`_nearest_gather`, which reads its extent table; on the CPU
    :mod:`gpuaug.torch_axes` takes axis-aligned samples first). With ``views`` (each
    pixel reads its own source sample): one view per sample moves the source samples into
    place and takes the plain path; a slot map warps a stacked batch's images and dense maps
    slot by slot (:func:`_warp_torch_by_slot`) and gathers labels, and a variable-size
    batch's every map, by :func:`_nearest_gather` and :func:`_bilinear_gather`. ``tiled``:
    the compiled path's layout (:mod:`gpuaug.inductor`), every map by the explicit gathers in
    ``…×ny×nx×T×T`` tiles of :data:`TILE` pixels (:func:`untile`): a tile's gathers stay close.
    ``interleaved``: ``images`` are uint8 of that many channels in int32 words (explicit gathers)."""
    source = images if images is not None else planes[0].tensor
    ragged = isinstance(source, Ragged)
    resampled = images is not None or any(p.bilinear for p in planes)
    if views is not None and views.select is not None and not ragged and resampled:
        return _warp_torch_by_slot(images, planes, matrix, out_size, fill, perspective, image_padding, views)
    sample = None
    if views is None:
        sx, sy, hw = source_coords(matrix, out_size, perspective, TILE if tiled else None)
    else:
        sx, sy, hw, sample = view_coords(views, matrix, out_size, perspective)
    if views is not None and views.select is None and not ragged:
        images, planes = _moved_to_views(images, planes, views)
        views = sample = None
    height, width = _extents(source, sx.dim(), sample)
    gather = tiled or views is not None  # explicit gathers for images too
    labels_by_gather = gather or ragged
    in_image = inside((sx, sy), (width, height), hw)
    sx, sy, valid = _padded_points(sx, sy, hw, height, width, image_padding if images is not None else None, planes)
    points: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def point(padding: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # Clamp to the edge pixels' centres (floor(s) of inside points unchanged, bilinear taps
        # kept in the image); park outside points (NaN included, so gathers read a valid
        # index): far away for grid_sample, at the first pixel for the explicit gathers, which
        # mask them (and which _grid_source parks far away again for grid_sample).
        key = "constant" if padding == "constant" else "padded"
        if key not in points:
            outside = (in_image if key == "constant" else valid).logical_not()
            if labels_by_gather:
                px = sx.clamp(min=0.5).clamp_(max=width - 0.5).masked_fill_(outside, 0.5)
                py = sy.clamp(min=0.5).clamp_(max=height - 0.5).masked_fill_(outside, 0.5)
            else:
                px = sx.clamp(0.5, width - 0.5).masked_fill_(outside, -2.0 * width)
                py = sy.clamp(0.5, height - 0.5).masked_fill_(outside, -2.0 * height)
            points[key] = (px, py, outside)
        return points[key]

    windows = None if gather or not resampled else _windows(source, matrix, out_size, perspective, image_padding)

    def bilinear(source: torch.Tensor | Ragged, padding: str, fills: tuple[float, ...], words: int = 0) -> torch.Tensor:
        px, py, outside = point(padding)
        if gather or words:  # words (gpuaug.core.words) only through the explicit gathers
            return _bilinear_gather(source, px, py, outside, fills, sample, words)
        return _bilinear_torch(*_grid_source(source, px, py, outside, windows), fills)

    outs = []
    for p in planes:
        if p.bilinear:
            out = bilinear(p.tensor, p.padding, tuple(float(v) for v in p.fill)).to(p.tensor.dtype)
        elif labels_by_gather:
            out = _nearest_gather(p.tensor, *point(p.padding), p.fill[0], sample)
        else:
            out = _nearest_torch(p.tensor, *point(p.padding), p.fill[0])
        outs.append(out)
    out_images = None if images is None else bilinear(images, image_padding, fill, interleaved)
    return out_images, outs


def _extents(source: torch.Tensor | Ragged, dims: int, sample: torch.Tensor | None) -> tuple:
    """The source's (height, width): ints for a stacked batch; for a :class:`Ragged` one,
    per-sample float tensors B×1×… of ``dims`` dimensions, or B×h×w read through each
    pixel's source ``sample``."""
    if not isinstance(source, Ragged):
        return source.shape[-2:]
    rows = source.table.view(-1, *[1] * (dims - 1), 5) if sample is None else rows_of(source.table, sample)
    return rows[..., 3].float(), rows[..., 4].float()


def _moved_to_views(images: torch.Tensor | None, planes: list[Planes], views: Views) -> tuple:
    """One view per output sample: its source sample's maps moved to its place, so that the
    plain path (grid_sample for images) reads them with no per-pixel sample."""
    if views.sample is None:
        return images, planes
    order = views.sample.long()
    images = None if images is None else images.index_select(0, order)
    return images, [replace(p, tensor=p.tensor.index_select(0, order)) for p in planes]


def _padded_points(sx, sy, hw, height, width, image_padding: str | None, planes: list[Planes]) -> tuple:
    """``(sx, sy, valid)``: with a padding mode other than "constant" (one for all maps), the
    points in front of the camera (``valid``) and, for "reflect", the points reflected into
    the image; else the points as they are and ``valid`` None."""
    padded = {image_padding or "constant"} | {p.padding for p in planes}
    padded -= {"constant"}
    if len(padded) > 1:
        raise ValueError(f"image_padding, mask_padding: expected one padding mode, got {sorted(padded)}")
    if not padded:
        return sx, sy, None
    valid = torch.isfinite(sx).logical_and_(torch.isfinite(sy))
    if hw is not None:
        valid.logical_and_(hw > 0)
    if padded == {"reflect"}:
        sx, sy = reflect(sx, width), reflect(sy, height)
    return sx, sy, valid


def _warp_torch_by_slot(images, planes, matrix, out_size, fill, perspective, image_padding, views: Views):
    """:func:`warp_torch` through a slot map on a stacked batch: images and dense maps warped
    whole once per slot (``grid_sample`` on the slot's source samples, faster on the CPU
    than four per-pixel gathers) and selected per pixel; labels gathered per pixel."""
    bilinear = [i for i, p in enumerate(planes) if p.bilinear]
    gathered = [i for i, p in enumerate(planes) if not p.bilinear]
    slots = [
        warp_torch(
            images,
            [planes[i] for i in bilinear],
            matrix,
            out_size,
            fill,
            perspective,
            image_padding,
            views=views.slot(k),
        )
        for k in range(views.slots)
    ]

    def pick(outs: list[torch.Tensor]) -> torch.Tensor:
        out = outs[0]
        for k, other in enumerate(outs[1:], start=1):
            chosen = (views.select == k).view(out.shape[0], *[1] * (out.dim() - 3), *out.shape[-2:])
            out = torch.where(chosen, other, out)
        return out

    out_images = None if images is None else pick([s[0] for s in slots])
    outs: list = [None] * len(planes)
    for j, i in enumerate(bilinear):
        outs[i] = pick([s[1][j] for s in slots])
    if gathered:
        labels = warp_torch(
            None, [planes[i] for i in gathered], matrix, out_size, fill, perspective, image_padding, views=views
        )[1]
        for i, out in zip(gathered, labels, strict=True):
            outs[i] = out
    return out_images, outs


def source_coords(
    matrix: torch.Tensor, out_size: tuple[int, int], perspective: bool, tile: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Source coordinates (B×h×w float32) of every output pixel centre, in the contract's order.

    Returns ``(sx, sy, w)``; ``w`` is None without perspective. Built from 1-D bases, so no
    B×h×w×3 grid is materialised. With ``tile`` they come as B×ny×nx×tile×tile: tile (i, j)
    holds rows i·tile… and columns j·tile…, the output padded up to whole tiles.
    """
    h, w = out_size
    if tile is None:
        shape_x, shape_y, n_x, n_y = (1, 1, w), (1, h, 1), w, h
    else:
        ny, nx = -(-h // tile), -(-w // tile)
        shape_x, shape_y, n_x, n_y = (1, 1, nx, 1, tile), (1, ny, 1, tile, 1), nx * tile, ny * tile
    x = torch.arange(n_x, device=matrix.device, dtype=torch.float32).add_(0.5).view(shape_x)
    y = torch.arange(n_y, device=matrix.device, dtype=torch.float32).add_(0.5).view(shape_y)
    m = matrix.reshape(-1, 9, *[1] * (len(shape_x) - 1))

    def row(k: int) -> torch.Tensor:
        return torch.add(m[:, 3 * k] * x, m[:, 3 * k + 1] * y).add_(m[:, 3 * k + 2])

    sx, sy = row(0), row(1)
    if not perspective:
        return sx, sy, None
    hw = row(2)
    return sx.div_(hw), sy.div_(hw), hw


def reflect(s: torch.Tensor, extent) -> torch.Tensor:
    """Coordinates reflected about 0 and ``extent`` into [0, extent], in the kernels' float32 steps."""
    period = 2.0 * extent
    t = s - torch.floor(s / period) * period
    return torch.where(t < extent, t, period - t)


def inside(points, extents, hw: torch.Tensor | None = None) -> torch.Tensor:
    """Where source points lie in the source: each coordinate of ``points`` (x, y[, z]) in
    [0, extent) of its axis (``extents`` in the same order), so finite, and w > 0 with a
    perspective row ``hw`` (NaN compares False)."""
    out = None
    for s, extent in zip(points, extents, strict=True):
        axis = (s >= 0).logical_and_(s < extent)
        out = axis if out is None else out.logical_and_(axis)
    return out if hw is None else out.logical_and_(hw > 0)


def _nearest_torch(
    masks: torch.Tensor, sx: torch.Tensor, sy: torch.Tensor, outside: torch.Tensor, fill: int | float
) -> torch.Tensor:
    """Values of source pixels floor(s) of every plane, gathered with one index; ``fill`` at
    ``outside`` points.

    ``masks`` is B×H×W or B×K×H×W; ``sx``, ``sy`` are the clamped coordinates of
    :func:`warp_all`: valid indices everywhere.
    """
    b, height, width = masks.shape[0], masks.shape[-2], masks.shape[-1]
    planes = masks.shape[1] if masks.dim() == 4 else 1
    out_shape = masks.shape[:-2] + tuple(sx.shape[-2:])
    if b == 0:
        return masks.new_empty(out_shape)
    index_dtype = torch.int32 if b * planes * height * width < 2**31 else torch.int64
    ix = sx.floor().clamp_(min=0).to(index_dtype)
    iy = sy.floor().clamp_(min=0).to(index_dtype)
    flat = iy.mul_(width).add_(ix).view(b, 1, -1)
    # Plane (b, k) starts at (b·K + k)·H·W in the flattened source.
    base = torch.arange(b * planes, device=masks.device, dtype=index_dtype).mul_(height * width)
    flat = flat + base.view(b, planes, 1)
    labels = masks.reshape(-1).index_select(0, flat.view(-1)).view(b, planes, -1)
    labels.masked_fill_(outside.view(b, 1, -1), fill)
    return labels.view(out_shape)


def _gatherer(source: torch.Tensor | Ragged, sample: torch.Tensor | None = None, dims: int = 3):
    """How the explicit gathers read ``source`` (a :class:`Ragged` batch, or a stacked
    B×H×W / B×K×H×W tensor): ``(gather, row stride, height, width, index dtype)``, where
    ``gather(pixel)`` reads every plane at in-sample offsets ``pixel`` (B×…, ``dims``
    dimensions: B×h×w, or the compiled path's B×ny×nx×T×T tiles) into a list of K maps
    shaped as ``pixel``, and the extents are B×1×… tensors of ``dims`` dimensions (per
    sample) or ints. With ``sample`` (B×h×w, the source sample of each pixel,
    :mod:`gpuaug.core.views`) each pixel reads its own sample, and a Ragged batch's extents come
    per pixel."""
    if sample is not None and isinstance(source, Ragged):
        start, plane, row_stride, height, width = rows_of(source.table, sample).unbind(-1)  # each B×h×w
        offsets = torch.arange(source.planes, device=sample.device).view(1, -1, 1, 1) * plane.unsqueeze(1)

        def gather(pixel: torch.Tensor) -> list[torch.Tensor]:
            out = rows_of(source.data.reshape(-1), (start + pixel).unsqueeze(1) + offsets)
            return [out[:, k] for k in range(source.planes)]

        return gather, row_stride, height, width, torch.int64
    if sample is not None:  # a stacked batch: one 1-D index_select per plane (the fastest gather on the CPU)
        b, height, width = source.shape[0], source.shape[-2], source.shape[-1]
        planes = source.shape[1] if source.dim() == 4 else 1
        dtype = torch.int32 if source.numel() < 2**31 else torch.int64
        flat = source.reshape(-1)
        start = sample.to(dtype) * (planes * height * width)

        def gather(pixel: torch.Tensor) -> list[torch.Tensor]:
            index = start + pixel
            return [rows_of(flat, index + k * height * width) for k in range(planes)]

        return gather, width, height, width, dtype
    if isinstance(source, Ragged):
        dtype = torch.int32 if source.data.numel() < 2**31 else torch.int64
        table = source.table.to(dtype).view(-1, 5, *[1] * (dims - 1))

        def gather(pixel: torch.Tensor) -> list[torch.Tensor]:
            b = pixel.shape[0]
            planes = torch.arange(source.planes, device=pixel.device, dtype=dtype).view(1, -1, 1)
            index = (pixel + table[:, 0]).view(b, 1, -1) + planes * table[:, 1].reshape(b, 1, 1)
            out = source.data.reshape(-1).index_select(0, index.view(-1)).view(b, source.planes, *pixel.shape[1:])
            return [out[:, k] for k in range(source.planes)]

        return gather, table[:, 2], table[:, 3], table[:, 4], dtype
    b, height, width = source.shape[0], source.shape[-2], source.shape[-1]
    flat = source.reshape(b, -1, height * width)

    def gather(pixel: torch.Tensor) -> list[torch.Tensor]:
        # One gather per plane: combined per plane and stacked last, the planes of a pixel
        # share its coordinates in one compiled loop.
        index = pixel.reshape(b, -1)
        return [flat[:, k].gather(1, index).view(pixel.shape) for k in range(flat.shape[1])]

    return gather, width, height, width, torch.int64


def _nearest_gather(
    source: torch.Tensor | Ragged,
    px: torch.Tensor,
    py: torch.Tensor,
    outside: torch.Tensor,
    fill: int | float,
    sample: torch.Tensor | None = None,
) -> torch.Tensor:
    """Labels of floor(p) of every plane (B×K×h×w; a stacked batch keeps its layout; ``h×w``
    stands for the shape of ``px`` past the batch); ``fill`` at ``outside``; ``sample``: see
    :func:`_gatherer`."""
    gather, row_stride, _, _, dtype = _gatherer(source, sample, px.dim())
    pixel = py.floor().to(dtype).mul_(row_stride).add_(px.floor().to(dtype))
    out = torch.stack([plane.masked_fill_(outside, fill) for plane in gather(pixel)], 1)
    if isinstance(source, Ragged):
        return out
    return out.view(source.shape[:-2] + tuple(px.shape[1:]))


def _grid_source(
    source: torch.Tensor | Ragged,
    px: torch.Tensor,
    py: torch.Tensor,
    outside: torch.Tensor,
    windows: list[tuple[int, int, int, int]] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(images, px, py)`` for :func:`_bilinear_torch`: a variable-size batch as a padded
    float32 copy (:func:`_padded_float`) of each sample's window (``windows``, or the whole
    sample), the points moved to the window's origin (exact: integer shifts of coordinates
    below 2^23) and the outside ones parked far away. The clamps keep every tap of an inside
    point within its sample, but for the second tap at weight 0, which reads the zero margin."""
    if not isinstance(source, Ragged):
        return source, px, py
    if windows is None:
        windows = [(0, h, 0, w) for h, w in source.sizes]
    padded = _padded_float(source, windows)
    height, width = padded.shape[-2:]
    if any(y0 or x0 for y0, _, x0, _ in windows):
        origin = torch.tensor([(x0, y0) for y0, _, x0, _ in windows], dtype=torch.float32).view(-1, 2, 1, 1)
        px, py = px - origin[:, 0], py - origin[:, 1]
    return padded, px.masked_fill(outside, -2.0 * width), py.masked_fill(outside, -2.0 * height)


def _windows(
    source: torch.Tensor | Ragged, matrix: torch.Tensor, out_size: tuple[int, int], perspective: bool, padding: str
) -> list[tuple[int, int, int, int]] | None:
    """Each sample's rows [y0, y1) and columns [x0, x1) that an affine warp's clamped points
    and their bilinear taps read, for a list (a Ragged batch) on the CPU (else None: whole
    samples; a stacked batch is read where it lies): the output canvas's corner pixel
    centres mapped in float64 (an affine map's extremes on a rectangle are at its corners),
    widened by a pixel either way for the float32 evaluation, then kept inside the sample
    (clamped points lie in it; reflected ones may lie anywhere, so "reflect" reads whole
    samples)."""
    if not isinstance(source, Ragged) or source.device.type != "cpu" or perspective or padding == "reflect":
        return None
    h, w = out_size
    corners = torch.tensor([[0.5, 0.5], [w - 0.5, 0.5], [0.5, h - 0.5], [w - 0.5, h - 0.5]], dtype=torch.float64)
    m = matrix.double()
    mapped = corners @ m[:, :2, :2].transpose(1, 2) + m[:, None, :2, 2]  # B×4×2 (x, y)
    low, high = mapped.amin(dim=1).tolist(), mapped.amax(dim=1).tolist()
    windows = []
    for (height, width), (lx, ly), (hx, hy) in zip(source.sizes, low, high, strict=True):
        if not all(math.isfinite(v) for v in (lx, ly, hx, hy)):
            windows.append((0, height, 0, width))
            continue
        x0, x1 = (min(max(math.floor(v - 0.5) + d, 0), width - 1) for v, d in ((lx, -1), (hx, 2)))
        y0, y1 = (min(max(math.floor(v - 0.5) + d, 0), height - 1) for v, d in ((ly, -1), (hy, 2)))
        windows.append((y0, y1 + 1, x0, x1 + 1))
    return windows


def _padded_float(source: Ragged, windows: list[tuple[int, int, int, int]]) -> torch.Tensor:
    """Each sample's window [y0, y1) × [x0, x1) as float32 (uint8 ÷ 255) in one B×K×H×W
    tensor of the largest window's size, top-left aligned.

    Only what ``grid_sample`` reads of a clamped point is written: each window's pixels, and
    the zero margin one pixel right of and below it, where a tap of weight 0 falls (finite:
    0 · NaN would be NaN); the rest is left unset. A list of mixed sizes pads to several
    times its pixels, and a crop reads a part of each, so this converts and writes only the
    windows' own bytes.
    """
    height, width = (max(v) for v in zip(*((y1 - y0, x1 - x0) for y0, y1, x0, x1 in windows), strict=True))
    out = torch.empty((source.batch, source.planes, height, width), dtype=torch.float32, device=source.device)
    for k, (sample, (y0, y1, x0, x1)) in enumerate(zip(source.samples, windows, strict=True)):
        h, w = y1 - y0, x1 - x0
        region = out[k, :, :h, :w].copy_(sample[:, y0:y1, x0:x1])
        if sample.dtype == torch.uint8:
            region.mul_(1.0 / 255.0)
        out[k, :, : h + 1, w : w + 1] = 0.0
        out[k, :, h : h + 1, : w + 1] = 0.0
    return out


def _bilinear_gather(
    source: torch.Tensor | Ragged,
    px: torch.Tensor,
    py: torch.Tensor,
    outside: torch.Tensor,
    fill: tuple[float, ...],
    sample: torch.Tensor | None = None,
    words: int = 0,
) -> torch.Tensor:
    """Bilinear sample (float32 B×C×h×w, ``h×w`` as in :func:`_nearest_gather`) at p − 0.5 by
    four explicit gathers, the taps as the kernels take them (``kernels.common.bilinear_taps``);
    ``fill`` at ``outside``; ``sample``: see :func:`_gatherer`. Each plane is combined on its
    own and the planes stacked last, so that a compiled loop reads a pixel's coordinates once.
    ``words``: ``source`` holds uint8 images of that many channels as one plane of int32
    words (:mod:`gpuaug.core.words`), so each tap is one gather and its channels its bytes."""
    gather, row_stride, height, width, dtype = _gatherer(source, sample, px.dim())
    planes = source.planes if isinstance(source, Ragged) else (source.shape[1] if source.dim() == 4 else 1)
    planes = words or planes
    uint8 = words > 0 or source.dtype == torch.uint8
    ix, iy = px - 0.5, py - 0.5
    x0f, y0f = ix.floor(), iy.floor()
    wx, wy = ix - x0f, iy - y0f
    x0, y0 = x0f.to(dtype), y0f.to(dtype)
    x1 = torch.clamp(x0 + 1, max=width - 1)
    row0 = y0 * row_stride
    row1 = torch.clamp(y0 + 1, max=height - 1) * row_stride

    def tap(row: torch.Tensor, col: torch.Tensor) -> list[torch.Tensor]:
        values = gather(row + col)
        if words:
            values = [word_channel(values[0], k) for k in range(words)]
        values = [value.float() for value in values]
        return [value.mul_(1.0 / 255.0) for value in values] if uint8 else values

    ux, uy = 1.0 - wx, 1.0 - wy
    taps = zip(tap(row0, x0), tap(row0, x1), tap(row1, x0), tap(row1, x1), per_plane(fill, planes), strict=True)
    outs = []
    for top_left, top_right, bottom_left, bottom_right, value in taps:
        top = top_left.mul_(ux).add_(top_right.mul_(wx))
        bottom = bottom_left.mul_(ux).add_(bottom_right.mul_(wx))
        outs.append(top.mul_(uy).add_(bottom.mul_(wy)).masked_fill_(outside, value))
    return torch.stack(outs, 1)


def _bilinear_torch(images: torch.Tensor, sx: torch.Tensor, sy: torch.Tensor, fill: tuple[float, ...]) -> torch.Tensor:
    """Bilinear sample (float32) at s − 0.5 (``sx``, ``sy`` as clamped and parked by
    :func:`warp_all`); ``fill`` at the parked points."""
    b, c, height, width = images.shape
    h, w = sx.shape[-2:]
    if b == 0:
        return torch.empty((0, c, h, w), dtype=torch.float32, device=images.device)
    # grid_sample (align_corners=False) reads g = 2·s/W − 1; parked points are so far outside
    # that zeros padding reads 0 from every tap, and the fill is added back by shifting the image.
    grid = torch.stack((sx.mul(2.0 / width).sub_(1.0), sy.mul(2.0 / height).sub_(1.0)), dim=-1)
    src = images.float()
    if images.dtype == torch.uint8:
        src = src.mul_(1.0 / 255.0)
    if not any(fill):
        return F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False).contiguous()
    fill_c = channel_values(fill, c, images.device).view(1, c, 1, 1)
    out = F.grid_sample(src - fill_c, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.add_(fill_c).contiguous()
