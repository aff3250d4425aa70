"""What the warps move besides images: per-pixel maps described once for every backend."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gpuaug.core.ragged import Ragged

__all__ = ["Planes", "label_padding", "per_plane"]


@dataclass(frozen=True, eq=False)
class Planes:
    """A batch of per-pixel maps warped as one: labels by nearest gather, dense maps bilinearly.

    Attributes:
        tensor: B×H×W or B×K×H×W, already checked (any dtype the kernels move), or a
            :class:`gpuaug.core.ragged.Ragged` batch (label maps of per-sample size).
        fill: one value per plane (or one for all), of the tensor's kind, written outside.
        bilinear: interpolate (float maps, computed in float32 and cast back) or gather.
        padding: where outside points read (:data:`gpuaug.core.checks.PADDING_MODES`).
    """

    tensor: torch.Tensor | Ragged
    fill: tuple
    bilinear: bool = False
    padding: str = "constant"

    def sample(self, k: int) -> torch.Tensor:
        """Sample ``k``'s maps as a K×H×W view (a Ragged sample within its own extent), for
        readers that go one sample at a time."""
        if isinstance(self.tensor, Ragged):
            return self.tensor.samples[k]
        return self.tensor[k].reshape(-1, *self.tensor.shape[-2:])


def label_padding(padding_mode: str, mask_padding: str) -> str:
    """The padding mode labels are warped with: the images' ``padding_mode`` when
    ``mask_padding`` is "same", else "constant" (``ignore_index`` outside)."""
    return padding_mode if mask_padding == "same" else "constant"


def per_plane(fill: tuple, planes: int) -> tuple:
    """A :class:`Planes` fill as one value per plane (one value given serves every plane)."""
    return fill if len(fill) == planes else fill * planes
