"""Matrix builders: B×3×3 float64 output→source matrices (docs/design.md's convention).

Each builds its matrices on the device of its inputs, from per-sample tensors, without a
host sync. Chains are composed in float64 and cast to float32 once (the warps take any
floating matrix and use it in float32), so no TF32 matmul setting can touch them.
:mod:`gpuaug.functional` exports them beside the warps.
"""

from __future__ import annotations

import torch

__all__ = [
    "identity_matrix",
    "scale_translate_matrix",
    "axis_matrix",
    "affine_matrix",
    "affine_matrix_3d",
    "perspective_matrix",
]


def identity_matrix(batch: int, device: torch.device | str | None = None, dims: int = 2) -> torch.Tensor:
    """B×(dims+1)×(dims+1) float64 identity matrices: B×3×3 for images, B×4×4 for volumes."""
    return torch.eye(dims + 1, dtype=torch.float64, device=device).expand(batch, dims + 1, dims + 1).contiguous()


def scale_translate_matrix(
    scale_x: torch.Tensor, scale_y: torch.Tensor, offset_x: torch.Tensor, offset_y: torch.Tensor
) -> torch.Tensor:
    """Matrices ``[[scale_x, 0, offset_x], [0, scale_y, offset_y], [0, 0, 1]]``.

    As output→source maps they cover flips (scale −1, offset W), crops (scale 1, offset =
    crop corner) and resizes (scale = source size / output size). Arguments are B-vectors
    (any float dtype) on one device; the result is float64.
    """
    scale_x, scale_y, offset_x, offset_y = (v.double() for v in (scale_x, scale_y, offset_x, offset_y))
    zero = torch.zeros_like(scale_x)
    one = torch.ones_like(scale_x)
    rows = (scale_x, zero, offset_x, zero, scale_y, offset_y, zero, zero, one)
    return torch.stack(rows, dim=-1).view(-1, 3, 3)


def axis_matrix(scale: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Matrices that scale and shift each axis on its own: ``source_i = scale_i · output_i +
    offset_i``, for any number n of spatial dimensions.

    Args:
        scale, offset: B×n per-axis values (any float dtype), axes in the matrix's order
            (x, y[, z]: x along W).

    Returns:
        B×(n+1)×(n+1) float64 matrices (flips, crops and resizes of volumes; for n = 2 the
        same as :func:`scale_translate_matrix`).
    """
    b, n = scale.shape
    matrix = torch.diag_embed(torch.cat((scale.double(), scale.new_ones((b, 1), dtype=torch.float64)), dim=1))
    matrix[:, :n, n] = offset.double()
    return matrix


def affine_matrix_3d(
    angles: torch.Tensor, translate: torch.Tensor, scale: torch.Tensor, center: tuple[torch.Tensor, ...]
) -> torch.Tensor:
    """Output→source matrices of rotations, scales and translations of volumes about a centre.

    Every argument is in the volumes' user order (D, H, W); the matrix acts on (x, y, z, 1),
    x along W, z along D. The forward (source→output) map is ``T(center + translate) · R ·
    S · T(−center)`` with ``R = R_D · R_H · R_W`` (the rotation about the W axis is applied
    first, the one about D last) and ``S`` the per-axis scale; its inverse is taken in closed
    form in float64 (``Rᵀ``, ``1 / scale``).

    A rotation by θ about an axis turns the plane of the two others like the 2D
    :func:`affine_matrix`'s positive angle: about D the (x, y) plane (each H×W slice turns
    counter-clockwise as displayed), about H the (z, x) plane, about W the (y, z) plane; in
    each plane (u, v) the content moves to (u·cos θ + v·sin θ, −u·sin θ + v·cos θ).

    Args:
        angles: B×3 angles in degrees about the D, H and W axes.
        translate: B×3 shifts of the content in voxels along D, H and W.
        scale: B×3 scale factors along D, H and W (> 1 magnifies).
        center: (cd, ch, cw), each a B tensor or a number: the centre in continuous
            coordinates, usually (D/2, H/2, W/2).
    """
    theta = torch.deg2rad(angles.double())
    b = theta.shape[0]
    rotation = torch.eye(3, dtype=torch.float64, device=theta.device).expand(b, 3, 3)
    for axis, (u, v) in zip(range(3), ((0, 1), (2, 0), (1, 2)), strict=True):  # about D, H, W
        rotation = rotation @ _plane_rotation(theta[:, axis], u, v)
    # Inverse linear part S⁻¹ · Rᵀ (x, y, z order: the scales reversed from D, H, W).
    inverse = rotation.transpose(1, 2) / scale.double().flip(1).unsqueeze(2)
    c = torch.stack([torch.as_tensor(v, dtype=torch.float64, device=theta.device).expand(b) for v in center], 1)
    c = c.flip(1)  # (x, y, z)
    shift = c - torch.einsum("bij,bj->bi", inverse, c + translate.double().flip(1))
    matrix = torch.eye(4, dtype=torch.float64, device=theta.device).repeat(b, 1, 1)
    matrix[:, :3, :3] = inverse
    matrix[:, :3, 3] = shift
    return matrix


def _plane_rotation(theta: torch.Tensor, u: int, v: int) -> torch.Tensor:
    """B×3×3 forward rotations of the (u, v) plane of (x, y, z): (u, v) → (u·cos + v·sin, −u·sin + v·cos)."""
    cos, sin = torch.cos(theta), torch.sin(theta)
    r = torch.eye(3, dtype=torch.float64, device=theta.device).repeat(theta.shape[0], 1, 1)
    r[:, u, u], r[:, u, v], r[:, v, u], r[:, v, v] = cos, sin, -sin, cos
    return r


def affine_matrix(
    angle: torch.Tensor,
    translate: torch.Tensor,
    scale: torch.Tensor,
    shear: torch.Tensor,
    center: tuple[float, float],
) -> torch.Tensor:
    """Output→source matrices of torchvision-style affine transforms, counter-clockwise angles.

    The forward (source→output) map is ``T(center + translate) · R(angle) · S(scale) ·
    Shear_y · Shear_x · T(−center)``, with shear decomposed as in torchvision; a positive
    ``angle`` rotates the content counter-clockwise as displayed (y axis pointing down).
    The inverse is taken in closed form in float64.

    Args:
        angle: B angles in degrees.
        translate: B×2 translations (tx, ty) in pixels.
        scale: B scale factors (> 0).
        shear: B×2 shear angles (x, y) in degrees.
        center: (cx, cy) rotation centre in continuous coordinates, usually (W/2, H/2).
    """
    rot = -torch.deg2rad(angle.double())  # counter-clockwise on screen is clockwise in y-down maths
    sx = torch.deg2rad(shear[:, 0].double())
    sy = torch.deg2rad(shear[:, 1].double())
    s = scale.double()
    # Forward linear part [[a, b], [c, d]] = R(rot) · S(s) · Shear_y(sy) · Shear_x(sx), torchvision's closed form.
    a = torch.cos(rot - sy) / torch.cos(sy) * s
    b = (-torch.cos(rot - sy) * torch.tan(sx) / torch.cos(sy) - torch.sin(rot)) * s
    c = torch.sin(rot - sy) / torch.cos(sy) * s
    d = (-torch.sin(rot - sy) * torch.tan(sx) / torch.cos(sy) + torch.cos(rot)) * s
    det = a * d - b * c
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    cx, cy = center
    # source = center + A⁻¹ (output − center − translate)
    ux = -cx - translate[:, 0].double()
    uy = -cy - translate[:, 1].double()
    tx = cx + ia * ux + ib * uy
    ty = cy + ic * ux + id_ * uy
    zero = torch.zeros_like(a)
    one = torch.ones_like(a)
    rows = (ia, ib, tx, ic, id_, ty, zero, zero, one)
    return torch.stack(rows, dim=-1).view(-1, 3, 3)


def perspective_matrix(source_points: torch.Tensor, output_points: torch.Tensor) -> torch.Tensor:
    """Homographies that map each of 4 output points onto its source point.

    Closed form (unit square → quadrilateral, twice) in float64, so no linear solve and no
    host sync; normalised so that the homogeneous ``w`` is 1 at the centre of the output
    quadrilateral, which keeps ``w > 0`` inside it.

    Args:
        source_points: B×4×2 points (x, y) in the source, in order top-left, top-right,
            bottom-right, bottom-left.
        output_points: B×4×2 points where those source points land in the output.

    Returns:
        B×3×3 float64 output→source matrices.
    """
    to_source = _square_to_quad(source_points.double())
    to_output = _square_to_quad(output_points.double())
    m = to_source @ _adjugate(to_output)
    centre = output_points.double().mean(dim=1)
    w = m[:, 2, 0] * centre[:, 0] + m[:, 2, 1] * centre[:, 1] + m[:, 2, 2]
    return m / w.view(-1, 1, 1)


def _square_to_quad(q: torch.Tensor) -> torch.Tensor:
    """Projective maps of the unit square (0,0),(1,0),(1,1),(0,1) onto quads q (B×4×2)."""
    x0, x1, x2, x3 = q[:, 0, 0], q[:, 1, 0], q[:, 2, 0], q[:, 3, 0]
    y0, y1, y2, y3 = q[:, 0, 1], q[:, 1, 1], q[:, 2, 1], q[:, 3, 1]
    ex, ey = x0 - x1 + x2 - x3, y0 - y1 + y2 - y3
    dx1, dx2, dy1, dy2 = x1 - x2, x3 - x2, y1 - y2, y3 - y2
    den = dx1 * dy2 - dx2 * dy1
    g = (ex * dy2 - dx2 * ey) / den
    k = (dx1 * ey - ex * dy1) / den
    one = torch.ones_like(g)
    rows = (x1 - x0 + g * x1, x3 - x0 + k * x3, x0, y1 - y0 + g * y1, y3 - y0 + k * y3, y0, g, k, one)
    return torch.stack(rows, dim=-1).view(-1, 3, 3)


def _adjugate(m: torch.Tensor) -> torch.Tensor:
    """Adjugate of B×3×3 matrices: the inverse up to a scale, which homographies ignore."""
    c0, c1, c2 = m[:, :, 0], m[:, :, 1], m[:, :, 2]
    return torch.stack((torch.cross(c1, c2, dim=-1), torch.cross(c2, c0, dim=-1), torch.cross(c0, c1, dim=-1)), dim=1)
