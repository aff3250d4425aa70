"""Overlays of images and masks, for eyeballing a batch (matplotlib, from the ``viz`` extra)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import torch

from gpuaug.core.checks import check_images, check_int
from gpuaug.optional import require

__all__ = ["save_overlay"]

#: Grid cell size in inches (width, height), samples per row and resolution of the PNG.
CELL = (3.2, 3.6)
COLUMNS = 4
DPI = 110
#: Caption font sizes tried in turn (points), the caption's share of the cell height, and
#: the advance of one monospace character in ems: DejaVu Sans Mono's is 0.6, which hinting
#: rounds up to whole pixels (up to 0.72 at 4 pt and 100 dpi), hence the margin.
FONT_SIZES = (6.0, 5.5, 5.0, 4.5, 4.0)
CAPTION_HEIGHT = 0.3
CHAR_WIDTH = 0.75


def _pyplot():
    require("matplotlib", "viz", "gpuaug.viz").use("Agg")
    return require("matplotlib.pyplot", "viz", "gpuaug.viz")


def save_overlay(
    images: torch.Tensor,
    masks: torch.Tensor,
    path: str | Path,
    ignore_index: int = 255,
    params=None,
    max_samples: int = 8,
    titles: Sequence[str] | None = None,
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
) -> Path:
    """Write a PNG grid of images with a colour-coded mask overlay and the label contours.

    Args:
        images: B×C×H×W (uint8 or float in [0, 1]; the first three channels are shown, one
            channel as grey).
        masks: B×H×W or B×1×H×W labels (float masks are rounded for display).
        path: where to write the PNG.
        ignore_index: pixels with this label are hatched with black and white stripes (visible
            on any image), not coloured.
        params: optional :class:`gpuaug.Params`; each sample's ``describe(i)`` becomes its caption.
        max_samples: at most this many samples are drawn.
        titles: optional caption per sample (overrides ``params``).
        mean, std: the arguments of a :class:`gpuaug.Normalize` the images went through; the
            overlay shows ``images · std + mean`` (pass both or neither).

    Returns:
        The path written. The grid has up to 4 samples a row; each cell is 352×396 px. Long
        captions are wrapped to the cell's width and set smaller when they are tall.
    """
    fig = _figure(images, masks, ignore_index, params, max_samples, titles, mean, std)
    path = Path(path)
    fig.savefig(path, dpi=DPI)
    _pyplot().close(fig)
    return path


def _figure(images, masks, ignore_index, params, max_samples, titles, mean, std):
    """The overlay figure of :func:`save_overlay` (arguments checked here)."""
    plt = _pyplot()
    b, _, h, w = check_images(images)
    if not isinstance(masks, torch.Tensor):
        raise TypeError(f"masks: expected a torch.Tensor, got {type(masks).__name__}")
    if not (masks.dim() == 3 or (masks.dim() == 4 and masks.shape[1] == 1)):
        raise ValueError(f"masks: expected B×H×W or B×1×H×W, got shape {tuple(masks.shape)}")
    if masks.shape[0] != b or tuple(masks.shape[-2:]) != (h, w):
        raise ValueError(f"masks: shape {tuple(masks.shape)} does not match images of shape {tuple(images.shape)}")
    ignore_index = check_int(ignore_index, "ignore_index")
    max_samples = check_int(max_samples, "max_samples")
    if max_samples < 1:
        raise ValueError(f"max_samples: expected a positive int, got {max_samples}")
    n = min(b, max_samples)
    if n == 0:
        raise ValueError("images: expected at least one sample to draw")
    if titles is not None and len(titles) < n:
        raise ValueError(f"titles: expected a caption for each of the {n} samples drawn, got {len(titles)}")
    rgb = _display_rgb(images[:n], mean, std)
    labels = masks[:n].detach().cpu().reshape(n, h, w)
    labels = labels.round().long() if labels.is_floating_point() else labels.long()
    cols = min(n, COLUMNS)
    rows = (n + cols - 1) // cols
    fig = plt.figure(figsize=(CELL[0] * cols, CELL[1] * rows), dpi=DPI)
    # Each cell: a caption band on top, the image below; the caption lives in its own axes,
    # clipped to it, so a long one can never run into the row above.
    grid = fig.add_gridspec(
        2 * rows, cols, height_ratios=[CAPTION_HEIGHT, 1 - CAPTION_HEIGHT] * rows, hspace=0.02, wspace=0.04
    )
    grid.update(left=0.01, right=0.99, bottom=0.01, top=0.99)
    cmap = plt.get_cmap("tab20")
    for k in range(n):
        row, col = divmod(k, cols)
        band, ax = fig.add_subplot(grid[2 * row, col]), fig.add_subplot(grid[2 * row + 1, col])
        band.axis("off")
        ax.axis("off")
        ax.imshow(rgb[k].permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.imshow(_mask_rgba(labels[k], ignore_index, cmap).numpy(), interpolation="nearest")
        if titles is not None:
            caption = titles[k]
        elif params is not None:
            caption = params.describe(k)
        else:
            caption = f"sample {k}"
        text, size = _fit_caption(caption)
        band.text(0.5, 0.0, text, fontsize=size, ha="center", va="bottom", family="monospace", multialignment="left")
        band.texts[0].set_clip_on(True)
    return fig


def _display_rgb(images: torch.Tensor, mean, std) -> torch.Tensor:
    """n×3×H×W float32 in [0, 1] on the CPU: uint8 read as value/255, a Normalize undone, grey as RGB."""
    from gpuaug.transforms.color import Normalize

    if (mean is None) != (std is None):
        raise ValueError("mean, std: pass both (the Normalize to undo) or neither")
    x = images.detach().cpu().float()
    if images.dtype == torch.uint8:
        x = x / 255.0
    if mean is not None:
        undone = Normalize(mean, std)
        undone.check_dims(2, "save_overlay")
        m, s = undone.constants(x.shape[1], x.device)
        x = x * s.view(1, -1, 1, 1) + m.view(1, -1, 1, 1)
    x = x[:, :3] if x.shape[1] >= 3 else x[:, :1].expand(-1, 3, -1, -1)
    return x.clamp(0.0, 1.0)


def _mask_rgba(label: torch.Tensor, ignore_index: int, cmap) -> torch.Tensor:
    """H×W×4 overlay: translucent class colours, dark contours, black-and-white stripes on ignore."""
    height, width = label.shape
    colours = torch.tensor(cmap(label.remainder(20).numpy().ravel())).float().view(height, width, 4)
    ignore = label == ignore_index
    colours[..., 3] = torch.where(ignore, 0.0, 0.45)
    edge = torch.zeros_like(ignore)
    edge[:, 1:] |= label[:, 1:] != label[:, :-1]
    edge[1:, :] |= label[1:, :] != label[:-1, :]
    colours[edge] = torch.tensor([0.0, 0.0, 0.0, 0.9])
    # Diagonal stripes, a white and a black line per period, so ignore shows on black and on white.
    period = max(4, max(height, width) // 24)
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    phase = (rows + cols) % period
    white, black = ignore & (phase < period // 4), ignore & (phase >= period // 2) & (phase < 3 * period // 4)
    colours[white] = torch.tensor([1.0, 1.0, 1.0, 0.9])
    colours[black] = torch.tensor([0.0, 0.0, 0.0, 0.9])
    return colours


def _fit_caption(caption: str) -> tuple[str, float]:
    """``caption`` wrapped to the cell's width at the largest font size whose lines fit its height."""
    width_pt, height_pt = CELL[0] * 72 * 0.95, CELL[1] * 72 * CAPTION_HEIGHT * 0.9  # the band, less the gaps
    for size in FONT_SIZES:
        chars = int(width_pt / (CHAR_WIDTH * size))
        lines = [
            wrapped
            for line in caption.splitlines()
            for wrapped in textwrap.wrap(line, chars, subsequent_indent="    ", drop_whitespace=False) or [""]
        ]
        fits = int(height_pt / (1.3 * size))  # matplotlib's line spacing is 1.2 of the font's height
        if len(lines) <= fits:
            break
    if len(lines) > fits:
        lines = lines[: fits - 1] + ["…"]
    return "\n".join(lines), size
