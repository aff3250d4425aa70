"""Test-time inversion: per-pixel predictions on augmented images warped back to each
sample's source frame through the inverse of its matrix (:meth:`gpuaug.Compose.invert`)."""

from __future__ import annotations

import torch

from gpuaug import backends
from gpuaug.backends import Backend
from gpuaug.core.batch import check_predictions_fit, read_predictions
from gpuaug.core.checks import check_fill, check_ignore_index, check_size, check_volume_masks
from gpuaug.core.device import to_device
from gpuaug.core.matrices import axis_matrix
from gpuaug.core.records import Params, check_params_type
from gpuaug.functional import warp_all, warp_volumes

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
    check_params_type(params)
    if params.spatial_dims == 3:
        return _invert_volumes(predictions, params, backend, out_size, fill, return_valid)
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


def _invert_volumes(predictions, params: Params, backend, out_size, fill, return_valid: bool):
    """:func:`invert_params` for volumes: float B×K×d×h×w predictions trilinearly, labels
    B×d×h×w / B×1×d×h×w by the exact gather, to the input's (D, H, W) or ``out_size``."""
    labels = _check_volume_predictions(predictions, params)
    fills = check_fill(fill, None if labels else predictions.shape[1])
    if labels:
        check_ignore_index(params.ignore_index, predictions.dtype, "params.ignore_index")
    b = params.batch_size
    per_sample = out_size is None and params.variable
    if per_sample:  # one canvas that holds every sample's own size, cut after
        size = tuple(int(v) for v in params.in_sizes.amax(dim=0))
        frames = params.in_sizes.double()
    else:
        size = check_size(out_size if out_size is not None else params.in_size, "out_size", dims=3)
        frames = torch.tensor(size, dtype=torch.float64).expand(b, 3)
    scale = params.in_sizes.double() / frames  # (D, H, W) per sample: source frame voxel → source coordinate
    rescale = axis_matrix(scale.flip(1), torch.zeros_like(scale))
    inverse = torch.linalg.inv_ex(params.matrix.double())[0]
    matrix = (inverse @ to_device(rescale, inverse.device)).float()
    backend = backends.resolve(backend, predictions.device)
    warp = (None, predictions) if labels else (predictions, None)
    out_images, out_labels = warp_volumes(*warp, matrix, size, fills, params.ignore_index, backend)
    inverted = out_labels if labels else out_images
    covered = None
    if return_valid:
        ones = torch.ones((b, *params.out_size), dtype=torch.uint8, device=predictions.device)
        covered = warp_volumes(None, ones, matrix, size, fills, 0, backend)[1].bool()
    if per_sample:
        cuts = [tuple(slice(0, n) for n in own) for own in params.in_sizes.tolist()]
        inverted = [inverted[k][(..., *cut)].contiguous() for k, cut in enumerate(cuts)]
        covered = None if covered is None else [covered[k][cut].contiguous() for k, cut in enumerate(cuts)]
    return (inverted, covered) if return_valid else inverted


def _check_volume_predictions(predictions: object, params: Params) -> bool:
    """Check predictions on augmented volumes; True for labels, False for float maps."""
    if not isinstance(predictions, torch.Tensor):
        raise TypeError(f"predictions: expected a torch.Tensor, got {type(predictions).__name__}")
    labels = not predictions.is_floating_point()
    if labels:
        b, *size = check_volume_masks(predictions, "predictions")
    elif predictions.dim() != 5:
        raise ValueError(f"predictions: expected float maps B×K×D×H×W, got shape {tuple(predictions.shape)}")
    else:
        b, size = predictions.shape[0], list(predictions.shape[2:])
    check_predictions_fit(predictions, params, b, tuple(size))
    return labels
