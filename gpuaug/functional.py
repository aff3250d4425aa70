"""Stateless warps, and the matrix builders (defined in :mod:`gpuaug.core.matrices`).

Coordinate convention (docs/design.md): pixel (i, j) covers [j, j+1) × [i, i+1) and has centre
(j + 0.5, i + 0.5). A warp matrix ``M`` (B×3×3 float32) maps an *output* pixel centre to a
*source* continuous coordinate ``s = M·(j + 0.5, i + 0.5, 1)`` with a homogeneous divide.

- Masks take the label of source pixel ``floor(s)``; a source outside [0, W)×[0, H),
  non-finite, or with ``w <= 0`` gives the fill (ignore) value.
- Images take ``fill`` at the same outside points; inside points are sampled bilinearly at
  ``s − 0.5`` in index space (``align_corners=False``) with the taps clamped to the image
  (edge replicate, as ``F.interpolate`` does), so no inside point reads ``fill`` and image
  content ends exactly where mask labels do.

The source coordinate is evaluated in one float32 order everywhere (torch path, Triton
kernels, :mod:`gpuaug.reference`): ``sx = (m00·x + m01·y) + m02`` (likewise ``sy``, ``w``),
then ``sx / w``, ``sy / w`` when the matrix has a perspective row, then ``floor``. So masks
are bit-identical across backends.

All matrix builders return float64 B×3×3 output→source matrices on the device of their
inputs, built from per-sample tensors without host synchronisation. Chains are composed in
float64 and cast to float32 once, so no TF32 matmul setting can touch them; the warps take
any floating matrix and use it in float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
import torch.nn.functional as F

from gpuaug import backends
from gpuaug._checks import (
    PADDING_MODES,
    check_choice,
    check_fill,
    check_ignore_index,
    check_images,
    check_masks,
    check_matrix,
    check_size,
)
from gpuaug.core.device import channel_values, to_device
from gpuaug.core.matrices import affine_matrix, identity_matrix, perspective_matrix, scale_translate_matrix
from gpuaug.core.planes import Planes
from gpuaug.core.ragged import Ragged
from gpuaug.core.views import Views, rows_of, view_coords

__all__ = [
    "warp_image",
    "warp_mask",
    "identity_matrix",
    "scale_translate_matrix",
    "affine_matrix",
    "perspective_matrix",
]


def warp_image(
    images: torch.Tensor,
    matrix: torch.Tensor,
    out_size: int | tuple[int, int],
    fill: float | Sequence[float] = 0.0,
    backend: str = "auto",
    *,
    perspective: bool = True,
    padding_mode: str = "constant",
) -> torch.Tensor:
    """Resample images bilinearly through per-sample output→source matrices.

    Args:
        images: B×C×H×W, uint8 (read as [0, 1]) or float16/bfloat16/float32/float64; any
            memory format. Never modified.
        matrix: B×3×3 floating matrices on the images' device, output pixel centre → source
            coordinate (see the module docstring); used in float32.
        out_size: output (h, w), or an int for a square output.
        fill: value in the output scale of output pixels whose source point is outside the
            image (the masks' ignore pixels): a float or one value per channel.
        backend: "auto" (Triton on CUDA, torch elsewhere), "triton", "torch" or "inductor"
            (the torch path compiled once per static configuration, :mod:`gpuaug.inductor`).
        perspective: divide by the homogeneous coordinate. Passing False for a matrix whose
            last row is (0, 0, 1) skips a division that would be exact anyway.
        padding_mode: "constant" (outside points take ``fill``), "replicate" (they read the
            nearest edge pixel) or "reflect" (the point reflected about the image border,
            as ``grid_sample``'s "reflection"); then only points behind the camera or
            non-finite take ``fill``.

    Returns:
        Contiguous float32 tensor B×C×h×w.
    """
    b, c, _, _ = check_images(images)
    mat = check_matrix(matrix, b, images.device)
    size = check_size(out_size, "out_size")
    check_choice(padding_mode, PADDING_MODES, "padding_mode")
    fill = check_fill(fill, c)
    return warp_all(images, None, (), mat, size, fill, 0, backend, perspective, image_padding=padding_mode)[0]


def warp_mask(
    masks: torch.Tensor,
    matrix: torch.Tensor,
    out_size: int | tuple[int, int],
    fill: int = 255,
    backend: str = "auto",
    *,
    perspective: bool = True,
    padding_mode: str = "constant",
) -> torch.Tensor:
    """Resample integer label masks with nearest-neighbour gather through per-sample matrices.

    Labels are moved, never interpolated or cast: the output has the dtype and layout of the
    input. Pixels whose source falls outside the image get ``fill``.

    Args:
        masks: B×H×W or B×1×H×W of uint8, int8, int16, int32 or int64. Never modified.
        matrix: B×3×3 floating matrices on the masks' device, output→source; used in float32.
        out_size: output (h, w), or an int for a square output.
        fill: the ignore value written outside the source; must fit the mask dtype.
        backend: "auto" (Triton on CUDA, torch elsewhere), "triton", "torch" or "inductor"
            (the torch path compiled once per static configuration, :mod:`gpuaug.inductor`).
        perspective: divide by the homogeneous coordinate (see :func:`warp_image`).
        padding_mode: "constant" (outside points get ``fill``), or "replicate" / "reflect":
            they take the label of the same padded point as :func:`warp_image` reads, and
            only points behind the camera or non-finite get ``fill``.

    Returns:
        Contiguous tensor B×h×w or B×1×h×w, same dtype as ``masks``.
    """
    b, _, _ = check_masks(masks)
    mat = check_matrix(matrix, b, masks.device)
    size = check_size(out_size, "out_size")
    check_ignore_index(fill, masks.dtype, "fill")
    check_choice(padding_mode, PADDING_MODES, "padding_mode")
    return warp_all(None, masks, (), mat, size, (0.0,), fill, backend, perspective, mask_padding=padding_mode)[1]


def warp_all(
    images: torch.Tensor | Ragged | None,
    masks: torch.Tensor | Ragged | None,
    targets: Sequence[Planes],
    matrix: torch.Tensor,
    out_size: tuple[int, int],
    fill: tuple[float, ...],
    ignore_index: int,
    backend: str,
    perspective: bool,
    *,
    image_padding: str = "constant",
    mask_padding: str = "constant",
    views: Views | None = None,
) -> tuple[torch.Tensor | None, torch.Tensor | None, list[torch.Tensor]]:
    """Warp images, masks and ``targets`` of one batch through one float32 matrix; inputs already checked.

    Returns ``(images, masks, targets)``. ``image_padding`` / ``mask_padding`` are padding
    modes (:data:`PADDING_MODES`); when both are not "constant" they must be the same
    (masks then read the image's point). Images and masks may be :class:`Ragged` batches
    (samples of different sizes, each read within its own extent); masks then come back
    B×1×h×w.

    On Triton, the masks and the gathered targets of one dtype (and padding) are one
    :func:`gather_nearest` launch over all their planes, the bilinear targets of one dtype
    one :func:`warp_bilinear` launch. On the torch path the source coordinates are computed
    once for the whole call. All non-"constant" paddings must be one mode. ``views`` (a
    :class:`gpuaug.core.views.Views`) gives each output pixel its own source sample and
    coordinate (the canvas ops); the compiled path then runs eagerly.
    """
    planes = list(targets)
    if masks is not None:
        planes.insert(0, Planes(masks, (ignore_index,), False, mask_padding))
    device = matrix.device
    resolved = backends.resolve(backend, device)
    if resolved == "triton":
        out_images = None
        if images is not None:
            from gpuaug.kernels.warp_bilinear import warp_bilinear

            channels = images.planes if isinstance(images, Ragged) else images.shape[1]
            fill_values = channel_values(fill, channels, images.device)
            padding = PADDING_MODES.index(image_padding)
            out_images = warp_bilinear(images, matrix, out_size, fill_values, perspective, padding, views=views)
        outs = _warp_planes_triton(planes, matrix, out_size, perspective, views)
    elif resolved == "inductor" and views is None and compilable(images, *(p.tensor for p in planes)):
        out_images, outs = warp_compiled(images, planes, matrix, out_size, fill, perspective, image_padding)
    else:
        out_images, outs = _warp_torch(images, planes, matrix, out_size, fill, perspective, image_padding, views=views)
    out_masks = outs.pop(0) if masks is not None else None
    return out_images, out_masks, outs


def compilable(*tensors: torch.Tensor | Ragged | None) -> bool:
    """Whether the compiled path takes these sources: non-empty batches, stacked or
    :class:`Ragged` (an empty batch runs eagerly)."""
    present = [t for t in tensors if t is not None]
    return bool(present) and not any((t.batch if isinstance(t, Ragged) else t.shape[0]) == 0 for t in present)


def warp_plan(planes: Sequence[Planes]) -> tuple:
    """The static part of ``planes`` (fill, interpolation, padding of each), for a compile key."""
    return tuple((p.fill, p.bilinear, p.padding) for p in planes)


def warp_compiled(
    images: torch.Tensor | None,
    planes: list[Planes],
    matrix: torch.Tensor,
    out_size: tuple[int, int],
    fill: tuple[float, ...],
    perspective: bool,
    image_padding: str,
) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
    """:func:`_warp_torch` (explicit gathers over :data:`TILE` × :data:`TILE` output tiles,
    copied to ``…×h×w``) compiled by inductor for this static configuration; where
    :func:`gpuaug.inductor.run` does not compile (another batch size, a failed compile),
    the plain torch path instead (``grid_sample``, ``index_select``: faster eagerly).

    A :class:`Ragged` source enters the compiled function as its flat storage and its extent
    table, the storage's length marked dynamic: a batch of new sample sizes (or a padded
    batch of another padded size) reuses the compiled code.
    """
    from gpuaug import inductor

    plan = warp_plan(planes)
    sources = [images, *(p.tensor for p in planes)]
    layout = tuple(s.planes if isinstance(s, Ragged) else None for s in sources)
    tensors = [t for s in sources for t in _compiled_args(s)]
    config = ("warp", inductor.signature(matrix, *tensors), layout, out_size, fill, perspective, image_padding, plan)

    def warp(matrix, *tensors):
        parts = iter(tensors)
        images, *maps = [_from_compiled_args(parts, k) for k in layout]
        rebuilt = [Planes(t, *static) for t, static in zip(maps, plan, strict=True)]
        out_images, outs = _warp_torch(images, rebuilt, matrix, out_size, fill, perspective, image_padding, tiled=True)
        return None if out_images is None else _untile(out_images, out_size), [_untile(t, out_size) for t in outs]

    def eager(*_):
        return _warp_torch(images, planes, matrix, out_size, fill, perspective, image_padding)

    return inductor.run(config, matrix.shape[0], warp, matrix, *tensors, eager=eager)


def _compiled_args(source: torch.Tensor | Ragged | None) -> tuple:
    """A source as the compiled warp takes it: the tensor, or a Ragged batch's flat storage
    (its length dynamic) and extent table."""
    if not isinstance(source, Ragged):
        return (source,)
    data = source.data.view(-1)  # a view for a list's packed storage too: one guard for both forms
    torch._dynamo.maybe_mark_dynamic(data, 0)
    return data, source.table


def _from_compiled_args(parts, planes: int | None) -> torch.Tensor | Ragged | None:
    """The next source of :func:`_compiled_args`' arguments ``parts`` (``planes``: a Ragged
    batch's planes, None for a tensor). A Ragged batch comes back as its storage and table
    only, without host sizes or sample views (its ``batch`` reads 0, it has no ``padded``):
    the tiled gathers read nothing else."""
    first = next(parts)
    return first if planes is None else Ragged(next(parts), planes, (), (), first)


def _untile(tiled: torch.Tensor, out_size: tuple[int, int]) -> torch.Tensor:
    """A map of the tiled layout (``…×ny×nx×T×T``, :data:`TILE`) as ``…×h×w``, contiguous."""
    h, w = out_size
    ny, nx, ty, tx = tiled.shape[-4:]
    out = tiled.transpose(-3, -2).reshape(tiled.shape[:-4] + (ny * ty, nx * tx))
    return out[..., :h, :w].contiguous()


def _warp_planes_triton(
    planes: list[Planes], matrix: torch.Tensor, out_size: tuple[int, int], perspective: bool, views: Views | None
) -> list[torch.Tensor]:
    """Every map of ``planes`` warped by the kernels: one launch per (kind, dtype, padding) group."""
    from gpuaug.kernels.gather_nearest import gather_nearest
    from gpuaug.kernels.warp_bilinear import warp_bilinear

    def launch(source, fills: tuple, count: int, bilinear: bool, dtype: torch.dtype, padding: str) -> torch.Tensor:
        mode = PADDING_MODES.index(padding)
        if bilinear:
            fill = channel_values(fills, count, matrix.device)
            return warp_bilinear(source, matrix, out_size, fill, perspective, mode, out_dtype=dtype, views=views)
        fill = to_device(torch.tensor(fills, dtype=dtype), matrix.device)
        return gather_nearest(source, matrix, out_size, fill, perspective, mode, views)

    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(planes):
        groups.setdefault((p.bilinear, p.tensor.dtype, p.padding), []).append(i)
    outs: list[torch.Tensor | None] = [None] * len(planes)
    h, w = out_size
    for (bilinear, dtype, padding), members in groups.items():
        if isinstance(planes[members[0]].tensor, Ragged):
            for i in members:  # per-sample extents differ from map to map: one launch each
                source = planes[i].tensor
                outs[i] = launch(source, planes[i].fill, source.planes, bilinear, dtype, padding)
            continue
        tensors = [planes[i].tensor for i in members]
        b, height, width = tensors[0].shape[0], tensors[0].shape[-2], tensors[0].shape[-1]
        counts = [t.shape[1] if t.dim() == 4 else 1 for t in tensors]
        fills = [v for i, k in zip(members, counts, strict=True) for v in _per_plane(planes[i].fill, k)]
        src = tensors[0] if len(tensors) == 1 else torch.cat([t.reshape(b, -1, height, width) for t in tensors], 1)
        if bilinear:
            src = src if src.dim() == 4 else src.unsqueeze(1)
        out = launch(src, tuple(fills), len(fills), bilinear, dtype, padding)
        if len(tensors) == 1:
            outs[members[0]] = out.reshape(tensors[0].shape[:-2] + (h, w))
            continue
        start = 0
        for i, t, k in zip(members, tensors, counts, strict=True):
            outs[i] = out[:, start : start + k].reshape(t.shape[:-2] + (h, w)).contiguous()
            start += k
    return outs


def _per_plane(fill: tuple, planes: int) -> tuple:
    return fill if len(fill) == planes else fill * planes


def _warp_torch(
    images: torch.Tensor | None,
    planes: list[Planes],
    matrix: torch.Tensor,
    out_size: tuple[int, int],
    fill: tuple[float, ...],
    perspective: bool,
    image_padding: str,
    tiled: bool = False,
    views: Views | None = None,
) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
    """The torch path: source coordinates once, then every map from them.

    Images go through ``grid_sample`` (a variable-size batch from a padded float copy, see
    :func:`_grid_source`), labels through one ``index_select`` (a variable-size batch's
    through the explicit gather :func:`_nearest_gather`, which reads its extent table).
    With ``views`` (each pixel reads its own source sample): one view per sample moves the
    source samples into place and takes the plain path; a slot map warps a stacked batch's
    images and dense maps slot by slot (:func:`_warp_torch_by_slot`) and gathers labels,
    and a variable-size batch's every map, by the explicit gathers :func:`_nearest_gather`
    and :func:`_bilinear_gather`. With ``tiled``, the compiled path's layout
    (:mod:`gpuaug.inductor`), every map goes through the explicit gathers and comes as
    ``…×ny×nx×T×T`` tiles of :data:`TILE` pixels (:func:`_untile` makes it ``…×h×w``),
    which inductor computes tile by tile, every plane in one loop, so that the gathers of a
    tile stay in a small source window.
    """
    source = images if images is not None else planes[0].tensor
    ragged = isinstance(source, Ragged)
    resampled = images is not None or any(p.bilinear for p in planes)
    if views is not None and views.select is not None and not ragged and resampled:
        return _warp_torch_by_slot(images, planes, matrix, out_size, fill, perspective, image_padding, views)
    sample = None
    if views is None:
        sx, sy, hw = _source_coords(matrix, out_size, perspective, TILE if tiled else None)
    else:
        sx, sy, hw, sample = view_coords(views, matrix, out_size, perspective)
    if views is not None and views.select is None and not ragged:
        images, planes = _moved_to_views(images, planes, views)
        views = sample = None
    height, width = _extents(source, sx.dim(), sample)
    gather = tiled or views is not None  # explicit gathers for images too
    labels_by_gather = gather or ragged
    in_image = _inside(sx, sy, hw, height, width)
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

    def bilinear(source: torch.Tensor | Ragged, padding: str, fills: tuple[float, ...]) -> torch.Tensor:
        px, py, outside = point(padding)
        if gather:
            return _bilinear_gather(source, px, py, outside, fills, sample)
        return _bilinear_torch(*_grid_source(source, px, py, outside), fills)

    outs = []
    for p in planes:
        if p.bilinear:
            out = bilinear(p.tensor, p.padding, tuple(float(v) for v in p.fill)).to(p.tensor.dtype)
        elif labels_by_gather:
            out = _nearest_gather(p.tensor, *point(p.padding), p.fill[0], sample)
        else:
            out = _nearest_torch(p.tensor, *point(p.padding), p.fill[0])
        outs.append(out)
    out_images = None if images is None else bilinear(images, image_padding, fill)
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
        sx, sy = _reflect(sx, width), _reflect(sy, height)
    return sx, sy, valid


def _warp_torch_by_slot(images, planes, matrix, out_size, fill, perspective, image_padding, views: Views):
    """:func:`_warp_torch` through a slot map on a stacked batch: images and dense maps warped
    whole once per slot (``grid_sample`` on the slot's source samples, faster on the CPU
    than four per-pixel gathers) and selected per pixel; labels gathered per pixel."""
    bilinear = [i for i, p in enumerate(planes) if p.bilinear]
    gathered = [i for i, p in enumerate(planes) if not p.bilinear]
    slots = [
        _warp_torch(
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
        labels = _warp_torch(
            None, [planes[i] for i in gathered], matrix, out_size, fill, perspective, image_padding, views=views
        )[1]
        for i, out in zip(gathered, labels, strict=True):
            outs[i] = out
    return out_images, outs


# --- torch backend -------------------------------------------------------------------------


#: Side of the compiled path's square output tiles (:func:`_warp_torch` with ``tiled``).
TILE = 16


def _source_coords(
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


def _reflect(s: torch.Tensor, extent: int) -> torch.Tensor:
    """Coordinates reflected about 0 and ``extent`` into [0, extent], in the kernels' float32 steps."""
    period = 2.0 * extent
    t = s - torch.floor(s / period) * period
    return torch.where(t < extent, t, period - t)


def _inside(sx: torch.Tensor, sy: torch.Tensor, hw: torch.Tensor | None, height: int, width: int) -> torch.Tensor:
    """Where source points lie in the image: [0, W)×[0, H), finite, w > 0 (NaN compares False)."""
    inside = (sx >= 0).logical_and_(sx < width).logical_and_(sy >= 0).logical_and_(sy < height)
    return inside if hw is None else inside.logical_and_(hw > 0)


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
    source: torch.Tensor | Ragged, px: torch.Tensor, py: torch.Tensor, outside: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(images, px, py)`` for :func:`_bilinear_torch`: a variable-size batch as a padded
    float32 copy (:func:`_padded_float`), its outside points parked far away. The clamps keep
    every tap of an inside point within its sample, but for the second tap at weight 0, which
    reads the zero margin."""
    if not isinstance(source, Ragged):
        return source, px, py
    padded = _padded_float(source)
    height, width = padded.shape[-2:]
    return padded, px.masked_fill(outside, -2.0 * width), py.masked_fill(outside, -2.0 * height)


def _padded_float(source: Ragged) -> torch.Tensor:
    """The samples as float32 (uint8 ÷ 255) in one B×K×max(h)×max(w) tensor, top-left aligned.

    Only what ``grid_sample`` reads of a clamped point is written: each sample's pixels, and
    the zero margin one pixel right of and below it, where a tap of weight 0 falls (finite:
    0 · NaN would be NaN); the rest is left unset. A list of mixed sizes pads to several
    times its pixels, so this converts and writes only the samples' own bytes.
    """
    height, width = (max(v) for v in zip(*source.sizes, strict=True))
    out = torch.empty((source.batch, source.planes, height, width), dtype=torch.float32, device=source.device)
    for k, (sample, (h, w)) in enumerate(zip(source.samples, source.sizes, strict=True)):
        region = out[k, :, :h, :w].copy_(sample)
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
) -> torch.Tensor:
    """Bilinear sample (float32 B×C×h×w, ``h×w`` as in :func:`_nearest_gather`) at p − 0.5 by
    four explicit gathers, the taps as the kernels take them (``kernels.common.bilinear_taps``);
    ``fill`` at ``outside``; ``sample``: see :func:`_gatherer`. Each plane is combined on its
    own and the planes stacked last, so that a compiled loop reads a pixel's coordinates once."""
    gather, row_stride, height, width, dtype = _gatherer(source, sample, px.dim())
    planes = source.planes if isinstance(source, Ragged) else (source.shape[1] if source.dim() == 4 else 1)
    ix, iy = px - 0.5, py - 0.5
    x0f, y0f = ix.floor(), iy.floor()
    wx, wy = ix - x0f, iy - y0f
    x0, y0 = x0f.to(dtype), y0f.to(dtype)
    x1 = torch.clamp(x0 + 1, max=width - 1)
    row0 = y0 * row_stride
    row1 = torch.clamp(y0 + 1, max=height - 1) * row_stride

    def tap(row: torch.Tensor, col: torch.Tensor) -> list[torch.Tensor]:
        values = [value.float() for value in gather(row + col)]
        return [value.mul_(1.0 / 255.0) for value in values] if source.dtype == torch.uint8 else values

    ux, uy = 1.0 - wx, 1.0 - wy
    taps = zip(tap(row0, x0), tap(row0, x1), tap(row1, x0), tap(row1, x1), _per_plane(fill, planes), strict=True)
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
