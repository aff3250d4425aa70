"""Sampling a chain for a batch: every op's draws as tensors on the device, the geometric
ops folded into one float64 matrix per sample (cast to float32 once), the output size, and
the class-aware crop's label counts; the result is a :class:`gpuaug.core.records.Params`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import Protocol

import torch

from gpuaug import backends
from gpuaug.candidates import CandidateCounts
from gpuaug.core import hashing
from gpuaug.core.batch import Batch, read_sample_ids
from gpuaug.core.checks import check_fill, check_ignore_index, check_int
from gpuaug.core.device import to_device
from gpuaug.core.matrices import identity_matrix
from gpuaug.core.planes import label_padding
from gpuaug.core.ragged import from_padded
from gpuaug.core.records import OpRecord, Params
from gpuaug.functional import warp_volumes
from gpuaug.transforms.base import Draw, Sizes
from gpuaug.transforms.volume import VolumeSizes

__all__ = ["Chain", "sample_params", "random_source"]


class Chain(Protocol):
    """What sampling reads of a :class:`gpuaug.Compose`: its checked ops and settings."""

    ops: list
    ignore_index: int
    fill: tuple[float, ...]
    out_dtype: torch.dtype
    backend: str
    padding_mode: str
    mask_padding: str
    antialias: bool


def sample_params(chain: Chain, batch: Batch, generator, seed, sample_ids) -> Params:
    """Sample every op of ``chain`` for ``batch`` (:func:`read_batch`) and fold the geometric
    ones into one matrix per sample; see :meth:`gpuaug.Compose.sample`."""
    check_fill(chain.fill, batch.channels)
    label_source, mask_mode = None, label_padding(chain.padding_mode, chain.mask_padding)
    if batch.mask_dtype is not None and any(op.needs_masks for op in chain.ops):
        check_ignore_index(chain.ignore_index, batch.mask_dtype)
        label_source = batch.masks if batch.variable or batch.dims == 3 else from_padded(batch.masks, batch.sizes)
        backend = backends.resolve(chain.backend, batch.device)
    draw = random_source(batch.batch, batch.device, generator, seed, sample_ids)
    matrix = identity_matrix(batch.batch, draw.device, dims=batch.dims)
    size = batch.in_size
    if batch.variable:
        hw = to_device(torch.tensor(batch.sizes, dtype=torch.float64), draw.device)
        size = Sizes(hw[:, 0], hw[:, 1], batch.sizes) if batch.dims == 2 else VolumeSizes(hw, batch.sizes)
    records, varying = [], None
    for k, op in enumerate(chain.ops):
        if op.kind == "pixel":
            op.check_dims(batch.dims, f"ops[{k}]")
            records.append(OpRecord(type(op).__name__, op.sample(draw, batch.channels), op.config()))
            continue
        if op.kind == "canvas":
            if isinstance(size, (Sizes, VolumeSizes)):
                raise ValueError(_unfixed_message(chain.ops, varying))
            if op.selects_by_labels and batch.mask_dtype is None:
                name = type(op).__name__
                raise ValueError(f"ops[{k}]: {name} chooses its paste map from the masks, so it needs masks; got none")
            records.append(OpRecord(type(op).__name__, op.sample(draw, size), op.config()))
            continue
        if label_source is not None and batch.dims == 3:
            foreground = (batch.extents, size, chain.ignore_index, mask_mode, backend)
            draw.foreground = partial(_foreground, label_source, matrix, *foreground)
        elif label_source is not None:
            draw.class_counts = CandidateCounts(label_source, matrix, chain.ignore_index, mask_mode, backend)
        if op.kind == "composite":
            step, record = op.sample_record(draw, size, batch.channels)
        else:
            step = op.sample(draw, size)
            record = OpRecord(type(op).__name__, step.draws)
        matrix = torch.bmm(matrix, step.matrix)  # float64: TF32 matmul settings cannot touch it
        size = step.out_size
        if isinstance(size, (Sizes, VolumeSizes)):
            varying = k
        records.append(record)
    if isinstance(size, (Sizes, VolumeSizes)):
        raise ValueError(_unfixed_message(chain.ops, varying, batch.dims))
    geometric = [op for op in chain.ops if op.geometric]
    params = Params(
        matrix=matrix.to(torch.float32),
        in_size=batch.in_size,
        out_size=size,
        ignore_index=chain.ignore_index,
        fill=chain.fill,
        perspective=any(op.perspective for op in geometric),
        geometric=bool(geometric),
        out_dtype=chain.out_dtype,
        ops=tuple(records),
        padding_mode=chain.padding_mode,
        mask_padding=chain.mask_padding,
        in_sizes=torch.tensor(batch.sizes, dtype=torch.int64).reshape(-1, batch.dims),
        antialias=chain.antialias,
    )
    device = batch.device
    if draw.device == device:
        return params
    ops = tuple(r.map_draws(lambda v: to_device(v, device)) for r in records)
    return replace(params, matrix=to_device(params.matrix, device), ops=ops)


def _foreground(masks, matrix, extents, size, ignore_index: int, padding: str, backend) -> torch.Tensor:
    """B×D×H×W bool: where the volumes' ``masks`` (valid within ``extents``, B×3, or whole) read
    through ``matrix`` (the chain so far, float64, used in float32 as the warp uses it) on the
    canvas ``size`` (per sample: the batch's largest, each sample's past its own False) hold a
    label that is neither 0 nor ``ignore_index`` (:attr:`gpuaug.transforms.base.Draw.foreground`)."""
    canvas = tuple(max(v) for v in zip(*size.host, strict=True)) if isinstance(size, VolumeSizes) else size
    labels = warp_volumes(
        None,
        masks,
        matrix.to(masks.device, torch.float32),
        canvas,
        (0.0,),
        ignore_index,
        backend,
        mask_padding=padding,
        sizes=extents,
    )[1].reshape(-1, *canvas)
    found = (labels != 0) & (labels != ignore_index)
    if isinstance(size, VolumeSizes):
        own = to_device(size.extent, labels.device)
        for axis, n in enumerate(canvas):
            index = torch.arange(n, device=labels.device).view(1, *[n if a == axis else 1 for a in range(3)])
            found &= index < own[:, axis].view(-1, 1, 1, 1)
    return to_device(found, matrix.device)  # the draws' device (a sync only for a CPU generator on CUDA)


def _unfixed_message(ops: Sequence, varying: int | None, dims: int = 2) -> str:
    fixed = "RandomCrop, CenterCrop, Resize((h, w)), RandomResizedCrop or RandomResize(scale, keep_ratio=False)"
    if dims == 3:
        fixed = "RandomCrop3D or Resize3D"
    if varying is None:
        return (
            f"ops: a batch of samples of different sizes (a list, or sizes=) needs a fixed-size op ({fixed}) "
            "to give the batch one output size; the chain has none"
        )
    op = ops[varying]
    return (
        f"ops[{varying}]: {type(op).__name__} leaves each sample a size of its own; a fixed-size op ({fixed}) "
        "must follow it so that the batch has one output size"
    )


def random_source(b: int, device: torch.device, generator, seed, sample_ids) -> Draw:
    """The batch's random source: keyed by ``seed`` and ``sample_ids``, a ``generator``, or
    torch's default generator (see :meth:`gpuaug.Compose.sample`)."""
    if seed is not None:
        if generator is not None:
            raise ValueError("generator, seed: pass one source of randomness, not both")
        seed = check_int(seed, "seed")
        ids = torch.arange(b, device=device) if sample_ids is None else read_sample_ids(sample_ids, b, device)
        return Draw(b, device, keys=hashing.sample_keys(seed, ids))
    if sample_ids is not None:
        raise ValueError("sample_ids: only used with seed=; pass seed too")
    if generator is None:
        return Draw(b, device)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator, got {type(generator).__name__}")
    if generator.device != device and generator.device.type != "cpu":
        raise ValueError(f"generator: expected a CPU generator or one on {device}, got one on {generator.device}")
    return Draw(b, generator.device, generator=generator)
