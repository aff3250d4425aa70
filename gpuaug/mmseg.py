"""mmsegmentation's train pipelines as gpuaug chains: :func:`from_mmseg`.

A config's ``train_pipeline`` (a list of dicts, as written in mmsegmentation 1.x configs) is
turned step by step into the gpuaug ops that do the same, in the same order, and one
:class:`gpuaug.Compose`. Nothing from mmsegmentation or mmcv is imported. What differs
between the two libraries, and which way gpuaug goes, is said where it is translated:

- sizes: mmcv writes ``scale`` as (w, h), gpuaug (h, w); ``crop_size`` is (h, w) in both;
- ``RandomCrop`` places a smaller image at (0, 0) and the data preprocessor pads it at the
  bottom / right after normalisation (image 0, the mean colour; labels 255): here
  ``RandomCrop(pad_position="top_left")`` and a ``fill`` equal to the mean colour, so
  ``Normalize`` makes it 0;
- ``RandomRotate``'s ``degree`` is clockwise (mmcv's ``imrotate``), gpuaug's angles are
  counter-clockwise: the range is mirrored;
- ``PhotoMetricDistortion`` works on 0–255 values with a 180-step hue: its deltas are
  divided by 255 and 180;
- masks are resampled at pixel centres (OpenCV's ``INTER_NEAREST_EXACT``), not by mmcv's
  ``'nearest'`` (``INTER_NEAREST``, half a source pixel off the image); images in float32.

gpuaug has one ``fill`` and one ``ignore_index`` for every pixel from outside the image, so
pad values that would differ between steps are a ValueError.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

from gpuaug.compose import Compose
from gpuaug.core.checks import check_int
from gpuaug.transforms import (
    Normalize,
    OneOf,
    PhotoMetricDistortion,
    RandomApply,
    RandomCrop,
    RandomHorizontalFlip,
    RandomResize,
    RandomRotation,
    RandomVerticalFlip,
    Resize,
)

__all__ = ["from_mmseg", "SUPPORTED", "SKIPPED"]

#: The loading and packing steps, which have nothing to translate.
SKIPPED = ("LoadImageFromFile", "LoadAnnotations", "PackSegInputs")
#: mmcv's resize settings and their defaults (gpuaug reproduces bilinear images, as the cv2 backend resizes).
_RESIZE_KEYS = {"keep_ratio": False, "interpolation": "bilinear", "backend": "cv2", "clip_object_border": True}
_FLIPS = {"horizontal": RandomHorizontalFlip, "vertical": RandomVerticalFlip}


class _Context:
    """What the steps share: the pipeline's ignore index and the pad values the steps ask for."""

    def __init__(self, ignore_index: int, crop_pad: tuple[float, ...]):
        self.ignore_index = ignore_index
        self.crop_pad = crop_pad  # what mmseg's data_preprocessor pads crops with, before normalising
        self.pads: list[tuple[str, tuple[float, ...]]] = []  # (who, 0-255 value per channel)

    def pad(self, who: str, value: tuple[float, ...]) -> None:
        """Record that ``who`` pads images with ``value``: every pad must be the same one."""
        for other, seen in self.pads:
            if seen != value:
                raise ValueError(
                    f"{who}: pads images with {value}, but {other} pads with {seen}; gpuaug has one "
                    "fill for every pixel from outside the image (applied before Normalize): make them equal, e.g. "
                    "RandomRotate's pad_val = the data_preprocessor's mean"
                )
        self.pads.append((who, value))

    def ignore(self, who: str, value: object) -> None:
        """Check that ``who``'s label pad / ignore value is the pipeline's ``ignore_index``."""
        if value != self.ignore_index:
            raise ValueError(
                f"{who}: {value!r} differs from ignore_index={self.ignore_index}; gpuaug has one ignore_index for "
                "the class check and every label from outside the image: pass from_mmseg(..., ignore_index="
                f"{value!r}) or make them equal"
            )


def from_mmseg(
    pipeline: Sequence[Mapping],
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    ignore_index: int = 255,
) -> Compose:
    """The :class:`gpuaug.Compose` equivalent to an mmsegmentation ``train_pipeline``.

    Args:
        pipeline: the config's list of dicts, each with a ``type``. Translated (in order):
            ``RandomResize`` (``scale`` (w, h) → (h, w), ``ratio_range``, ``keep_ratio``),
            ``Resize`` (``scale``, ``keep_ratio``), ``RandomCrop`` (``crop_size`` (h, w),
            ``cat_max_ratio``; mmsegmentation's top-left padding), ``RandomFlip`` (``prob``,
            ``direction``), ``PhotoMetricDistortion`` (``brightness_delta`` / 255,
            ``hue_delta`` / 180, the ranges as they are), ``RandomRotate`` (``prob``,
            ``degree``, ``pad_val`` → ``fill``, ``seg_pad_val`` → ``ignore_index``). Skipped:
            :data:`SKIPPED` (``LoadAnnotations(reduce_zero_label=True)`` warns that the
            dataset does that, e.g. ``gpuaug.data.SegmentationFolder(root, "ade20k")``).
            mmcv's defaults apply to omitted keys (``keep_ratio=False``).
        mean, std: the ``data_preprocessor``'s, in 0–255 (RGB order, as with
            ``bgr_to_rgb=True``): a final ``Normalize(mean / 255, std / 255)``, and the
            crops' padding is the mean colour (0 after ``Normalize``, as mmsegmentation pads
            after normalising). None (both): no ``Normalize``, padding 0.
        ignore_index: the label of void pixels and of every pixel from outside the image
            (mmsegmentation's ``seg_pad_val`` and the crop's ``ignore_index``, 255).

    Returns:
        A Compose of the translated ops, with ``ignore_index`` and the images' ``fill``
        (the pad value every padding step uses, / 255).

    Raises:
        ValueError: an unsupported step or setting (naming it and listing the supported
            ones), a bad ``scale`` or ``crop_size``, pad values that differ between steps.
        TypeError: a step that is not a dict with a ``type``.

    Example (mmsegmentation's ADE20K 512×512)::

        aug = gpuaug.from_mmseg(train_pipeline, mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
    """
    if isinstance(pipeline, (str, bytes, Mapping)) or not isinstance(pipeline, Sequence):
        raise TypeError(f"pipeline: expected a list of dicts (an mmseg train_pipeline), got {type(pipeline).__name__}")
    ignore_index = check_int(ignore_index, "ignore_index")
    mean, std = _normalisation(mean, std)
    context = _Context(ignore_index, mean or (0.0,) * 3)
    ops = []
    for i, step in enumerate(pipeline):
        where = f"pipeline[{i}]"
        if not isinstance(step, Mapping) or not isinstance(step.get("type"), str):
            raise TypeError(f"{where}: expected a dict with a 'type' (an mmseg transform), got {step!r}")
        name, args = step["type"], {k: v for k, v in step.items() if k != "type"}
        where = f"{where} {name}"
        if name in SKIPPED:
            if name == "LoadAnnotations" and args.get("reduce_zero_label"):
                warnings.warn(
                    f"{where}(reduce_zero_label=True): in gpuaug the dataset reduces the labels, not the Compose: "
                    "read it with gpuaug.data.SegmentationFolder(root, 'ade20k') (reduce_zero_label=True by "
                    "default there) or SegmentationFolder(..., reduce_zero_label=True)",
                    stacklevel=2,
                )
            continue
        if name not in SUPPORTED:
            raise ValueError(
                f"{where}: unsupported step {name!r}; supported: {', '.join(sorted(SUPPORTED))} "
                f"(skipped: {', '.join(SKIPPED)})"
            )
        ops.append(SUPPORTED[name](where, args, context))
    if mean is not None:
        ops.append(Normalize([m / 255 for m in mean], [s / 255 for s in std]))
    fill = context.pads[0][1] if context.pads else (0.0,)
    fill = [v / 255 for v in fill]
    return Compose(ops, ignore_index=ignore_index, fill=fill[0] if len(set(fill)) == 1 else fill)


def _normalisation(mean, std) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    """The data_preprocessor's mean and std as tuples of 0–255 floats, or (None, None)."""
    if (mean is None) != (std is None):
        raise ValueError(f"mean, std: pass both (the data_preprocessor's) or neither, got mean={mean!r}, std={std!r}")
    if mean is None:
        return None, None
    values = []
    for name, value in (("mean", mean), ("std", std)):
        if not _numbers(value) or len(value) != 3:
            raise ValueError(f"{name}: expected the data_preprocessor's three 0-255 values (RGB), got {value!r}")
        if not all(0 <= v <= 255 for v in value) or (name == "std" and min(value) <= 0):
            raise ValueError(f"{name}: expected 0-255 values{' above 0' if name == 'std' else ''}, got {value!r}")
        values.append(tuple(float(v) for v in value))
    return values[0], values[1]


def _numbers(value) -> bool:
    """Whether ``value`` is a non-empty sequence of finite real numbers."""
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) > 0
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    )


def _args(where: str, args: dict, defaults: dict, required: tuple[str, ...] = ()) -> dict:
    """``args`` completed with mmcv's ``defaults``; a key it does not know or a missing one raises."""
    unknown = sorted(set(args) - set(defaults) - set(required))
    if unknown:
        known = ", ".join(sorted((*required, *defaults)))
        raise ValueError(f"{where}: unsupported argument(s) {', '.join(unknown)}; supported: {known}")
    missing = [k for k in required if k not in args]
    if missing:
        raise ValueError(f"{where}: missing required argument(s) {', '.join(missing)}")
    return defaults | args


def _check(where: str, args: dict, allowed: dict) -> None:
    """Settings gpuaug reproduces only at one value (name → the allowed values)."""
    for key, values in allowed.items():
        if args[key] not in values:
            raise ValueError(f"{where}: {key}={args[key]!r} is not supported; supported: {values!r}")


def _scale(where: str, scale) -> tuple[int, int]:
    """mmcv's ``scale`` (an int, or (w, h)) as gpuaug's (h, w)."""
    if isinstance(scale, int) and not isinstance(scale, bool):
        scale = (scale, scale)
    if isinstance(scale, Sequence) and scale and all(isinstance(s, Sequence) for s in scale):
        raise ValueError(f"{where}: scale={scale!r}: a list of scales (mmcv's range sampling) is not supported")
    if not (isinstance(scale, Sequence) and len(scale) == 2 and all(_positive_int(s) for s in scale)):
        raise ValueError(f"{where}: scale: expected mmcv's (w, h) pair of positive ints, got {scale!r}")
    return int(scale[1]), int(scale[0])


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _random_resize(where: str, args: dict, context: _Context) -> RandomResize:
    args = _args(where, args, {"ratio_range": None, "resize_type": "Resize", **_RESIZE_KEYS}, ("scale",))
    _check(where, args, {"resize_type": ("Resize",), "interpolation": ("bilinear",), "backend": ("cv2",)})
    scale = _scale(where, args["scale"])
    if args["ratio_range"] is None:
        raise ValueError(f"{where}: ratio_range: mmcv's RandomResize with one scale needs a (min, max) ratio_range")
    return RandomResize(scale, args["ratio_range"], keep_ratio=args["keep_ratio"])


def _resize(where: str, args: dict, context: _Context) -> Resize | RandomResize:
    args = _args(where, args, {"scale": None, "scale_factor": None, **_RESIZE_KEYS})
    _check(where, args, {"scale_factor": (None,), "interpolation": ("bilinear",), "backend": ("cv2",)})
    scale = _scale(where, args["scale"])
    # keep_ratio: mmcv's rescale (one factor, sides rounded as mmcv does) is RandomResize's at ratio 1.
    return RandomResize(scale, keep_ratio=True) if args["keep_ratio"] else Resize(scale)


def _random_crop(where: str, args: dict, context: _Context) -> RandomCrop:
    args = _args(where, args, {"cat_max_ratio": 1.0, "ignore_index": 255}, ("crop_size",))
    crop = args["crop_size"]
    if not (isinstance(crop, Sequence) and len(crop) == 2 and all(_positive_int(s) for s in crop)):
        raise ValueError(f"{where}: crop_size: expected mmseg's (h, w) pair of positive ints, got {crop!r}")
    context.ignore(f"{where} ignore_index", args["ignore_index"])
    context.pad(f"{where}'s padding (the data_preprocessor's, 0 after normalising)", context.crop_pad)
    return RandomCrop(tuple(crop), pad_if_needed=True, cat_max_ratio=args["cat_max_ratio"], pad_position="top_left")


def _random_flip(where: str, args: dict, context: _Context):
    args = _args(where, args, {"direction": "horizontal", "swap_seg_labels": None}, ("prob",))
    _check(where, args, {"swap_seg_labels": (None,)})
    prob, direction = args["prob"], args["direction"]
    if isinstance(direction, str) and direction in _FLIPS and not isinstance(prob, Sequence):
        return _FLIPS[direction](p=prob)
    # mmcv's choice among directions: one of them with its probability (a float prob shared
    # equally), else none; the same as OneOf's per-sample choice.
    directions = [direction] if isinstance(direction, str) else list(direction)
    probs = list(prob) if isinstance(prob, Sequence) else [prob / len(directions)] * len(directions)
    if len(probs) != len(directions) or not _numbers(probs) or min(probs) < 0 or sum(probs) > 1:
        raise ValueError(f"{where}: prob: expected one probability per direction, summing to <= 1, got {prob!r}")
    if sum(probs) == 0:
        return RandomHorizontalFlip(p=0.0)
    return OneOf([_flip(where, d) for d in directions], p=sum(probs), weights=probs)


def _flip(where: str, direction: str):
    """One flip direction, always applied."""
    if direction == "diagonal":
        return RandomApply([RandomHorizontalFlip(p=1.0), RandomVerticalFlip(p=1.0)], p=1.0)
    if direction not in _FLIPS:
        raise ValueError(f"{where}: direction={direction!r}: expected 'horizontal', 'vertical' or 'diagonal'")
    return _FLIPS[direction](p=1.0)


def _photometric(where: str, args: dict, context: _Context) -> PhotoMetricDistortion:
    defaults = {"brightness_delta": 32, "contrast_range": (0.5, 1.5), "saturation_range": (0.5, 1.5), "hue_delta": 18}
    args = _args(where, args, defaults)
    for key in ("brightness_delta", "hue_delta"):
        if isinstance(args[key], bool) or not isinstance(args[key], (int, float)):
            raise TypeError(f"{where}: {key}: expected a number (0-255 units; hue in 180 steps), got {args[key]!r}")
    return PhotoMetricDistortion(
        args["brightness_delta"] / 255, args["contrast_range"], args["saturation_range"], args["hue_delta"] / 180
    )


def _random_rotate(where: str, args: dict, context: _Context) -> RandomRotation:
    defaults = {"pad_val": 0, "seg_pad_val": 255, "center": None, "auto_bound": False}
    args = _args(where, args, defaults, ("prob", "degree"))
    _check(where, args, {"center": (None,), "auto_bound": (False,)})
    degree = args["degree"]
    if isinstance(degree, (int, float)) and not isinstance(degree, bool):
        if degree <= 0:
            raise ValueError(f"{where}: degree: expected a positive number or a (min, max) pair, got {degree!r}")
        degree = (-degree, degree)
    if not (_numbers(degree) and len(degree) == 2):
        raise ValueError(f"{where}: degree: expected a positive number or a (min, max) pair, got {degree!r}")
    pad = args["pad_val"]
    pad = (pad,) * 3 if isinstance(pad, (int, float)) and not isinstance(pad, bool) else pad
    if not (_numbers(pad) and len(pad) == 3):
        raise ValueError(f"{where}: pad_val: expected a 0-255 number or three, got {args['pad_val']!r}")
    context.pad(f"{where} pad_val", tuple(float(v) for v in pad))
    context.ignore(f"{where} seg_pad_val", args["seg_pad_val"])
    low, high = min(degree), max(degree)
    # mmcv's imrotate turns clockwise by the drawn degree; gpuaug's angles are counter-clockwise.
    return RandomRotation((-high, -low), p=args["prob"])


#: The steps :func:`from_mmseg` translates, by mmseg ``type``.
SUPPORTED = {
    "RandomResize": _random_resize,
    "Resize": _resize,
    "RandomCrop": _random_crop,
    "RandomFlip": _random_flip,
    "PhotoMetricDistortion": _photometric,
    "RandomRotate": _random_rotate,
}
