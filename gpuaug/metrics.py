"""Segmentation metrics that leave ``ignore_index`` pixels out, on the device, without host syncs."""

from __future__ import annotations

import torch

from gpuaug.core.checks import check_int, check_num_classes

__all__ = ["confusion_matrix", "miou", "class_index"]


def class_index(labels: torch.Tensor, num_classes: int, ignore_index: int) -> torch.Tensor:
    """Flat int64 class ids of ``labels``; every pixel that is not a class (ignore, out of range) → num_classes."""
    flat = labels.reshape(-1).long()
    valid = (flat >= 0) & (flat < num_classes) & (flat != ignore_index)
    return torch.where(valid, flat, num_classes)


def confusion_matrix(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int = 255
) -> torch.Tensor:
    """Pixel counts indexed ``[target, pred]`` over pixels whose target is a class.

    Pixels whose target is ``ignore_index`` or outside [0, num_classes) are left out;
    predictions outside [0, num_classes) count in no column (:func:`miou` still counts them
    as misses of their target class).

    Args:
        pred: predicted labels, any integer dtype, same number of pixels as ``target``
            (e.g. B×H×W, or B×1×H×W against B×H×W).
        target: ground-truth labels, any integer dtype.
        num_classes: number of classes K.
        ignore_index: target label to leave out.

    Returns:
        int64 K×K tensor on the inputs' device.
    """
    return _counts(pred, target, num_classes, ignore_index)[0]


def miou(pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int = 255) -> torch.Tensor:
    """Mean intersection-over-union over the classes with a non-zero union.

    Same arguments as :func:`confusion_matrix`; returns a float64 scalar tensor on the device
    (NaN when no class has a non-zero union).
    """
    cm, misses = _counts(pred, target, num_classes, ignore_index)
    cm = cm.double()
    intersection = cm.diagonal()
    union = cm.sum(0) + cm.sum(1) + misses - intersection
    present = union > 0
    return (intersection / union.clamp(min=1)).where(present, 0.0).sum() / present.sum()


def _counts(pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int):
    """The K×K confusion matrix and, per target class, pixels predicted outside [0, K)."""
    for name, labels in (("pred", pred), ("target", target)):
        if not isinstance(labels, torch.Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, got {type(labels).__name__}")
    if any(t.is_floating_point() or t.is_complex() or t.dtype == torch.bool for t in (pred, target)):
        raise TypeError(f"pred, target: expected integer labels, got {pred.dtype} and {target.dtype}")
    if pred.numel() != target.numel():
        raise ValueError(f"pred: expected as many pixels as target ({target.numel()}), got {pred.numel()}")
    if pred.device != target.device:
        raise ValueError(f"pred: expected target's device {target.device}, got {pred.device}")
    k = check_num_classes(num_classes)
    ignore_index = check_int(ignore_index, "ignore_index")
    t = class_index(target, k, ignore_index)
    p = pred.reshape(-1).long()
    in_range = (p >= 0) & (p < k)
    # One scatter into K·K cells, K "missed" cells and one spare cell for left-out pixels.
    index = torch.where(in_range, t * k + p, k * k + t)
    index = torch.where(t < k, index, k * k + k)
    counts = torch.zeros(k * k + k + 1, dtype=torch.int64, device=t.device)
    counts.scatter_add_(0, index, torch.ones_like(index))
    return counts[: k * k].view(k, k), counts[k * k : k * k + k].double()
