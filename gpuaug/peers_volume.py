"""The 3D spatial recipe for gpuaug and its peers, as pair transforms ``fn(volumes, labels)``.

The recipe (nnU-Net's spatial augmentation): rotation of ±30° about each axis, an
isotropic scale in [0.7, 1.4], a random patch, mirroring of every axis with probability
0.5; trilinear intensities, nearest labels. Every transform takes volumes B×C×D×H×W float32
and labels B×D×H×W int64 (CPU tensors for the peers) and returns a stacked pair, so the
benchmarks (``bench/test_bench_volumes.py``) time the same work and the volume audit
(:func:`gpuaug.audit_volume.check_volume_pair`) measures every one of them.

- gpuaug: ``RandomAffine3D``, ``RandomCrop3D``, ``RandomFlip3D``: one 4×4 matrix and one
  resample per sample, the whole batch at once.
- MONAI (``pip install 'gpuaug[bench3d]'``): ``RandAffined`` (its ``spatial_size`` is the
  patch, its ``translate_range`` the slack of a random patch, modes bilinear / nearest,
  zeros padding) then ``RandFlipd`` per axis, one sample at a time, as MONAI's dictionary
  transforms run.
- batchgenerators: ``SpatialTransform`` (order 1 for data, 0 for segmentations,
  ``random_crop``, ``border_cval_seg`` = ``ignore_index``) then ``MirrorTransform``, on the
  batch as NumPy arrays, its per-sample loop inside.
- naive: the same draws as gpuaug, but the labels resampled like intensities (trilinear,
  zeros outside, rounded back): the bug the audit exists to find.
"""

from __future__ import annotations

import math

import torch

from gpuaug.compose import Compose
from gpuaug.core.types import PairFn
from gpuaug.functional import warp_volumes
from gpuaug.optional import require
from gpuaug.transforms.volume import RandomAffine3D, RandomCrop3D, RandomFlip3D

__all__ = ["volume_ops", "gpuaug_volume_pipeline", "monai_pipeline", "batchgenerators_pipeline", "naive_pipeline"]

#: The recipe's ranges.
DEGREES, SCALE = 30.0, (0.7, 1.4)


def volume_ops(patch: tuple[int, int, int]) -> list:
    """gpuaug's ops of the recipe, to patches of ``patch`` (d, h, w)."""
    return [RandomAffine3D(DEGREES, scale=SCALE), RandomCrop3D(patch, pad_if_needed=True), RandomFlip3D()]


def gpuaug_volume_pipeline(patch: tuple[int, int, int], ignore_index: int = 255, backend: str = "auto") -> PairFn:
    return Compose(volume_ops(patch), ignore_index=ignore_index, backend=backend)


def monai_pipeline(patch: tuple[int, int, int], ignore_index: int = 255, seed: int = 0) -> PairFn:
    """MONAI's dictionary transforms of the recipe, per sample (labels padded with 0: MONAI's
    resampling has no constant for them, so ``ignore_index`` is not written). Its random
    state starts from ``seed`` (MONAI's default draws from the operating system's entropy),
    so runs repeat."""
    transforms = require("monai.transforms", "monai", "the MONAI peer (pip install 'gpuaug[bench3d]')")
    keys = ("image", "label")
    radians = math.radians(DEGREES)
    chains = {}

    def chain_for(size: tuple[int, ...]):
        # The slack of a random patch as a translation of the patch's centre, for this input size.
        if size not in chains:
            slack = [max(s - p, 0) / 2 for s, p in zip(size, patch, strict=True)]
            affine = transforms.RandAffined(
                keys,
                spatial_size=patch,
                prob=1.0,
                rotate_range=(radians,) * 3,
                scale_range=[(1 / SCALE[1] - 1, 1 / SCALE[0] - 1)] * 3,  # MONAI scales coordinates
                translate_range=[(-v, v) for v in slack],
                mode=("bilinear", "nearest"),
                padding_mode="zeros",
            )
            flips = [transforms.RandFlipd(keys, prob=0.5, spatial_axis=axis) for axis in range(3)]
            chains[size] = transforms.Compose([affine, *flips]).set_random_state(seed=seed)
        return chains[size]

    def run(volumes: torch.Tensor, labels: torch.Tensor):
        chain = chain_for(tuple(volumes.shape[-3:]))
        outs = [chain({"image": v, "label": m.unsqueeze(0)}) for v, m in zip(volumes, labels, strict=True)]
        images = torch.stack([torch.as_tensor(o["image"]).as_subclass(torch.Tensor) for o in outs])
        masks = torch.stack([torch.as_tensor(o["label"]).as_subclass(torch.Tensor)[0] for o in outs])
        return images, masks

    return run


def batchgenerators_pipeline(patch: tuple[int, int, int], ignore_index: int = 255) -> PairFn:
    """batchgenerators' ``SpatialTransform`` + ``MirrorTransform`` of the recipe, on NumPy."""
    spatial = require(
        "batchgenerators.transforms.spatial_transforms", "batchgenerators", "the batchgenerators peer (bench3d)"
    )
    abstract = require("batchgenerators.transforms.abstract_transforms", "batchgenerators", "the batchgenerators peer")
    radians = math.radians(DEGREES)
    chain = abstract.Compose(
        [
            spatial.SpatialTransform(
                patch,
                do_elastic_deform=False,
                do_rotation=True,
                angle_x=(-radians, radians),
                angle_y=(-radians, radians),
                angle_z=(-radians, radians),
                do_scale=True,
                scale=(1 / SCALE[1], 1 / SCALE[0]),  # batchgenerators scales coordinates
                border_mode_data="constant",
                border_cval_data=0,
                order_data=1,
                border_mode_seg="constant",
                border_cval_seg=ignore_index,
                order_seg=0,
                random_crop=True,
                p_scale_per_sample=1.0,
                p_rot_per_sample=1.0,
            ),
            spatial.MirrorTransform(axes=(0, 1, 2)),
        ]
    )

    def run(volumes: torch.Tensor, labels: torch.Tensor):
        out = chain(data=volumes.numpy(), seg=labels.unsqueeze(1).numpy())
        return torch.from_numpy(out["data"]), torch.from_numpy(out["seg"][:, 0])

    return run


def naive_pipeline(patch: tuple[int, int, int], ignore_index: int = 255) -> PairFn:
    """gpuaug's draws with the labels resampled as intensities (trilinear, 0 outside, rounded)."""
    aug = gpuaug_volume_pipeline(patch, ignore_index, backend="torch")

    def run(volumes: torch.Tensor, labels: torch.Tensor):
        params = aug.sample(volumes)
        images = aug.apply(volumes, None, params)
        resampled = warp_volumes(labels.unsqueeze(1).double(), None, params.matrix, params.out_size, (0.0,), 0, "torch")
        return images, resampled[0][:, 0].round().long()

    return run
