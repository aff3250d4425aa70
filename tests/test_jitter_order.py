"""ColorJitter's order: "fixed" (the default, outputs as before) or "random", torchvision's
per-sample shuffle of the four adjustments, on the torch path, the Triton backend (torch ops:
the fused kernel's order is fixed) and the CPU reference."""

import itertools

import pytest
import torch
from conftest import IMAGE_ATOL

import gpuaug
from gpuaug import reference
from gpuaug.transforms.color import _adjust_hsv, grayscale

JITTER = dict(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)


def batch(b=12, device="cpu"):
    g = torch.Generator().manual_seed(1)
    images = torch.rand(b, 3, 12, 14, generator=g)
    masks = torch.randint(0, 4, (b, 12, 14), generator=g)
    return images.to(device), masks.to(device)


def test_the_default_is_the_fixed_order_bit_for_bit():
    images, _ = batch()
    aug = gpuaug.Compose([gpuaug.ColorJitter(**JITTER)], backend="torch")
    params = aug.sample(images, torch.Generator().manual_seed(0))
    draws = params.ops[0].draws
    assert "order" not in draws and aug.ops[0].order == "fixed"
    x = images.clone()
    b, c, s, h = (draws[k].view(-1, 1, 1, 1) for k in ("brightness", "contrast", "saturation", "hue"))
    x = (x * b).clamp(0, 1)
    x = (c * x + (1 - c) * grayscale(x).mean(dim=(-3, -2, -1), keepdim=True)).clamp(0, 1)
    x = (s * x + (1 - s) * grayscale(x)).clamp(0, 1)
    x = _adjust_hsv(x, torch.ones_like(draws["hue"]), draws["hue"])
    assert torch.equal(aug.apply(images, None, params), x)


def test_random_orders_are_per_sample_permutations():
    images = torch.rand(240, 3, 2, 2)
    params = gpuaug.Compose([gpuaug.ColorJitter(**JITTER, order="random")]).sample(
        images, torch.Generator().manual_seed(0)
    )
    order = params.ops[0].draws["order"]
    assert order.shape == (240, 4) and order.dtype == torch.int64
    assert (order.sort(1).values == torch.arange(4)).all()  # each row a permutation
    for position in range(4):  # every step shows up at every position
        assert set(order[:, position].tolist()) == {0, 1, 2, 3}
    assert len({tuple(row) for row in order.tolist()}) > 12


@pytest.mark.parametrize("steps", [JITTER, {"brightness": 0.5, "hue": 0.2}])
def test_random_order_matches_the_reference(steps, backend, device, launches):
    images, masks = batch(device=device)
    ops = [gpuaug.RandomResizedCrop((10, 12)), gpuaug.ColorJitter(**steps, order="random", p=0.8)]
    aug = gpuaug.Compose(ops, backend=backend)
    params = aug.sample(images, torch.Generator(device).manual_seed(3))
    out, out_masks = aug.apply(images, masks, params)
    ref, ref_masks = reference.apply(images, masks, params)
    torch.testing.assert_close(out.cpu(), ref, atol=IMAGE_ATOL, rtol=0)
    assert torch.equal(out_masks.cpu(), ref_masks)
    assert "fused_image_kernel" not in launches  # the kernel's order is fixed: torch ops after the warp
    again = gpuaug.Params.from_dict(params.to_dict())
    assert torch.equal(aug.apply(images, masks, again)[0], out)


def test_a_samples_output_follows_its_own_order():
    images = torch.rand(1, 3, 6, 6).expand(8, 3, 6, 6).contiguous()
    jitter = gpuaug.ColorJitter(brightness=(1.5, 1.5), saturation=(0.0, 0.0), order="random")
    params = gpuaug.Compose([jitter], backend="torch").sample(images, torch.Generator().manual_seed(5))
    out = gpuaug.Compose([jitter], backend="torch").apply(images, None, params)
    for k, row in enumerate(params.ops[0].draws["order"].tolist()):
        x = images[k : k + 1]
        for step in row:
            if step == 0:
                x = (x * 1.5).clamp(0, 1)
            elif step == 2:
                x = grayscale(x).expand_as(x)
        assert torch.equal(out[k : k + 1], x)
    assert len({tuple(r) for r in params.ops[0].draws["order"][:, [0, 2]].argsort(1).tolist()}) == 2


@pytest.mark.parametrize("order", ["shuffled", None, 1])
def test_a_bad_order_is_refused(order):
    with pytest.raises(ValueError, match=r"order: expected 'fixed' or 'random', got "):
        gpuaug.ColorJitter(0.2, order=order)


def test_permutations_cover_all_24():
    images = torch.rand(600, 3, 1, 1)
    params = gpuaug.Compose([gpuaug.ColorJitter(**JITTER, order="random")]).sample(
        images, torch.Generator().manual_seed(0)
    )
    seen = {tuple(row) for row in params.ops[0].draws["order"].tolist()}
    assert seen == set(itertools.permutations(range(4)))
