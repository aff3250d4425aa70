"""Getting batches from a DataLoader onto the device, for augmentation in the training step.

The recipe: keep the dataset cheap (decode to uint8 tensors, no augmentation in workers),
let the DataLoader collate and pin the batch, move it with ``non_blocking=True``, and
augment the whole batch on the device inside the training step::

    loader = DataLoader(dataset, batch_size=32, num_workers=4, pin_memory=True, shuffle=True)
    aug = gpuaug.Compose([...])
    for epoch in range(epochs):
        for step, (images, masks, ids) in enumerate(loader):           # uint8 B×3×H×W, int64 B×H×W
            images, masks, ids = gpuaug.to_device((images, masks, ids), "cuda")
            images, masks = aug(images, masks, seed=epoch, sample_ids=ids)

uint8 batches are a quarter of the float32 bytes over PCIe, and the copy overlaps with
the previous step's compute. With ``seed`` and ``sample_ids`` (dataset indices) each
sample's augmentation is the same whatever the batch composition or the number of GPUs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

__all__ = ["to_device"]


def to_device(batch, device: torch.device | str, non_blocking: bool = True):
    """Move every tensor in ``batch`` (a tensor, or nested tuples / lists / dicts) to ``device``.

    CPU tensors bound for CUDA are pinned first (a no-op when the DataLoader already pinned
    them) so the copy is asynchronous; other objects are returned as they are. Tuples,
    named tuples, lists and dicts keep their type.
    """
    if not isinstance(device, (torch.device, str, int)) or isinstance(device, bool):
        raise TypeError(f"device: expected a torch.device or a str such as 'cuda', got {type(device).__name__}")
    try:
        device = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device: {exc}") from exc
    if isinstance(batch, torch.Tensor):
        if batch.device == device:
            return batch
        if batch.device.type == "cpu" and device.type == "cuda" and not batch.is_pinned():
            batch = batch.pin_memory()
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, Mapping):
        return type(batch)({k: to_device(v, device, non_blocking) for k, v in batch.items()})
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(to_device(v, device, non_blocking) for v in batch))
    if isinstance(batch, Sequence) and not isinstance(batch, (str, bytes)):
        return type(batch)(to_device(v, device, non_blocking) for v in batch)
    return batch
