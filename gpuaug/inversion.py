"""Test-time inversion: per-pixel predictions on augmented images warped back to each
sample's source frame through the inverse of its matrix (:meth:`gpuaug.Compose.invert`)."""

from __future__ import annotations

import torch

from gpuaug import backends
from gpuaug.backends import Backend
from gpuaug.core.batch import read_predictions
from gpuaug.core.checks import check_size
from gpuaug.core.device import to_device
from gpuaug.core.records import Params
from gpuaug.functional import warp_all

__all__ = ["invert_params"]


def invert_params(
    predictions: torch.Tensor,
    params: Params,
    backend: str | Backend,
    out_size: int | tuple[int, int] | None,
    fill: float,
    return_valid: bool,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Warp ``predictions`` back through the inverse of ``params.matrix``; see
    :meth:`gpuaug.Compose.invert` for the arguments and the result."""
    labels, fills, (b, h, w) = read_predictions(predictions, params, fill)
    backend = backends.resolve(backend, predictions.device)  # once for both warps
    in_sizes = params.in_sizes.double()
    per_sample = out_size is None and params.variable
    if per_sample:  # one canvas that holds every sample's own size, cut after
        size = tuple(int(v) for v in params.in_sizes.amax(dim=0))
        frames = in_sizes
    else:
        size = check_size(out_size if out_size is not None else params.in_size, "out_size")
        frames = torch.tensor(size, dtype=torch.float64).expand(b, 2)
    # Source frame pixel → source coordinate (a rescale), then → augmented coordinate (the inverse).
    inverse = torch.linalg.inv_ex(params.matrix.double())[0]
    ones = torch.ones(b, dtype=torch.float64)
    rescale = torch.diag_embed(torch.stack((in_sizes[:, 1] / frames[:, 1], in_sizes[:, 0] / frames[:, 0], ones), 1))
    matrix = (inverse @ to_device(rescale, inverse.device)).float()
    warp = (None, predictions) if labels else (predictions, None)
    out_images, out_masks, _ = warp_all(
        *warp, (), matrix, size, fills, params.ignore_index, backend, params.perspective
    )
    inverted = out_masks if labels else out_images
    if return_valid:
        ones = torch.ones((b, h, w), dtype=torch.uint8, device=predictions.device)
        covered = warp_all(None, ones, (), matrix, size, fills, 0, backend, params.perspective)[1].bool()
    if per_sample:
        sizes = params.in_sizes.tolist()
        inverted = [inverted[k, ..., :sh, :sw].contiguous() for k, (sh, sw) in enumerate(sizes)]
        if return_valid:
            covered = [covered[k, :sh, :sw].contiguous() for k, (sh, sw) in enumerate(sizes)]
    return (inverted, covered) if return_valid else inverted
