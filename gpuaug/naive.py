"""The classic buggy segmentation pipeline, each bug switchable, for demos, audits and studies.

It uses gpuaug's own ops and warps, so the *only* differences from :class:`gpuaug.Compose`
are the bugs you switch on:

- ``desync``: the mask gets its own, independent parameter draw;
- ``bilinear_mask``: the mask is resampled as a float image with bilinear interpolation,
  then truncated back to its dtype (labels on edges are invented);
- ``ignore_lost``: pixels from outside the source are padded with 0 (a real class)
  instead of ``ignore_index``;
- ``float_mask``: the mask comes back as float32 (the dtype is lost).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from gpuaug.compose import Compose
from gpuaug.functional import warp_image, warp_mask
from gpuaug.transforms.base import Op

__all__ = ["NaivePipeline", "BUGS"]

#: The switchable bugs, each with a short label.
BUGS = {
    "desync": "independent params",
    "bilinear_mask": "bilinear mask",
    "float_mask": "float mask",
    "ignore_lost": "zero padding",
}


class NaivePipeline:
    """A pair transform with the classic mask bugs; ``(images, masks) -> (images, masks)``.

    Args:
        ops: the geometric ops, as for :class:`gpuaug.Compose`.
        desync, bilinear_mask, ignore_lost, float_mask: switch each bug on (all on by default).
        ignore_index: the ignore value a correct pipeline would write outside the source.
    """

    def __init__(
        self,
        ops: Sequence[Op],
        *,
        desync: bool = True,
        bilinear_mask: bool = True,
        ignore_lost: bool = True,
        float_mask: bool = True,
        ignore_index: int = 255,
    ):
        self.aug = Compose(ops, ignore_index=ignore_index)
        self.desync = desync
        self.bilinear_mask = bilinear_mask
        self.ignore_lost = ignore_lost
        self.float_mask = float_mask
        self.ignore_index = ignore_index

    @classmethod
    def only(cls, bug: str, ops: Sequence[Op], ignore_index: int = 255) -> NaivePipeline:
        """The pipeline with ``bug`` (a key of :data:`BUGS`) as its only bug."""
        if bug not in BUGS:
            raise ValueError(f"bug: expected one of {sorted(BUGS)}, got {bug!r}")
        return cls(ops, ignore_index=ignore_index, **{name: name == bug for name in BUGS})

    def __repr__(self) -> str:
        bugs = [name for name in BUGS if getattr(self, name)]
        return f"NaivePipeline(bugs={bugs})"

    def __call__(self, images: torch.Tensor, masks: torch.Tensor, generator: torch.Generator | None = None):
        params = self.aug.sample(images, generator)
        mask_params = self.aug.sample(images, generator) if self.desync else params
        out_images = self.aug.apply(images, None, params)
        matrix, size = mask_params.matrix, mask_params.out_size
        fill = 0 if self.ignore_lost else self.ignore_index
        if self.bilinear_mask:
            layered = masks.reshape(masks.shape[0], 1, *masks.shape[-2:]).float()
            soft = warp_image(layered, matrix, size, fill=float(fill)).reshape(masks.shape[:-2] + size)
            out_masks = soft if self.float_mask else soft.to(masks.dtype)
        else:
            out_masks = warp_mask(masks, matrix, size, fill=fill)
            if self.float_mask:
                out_masks = out_masks.float()
        return out_images, out_masks
