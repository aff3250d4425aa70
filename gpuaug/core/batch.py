"""Reading an input batch: stacked, a list of samples of their own sizes, or padded with ``sizes``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import torch

from gpuaug.core.checks import (
    check_fill,
    check_ignore_index,
    check_images,
    check_int,
    check_masks,
    check_pair,
    check_volume_masks,
    check_volumes,
)
from gpuaug.core.device import to_device
from gpuaug.core.ragged import Ragged, from_padded, pack
from gpuaug.core.records import Params, check_params_type

__all__ = ["Batch", "read_batch", "read_sample_ids", "read_predictions", "check_predictions_fit", "stack_padded"]


@dataclass(frozen=True, eq=False)
class Batch:
    """A checked input batch: stacked, a list of samples of different sizes, or padded with ``sizes``.

    Attributes:
        data: the images and masks as given (masks may be None).
        batch, channels: B and C.
        sizes: each sample's (h, w) on the host ((d, h, w) for volumes).
        in_size: (H, W) of a stacked or padded batch ((D, H, W) for volumes), None for a list.
        mask_dims: the masks' dimensions, kept in the output: 3 (B×h×w) or 4 (B×1×h×w);
            for volumes 4 (B×d×h×w) or 5 (B×1×d×h×w).
        device: the data's device.
        variable: samples of their own sizes (a list, or ``sizes``).
        dims: the spatial dimensions, 2 for images, 3 for volumes.
    """

    data: tuple
    batch: int
    channels: int
    sizes: tuple[tuple[int, int], ...]
    in_size: tuple[int, int] | None
    mask_dims: int
    device: torch.device

    variable: bool
    dims: int = 2

    @cached_property
    def images(self) -> torch.Tensor | Ragged:
        """The images as the warps take them: the stacked tensor, or a :class:`Ragged` batch
        (a list packed by one copy, a padded batch in place); built on first use."""
        return self._warp_form(self.data[0], self.channels)

    @cached_property
    def masks(self) -> torch.Tensor | Ragged | None:
        """The masks likewise (None without masks)."""
        return None if self.data[1] is None else self._warp_form(self.data[1], 1)

    @property
    def mask_dtype(self) -> torch.dtype | None:
        masks = self.data[1]
        return None if masks is None else (masks[0] if isinstance(masks, (list, tuple)) else masks).dtype

    @cached_property
    def extents(self) -> torch.Tensor | None:
        """Volumes of their own sizes: B×3 int64 valid (d, h, w) on the device (None otherwise);
        their :attr:`images` and :attr:`masks` are then padded stacks, read within these."""
        if self.dims != 3 or not self.variable:
            return None
        return to_device(torch.tensor(self.sizes, dtype=torch.int64), self.device)

    def _warp_form(self, tensors, planes: int) -> torch.Tensor | Ragged:
        if not self.variable:
            return tensors
        if self.dims == 3:  # volumes: a list stacked zero-padded by one copy, a padded batch as it is
            return stack_padded(tensors) if isinstance(tensors, (list, tuple)) else tensors
        if isinstance(tensors, (list, tuple)):
            return pack(tensors, planes)
        return from_padded(tensors, self.sizes)


def read_batch(images: object, masks: object = None, sizes: object = None, dims: int = 2) -> Batch:
    """Check an input batch in any of its three forms (see :meth:`Compose.__call__`); with
    ``dims`` 3, a stacked batch of volumes."""
    if dims == 3:
        return _read_volumes(images, masks, sizes)
    if isinstance(images, (list, tuple)):
        if sizes is not None:
            raise ValueError("sizes: only used with a padded B×C×H×W batch; a list of images has its own sizes")
        return _read_list(images, masks)
    b, c, h, w = check_images(images)
    if masks is not None:
        if isinstance(masks, (list, tuple)):
            raise TypeError("masks: expected a tensor like the images (B×H×W or B×1×H×W), got a list")
        check_pair(images, masks)
    mask_dims = 3 if masks is None else masks.dim()
    if sizes is None:
        return Batch((images, masks), b, c, ((h, w),) * b, (h, w), mask_dims, images.device, False)
    valid = _read_sizes(sizes, b, (h, w))
    return Batch((images, masks), b, c, valid, (h, w), mask_dims, images.device, True)


def _read_volumes(images: object, masks: object, sizes: object) -> Batch:
    """Volumes: a stacked B×C×D×H×W batch (padded with ``sizes``, B×3) and its B×D×H×W (or
    B×1×D×H×W) masks, or lists of C×Dᵢ×Hᵢ×Wᵢ volumes and Dᵢ×Hᵢ×Wᵢ (1×Dᵢ×Hᵢ×Wᵢ) masks."""
    if isinstance(images, (list, tuple)):
        if sizes is not None:
            raise ValueError("sizes: only used with a padded B×C×D×H×W batch; a list of volumes has its own sizes")
        return _read_volume_list(images, masks)
    b, c, *size = check_volumes(images)
    size = tuple(size)
    mask_dims = 4
    if masks is not None:
        if isinstance(masks, (list, tuple)):
            raise TypeError("masks: expected a tensor like the images (B×D×H×W or B×1×D×H×W), got a list")
        mb, *mask_size = check_volume_masks(masks)
        if mb != b:
            raise ValueError(f"masks: batch size {mb} does not match images batch size {b}")
        if tuple(mask_size) != size:
            raise ValueError(f"masks: spatial size {tuple(mask_size)} does not match images spatial size {size}")
        if masks.device != images.device:
            raise ValueError(f"masks: expected the images' device {images.device}, got {masks.device}")
        mask_dims = masks.dim()
    valid = (size,) * b if sizes is None else _read_sizes(sizes, b, size)
    return Batch((images, masks), b, c, valid, size, mask_dims, images.device, sizes is not None, 3)


def _read_volume_list(images: Sequence, masks: object) -> Batch:
    if len(images) == 0:
        raise ValueError("images: expected at least one volume in the list")
    first = images[0]
    for k, volume in enumerate(images):
        if not isinstance(volume, torch.Tensor):
            raise TypeError(f"images[{k}]: expected a torch.Tensor C×D×H×W, got {type(volume).__name__}")
        check_volumes(volume.unsqueeze(0), f"images[{k}]")
        if (volume.shape[0], volume.dtype, volume.device) != (first.shape[0], first.dtype, first.device):
            raise ValueError(
                f"images[{k}]: every volume must have images[0]'s channels, dtype and device "
                f"({first.shape[0]}, {first.dtype}, {first.device}), "
                f"got ({volume.shape[0]}, {volume.dtype}, {volume.device})"
            )
    sizes = tuple(tuple(int(n) for n in t.shape[-3:]) for t in images)
    mask_dims = 4
    if masks is not None:
        if not isinstance(masks, (list, tuple)):
            raise TypeError(f"masks: expected a list of D×H×W masks like the volumes, got {type(masks).__name__}")
        if len(masks) != len(images):
            raise ValueError(f"masks: expected {len(images)} masks (one per volume), got {len(masks)}")
        for k, (mask, size) in enumerate(zip(masks, sizes, strict=True)):
            if not isinstance(mask, torch.Tensor):
                raise TypeError(f"masks[{k}]: expected a torch.Tensor D×H×W, got {type(mask).__name__}")
            check_volume_masks(mask.unsqueeze(0), f"masks[{k}]")
            if mask.dim() != masks[0].dim() or mask.dtype != masks[0].dtype:
                raise ValueError(
                    f"masks[{k}]: every mask must have masks[0]'s layout and dtype, got {tuple(mask.shape)}"
                )
            if tuple(mask.shape[-3:]) != size:
                raise ValueError(
                    f"masks[{k}]: spatial size {tuple(mask.shape[-3:])} does not match images[{k}]'s {size}"
                )
            if mask.device != first.device:
                raise ValueError(f"masks[{k}]: expected the images' device {first.device}, got {mask.device}")
        mask_dims = masks[0].dim() + 1
    return Batch((images, masks), len(images), first.shape[0], sizes, None, mask_dims, first.device, True, 3)


def stack_padded(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Same-rank tensors of per-sample sizes in one zero-padded stacked tensor (sample b in
    the origin corner of its slot), by one copy each."""
    shape = [max(t.shape[k] for t in tensors) for k in range(tensors[0].dim())]
    out = tensors[0].new_zeros((len(tensors), *shape))
    for slot, t in zip(out, tensors, strict=True):
        slot[tuple(slice(0, n) for n in t.shape)] = t
    return out


def _read_sizes(sizes: object, batch: int, padded: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """``sizes`` as B (h, w) int pairs ((d, h, w) for volumes), each within the padded size."""
    n = len(padded)
    names = "(h, w) pairs" if n == 2 else "(d, h, w) triples"
    if isinstance(sizes, torch.Tensor):
        if sizes.device.type != "cpu":
            raise ValueError(f"sizes: expected a CPU tensor (reading it from {sizes.device} would sync), got one there")
        if sizes.is_floating_point() or sizes.is_complex() or sizes.dtype == torch.bool:
            raise TypeError(f"sizes: expected integers, got {sizes.dtype}")
        rows = sizes.tolist()
    elif isinstance(sizes, Sequence) and not isinstance(sizes, (str, bytes)):
        rows = [list(r) if isinstance(r, Sequence) and not isinstance(r, (str, bytes)) else r for r in sizes]
    else:
        raise TypeError(
            f"sizes: expected a B×{n} integer CPU tensor or a sequence of {names}, got {type(sizes).__name__}"
        )
    if len(rows) != batch or not all(isinstance(r, list) and len(r) == n for r in rows):
        raise ValueError(f"sizes: expected {batch} {names} (B×{n}, one per sample), got {sizes!r}")
    out = tuple(tuple(check_int(v, "sizes") for v in r) for r in rows)
    for k, size in enumerate(out):
        if not all(1 <= v <= p for v, p in zip(size, padded, strict=True)):
            shown, limit = "×".join(map(str, size)), "×".join(map(str, padded))
            one = "×".join("1" * n)
            raise ValueError(
                f"sizes: sample {k}'s valid size {shown} must be at least {one} and fit the padded {limit}"
            )
    return out


def _read_list(images: Sequence, masks: object) -> Batch:
    if len(images) == 0:
        raise ValueError("images: expected at least one image in the list")
    first = images[0]
    for k, image in enumerate(images):
        if not isinstance(image, torch.Tensor):
            raise TypeError(f"images[{k}]: expected a torch.Tensor C×H×W, got {type(image).__name__}")
        if image.dim() != 3:
            raise ValueError(f"images[{k}]: expected a 3-D tensor C×H×W, got shape {tuple(image.shape)}")
        check_images(image.unsqueeze(0), f"images[{k}]", sample=True)
        if (image.shape[0], image.dtype, image.device) != (first.shape[0], first.dtype, first.device):
            raise ValueError(
                f"images[{k}]: every image must have images[0]'s channels, dtype and device "
                f"({first.shape[0]}, {first.dtype}, {first.device}), "
                f"got ({image.shape[0]}, {image.dtype}, {image.device})"
            )
    sizes = tuple((int(t.shape[-2]), int(t.shape[-1])) for t in images)
    mask_dims = 3
    if masks is not None:
        if not isinstance(masks, (list, tuple)):
            raise TypeError(f"masks: expected a list of H×W masks like the images, got {type(masks).__name__}")
        if len(masks) != len(images):
            raise ValueError(f"masks: expected {len(images)} masks (one per image), got {len(masks)}")
        mask_dims = masks[0].dim() + 1 if isinstance(masks[0], torch.Tensor) else 3
        for k, (mask, size) in enumerate(zip(masks, sizes, strict=True)):
            if not isinstance(mask, torch.Tensor):
                raise TypeError(f"masks[{k}]: expected a torch.Tensor H×W, got {type(mask).__name__}")
            check_masks(mask.unsqueeze(0), f"masks[{k}]")
            if mask.dim() + 1 != mask_dims or mask.dtype != masks[0].dtype:
                raise ValueError(
                    f"masks[{k}]: every mask must have masks[0]'s layout and dtype, got {tuple(mask.shape)}"
                )
            if tuple(mask.shape[-2:]) != size:
                raise ValueError(
                    f"masks[{k}]: spatial size {tuple(mask.shape[-2:])} does not match images[{k}]'s {size}"
                )
            if mask.device != first.device:
                raise ValueError(f"masks[{k}]: expected the images' device {first.device}, got {mask.device}")
    return Batch((images, masks), len(images), first.shape[0], sizes, None, mask_dims, first.device, True)


def read_sample_ids(sample_ids, batch: int, device: torch.device) -> torch.Tensor:
    """B int64 sample ids on ``device`` (moved without a host sync)."""
    if isinstance(sample_ids, torch.Tensor):
        if sample_ids.is_floating_point() or sample_ids.is_complex() or sample_ids.dtype == torch.bool:
            raise TypeError(f"sample_ids: expected {batch} integer ids (one per sample), got {sample_ids.dtype}")
        if sample_ids.shape != (batch,):
            raise ValueError(
                f"sample_ids: expected {batch} integer ids (one per sample), got shape {tuple(sample_ids.shape)}"
            )
        return to_device(sample_ids.long(), device)
    if isinstance(sample_ids, (str, bytes)) or not hasattr(sample_ids, "__iter__"):
        raise TypeError(f"sample_ids: expected {batch} integer ids (a tensor or a sequence), got {sample_ids!r}")
    ids = [check_int(i, "sample_ids") for i in sample_ids]
    if len(ids) != batch:
        raise ValueError(f"sample_ids: expected {batch} integer ids (one per sample), got {sample_ids!r}")
    return to_device(torch.tensor(ids, dtype=torch.int64), device)


def check_predictions_fit(predictions: torch.Tensor, params: Params, batch: int, size: tuple) -> None:
    """Predictions of ``batch`` maps of spatial ``size`` must be the augmented batch's, on its device."""
    if (batch, *size) != (params.batch_size, *params.out_size):
        raise ValueError(
            f"predictions: expected {params.batch_size} maps of the augmented size {params.out_size}, "
            f"got shape {tuple(predictions.shape)}"
        )
    if params.device != predictions.device:
        raise ValueError(
            f"params: on {params.device}, predictions on {predictions.device}; use params.to(predictions.device)"
        )


def read_predictions(predictions: object, params: Params, fill: object) -> tuple[bool, tuple, tuple[int, int, int]]:
    """Check :meth:`Compose.invert`'s input: ``(labels or not, fills, (B, h, w))``."""
    check_params_type(params)
    if not isinstance(predictions, torch.Tensor):
        raise TypeError(f"predictions: expected a torch.Tensor, got {type(predictions).__name__}")
    canvas = [r.name for r in params.ops if r.kind == "canvas"]
    if canvas:
        raise ValueError(
            f"params: cannot invert {canvas}: an output pixel may come from another sample or a displaced "
            "point, so there is no single inverse matrix"
        )
    labels = not predictions.is_floating_point()
    if labels:
        b, h, w = check_masks(predictions, "predictions")
        channels = None
    else:
        # Logits may have many channels on a narrow map: no channels-last guess here.
        b, channels, h, w = check_images(predictions, "predictions", guess_layout=False)
    check_predictions_fit(predictions, params, b, (h, w))
    fills = check_fill(fill, channels)
    if labels:
        check_ignore_index(params.ignore_index, predictions.dtype, "params.ignore_index")
    return labels, fills, (b, h, w)
