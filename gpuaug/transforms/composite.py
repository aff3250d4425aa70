"""Per-sample composition: OneOf and RandomApply over geometric and pixel ops.

Each sample picks its own branch, but nothing branches per sample: every child draws its
parameters for *all* samples (so keyed draws, ``seed=`` / ``sample_ids=``, do not depend on
the choices or on the batch split), then the choice selects among the children's B×3×3
matrices by index arithmetic and ``torch.where``. A child that a sample did not choose
contributes the identity, so the chain still folds into one matrix and one resample.

Pixel children are recorded with the composite's per-sample selection (the record's
``choice`` for OneOf, ``applied`` for RandomApply) and run after the warp, in list order:
on CUDA inside the fused image kernel, each child's ``applied`` restricted to the samples
that chose it, when the children are kernel steps in the kernel's order
(:func:`gpuaug.fusion.fusable`); otherwise :func:`gpuaug.engine.apply_params` replays them
as torch ops with ``torch.where`` on the selection. :func:`gpuaug.reference.apply` replays
them sample by sample.

The canvas size must not depend on the choice: OneOf's children must all give the same
output size from the same input size, and RandomApply's list must keep the canvas size
(the not-applied branch keeps it). With per-sample sizes (a variable-size batch) the
children must keep the sizes, or all fix the same size; a OneOf with ``p`` < 1 is then
not fixed-size, since the samples that apply none keep their own sizes. Sizes known at
construction (crops and resizes to a fixed (h, w)) are checked there; the rest at every
:meth:`Composite.sample_record`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch

from gpuaug.core.checks import check_probability
from gpuaug.core.device import constant
from gpuaug.core.matrices import identity_matrix
from gpuaug.core.records import OpRecord
from gpuaug.transforms.base import Canvas, Draw, Op, PixelOp, Sizes, Step

__all__ = ["Composite", "OneOf", "RandomApply"]


def _check_ops(ops: object, owner: str) -> list[Op | PixelOp]:
    if isinstance(ops, (Op, PixelOp)) or isinstance(ops, str) or not isinstance(ops, Sequence):
        raise TypeError(f"ops: {owner} expected a list of gpuaug ops, got {type(ops).__name__}")
    if len(ops) == 0:
        raise ValueError(f"ops: {owner} expected at least one op, got an empty list")
    for k, op in enumerate(ops):
        if not isinstance(op, (Op, PixelOp)):
            raise TypeError(f"ops[{k}]: {owner} expected a gpuaug op (gpuaug.transforms), got {type(op).__name__}")
    return list(ops)


def _describe_size(size: Canvas) -> str:
    return "per-sample sizes" if isinstance(size, Sizes) else f"{size[0]}×{size[1]}"


def _sample_child(op: Op | PixelOp, draw: Draw, size: tuple[int, int], channels: int):
    """One child's draws for every sample: (B×3×3 float64 matrix or None for pixel ops, out_size, record)."""

    if op.kind == "pixel":
        return None, size, OpRecord(type(op).__name__, op.sample(draw, channels), op.config())
    if op.kind == "composite":
        step, record = op.sample_record(draw, size, channels)
        return (step.matrix if op.geometric else None), step.out_size, record
    step = op.sample(draw, size)
    return step.matrix, step.out_size, OpRecord(type(op).__name__, step.draws)


class Composite(Op, abstract=True):
    """Base of OneOf and RandomApply: ops applied per sample according to a drawn selection.

    A Composite is an :class:`Op` so that :class:`gpuaug.Compose` takes it, but it also holds
    pixel ops; Compose calls :meth:`sample_record`, which returns the geometric part as a
    :class:`Step` and the whole draw as an :class:`gpuaug.core.records.OpRecord` (with children).
    """

    kind = "composite"
    ops: list[Op | PixelOp]

    @property
    def perspective(self) -> bool:  # type: ignore[override]
        """True when any child (at any depth) has a perspective row."""
        return any(op.geometric and op.perspective for op in self.ops)

    @property
    def geometric(self) -> bool:  # type: ignore[override]
        """True when any child (at any depth) is a geometric op."""
        return any(op.geometric for op in self.ops)

    @property
    def needs_masks(self) -> bool:  # type: ignore[override]
        return any(op.needs_masks for op in self.ops)

    @property
    def pointwise(self) -> bool:  # type: ignore[override]
        return all(op.pointwise for op in self.ops)

    @property
    def fixed_size(self) -> tuple[int, int] | None:
        """The output size whatever the input, when the children fix it."""
        return None

    def _select(self, draw: Draw) -> dict[str, torch.Tensor]:
        """The per-sample selection draws (after every child has drawn)."""
        raise NotImplementedError

    def sample_record(self, draw: Draw, size: tuple[int, int], channels: int):
        """Draw every child for all samples, then the selection.

        Returns:
            ``(step, record)``: the geometric part (B×3×3 float64 matrix, identity where a
            sample applies no geometric child; its ``draws`` are the selection) and the
            :class:`gpuaug.core.records.OpRecord` with one child record per op.
        """
        raise NotImplementedError

    def sample(self, draw: Draw, size: tuple[int, int], channels: int = 3) -> Step:
        """The geometric part only (see :meth:`sample_record`)."""
        return self.sample_record(draw, size, channels)[0]


class OneOf(Composite):
    """Each sample applies exactly one of ``ops`` with probability ``p`` (else none), chosen per
    sample with probability proportional to ``weights`` (uniform by default).

    Every child draws for every sample; the choice only selects. Geometric children fold
    into the one warp (a child a sample did not choose contributes the identity); pixel
    children run after the warp, in list order, on the samples that chose them.

    Args:
        ops: geometric and pixel ops, OneOf and RandomApply included; all must give the same
            output size from the same input size.
        p: probability that a sample applies one of them.
        weights: one non-negative number per op, not all zero (normalised).

    Draws: ``choice`` (B int64: the index of the chosen op, −1 where none).

    Example:
        >>> OneOf([RandomRotation(30), RandomPerspective(0.3, p=1.0), GaussianBlur(5, p=1.0)], weights=[2, 1, 1])
    """

    def __init__(self, ops: Sequence[Op | PixelOp], p: float = 1.0, weights: Sequence[float] | None = None):
        self.ops = _check_ops(ops, "OneOf")
        self.p = check_probability(p)
        self.weights = self._weights(weights, len(self.ops))
        sizes = [(k, op.fixed_size) for k, op in enumerate(self.ops)]
        sizes = [(k, s) for k, s in sizes if s is not None]
        if len({s for _, s in sizes}) > 1:
            listed = ", ".join(f"ops[{k}] ({type(self.ops[k]).__name__}) {_describe_size(s)}" for k, s in sizes)
            raise ValueError(f"ops: OneOf's children must all give the same output size, got {listed}")

    @staticmethod
    def _weights(weights: object, n: int) -> tuple[float, ...]:
        if weights is None:
            return (1.0 / n,) * n
        if isinstance(weights, str) or not isinstance(weights, Sequence):
            raise TypeError(f"weights: expected a sequence of {n} numbers (one per op), got {weights!r}")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in weights):
            raise TypeError(f"weights: expected numbers, got {weights!r}")
        if len(weights) != n:
            raise ValueError(f"weights: expected {n} values (one per op), got {len(weights)}")
        if not all(math.isfinite(v) and v >= 0 for v in weights):
            raise ValueError(f"weights: expected finite non-negative values, got {weights!r}")
        total = math.fsum(weights)
        if total <= 0:
            raise ValueError(f"weights: expected at least one positive value, got {weights!r}")
        return tuple(float(v) / total for v in weights)

    @property
    def fixed_size(self):
        return next((op.fixed_size for op in self.ops if op.fixed_size is not None), None)

    def sample_record(self, draw, size, channels):

        children = [_sample_child(op, draw, size, channels) for op in self.ops]
        sizes = {out for _, out, _ in children}
        if len(sizes) > 1:
            listed = ", ".join(
                f"ops[{k}] ({type(op).__name__}) {_describe_size(out)}"
                for k, (op, (_, out, _)) in enumerate(zip(self.ops, children, strict=True))
            )
            raise ValueError(
                f"ops: OneOf's children must all give the same output size, got {listed} "
                f"from a {_describe_size(size)} input"
            )
        applied = draw.coin(self.p)
        # Child k owns [bounds[k - 1], bounds[k]) of [0, 1); the last bound is implicit, so
        # rounding in the cumulative sum can never pick an index past the last op.
        bounds = constant(list(itertools.accumulate(self.weights))[:-1], draw.device)
        u = draw.rand(dtype=torch.float64)
        choice = (u.unsqueeze(1) >= bounds).sum(dim=1)
        choice = torch.where(applied, choice, -1)
        eye = identity_matrix(draw.batch, draw.device)
        matrices = torch.stack([eye if m is None else m for m, _, _ in children], dim=1)  # B×n×3×3
        picked = matrices.gather(1, choice.clamp(min=0).view(-1, 1, 1, 1).expand(-1, 1, 3, 3)).squeeze(1)
        matrix = torch.where(applied.view(-1, 1, 1), picked, eye)
        draws = {"choice": choice}
        record = OpRecord(type(self).__name__, draws, None, tuple(r for _, _, r in children))
        out = sizes.pop()
        if isinstance(size, Sizes) and out is not size and self.p < 1.0:
            # Samples of their own sizes that apply none keep theirs: per-sample sizes again.
            fixed_h, fixed_w = out
            out = Sizes(torch.where(applied, fixed_h, size.h), torch.where(applied, fixed_w, size.w))
        return Step(draws, matrix, out), record


class RandomApply(Composite):
    """Each sample applies the whole list ``ops`` with probability ``p`` (else none of it).

    Every child draws for every sample; the coin only selects. The list must keep the
    canvas size (a sample that does not apply it keeps its size too).

    Args:
        ops: geometric and pixel ops, applied in list order; OneOf and RandomApply included.
        p: probability that a sample applies the list.

    Draws: ``applied`` (B bool).

    Example:
        >>> RandomApply([RandomAffine(15), ColorJitter(0.4, 0.4)], p=0.3)
    """

    def __init__(self, ops: Sequence[Op | PixelOp], p: float = 0.5):
        self.ops = _check_ops(ops, "RandomApply")
        self.p = check_probability(p)

    def sample_record(self, draw, size, channels):

        matrix, out = identity_matrix(draw.batch, draw.device), size
        records = []
        for op in self.ops:
            child_matrix, out, record = _sample_child(op, draw, out, channels)
            if child_matrix is not None:
                matrix = torch.bmm(matrix, child_matrix)
            records.append(record)
        if out is not size and (isinstance(out, Sizes) or isinstance(size, Sizes) or out != size):
            raise ValueError(
                f"ops: RandomApply's list must keep the canvas size, got {_describe_size(size)} -> "
                f"{_describe_size(out)}; a sample that does not apply it would keep {_describe_size(size)}"
            )
        applied = draw.coin(self.p)
        matrix = torch.where(applied.view(-1, 1, 1), matrix, identity_matrix(draw.batch, draw.device))
        draws = {"applied": applied}
        return Step(draws, matrix, size), OpRecord(type(self).__name__, draws, None, tuple(records))
