"""Geometric ops: each draws per-sample parameters and contributes one B×3×3 matrix.

Matrices map *output* pixel centres to *source* coordinates (see :mod:`gpuaug.functional`
for the convention). A chain of ops composes by matrix product inside
:class:`gpuaug.Compose`, so the data is resampled once whatever the chain length.

Semantics follow torchvision where it has the op, with two project-wide choices from the
design: angles are positive counter-clockwise as displayed, about the canvas centre
(W/2, H/2); and ops that change the canvas size keep it fixed for the whole batch. Every
random op takes ``p``; where an op is not applied to a sample it does what its
deterministic counterpart does (a crop op then takes the centre crop, a resized crop the
whole image), so the batch keeps one output size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from gpuaug.core.checks import check_probability, check_range, check_size
from gpuaug.core.matrices import (
    scale_translate_matrix,
)
from gpuaug.transforms.base import Canvas, Draw, Op, Sizes, Step, extent, host_sizes

__all__ = [
    "RandomHorizontalFlip",
    "RandomVerticalFlip",
    "Resize",
    "RandomResize",
    "CenterCrop",
    "RandomCrop",
    "RandomResizedCrop",
    "RandomScale",
]


def _crop_step(draws: dict, top: torch.Tensor, left: torch.Tensor, crop: tuple, out_size: Canvas) -> Step:
    """A crop of per-sample corners and size ``crop`` (ints or B-tensors), resized to ``out_size``:
    source = corner + output · crop / out."""
    crop_h, crop_w = crop
    out_h, out_w = (out_size.h, out_size.w) if isinstance(out_size, Sizes) else out_size
    matrix = scale_translate_matrix(crop_w / out_w + 0.0 * left, crop_h / out_h + 0.0 * top, left, top)
    return Step(draws, matrix, out_size)


def _centre_offset(src: torch.Tensor, dst: float) -> torch.Tensor:
    """torchvision's centre-crop offset of a ``dst``-long window in ``src``-long sides (negative = padded)."""
    return torch.where(dst > src, -torch.floor((dst - src) / 2), torch.round((src - dst) / 2.0))


def _host_map(size: Canvas, batch: int, fn) -> tuple[tuple[int, int], ...] | None:
    """The host's copy of ``fn``'s sizes: ``fn`` (the per-sample float64 tensor arithmetic the
    device runs, (h, w) → (h, w)) on CPU tensors of the host's sizes, so both copies come
    from one formula; None when the host does not know the input sizes."""
    sizes = host_sizes(size, batch)
    if sizes is None:
        return None
    hw = torch.tensor(sizes, dtype=torch.float64).reshape(-1, 2)
    out_h, out_w = fn(hw[:, 0], hw[:, 1])
    return tuple((int(a), int(b)) for a, b in zip(out_h.tolist(), out_w.tolist(), strict=True))


class _Flip(Op, abstract=True):
    axis = 0  # 0: horizontal (x), 1: vertical (y)

    def __init__(self, p: float = 0.5):
        self.p = check_probability(p)

    def sample(self, draw, size):
        applied = draw.coin(self.p)
        sign = 1.0 - 2.0 * applied.double()
        one, zero = torch.ones_like(sign), torch.zeros_like(sign)
        h, w = extent(draw, size)
        offset = applied.double() * (w if self.axis == 0 else h)
        if self.axis == 0:
            matrix = scale_translate_matrix(sign, one, offset, zero)
        else:
            matrix = scale_translate_matrix(one, sign, zero, offset)
        return Step({"applied": applied}, matrix, size)


class RandomHorizontalFlip(_Flip):
    """Mirror left-right with probability ``p`` (source x = W − x).

    Draws: ``applied`` (B bool).
    """

    axis = 0


class RandomVerticalFlip(_Flip):
    """Mirror top-bottom with probability ``p`` (source y = H − y).

    Draws: ``applied`` (B bool).
    """

    axis = 1


class Resize(Op):
    """Resize to ``size``: an int scales the shorter side to it (keeping the aspect ratio, the
    longer side truncated as torchvision does); an (h, w) pair is exact.

    With an int, samples of different sizes get different sizes (a fixed-size op must
    follow); an (h, w) pair gives every sample that size.

    Draws: none.
    """

    def __init__(self, size: int | Sequence[int]):
        if isinstance(size, Sequence) and len(size) == 1:
            size = size[0]
        self.size = size if isinstance(size, int) else check_size(size, "size")
        check_size(self.size, "size")

    def output_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """The output (h, w) for an input canvas of ``size`` = (h, w)."""
        if not isinstance(self.size, int):
            return self.size
        return _host_map(size, 1, lambda h, w: _short_side_size(h, w, self.size))[0]

    @property
    def fixed_size(self) -> tuple[int, int] | None:
        return None if isinstance(self.size, int) else self.size  # an int keeps the aspect ratio

    def sample(self, draw, size):
        zero = draw.full(0.0).double()
        h, w = extent(draw, size)
        if not isinstance(self.size, int):
            out = self.size
        elif isinstance(size, Sizes):
            host = _host_map(size, draw.batch, lambda a, b: _short_side_size(a, b, self.size))
            out = Sizes(*_short_side_size(h, w, self.size), host)
        else:
            out = self.output_size(size)
        return _crop_step({}, zero, zero, (h, w), out)


def _short_side_size(h: torch.Tensor, w: torch.Tensor, short) -> tuple[torch.Tensor, torch.Tensor]:
    """(h, w) per sample (float64 tensors) with the shorter side ``short`` (a number or per-sample
    tensor) and the longer truncated as torchvision does."""
    landscape = h <= w
    long_side = torch.floor(short * torch.maximum(h, w) / torch.minimum(h, w))
    short_side = short + 0.0 * h
    return torch.where(landscape, short_side, long_side), torch.where(landscape, long_side, short_side)


class RandomResize(Op):
    """Resize each sample by a random ratio: the mmsegmentation / mmcv recipe, and torchvision's.

    With ``scale`` (an int or (h, w); note mmcv writes it (w, h)): per sample a ratio ~
    U(``ratio_range``) (1 without a range), the target scale ``int(side · ratio)`` per
    side; with ``keep_ratio`` the image is scaled by ``f = min(max(target) / max(h, w),
    min(target) / min(h, w))`` to ``int(x · f + 0.5)`` per side (mmcv's rounding), without
    it the target scale is the output size. With ``short_side=(min, max)`` instead: the
    shorter side ~ U{min, ..., max} (integers), the longer scaled as :class:`Resize` does.

    Samples get sizes of their own, so a fixed-size op (``RandomCrop(..., pad_if_needed=
    True)``, ``CenterCrop``, ``Resize((h, w))``, ``RandomResizedCrop``) must follow; only
    ``keep_ratio=False`` without ``ratio_range`` is itself fixed-size. A sample the op is
    not applied to (probability 1 − ``p``) gets ratio 1 (with ``short_side``: keeps its size).

    Configs it replaces:

    - mmsegmentation ADE20K, ``dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0),
      keep_ratio=True)``: ``RandomResize((512, 2048), ratio_range=(0.5, 2.0))``;
    - torchvision's segmentation reference, ``RandomResize(min_size=260, max_size=1040)``:
      ``RandomResize(short_side=(260, 1040))``.

    Draws: ``applied``; ``ratio`` (B float64) with ``ratio_range``, ``short_side`` with it;
    ``height``, ``width`` (B float64, the output size).
    """

    def __init__(
        self,
        scale: int | Sequence[int] | None = None,
        ratio_range: Sequence[float] | None = None,
        keep_ratio: bool = True,
        p: float = 1.0,
        *,
        short_side: Sequence[int] | None = None,
    ):
        if (scale is None) == (short_side is None):
            raise ValueError("scale, short_side: pass one of them (mmcv's scale, or torchvision's short-side range)")
        self.scale = None if scale is None else check_size(scale, "scale")
        if short_side is not None:
            if ratio_range is not None:
                raise ValueError("ratio_range: only used with scale=, not with short_side=")
            lo, hi = check_size(short_side, "short_side")
            if lo > hi:
                raise ValueError(f"short_side: expected (min, max) with min <= max, got {short_side!r}")
            short_side = (lo, hi)
        self.short_side = short_side
        self.ratio_range = None if ratio_range is None else check_range(ratio_range, "ratio_range", positive=True)
        if not isinstance(keep_ratio, bool):
            raise TypeError(f"keep_ratio: expected a bool, got {keep_ratio!r}")
        self.keep_ratio = keep_ratio
        self.p = check_probability(p)

    @property
    def fixed_size(self) -> tuple[int, int] | None:
        """The output size whatever the input: ``scale`` without ``keep_ratio`` and ``ratio_range``."""
        if self.scale is not None and not self.keep_ratio and self.ratio_range is None:
            return self.scale
        return None

    def _output(self, h: torch.Tensor, w: torch.Tensor, ratio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Output (h, w) for per-sample sides and ratios (float64 tensors), mmcv's arithmetic."""
        target_h, target_w = torch.floor(self.scale[0] * ratio), torch.floor(self.scale[1] * ratio)
        if not self.keep_ratio:
            return target_h, target_w
        larger, smaller = torch.maximum(target_h, target_w), torch.minimum(target_h, target_w)
        f = torch.minimum(larger / torch.maximum(h, w), smaller / torch.minimum(h, w))
        return torch.floor(h * f + 0.5), torch.floor(w * f + 0.5)

    def sample(self, draw, size):
        h, w = extent(draw, size)
        applied = draw.coin(self.p)
        draws = {"applied": applied}
        host = None
        if self.short_side is not None:
            side = draw.integers(*self.short_side)
            out_h, out_w = _short_side_size(h, w, side)
            out_h, out_w = torch.where(applied, out_h, h), torch.where(applied, out_w, w)
            draws["short_side"] = side
        else:
            if self.ratio_range is None:
                ratio = torch.ones_like(h)
                host = _host_map(size, draw.batch, lambda a, b: self._output(a, b, torch.ones_like(a)))
            else:
                lo, hi = self.ratio_range
                ratio = torch.where(applied, draw.rand(dtype=torch.float64) * (hi - lo) + lo, 1.0)
                draws["ratio"] = ratio
            out_h, out_w = self._output(h, w, ratio)
        draws |= {"height": out_h, "width": out_w}
        zero = torch.zeros_like(h)
        matrix = scale_translate_matrix(w / out_w, h / out_h, zero, zero)
        if self.fixed_size is not None:
            out = self.fixed_size
        elif host is not None and not isinstance(size, Sizes):
            out = host[0]
        else:
            out = Sizes(out_h, out_w, host)
        return Step(draws, matrix, out)


class CenterCrop(Op):
    """Crop the centre ``size`` (int or (h, w)); a smaller image is padded with fill / ignore.

    Draws: none.
    """

    def __init__(self, size: int | Sequence[int]):
        self.size = check_size(size, "size")

    @property
    def fixed_size(self) -> tuple[int, int]:
        return self.size

    def sample(self, draw, size):
        (h, w), (ch, cw) = extent(draw, size), self.size
        return _crop_step({}, _centre_offset(h, ch), _centre_offset(w, cw), self.size, self.size)


class RandomCrop(Op):
    """Crop ``size`` (int or (h, w)) at a per-sample integer offset drawn uniformly.

    With ``pad_if_needed`` a side smaller than the crop is padded with fill / ignore (or the
    padding mode); without it a smaller sample raises ValueError (checked on the host from
    the input sizes; after an op that gives each sample a random size, ``pad_if_needed=True``
    is required). A sample the op is not applied to (probability 1 − ``p``) gets the centre
    crop (with ``pad_position="top_left"``, a smaller side of it at 0).

    ``pad_position`` says where a side smaller than the crop sits (keyword-only):

    - ``"random"`` (default; torchvision's ``RandomCrop(pad_if_needed=True)`` pads both
      sides by the missing length first, so its offset ranges over the same window): at a
      uniform integer offset inside the crop, the padding split between the two ends;
    - ``"top_left"`` (mmsegmentation's): at offset 0, the padding only at the bottom / right.
      mmsegmentation's ``RandomCrop`` cuts ``img[y:y+h, x:x+w]`` with the offset drawn in
      ``[0, max(H − h, 0)]`` per side, so a smaller image keeps its own size, and its data
      preprocessor pads the batch at the bottom / right *after* normalisation (image 0, the
      mean colour; labels 255). Here the padding is applied at the warp, before the pixel
      ops: a ``fill`` equal to ``Normalize``'s ``mean`` gives the same 0 after it
      (:func:`gpuaug.from_mmseg` sets it).

    (albumentations' ``PadIfNeeded`` centres the image by default, ``position="center"``.)
    A side at least as long as the crop is cropped at a uniform offset in either mode.

    With ``cat_max_ratio`` < 1 it is the class-aware crop of the mmsegmentation recipes: up
    to 10 candidate crops per sample; a candidate passes when its labels, with the Compose's
    ``ignore_index`` removed, hold at least two classes and the largest class's share is
    strictly below ``cat_max_ratio``. The first passing candidate is used, and an 11th,
    unchecked one if none passes. Labels are counted on the candidate's own output pixels
    (the chain so far composed in, read as the warp reads masks). It needs the masks when
    sampling (``aug(images, masks)`` or ``aug.sample(images, masks=masks)``). The views are
    counted, never materialised where it can be helped (:mod:`gpuaug.candidates`): on Triton
    all candidates of all samples at once by one histogram kernel (no host sync, no sort); on
    the CPU one candidate at a time for the samples that have not passed yet.

    Draws: ``top``, ``left`` (B float, integer-valued; negative = padding before the image);
    with ``cat_max_ratio`` < 1 also ``attempt`` (B int64, the candidate used, 0-10).

    With ``cat_max_ratio`` < 1 the candidates' offsets are drawn over the same range as a
    plain crop's, so with ``"top_left"`` a smaller side is 0 in every candidate.

    Example (mmsegmentation's ``dict(type='RandomCrop', crop_size=(512, 512), cat_max_ratio=0.75)``):
        >>> RandomCrop(512, pad_if_needed=True, cat_max_ratio=0.75, pad_position="top_left")
    """

    attempts = 10
    pad_positions = ("random", "top_left")

    def __init__(
        self,
        size: int | Sequence[int],
        pad_if_needed: bool = False,
        p: float = 1.0,
        cat_max_ratio: float = 1.0,
        *,
        pad_position: str = "random",
    ):
        self.size = check_size(size, "size")
        self.pad_if_needed = bool(pad_if_needed)
        self.p = check_probability(p)
        if isinstance(cat_max_ratio, bool) or not isinstance(cat_max_ratio, (int, float)):
            raise TypeError(f"cat_max_ratio: expected a number in (0, 1], got {cat_max_ratio!r}")
        if not 0.0 < cat_max_ratio <= 1.0:
            raise ValueError(f"cat_max_ratio: expected a number in (0, 1] (1: no class check), got {cat_max_ratio!r}")
        self.cat_max_ratio = float(cat_max_ratio)
        if pad_position not in self.pad_positions:
            expected = " or ".join(map(repr, self.pad_positions))
            raise ValueError(f"pad_position: expected {expected}, got {pad_position!r}")
        self.pad_position = pad_position

    @property
    def needs_masks(self) -> bool:  # type: ignore[override]
        return self.cat_max_ratio < 1.0

    @property
    def fixed_size(self) -> tuple[int, int]:
        return self.size

    def sample(self, draw, size):
        ch, cw = self.size
        if not self.pad_if_needed:
            self._check_fits(size, draw.batch)
        h, w = extent(draw, size)
        applied = draw.coin(self.p)
        bounds_y, bounds_x = self._offset_range(h, ch), self._offset_range(w, cw)
        draws = {"applied": applied}
        if self.cat_max_ratio >= 1.0:
            top, left = draw.integers(*bounds_y), draw.integers(*bounds_x)
        else:
            tops = draw.integers(*bounds_y, self.attempts + 1)
            lefts = draw.integers(*bounds_x, self.attempts + 1)
            attempt = self._first_balanced(draw, tops, lefts)
            top = tops.gather(1, attempt.view(-1, 1)).squeeze(1)
            left = lefts.gather(1, attempt.view(-1, 1)).squeeze(1)
            draws["attempt"] = attempt
        top = torch.where(applied, top, self._centre(h, ch))
        left = torch.where(applied, left, self._centre(w, cw))
        draws |= {"top": top, "left": left}
        return _crop_step(draws, top, left, self.size, self.size)

    def _offset_range(self, side: torch.Tensor, crop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The inclusive range of a crop offset per sample (negative = padding before the image)."""
        slack = side - crop
        low = torch.clamp(slack, max=0) if self.pad_position == "random" else torch.zeros_like(slack)
        return low, torch.clamp(slack, min=0)

    def _centre(self, side: torch.Tensor, crop: int) -> torch.Tensor:
        """The offset of a sample the op is not applied to: the centre crop, a smaller side at 0 with "top_left"."""
        offset = _centre_offset(side, crop)
        return offset if self.pad_position == "random" else torch.clamp(offset, min=0)

    def _check_fits(self, size: Canvas, batch: int) -> None:
        ch, cw = self.size
        sizes = host_sizes(size, batch)
        if sizes is None:
            raise ValueError(
                "pad_if_needed: RandomCrop after an op that gives each sample a random size needs "
                "pad_if_needed=True (the sizes are known on the device only)"
            )
        for k, (h, w) in enumerate(sizes):
            if h < ch or w < cw:
                which = f" (sample {k})" if isinstance(size, Sizes) else ""
                raise ValueError(
                    f"size: RandomCrop's crop {ch}×{cw} is larger than its input canvas {h}×{w}{which}; "
                    "pass pad_if_needed=True to pad it with fill / ignore_index"
                )

    def _first_balanced(self, draw: Draw, tops: torch.Tensor, lefts: torch.Tensor) -> torch.Tensor:
        """B int64: the first of the candidate corners (B×11) whose crop passes the class check, else 10."""
        if draw.class_counts is None:
            raise ValueError(
                f"masks: RandomCrop(cat_max_ratio={self.cat_max_ratio}) chooses crops by their classes and needs "
                "the masks when sampling: pass them, aug(images, masks) or aug.sample(images, masks=masks)"
            )
        if tops.shape[0] == 0:  # an empty batch: nothing to gather the labels of
            return tops.new_zeros(0)
        n = self.attempts
        ones = torch.ones_like(tops[:, :n])
        corners = scale_translate_matrix(
            ones.reshape(-1), ones.reshape(-1), lefts[:, :n].reshape(-1), tops[:, :n].reshape(-1)
        )
        corners = corners.view(-1, n, 3, 3)
        counts = draw.class_counts
        if counts.at_once:
            passed = passes(*counts(corners, self.size), self.cat_max_ratio)
        else:  # one candidate at a time, for the samples that have not passed yet
            passed = torch.zeros(corners.shape[:2], dtype=torch.bool, device=corners.device)
            pending = list(range(corners.shape[0]))
            for k in range(n):
                index = torch.as_tensor(pending, device=corners.device)
                got = passes(*counts(corners[index, k : k + 1], self.size, pending), self.cat_max_ratio)[:, 0]
                passed[index, k] = got
                pending = [b for b, ok in zip(pending, got.tolist(), strict=True) if not ok]
                if not pending:
                    break
        passed = torch.cat((passed, torch.ones_like(passed[:, :1])), dim=1)  # the unchecked last candidate
        return passed.to(torch.uint8).argmax(dim=1).to(tops.device)


def passes(classes: torch.Tensor, largest: torch.Tensor, total: torch.Tensor, cat_max_ratio: float) -> torch.Tensor:
    """mmsegmentation's class check, from a view's label counts (ignore removed): at least two
    classes, and the largest class's share strictly below ``cat_max_ratio``."""
    return (classes > 1) & (largest.double() / total.clamp(min=1).double() < cat_max_ratio)


class RandomResizedCrop(Op):
    """Crop a random area and aspect ratio, then resize it to ``size`` (torchvision semantics).

    Per sample: up to 10 attempts of area fraction ~ U(``scale``) and log aspect ratio ~
    U(log ``ratio``), the first box that fits is placed uniformly at an integer offset; if
    none fits, the centre crop clamped to ``ratio``. All attempts of all samples are drawn
    at once on the device. A sample the op is not applied to gets the whole image resized.

    Draws: ``top``, ``left``, ``height``, ``width`` (B float, integer-valued crop box).
    """

    attempts = 10

    def __init__(
        self,
        size: int | Sequence[int],
        scale: Sequence[float] = (0.08, 1.0),
        ratio: Sequence[float] = (3.0 / 4.0, 4.0 / 3.0),
        p: float = 1.0,
    ):
        self.size = check_size(size, "size")
        self.scale = check_range(scale, "scale", low=0.0)
        self.ratio = check_range(ratio, "ratio", positive=True)
        self.p = check_probability(p)

    @property
    def fixed_size(self) -> tuple[int, int]:
        return self.size

    def sample(self, draw, size):
        h, w = extent(draw, size)
        applied = draw.coin(self.p)
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        target = draw.rand(self.attempts, dtype=torch.float64) * (self.scale[1] - self.scale[0]) + self.scale[0]
        target = target * (h * w).unsqueeze(1)
        aspect = torch.exp(draw.rand(self.attempts, dtype=torch.float64) * (log_hi - log_lo) + log_lo)
        cw = torch.round(torch.sqrt(target * aspect))
        ch = torch.round(torch.sqrt(target / aspect))
        fits = (cw > 0) & (cw <= w.unsqueeze(1)) & (ch > 0) & (ch <= h.unsqueeze(1))
        first = fits.to(torch.uint8).argmax(dim=1, keepdim=True)
        found = fits.any(dim=1)
        cw = cw.gather(1, first).squeeze(1)
        ch = ch.gather(1, first).squeeze(1)
        # Fallback: the whole image, clamped to the ratio range (torchvision's central crop).
        in_ratio = w / h
        narrow, wide = in_ratio < self.ratio[0], in_ratio > self.ratio[1]
        fb_w = torch.where(wide, torch.round(h * self.ratio[1]), w)
        fb_h = torch.where(narrow, torch.round(w / self.ratio[0]), h)
        cw = torch.where(found, cw, fb_w)
        ch = torch.where(found, ch, fb_h)
        top = torch.where(found, draw.integers(0, h - ch), torch.floor((h - fb_h) / 2))
        left = torch.where(found, draw.integers(0, w - cw), torch.floor((w - fb_w) / 2))
        top, left = torch.where(applied, top, 0.0), torch.where(applied, left, 0.0)
        ch, cw = torch.where(applied, ch, h), torch.where(applied, cw, w)
        out_h, out_w = self.size
        draws = {"applied": applied, "top": top, "left": left, "height": ch, "width": cw}
        return Step(draws, scale_translate_matrix(cw / out_w, ch / out_h, left, top), self.size)


class RandomScale(Op):
    """Multi-scale training on a fixed canvas: zoom each sample by a factor ~ U(``scale_range``).

    The canvas keeps its size. A zoom-out (< 1) places the whole shrunken image at a uniform
    position inside the canvas, the rest being fill / ignore; a zoom-in (> 1) shows a window
    of the enlarged image at a uniform position. Forward map: output = scale · source + offset.

    Draws: ``scale`` (B), ``offset_x``, ``offset_y`` (B, pixels).
    """

    def __init__(self, scale_range: Sequence[float], p: float = 1.0):
        self.scale_range = check_range(scale_range, "scale_range", positive=True)
        self.p = check_probability(p)

    def sample(self, draw, size):
        h, w = extent(draw, size)
        applied = draw.coin(self.p)
        scale = torch.where(applied, draw.uniform(*self.scale_range).double(), 1.0)
        offsets = []
        for side in (w, h):
            slack = side - scale * side  # >= 0 when zooming out, <= 0 when zooming in
            offsets.append(torch.minimum(slack, torch.zeros_like(slack)) + draw.rand(dtype=torch.float64) * slack.abs())
        ox, oy = offsets
        matrix = scale_translate_matrix(1.0 / scale, 1.0 / scale, -ox / scale, -oy / scale)
        return Step({"applied": applied, "scale": scale, "offset_x": ox, "offset_y": oy}, matrix, size)
