"""The op interface and the random draws every op shares.

An op never touches pixels. Given the batch size, the current canvas size (h, w), the
caller's generator and a device, :meth:`Op.sample` draws *all* samples' parameters at once
as tensors and returns a :class:`Step`: the raw draws (for logging and replay), one
output→source float32 matrix per sample, and the canvas size after the op. Nothing here
reads a tensor back to the host.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class Step(NamedTuple):
    """What one geometric op contributes to a batch.

    Attributes:
        draws: name → tensor with one row per sample (B or B×k), as drawn.
        matrix: B×3×3 float32, the op's output→source map.
        out_size: (h, w) of the canvas after the op.
    """

    draws: dict[str, torch.Tensor]
    matrix: torch.Tensor
    out_size: tuple[int, int]


class _Repr:
    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Op(_Repr):
    """Base class of the geometric ops: subclasses implement :meth:`sample`."""

    #: True for ops whose matrix has a perspective row (the warp must divide by w).
    perspective = False

    def sample(
        self, batch: int, size: tuple[int, int], generator: torch.Generator | None, device: torch.device
    ) -> Step:
        """Draw the parameters of ``batch`` samples on a canvas of ``size`` = (h, w)."""
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

    def sample(
        self, batch: int, channels: int, generator: torch.Generator | None, device: torch.device
    ) -> dict[str, torch.Tensor]:
        """Draw the parameters of ``batch`` samples with ``channels`` channels."""
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
    """Per-sample random draws on one device from one generator (or the default RNG)."""

    def __init__(self, batch: int, generator: torch.Generator | None, device: torch.device):
        self.batch = batch
        self.generator = generator
        self.device = device

    def rand(self, *shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Uniform [0, 1) draws of shape (B, *shape)."""
        return torch.rand((self.batch, *shape), generator=self.generator, device=self.device, dtype=dtype)

    def uniform(self, low: float, high: float) -> torch.Tensor:
        """B float32 draws uniform in [low, high]."""
        return self.rand().mul_(high - low).add_(low)

    def seeds(self) -> torch.Tensor:
        """B int64 seeds in [0, 2**31) for counter-based noise (see gpuaug._hash)."""
        return torch.randint(0, 2**31, (self.batch,), generator=self.generator, device=self.device)

    def coin(self, p: float) -> torch.Tensor:
        """B booleans, each True with probability ``p``."""
        return self.rand() < p

    def integers(self, low: torch.Tensor | float, high: torch.Tensor | float) -> torch.Tensor:
        """B float64 integers uniform in [low, high] (inclusive), bounds scalar or per sample."""
        span = high - low + 1  # a float or a B-tensor; never copied from the host
        return torch.floor(self.rand(dtype=torch.float64) * span).clamp_(max=span - 1).add_(low)
