"""The op interface and the random draws every op shares.

An op never touches pixels. Given a :class:`Draw` (the batch's random source on a device)
and the current canvas size, :meth:`Op.sample` draws *all* samples' parameters at once as
tensors and returns a :class:`Step`: the raw draws (for logging and replay), one
output→source float64 matrix per sample, and the canvas size after the op. Nothing here
reads a tensor back to the host.

A canvas size is either one (h, w) pair of ints for the whole batch, or :class:`Sizes`,
one (h, w) per sample as tensors (a variable-size batch, or after an op that gives each
sample its own size). Ops compute with :func:`extent`, which gives both as per-sample
tensors, so one code path serves both.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from gpuaug import _hash


class Sizes(NamedTuple):
    """Per-sample canvas sizes.

    Attributes:
        h, w: B float64 tensors (integer-valued) on the draw's device.
        host: the same sizes as (h, w) int pairs when the host knows them (the input's
            shapes, deterministic ops after them), None after a random-size op.
    """

    h: torch.Tensor
    w: torch.Tensor
    host: tuple[tuple[int, int], ...] | None = None


Canvas = tuple[int, int] | Sizes


def extent(draw: Draw, size: Canvas) -> tuple[torch.Tensor, torch.Tensor]:
    """The canvas height and width of every sample, as B float64 tensors on the draw's device."""
    if isinstance(size, Sizes):
        return size.h, size.w
    h, w = size
    full = torch.full((draw.batch,), 0.0, dtype=torch.float64, device=draw.device)
    return full + h, full + w


def host_sizes(size: Canvas, batch: int) -> tuple[tuple[int, int], ...] | None:
    """Every sample's (h, w) on the host, or None when only the device knows them."""
    if isinstance(size, Sizes):
        return size.host
    return (tuple(size),) * batch


class Step(NamedTuple):
    """What one geometric op contributes to a batch.

    Attributes:
        draws: name → tensor with one row per sample (B or B×k), as drawn.
        matrix: B×3×3 float64, the op's output→source map (:class:`gpuaug.Compose` composes
            the chain in float64 and casts to float32 once).
        out_size: the canvas after the op: (h, w) for the whole batch, or :class:`Sizes`.
    """

    draws: dict[str, torch.Tensor]
    matrix: torch.Tensor
    out_size: Canvas


class _Repr:
    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Op(_Repr):
    """Base class of the geometric ops: subclasses implement :meth:`sample`."""

    #: True for ops whose matrix has a perspective row (the warp must divide by w).
    perspective = False

    def sample(self, draw: Draw, size: Canvas) -> Step:
        """Draw the parameters of ``draw.batch`` samples on a canvas of ``size`` ((h, w) or :class:`Sizes`)."""
        raise NotImplementedError


class PixelOp(_Repr):
    """Base class of the pixel ops, which change image values and never touch masks.

    Subclasses implement :meth:`sample` (per-sample draws as tensors) and :meth:`apply`
    (the torch path on float32 B×C×h×w images). Their constructor arguments are plain
    values, kept by :meth:`config`, so :class:`gpuaug.Params` can rebuild the op for replay.
    ``stage`` is the op's place in the fused image kernel's fixed order (None: not fused).
    """

    stage: int | None = None
    registry: dict[str, type[PixelOp]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        PixelOp.registry[cls.__name__] = cls

    def sample(self, draw: Draw, channels: int) -> dict[str, torch.Tensor]:
        """Draw the parameters of ``draw.batch`` samples with ``channels`` channels."""
        raise NotImplementedError

    def apply(self, images: torch.Tensor, draws: dict[str, torch.Tensor]) -> torch.Tensor:
        """Apply the op to float32 images B×C×h×w (returns a new tensor)."""
        raise NotImplementedError

    def config(self) -> dict:
        """The constructor arguments, as plain JSON-ready values."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self).items()}

    @staticmethod
    def from_config(name: str, config: dict) -> PixelOp:
        """Rebuild a pixel op from its class name and :meth:`config`."""
        if name not in PixelOp.registry:
            raise ValueError(f"name: unknown pixel op {name!r}; known: {sorted(PixelOp.registry)}")
        return PixelOp.registry[name](**config)


class Draw:
    """Per-sample random draws for one batch, all on one device, with no host sync.

    Two sources: a ``torch.Generator`` (or torch's default RNG when None), or per-sample
    ``keys`` (B int64, from a seed and sample ids, see :func:`gpuaug._hash.sample_keys`).
    With keys every value is a pure function of (key, counter), and the counter advances by
    the number of values drawn per sample, so a sample's draws do not depend on its batch,
    its rank or the device. One Draw serves all the ops of a Compose, in order.

    ``class_counts`` is set by :class:`gpuaug.Compose` when the batch's masks are known at
    sampling time (a :class:`gpuaug.candidates.CandidateCounts`): ``class_counts(matrices,
    out_size, samples=None)`` takes B×N×3×3 float64 output→canvas matrices of N candidate
    views per sample (with ``samples``, of those host positions only, S×N×3×3) and returns,
    per view, the number of distinct labels, the largest label count and the
    number of counted pixels (B×N int64 each; the chain so far composed in, masks read as the
    warp reads them, ``ignore_index`` left out). Ops that choose by content (class-aware
    crops) use it; it is None without masks.
    """

    def __init__(
        self,
        batch: int,
        device: torch.device,
        generator: torch.Generator | None = None,
        keys: torch.Tensor | None = None,
    ):
        self.batch = batch
        self.device = device
        self.generator = generator
        self.keys = keys
        self.counter = 0
        self.class_counts = None

    def _counters(self, n: int) -> torch.Tensor:
        index = torch.arange(self.counter, self.counter + n, device=self.device, dtype=torch.int64)
        self.counter += n
        return index

    def rand(self, *shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Uniform [0, 1) draws of shape (B, *shape)."""
        if self.keys is None:
            return torch.rand((self.batch, *shape), generator=self.generator, device=self.device, dtype=dtype)
        n = math.prod(shape)
        values = _hash.uniform(self.keys.view(-1, 1), self._counters(n).view(1, -1))
        return values.view(self.batch, *shape).to(dtype)

    def uniform(self, low: float, high: float) -> torch.Tensor:
        """B float32 draws uniform in [low, high)."""
        return self.rand().mul_(high - low).add_(low)

    def seeds(self) -> torch.Tensor:
        """B int64 seeds in [0, 2**31) for counter-based noise (see gpuaug._hash)."""
        if self.keys is None:
            return torch.randint(0, 2**31, (self.batch,), generator=self.generator, device=self.device)
        return _hash.bits(self.keys, self._counters(1)) >> 1

    def coin(self, p: float) -> torch.Tensor:
        """B booleans, each True with probability ``p``."""
        return self.rand() < p

    def integers(self, low: torch.Tensor | float, high: torch.Tensor | float, count: int | None = None) -> torch.Tensor:
        """B float64 integers uniform in [low, high] (inclusive), bounds scalar or per sample (B).

        With ``count``, B×count independent draws (per-sample bounds broadcast).
        """
        span = high - low + 1  # a float or a B-tensor; never copied from the host
        if count is None:
            return torch.floor(self.rand(dtype=torch.float64) * span).clamp_(max=span - 1).add_(low)
        if isinstance(span, torch.Tensor):
            low, span = (v.unsqueeze(1) if isinstance(v, torch.Tensor) else v for v in (low, span))
        return torch.minimum(torch.floor(self.rand(count, dtype=torch.float64) * span), span - 1).add_(low)


class CanvasOp(_Repr):
    """Base class of the ops that act on the output canvas after the geometric chain:
    :class:`gpuaug.ElasticTransform` and the mixing ops (:class:`gpuaug.CutMix`,
    :class:`gpuaug.ClassMix`, :class:`gpuaug.Mosaic`).

    They change where each output pixel reads (which sample, which coordinate: see
    :mod:`gpuaug.core.views`), so image, mask and targets still come from one resample. Subclasses
    implement :meth:`sample` (per-sample draws as tensors on the final (h, w) canvas); their
    constructor arguments are plain values, kept by :meth:`config` for replay.
    """

    #: Whether the op mixes samples (reads other samples of the batch).
    mixing = False
    registry: dict[str, type[CanvasOp]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        CanvasOp.registry[cls.__name__] = cls

    def sample(self, draw: Draw, size: tuple[int, int]) -> dict[str, torch.Tensor]:
        """Draw the parameters of ``draw.batch`` samples on the output canvas ``size`` (h, w)."""
        raise NotImplementedError

    def config(self) -> dict:
        """The constructor arguments, as plain JSON-ready values."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self).items()}

    @staticmethod
    def from_config(name: str, config: dict) -> CanvasOp:
        """Rebuild a canvas op from its class name and :meth:`config`."""
        return CanvasOp.registry[name](**config)
