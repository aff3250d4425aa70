"""Type aliases shared across layers."""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["PairFn"]

#: An augmentation pipeline as the audit and the benchmarks call it: ``fn(images, masks)`` →
#: ``(images, masks)``, for gpuaug and for its peers alike.
PairFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
