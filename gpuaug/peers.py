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

The ADE20K recipe (``ade20k_ops``, ``kornia_ade20k_pipeline``,
``albumentations_ade20k_pipeline``) is mmsegmentation's: a random resize of the shorter
side to about ``crop · r``, r ~ U(0.5, 2.0), a ``crop``-sized random crop padded where the
image is smaller, horizontal flip and, with ``full``, the photometric distortion and
ImageNet Normalize. Its pair transforms take lists of B uint8 images 3×Hᵢ×Wᵢ and B integer
masks Hᵢ×Wᵢ (or stacked batches) and return one stacked batch. The peers approximate three
parts: the shorter side is drawn as an integer in [crop / 2, 2 · crop] (mmcv also caps the
longer side at 8 · crop · r, which only binds for images more than 4:1); their crop is a
plain random crop (gpuaug's checks each candidate's classes, ``cat_max_ratio=0.75``;
albumentations' closest op, CropNonEmptyMaskIfExists, is a different rule); and they have
no photometric distortion, so they run ColorJitter(0.125, 0.5, 0.5, 0.1), every step on
every sample (brightness a factor where mmsegmentation adds a delta of up to 32/255, the
same contrast, saturation and hue ranges, no coin per step).
"""

from __future__ import annotations

import torch

from gpuaug.core.types import PairFn
from gpuaug.optional import require

__all__ = [
    "gpuaug_ops",
    "kornia_pipeline",
    "albumentations_pipeline",
    "ade20k_ops",
    "kornia_ade20k_pipeline",
    "albumentations_ade20k_pipeline",
    "MEAN",
    "STD",
]

CROP_SCALE = (0.3, 1.0)
DEGREES = 15.0
TRANSLATE = (0.1, 0.1)
SCALE = (0.9, 1.1)
JITTER = (0.4, 0.4, 0.4, 0.1)
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
#: The ADE20K recipe: resize ratio range, class-aware crop threshold, the peers' colour jitter
#: standing in for the photometric distortion.
ADE20K_RATIO = (0.5, 2.0)
ADE20K_CAT_MAX_RATIO = 0.75
ADE20K_JITTER = (0.125, 0.5, 0.5, 0.1)


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
    return lambda *tensors: _per_sample(aug, *tensors)


def _per_sample(aug, images, masks, *extra):
    """Run the albumentations ``aug`` sample by sample over HWC numpy arrays; return stacked tensors.

    ``images`` (and a float ``depth`` in ``extra``) are B×C×H×W or lists of C×Hᵢ×Wᵢ;
    ``masks`` (and ``instances``) B×1×H×W, B×H×W or lists of 1×Hᵢ×Wᵢ / Hᵢ×Wᵢ, any integer
    dtype. Label maps go through int32 (OpenCV has no int64 warps) and come back in their
    dtype and layout; the outputs are on the images' device.
    """
    device = images[0].device
    inputs = [[t.cpu().numpy() for t in batch] for batch in (images, masks, *extra)]
    outputs = [[] for _ in inputs]
    for sample in zip(*inputs, strict=True):
        image, mask = sample[0], sample[1]
        named = {"image": image.transpose(1, 2, 0), "mask": mask.reshape(mask.shape[-2:]).astype("int32")}
        if extra:
            instances = sample[2]
            named |= {"instances": instances.reshape(instances.shape[-2:]).astype("int32")}
            named |= {"depth": sample[3].transpose(1, 2, 0)}
        result = aug(**named)
        out_size = result["image"].shape[:2]
        outputs[0].append(torch.from_numpy(result["image"].transpose(2, 0, 1).copy()))
        outputs[1].append(torch.from_numpy(result["mask"].astype(mask.dtype)).reshape(*mask.shape[:-2], *out_size))
        if extra:
            labels = result["instances"].astype(instances.dtype)
            outputs[2].append(torch.from_numpy(labels).reshape(*instances.shape[:-2], *out_size))
            outputs[3].append(torch.from_numpy(result["depth"].reshape(-1, *out_size).copy()))
    return tuple(torch.stack(o).to(device) for o in outputs)


def ade20k_ops(crop: int, full: bool = True, cat_max_ratio: float = ADE20K_CAT_MAX_RATIO) -> list:
    """The ADE20K recipe as gpuaug ops, cropping ``crop``×``crop`` (mmsegmentation's scale (4 · crop, crop));
    ``cat_max_ratio=1.0`` leaves the crop's class check out."""
    from gpuaug import transforms as T

    ops = [
        T.RandomResize((crop, 4 * crop), ratio_range=ADE20K_RATIO),
        T.RandomCrop(crop, pad_if_needed=True, cat_max_ratio=cat_max_ratio),
        T.RandomHorizontalFlip(),
    ]
    if full:
        ops += [T.PhotoMetricDistortion(), T.Normalize(MEAN, STD)]
    return ops


def _short_sides(crop: int) -> tuple[int, int]:
    """The range of the shorter side after the recipe's resize: ``crop`` times the ratio range."""
    return round(crop * ADE20K_RATIO[0]), round(crop * ADE20K_RATIO[1])


def kornia_ade20k_pipeline(crop: int, ignore_index: int = 255, full: bool = True) -> PairFn:
    """The ADE20K recipe in kornia: one AugmentationSequential per sample (kornia takes no lists).

    The shorter side is drawn from the global torch RNG, as kornia draws its own
    parameters; kornia pads images and masks with 0 (it has no ignore value).
    """
    K = require("kornia.augmentation", "kornia", "gpuaug.peers.kornia_ade20k_pipeline")
    lo, hi = _short_sides(crop)
    tail = [K.RandomCrop((crop, crop), pad_if_needed=True), K.RandomHorizontalFlip()]
    if full:
        tail += [K.ColorJitter(*ADE20K_JITTER, p=1.0), K.Normalize(torch.tensor(MEAN), torch.tensor(STD))]

    def run(images, masks):
        out_images, out_masks = [], []
        for image, mask in zip(images, masks, strict=True):
            short = int(torch.randint(lo, hi + 1, ()))
            aug = K.AugmentationSequential(K.Resize(short, side="short"), *tail, data_keys=["input", "mask"])
            image = image.float() / 255 if image.dtype == torch.uint8 else image
            out_image, out_mask = aug(image[None], mask.reshape(1, 1, *mask.shape[-2:]))
            out_images.append(out_image[0])
            out_masks.append(out_mask[0].to(mask.dtype).reshape(*mask.shape[:-2], crop, crop))
        return torch.stack(out_images), torch.stack(out_masks)

    return run


def albumentations_ade20k_pipeline(crop: int, ignore_index: int = 255, full: bool = True) -> PairFn:
    """The ADE20K recipe in albumentations, per sample on the CPU, images read as uint8 (0-255) or float ([0, 1])."""
    A = require("albumentations", "bench", "gpuaug.peers.albumentations_ade20k_pipeline")
    cv2 = require("cv2", "bench", "gpuaug.peers.albumentations_ade20k_pipeline")
    lo, hi = _short_sides(crop)
    ops = [
        A.SmallestMaxSize(max_size=list(range(lo, hi + 1))),
        A.RandomCrop(
            crop,
            crop,
            pad_if_needed=True,
            pad_position="random",
            border_mode=cv2.BORDER_CONSTANT,
            fill=0,
            fill_mask=ignore_index,
        ),
        A.HorizontalFlip(),
    ]
    if full:
        b, c, s, h = ADE20K_JITTER
        ops += [A.ColorJitter(brightness=b, contrast=c, saturation=s, hue=h, p=1.0)]

    def chain(max_pixel_value: float):
        normalize = [A.Normalize(mean=MEAN, std=STD, max_pixel_value=max_pixel_value)] if full else []
        return A.Compose(ops + normalize)

    by_uint8 = {True: chain(255.0), False: chain(1.0)}
    return lambda images, masks: _per_sample(by_uint8[images[0].dtype == torch.uint8], images, masks)
