"""Overlays of images and masks, for eyeballing a batch (matplotlib, from the ``viz`` extra)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

__all__ = ["save_overlay"]


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("gpuaug.viz needs matplotlib: pip install 'gpuaug[viz]' (or pip install matplotlib)") from exc
    return plt


def save_overlay(
    images: torch.Tensor,
    masks: torch.Tensor,
    path: str | Path,
    ignore_index: int = 255,
    params=None,
    max_samples: int = 8,
    titles: Sequence[str] | None = None,
) -> Path:
    """Write a PNG grid of images with a colour-coded mask overlay and the label contours.

    Args:
        images: B×C×H×W (uint8 or float in [0, 1]; the first three channels are shown, one
            channel as grey).
        masks: B×H×W or B×1×H×W labels (float masks are rounded for display).
        path: where to write the PNG.
        ignore_index: pixels with this label are shown hatched white, not coloured.
        params: optional :class:`gpuaug.Params`; each sample's ``describe(i)`` becomes its caption.
        max_samples: at most this many samples are drawn.
        titles: optional caption per sample (overrides ``params``).

    Returns:
        The path written. The grid has up to 4 samples a row; each cell is 352×396 px.
    """
    plt = _pyplot()
    n = min(images.shape[0], max_samples)
    if n == 0:
        raise ValueError("images: expected at least one sample to draw")
    scale = 255.0 if images.dtype == torch.uint8 else 1.0
    images = images[:n].detach().float().cpu() / scale
    labels = masks[:n].detach().cpu().reshape(n, *masks.shape[-2:])
    labels = labels.round().long() if labels.is_floating_point() else labels.long()
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.6 * rows), squeeze=False)
    cmap = plt.get_cmap("tab20")
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        rgb = images[k, :3] if images.shape[1] >= 3 else images[k, :1].expand(3, -1, -1)
        ax.imshow(rgb.clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="nearest")
        label = labels[k]
        ignore = label == ignore_index
        colours = torch.tensor(cmap(label.remainder(20).numpy().ravel())).float().view(*label.shape, 4)
        colours[..., 3] = torch.where(ignore, 0.0, 0.45)
        edge = torch.zeros_like(ignore)
        edge[:, 1:] |= label[:, 1:] != label[:, :-1]
        edge[1:, :] |= label[1:, :] != label[:-1, :]
        colours[edge] = torch.tensor([0.0, 0.0, 0.0, 0.9])
        ax.imshow(colours.numpy(), interpolation="nearest")
        if ignore.any():
            ax.contourf(ignore.float().numpy(), levels=[0.5, 1.5], colors="none", hatches=["////"])
        if titles is not None:
            caption = titles[k]
        elif params is not None:
            caption = params.describe(k)
        else:
            caption = f"sample {k}"
        ax.set_title(caption, fontsize=6, loc="left", family="monospace")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
