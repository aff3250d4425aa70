"""The per-pixel source of a warp: which sample and which coordinate each output pixel reads.

The plain warp reads, at output pixel p of sample b, sample b at ``M_b·p``. The canvas ops
(:mod:`gpuaug.transforms.canvas`) generalise that, and :class:`Views` describes the result
for the kernels (``kernels.common.tile_sources``), the torch path and the reference alike:

- *views*: B·L rows, L per output sample (its *slots*). View ``b·L + l`` reads source sample
  ``sample[b·L + l]`` through its own output→source ``matrix`` (CutMix and ClassMix: slot 0
  is the sample itself, slot 1 its partner through the partner's matrix; Mosaic: four
  slots, each a source's matrix composed with the quadrant's scale and translation).
- *select*: a B×h×w uint8 map of the slot each output pixel reads (None: slot 0).
- *field*: a displacement of each source sample's canvas (ElasticTransform), B×2×gh×gw
  float32, node (i, j) at canvas point (j·cell, i·cell), read bilinearly. With a field the
  view's ``pre`` (ax, tx, ay, ty) takes the pixel centre to the source's canvas,
  ``q = (ax·x + tx, ay·y + ty)``, and the coordinate is ``M_s·(q + d_s(q))`` with the
  source's own chain matrix ``M_s`` (the warp's matrix argument, row s).

Image, mask and every target read the same (sample, coordinate), which keeps them aligned.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

__all__ = ["Views", "view_coords", "displacement"]


@dataclass(frozen=True, eq=False)
class Views:
    """Where every output pixel of a batch reads (module docstring).

    Attributes:
        slots: L, views per output sample.
        sample: B·L int32, the source sample of each view; None: view b reads sample b (L = 1).
        matrix: B·L×(n+1)×(n+1) float32 (B·L×3×3 for images: n = :attr:`spatial_dims`),
            each view's output→source matrix (the chain matrix composed with the view's
            ``pre`` in float64, cast once); the kernels read it without a field.
        select: B×h×w (B×d×h×w) uint8 slot per output pixel, or None (slot 0 everywhere).
        pre: B·L×4 float32 (ax, tx, ay, ty), output pixel → source canvas before the
            displacement; None: the identity.
        field: B×2×gh×gw float32 displacement (dx, dy) of each source sample's canvas, or None;
            with it the warp reads each source sample's chain matrix, not ``matrix``.
        cell: canvas pixels between field nodes.
    """

    slots: int
    sample: torch.Tensor | None
    matrix: torch.Tensor
    select: torch.Tensor | None = None
    pre: torch.Tensor | None = None
    field: torch.Tensor | None = None
    cell: float = 1.0

    @property
    def spatial_dims(self) -> int:
        """n, the number of spatial dimensions, from the matrix."""
        return self.matrix.shape[-1] - 1

    @property
    def mode(self) -> int:
        """The kernels' ``VIEWS`` switch: 0 sample b itself, 1 one view per sample, 2 a slot per pixel."""
        if self.select is not None:
            return 2
        return 0 if self.sample is None else 1

    @property
    def inv_cell(self) -> float:
        """1 / cell, rounded to float32 (the kernels' argument; the torch twin uses the same value)."""
        return float(torch.tensor(1.0 / self.cell, dtype=torch.float32))

    def slot(self, k: int) -> Views:
        """Slot ``k`` of every sample as a one-view-per-sample warp (no select map)."""
        rows = slice(k, None, self.slots)
        pre = None if self.pre is None else self.pre[rows].contiguous()
        return replace(
            self,
            slots=1,
            sample=self.sample[rows].contiguous(),
            matrix=self.matrix[rows].contiguous(),
            select=None,
            pre=pre,
        )


def rows_of(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]`` (rows of a 1-D or 2-D table) by one ``index_select``, much faster on the
    CPU than advanced indexing."""
    return table.index_select(0, index.reshape(-1)).view(*index.shape, *table.shape[1:])


def displacement(
    field: torch.Tensor, sample: torch.Tensor, qx: torch.Tensor, qy: torch.Tensor, inv_cell: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(dx, dy)`` of each point's source sample, bilinear in its coarse field; the float32
    steps of ``kernels.common.displacement``, so the coordinates agree bit for bit."""
    grid_h, grid_w = field.shape[-2:]
    gx = (qx * inv_cell).clamp_(min=0.0).clamp_(max=grid_w - 1.0)
    gy = (qy * inv_cell).clamp_(min=0.0).clamp_(max=grid_h - 1.0)
    x0f, y0f = torch.floor(gx), torch.floor(gy)
    wx, wy = gx - x0f, gy - y0f
    x0, y0 = x0f.long(), y0f.long()
    x1 = torch.clamp(x0 + 1, max=grid_w - 1)
    row0, row1 = y0 * grid_w, torch.clamp(y0 + 1, max=grid_h - 1) * grid_w
    flat = field.reshape(-1)
    base = sample.long() * (2 * grid_h * grid_w)

    def value(plane: int) -> torch.Tensor:
        start = base + plane * grid_h * grid_w

        def tap(row, col):
            return rows_of(flat, start + row + col)

        top = tap(row0, x0) * (1.0 - wx) + tap(row0, x1) * wx
        bottom = tap(row1, x0) * (1.0 - wx) + tap(row1, x1) * wx
        return top * (1.0 - wy) + bottom * wy

    return value(0), value(1)


def view_coords(
    views: Views, matrix: torch.Tensor, out_size: tuple[int, int], perspective: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Source coordinates of every output pixel through ``views``, in the contract's order;
    ``matrix`` is the B×3×3 chain matrix of the source samples (read with a field).

    Returns ``(sx, sy, w, sample)``: B×h×w float32 coordinates (``w`` None without
    perspective) and the B×h×w int64 source sample of each pixel.
    """
    h, w = out_size
    device = views.matrix.device
    batch = views.matrix.shape[0] // views.slots
    x = torch.arange(w, device=device, dtype=torch.float32).add_(0.5).view(1, 1, w)
    y = torch.arange(h, device=device, dtype=torch.float32).add_(0.5).view(1, h, 1)
    view = torch.arange(batch, device=device).mul_(views.slots).view(-1, 1, 1)
    if views.select is not None:
        view = view + views.select.long()
    # Without a slot map every pixel of a sample reads one view: B×1×1 views, and the canvas
    # points below stay B×1×w and B×h×1 (each depends on one axis) until the field is read.
    sample = view if views.sample is None else rows_of(views.sample.long(), view)
    if views.field is not None:
        if views.pre is None:
            qx, qy = x.expand(batch, 1, w), y.expand(batch, h, 1)
        else:
            pre = rows_of(views.pre, view)
            qx = pre[..., 0] * x + pre[..., 1]
            qy = pre[..., 2] * y + pre[..., 3]
        dx, dy = displacement(views.field, sample, qx, qy, views.inv_cell)
        x, y, m = qx + dx, qy + dy, rows_of(matrix.reshape(-1, 9), sample)
    else:
        m = rows_of(views.matrix.reshape(-1, 9), view)  # this reader is the 2D one: 3×3 matrices
    sample = sample.expand(batch, h, w)

    def row(k: int) -> torch.Tensor:
        return torch.add(m[..., 3 * k] * x, m[..., 3 * k + 1] * y).add_(m[..., 3 * k + 2])

    sx, sy = row(0), row(1)
    if not perspective:
        return sx, sy, None, sample
    hw = row(2)
    return sx.div_(hw), sy.div_(hw), hw, sample
