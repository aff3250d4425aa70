"""Ops on the output canvas: elastic deformation and batch mixing, in the one-resample design.

Each of them only changes *where* an output pixel reads (:mod:`gpuaug.core.views`): which sample
of the batch, and which source coordinate. Image, mask and every target read the same
(sample, coordinate), so they stay aligned by construction, masks are gathered (never
interpolated, never mixed within a pixel) and outside points get ``ignore_index``.

Rules, checked by :class:`gpuaug.Compose`:

- they come after every geometric op of the list (they act on its fixed output canvas);
- at most one ElasticTransform and one mixing op per chain, ElasticTransform first (it
  deforms each sample's own view; the mixing op then pastes those views);
- pixel ops listed before the mixing op apply per source sample (a pasted region keeps its
  partner's colour: each view is warped and coloured whole, then the slots are selected per
  pixel), those after it to the mixed output (in the same pass as the warp);
- draws follow list order, so the geometric chain draws the same with or without them.

Partners follow one random cycle through the batch (a sample is never its own partner when
B ≥ 2; Mosaic's three are distinct when B ≥ 4), ordered by a rank drawn per sample: with
``seed=`` / ``sample_ids=`` the cycle depends on the ids in the batch, not on their order, so
the same batch composition replays exactly; a different split of the data pairs samples
differently. The cycle is a random permutation with no fixed point, so no sample wastes its
mix on itself.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
import torch.nn.functional as F

from gpuaug.core import hashing
from gpuaug.core.checks import check_number, check_probability, check_range
from gpuaug.core.views import Views
from gpuaug.transforms.base import CanvasOp, Draw, check_within

__all__ = [
    "ElasticTransform",
    "CutMix",
    "ClassMix",
    "Mosaic",
    "views_of",
    "quadrant_matrix",
    "check_canvas_order",
]


def partners(draw: Draw, count: int) -> torch.Tensor:
    """B×count int64 partners: the samples in a random order, column q pairing each with the
    one q + 1 places after it in that cycle, so a sample's partners are distinct and differ
    from itself while B > count.

    The order sorts a 48-bit rank per sample (two uniforms), so with keyed draws it depends
    on the ids in the batch, not on their positions (a tie, left to the positions, has odds
    of about B² / 2⁴⁹)."""
    u = draw.rand(2, dtype=torch.float64)
    order = torch.argsort(u[:, 0] + u[:, 1] / 2**24, stable=True)
    shifted = torch.stack([order.roll(-(q + 1)) for q in range(count)], dim=1)
    return torch.empty_like(shifted).scatter_(0, order.view(-1, 1).expand_as(shifted), shifted)


def _log_gamma(draw: Draw, shape: float, tries: int = 8) -> torch.Tensor:
    """B float64 logs of Gamma(shape, 1) draws by Marsaglia and Tsang's method, with a fixed
    number of candidates per sample (each accepted with probability > 0.95; if all ``tries``
    fail, the mode-like value ``d`` stands in) and, below shape 1, the boost U^(1/shape),
    in logs so that a tiny shape cannot underflow to 0."""
    boosted = shape + 1.0 if shape < 1.0 else shape
    d = boosted - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    u = draw.rand(3 * tries + 1, dtype=torch.float64)
    u1, u2, u3 = (1.0 - u[:, :-1]).view(-1, tries, 3).unbind(-1)
    z = torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2.0 * math.pi * u2)
    v = (1.0 + c * z) ** 3
    accept = (v > 0) & (torch.log(u3) < 0.5 * z * z + d - d * v + d * torch.log(v.clamp(min=1e-300)))
    first = torch.argmax(accept.to(torch.uint8), dim=1, keepdim=True)
    value = torch.where(accept.any(dim=1), (d * v).gather(1, first).squeeze(1), torch.full_like(v[:, 0], d))
    value = torch.log(value)
    if shape < 1.0:
        value = value + torch.log(1.0 - u[:, -1]) / shape
    return value


def beta(draw: Draw, alpha: float) -> torch.Tensor:
    """B float64 Beta(alpha, alpha) draws, as X / (X + Y) of two Gamma(alpha) draws (from their logs)."""
    x, y = _log_gamma(draw, alpha), _log_gamma(draw, alpha)
    return torch.sigmoid(x - y)


class ElasticTransform(CanvasOp):
    """Elastic deformation of each sample's view (Simard et al., 2003).

    Semantics of albumentations' ``ElasticTransform`` with uniform noise: a displacement
    field of uniform(−1, 1) noise, smoothed by a Gaussian of ``sigma`` pixels, times
    ``alpha``; the output pixel at p reads the chain's source coordinate ``M·(p + d(p))``.
    The field is drawn on a coarse grid (a node every ``max(1, sigma / 2)`` canvas pixels,
    edges replicated for the smoothing, amplitude scaled by the cell size so the RMS
    displacement matches the per-pixel field's while ``sigma`` is well below the canvas size:
    within 25 % at sigma = canvas / 16 (tested); at sigma = canvas / 4 it is 14 % smaller, and
    for sigma comparable to the canvas, where the grid has few nodes, it is several times
    smaller) and upsampled bilinearly inside the warp: image, mask and targets read the same
    displaced coordinate.

    Args:
        alpha: displacement scale in pixels (≥ 0; 0 is the identity).
        sigma: smoothing in canvas pixels (> 0): larger is smoother.
        p: probability that a sample is deformed.

    Draws: ``applied`` (B bool) and ``displacement`` (B×2×gh×gw float32, the (dx, dy) field,
    zero where not applied). It must come after every geometric op, before a mixing op.
    """

    def __init__(self, alpha: float, sigma: float, p: float = 0.5):
        self.alpha = check_number(alpha, "alpha", 0.0, math.inf)
        self.sigma = check_number(sigma, "sigma", 0.0, math.inf)
        if self.sigma == 0.0 or not math.isfinite(self.alpha) or not math.isfinite(self.sigma):
            raise ValueError(f"alpha, sigma: expected a finite alpha >= 0 and sigma > 0, got {alpha!r}, {sigma!r}")
        self.p = check_probability(p)

    @property
    def cell(self) -> float:
        """Canvas pixels between field nodes."""
        return max(1.0, self.sigma / 2.0)

    def draw_shapes(self, batch, out_size):
        return {"displacement": (batch, 2, *self.grid(out_size))}

    def grid(self, size: tuple[int, int]) -> tuple[int, int]:
        """The field's (gh, gw) on an h×w canvas: nodes past the last pixel on both sides."""
        return math.floor(size[0] / self.cell) + 2, math.floor(size[1] / self.cell) + 2

    def sample(self, draw: Draw, size: tuple[int, int]) -> dict[str, torch.Tensor]:
        applied = draw.coin(self.p)
        grid_h, grid_w = self.grid(size)
        noise = draw.rand(2, grid_h, grid_w).mul_(2.0).sub_(1.0)
        std = self.sigma / self.cell
        radius = max(1, math.ceil(3.0 * std))
        taps = torch.arange(-radius, radius + 1, dtype=torch.float64, device=noise.device)
        kernel = torch.exp(-0.5 * (taps / std) ** 2)
        kernel = (kernel / kernel.sum()).to(torch.float32)
        field = noise.view(-1, 1, grid_h, grid_w)
        field = F.conv2d(F.pad(field, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
        field = F.conv2d(F.pad(field, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))
        field = field.view(-1, 2, grid_h, grid_w) * (self.alpha / self.cell)
        return {"applied": applied, "displacement": field * applied.view(-1, 1, 1, 1)}


class CutMix(CanvasOp):
    """CutMix (Yun et al., 2019) with exact masks.

    Per sample, with probability ``p``: λ ~ Beta(α, α) and a box with the canvas's aspect
    and area ratio 1 − λ (sides ``round(h·√(1−λ))`` × ``round(w·√(1−λ))``), lying fully inside
    the canvas with a uniform top-left corner, shows the partner sample's view: image
    pixels, labels and every target, each through the partner's own matrix. So the pasted
    area is 1 − λ up to rounding (the paper's code centres the box uniformly and clips it,
    which pastes less than 1 − λ on average). Nothing is interpolated between samples; the
    loss needs no λ weighting, since the labels are pasted with the pixels.

    Args:
        alpha: Beta(α, α) parameter (> 0); 1 is uniform λ.
        p: probability that a sample gets a box.

    Draws: ``applied`` (B bool), ``lam`` (B float32, as drawn), ``partner`` (B int64) and
    ``box`` (B×4 int64: x0, y0, x1, y1, exclusive ends; empty where not applied).
    """

    mixing = True
    slots = 2

    def __init__(self, alpha: float = 1.0, p: float = 0.5):
        self.alpha = check_number(alpha, "alpha", 0.0, math.inf)
        if self.alpha == 0.0 or not math.isfinite(self.alpha):
            raise ValueError(f"alpha: expected a finite number > 0, got {alpha!r}")
        self.p = check_probability(p)

    def sample(self, draw: Draw, size: tuple[int, int]) -> dict[str, torch.Tensor]:
        h, w = size
        applied = draw.coin(self.p)
        lam = beta(draw, self.alpha)
        partner = partners(draw, 1)[:, 0]
        side = torch.sqrt(1.0 - lam) * applied
        box_h, box_w = torch.round(h * side), torch.round(w * side)
        y0, x0 = draw.integers(0, h - box_h), draw.integers(0, w - box_w)
        box = torch.stack((x0, y0, x0 + box_w, y0 + box_h), dim=1).long()
        return {"applied": applied, "lam": lam.float(), "partner": partner, "box": box}

    def draw_shapes(self, batch, out_size):
        return {"lam": (batch,), "partner": (batch,), "box": (batch, 4)}

    def check_values(self, draws, batch, out_size, key):
        check_within(f"{key}.draws.partner", draws["partner"], 0, batch - 1, "sample indices")
        (h, w), (x0, y0, x1, y1) = out_size, draws["box"].unbind(1)
        if not bool(((0 <= x0) & (x0 <= x1) & (x1 <= w) & (0 <= y0) & (y0 <= y1) & (y1 <= h)).all()):
            raise ValueError(f"{key}.draws.box: expected boxes x0 <= x1 <= {w}, y0 <= y1 <= {h} from 0")

    def views(self, draws: dict, matrix: torch.Tensor, out_size: tuple[int, int]) -> Views:
        """Slot 0 the sample, slot 1 its partner; the box selects slot 1."""
        h, w = out_size
        x = torch.arange(w, device=matrix.device).view(1, 1, w)
        y = torch.arange(h, device=matrix.device).view(1, h, 1)
        x0, y0, x1, y1 = (v.view(-1, 1, 1) for v in draws["box"].unbind(1))
        select = (x >= x0) & (x < x1) & (y >= y0) & (y < y1)
        return _pair_views(matrix, draws["partner"], select)


class ClassMix(CanvasOp):
    """ClassMix (Olsson et al., 2021) with exact masks.

    Per sample, with probability ``p``: of the n classes present in the partner's warped
    mask (``ignore_index`` excluded), ⌈n/2⌉ chosen at random are pasted onto the sample,
    image pixels and labels (and targets) wherever the partner's mask has those classes.
    The choice ranks each present class by a hash of (the sample's ``seed``, the label),
    so it is a pure function of the draws and the partner's labels. It needs masks.

    The paste map comes from the partner's warped mask, so it takes a second, cheap pass:
    the masks are warped first (per sample), the classes chosen, then the image and the
    targets read through the map in one pass, and the mixed masks are selected from the
    warped ones.

    Args:
        p: probability that a sample gets a paste.

    Draws: ``applied`` (B bool), ``partner`` (B int64), ``seed`` (B int64, the class choice).
    """

    mixing = True
    slots = 2
    selects_by_labels = True

    def __init__(self, p: float = 0.5):
        self.p = check_probability(p)

    def sample(self, draw: Draw, size: tuple[int, int]) -> dict[str, torch.Tensor]:
        applied = draw.coin(self.p)
        return {"applied": applied, "partner": partners(draw, 1)[:, 0], "seed": draw.seeds()}

    def draw_shapes(self, batch, out_size):
        return {"partner": (batch,), "seed": (batch,)}

    def check_values(self, draws, batch, out_size, key):
        check_within(f"{key}.draws.partner", draws["partner"], 0, batch - 1, "sample indices")

    def views(self, draws: dict, matrix: torch.Tensor, out_size: tuple[int, int]) -> Views:
        """Slot 0 the sample, slot 1 its partner; the select map comes from the masks
        (:meth:`select`)."""
        return _pair_views(matrix, draws["partner"], None)

    def select(self, labels: torch.Tensor, draws: dict, ignore_index: int) -> torch.Tensor:
        """B×h×w bool: where each sample shows its partner, from the warped ``labels`` (B×h×w,
        every sample's own view) and the draws."""
        return _classmix_select(labels, draws, ignore_index)


def _classmix_select(labels: torch.Tensor, draws: dict, ignore_index: int) -> torch.Tensor:
    b = labels.shape[0]
    theirs = labels[draws["partner"]].reshape(b, math.prod(labels.shape[1:]))
    counters = theirs.long()
    seed = draws["seed"].view(-1, 1)
    # A 48-bit rank per (sample, class): two hashes, so distinct classes practically never tie.
    rank = hashing.uniform(seed, 2 * counters).double() + hashing.uniform(seed, 2 * counters + 1).double() / 2**24
    rank = rank.masked_fill_(theirs == ignore_index, 2.0)
    ordered = torch.sort(rank, dim=1).values
    first = torch.ones_like(ordered, dtype=torch.bool)
    first[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    first &= ordered < 2.0
    present = first.sum(dim=1, keepdim=True)
    chosen = torch.div(present + 1, 2, rounding_mode="floor")
    position = torch.cumsum(first, dim=1)
    cutoff = torch.where(first & (position == chosen), ordered, -1.0).amax(dim=1, keepdim=True)
    paste = (rank <= cutoff) & draws["applied"].view(-1, 1)
    return paste.view(labels.shape)


class Mosaic(CanvasOp):
    """Mosaic (YOLOv4's, for segmentation) with exact masks.

    Per sample, with probability ``p``: the canvas is split at a centre (cx, cy) drawn
    uniformly in ``center_range`` × (w, h) (whole pixels, at least one pixel from each
    edge) into four quadrants, filled from the sample itself (top-left) and three partners
    (top-right, bottom-left, bottom-right: the next three samples in a random cycle through
    the batch, so four distinct samples when B ≥ 4; with B < 4 they repeat). Each quadrant
    shows its source's whole augmented view scaled
    onto the quadrant (its matrix composed with that scale and translation); outside a
    source's image, fill / ignore as usual.

    Args:
        p: probability that a sample becomes a mosaic.
        center_range: (low, high) fractions of the canvas for the centre, within (0, 1).

    Pixel ops listed before it must be pointwise: a quadrant is its source's view scaled,
    so a ColorJitter contrast (the mean of the image) or a GaussianBlur (a neighbourhood)
    would see the quadrant canvas instead of the source's view; :class:`gpuaug.Compose`
    refuses them there (list them after the Mosaic).

    Draws: ``applied`` (B bool), ``center`` (B×2 int64: cx, cy), ``partners`` (B×3 int64).
    """

    mixing = True
    slots = 4
    pointwise_before = True

    def __init__(self, p: float = 0.5, center_range: tuple[float, float] = (0.25, 0.75)):
        self.p = check_probability(p)
        self.center_range = check_range(center_range, "center_range")
        if not 0.0 < self.center_range[0] <= self.center_range[1] < 1.0:
            raise ValueError(f"center_range: expected 0 < low <= high < 1, got {center_range!r}")

    def sample(self, draw: Draw, size: tuple[int, int]) -> dict[str, torch.Tensor]:
        h, w = size
        if h < 2 or w < 2:
            raise ValueError(f"Mosaic: the canvas must be at least 2×2 to hold four quadrants, got {h}×{w}")
        applied = draw.coin(self.p)
        low, high = self.center_range
        u = draw.rand(2, dtype=torch.float64).mul_(high - low).add_(low)
        cx = torch.floor(u[:, 0] * w).clamp_(1, w - 1)
        cy = torch.floor(u[:, 1] * h).clamp_(1, h - 1)
        center = torch.stack((cx, cy), dim=1).long()
        return {"applied": applied, "center": center, "partners": partners(draw, 3)}

    def draw_shapes(self, batch, out_size):
        return {"center": (batch, 2), "partners": (batch, 3)}

    def check_values(self, draws, batch, out_size, key):
        (h, w), field = out_size, f"{key}.draws."
        check_within(field + "partners", draws["partners"], 0, batch - 1, "sample indices")
        check_within(field + "center", draws["center"][:, 0], 1, w - 1, "centre columns")
        check_within(field + "center", draws["center"][:, 1], 1, h - 1, "centre rows")

    def views(self, draws: dict, matrix: torch.Tensor, out_size: tuple[int, int]) -> Views:
        """Slot q the source of quadrant q (0 top-left: the sample, 1 top-right, 2 bottom-left,
        3 bottom-right), each view its source's matrix after the quadrant → canvas scale."""
        h, w = out_size
        b, device = matrix.shape[0], matrix.device
        applied = draws["applied"]
        cx = torch.where(applied, draws["center"][:, 0], w).double().view(-1, 1)
        cy = torch.where(applied, draws["center"][:, 1], h).double().view(-1, 1)
        zero = torch.zeros_like(cx)
        left, top = torch.cat((zero, cx, zero, cx), 1), torch.cat((zero, zero, cy, cy), 1)
        right = torch.cat((cx, zero + w, cx, zero + w), 1)
        bottom = torch.cat((cy, cy, zero + h, zero + h), 1)
        # The empty quadrants of an unmixed sample are never selected: give them the whole canvas.
        width, height = right - left, bottom - top
        ax = w / torch.where(width > 0, width, float(w))
        ay = h / torch.where(height > 0, height, float(h))
        tx, ty = -left * ax, -top * ay
        sample = torch.cat((torch.arange(b, device=device).view(-1, 1), draws["partners"]), 1).reshape(-1)
        views_matrix = quadrant_matrix(matrix.double()[sample], *(v.reshape(-1, 1) for v in (ax, tx, ay, ty)))
        x = torch.arange(w, device=device).view(1, 1, w)
        y = torch.arange(h, device=device).view(1, h, 1)
        select = (x >= cx.view(-1, 1, 1)).to(torch.uint8) + 2 * (y >= cy.view(-1, 1, 1)).to(torch.uint8)
        pre = torch.stack((ax, tx, ay, ty), dim=2).reshape(-1, 4).to(torch.float32)
        return Views(4, sample.to(torch.int32), views_matrix, select.contiguous(), pre.contiguous())


def quadrant_matrix(m: torch.Tensor, ax, tx, ay, ty) -> torch.Tensor:
    """``m`` (…×3×3 float64) after the map (x, y) → (ax·x + tx, ay·y + ty), in float64 in a
    fixed order (the reference composes the same way), cast to float32 once."""
    out = m.clone()
    out[..., 0] = m[..., 0] * ax
    out[..., 1] = m[..., 1] * ay
    out[..., 2] = (m[..., 0] * tx + m[..., 1] * ty) + m[..., 2]
    return out.to(torch.float32)


def _pair_views(matrix: torch.Tensor, partner: torch.Tensor, select: torch.Tensor | None) -> Views:
    """Two views per sample, itself and its partner, each through its own matrix."""
    b = matrix.shape[0]
    sample = torch.stack((torch.arange(b, device=matrix.device), partner), dim=1).reshape(-1)
    pre = torch.tensor([1.0, 0.0, 1.0, 0.0], device=matrix.device).expand(2 * b, 4).contiguous()
    select = None if select is None else select.to(torch.uint8).contiguous()
    return Views(2, sample.to(torch.int32), matrix[sample].contiguous(), select, pre)


def views_of(records, matrix: torch.Tensor, out_size: tuple[int, int]) -> tuple[Views, tuple | None]:
    """The views of a chain's canvas records (``(index, OpRecord)`` pairs in list order):
    ``(views, (index, op) of the mixing record or None)``. The views of an op that
    :attr:`~gpuaug.transforms.base.CanvasOp.selects_by_labels` have no select map yet."""
    field, cell, mix = None, 1.0, None
    for index, record in records:
        op = CanvasOp.from_config(record.name, record.config)
        if op.mixing:
            mix = (index, op, record.draws)
        else:
            field, cell = record.draws["displacement"].contiguous(), op.cell
    if mix is None:
        return Views(1, None, matrix, field=field, cell=cell), None
    index, op, draws = mix
    views = op.views(draws, matrix, out_size)
    if field is not None:
        views = replace(views, field=field, cell=cell)
    return views, (index, op)


def check_canvas_order(ops) -> None:
    """The canvas ops' place in a chain (:mod:`gpuaug.transforms.canvas`): after every
    geometric op, at most one ElasticTransform and one mixing op, ElasticTransform first."""
    canvas = [(k, op) for k, op in enumerate(ops) if op.kind == "canvas"]
    if not canvas:
        return
    geometric = [k for k, op in enumerate(ops) if op.geometric]
    first = canvas[0][0]
    if geometric and geometric[-1] > first:
        later = geometric[-1]
        raise ValueError(
            f"ops[{first}]: {type(ops[first]).__name__} acts on the output canvas, so it must come after every "
            f"geometric op; ops[{later}] ({type(ops[later]).__name__}) follows it"
        )
    mixing = [k for k, op in canvas if op.mixing]
    elastic = [k for k, op in canvas if not op.mixing]
    for found, name in ((mixing, "mixing op (CutMix, ClassMix, Mosaic)"), (elastic, "ElasticTransform")):
        if len(found) > 1:
            raise ValueError(f"ops[{found[1]}]: a chain takes at most one {name}; ops[{found[0]}] is one already")
    if mixing and elastic and elastic[0] > mixing[0]:
        raise ValueError(
            f"ops[{elastic[0]}]: ElasticTransform deforms each sample's own view, so it must come before the "
            f"mixing op ops[{mixing[0]}] ({type(ops[mixing[0]]).__name__})"
        )
    if mixing and ops[mixing[0]].pointwise_before:
        for k, op in enumerate(ops[: mixing[0]]):
            for pixel in _walk([op]):
                if not pixel.pointwise:
                    raise ValueError(
                        f"ops[{k}]: {type(pixel).__name__} before {type(ops[mixing[0]]).__name__} would see each "
                        "quadrant's canvas, not its source's view (a blur's neighbourhood, a contrast's mean); list "
                        "it after it"
                    )


def _walk(ops):
    """Every op of a list, composites' children included (depth first)."""
    for op in ops:
        yield op
        if op.kind == "composite":
            yield from _walk(op.ops)
