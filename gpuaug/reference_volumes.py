"""The CPU reference for volumes, and for the intensity ops on any rank (:mod:`gpuaug.reference`'s twin).

One explicit loop over samples, plain torch on the CPU, no ``grid_sample``, no Triton. For
every output voxel (k, i, j) of sample b:

1. its centre ``(x, y, z) = (j + 0.5, i + 0.5, k + 0.5)``;
2. mapped through the sample's float32 4×4 matrix M in the contract's order:
   ``sx = ((M00·x + M01·y) + M02·z) + M03`` (likewise ``sy``, ``sz``);
3. *inside* when ``0 <= sx < W``, ``0 <= sy < H`` and ``0 <= sz < D``; with a padding mode
   every finite point is, reflected about the border (``reflect``) or as it is
   (``replicate``), and masks follow it with ``mask_padding="same"``;
4. labels: voxel ``(floor(sz), floor(sy), floor(sx))`` at inside points, ``ignore_index``
   elsewhere;
5. intensities: trilinear at ``s − 0.5`` (x first, then y, then z), each tap clamped to the
   volume, ``fill`` elsewhere, read unscaled;
6. the pixel ops in list order, one sample at a time, from their records; then the cast to
   ``out_dtype``.

Labels from the fast paths must equal this exactly; intensities agree to float tolerance.
"""

from __future__ import annotations

import torch

from gpuaug.core import hashing
from gpuaug.core.batch import read_batch
from gpuaug.core.records import Params
from gpuaug.engine import check_params

__all__ = ["apply_volumes", "intensity_op", "INTENSITY_OPS"]

#: The pixel ops :func:`intensity_op` replays (every pixel op that takes volumes).
INTENSITY_OPS = ("Normalize", "GaussianNoise", "RandomGamma", "RandomMultiplicativeBrightness", "RandomContrast")


def apply_volumes(images, masks, params: Params, sizes=None):
    """Apply volume ``params`` to B×C×D×H×W ``images`` (and B×D×H×W / B×1×D×H×W ``masks``, or
    None; lists of per-sample volumes, or a padded batch with ``sizes``) the slow, obvious
    way; see :func:`gpuaug.reference.apply`."""
    batch = read_batch(images, masks, sizes, dims=3)
    check_params(batch, params)
    b, c = batch.batch, batch.channels
    d, h, w = params.out_size
    zs, ys, xs = torch.meshgrid(*(torch.arange(n, dtype=torch.float32) + 0.5 for n in (d, h, w)), indexing="ij")
    fill = torch.tensor(params.fill, dtype=torch.float32).expand(c)
    out_images = torch.empty((b, c, d, h, w), dtype=torch.float32)
    out_masks = None if masks is None else torch.empty((b, d, h, w), dtype=batch.mask_dtype)
    for k in range(b):
        cut = tuple(slice(0, n) for n in batch.sizes[k])  # each sample within its own size
        volume = images[k][(slice(None), *cut)].float()
        labels = None if masks is None else masks[k].reshape(masks[k].shape[-3:])[cut]
        if not params.geometric:
            out_images[k] = volume
            if masks is not None:
                out_masks[k] = labels
        else:
            m = params.matrix[k]
            sx, sy, sz = (((m[r, 0] * xs + m[r, 1] * ys) + m[r, 2] * zs) + m[r, 3] for r in range(3))
            image_inside, mask_inside, points = _inside(sx, sy, sz, volume.shape[1:], params)
            out_images[k] = _trilinear(volume, *points, image_inside, fill)
            if masks is not None:
                out_masks[k] = _nearest(labels, *points, mask_inside, params.ignore_index)
        for record in params.ops:
            if record.config is not None:
                draws = {n: v[k] for n, v in record.draws.items()}
                out_images[k] = intensity_op(record.name, record.config, draws, out_images[k])
    out_images = out_images.to(params.out_dtype)
    if masks is None:
        return out_images
    return out_images, out_masks.reshape((b, 1, d, h, w) if batch.mask_dims == 5 else (b, d, h, w))


def _inside(sx, sy, sz, shape, params: Params):
    """``(image inside, mask inside, (sx, sy, sz))``: the points reflected for "reflect"."""
    depth, height, width = shape
    inside = (sx >= 0) & (sx < width) & (sy >= 0) & (sy < height) & (sz >= 0) & (sz < depth)
    if params.padding_mode == "constant":
        return inside, inside, (sx, sy, sz)
    finite = torch.isfinite(sx) & torch.isfinite(sy) & torch.isfinite(sz)
    if params.padding_mode == "reflect":
        sx, sy, sz = _reflect(sx, width), _reflect(sy, height), _reflect(sz, depth)
    return finite, finite if params.mask_padding == "same" else inside, (sx, sy, sz)


def _reflect(s: torch.Tensor, extent: int) -> torch.Tensor:
    """Reflect coordinates about 0 and ``extent`` (period 2·extent) into [0, extent]."""
    period = 2.0 * extent
    t = s - torch.floor(s / period) * period
    return torch.where(t < extent, t, period - t)


def _nearest(labels: torch.Tensor, sx, sy, sz, inside, ignore: int) -> torch.Tensor:
    """Label of voxel floor(s), clamped to the volume, at inside points; ``ignore`` elsewhere."""
    depth, height, width = labels.shape
    out = torch.full(sx.shape, ignore, dtype=labels.dtype)
    index = [torch.floor(s[inside]).clamp(0, n - 1).long() for s, n in ((sz, depth), (sy, height), (sx, width))]
    out[inside] = labels[index[0], index[1], index[2]]
    return out


def _trilinear(volume: torch.Tensor, sx, sy, sz, inside, fill: torch.Tensor) -> torch.Tensor:
    """Trilinear sample of a C×D×H×W volume at s − 0.5 with taps clamped to the volume, at
    inside points; ``fill`` elsewhere."""
    c, depth, height, width = volume.shape
    out = fill.view(c, 1, 1, 1).expand(c, *sx.shape).clone()
    taps = []
    for s, n in ((sx, width), (sy, height), (sz, depth)):
        i = s[inside].clamp(0.5, n - 0.5) - 0.5
        i0 = torch.floor(i)
        taps.append((i0.long(), (i0.long() + 1).clamp(max=n - 1), i - i0))
    (x0, x1, wx), (y0, y1, wy), (z0, z1, wz) = taps

    def line(z, y):
        return volume[:, z, y, x0] * (1.0 - wx) + volume[:, z, y, x1] * wx

    front = line(z0, y0) * (1.0 - wy) + line(z0, y1) * wy
    back = line(z1, y0) * (1.0 - wy) + line(z1, y1) * wy
    out[:, inside] = front * (1.0 - wz) + back * wz
    return out


def intensity_op(name: str, config: dict, draws: dict, image: torch.Tensor) -> torch.Tensor:
    """One pixel op of :data:`INTENSITY_OPS` on one C×… float32 sample (an image or a volume),
    from its record, written out plainly."""
    if name == "Normalize":
        shape = (-1, *[1] * (image.dim() - 1))
        mean = torch.tensor(config["mean"], dtype=torch.float32).expand(image.shape[0]).view(shape)
        std = torch.tensor(config["std"], dtype=torch.float32).expand(image.shape[0]).view(shape)
        return (image - mean) / std
    if not bool(draws["applied"]):
        return image
    if name == "GaussianNoise":
        index = torch.arange(image.numel(), dtype=torch.int64).view_as(image)
        noisy = image + (config["mean"] + float(draws["std"]) * hashing.normal(draws["seed"], index))
        return noisy.clamp(0.0, 1.0) if config["clip"] and image.dim() == 3 else noisy
    if name == "RandomMultiplicativeBrightness":
        return image * float(draws["factor"])
    if name == "RandomContrast":
        mean, low, high = image.mean(), image.min(), image.max()
        return ((image - mean) * float(draws["factor"]) + mean).clamp(low, high)
    if name == "RandomGamma":
        x = -image if config["invert"] else image
        low = x.min()
        span = x.max() - low + 1e-7
        out = ((x - low) / span).clamp(min=0.0) ** float(draws["gamma"]) * span + low
        return -out if config["invert"] else out
    raise ValueError(f"params: {name} is not an op volumes take; volumes take {', '.join(INTENSITY_OPS)}")
