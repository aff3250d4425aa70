"""Pixel ops on colour: ColorJitter, PhotoMetricDistortion, RandomGrayscale, GaussianNoise, Normalize.

They act on the warped float32 image B×C×h×w (after the one geometric resample, in list
order) and never touch masks; GaussianNoise and Normalize also on volumes B×C×d×h×w.
Semantics are torchvision's (PhotoMetricDistortion's are mmsegmentation's, see its
docstring); grayscale uses the Rec. 601 weights (0.299, 0.587, 0.114), as kornia does
(torchvision's 0.2989 differs by 1e-4). On CUDA they run fused into the image kernel (see
:mod:`gpuaug.fusion`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from gpuaug.core import hashing
from gpuaug.core.checks import check_number, check_probability, check_range
from gpuaug.core.constants import GRAY_WEIGHTS
from gpuaug.core.device import channel_values
from gpuaug.transforms.base import PixelOp, per_sample

__all__ = [
    "ColorJitter",
    "PhotoMetricDistortion",
    "RandomGrayscale",
    "GaussianNoise",
    "Normalize",
    "grayscale",
]


def grayscale(images: torch.Tensor) -> torch.Tensor:
    """B×1×h×w luma of B×3×h×w RGB images."""
    r, g, b = images.unbind(dim=1)
    return (GRAY_WEIGHTS[0] * r + GRAY_WEIGHTS[1] * g + GRAY_WEIGHTS[2] * b).unsqueeze(1)


def _require_rgb(op: str, channels: int) -> None:
    if channels != 3:
        raise ValueError(f"images: {op} needs 3 (RGB) channels, got {channels}")


class ColorJitter(PixelOp):
    """Random brightness, contrast, saturation and hue per sample (torchvision's factors).

    Factors are drawn per sample: brightness, contrast, saturation ~ U(max(0, 1 − v), 1 + v)
    for a number v, or U(min, max) for a pair; hue ~ U(−v, v) (v <= 0.5) or U(min, max), as
    a fraction of the hue circle. A zero (or neutral) argument leaves that adjustment out.
    The adjustments, each clamped to [0, 1], are

    1. brightness: ``x · b``;
    2. contrast: ``c · x + (1 − c) · mean(gray(x))``, the mean per image;
    3. saturation: ``s · x + (1 − s) · gray(x)``;
    4. hue: rotate the hue in HSV by ``h``;

    with ``order="fixed"`` (the default, so outputs stay what they were) in that order for
    every sample; with ``order="random"`` in an order drawn per sample, uniform over the 24
    permutations, as torchvision's ``ColorJitter`` (one ``randperm(4)`` per image it is
    called on) and albumentations' (per image) shuffle them. A random order runs as torch
    ops on every backend: the fused CUDA kernel has the fixed order built in.

    A sample the op is not applied to (probability 1 − ``p``) is left unchanged. Contrast,
    saturation and hue need RGB images.

    Draws: ``applied`` and one factor per configured adjustment (B each); with a random
    order, ``order`` (B×4 int64: position k runs step ``order[:, k]``, 0 brightness,
    1 contrast, 2 saturation, 3 hue; unconfigured steps are skipped).
    """

    #: The adjustments, by step index.
    STEPS = ("brightness", "contrast", "saturation", "hue")

    @property
    def pointwise(self) -> bool:  # type: ignore[override]
        return not self.contrast  # the contrast blends towards the image's mean

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0, p: float = 1.0, order: str = "fixed"):
        self.brightness = self._factor_range(brightness, "brightness")
        self.contrast = self._factor_range(contrast, "contrast")
        self.saturation = self._factor_range(saturation, "saturation")
        self.hue = self._hue_range(hue)
        self.p = check_probability(p)
        if order not in ("fixed", "random"):
            raise ValueError(f"order: expected 'fixed' or 'random', got {order!r}")
        self.order = order

    @property
    def stage(self) -> int | None:
        """The fused kernel's colour stage for the fixed order; None (torch ops) for a random one."""
        return 0 if self.order == "fixed" else None

    @staticmethod
    def _factor_range(value, name: str) -> tuple[float, float] | None:
        if value is None:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if value < 0:
                raise ValueError(f"{name}: a single number must be non-negative, got {value}")
            value = (max(0.0, 1.0 - value), 1.0 + value)
        low, high = check_range(value, name, low=0.0)
        return None if low == high == 1.0 else (low, high)

    @staticmethod
    def _hue_range(value) -> tuple[float, float] | None:
        if value is None:
            return None
        low, high = check_range(value, "hue", symmetric=True)
        if low < -0.5 or high > 0.5:
            raise ValueError(f"hue: expected values in [-0.5, 0.5], got {value!r}")
        return None if low == high == 0.0 else (low, high)

    def fuse(self, steps, draws):
        steps.jitter[0] = draws["applied"].float()
        for k, name in enumerate(self.STEPS, start=1):
            if name in draws:
                steps.jitter[k] = draws[name].float()
                steps.flags[name.upper()] = True

    def sample(self, draw, channels):
        if self.contrast or self.saturation or self.hue:
            _require_rgb("ColorJitter contrast, saturation and hue", channels)
        draws = {"applied": draw.coin(self.p)}
        for name in self.STEPS:
            bounds = getattr(self, name)
            if bounds is not None:
                draws[name] = draw.uniform(*bounds)
        if self.order == "random":  # a uniform permutation per sample: the ranks of four uniform draws
            draws["order"] = torch.stack([draw.rand() for _ in self.STEPS], 1).argsort(1)
        return draws

    def apply(self, images, draws):
        x = images
        order = draws.get("order")
        for position, name in enumerate(self.STEPS):
            if order is None:  # the fixed order: step k at position k
                x = self._step(name, x, draws[name]) if name in draws else x
                continue
            for step, step_name in enumerate(self.STEPS):
                if step_name in draws:
                    here = per_sample(order[:, position] == step, x)
                    x = torch.where(here, self._step(step_name, x, draws[step_name]), x)
        # Samples the op is not applied to keep their input (skipped when every sample is).
        return x if self.p == 1.0 else torch.where(per_sample(draws["applied"], images), x, images)

    @staticmethod
    def _step(name: str, x: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """One adjustment with per-sample values (B) on B×3×h×w images, clamped to [0, 1]."""
        if name == "brightness":
            return (x * per_sample(value, x)).clamp_(0.0, 1.0)
        if name == "contrast":
            c = per_sample(value, x)
            mean = grayscale(x).mean(dim=(-3, -2, -1), keepdim=True)
            return (c * x + (1.0 - c) * mean).clamp_(0.0, 1.0)
        if name == "saturation":
            s = per_sample(value, x)
            return (s * x + (1.0 - s) * grayscale(x)).clamp_(0.0, 1.0)
        return _adjust_hsv(x, torch.ones_like(value), value)


class PhotoMetricDistortion(PixelOp):
    """mmsegmentation's photometric distortion, per sample, on images in [0, 1].

    With probability ``p`` a sample is distorted (else left unchanged); then each step below
    is switched on by its own fair coin, and a coin says whether contrast comes before the
    HSV steps or after them. Every step clamps its result to [0, 1]:

    1. brightness: ``x + δ``, δ ~ U(−brightness_delta, brightness_delta);
    2. contrast, when it comes first: ``x · α``, α ~ U(contrast_range);
    3. saturation: in HSV, ``S ← clamp(S · α, 0, 1)``, α ~ U(saturation_range);
    4. hue: in HSV, ``H ← H + δ`` (mod 1), δ ~ U(−hue_delta, hue_delta) as a fraction of the
       hue circle;
    5. contrast, when it comes last.

    HSV is the hexcone model (V = max(R, G, B), S = (V − min(R, G, B)) / V), so a saturation
    factor of 0 turns a pixel into max(R, G, B) in all three channels (ColorJitter's
    saturation blends towards the luma instead). Needs RGB images.

    mmsegmentation's ``dict(type='PhotoMetricDistortion')`` (brightness_delta=32,
    contrast_range=(0.5, 1.5), saturation_range=(0.5, 1.5), hue_delta=18, on 0–255 images
    with a 180-step hue) is ``PhotoMetricDistortion()`` here: ``brightness_delta`` is
    mmsegmentation's / 255 (32/255), ``hue_delta`` its / 180 (18/180 = 0.1), the ranges are
    the same. Its clip to 0–255 after every step is the clamp to [0, 1] here, and its uint8
    saturation channel clamps S·α to 255, which is the clamp of S · α above. Differences:
    everything stays float32, where mmsegmentation *truncates* to uint8 after every step
    (``astype(np.uint8)`` after the clip: each step can lose up to one grey level, half a level
    on average, always downwards) and its saturation and hue steps make one uint8 HSV round
    trip each (OpenCV's, which rounds) where this op makes one float round trip for both; the
    hue shift is continuous, δ ~ U(−hue_delta, hue_delta), where mmsegmentation draws an
    integer number of its 180 hue steps (2° each), uniform in [−18, 17] with its default
    (numpy's ``randint`` leaves out the upper bound); ``p`` is new (1: always, as
    mmsegmentation). :func:`gpuaug.from_mmseg` makes this op from the config's dict.

    Draws (B each): ``applied`` (bool), ``brightness`` (δ, 0 where the step is off),
    ``contrast_first`` (bool), ``contrast`` (α, 1 where off), ``saturation`` (α, 1 where off),
    ``hue`` (δ, 0 where off). A step whose value is the neutral one is skipped; a sample the
    op is not applied to records neutral values throughout.

    On CUDA it runs in the fused kernel in ColorJitter's place (the kernel runs one of the
    two; in a pipeline with both, the second runs as a torch op).

    Example:
        >>> Compose([RandomResizedCrop(512), RandomHorizontalFlip(), PhotoMetricDistortion()])
    """

    stage = 0  # an alternative to ColorJitter: the fused kernel runs one of the two

    def __init__(
        self,
        brightness_delta: float = 32 / 255,
        contrast_range=(0.5, 1.5),
        saturation_range=(0.5, 1.5),
        hue_delta: float = 0.1,
        p: float = 1.0,
    ):
        self.brightness_delta = check_number(
            brightness_delta,
            "brightness_delta",
            0.0,
            1.0,
            f"; images are in [0, 1], so {brightness_delta!r} on the 0-255 scale is {brightness_delta!r}/255",
        )
        self.contrast_range = check_range(contrast_range, "contrast_range", low=0.0)
        self.saturation_range = check_range(saturation_range, "saturation_range", low=0.0)
        self.hue_delta = check_number(
            hue_delta,
            "hue_delta",
            0.0,
            0.5,
            f"; it is a fraction of the hue circle, so {hue_delta!r} steps of a 180-step hue is {hue_delta!r}/180",
        )
        self.p = check_probability(p)

    def fuse(self, steps, draws):
        names = ("applied", "brightness", "contrast_first", "contrast", "saturation", "hue")
        steps.photometric = [draws[name].float() for name in names]
        steps.flags["PMD"] = True

    def sample(self, draw, channels):
        _require_rgb("PhotoMetricDistortion", channels)
        applied = draw.coin(self.p)

        def step(low: float, high: float, neutral: float) -> torch.Tensor:
            on = draw.coin(0.5) & applied
            return torch.where(on, draw.uniform(low, high), neutral)

        brightness = step(-self.brightness_delta, self.brightness_delta, 0.0)
        contrast_first = draw.coin(0.5)
        return {
            "applied": applied,
            "brightness": brightness,
            "contrast_first": contrast_first,
            "contrast": step(*self.contrast_range, 1.0),
            "saturation": step(*self.saturation_range, 1.0),
            "hue": step(-self.hue_delta, self.hue_delta, 0.0),
        }

    def apply(self, images, draws):
        # A step that is off for a sample adds 0 or scales by 1 and clamps to ±inf there: the
        # sample's values pass exactly, with no whole-batch select per step.
        applied, first = draws["applied"], draws["contrast_first"]
        delta = torch.where(applied, draws["brightness"], 0.0)
        alpha = torch.where(applied, draws["contrast"], 1.0)
        saturation, hue = draws["saturation"], draws["hue"]

        def contrast(x: torch.Tensor, on: torch.Tensor) -> torch.Tensor:
            on = on & (alpha != 1.0)
            return _clamp_unit_(x.mul_(per_sample(torch.where(on, alpha, 1.0), x)), on)

        x = _clamp_unit_(images + per_sample(delta, images), delta != 0.0)  # a new tensor: in place from here
        x = contrast(x, first)
        hsv = applied & ((saturation != 1.0) | (hue != 0.0))
        if images.device.type == "cpu" and not torch.compiler.is_compiling():
            x = _adjust_hsv_where_(x, hsv, saturation, hue)
        else:  # lerp with per-sample weights 0 and 1 selects exactly, with no host sync
            x = torch.lerp(x, _adjust_hsv(x, saturation, hue), per_sample(hsv.to(torch.float32), x))
        return contrast(x, ~first)


def _clamp_unit_(x: torch.Tensor, on: torch.Tensor) -> torch.Tensor:
    """Clamp B×C×h×w ``x`` in place to [0, 1] in the samples where ``on`` (B bool), nowhere else.

    The bounds are per sample, (−inf, inf) where off; a lower then an upper bound each in one
    pass is about four times faster on the CPU than one ``clamp_`` with tensor bounds.
    """
    low = torch.where(on, 0.0, -torch.inf).to(torch.float32)
    return x.clamp_min_(per_sample(low, x)).clamp_max_(per_sample(torch.where(on, 1.0, torch.inf).to(torch.float32), x))


def _adjust_hsv_where_(
    images: torch.Tensor, on: torch.Tensor, saturation: torch.Tensor, shift: torch.Tensor
) -> torch.Tensor:
    """:func:`_adjust_hsv` of the samples of CPU ``images`` (B×3×h×w float32) where ``on`` (B
    bool); the others pass unchanged. Eagerly on the CPU reading ``on`` costs no sync, so the
    round trip runs on those samples only and is written back into ``images`` in place (none:
    skipped; all: its own new tensor is returned, with no copy back), where selecting its
    result per sample would compute it for every sample and blend them in another pass."""
    picked = on.nonzero().view(-1)
    if picked.numel() == images.shape[0]:
        return _adjust_hsv(images, saturation, shift)
    if picked.numel():
        chosen = _adjust_hsv(images.index_select(0, picked), saturation[picked], shift[picked])
        images.index_copy_(0, picked, chosen)
    return images


def _adjust_hsv(images: torch.Tensor, saturation: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Scale the HSV saturation and rotate the hue of RGB images in [0, 1], in one round trip.

    Args:
        images: B×3×h×w float32 RGB in [0, 1].
        saturation: B float32 factors; S becomes ``clamp(S · saturation, 0, 1)`` where the
            factor is not 1 (1: S unchanged, not even clamped).
        shift: B float32 hue rotations, as fractions of the circle (0: H unchanged).

    Returns:
        A new B×3×h×w float32 tensor, clamped to [0, 1].

    The hexcone conversion as whole-batch tensor ops, worked in chroma (V·S) rather than S and
    in sixths of the hue circle, so no division by V and no per-pixel ``where``. One of three
    HSV implementations (docs/design.md): the reference's (kornia's HSV code) is the truth;
    this one and the fused kernel's sector table are tested against it.
    """
    r, g, b = images.unbind(dim=1)
    maxc = torch.maximum(torch.maximum(r, g), b)
    chroma = maxc - torch.minimum(torch.minimum(r, g), b)
    # The hue in sixths of the circle, in [−1, 5), by which of R, G, B is the largest (R first,
    # then G). lerp with weights 0 and 1 selects exactly, and faster than where on the CPU.
    red, green = (maxc == r).to(torch.float32), (maxc == g).to(torch.float32)
    hue = torch.lerp((r - g).add_(chroma, alpha=4.0), (b - r).add_(chroma, alpha=2.0), green)
    hue = torch.lerp(hue, g - b, red)
    hue.div_(chroma.clamp_min(torch.finfo(torch.float32).tiny)).add_(6.0 * _half_turn(shift).view(-1, 1, 1))
    # S ← clamp(S·α, 0, 1) is the chroma V·S ← min(C·α, max(V, 0)) (C ≥ 0); α = 1 leaves C as
    # it is, unclamped (the bound is +inf there).
    unclamped = torch.where(saturation != 1.0, 0.0, torch.inf).to(torch.float32).view(-1, 1, 1)
    chroma = torch.minimum(chroma.mul_(saturation.view(-1, 1, 1)), maxc.clamp_min(0.0).add_(unclamped))
    # HSV → RGB: channel = V − C·w, w = clamp(||h − c| − 3| − 1, 0, 1) with h = hue mod 6 and
    # c = 3, 5, 1 for R, G, B (w is 1 within one sixth of the channel's opposite hue c, 0 beyond
    # two): the sector table with one remainder, no per-sector selects, the channels broadcast.
    centres = channel_values((3.0, 5.0, 1.0), 3, images.device).view(1, 3, 1, 1)  # no host sync on CUDA
    weight = _hue_mod_6(hue).unsqueeze(1).sub(centres).abs_().sub_(3.0).abs_().sub_(1.0).clamp_(0.0, 1.0)
    return torch.addcmul(maxc.unsqueeze(1), weight, chroma.unsqueeze(1), value=-1.0).clamp_(0.0, 1.0)


def _half_turn(shift: torch.Tensor) -> torch.Tensor:
    """Hue rotations (B, fractions of the circle) brought into [−0.5, 0.5] (the same rotation;
    values already there, as every op draws them, pass unchanged)."""
    return shift - torch.round(shift)


def _hue_mod_6(hue: torch.Tensor) -> torch.Tensor:
    """``hue mod 6`` for hues in sixths of the circle in [−4, 8) (a hue in [−1, 5) rotated by
    :func:`_half_turn`), bit-identical to ``torch.remainder(hue, 6)`` there.

    Eagerly that remainder is one pass; compiled, inductor recomputes its floor division in
    each channel's loop of the broadcast that follows (18 ms of an ADE20K batch's 26 ms of
    pixel ops on 2 cores), so there the two wraps that range needs are written out instead
    (6 ms). ``h + 6`` and ``h − 6`` are what the remainder computes on that range.
    """
    if not torch.compiler.is_compiling():
        return torch.remainder(hue, 6.0)
    hue = torch.where(hue < 0.0, hue + 6.0, hue)
    return torch.where(hue >= 6.0, hue - 6.0, hue)


class RandomGrayscale(PixelOp):
    """Replace an RGB image by its luma in all three channels, with probability ``p``.

    Draws: ``applied`` (B bool).
    """

    stage = 1

    def __init__(self, p: float = 0.1):
        self.p = check_probability(p)

    def fuse(self, steps, draws):
        steps.gray = draws["applied"].float()
        steps.flags["GRAY"] = True

    def sample(self, draw, channels):
        _require_rgb("RandomGrayscale", channels)
        return {"applied": draw.coin(self.p)}

    def apply(self, images, draws):
        return torch.where(per_sample(draws["applied"], images), grayscale(images).expand_as(images), images)


class GaussianNoise(PixelOp):
    """Add per-pixel Gaussian noise N(``mean``, std²) with a per-sample std, with probability ``p``.

    ``std`` is a number (fixed) or a (min, max) range drawn per sample. The noise is a pure
    function of a per-sample seed drawn from the caller's generator and the pixel index
    (``gpuaug.core.hashing``), so it replays exactly from the params and is the same in the torch
    path and the fused kernel. With ``clip`` the result of a 2D image is clamped to [0, 1];
    volumes (B×C×D×H×W, unscaled intensities) are never clamped, and ``std`` is in their units.

    Draws: ``applied``, ``std`` (B float), ``seed`` (B int64).
    """

    stage = 2
    spatial_dims = (2, 3)

    def __init__(self, mean: float = 0.0, std=(0.0, 0.1), p: float = 0.5, clip: bool = True):
        if isinstance(mean, bool) or not isinstance(mean, (int, float)):
            raise TypeError(f"mean: expected a number, got {mean!r}")
        self.mean = float(mean)
        if isinstance(std, (int, float)) and not isinstance(std, bool):
            std = (std, std)
        self.std = check_range(std, "std", low=0.0)
        self.p = check_probability(p)
        self.clip = bool(clip)

    def fuse(self, steps, draws):
        steps.noise = torch.stack((draws["applied"].float(), draws["std"].float()), dim=1)
        steps.seed, steps.noise_mean = draws["seed"], self.mean
        steps.flags["NOISE"], steps.flags["NOISE_CLIP"] = True, self.clip

    def sample(self, draw, channels):
        return {"applied": draw.coin(self.p), "std": draw.uniform(*self.std), "seed": draw.seeds()}

    def apply(self, images, draws):
        index = torch.arange(images[0].numel(), device=images.device, dtype=torch.int64).view(1, *images.shape[1:])
        seed, std = per_sample(draws["seed"], images), per_sample(draws["std"], images)
        noisy = images + hashing.normal(seed, index).mul_(std).add_(self.mean)
        if self.clip and images.dim() == 4:
            noisy = noisy.clamp_(0.0, 1.0)
        return torch.where(per_sample(draws["applied"], images), noisy, images)


def _over_255(values: tuple[float, ...]) -> str:
    """``values`` / 255 as a tuple literal, e.g. ``(0.485, 0.456, 0.406)``."""
    return "(" + ", ".join(f"{v / 255:.4g}" for v in values) + ")"


class Normalize(PixelOp):
    """``(x − mean) / std`` per channel; ``mean`` and ``std`` are numbers or one value per channel.

    gpuaug works on images in [0, 1] (uint8 is read as value/255), so ``mean`` and ``std`` are
    in that scale too: ImageNet's are (0.485, 0.456, 0.406) and (0.229, 0.224, 0.225). On 2D
    images a value above 1 (the 0–255 scale, e.g. 123.675) raises ValueError with the /255
    values, when the Compose learns that its data are images (at construction when its
    chain has 2D ops, else at the call). Volumes (B×C×D×H×W) are read unscaled, so there
    ``mean`` and ``std`` are in their own units (CT's Hounsfield units, say).

    Draws: none. Applied last in a pipeline, it turns the warp's ``fill`` into
    ``(fill − mean) / std``.
    """

    stage = 3
    spatial_dims = (2, 3)

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]):
        self.mean = self._values(mean, "mean")
        self.std = self._values(std, "std")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std: expected positive values, got {std!r}")
        if len(self.mean) != len(self.std) and 1 not in (len(self.mean), len(self.std)):
            raise ValueError(f"mean, std: expected the same number of values, got {len(self.mean)} and {len(self.std)}")

    @staticmethod
    def _values(value, name: str) -> tuple[float, ...]:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            values: tuple[float, ...] = (float(value),)
        elif isinstance(value, Sequence) and value and all(isinstance(v, (int, float)) for v in value):
            values = tuple(float(v) for v in value)
        else:
            raise TypeError(f"{name}: expected a number or a sequence of numbers, got {value!r}")
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"{name}: expected finite values, got {value!r}")
        return values

    def check_dims(self, dims, key):
        above = [name for name, values in (("mean", self.mean), ("std", self.std)) if any(v > 1 for v in values)]
        if dims == 2 and above:
            raise ValueError(
                f"{key}: {', '.join(above)}: gpuaug works on images in [0, 1] (uint8 is read as value/255), so "
                f"Normalize takes mean and std in [0, 1] too; got mean={self.mean!r}, std={self.std!r}, which look "
                f"like 0-255 values: you probably meant Normalize({_over_255(self.mean)}, {_over_255(self.std)})"
            )

    def _check_channels(self, channels: int) -> None:
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) not in (1, channels):
                raise ValueError(f"{name}: expected 1 or {channels} values (one per channel), got {len(values)}")

    def constants(self, channels: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std) as C-vectors of float32 on ``device``."""
        self._check_channels(channels)
        return channel_values(self.mean, channels, device), channel_values(self.std, channels, device)

    def fuse(self, steps, draws):
        steps.norm = torch.stack(self.constants(3, steps.norm.device))
        steps.flags["NORMALIZE"] = True

    def sample(self, draw, channels):
        self._check_channels(channels)
        return {}

    def apply(self, images, draws):
        mean, std = (v.view(1, -1, *[1] * (images.dim() - 2)) for v in self.constants(images.shape[1], images.device))
        return (images - mean) / std
