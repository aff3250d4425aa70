"""Synthetic segmentation scenes generated on the fly (no downloads), for the demo and examples.

Each sample is a textured background (class 0) with one object of every other class at a
random place and size: a large ellipse, a rectangle, a thin bar and a small disc (classes
repeat these kinds past 4), plus a void band labelled ``ignore_index``. Every class has its
own colour and texture, so a model can learn them and a misaligned mask is visible.
:func:`make_volumes` draws the 3D counterpart: ellipsoids and thin rods in a noisy volume.
"""

from __future__ import annotations

import math

import torch

__all__ = ["make_scenes", "make_volumes"]

_PALETTE = (
    (0.35, 0.45, 0.35),
    (0.85, 0.25, 0.20),
    (0.20, 0.45, 0.85),
    (0.95, 0.80, 0.15),
    (0.65, 0.30, 0.75),
    (0.15, 0.75, 0.70),
    (0.95, 0.55, 0.10),
    (0.55, 0.55, 0.55),
)


def make_scenes(
    batch: int,
    height: int,
    width: int,
    num_classes: int = 5,
    ignore_index: int = 255,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``batch`` random scenes.

    Args:
        batch, height, width: batch size and image size.
        num_classes: classes including background 0 (2 to 8).
        ignore_index: label of the void band.
        generator: random source (drawn on its device, or ``device``).
        device: where the scenes are made.

    Returns:
        images B×3×H×W float32 in [0, 1] and masks B×1×H×W int64.
    """
    if not 2 <= num_classes <= len(_PALETTE):
        raise ValueError(f"num_classes: expected 2 to {len(_PALETTE)}, got {num_classes}")
    device = torch.device(device) if device is not None else (generator.device if generator else torch.device("cpu"))

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand((batch, *shape), generator=generator, device=device)

    y = torch.arange(height, device=device, dtype=torch.float32).view(1, height, 1) + 0.5
    x = torch.arange(width, device=device, dtype=torch.float32).view(1, 1, width) + 0.5
    size = float(min(height, width))
    labels = torch.zeros((batch, height, width), dtype=torch.int64, device=device)
    for k in range(1, num_classes):
        cx, cy = (rand(1, 1) * 0.8 + 0.1) * width, (rand(1, 1) * 0.8 + 0.1) * height
        kind = (k - 1) % 4
        if kind == 0:  # large ellipse
            rx, ry = (rand(1, 1) * 0.15 + 0.15) * size, (rand(1, 1) * 0.15 + 0.1) * size
            shape = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0
        elif kind == 1:  # rectangle
            hw, hh = (rand(1, 1) * 0.12 + 0.08) * size, (rand(1, 1) * 0.12 + 0.08) * size
            shape = ((x - cx).abs() <= hw) & ((y - cy).abs() <= hh)
        elif kind == 2:  # thin bar at a random angle, 1.5 to 3 px wide
            angle = rand(1, 1) * math.pi
            across = (x - cx) * torch.sin(angle) - (y - cy) * torch.cos(angle)
            along = (x - cx) * torch.cos(angle) + (y - cy) * torch.sin(angle)
            shape = (across.abs() <= rand(1, 1) * 0.75 + 0.75) & (along.abs() <= 0.35 * size)
        else:  # small disc
            r = (rand(1, 1) * 0.04 + 0.03) * size
            shape = (x - cx) ** 2 + (y - cy) ** 2 <= r**2
        labels = torch.where(shape, k, labels)
    # A void band along one random side, as annotation tools leave at image borders.
    band = (rand(1, 1) * 0.08 + 0.04) * size
    side = (rand(1, 1) * 4).floor()
    void = torch.where(
        side == 0,
        x < band,
        torch.where(side == 1, x > width - band, torch.where(side == 2, y < band, y > height - band)),
    )
    labels = torch.where(void, ignore_index, labels)

    palette = torch.tensor(_PALETTE[:num_classes], device=device)
    colour = palette[labels.clamp(0, num_classes - 1)].permute(0, 3, 1, 2)
    colour = torch.where(void.unsqueeze(1), torch.full_like(colour, 0.1), colour)
    freq = (rand(1, 1, 1) * 0.3 + 0.2).expand(batch, 3, 1, 1)
    texture = 0.08 * torch.sin(freq * x.unsqueeze(1) + 2.0 * torch.sin(freq * y.unsqueeze(1)))
    noise = 0.05 * (torch.rand((batch, 3, height, width), generator=generator, device=device) - 0.5)
    images = (colour + texture * (1 + labels.unsqueeze(1) % 3) + noise).clamp_(0.0, 1.0)
    return images, labels.unsqueeze(1)


def make_volumes(
    batch: int,
    size: int,
    num_classes: int = 4,
    ignore_index: int = 255,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``batch`` random volumes of ``size``³: a noisy background (class 0) with, per
    other class, an ellipsoid (odd classes) or a thin rod along a random direction (even
    ones), each of its own intensity (CT-like units, about −100 to 300), and a void slab
    labelled ``ignore_index`` along one face.

    Returns:
        volumes B×1×S×S×S float32 and labels B×S×S×S int64.
    """
    if not 2 <= num_classes <= 8:
        raise ValueError(f"num_classes: expected 2 to 8, got {num_classes}")
    device = torch.device(device) if device is not None else (generator.device if generator else torch.device("cpu"))

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand((batch, *shape), generator=generator, device=device)

    axis = torch.arange(size, device=device, dtype=torch.float32) + 0.5
    z, y, x = axis.view(1, -1, 1, 1), axis.view(1, 1, -1, 1), axis.view(1, 1, 1, -1)
    labels = torch.zeros((batch, size, size, size), dtype=torch.int64, device=device)
    for k in range(1, num_classes):
        cz, cy, cx = ((rand(1, 1, 1) * 0.6 + 0.2) * size for _ in range(3))
        if k % 2:  # an ellipsoid
            rz, ry, rx = ((rand(1, 1, 1) * 0.15 + 0.12) * size for _ in range(3))
            shape = ((z - cz) / rz) ** 2 + ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1.0
        else:  # a rod of radius 1 to 2 voxels along a random unit direction
            d = torch.nn.functional.normalize(rand(3) - 0.5, dim=1).view(batch, 3, 1, 1, 1)
            pz, py, px = z - cz, y - cy, x - cx
            along = pz * d[:, 0] + py * d[:, 1] + px * d[:, 2]
            across = (pz**2 + py**2 + px**2 - along**2).clamp(min=0.0).sqrt()
            shape = (across <= rand(1, 1, 1) + 1.0) & (along.abs() <= 0.35 * size)
        labels = torch.where(shape, k, labels)
    slab = (rand(1, 1, 1) * 0.1 + 0.05) * size
    labels = torch.where(z < slab, ignore_index, labels)
    level = torch.linspace(-100.0, 300.0, num_classes, device=device)
    volumes = level[labels.clamp(0, num_classes - 1)] + 40.0 * torch.randn(
        labels.shape, generator=generator, device=device
    )
    volumes = torch.where(labels == ignore_index, -500.0, volumes)
    return volumes.unsqueeze(1), labels
