"""Affine and projective geometric ops: rotation, shear, scale, translation, perspective.

Each draws per-sample parameters and contributes one B×3×3 output→source matrix, about the
canvas centre, as the other geometric ops (:mod:`gpuaug.transforms.geometric`) do; angles
are positive counter-clockwise as displayed. The canvas keeps its size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from gpuaug.core.checks import check_probability, check_range
from gpuaug.core.device import constant
from gpuaug.core.matrices import affine_matrix, identity_matrix, perspective_matrix
from gpuaug.transforms.base import Op, Step, extent

__all__ = ["RandomAffine", "RandomRotation", "RandomPerspective"]


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
        h, w = extent(draw, size)
        applied = draw.coin(self.p)
        angle = draw.uniform(*self.degrees)
        if self.translate is not None:
            max_dx, max_dy = self.translate[0] * w, self.translate[1] * h
            tx = torch.round((draw.rand(dtype=torch.float64) * 2.0 - 1.0) * max_dx).float()
            ty = torch.round((draw.rand(dtype=torch.float64) * 2.0 - 1.0) * max_dy).float()
        else:
            tx, ty = draw.full(0.0), draw.full(0.0)
        scale = draw.uniform(*self.scale) if self.scale is not None else draw.full(1.0)
        if self.shear is not None:
            shx, shy = draw.uniform(*self.shear[0]), draw.uniform(*self.shear[1])
        else:
            shx, shy = draw.full(0.0), draw.full(0.0)
        # A sample the op is not applied to gets the neutral value of every parameter.
        angle, tx, ty, shx, shy = (torch.where(applied, v, 0.0) for v in (angle, tx, ty, shx, shy))
        scale = torch.where(applied, scale, 1.0)
        translate, shear = torch.stack((tx, ty), dim=-1), torch.stack((shx, shy), dim=-1)
        matrix = affine_matrix(angle, translate, scale, shear, (w / 2.0, h / 2.0))
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
        h, w = extent(draw, size)
        matrix = affine_matrix(angle, zeros, torch.ones_like(angle), zeros, (w / 2.0, h / 2.0))
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
        h, w = extent(draw, size)
        applied = draw.coin(self.p)
        bounds = torch.floor(self.distortion_scale * torch.floor(torch.stack((w, h), dim=1) / 2)).unsqueeze(1)
        offsets = torch.minimum(torch.floor(draw.rand(4, 2, dtype=torch.float64) * (bounds + 1)), bounds)
        zero = torch.zeros_like(w)
        source = torch.stack((zero, zero, w, zero, w, h, zero, h), dim=1).view(-1, 4, 2)
        inward = constant([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]], draw.device)
        corners = source + inward * offsets * applied.view(-1, 1, 1)
        matrix = perspective_matrix(source, corners)
        matrix = torch.where(applied.view(-1, 1, 1), matrix, identity_matrix(draw.batch, draw.device))
        return Step({"applied": applied, "corners": corners}, matrix, size)
