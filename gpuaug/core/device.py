"""Moving tensors to the device without a host sync."""

from __future__ import annotations

import torch

__all__ = ["to_device", "constant", "channel_values"]


def to_device(t: torch.Tensor, device: torch.device, non_blocking: bool = True) -> torch.Tensor:
    """``t`` on ``device``: as it is when already there; a CPU tensor bound for CUDA is pinned
    first (a no-op when already pinned), so that the copy is asynchronous (no host sync)."""
    if t.device == device:
        return t
    if t.device.type == "cpu" and device.type == "cuda" and not t.is_pinned():
        t = t.pin_memory()
    return t.to(device, non_blocking=non_blocking)


def constant(values: list, device: torch.device) -> torch.Tensor:
    """A small float64 constant made on the host and copied to ``device`` without a host sync."""
    return to_device(torch.tensor(values, dtype=torch.float64), device)


def channel_values(values: tuple[float, ...], channels: int, device: torch.device) -> torch.Tensor:
    """1 or ``channels`` values (a fill, a mean, a std) as a C-vector of float32 on ``device``, without a host sync."""
    return to_device(torch.tensor(values, dtype=torch.float32).expand(channels).contiguous(), device)
