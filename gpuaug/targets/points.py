"""Points (keypoints, box corners): mapped through the inverse of each sample's matrix (:mod:`gpuaug.targets`)."""

from __future__ import annotations

import torch

from gpuaug.targets.base import Context, Frame, TargetKind
from gpuaug.targets.maps import FLOAT_DTYPES

__all__ = ["Points", "PointTarget", "map_points"]


class Points:
    """Points (keypoints, box corners) that follow the warp, source → output.

    Args:
        xy: B×N×2 floating (x, y) pixel coordinates in the source, pixel-centre convention
            (the centre of pixel (i, j) is (j + 0.5, i + 0.5)).

    The result for a Points target is ``(xy, visible)``: B×N×2 output coordinates (same
    dtype as ``xy``), mapped with the float64 inverse of each sample's matrix, and a B×N
    bool, False where the point lands outside the output canvas [0, w) × [0, h), behind the
    camera (w <= 0 after the inverse) or at a non-finite coordinate.
    """

    __slots__ = ("xy",)

    def __init__(self, xy: torch.Tensor):
        self.xy = xy

    def __repr__(self) -> str:
        shape = tuple(self.xy.shape) if isinstance(self.xy, torch.Tensor) else type(self.xy).__name__
        return f"Points({shape})"


class PointTarget(TargetKind, family=True):
    """Points mapped through the inverse of each sample's matrix; nothing to warp. Its
    output is ``(xy, visible)`` (see :class:`Points`)."""

    takes = ("gpuaug.Points",)
    title = "Points"
    #: After a mix or a mosaic a point has no single place in the output.
    follows_canvas = False

    def __init__(self, xy: torch.Tensor):
        self.xy = xy

    @classmethod
    def claims(cls, value: object, context: Context) -> bool:
        return isinstance(value, Points)

    @classmethod
    def check(cls, value: Points, key: str, context: Context) -> PointTarget:
        return cls(_check_points(value.xy, key, context.batch.batch, context.batch.device))

    def finish(self, warped: tuple[torch.Tensor, ...], frame: Frame) -> tuple[torch.Tensor, torch.Tensor]:
        return frame.map_points(self.xy)


def _check_points(xy: object, key: str, batch: int, device: torch.device) -> torch.Tensor:
    if not isinstance(xy, torch.Tensor):
        raise TypeError(f"{key}: Points: expected a B×N×2 float tensor, got {type(xy).__name__}")
    if xy.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{key}: Points: expected a float tensor of (x, y) coordinates, got {xy.dtype}")
    if xy.dim() != 3 or xy.shape[-1] != 2:
        raise ValueError(f"{key}: Points: expected shape B×N×2 (x, y per point), got {tuple(xy.shape)}")
    if xy.shape[0] != batch:
        raise ValueError(f"{key}: Points: batch size {xy.shape[0]} does not match images batch size {batch}")
    if xy.device != device:
        raise ValueError(f"{key}: Points: expected the images' device {device}, got {xy.device}")
    return xy


def map_points(xy: torch.Tensor, matrix: torch.Tensor, out_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Source points B×N×2 → output points through the float64 inverse of the B×3×3 matrices.

    Returns ``(xy, visible)``: ``xy`` in the dtype of the input, ``visible`` B×N bool.
    """
    inverse = torch.linalg.inv_ex(matrix.double())[0]
    p = xy.double()
    homogeneous = torch.cat((p, torch.ones_like(p[..., :1])), dim=-1)
    q = homogeneous @ inverse.transpose(1, 2)
    hw = q[..., 2]
    x, y = q[..., 0] / hw, q[..., 1] / hw
    h, w = out_size
    visible = (hw > 0) & (x >= 0) & (x < w) & (y >= 0) & (y < h)
    return torch.stack((x, y), dim=-1).to(xy.dtype), visible
