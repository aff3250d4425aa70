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

import torch

from gpuaug import backends, opencv_path
from gpuaug.core.checks import (
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
from gpuaug.core.planes import Planes, per_plane
from gpuaug.core.ragged import Ragged
from gpuaug.core.views import Views
from gpuaug.core.words import interleave, interleaved_channels
from gpuaug.torch_axes import all_axis_aligned, warp_by_axes
from gpuaug.torch_path import untile, warp_torch
from gpuaug.torch_volume import warp_volume_torch

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
        backend: "auto" (Triton on CUDA, torch elsewhere), "triton", "torch", "inductor"
            (the torch path compiled once per static configuration, :mod:`gpuaug.inductor`) or
            "opencv" (OpenCV's warp on CPU tensors, :mod:`gpuaug.opencv_path`).
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
        backend: "auto" (Triton on CUDA, torch elsewhere), "triton", "torch", "inductor"
            (the torch path compiled once per static configuration, :mod:`gpuaug.inductor`) or
            "opencv" (masks take the torch path's gather there).
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
    backend: str | backends.Backend,
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
    if resolved.kernels:
        out_images = None
        if images is not None:
            from gpuaug.kernels.warp_bilinear import warp_bilinear

            channels = images.planes if isinstance(images, Ragged) else images.shape[1]
            fill_values = channel_values(fill, channels, images.device)
            padding = PADDING_MODES.index(image_padding)
            out_images = warp_bilinear(images, matrix, out_size, fill_values, perspective, padding, views=views)
        outs = _warp_planes_triton(planes, matrix, out_size, perspective, views)
    elif resolved.compiled and views is None and compilable(images, *(p.tensor for p in planes)):
        out_images, outs = warp_compiled(images, planes, matrix, out_size, fill, perspective, image_padding)
    elif resolved.opencv and images is not None and views is None and opencv_path.takes(images, image_padding):
        out_images = opencv_path.warp_opencv(images, matrix, out_size, fill, perspective, image_padding)
        outs = warp_by_axes(None, planes, matrix, out_size, fill, perspective, image_padding)[1] if planes else []
    elif views is None:
        out_images, outs = warp_by_axes(images, planes, matrix, out_size, fill, perspective, image_padding)
    else:
        out_images, outs = warp_torch(images, planes, matrix, out_size, fill, perspective, image_padding, views=views)
    out_masks = outs.pop(0) if masks is not None else None
    return out_images, out_masks, outs


def warp_volumes(
    volumes: torch.Tensor | None,
    masks: torch.Tensor | None,
    matrix: torch.Tensor,
    out_size: tuple[int, int, int],
    fill: tuple[float, ...],
    ignore_index: int,
    backend: str | backends.Backend,
    *,
    image_padding: str = "constant",
    mask_padding: str = "constant",
    sizes: torch.Tensor | None = None,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Warp volumes B×C×D×H×W (trilinear, float32 out, intensities unscaled) and label volumes
    B×D×H×W / B×1×D×H×W (nearest, dtype and layout kept, ``ignore_index`` outside) through one
    B×4×4 float32 output→source matrix; inputs already checked. ``sizes`` (B×3 int64 on their
    device): each sample's valid (d, h, w) from the origin of a padded stack, past which
    nothing is read. Triton: one ``warp_trilinear`` and one ``gather_nearest_3d`` launch
    (``kernels/volume.py``); "inductor" the torch path compiled (:func:`_warp_volumes_compiled`);
    "torch" and "opencv" the torch path (:mod:`gpuaug.torch_volume`)."""
    planes = [] if masks is None else [Planes(masks, (ignore_index,), False, mask_padding)]
    resolved = backends.resolve(backend, matrix.device)
    if resolved.kernels:
        from gpuaug.kernels.volume import gather_nearest_3d, warp_trilinear

        padding = PADDING_MODES.index
        out = None
        if volumes is not None:
            fills = channel_values(fill, volumes.shape[1], volumes.device)
            out = warp_trilinear(volumes, matrix, out_size, fills, padding(image_padding), sizes)
        labels = None
        if masks is not None:
            value = to_device(torch.tensor([ignore_index], dtype=masks.dtype), masks.device)
            labels = gather_nearest_3d(masks, matrix, out_size, value, padding(mask_padding), sizes)
        return out, labels
    if resolved.compiled and compilable(volumes, masks):
        return _warp_volumes_compiled(volumes, planes, matrix, out_size, fill, image_padding, sizes)
    out, outs = warp_volume_torch(volumes, planes, matrix, out_size, fill, image_padding, sizes)
    return out, outs[0] if outs else None


def _warp_volumes_compiled(volumes, planes: list[Planes], matrix, out_size, fill, image_padding: str, sizes):
    """The volume warp compiled by inductor (:func:`gpuaug.inductor.run`): the torch path with
    its explicit trilinear gathers (a stacked batch reads its whole extent), which inductor
    fuses with the coordinates, the rules and the label gather into a few loops. A
    variable-size stack enters with its spatial sizes marked dynamic and out of the key, so
    a batch of new sizes reuses the code."""
    from gpuaug import inductor

    source = volumes if volumes is not None else planes[0].tensor
    extents = (
        sizes if sizes is not None else torch.tensor(source.shape[-3:], device=source.device).expand(len(source), 3)
    )
    tensors = [volumes, *(p.tensor for p in planes)]
    if sizes is not None:
        for t in tensors:
            for dim in range(t.dim() - 3, t.dim()) if t is not None else ():
                torch._dynamo.maybe_mark_dynamic(t, dim)
    described = tuple(None if t is None else (t.dtype, t.shape[1:-3], t.dim()) for t in tensors)
    shapes = None if sizes is not None else inductor.signature(*tensors)
    plan = warp_plan(planes)
    config = ("volume warp", described, shapes, out_size, fill, image_padding, plan)

    def warp(matrix, extents, volumes, *maps):
        rebuilt = [Planes(t, *static) for t, static in zip(maps, plan, strict=True)]
        out, outs = warp_volume_torch(volumes, rebuilt, matrix, out_size, fill, image_padding, extents)
        return out, outs[0] if outs else None

    def eager(matrix, extents, volumes, *maps):
        out, outs = warp_volume_torch(volumes, planes, matrix, out_size, fill, image_padding, sizes)
        return out, outs[0] if outs else None

    return inductor.run(config, matrix.shape[0], warp, matrix, extents, *tensors, eager=eager)


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
    """:func:`warp_torch` (explicit gathers over :data:`TILE` × :data:`TILE` output tiles,
    copied to ``…×h×w``) compiled by inductor for this static configuration; where
    :func:`gpuaug.inductor.run` does not compile (another batch size, a failed compile),
    the plain torch path instead (``grid_sample``, ``index_select``: faster eagerly).

    A :class:`Ragged` source enters the compiled function as its flat storage and its extent
    table, the storage's length marked dynamic: a batch of new sample sizes (or a padded
    batch of another padded size) reuses the compiled code. RGB(A) uint8 images enter as
    int32 words (:func:`gpuaug.core.words.interleave`, one copy), so each bilinear tap is
    one gather for all channels (4 image gathers per pixel instead of 12: the compiled
    geometric call of the bench's 16-image ADE20K list 33 → 28 ms here, building the words
    included, about 4 ms). Label maps of a list whose every matrix is axis-aligned are not
    compiled: :func:`_labels_by_axes` gathers them where they lie (the same ADE20K call
    34.7 → 28.3 ms, two runs each: no packed copy of the list's int64 labels to read);
    stacked and padded batches' labels, which need no copy, are compiled with the images.
    """
    from gpuaug import inductor

    if any(not p.bilinear and _unpacked(p.tensor) for p in planes) and all_axis_aligned(matrix, perspective):
        return _labels_by_axes(images, planes, matrix, out_size, fill, perspective, image_padding)
    plan = warp_plan(planes)
    words = interleaved_channels(images)
    sources = [interleave(images) if words else images, *(p.tensor for p in planes)]
    layout = tuple(s.planes if isinstance(s, Ragged) else None for s in sources)
    tensors = [t for s in sources for t in _compiled_args(s)]
    static = (layout, out_size, fill, perspective, image_padding, plan, words)
    config = ("warp", inductor.signature(matrix, *tensors), *static)

    def warp(matrix, *tensors):
        parts = iter(tensors)
        images, *maps = [_from_compiled_args(parts, k) for k in layout]
        rebuilt = [Planes(t, *static) for t, static in zip(maps, plan, strict=True)]
        out_images, outs = warp_torch(
            images, rebuilt, matrix, out_size, fill, perspective, image_padding, tiled=True, interleaved=words
        )
        return None if out_images is None else untile(out_images, out_size), [untile(t, out_size) for t in outs]

    def eager(*_):
        return warp_by_axes(images, planes, matrix, out_size, fill, perspective, image_padding)

    return inductor.run(config, matrix.shape[0], warp, matrix, *tensors, eager=eager)


def _unpacked(source: torch.Tensor | Ragged) -> bool:
    """Whether ``source`` is a list's samples, which a compiled loop would read from a packed copy."""
    return isinstance(source, Ragged) and source.storage is None


def _labels_by_axes(images, planes: list[Planes], matrix, out_size, fill, perspective, image_padding) -> tuple:
    """:func:`warp_compiled` for an axis-aligned list: its label maps by the eager row and
    column gathers of :func:`gpuaug.torch_axes.warp_by_axes` (bit-identical; no packed copy of
    a list's labels for a compiled loop to read), the images and bilinear maps compiled."""
    labels = [p for p in planes if not p.bilinear]
    _, label_outs = warp_by_axes(None, labels, matrix, out_size, fill, perspective, image_padding)
    bilinear = [p for p in planes if p.bilinear]
    out_images, bilinear_outs = None, []
    if images is not None or bilinear:
        out_images, bilinear_outs = warp_compiled(images, bilinear, matrix, out_size, fill, perspective, image_padding)
    by_kind = {False: iter(label_outs), True: iter(bilinear_outs)}
    return out_images, [next(by_kind[p.bilinear]) for p in planes]


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
        fills = [v for i, k in zip(members, counts, strict=True) for v in per_plane(planes[i].fill, k)]
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
