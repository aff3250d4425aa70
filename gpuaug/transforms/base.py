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


class Op:
    """Base class of the geometric ops: subclasses implement :meth:`sample`."""

    #: True for ops whose matrix has a perspective row (the warp must divide by w).
    perspective = False

    def sample(
        self, batch: int, size: tuple[int, int], generator: torch.Generator | None, device: torch.device
    ) -> Step:
        """Draw the parameters of ``batch`` samples on a canvas of ``size`` = (h, w)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


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

    def coin(self, p: float) -> torch.Tensor:
        """B booleans, each True with probability ``p``."""
        return self.rand() < p

    def integers(self, low: torch.Tensor | float, high: torch.Tensor | float) -> torch.Tensor:
        """B float64 integers uniform in [low, high] (inclusive), bounds scalar or per sample."""
        span = high - low + 1  # a float or a B-tensor; never copied from the host
        return torch.floor(self.rand(dtype=torch.float64) * span).clamp_(max=span - 1).add_(low)
