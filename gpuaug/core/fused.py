"""The fused image kernel's per-sample step arguments, which the fusable pixel ops fill.

The kernel (``gpuaug.kernels.fused_image``) runs, after the warp, a fixed sequence of steps
(each fusable op's ``stage``). :class:`FusedSteps` holds the kernel's arguments for all of
them, neutral until an op fills its part with ``op.fuse(steps, draws)``; ``flags`` says
which steps the kernel compiles in. :mod:`gpuaug.fusion` decides which ops are fused and
launches the kernel with these arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["FusedSteps"]

#: The kernel's step switches (constexprs), all off until an op turns its own on.
FLAGS = ("BRIGHTNESS", "CONTRAST", "SATURATION", "HUE", "PMD", "GRAY", "NOISE", "NOISE_CLIP", "NORMALIZE")


@dataclass
class FusedSteps:
    """The fused kernel's step arguments for a batch of B samples (float32 on the device).

    Attributes:
        jitter: ColorJitter's (applied, brightness, contrast, saturation, hue), B each.
        photometric: PhotoMetricDistortion's (applied, brightness, contrast_first, contrast,
            saturation, hue), B each.
        gray: RandomGrayscale's applied flag (B).
        noise: GaussianNoise's (applied, std), B×2; ``seed``: its B int64 noise seeds;
            ``noise_mean``: its mean.
        norm: Normalize's (mean, std), 2×3.
        flags: which steps the kernel runs (:data:`FLAGS`).
    """

    jitter: list[torch.Tensor]
    photometric: list[torch.Tensor]
    gray: torch.Tensor
    noise: torch.Tensor
    seed: torch.Tensor
    norm: torch.Tensor
    noise_mean: float = 0.0
    flags: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(FLAGS, False))

    @classmethod
    def neutral(cls, batch: int, device: torch.device) -> FusedSteps:
        """Every step's arguments at their identity (and every flag off)."""
        ones = torch.ones(batch, dtype=torch.float32, device=device)
        zeros = torch.zeros(batch, dtype=torch.float32, device=device)
        return cls(
            jitter=[zeros, ones, ones, ones, zeros],
            photometric=[zeros, zeros, zeros, ones, ones, zeros],
            gray=zeros,
            noise=torch.stack((zeros, zeros), dim=1),
            seed=torch.zeros(batch, dtype=torch.int64, device=device),
            norm=torch.stack((torch.zeros(3, device=device), torch.ones(3, device=device))),
        )
