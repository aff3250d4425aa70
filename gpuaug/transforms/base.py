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

from gpuaug.core import hashing
from gpuaug.core.fused import FusedSteps
from gpuaug.core.registry import op_class, register


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


class _Base:
    """What every op class shares: its repr, its ``kind`` and its place in the one registry
    (:mod:`gpuaug.core.registry`; a class declared ``abstract=True`` is not registered)."""

    #: One of :data:`gpuaug.core.registry.KINDS`, declared by each op base class.
    kind: str
    #: The output (h, w) the op gives whatever its input size, or None: it keeps the size, or
    #: the size depends on the input. Ops that fix it say so (a property where it depends on
    #: their arguments); OneOf checks its children's by it.
    fixed_size: tuple[int, int] | None = None
    #: Whether the op folds into the warp's matrix (geometric ops, composites holding one).
    geometric = False
    #: Whether sampling reads the masks (the class-aware crop's check of its candidates).
    needs_masks = False
    #: Whether each output value depends on the same input pixel only (with per-sample draws):
    #: false for a blur's neighbourhood or a contrast about the image mean.
    pointwise = True
    #: The spatial dimensions of the data the op takes: (2,) images B×C×H×W, (3,) volumes
    #: B×C×D×H×W (:mod:`gpuaug.transforms.volume`), (2, 3) either (intensity ops). A Compose's
    #: ops must share one.
    spatial_dims: tuple[int, ...] = (2,)

    def __init_subclass__(cls, abstract: bool = False, **kwargs):
        super().__init_subclass__(**kwargs)
        if not abstract:
            register(cls)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"

    def config(self) -> dict:
        """The constructor arguments, as plain JSON-ready values (what a pixel or canvas op's
        record keeps for replay)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self).items()}

    @classmethod
    def from_config(cls, name: str, config: dict) -> _Base:
        """Rebuild an op of this base's kind (``PixelOp.from_config``, ``CanvasOp.from_config``)
        from its class name and :meth:`config`; ValueError for an unknown name or another kind."""
        return op_class(name, kind=cls.kind)(**config)

    def check_draws(self, draws: dict[str, torch.Tensor], batch: int, out_size: tuple[int, int], key: str) -> None:
        """Check recorded draws (from a file: :meth:`gpuaug.Params.from_dict`) against the batch
        and the output canvas, raising ValueError naming ``key`` (``ops[3]``); nothing to check
        by default."""


class Op(_Base, abstract=True):
    """Base class of the geometric ops: subclasses implement :meth:`sample`."""

    kind = "geometric"
    geometric = True
    #: True for ops whose matrix has a perspective row (the warp must divide by w).
    perspective = False

    def sample(self, draw: Draw, size: Canvas) -> Step:
        """Draw the parameters of ``draw.batch`` samples on a canvas of ``size`` ((h, w) or :class:`Sizes`)."""
        raise NotImplementedError


class PixelOp(_Base, abstract=True):
    """Base class of the pixel ops, which change image values and never touch masks.

    Subclasses implement :meth:`sample` (per-sample draws as tensors) and :meth:`apply`
    (the torch path on float32 B×C×h×w images). Their constructor arguments are plain
    values, kept by :meth:`config`, so :class:`gpuaug.Params` can rebuild the op for replay.
    ``stage`` is the op's place in the fused image kernel's fixed order (None: not fused);
    an op with a stage fills its part of the kernel's arguments in :meth:`fuse`.
    ``per_sample`` declares that :meth:`apply` on a slice of the batch, with the same slice of
    every draw (each B×…), gives that slice of the whole batch's output (no value depends on
    another sample), so the engine may run it chunk by chunk on the CPU.
    """

    kind = "pixel"
    stage: int | None = None
    per_sample: bool = True

    def sample(self, draw: Draw, channels: int) -> dict[str, torch.Tensor]:
        """Draw the parameters of ``draw.batch`` samples with ``channels`` channels."""
        raise NotImplementedError

    def apply(self, images: torch.Tensor, draws: dict[str, torch.Tensor]) -> torch.Tensor:
        """Apply the op to float32 images B×C×h×w (returns a new tensor)."""
        raise NotImplementedError

    def check_dims(self, dims: int, key: str) -> None:
        """Check the op's arguments against data of ``dims`` spatial dimensions (once the
        Compose knows them), raising ValueError naming ``key``; nothing by default."""

    def fuse(self, steps: FusedSteps, draws: dict[str, torch.Tensor]) -> None:
        """Fill this op's step of the fused kernel's arguments from its ``draws`` (ops with a ``stage``)."""
        raise NotImplementedError(f"{type(self).__name__} declares a fused-kernel stage but no fuse()")


class Draw:
    """Per-sample random draws for one batch, all on one device, with no host sync.

    Two sources: a ``torch.Generator`` (or torch's default RNG when None), or per-sample
    ``keys`` (B int64, from a seed and sample ids, see :func:`gpuaug.core.hashing.sample_keys`).
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

    ``foreground`` likewise, for volumes (:class:`gpuaug.RandomCrop3D`): ``foreground()``
    returns B×D×H×W bool, the voxels of the canvas so far whose label (the masks read through
    the chain so far, as the warp reads them) is neither 0 nor ``ignore_index``.
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
        self.foreground = None

    def _counters(self, n: int) -> torch.Tensor:
        index = torch.arange(self.counter, self.counter + n, device=self.device, dtype=torch.int64)
        self.counter += n
        return index

    def rand(self, *shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Uniform [0, 1) draws of shape (B, *shape)."""
        if self.keys is None:
            return torch.rand((self.batch, *shape), generator=self.generator, device=self.device, dtype=dtype)
        n = math.prod(shape)
        values = hashing.uniform(self.keys.view(-1, 1), self._counters(n).view(1, -1))
        return values.view(self.batch, *shape).to(dtype)

    def full(self, value: float) -> torch.Tensor:
        """B float32 copies of ``value`` on the draw's device (a parameter an op does not draw)."""
        return torch.full((self.batch,), float(value), dtype=torch.float32, device=self.device)

    def uniform(self, low: float, high: float) -> torch.Tensor:
        """B float32 draws uniform in [low, high)."""
        return self.rand().mul_(high - low).add_(low)

    def seeds(self) -> torch.Tensor:
        """B int64 seeds in [0, 2**31) for counter-based noise (see gpuaug.core.hashing)."""
        if self.keys is None:
            return torch.randint(0, 2**31, (self.batch,), generator=self.generator, device=self.device)
        return hashing.bits(self.keys, self._counters(1)) >> 1

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


class CanvasOp(_Base, abstract=True):
    """Base class of the ops that act on the output canvas after the geometric chain:
    :class:`gpuaug.ElasticTransform` and the mixing ops (:class:`gpuaug.CutMix`,
    :class:`gpuaug.ClassMix`, :class:`gpuaug.Mosaic`).

    They change where each output pixel reads (which sample, which coordinate: see
    :mod:`gpuaug.core.views`), so image, mask and targets still come from one resample. Subclasses
    implement :meth:`sample` (per-sample draws as tensors on the final (h, w) canvas); their
    constructor arguments are plain values, kept by :meth:`config` for replay.
    """

    kind = "canvas"
    #: Whether the op mixes samples (reads other samples of the batch).
    mixing = False
    #: Whether the pixel ops listed before it must be :attr:`pointwise` (Mosaic: they would see
    #: each quadrant's canvas, not its source's view).
    pointwise_before = False
    #: Whether a mixing op chooses where each pixel reads from the warped masks
    #: (:meth:`select`: ClassMix), so it needs masks and the masks are warped first.
    selects_by_labels = False

    def sample(self, draw: Draw, size: tuple[int, int]) -> dict[str, torch.Tensor]:
        """Draw the parameters of ``draw.batch`` samples on the output canvas ``size`` (h, w)."""
        raise NotImplementedError

    def draw_shapes(self, batch: int, out_size: tuple[int, int]) -> dict[str, tuple[int, ...]]:
        """The shape of every draw but ``applied`` (B) for ``batch`` samples on ``out_size``."""
        raise NotImplementedError

    def check_draws(self, draws, batch, out_size, key):
        """Every draw present with its shape (:meth:`draw_shapes`), then :meth:`check_values`."""
        expected = {"applied": (batch,), **self.draw_shapes(batch, out_size)}
        for field, shape in expected.items():
            if field not in draws or tuple(draws[field].shape) != shape:
                got = tuple(draws[field].shape) if field in draws else "nothing"
                raise ValueError(f"{key}.draws.{field}: expected shape {shape} for {type(self).__name__}, got {got}")
        self.check_values(draws, batch, out_size, key)

    def check_values(self, draws: dict[str, torch.Tensor], batch: int, out_size: tuple[int, int], key: str) -> None:
        """Check the values of draws of the right shapes (sample indices, boxes): nothing by default."""

    def select(self, labels: torch.Tensor, draws: dict[str, torch.Tensor], ignore_index: int) -> torch.Tensor:
        """B×h×w bool, where each sample shows its partner, from ``labels`` (B×h×w: every
        sample's own warped view); only ops that declare :attr:`selects_by_labels`."""
        raise NotImplementedError(f"{type(self).__name__} does not choose its views from labels")


def per_sample(values: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """B per-sample ``values`` shaped to broadcast over ``images`` (B×C×h×w or B×C×d×h×w)."""
    return values.view(-1, *[1] * (images.dim() - 1))


def check_within(key: str, values: torch.Tensor, low: int, high: int, what: str) -> None:
    """ValueError naming ``key`` unless every one of ``values`` lies in [low, high]."""
    if values.numel() and not bool(((values >= low) & (values <= high)).all()):
        raise ValueError(f"{key}: expected {what} in [{low}, {high}], got {values.tolist()}")
