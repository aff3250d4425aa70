"""The OpenCV path of the image warp (``backend="opencv"``, the ``opencv`` extra).

On CPU tensors, OpenCV's ``warpAffine`` / ``warpPerspective`` (bilinear, SIMD, threaded,
releasing the GIL) resample each sample's channel planes where they lie, with no float copy of
the source: uint8 images stay uint8 until the output, which is converted once. Everything
else stays where it is: masks and label targets take the torch path's exact gather (so masks
are bit-identical to every other backend's), dense targets the torch path's bilinear warp.

The coordinate contract (docs/design.md) is kept by construction: OpenCV maps a destination
pixel *index* to a source index, so the matrix is conjugated by the half-pixel shift,
``T(−½)·M·T(½)``; its taps are clamped to the image (``BORDER_REPLICATE``), which is the
contract's clamp of inside points to the edge pixels' centres; and the outside points
(outside [0, W)×[0, H), non-finite, or ``w ≤ 0``) are found by the contract's float32 rule
(:func:`gpuaug.torch_path.inside`; per row and column for axis-aligned samples,
:mod:`gpuaug.torch_axes`) and take ``fill``, so image content ends exactly where mask labels
do. What differs is OpenCV's arithmetic: it rounds source coordinates to 1/32 pixel, and for
uint8 interpolates in fixed point and rounds the output to uint8. The tolerance against
:mod:`gpuaug.reference` is stated in docs/design.md and tested.

Not taken here (the torch path warps them instead): images other than uint8 and float32,
sides of 2^15 pixels or more (OpenCV reads source indices as 16-bit integers), "reflect"
padding (far reflected points would overflow those indices) and the canvas ops' views.
"""

from __future__ import annotations

import numpy as np
import torch

from gpuaug.core.planes import per_plane
from gpuaug.core.ragged import Ragged
from gpuaug.optional import require
from gpuaug.torch_axes import axis_aligned, axis_points, fill_axes, inside_runs
from gpuaug.torch_path import inside, source_coords

__all__ = ["OPENCV_DTYPES", "OPENCV_PADDINGS", "takes", "warp_opencv"]

#: Image dtypes OpenCV warps here (others take the torch path).
OPENCV_DTYPES = (torch.uint8, torch.float32)
#: Padding modes OpenCV warps here: both read clamped taps (``BORDER_REPLICATE``).
OPENCV_PADDINGS = ("constant", "replicate")
#: OpenCV's source indices are 16-bit: sources with a side this long or longer take the torch path.
MAX_SIDE = 2**15 - 1


def takes(images: torch.Tensor | Ragged, padding: str) -> bool:
    """Whether :func:`warp_opencv` warps ``images`` (a stacked B×C×H×W batch or a Ragged one)
    with ``padding``: CPU tensors of :data:`OPENCV_DTYPES`, sides below 2^15, a padding mode
    of :data:`OPENCV_PADDINGS`."""
    sizes = images.sizes if isinstance(images, Ragged) else [tuple(images.shape[-2:])]
    return (
        images.device.type == "cpu"
        and images.dtype in OPENCV_DTYPES
        and padding in OPENCV_PADDINGS
        and all(max(size, default=0) < MAX_SIDE for size in sizes)
    )


def warp_opencv(
    images: torch.Tensor | Ragged,
    matrix: torch.Tensor,
    out_size: tuple[int, int],
    fill: tuple[float, ...],
    perspective: bool,
    padding: str,
) -> torch.Tensor:
    """Bilinear warp of ``images`` through OpenCV: float32 B×C×h×w (uint8 read as value / 255).

    Args:
        images: B×C×H×W, or a :class:`Ragged` batch (each sample read within its own size),
            that :func:`takes` accepts.
        matrix: B×3×3 output→source matrices (the contract's, docs/design.md).
        out_size: (h, w).
        fill: the value of outside points, one per channel or one for all, on the output's scale.
        perspective: whether the matrices have a perspective row (``warpPerspective``).
        padding: "constant" (``fill`` outside) or "replicate" (edge pixels outside; ``fill``
            only where the point is not finite or behind the camera).
    """
    cv2 = require("cv2", "opencv", "backend='opencv'", package="opencv-python-headless")
    samples = images.samples if isinstance(images, Ragged) else images.unbind(0)
    channels = images.planes if isinstance(images, Ragged) else images.shape[1]
    h, w = out_size
    raw = torch.empty((len(samples), channels, h, w), dtype=images.dtype)
    shifted = _pixel_index_matrices(matrix)
    warp = cv2.warpPerspective if perspective else cv2.warpAffine
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    for sample, m, dst in zip(samples, shifted, raw.numpy(), strict=True):
        if not np.isfinite(m).all():
            continue  # every point is outside: filled below
        for plane, out in zip(sample, dst, strict=True):
            source = (plane if plane.stride(-1) == 1 else plane.contiguous()).numpy()
            warp(source, m if perspective else m[:2], (w, h), dst=out, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    out = raw.to(torch.float32)
    if images.dtype == torch.uint8:
        out.mul_(1.0 / 255.0)
    _fill_outside(out, images, matrix, perspective, padding, tuple(float(v) for v in per_plane(tuple(fill), channels)))
    return out


def _pixel_index_matrices(matrix: torch.Tensor) -> np.ndarray:
    """The contract's B×3×3 matrices as OpenCV's, float64: destination pixel index → source
    pixel index, ``T(−½)·M·T(½)`` (pixel (i, j) has centre (j + ½, i + ½) in the contract)."""
    shift = torch.eye(3, dtype=torch.float64)
    shift[:2, 2] = 0.5
    back = torch.eye(3, dtype=torch.float64)
    back[:2, 2] = -0.5
    return (back @ matrix.to(torch.float64) @ shift).numpy()


def _fill_outside(out: torch.Tensor, images, matrix: torch.Tensor, perspective: bool, padding: str, fills: tuple):
    """Write ``fills`` (one per channel) in place at the points of ``out`` (B×C×h×w) that the
    contract's float32 rule puts outside, sample by sample: per row and column under an
    axis-aligned matrix, else from every pixel's coordinates (none for an affine "replicate"
    warp with a finite matrix)."""
    out_size = tuple(out.shape[-2:])
    sizes = images.sizes if isinstance(images, Ragged) else [tuple(images.shape[-2:])] * out.shape[0]
    aligned = axis_aligned(matrix, perspective)
    ks = [] if aligned is None else aligned.nonzero().view(-1).tolist()
    (_, rows_outside), (_, cols_outside) = axis_points(matrix, out_size, [sizes[k] for k in ks], padding, ks)
    runs = dict(zip(ks, zip(inside_runs(rows_outside), inside_runs(cols_outside), strict=True), strict=True))
    for k, (height, width) in enumerate(sizes):
        if k in runs:  # axis-aligned: every sample's runs found at once
            fill_axes(out[k], *runs[k], fills)
            continue
        if padding == "replicate" and not perspective and bool(torch.isfinite(matrix[k]).all()):
            continue
        sx, sy, hw = source_coords(matrix[k : k + 1], out_size, perspective)
        if padding == "replicate":
            valid = torch.isfinite(sx).logical_and_(torch.isfinite(sy))
            outside = (valid if hw is None else valid.logical_and_(hw > 0)).logical_not_()
        else:
            outside = inside((sx, sy), (width, height), hw).logical_not_()
        for plane, value in zip(out[k], fills, strict=True):
            plane.masked_fill_(outside[0], value)
