"""One augmentation chain, written for gpuaug and for its peers, for audits and benchmarks.

The chain: RandomResizedCrop(size, scale=(0.3, 1.0)) → horizontal flip (p = 0.5) →
RandomAffine(15°, translate ±10 %, scale 0.9–1.1); the "full" variant adds
ColorJitter(0.4, 0.4, 0.4, 0.1) and ImageNet Normalize. Each builder returns a pair
transform ``fn(images, masks) -> (images, masks)`` on float32 B×3×H×W images and integer
B×1×H×W masks; a peer that is not installed raises ImportError naming the gpuaug extra that
brings it (``kornia``, ``bench``). Peers are run as their users run them: kornia's
``AugmentationSequential`` on the batch's device, albumentations as a per-sample loop over
HWC numpy arrays on the CPU.

With ``targets=True`` the peers' builders return ``fn(images, masks, instances, depth)``
that also warps an integer B×1×H×W instance map like the mask and a float B×1×H×W depth map
like the image (kornia's ``data_keys``, albumentations' ``additional_targets``), the
multi-target chain that gpuaug runs with ``targets=``.
"""

from __future__ import annotations

import torch

from gpuaug._optional import require
from gpuaug.audit import PairFn

__all__ = ["gpuaug_ops", "kornia_pipeline", "albumentations_pipeline", "MEAN", "STD"]

CROP_SCALE = (0.3, 1.0)
DEGREES = 15.0
TRANSLATE = (0.1, 0.1)
SCALE = (0.9, 1.1)
JITTER = (0.4, 0.4, 0.4, 0.1)
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def gpuaug_ops(size: int, full: bool = False) -> list:
    """The chain as gpuaug ops."""
    from gpuaug import transforms as T

    ops = [
        T.RandomResizedCrop(size, scale=CROP_SCALE),
        T.RandomHorizontalFlip(),
        T.RandomAffine(DEGREES, translate=TRANSLATE, scale=SCALE),
    ]
    if full:
        ops += [T.ColorJitter(*JITTER), T.Normalize(MEAN, STD)]
    return ops


def kornia_pipeline(size: int, ignore_index: int = 255, full: bool = False, targets: bool = False) -> PairFn:
    """The chain as kornia's AugmentationSequential (it pads masks with 0, it has no ignore value)."""
    K = require("kornia.augmentation", "kornia", "gpuaug.peers.kornia_pipeline")
    ops = [
        K.RandomResizedCrop((size, size), scale=CROP_SCALE),
        K.RandomHorizontalFlip(),
        K.RandomAffine(DEGREES, translate=TRANSLATE, scale=SCALE, p=1.0),
    ]
    if full:
        ops += [K.ColorJitter(*JITTER, p=1.0), K.Normalize(torch.tensor(MEAN), torch.tensor(STD))]
    keys = ["input", "mask", "mask", "input"] if targets else ["input", "mask"]
    aug = K.AugmentationSequential(*ops, data_keys=keys)
    return lambda *tensors: tuple(aug(*tensors))


def albumentations_pipeline(size: int, ignore_index: int = 255, full: bool = False, targets: bool = False) -> PairFn:
    """The chain as albumentations, per sample on the CPU.

    OpenCV has no int64 warps, so masks go through int32 and back, as a user must.
    """
    A = require("albumentations", "bench", "gpuaug.peers.albumentations_pipeline")
    cv2 = require("cv2", "bench", "gpuaug.peers.albumentations_pipeline")
    ops = [
        A.RandomResizedCrop(size=(size, size), scale=CROP_SCALE),
        A.HorizontalFlip(),
        A.Affine(
            rotate=(-DEGREES, DEGREES),
            translate_percent=(-TRANSLATE[0], TRANSLATE[0]),
            scale=SCALE,
            border_mode=cv2.BORDER_CONSTANT,
            fill=0,
            fill_mask=ignore_index,
            p=1.0,
        ),
    ]
    if full:
        b, c, s, h = JITTER
        ops += [A.ColorJitter(brightness=b, contrast=c, saturation=s, hue=h, p=1.0)]
        ops += [A.Normalize(mean=MEAN, std=STD, max_pixel_value=1.0)]
    aug = A.Compose(ops, additional_targets={"instances": "mask", "depth": "image"} if targets else None)

    def run(images: torch.Tensor, masks: torch.Tensor, *extra: torch.Tensor):
        inputs = [t.cpu().numpy() for t in (images, masks, *extra)]
        outputs = [[] for _ in inputs]
        for sample in zip(*inputs, strict=True):
            image, mask = sample[0], sample[1]
            named = {"image": image.transpose(1, 2, 0), "mask": mask[0].astype("int32")}
            if extra:
                named |= {"instances": sample[2][0].astype("int32"), "depth": sample[3].transpose(1, 2, 0)}
            result = aug(**named)
            outputs[0].append(torch.from_numpy(result["image"].transpose(2, 0, 1).copy()))
            outputs[1].append(torch.from_numpy(result["mask"].astype(mask.dtype))[None])
            if extra:
                outputs[2].append(torch.from_numpy(result["instances"].astype(sample[2].dtype))[None])
                outputs[3].append(torch.from_numpy(result["depth"].reshape(-1, size, size).copy()))
        return tuple(torch.stack(o).to(images.device) for o in outputs)

    return run
