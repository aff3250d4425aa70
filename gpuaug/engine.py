"""Replaying a batch's :class:`gpuaug.core.records.Params`: the warp of images, masks and
targets through the backend, the canvas ops' views, then the pixel ops (fused on CUDA)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from itertools import pairwise

import torch

from gpuaug import backends, fusion
from gpuaug.allocator import tune_malloc
from gpuaug.antialias import antialias
from gpuaug.backends import Backend
from gpuaug.core.batch import Batch
from gpuaug.core.checks import (
    check_fill,
    check_ignore_index,
)
from gpuaug.core.planes import Planes, label_padding
from gpuaug.core.records import OpRecord, Params, check_params_type, selected
from gpuaug.functional import compilable, warp_all, warp_compiled, warp_volumes
from gpuaug.targets.base import Frame, check_follow_canvas, check_targets
from gpuaug.targets.points import map_points
from gpuaug.transforms.base import PixelOp
from gpuaug.transforms.canvas import views_of

__all__ = ["apply_params", "check_params", "replay_op"]


def check_params(batch: Batch, params: object) -> None:
    """Check that ``params`` fit this batch (see :func:`read_batch`)."""
    check_params_type(params)
    if params.spatial_dims != batch.dims:
        kinds = {2: "2D images (B×C×H×W)", 3: "volumes (B×C×D×H×W)"}
        raise ValueError(f"params: sampled for {kinds[params.spatial_dims]}, got {kinds[batch.dims]}")
    if params.batch_size != batch.batch:
        raise ValueError(
            f"params: sampled for a batch of {params.batch_size}, got images with batch size {batch.batch}"
        )
    if params.in_sizes.tolist() != [list(v) for v in batch.sizes]:
        if not params.variable and not batch.variable:
            (ph, pw), (h, w) = params.in_size, batch.in_size
            raise ValueError(f"params: sampled for {ph}×{pw} images, got {h}×{w}")
        raise ValueError(
            f"params: sampled for samples of sizes {params.in_sizes.tolist()}, got {[list(v) for v in batch.sizes]}"
        )
    if params.device != batch.device:
        raise ValueError(f"params: on {params.device}, images on {batch.device}; use params.to(images.device)")
    check_fill(params.fill, batch.channels)
    if batch.mask_dtype is not None:
        check_ignore_index(params.ignore_index, batch.mask_dtype)


def apply_params(
    batch: Batch,
    params: Params,
    backend: str = "auto",
    *,
    targets: Mapping[str, object] | None = None,
):
    """Warp a batch (:func:`read_batch`: images, masks, targets) with ``params``, then the pixel
    ops; see :meth:`Compose.apply`.

    On the Triton backend the longest run of pixel ops that the fused image kernel covers is
    applied inside the warp; the rest (a blur, and what follows it) runs as torch ops.
    Targets go through the same matrix, never through the pixel ops.
    """
    check_params_type(params)
    check_params(batch, params)
    if batch.device.type == "cpu":
        tune_malloc()  # large freed blocks stay in the process: no page faults every batch
    checked = None
    if targets is not None:
        checked = check_targets(targets, batch, params.ignore_index, params.padding_mode, params.mask_padding)
    planes = [p for _, target in checked or () for p in target.sources]
    resolved = backends.resolve(backend, batch.device)
    pixel = [(replay_op(r), r.draws) for r in params.ops if r.has_pixel]
    if params.spatial_dims == 3:
        if checked is not None:
            raise ValueError("targets: volumes take images and masks only, not targets")
        return _apply_volumes(batch, params, pixel, resolved)
    fused = fusion.fusable(pixel, batch.channels) if resolved.kernels else 0
    source, labels, warped = batch.images, batch.masks, [p.tensor for p in planes]
    if params.antialias and params.geometric:
        source = antialias(source, params.matrix, params.out_size, params.perspective)
    canvas = [(k, r) for k, r in enumerate(params.ops) if r.kind == "canvas"]
    if canvas:
        check_follow_canvas(checked, [r.name for _, r in canvas])
        # The compiled path takes plain warps only: canvas ops run on the eager torch path.
        out, labels, warped = _apply_canvas(batch, source, params, planes, canvas, resolved.eager)
        fused = len(pixel)
    elif fused:
        out_dtype = params.out_dtype if fused == len(pixel) else torch.float32
        out = fusion.fused_image(source, params, pixel[:fused], out_dtype)
        if (labels is not None or planes) and params.geometric:
            _, labels, warped = warp_all(
                None, labels, planes, *_warp_args(params), resolved, params.perspective, **_paddings(params)
            )
    elif resolved.compiled and params.geometric and compilable(source, labels, *warped):
        pixel_records = tuple(r for r in params.ops if r.has_pixel)
        if any(r.children for r in pixel_records):  # a composite's ops hold their draws: warp compiled, ops eager
            out, labels, warped = warp_all(
                source, labels, planes, *_warp_args(params), resolved, params.perspective, **_paddings(params)
            )
        else:
            out, labels, warped = _apply_compiled(source, labels, planes, params, pixel, pixel_records)
            fused = len(pixel)
    elif params.geometric:
        out, labels, warped = warp_all(
            source, labels, planes, *_warp_args(params), resolved, params.perspective, **_paddings(params)
        )
    else:
        out = source.to(torch.float32, memory_format=torch.contiguous_format, copy=True)
        if source.dtype == torch.uint8:
            out.mul_(1.0 / 255.0)
    out = apply_pixel(out, pixel[fused:]).to(params.out_dtype).contiguous()
    if labels is not None and batch.variable:  # warped from a Ragged batch: B×1×h×w
        labels = labels.reshape((batch.batch, *params.out_size) if batch.mask_dims == 3 else labels.shape)
    labels = None if labels is None else labels.contiguous()
    if checked is None:
        return out if labels is None else (out, labels)
    return out, labels, _target_outputs(params, checked, warped)


def _apply_volumes(batch: Batch, params: Params, pixel: list, backend: Backend):
    """Volumes: the one trilinear warp and label gather (:func:`gpuaug.functional.warp_volumes`),
    then the pixel ops in list order as torch ops, then the cast to ``out_dtype``."""
    if params.geometric:
        args = (*_warp_args(params), backend)
        out, labels = warp_volumes(batch.images, batch.masks, *args, **_paddings(params), sizes=batch.extents)
    elif batch.variable:
        raise ValueError("ops: volumes of their own sizes need a fixed-size op (RandomCrop3D or Resize3D)")
    else:
        out, labels = batch.images.to(torch.float32, memory_format=torch.contiguous_format, copy=True), batch.masks
    out = apply_pixel(out, pixel).to(params.out_dtype).contiguous()
    return out if labels is None else (out, labels.contiguous())


def _target_outputs(params: Params, checked: list, warped: list[torch.Tensor]) -> dict:
    """Each target's output, by name, from its warped sources (in the order of ``checked``)."""
    frame = Frame(params.batch_size, params.out_size, lambda xy: map_points(xy, params.matrix, params.out_size))
    outs, maps = {}, iter(warped)
    for name, target in checked:
        outs[name] = target.finish(tuple(next(maps) for _ in target.sources), frame)
    return outs


def _apply_compiled(images, masks, planes, params: Params, pixel, records) -> tuple:
    """The warp, then the pixel ops and the cast to ``out_dtype``, each compiled by inductor
    (:mod:`gpuaug.inductor`) once per static configuration, from the torch path's own code
    (:func:`gpuaug.functional.warp_compiled`, each op's ``apply``)."""
    from gpuaug import inductor

    paddings = _paddings(params)
    if masks is not None:
        planes = [Planes(masks, (params.ignore_index,), False, paddings["mask_padding"]), *planes]
    out, outs = warp_compiled(
        images, planes, params.matrix, params.out_size, params.fill, params.perspective, paddings["image_padding"]
    )
    ops, out_dtype = [op for op, _ in pixel], params.out_dtype
    config = (
        "pixel",
        inductor.signature(out),
        tuple((r.name, repr(sorted(r.config.items())), tuple(sorted(r.draws))) for r in records),
        out_dtype,
    )

    def fn(out, draws):
        for op, op_draws in zip(ops, draws, strict=True):
            out = op.apply(out, op_draws)
        return out.to(out_dtype)

    if ops or out_dtype != out.dtype:
        out = inductor.run(config, params.batch_size, fn, out, [d for _, d in pixel], settings=inductor.PIXEL_SETTINGS)
    labels = outs.pop(0) if masks is not None else None
    return out, labels, outs


def _apply_canvas(batch: Batch, images, params: Params, planes: list[Planes], canvas: list, backend: Backend) -> tuple:
    """The warp with canvas ops (:mod:`gpuaug.transforms.canvas`), then every pixel op:
    ``(images float32, masks, warped targets)``; images are read from ``images`` (the
    batch's, or their antialiased copy).

    Masks and targets read through the views in one pass (an op that selects by labels, as
    ClassMix: masks warped per sample first, the paste map chosen from them, the mixed masks
    selected from them). Images too,
    with the pixel ops after the mixing op fused on Triton; pixel ops before it apply per
    source sample, so then each slot's view is warped and coloured whole with its source's
    draws, and the slots are selected per pixel.
    """
    views, mixing = views_of(canvas, params.matrix, params.out_size)
    mix, op = mixing or (None, None)
    args, paddings = (*_warp_args(params), backend, params.perspective), _paddings(params)
    masks = labels = None
    if op is not None and op.selects_by_labels:
        if batch.masks is None:
            raise ValueError(
                f"masks: {type(op).__name__} chooses its paste map from the warped masks, so replaying it needs "
                "the masks; got none"
            )
        own_views = replace(views, slots=1, sample=None, matrix=params.matrix, select=None, pre=None)
        own = warp_all(None, batch.masks, (), *args, mask_padding=paddings["mask_padding"], views=own_views)[1]
        b, (h, w) = params.batch_size, params.out_size
        flat = own.reshape(b, h, w)
        paste = op.select(flat, params.ops[mix].draws, params.ignore_index)
        labels = torch.where(paste, flat[params.ops[mix].draws["partner"]], flat).reshape(own.shape)
        views = replace(views, select=paste.to(torch.uint8).contiguous())
    else:
        masks = batch.masks
    warped = []
    if masks is not None or planes:
        _, warped_masks, warped = warp_all(None, masks, planes, *args, **paddings, views=views)
        labels = warped_masks if labels is None else labels
    records = [(k, r) for k, r in enumerate(params.ops) if r.has_pixel]
    before = [r for k, r in records if mix is not None and k < mix]
    after = [(replay_op(r), r.draws) for k, r in records if mix is None or k > mix]
    if not before:
        return _warp_images(images, batch.channels, params, after, backend, views), labels, warped
    slots = []
    for k in range(views.slots):
        slot = views.slot(k)
        source = slot.sample.long()
        ops = [(replay_op(r), r.draws) for r in (r.map_draws(lambda v, s=source: v[s]) for r in before)]
        slots.append(_warp_images(images, batch.channels, params, ops, backend, slot))
    stacked = torch.stack(slots, dim=1)  # B×L×C×h×w
    index = views.select.long()[:, None, None].expand(-1, 1, stacked.shape[2], -1, -1)
    out = stacked.gather(1, index).squeeze(1)
    return apply_pixel(out, after), labels, warped


def _warp_images(source, channels: int, params: Params, pixel: list, backend: Backend, views) -> torch.Tensor:
    """The images ``source`` (C ``channels``) warped through ``views`` with ``pixel`` ops
    applied (float32): the leading fusable ops in the Triton kernel, the rest as torch ops."""
    fused = fusion.fusable(pixel, channels) if backend.kernels else 0
    if fused:
        out = fusion.fused_image(source, params, pixel[:fused], torch.float32, views)
    else:
        args = (*_warp_args(params), backend, params.perspective)
        out = warp_all(source, None, (), *args, image_padding=params.padding_mode, views=views)[0]
    return apply_pixel(out, pixel[fused:])


#: On the CPU, pixel ops run on chunks of samples of at most this many values (4 MiB of float32;
#: one sample where a sample holds more): a chunk's temporaries stay in the caches from one step
#: to the next, where a whole batch's (tens of MiB each) go to memory at every step.
CHUNK_VALUES = 2**20


def apply_pixel(out: torch.Tensor, pixel: list) -> torch.Tensor:
    """The pixel ops ``pixel`` ((op, draws) pairs) applied in order to float32 ``out`` (B×C×…).

    On the CPU, when every op is :attr:`~gpuaug.transforms.base.PixelOp.per_sample`, the whole
    run goes chunk by chunk of samples (:data:`CHUNK_VALUES`), each chunk through every op with
    its slice of the draws, written back into ``out`` (the engine's own tensor): the same
    values, computed while they are in cache. The chunks are as few as that bound allows and
    of even sizes (a short last chunk would pay every op's start for few values: 6 + 2
    samples of 224² took 11 % longer than 4 + 4). Elsewhere each op takes the whole batch.
    """
    batch = out.shape[0]
    step = max(1, CHUNK_VALUES // max(1, out[0].numel())) if batch else 1
    if out.device.type != "cpu" or step >= batch or not all(op.per_sample for op, _ in pixel):
        for op, draws in pixel:
            out = op.apply(out, draws)
        return out
    chunks = -(-batch // step)
    bounds = [batch * k // chunks for k in range(chunks + 1)]  # even sizes: no short last chunk
    for start, stop in pairwise(bounds):
        chunk = out[start:stop]
        for op, draws in pixel:
            chunk = op.apply(chunk, {name: value[start:stop] for name, value in draws.items()})
        out[start:stop] = chunk
    return out


def replay_op(record: OpRecord) -> PixelOp | SelectedPixelOps:
    """The op that replays a record's pixel work: the pixel op itself, or for a composite its
    pixel children selected per sample (fused into the image kernel when
    :func:`gpuaug.fusion.fusable` allows it, torch ops otherwise)."""
    if record.children:
        return SelectedPixelOps(record)
    return PixelOp.from_config(record.name, record.config)


class SelectedPixelOps:
    """The pixel children of a OneOf / RandomApply record, each applied where the sample chose it."""

    stage = None  # not one step of the fused kernel: gpuaug.fusion fuses a composite as its children
    per_sample = False  # its children's draws are held here, not sliced with the record's

    def __init__(self, record: OpRecord):
        self.children = [(k, replay_op(c), c.draws) for k, c in enumerate(record.children) if c.has_pixel]

    def apply(self, images: torch.Tensor, draws: dict[str, torch.Tensor]) -> torch.Tensor:
        for k, op, child_draws in self.children:
            chosen = selected(draws, k).view(-1, 1, 1, 1)
            images = torch.where(chosen, op.apply(images, child_draws), images)
        return images


def _warp_args(params: Params) -> tuple:
    return params.matrix, params.out_size, params.fill, params.ignore_index


def _paddings(params: Params) -> dict[str, str]:
    """The padding modes of the image and mask warps (masks: "constant" means ignore outside)."""
    return {
        "image_padding": params.padding_mode,
        "mask_padding": label_padding(params.padding_mode, params.mask_padding),
    }
