"""The engine on one training batch: gpuaug vs the CPU reference vs kornia, same data, one run.

B=16 float32 3×256×256 images with int64 masks, RandomResizedCrop(224) + horizontal flip +
RandomAffine, images bilinear and masks nearest. Run with ``pytest bench --benchmark-only``.
"""

import pytest
import torch
from conftest import device_name, synchronised

import gpuaug
from gpuaug import reference

B, C, H, W, OUT = 16, 3, 256, 256, 224


def batch(device):
    g = torch.Generator().manual_seed(0)
    images = torch.rand(B, C, H, W, generator=g)
    masks = torch.randint(0, 20, (B, 1, H, W), generator=g)
    return images.to(device), masks.to(device)


def record(benchmark, library, device, images, masks):
    bytes_moved = images.numel() * images.element_size() + masks.numel() * masks.element_size()
    bytes_moved += B * C * OUT * OUT * 4 + B * OUT * OUT * masks.element_size()
    benchmark.extra_info.update(
        library=library,
        pipeline="geometric",
        batch=B,
        size=f"{H}x{W}->{OUT}x{OUT}",
        device=device_name(device),
        bytes=bytes_moved,
        torch=torch.__version__,
    )


def gpuaug_pipeline():
    return gpuaug.Compose(
        [
            gpuaug.RandomResizedCrop(OUT),
            gpuaug.RandomHorizontalFlip(),
            gpuaug.RandomAffine(15, translate=(0.1, 0.1), scale=(0.9, 1.1)),
        ]
    )


def test_gpuaug(benchmark, device):
    images, masks = batch(device)
    aug = gpuaug_pipeline()
    generator = torch.Generator(device).manual_seed(0)
    record(benchmark, "gpuaug", device, images, masks)
    out_images, out_masks = benchmark(synchronised(lambda: aug(images, masks, generator=generator), device))
    assert out_images.shape == (B, C, OUT, OUT) and out_masks.dtype == torch.int64


def test_reference(benchmark):
    images, masks = batch("cpu")
    aug = gpuaug_pipeline()
    generator = torch.Generator().manual_seed(0)
    record(benchmark, "reference", "cpu", images, masks)
    out = benchmark.pedantic(lambda: reference.apply(images, masks, aug.sample(images, generator)), rounds=3)
    assert out[1].dtype == torch.int64


def test_kornia(benchmark, device):
    augmentation = pytest.importorskip("kornia.augmentation")
    images, masks = batch(device)
    aug = augmentation.AugmentationSequential(
        augmentation.RandomResizedCrop((OUT, OUT)),
        augmentation.RandomHorizontalFlip(),
        augmentation.RandomAffine(15, translate=(0.1, 0.1), scale=(0.9, 1.1), p=1.0),
        data_keys=["input", "mask"],
    )
    record(benchmark, "kornia", device, images, masks)
    out_images, out_masks = benchmark(synchronised(lambda: aug(images, masks), device))
    assert out_images.shape == (B, C, OUT, OUT)
