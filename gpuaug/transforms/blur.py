"""GaussianBlur: a per-sample separable Gaussian, reflect border (torchvision semantics).

The blur is a second pass over the warped image rather than part of the fused image
kernel: each output pixel needs a k×k neighbourhood of the *warped* image, which one pass
could only get by warping every tap again (k² bilinear samples instead of one). As two
1-D passes over the already warped image it reads each pixel about 2k times from cache.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from gpuaug.core.checks import check_probability, check_range
from gpuaug.transforms.base import PixelOp

__all__ = ["GaussianBlur", "gaussian_kernels"]


def gaussian_kernels(size: int, sigma: torch.Tensor) -> torch.Tensor:
    """B×size normalised 1-D Gaussian kernels, taps at offsets −(size−1)/2 … (size−1)/2."""
    offsets = torch.arange(size, dtype=torch.float32, device=sigma.device) - (size - 1) / 2.0
    weights = torch.exp(-0.5 * (offsets / sigma.view(-1, 1).float()) ** 2)
    return weights / weights.sum(dim=1, keepdim=True)


class GaussianBlur(PixelOp):
    """Blur with a Gaussian of per-sample sigma, with probability ``p``.

    Args:
        kernel_size: odd positive int or (height, width) pair of them.
        sigma: a number (fixed) or a (min, max) range drawn per sample (> 0).
        p: probability of blurring a sample.

    Draws: ``applied`` (B bool), ``sigma`` (B float).
    """

    pointwise = False  # a neighbourhood

    def __init__(self, kernel_size: int | Sequence[int], sigma=(0.1, 2.0), p: float = 0.5):
        if isinstance(kernel_size, int) and not isinstance(kernel_size, bool):
            kernel_size = (kernel_size, kernel_size)
        if not (
            isinstance(kernel_size, Sequence)
            and not isinstance(kernel_size, str)
            and len(kernel_size) == 2
            and all(isinstance(k, int) and not isinstance(k, bool) for k in kernel_size)
        ):
            raise TypeError(f"kernel_size: expected an int or a (height, width) pair of ints, got {kernel_size!r}")
        if not all(k > 0 and k % 2 == 1 for k in kernel_size):
            raise ValueError(f"kernel_size: expected odd positive ints, got {kernel_size!r}")
        self.kernel_size = tuple(kernel_size)
        if isinstance(sigma, (int, float)) and not isinstance(sigma, bool):
            sigma = (sigma, sigma)
        self.sigma = check_range(sigma, "sigma", positive=True)
        self.p = check_probability(p)

    def sample(self, draw, channels):
        return {"applied": draw.coin(self.p), "sigma": draw.uniform(*self.sigma)}

    def apply(self, images, draws):
        b, c, h, w = images.shape
        kh, kw = self.kernel_size
        if kh // 2 >= h or kw // 2 >= w:
            raise ValueError(f"kernel_size: {self.kernel_size} is too large for a reflect border on {h}×{w} images")
        if b == 0:
            return images.clone()
        sigma = draws["sigma"]
        # One depthwise convolution per axis; each sample's channels share that sample's kernel.
        planes = images.reshape(1, b * c, h, w)
        across = gaussian_kernels(kw, sigma).repeat_interleave(c, dim=0).view(b * c, 1, 1, kw)
        down = gaussian_kernels(kh, sigma).repeat_interleave(c, dim=0).view(b * c, 1, kh, 1)
        planes = F.conv2d(F.pad(planes, (kw // 2, kw // 2, 0, 0), mode="reflect"), across, groups=b * c)
        planes = F.conv2d(F.pad(planes, (0, 0, kh // 2, kh // 2), mode="reflect"), down, groups=b * c)
        return torch.where(draws["applied"].view(-1, 1, 1, 1), planes.view(b, c, h, w), images)
