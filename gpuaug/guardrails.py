"""Guardrails for training loops: validate label masks and image values, watch class pixel shares.

All work on the device the data lives on. :func:`check_mask` and :func:`check_image_values`
need one reduction and one host read in the normal case (to decide whether to raise);
:class:`ClassPixelMonitor` accumulates on the device and never reads back in
:meth:`~ClassPixelMonitor.update`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gpuaug.core.checks import check_int, check_masks, check_num_classes
from gpuaug.metrics import class_index

__all__ = ["check_mask", "check_image_values", "ClassPixelMonitor", "MonitorReport"]


def check_mask(mask: torch.Tensor, num_classes: int, ignore_index: int = 255) -> None:
    """Raise if ``mask`` is not a valid label mask; return None when it is.

    Valid means an integer dtype (never float or bool) and every label in
    [0, ``num_classes``) or equal to ``ignore_index``. The comparison is exact on every
    integer dtype: nothing wraps (an int8 mask cannot hold ``ignore_index=255``, so its
    label −1 is invalid, not ignore; ``num_classes=300`` accepts every non-negative int8).

    Args:
        mask: labels of any shape (typically B×H×W or B×1×H×W), on any device.
        num_classes: number of classes.
        ignore_index: the one label allowed outside [0, num_classes).

    Raises:
        TypeError: float or bool mask (or not a tensor); a ``num_classes`` or ``ignore_index``
            that is not an int.
        ValueError: labels outside the valid set; the message lists the offending labels
            and how many pixels carry each.
    """
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask: expected a torch.Tensor, got {type(mask).__name__}")
    if mask.is_floating_point() or mask.dtype == torch.bool or mask.is_complex():
        raise TypeError(
            f"mask: expected integer labels, got {mask.dtype}; a float or bool mask has been interpolated, "
            "normalised or thresholded somewhere: keep masks integer end to end"
        )
    num_classes = check_num_classes(num_classes)
    ignore_index = check_int(ignore_index, "ignore_index")
    bad = _labels_outside(mask, num_classes, ignore_index)
    count = 0 if bad is None else int(bad.sum())  # the one host read
    if count == 0:
        return None
    labels, pixels = torch.unique(mask[bad], return_counts=True)
    shown = ", ".join(f"{v} ({n} px)" for v, n in zip(labels[:20].tolist(), pixels[:20].tolist(), strict=True))
    more = f" and {len(labels) - 20} more labels" if len(labels) > 20 else ""
    raise ValueError(f"mask: {count} pixels have labels outside [0, {num_classes}) ∪ {{{ignore_index}}}: {shown}{more}")


def check_image_values(images: torch.Tensor) -> None:
    """Raise if float ``images`` hold values outside [0, 1], NaN or inf; return None when they do not.

    gpuaug works on images in [0, 1]: uint8 images are read as value/255 (so they are always
    fine), float images are taken as they are. Float images in 0–255 pass through every op
    without an error but come out wrong (ColorJitter clamps them to 1, Normalize's [0, 1]
    statistics do not fit them): check a batch once, e.g. the first of each epoch.

    Args:
        images: uint8 or floating-point tensor of any shape (typically B×C×H×W), on any device.

    Raises:
        TypeError: not a tensor, or an integer dtype other than uint8.
        ValueError: values outside [0, 1], NaN or inf; the message gives the range and counts.
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images: expected a torch.Tensor, got {type(images).__name__}")
    if images.dtype == torch.uint8:
        return None
    if not images.is_floating_point():
        raise TypeError(f"images: expected uint8 or floating-point values, got {images.dtype}")
    if images.numel() == 0:
        return None
    low, high = torch.stack(torch.aminmax(images)).tolist()  # one reduction (NaN propagates), one host read
    if 0.0 <= low and high <= 1.0:
        return None
    # Only on the way to the error: what is wrong, in counts and the range of the finite values.
    finite, nan = images.isfinite(), images.isnan()
    outside = ((images < 0) | (images > 1)).logical_and_(finite)
    nans, infs, outsides = (int(n) for n in torch.stack((nan.sum(), (~finite).sum() - nan.sum(), outside.sum())))
    values = images[finite]
    span = f", finite values in [{values.min().item():g}, {values.max().item():g}]" if values.numel() else ""
    hint = "; 0-255 float images: divide by 255 or pass uint8" if values.numel() and values.max() > 1 else ""
    raise ValueError(
        f"images: expected values in [0, 1] (gpuaug's scale; uint8 is read as value/255), got {outsides} values "
        f"outside it, {nans} NaN and {infs} inf{span}{hint}"
    )


def _labels_outside(mask: torch.Tensor, num_classes: int, ignore_index: int) -> torch.Tensor | None:
    """Where ``mask`` holds a label outside [0, num_classes) ∪ {ignore_index}; None when its dtype cannot.

    Compares with the mask's own dtype (no int64 copy of the mask) but only against bounds that
    dtype can hold, so nothing wraps: a bound beyond the dtype's range excludes no label, and
    an ignore value the dtype cannot hold matches no label.
    """
    info = torch.iinfo(mask.dtype)
    bad = mask < 0 if info.min < 0 else None
    if num_classes - 1 < info.max:
        above = mask > num_classes - 1
        bad = above if bad is None else bad.logical_or_(above)
    if bad is not None and info.min <= ignore_index <= info.max:
        bad &= mask != ignore_index
    return bad


@dataclass(frozen=True)
class MonitorReport:
    """Classes whose pixel share fell after augmentation.

    Attributes:
        flagged: class ids whose share after augmentation is below ``min_ratio`` × before.
        before, after: per-class pixel shares (fractions of the non-ignore pixels).
        min_ratio: the threshold used.
    """

    flagged: list[int]
    before: list[float]
    after: list[float]
    min_ratio: float

    def __str__(self) -> str:
        lines = [f"class  share before  share after  ratio   (flag below {self.min_ratio:g})"]
        for k, (b, a) in enumerate(zip(self.before, self.after, strict=True)):
            ratio = a / b if b > 0 else float("nan")
            mark = "  <- dropped" if k in self.flagged else ""
            lines.append(f"{k:>5}  {b:>12.4%}  {a:>11.4%}  {ratio:>5.2f}{mark}")
        if not self.flagged:
            lines.append("no class dropped below the threshold")
        return "\n".join(lines)


class ClassPixelMonitor:
    """Running per-class pixel counts before and after augmentation, on the masks' device.

    A class whose share of pixels shrinks through augmentation (thin or small objects lost
    to interpolation, to misaligned crops, to zero padding) is the "small classes disappear"
    symptom; :meth:`report` flags it.

    The counts are cumulative: every :meth:`update` adds to them, from construction or the
    last :meth:`reset` on (call ``reset()`` at the start of each epoch for per-epoch shares).

    Args:
        num_classes: number of classes; labels outside [0, num_classes) and ``ignore_index``
            are not counted.
        ignore_index: label that is never counted.

    Example:
        >>> monitor = gpuaug.ClassPixelMonitor(num_classes=21)
        >>> out_images, out_masks = aug(images, masks)
        >>> monitor.update(masks, out_masks)          # no host sync
        >>> print(monitor.report(min_ratio=0.5))      # once per epoch
        >>> monitor.reset()                           # the next epoch counts from zero
    """

    def __init__(self, num_classes: int, ignore_index: int = 255):
        self.num_classes = check_num_classes(num_classes)
        self.ignore_index = check_int(ignore_index, "ignore_index")
        self.before: torch.Tensor | None = None
        self.after: torch.Tensor | None = None

    def _counts(self, masks: torch.Tensor) -> torch.Tensor:
        index = class_index(masks, self.num_classes, self.ignore_index)
        counts = torch.zeros(self.num_classes + 1, dtype=torch.int64, device=masks.device)
        return counts.scatter_add_(0, index, torch.ones_like(index))[: self.num_classes]

    def update(self, masks_before: torch.Tensor, masks_after: torch.Tensor) -> None:
        """Add one batch's masks before and after augmentation (any integer label shapes)."""
        for name, masks in (("masks_before", masks_before), ("masks_after", masks_after)):
            check_masks(masks, name)
        if masks_after.device != masks_before.device:
            raise ValueError(
                f"masks_after: expected masks_before's device {masks_before.device}, got {masks_after.device}"
            )
        before, after = self._counts(masks_before), self._counts(masks_after)
        self.before = before if self.before is None else self.before + before
        self.after = after if self.after is None else self.after + after

    def reset(self) -> None:
        """Forget every batch seen so far: the counts start again from zero."""
        self.before = None
        self.after = None

    def counts(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-class pixel counts (int64, num_classes) before and after, on the masks' device."""
        if self.before is None or self.after is None:
            raise RuntimeError("ClassPixelMonitor: no batch seen yet; call update() first")
        return self.before, self.after

    def fractions(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-class shares (float64, num_classes) of the counted pixels, before and after."""
        before, after = self.counts()
        return before.double() / before.sum().clamp(min=1), after.double() / after.sum().clamp(min=1)

    def report(self, min_ratio: float = 0.5) -> MonitorReport:
        """Flag classes whose share after augmentation is below ``min_ratio`` × their share before."""
        if isinstance(min_ratio, bool) or not isinstance(min_ratio, (int, float)):
            raise TypeError(f"min_ratio: expected a positive ratio, got {type(min_ratio).__name__}")
        if not min_ratio > 0:
            raise ValueError(f"min_ratio: expected a positive ratio, got {min_ratio!r}")
        before, after = (f.cpu() for f in self.fractions())
        flagged = ((before > 0) & (after < min_ratio * before)).nonzero().flatten().tolist()
        return MonitorReport(flagged, before.tolist(), after.tolist(), float(min_ratio))
