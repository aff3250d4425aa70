"""The CPU reference: the coordinate convention of docs/design.md written out plainly.

One explicit loop over samples, plain torch on the CPU, no ``grid_sample``, no Triton and no
shared code with the fast paths beyond input validation. For every output pixel (i, j) of
sample b:

1. take its centre ``(x, y) = (j + 0.5, i + 0.5)``;
2. map it through the sample's float32 matrix M in the contract's order:
   ``sx = (M00·x + M01·y) + M02``, ``sy = (M10·x + M11·y) + M12`` and, when the params have
   a perspective row, ``w = (M20·x + M21·y) + M22``, ``sx = sx / w``, ``sy = sy / w``;
3. the point is *inside* when ``0 <= sx < W`` and ``0 <= sy < H`` (so finite) and, with a
   perspective row, ``w > 0``; with a padding mode every finite point with ``w > 0`` is,
   after reflection about the border (``reflect``) or as it is (``replicate``: the clamps
   below move it to the edge); masks follow the padding with ``mask_padding="same"``;
4. mask: the label of source pixel ``(floor(sy), floor(sx))`` at inside points,
   ``ignore_index`` elsewhere;
5. image: bilinear interpolation at ``(sx − 0.5, sy − 0.5)`` in index space at inside
   points, each tap clamped to the image (edge replicate), ``fill`` elsewhere;
6. targets: integer maps like the mask (each plane, each target's fill; ``mask_padding``),
   float maps like the image (each plane in float32, then cast back to the map's dtype;
   ``padding_mode``), gathered float maps like the mask but with the image's padding;
   points through the float64 inverse of M;
7. with ``params.antialias``, before all that, each sample's image is averaged along each
   source axis over a box as wide as that axis's scale (source pixels per output pixel: the
   Euclidean norm of the row of the map's Jacobian at the output canvas centre), where it is
   above 1, the box cut at the image's edges; written here as explicit overlap weights;
8. the pixel ops, in list order, one sample at a time, with kornia's colour maths and
   filters (``kornia.enhance``, ``kornia.color``, ``kornia.filters``) as an independent
   implementation; then the cast to ``out_dtype``.

Masks from the fast paths must equal this exactly; images agree to float tolerance. It is
the correctness anchor and the benchmarks' baseline, never the fast path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from gpuaug.core import hashing
from gpuaug.core.batch import read_batch
from gpuaug.core.records import Params, check_params_type
from gpuaug.engine import check_params
from gpuaug.optional import require
from gpuaug.reference_volumes import INTENSITY_OPS, apply_volumes, intensity_op
from gpuaug.targets.base import Frame, check_follow_canvas, check_targets

__all__ = ["apply"]


@dataclass
class _Reader:
    """What :func:`apply` reads each source sample through: the samples one by one, the
    params, the fill and the target specs."""

    sources: list[torch.Tensor]
    labels: list[torch.Tensor] | None
    sizes: tuple[tuple[int, int], ...]
    params: Params
    fill: torch.Tensor
    checked: list | None

    def view(self, s: int, sx, sy, front):
        """Source sample ``s`` read at (sx, sy): its image (float32, before pixel ops), its
        labels and its target maps."""
        params, source = self.params, self.sources[s]
        source = source.float() / 255.0 if source.dtype == torch.uint8 else source.float()
        height, width = self.sizes[s]
        inside = front & (sx >= 0) & (sx < width) & (sy >= 0) & (sy < height)
        if params.padding_mode != "constant":
            # Every finite point in front reads the image: reflected about the border, or
            # clamped to it (the taps' and the label's clamp below do that).
            padded = front & torch.isfinite(sx) & torch.isfinite(sy)
            if params.padding_mode == "reflect":
                sx, sy = _reflect(sx, width), _reflect(sy, height)
        image_inside = inside if params.padding_mode == "constant" else padded
        mask_inside = image_inside if params.mask_padding == "same" else inside
        image = _bilinear(source, sx, sy, image_inside, self.fill)
        mask = None if self.labels is None else _nearest(self.labels[s], sx, sy, mask_inside, params.ignore_index)
        # Each target's sources, each K×h×w, read where its padding mode reads (a mode other
        # than "constant" is the images', so ``padded`` exists then).
        out_maps = {
            name: tuple(
                _planes_sample(p, p.sample(s), sx, sy, inside if p.padding == "constant" else padded)
                for p in target.sources
            )
            for name, target in self.checked or ()
        }
        return image, mask, out_maps


def _mixed(reader: _Reader, k: int, canvas: dict, mixing, before: list, rows, cols) -> tuple:
    """Output sample ``k`` of a chain with canvas ops: each slot's view read and coloured with
    its source's draws (the pixel ops before the mixing op), then selected per pixel."""
    params, (h, w) = reader.params, reader.params.out_size
    slots = []
    for s, sx, sy, front in _canvas_slots(k, params, canvas, mixing):
        image, mask, out_maps = reader.view(s, sx, sy, front)
        for record in before:
            image = _replay(record, s, image)
        slots.append((image, mask, out_maps))
    select = _canvas_select(k, params, mixing, [m for _, m, _ in slots], h, w)
    image = torch.stack([i for i, _, _ in slots])[select, :, rows, cols].permute(1, 0).reshape(-1, h, w)
    mask = None
    if reader.labels is not None:
        mask = torch.stack([m for _, m, _ in slots])[select, rows, cols].reshape(h, w)
    out_maps = {
        name: tuple(
            torch.stack([o[name][i] for _, _, o in slots])[select, :, rows, cols].permute(1, 0).reshape(-1, h, w)
            for i in range(len(maps))
        )
        for name, maps in slots[0][2].items()
    }
    return image, mask, out_maps


def apply(images, masks, params: Params, *, targets=None, sizes=None):
    """Apply ``params`` to a batch the slow, obvious way, on the CPU.

    Args:
        images: B×C×H×W, uint8 (read as [0, 1]) or float, on any device (copied to the CPU);
            or a list of C×Hᵢ×Wᵢ images, or a padded batch with ``sizes`` (as
            :meth:`gpuaug.Compose.__call__` takes them).
        masks: B×H×W or B×1×H×W integer labels (a list of Hᵢ×Wᵢ / 1×Hᵢ×Wᵢ with a list of
            images), or None.
        params: from :meth:`gpuaug.Compose.sample` (or :meth:`gpuaug.Params.from_dict`).
        targets: a dict name → label map, dense map, :class:`gpuaug.Target` or
            :class:`gpuaug.Points` (see :mod:`gpuaug.targets`), or None.
        sizes: each sample's valid (h, w) in a padded batch, or None.

    Returns:
        CPU tensors: ``(images, masks)`` when masks are given, else the images alone. Images
        are float32 B×C×h×w; masks keep their dtype and layout. With ``targets``,
        ``(images, masks_or_None, targets_out)`` with the same keys in the same order.
    """
    check_params_type(params)
    images, masks = _to_cpu(images), _to_cpu(masks)
    params = params.to("cpu")
    if params.spatial_dims == 3:
        if targets is not None:
            raise ValueError("targets: volumes take images and masks only, not targets")
        return apply_volumes(images, masks, params, sizes)
    batch = read_batch(images, masks, sizes)
    check_params(batch, params)
    checked = None
    if targets is not None:
        if isinstance(targets, Mapping):
            targets = {k: _to_cpu(v) for k, v in targets.items()}
        checked = check_targets(targets, batch, params.ignore_index, params.padding_mode, params.mask_padding)
    b, c = batch.batch, batch.channels
    h, w = params.out_size
    # Each sample on its own: C×hᵢ×wᵢ images and hᵢ×wᵢ masks, however the batch came.
    sources = [_sample(images, k, batch.sizes[k]) for k in range(b)]
    if params.antialias and params.geometric:
        sources = [_antialias(sources[k], params.matrix[k], (h, w), params.perspective) for k in range(b)]
    labels = None if masks is None else [_sample(masks, k, batch.sizes[k]).reshape(batch.sizes[k]) for k in range(b)]
    fill = torch.tensor(params.fill, dtype=torch.float32).expand(c)
    rows, cols = (v.reshape(-1) for v in torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij"))
    out_images = torch.empty((b, c, h, w), dtype=torch.float32)
    out_masks = None
    if masks is not None:
        out_masks = torch.empty((b, h, w), dtype=masks.dtype if isinstance(masks, torch.Tensor) else labels[0].dtype)
    maps = {name: [] for name, _ in checked or ()}  # per sample: each source's K×h×w
    canvas = {r.name: (i, r) for i, r in enumerate(params.ops) if r.kind == "canvas"}
    check_follow_canvas(checked, sorted(canvas))
    mixing = next((canvas[n] for n in ("CutMix", "ClassMix", "Mosaic") if n in canvas), None)
    replayed = [(i, r) for i, r in enumerate(params.ops) if r.config is not None or r.children]
    pixel_ops = [(i, r) for i, r in replayed if i not in {j for j, _ in canvas.values()}]
    before = [r for i, r in pixel_ops if mixing is not None and i < mixing[0]]
    after = [r for i, r in pixel_ops if mixing is None or i > mixing[0]]

    reader = _Reader(sources, labels, batch.sizes, params, fill, checked)
    for k in range(b):
        if not canvas:
            image, mask, out_maps = reader.view(k, *_source_points(params.matrix[k], h, w, params.perspective))
        else:
            image, mask, out_maps = _mixed(reader, k, canvas, mixing, before, rows, cols)
        for record in after:
            image = _replay(record, k, image)
        out_images[k] = image
        if masks is not None:
            out_masks[k] = mask
        for name, value in out_maps.items():
            maps[name].append(value)
    out_images = out_images.to(params.out_dtype)
    out_masks = None if masks is None else out_masks.reshape((b, h, w) if batch.mask_dims == 3 else (b, 1, h, w))
    if checked is None:
        return out_images if masks is None else (out_images, out_masks)
    frame = Frame(b, (h, w), lambda xy: _points(xy, params.matrix, (h, w)))
    warped = {name: tuple(torch.stack(source) for source in zip(*maps[name], strict=True)) for name in maps}
    return out_images, out_masks, {name: target.finish(warped[name], frame) for name, target in checked}


def _sample(batch, k: int, size: tuple[int, int]) -> torch.Tensor:
    """Sample ``k`` of a list, a stacked or a padded batch, cut to its valid ``size``."""
    h, w = size
    return batch[k][..., :h, :w]


def _antialias(image: torch.Tensor, m: torch.Tensor, out_size: tuple[int, int], perspective: bool) -> torch.Tensor:
    """A C×H×W image (float32 in [0, 1] scale) averaged along x and y over boxes as wide as
    the scales of the matrix ``m`` at the output canvas centre."""
    image = image.float() / 255.0 if image.dtype == torch.uint8 else image.float()
    m = m.double().tolist()
    x, y = out_size[1] / 2, out_size[0] / 2
    u, v, q = (m[r][0] * x + m[r][1] * y + m[r][2] for r in range(3))
    if not perspective:
        jacobian = [m[0][:2], m[1][:2]]
    elif q > 0:
        jacobian = [[(m[r][j] * q - (u, v)[r] * m[2][j]) / (q * q) for j in range(2)] for r in range(2)]
    else:
        return image
    scale_x, scale_y = (math.hypot(*row) for row in jacobian)
    height, width = image.shape[-2:]
    filtered = torch.einsum(
        "ih,chw,jw->cij", _box_weights(height, scale_y), image.double(), _box_weights(width, scale_x)
    )
    return filtered.float()


def _box_weights(n: int, width: float) -> torch.Tensor:
    """n×n float64: row i holds how much of source pixel j the box of ``width`` centred on
    pixel i covers (cut to [0, n]), over the box's length; the identity when ``width <= 1``."""
    if not width > 1:
        return torch.eye(n, dtype=torch.float64)
    centre = torch.arange(n, dtype=torch.float64) + 0.5
    lo, hi = (centre - width / 2).clamp(min=0.0), (centre + width / 2).clamp(max=float(n))
    left = torch.arange(n, dtype=torch.float64)
    overlap = (torch.minimum(hi[:, None], left + 1) - torch.maximum(lo[:, None], left)).clamp(min=0.0)
    return overlap / (hi - lo)[:, None]


def _to_cpu(value):
    """Tensors moved to the CPU, in lists and in target values (gpuaug.Target, gpuaug.Points:
    classes whose ``__slots__`` are their constructor's arguments, in order)."""
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, (list, tuple)):
        return [_to_cpu(v) for v in value]
    if type(value).__module__.startswith("gpuaug.targets"):
        return type(value)(*(_to_cpu(getattr(value, slot)) for slot in value.__slots__))
    return value


def _planes_sample(planes, maps: torch.Tensor, sx, sy, inside) -> torch.Tensor:
    """One sample's K×H×W ``maps`` of one target source: K×h×w, each plane with the
    source's fill, bilinear (in float32, cast back) or gathered."""
    fill = planes.fill[0]
    if planes.bilinear:
        fills = torch.full((maps.shape[0],), float(fill), dtype=torch.float32)
        return _bilinear(maps.float(), sx, sy, inside, fills).to(maps.dtype)
    return torch.stack([_nearest(plane, sx, sy, inside, fill) for plane in maps])


def _points(xy: torch.Tensor, matrix: torch.Tensor, out_size) -> tuple[torch.Tensor, torch.Tensor]:
    """Each sample's points through the float64 inverse of its matrix, one sample at a time."""
    h, w = out_size
    out = torch.empty(xy.shape, dtype=torch.float64)
    visible = torch.empty(xy.shape[:2], dtype=torch.bool)
    for k in range(xy.shape[0]):
        inverse = torch.linalg.inv(matrix[k].double())
        for n in range(xy.shape[1]):
            x, y = float(xy[k, n, 0]), float(xy[k, n, 1])
            qx, qy, qw = (float(inverse[r, 0] * x + inverse[r, 1] * y + inverse[r, 2]) for r in range(3))
            ox, oy = (qx / qw, qy / qw) if qw != 0 else (math.nan, math.nan)
            out[k, n, 0], out[k, n, 1] = ox, oy
            visible[k, n] = qw > 0 and 0 <= ox < w and 0 <= oy < h
    return out.to(xy.dtype), visible


def _source_points(m: torch.Tensor, h: int, w: int, perspective: bool, xs=None, ys=None):
    """Source coordinates (h×w float32) of every output pixel centre (or of the points ``xs``,
    ``ys``), and where w > 0."""
    if xs is None:
        ys, xs = _centres(h, w)
    sx = (m[0, 0] * xs + m[0, 1] * ys) + m[0, 2]
    sy = (m[1, 0] * xs + m[1, 1] * ys) + m[1, 2]
    if not perspective:
        return sx, sy, torch.ones_like(sx, dtype=torch.bool)
    hw = (m[2, 0] * xs + m[2, 1] * ys) + m[2, 2]
    return sx / hw, sy / hw, hw > 0


def _reflect(s: torch.Tensor, extent: int) -> torch.Tensor:
    """Reflect coordinates about 0 and ``extent`` (period 2·extent) into [0, extent]."""
    period = 2.0 * extent
    t = s - torch.floor(s / period) * period
    return torch.where(t < extent, t, period - t)


def _nearest(mask: torch.Tensor, sx: torch.Tensor, sy: torch.Tensor, inside: torch.Tensor, ignore: int):
    """Label of source pixel floor(s), clamped to the mask, at inside points; ``ignore`` elsewhere."""
    height, width = mask.shape
    out = torch.full(sx.shape, ignore, dtype=mask.dtype)
    col = torch.floor(sx[inside]).clamp(0, width - 1).long()
    row = torch.floor(sy[inside]).clamp(0, height - 1).long()
    out[inside] = mask[row, col]
    return out


def _bilinear(image: torch.Tensor, sx: torch.Tensor, sy: torch.Tensor, inside: torch.Tensor, fill: torch.Tensor):
    """Bilinear sample of a C×H×W image at (sx − 0.5, sy − 0.5) with taps clamped to the
    image, at inside points; ``fill`` elsewhere."""
    c, height, width = image.shape
    out = fill.view(c, 1, 1).expand(c, *sx.shape).clone()
    ix, iy = sx[inside] - 0.5, sy[inside] - 0.5
    x0, y0 = torch.floor(ix), torch.floor(iy)
    wx, wy = ix - x0, iy - y0
    value = torch.zeros((c, ix.numel()), dtype=torch.float32)
    for dy, weight_y in ((0, 1.0 - wy), (1, wy)):
        for dx, weight_x in ((0, 1.0 - wx), (1, wx)):
            col = (x0 + dx).long().clamp(0, width - 1)
            row = (y0 + dy).long().clamp(0, height - 1)
            value += image[:, row, col] * (weight_y * weight_x)
    out[:, inside] = value
    return out


def _replay(record, k: int, image: torch.Tensor) -> torch.Tensor:
    """The pixel work of one record on sample ``k``: a pixel op, or a OneOf / RandomApply's
    children that sample chose (geometric children are all in the matrix)."""
    if not record.children:
        if record.config is None:
            return image
        return _pixel_op(record.name, record.config, {n: v[k] for n, v in record.draws.items()}, image)
    for i, child in enumerate(record.children):
        if "choice" in record.draws:
            chosen = int(record.draws["choice"][k]) == i
        else:
            chosen = bool(record.draws["applied"][k])
        if chosen:
            image = _replay(child, k, image)
    return image


def _jitter_step(kornia, step: str, value: float, x: torch.Tensor) -> torch.Tensor:
    """One ColorJitter adjustment of a 1×3×h×w image."""
    if step == "brightness":
        return kornia.enhance.adjust_brightness_accumulative(x, value)
    if step == "contrast":
        return kornia.enhance.adjust_contrast_with_mean_subtraction(x, value)
    if step == "saturation":
        return kornia.enhance.adjust_saturation_with_gray_subtraction(x, value)
    # The hue rotation of record: the torch path and the fused kernel are tested against it.
    return kornia.enhance.adjust_hue(x, 2.0 * math.pi * value).clamp(0.0, 1.0)


def _pixel_op(name: str, config: dict, draws: dict, image: torch.Tensor) -> torch.Tensor:
    """One pixel op on one C×h×w float32 image, from its record."""
    if name in INTENSITY_OPS:
        return intensity_op(name, config, draws, image)
    kornia = require("kornia", "kornia", "gpuaug.reference (its pixel ops)")

    x = image.unsqueeze(0)
    applied = bool(draws.get("applied", True))
    if name == "ColorJitter" and applied:
        steps = ("brightness", "contrast", "saturation", "hue")
        order = [steps[int(k)] for k in draws["order"]] if "order" in draws else steps
        for step in (step for step in order if step in draws):
            x = _jitter_step(kornia, step, float(draws[step]), x)
    elif name == "PhotoMetricDistortion" and applied:
        x = _photometric(kornia, draws, x)
    elif name == "RandomGrayscale" and applied:
        x = kornia.color.rgb_to_grayscale(x).expand_as(x)
    elif name == "GaussianBlur" and applied:
        sigma = float(draws["sigma"])
        x = kornia.filters.gaussian_blur2d(x, tuple(config["kernel_size"]), (sigma, sigma), border_type="reflect")
    return x[0]


def _photometric(kornia, draws: dict, x: torch.Tensor) -> torch.Tensor:
    """PhotoMetricDistortion on one 1×3×h×w image: its steps one after another, each skipped
    where its recorded value is the neutral one, saturation and hue in one HSV round trip
    (kornia's hue is an angle in [0, 2π])."""
    delta, alpha, first = float(draws["brightness"]), float(draws["contrast"]), bool(draws["contrast_first"])
    saturation, hue = float(draws["saturation"]), float(draws["hue"])
    if delta != 0.0:
        x = kornia.enhance.adjust_brightness(x, delta)  # x + delta, clamped to [0, 1]
    if first and alpha != 1.0:
        x = kornia.enhance.adjust_contrast(x, alpha)  # x · alpha, clamped to [0, 1]
    if saturation != 1.0 or hue != 0.0:
        h, s, v = kornia.color.rgb_to_hsv(x).unbind(dim=1)
        if saturation != 1.0:
            s = (s * saturation).clamp(0.0, 1.0)
        h = torch.remainder(h + 2.0 * math.pi * hue, 2.0 * math.pi)
        x = kornia.color.hsv_to_rgb(torch.stack((h, s, v), dim=1)).clamp(0.0, 1.0)
    if not first and alpha != 1.0:
        x = kornia.enhance.adjust_contrast(x, alpha)
    return x


# --- canvas ops: elastic deformation and batch mixing ------------------------------------


def _centres(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ys, xs)``: h×w float32 pixel centres."""
    return torch.meshgrid(
        torch.arange(h, dtype=torch.float32) + 0.5, torch.arange(w, dtype=torch.float32) + 0.5, indexing="ij"
    )


def _canvas_slots(k: int, params: Params, canvas: dict, mixing):
    """Where output sample ``k``'s slots read: ``(source sample, sx, sy, front)`` per slot.

    Slot 0 is the sample itself; CutMix and ClassMix add the partner, Mosaic the three
    quadrant partners. A Mosaic slot scales the output quadrant onto its source's canvas,
    ``q = (ax·x + tx, ay·y + ty)``. With an ElasticTransform each source's canvas point q
    is displaced by that source's field before its matrix: ``M·(q + d(q))``.
    """
    h, w = params.out_size
    ys, xs = _centres(h, w)
    name, draws = (None, {}) if mixing is None else (mixing[1].name, mixing[1].draws)
    if name is None:
        sources = [k]
    elif name == "Mosaic":
        sources = [k, *(int(v) for v in draws["partners"][k])]
    else:
        sources = [k, int(draws["partner"][k])]
    quadrants = [(1.0, 0.0, 1.0, 0.0)] * len(sources)  # (ax, tx, ay, ty) per slot
    if name == "Mosaic" and bool(draws["applied"][k]):
        cx, cy = (float(v) for v in draws["center"][k])
        rects = [(0.0, 0.0, cx, cy), (cx, 0.0, w, cy), (0.0, cy, cx, h), (cx, cy, w, h)]
        quadrants = []
        for left, top, right, bottom in rects:
            ax, ay = w / (right - left), h / (bottom - top)
            quadrants.append((ax, -left * ax, ay, -top * ay))
    elastic = canvas.get("ElasticTransform")
    for s, (ax, tx, ay, ty) in zip(sources, quadrants, strict=True):
        m = params.matrix[s]
        if elastic is None:
            if name == "Mosaic":  # M composed with the quadrant scale in float64, cast once
                md = m.double()
                m = torch.stack((md[:, 0] * ax, md[:, 1] * ay, (md[:, 0] * tx + md[:, 1] * ty) + md[:, 2]), 1)
                m = m.float()
            yield (s, *_source_points(m, h, w, params.perspective))
            continue
        a = torch.tensor([ax, tx, ay, ty], dtype=torch.float64).float()
        qx, qy = a[0] * xs + a[1], a[2] * ys + a[3]
        config = elastic[1].config
        dx, dy = _displace(elastic[1].draws["displacement"][s], qx, qy, max(1.0, config["sigma"] / 2.0))
        yield (s, *_source_points(m, h, w, params.perspective, qx + dx, qy + dy))


def _displace(field: torch.Tensor, qx: torch.Tensor, qy: torch.Tensor, cell: float):
    """The 2×gh×gw ``field`` at canvas points (qx, qy): bilinear between its nodes, node
    (i, j) at canvas point (j·cell, i·cell), the point clamped to the grid."""
    grid_h, grid_w = field.shape[-2:]
    inv = float(torch.tensor(1.0 / cell, dtype=torch.float32))
    gx = torch.clamp(torch.clamp(qx * inv, min=0.0), max=grid_w - 1.0)
    gy = torch.clamp(torch.clamp(qy * inv, min=0.0), max=grid_h - 1.0)
    x0, y0 = torch.floor(gx), torch.floor(gy)
    wx, wy = gx - x0, gy - y0
    c0, r0 = x0.long(), y0.long()
    c1, r1 = (c0 + 1).clamp(max=grid_w - 1), (r0 + 1).clamp(max=grid_h - 1)
    out = []
    for plane in field:
        top = plane[r0, c0] * (1.0 - wx) + plane[r0, c1] * wx
        bottom = plane[r1, c0] * (1.0 - wx) + plane[r1, c1] * wx
        out.append(top * (1.0 - wy) + bottom * wy)
    return out[0], out[1]


def _canvas_select(k: int, params: Params, mixing, masks: list, h: int, w: int) -> torch.Tensor:
    """The slot each of output sample ``k``'s pixels shows (h·w int64, row-major)."""
    select = torch.zeros((h, w), dtype=torch.int64)
    if mixing is None or not bool(mixing[1].draws["applied"][k]):
        return select.reshape(-1)
    name, draws = mixing[1].name, mixing[1].draws
    if name == "CutMix":
        x0, y0, x1, y1 = (int(v) for v in draws["box"][k])
        select[y0:y1, x0:x1] = 1
    elif name == "Mosaic":
        cx, cy = (int(v) for v in draws["center"][k])
        select[:, cx:] += 1
        select[cy:, :] += 2
    else:  # ClassMix: half the partner's classes, rounded up, ranked by a hash of (seed, label)
        if masks[1] is None:
            raise ValueError("masks: ClassMix pastes the partner's classes, so replaying it needs the masks; got none")
        theirs = masks[1]
        seed = draws["seed"][k]
        classes = [v for v in torch.unique(theirs).tolist() if v != params.ignore_index]

        def rank(label: int) -> float:
            index = torch.tensor(label, dtype=torch.int64)
            return float(hashing.uniform(seed, 2 * index)) + float(hashing.uniform(seed, 2 * index + 1)) / 2**24

        chosen = sorted(classes, key=rank)[: math.ceil(len(classes) / 2)]
        select[torch.isin(theirs, torch.tensor(chosen, dtype=theirs.dtype))] = 1
    return select.reshape(-1)
