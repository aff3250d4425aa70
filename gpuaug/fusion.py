"""Which pixel ops run inside the fused Triton image kernel, and the glue that launches it.

The kernel (``kernels/fused_image.py``) applies, after the warp and in one pass, a fixed
sequence of steps: ColorJitter or PhotoMetricDistortion → RandomGrayscale → GaussianNoise →
Normalize (each op's ``stage``; the two colour ops share one, so the kernel runs one of
them). A pipeline's pixel ops are fused from the start of the list for as long as they
strictly follow that order, on RGB images; the rest (GaussianBlur, which needs a
neighbourhood of the warped image, and anything after it, out of order or a second colour
op) runs as torch ops on the kernel's float32 output. Fused or not, the results agree to float tolerance.

A OneOf / RandomApply entry is fused as its pixel children, each with its per-sample
``applied`` restricted to the samples that chose it (the kernel's per-sample flags, as
for ``p``), when every pixel child is a ColorJitter, PhotoMetricDistortion, RandomGrayscale
or GaussianNoise and the children, in list order, keep to the kernel's order.
"""

from __future__ import annotations

import torch

from gpuaug.core.checks import PADDING_MODES
from gpuaug.core.device import channel_values
from gpuaug.core.fused import FusedSteps
from gpuaug.core.records import selected
from gpuaug.transforms.base import PixelOp

__all__ = ["fusable", "fused_image"]


def _steps(op, draws: dict) -> list[tuple[PixelOp, dict]] | None:
    """The kernel steps of one pixel entry: the op itself, or a composite's pixel children
    (``op.children``: (index, op, draws)) applied only where chosen; None if not fusable."""
    children = getattr(op, "children", None)
    if children is None:
        return [(op, draws)] if op.stage is not None else None
    steps = []
    for k, child, child_draws in children:
        if child.stage is None or "applied" not in child_draws:
            return None  # Normalize has no per-sample flag; nested composites are not flattened
        steps.append((child, child_draws | {"applied": child_draws["applied"] & selected(draws, k)}))
    return steps


def fusable(pixel_ops: list[tuple[PixelOp, dict]], channels: int) -> int:
    """How many leading pixel entries the fused kernel covers (0: use the plain warp kernel)."""
    if channels != 3 or not pixel_ops:
        return 0
    count, stage = 0, -1
    for op, draws in pixel_ops:
        steps = _steps(op, draws)
        if steps is None:
            break
        stages = [step.stage for step, _ in steps]
        if any(later <= earlier for later, earlier in zip(stages, [stage, *stages[:-1]], strict=True)):
            break
        count, stage = count + 1, stages[-1]
    return count


def fused_image(
    images: torch.Tensor, params, pixel_ops: list[tuple[PixelOp, dict]], out_dtype: torch.dtype, views=None
):
    """Warp ``images`` with ``params`` (through ``views``, :class:`gpuaug.core.views.Views`, when
    given) and apply ``pixel_ops`` (all fusable) in one kernel."""
    from gpuaug.kernels.fused_image import fused_image as launch

    device = params.device
    steps = FusedSteps.neutral(params.batch_size, device)
    for op, draws in (step for entry in pixel_ops for step in _steps(*entry)):
        op.fuse(steps, draws)
    return launch(
        images,
        params.matrix,
        params.out_size,
        channel_values(params.fill, 3, device),
        params.perspective,
        out_dtype,
        padding=PADDING_MODES.index(params.padding_mode),
        jitter=torch.stack(steps.jitter, dim=1).contiguous(),
        photometric=torch.stack(steps.photometric, dim=1).contiguous(),
        gray=steps.gray.contiguous(),
        noise=steps.noise.contiguous(),
        seed=steps.seed.contiguous(),
        norm=steps.norm.contiguous(),
        noise_mean=steps.noise_mean,
        flags=steps.flags,
        views=views,
    )
