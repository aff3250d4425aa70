"""Intensity ops of the medical-imaging recipes (nnU-Net's), on any spatial rank.

They act on float32 B×C×… images after the warp (volumes B×C×D×H×W, read unscaled; 2D
images B×C×H×W in [0, 1]), one draw per sample, each with its own coin, and never touch
masks. Statistics (minimum, maximum, mean) are each sample's own, over all its channels
and voxels, as nnU-Net's transforms with ``per_channel=False``.
"""

from __future__ import annotations

import torch

from gpuaug.core.checks import check_bool, check_probability, check_range
from gpuaug.transforms.base import PixelOp, per_sample

__all__ = ["RandomGamma", "RandomMultiplicativeBrightness", "RandomContrast"]

#: Added to a sample's intensity range before dividing by it (batchgenerators' epsilon),
#: so a constant sample stays finite.
RANGE_EPSILON = 1e-7


def _sample_stat(images: torch.Tensor, reduce) -> torch.Tensor:
    """``reduce`` (amin, amax, mean) over each sample, shaped to broadcast over ``images``."""
    return reduce(images.reshape(images.shape[0], -1), dim=1).view(-1, *[1] * (images.dim() - 1))


class _Intensity(PixelOp, abstract=True):
    """An op with one factor per sample, uniform in ``range``, applied with probability ``p``."""

    spatial_dims = (2, 3)
    pointwise = False  # the statistics are the sample's
    draw_name = "factor"

    def __init__(self, range=(0.75, 1.25), p: float = 0.15):  # noqa: A002 (the name is the contract)
        self.range = check_range(range, "range", positive=True)
        self.p = check_probability(p)

    def sample(self, draw, channels):
        return {"applied": draw.coin(self.p), self.draw_name: draw.uniform(*self.range)}

    def apply(self, images, draws):
        if images.numel() == 0:
            return images.clone()
        changed = self.change(images, per_sample(draws[self.draw_name], images))
        return torch.where(per_sample(draws["applied"], images), changed, images)

    def change(self, images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class RandomGamma(_Intensity):
    """Gamma on each sample's intensities rescaled by its own minimum and range, mapped back.

    ``x → ((x − min) / (max − min + ε))^γ · (max − min + ε) + min``, one γ per sample uniform
    in ``gamma``, with probability ``p``. With ``invert`` the intensities are negated before
    and after (nnU-Net's ``invert_image``, which brightens instead of darkening). nnU-Net's
    ``GammaTransform(gamma_range=(0.7, 1.5), p_per_sample=0.3)`` draws γ below or above 1 with
    equal odds; here γ is uniform in the range, and its ``retain_stats`` is not applied.

    Draws: ``applied`` (B bool), ``gamma`` (B float).
    """

    draw_name = "gamma"

    def __init__(self, gamma=(0.7, 1.5), p: float = 0.3, invert: bool = False):
        self.gamma = check_range(gamma, "gamma", positive=True)
        self.p = check_probability(p)
        self.invert = check_bool(invert, "invert")

    @property
    def range(self) -> tuple[float, float]:
        return self.gamma

    def change(self, images, factor):
        x = -images if self.invert else images
        low = _sample_stat(x, torch.amin)
        span = _sample_stat(x, torch.amax) - low + RANGE_EPSILON
        out = ((x - low) / span).clamp_(min=0.0).pow_(factor).mul_(span).add_(low)
        return -out if self.invert else out


class RandomMultiplicativeBrightness(_Intensity):
    """Multiply each sample by a factor uniform in ``range``, with probability ``p``
    (nnU-Net's ``BrightnessMultiplicativeTransform(multiplier_range=(0.75, 1.25), p_per_sample=0.15)``).

    Draws: ``applied`` (B bool), ``factor`` (B float).
    """

    def change(self, images, factor):
        return images * factor


class RandomContrast(_Intensity):
    """Scale each sample about its own mean by a factor uniform in ``range``, then clamp it to
    its own minimum and maximum before the change (the range preserved), with probability
    ``p`` (nnU-Net's ``ContrastAugmentationTransform(contrast_range=(0.75, 1.25),
    preserve_range=True, p_per_sample=0.15)``).

    Draws: ``applied`` (B bool), ``factor`` (B float).
    """

    def change(self, images, factor):
        mean = _sample_stat(images, torch.mean)
        low, high = _sample_stat(images, torch.amin), _sample_stat(images, torch.amax)
        return torch.minimum(torch.maximum((images - mean) * factor + mean, low), high)
