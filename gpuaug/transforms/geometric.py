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

from gpuaug._checks import check_probability, check_range, check_size
from gpuaug.functional import (
    _to_device,
    affine_matrix,
    identity_matrix,
    perspective_matrix,
    rotation_center,
    scale_translate_matrix,
)
from gpuaug.transforms.base import Draw, Op, Step

__all__ = [
    "RandomHorizontalFlip",
    "RandomVerticalFlip",
    "Resize",
    "CenterCrop",
    "RandomCrop",
    "RandomResizedCrop",
    "RandomScale",
    "RandomAffine",
    "RandomRotation",
    "RandomPerspective",
]


def _full(draw: Draw, value: float) -> torch.Tensor:
    return torch.full((draw.batch,), float(value), dtype=torch.float32, device=draw.device)


def _const(values: list, device: torch.device) -> torch.Tensor:
    """A small float64 constant on ``device``, copied without a host sync."""
    return _to_device(torch.tensor(values, dtype=torch.float64), device)


def _crop_step(draws: dict, top: torch.Tensor, left: torch.Tensor, crop: tuple, out_size: tuple) -> Step:
    """A fixed-size crop at per-sample corners, resized to ``out_size``: source = corner + output · crop / out."""
    crop_h, crop_w = crop
    h, w = out_size
    matrix = scale_translate_matrix(torch.full_like(left, crop_w / w), torch.full_like(top, crop_h / h), left, top)
    return Step(draws, matrix, out_size)


def _centre_offset(src: int, dst: int) -> int:
    """torchvision's centre-crop offset of a ``dst``-long window in a ``src``-long side (negative = padded)."""
    if dst > src:
        return -((dst - src) // 2)
    return int(round((src - dst) / 2.0))


class _Flip(Op):
    axis = 0  # 0: horizontal (x), 1: vertical (y)

    def __init__(self, p: float = 0.5):
        self.p = check_probability(p)

    def sample(self, draw, size):
        applied = draw.coin(self.p)
        sign = 1.0 - 2.0 * applied.double()
        one, zero = torch.ones_like(sign), torch.zeros_like(sign)
        offset = applied.double() * (size[1] if self.axis == 0 else size[0])
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

    Draws: none.
    """

    def __init__(self, size: int | Sequence[int]):
        if isinstance(size, Sequence) and len(size) == 1:
            size = size[0]
        self.size = size if isinstance(size, int) else check_size(size, "size")
        check_size(self.size, "size")

    def output_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """The output (h, w) for an input canvas of ``size``."""
        if not isinstance(self.size, int):
            return self.size
        h, w = size
        short, long = (h, w) if h <= w else (w, h)
        new_long = int(self.size * long / short)
        return (self.size, new_long) if h <= w else (new_long, self.size)

    def sample(self, draw, size):
        out = self.output_size(size)
        zero = _full(draw, 0.0)
        return _crop_step({}, zero, zero, size, out)


class CenterCrop(Op):
    """Crop the centre ``size`` (int or (h, w)); a smaller image is padded with fill / ignore.

    Draws: none.
    """

    def __init__(self, size: int | Sequence[int]):
        self.size = check_size(size, "size")

    def sample(self, draw, size):
        (h, w), (ch, cw) = size, self.size
        top, left = _full(draw, _centre_offset(h, ch)), _full(draw, _centre_offset(w, cw))
        return _crop_step({}, top, left, self.size, self.size)


class RandomCrop(Op):
    """Crop ``size`` (int or (h, w)) at a per-sample integer offset drawn uniformly.

    With ``pad_if_needed`` a side smaller than the crop is placed at a uniform integer offset
    inside the crop and the rest is fill / ignore; without it a smaller image raises
    ValueError. A sample the op is not applied to (probability 1 − ``p``) gets the centre crop.

    Draws: ``top``, ``left`` (B float, integer-valued; negative = padding before the image).
    """

    def __init__(self, size: int | Sequence[int], pad_if_needed: bool = False, p: float = 1.0):
        self.size = check_size(size, "size")
        self.pad_if_needed = bool(pad_if_needed)
        self.p = check_probability(p)

    def sample(self, draw, size):
        (h, w), (ch, cw) = size, self.size
        if not self.pad_if_needed and (h < ch or w < cw):
            raise ValueError(
                f"size: RandomCrop's crop {ch}×{cw} is larger than its input canvas {h}×{w}; "
                "pass pad_if_needed=True to pad it with fill / ignore_index"
            )
        applied = draw.coin(self.p)
        top = torch.where(applied, draw.integers(min(0, h - ch), max(0, h - ch)), _centre_offset(h, ch))
        left = torch.where(applied, draw.integers(min(0, w - cw), max(0, w - cw)), _centre_offset(w, cw))
        return _crop_step({"applied": applied, "top": top, "left": left}, top, left, self.size, self.size)


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

    def sample(self, draw, size):
        h, w = size
        applied = draw.coin(self.p)
        area = float(h * w)
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        target = draw.rand(self.attempts, dtype=torch.float64) * (self.scale[1] - self.scale[0]) + self.scale[0]
        target = target * area
        aspect = torch.exp(draw.rand(self.attempts, dtype=torch.float64) * (log_hi - log_lo) + log_lo)
        cw = torch.round(torch.sqrt(target * aspect))
        ch = torch.round(torch.sqrt(target / aspect))
        fits = (cw > 0) & (cw <= w) & (ch > 0) & (ch <= h)
        first = fits.to(torch.uint8).argmax(dim=1, keepdim=True)
        found = fits.any(dim=1)
        cw = cw.gather(1, first).squeeze(1)
        ch = ch.gather(1, first).squeeze(1)
        # Fallback: the whole image, clamped to the ratio range (torchvision's central crop).
        in_ratio = w / h
        if in_ratio < self.ratio[0]:
            fb_w, fb_h = w, int(round(w / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            fb_w, fb_h = int(round(h * self.ratio[1])), h
        else:
            fb_w, fb_h = w, h
        cw = torch.where(found, cw, float(fb_w))
        ch = torch.where(found, ch, float(fb_h))
        top = torch.where(found, draw.integers(0, h - ch), float((h - fb_h) // 2))
        left = torch.where(found, draw.integers(0, w - cw), float((w - fb_w) // 2))
        top, left = torch.where(applied, top, 0.0), torch.where(applied, left, 0.0)
        ch, cw = torch.where(applied, ch, float(h)), torch.where(applied, cw, float(w))
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
        h, w = size
        applied = draw.coin(self.p)
        scale = torch.where(applied, draw.uniform(*self.scale_range).double(), 1.0)
        offsets = []
        for extent in (w, h):
            slack = extent - scale * extent  # >= 0 when zooming out, <= 0 when zooming in
            offsets.append(torch.minimum(slack, torch.zeros_like(slack)) + draw.rand(dtype=torch.float64) * slack.abs())
        ox, oy = offsets
        matrix = scale_translate_matrix(1.0 / scale, 1.0 / scale, -ox / scale, -oy / scale)
        return Step({"applied": applied, "scale": scale, "offset_x": ox, "offset_y": oy}, matrix, size)


class RandomAffine(Op):
    """Random rotation, translation, scale and shear about the canvas centre (torchvision semantics).

    Args:
        degrees: angle range; a number d means (−d, d). Positive is counter-clockwise.
        translate: (a, b) maximum fractions of width and height; the shift is drawn uniformly
            in ±a·W, ±b·H and rounded to whole pixels, as torchvision does.
        scale: (min, max) scale factor range; default 1.
        shear: x-shear range in degrees (a number s means (−s, s), or (min, max)), or four
            values (x_min, x_max, y_min, y_max) to shear along y too.
        p: probability of applying the op to a sample.

    Draws: ``angle``, ``translate_x``, ``translate_y``, ``scale``, ``shear_x``, ``shear_y`` (B).
    """

    def __init__(self, degrees, translate=None, scale=None, shear=None, p: float = 1.0):
        self.degrees = check_range(degrees, "degrees", symmetric=True)
        if translate is not None:
            if not (isinstance(translate, Sequence) and len(translate) == 2):
                raise TypeError(f"translate: expected (max fraction of width, of height), got {translate!r}")
            if not all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in translate):
                raise TypeError(f"translate: expected numbers, got {translate!r}")
            if not all(0.0 <= t <= 1.0 for t in translate):
                raise ValueError(f"translate: expected fractions in [0, 1], got {translate!r}")
            translate = (float(translate[0]), float(translate[1]))
        self.translate = translate
        self.scale = None if scale is None else check_range(scale, "scale", positive=True)
        self.shear = self._shear(shear)
        self.p = check_probability(p)

    @staticmethod
    def _shear(shear) -> tuple[tuple[float, float], tuple[float, float]] | None:
        if shear is None:
            return None
        if isinstance(shear, Sequence) and len(shear) == 4:
            return check_range(shear[:2], "shear"), check_range(shear[2:], "shear")
        return check_range(shear, "shear", symmetric=True), (0.0, 0.0)

    def sample(self, draw, size):
        h, w = size
        applied = draw.coin(self.p)
        angle = draw.uniform(*self.degrees)
        if self.translate is not None:
            max_dx, max_dy = self.translate[0] * w, self.translate[1] * h
            tx, ty = torch.round(draw.uniform(-max_dx, max_dx)), torch.round(draw.uniform(-max_dy, max_dy))
        else:
            tx, ty = _full(draw, 0.0), _full(draw, 0.0)
        scale = draw.uniform(*self.scale) if self.scale is not None else _full(draw, 1.0)
        if self.shear is not None:
            shx, shy = draw.uniform(*self.shear[0]), draw.uniform(*self.shear[1])
        else:
            shx, shy = _full(draw, 0.0), _full(draw, 0.0)
        # A sample the op is not applied to gets the neutral value of every parameter.
        angle, tx, ty, shx, shy = (torch.where(applied, v, 0.0) for v in (angle, tx, ty, shx, shy))
        scale = torch.where(applied, scale, 1.0)
        translate, shear = torch.stack((tx, ty), dim=-1), torch.stack((shx, shy), dim=-1)
        matrix = affine_matrix(angle, translate, scale, shear, rotation_center(size))
        draws = {"applied": applied, "angle": angle, "translate_x": tx, "translate_y": ty, "scale": scale}
        return Step(draws | {"shear_x": shx, "shear_y": shy}, matrix, size)


class RandomRotation(Op):
    """Rotate by an angle ~ U(``degrees``) about the canvas centre; a number d means (−d, d).

    Positive angles turn the content counter-clockwise as displayed. Corners that leave the
    source are fill / ignore (the canvas is not expanded).

    Draws: ``angle`` (B, degrees).
    """

    def __init__(self, degrees, p: float = 1.0):
        self.degrees = check_range(degrees, "degrees", symmetric=True)
        self.p = check_probability(p)

    def sample(self, draw, size):
        applied = draw.coin(self.p)
        angle = torch.where(applied, draw.uniform(*self.degrees), 0.0)
        zeros = torch.zeros((draw.batch, 2), dtype=torch.float32, device=draw.device)
        matrix = affine_matrix(angle, zeros, torch.ones_like(angle), zeros, rotation_center(size))
        return Step({"applied": applied, "angle": angle}, matrix, size)


class RandomPerspective(Op):
    """Random perspective distortion (torchvision semantics, continuous corners).

    Each image corner moves inwards by an integer offset drawn uniformly in
    [0, int(``distortion_scale`` · W/2)] along x (likewise y), independently per corner; the
    output shows the source quadrilateral stretched onto those moved corners.

    Draws: ``corners`` (B×4×2: where the source corners TL, TR, BR, BL land in the output).
    """

    perspective = True

    def __init__(self, distortion_scale: float = 0.5, p: float = 0.5):
        self.distortion_scale = check_probability(distortion_scale, "distortion_scale")
        self.p = check_probability(p)

    def sample(self, draw, size):
        h, w = size
        applied = draw.coin(self.p)
        bound_x = int(self.distortion_scale * (w // 2))
        bound_y = int(self.distortion_scale * (h // 2))
        bounds = _const([bound_x, bound_y], draw.device)
        offsets = torch.minimum(torch.floor(draw.rand(4, 2, dtype=torch.float64) * (bounds + 1)), bounds)
        source = _const([[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]], draw.device)
        inward = _const([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]], draw.device)
        corners = source + inward * offsets * applied.view(-1, 1, 1)
        matrix = perspective_matrix(source.expand(draw.batch, 4, 2), corners)
        matrix = torch.where(applied.view(-1, 1, 1), matrix, identity_matrix(draw.batch, draw.device))
        return Step({"applied": applied, "corners": corners}, matrix, size)
