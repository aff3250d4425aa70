"""Fast paths against the CPU reference: masks bit for bit, images within IMAGE_ATOL.

Also the coordinate-probe property: after any chain, wherever all four bilinear taps are
inside the source, the mask's source pixel is within half a pixel of the image's source
coordinate per axis, unbiased on average, and pixels from outside are exactly ignore.
"""

import pytest
import torch
from conftest import IMAGE_ATOL
from hypothesis import given
from hypothesis import strategies as st

import gpuaug
from gpuaug import audit, probe, reference
from gpuaug.transforms.base import Draw

OP_FACTORIES = {
    "hflip": lambda h, w: gpuaug.RandomHorizontalFlip(),
    "vflip": lambda h, w: gpuaug.RandomVerticalFlip(),
    "rrc": lambda h, w: gpuaug.RandomResizedCrop((max(1, h // 2), max(1, w // 2 + 3))),
    "crop": lambda h, w: gpuaug.RandomCrop((h // 2 + 5, w // 2 + 1), pad_if_needed=True),
    "center": lambda h, w: gpuaug.CenterCrop((h + 2, max(1, w - 3))),
    "resize": lambda h, w: gpuaug.Resize(max(1, min(h, w) * 2 // 3)),
    "affine": lambda h, w: gpuaug.RandomAffine(40, translate=(0.2, 0.2), scale=(0.6, 1.5), shear=15),
    "rotation": lambda h, w: gpuaug.RandomRotation(180),
    "perspective": lambda h, w: gpuaug.RandomPerspective(0.6, p=0.8),
    "scale": lambda h, w: gpuaug.RandomScale((0.5, 1.8)),
}

chains = st.lists(st.sampled_from(sorted(OP_FACTORIES)), min_size=1, max_size=4)
sizes = st.integers(min_value=1, max_value=23)
mask_dtypes = st.sampled_from([torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64])


def build(names, h, w):
    ops, size = [], (h, w)
    for name in names:
        op = OP_FACTORIES[name](*size)
        ops.append(op)
        size = op.sample(Draw(1, torch.device("cpu")), size).out_size
    return ops


def batch(b, c, h, w, mask_dtype, seed):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(b, c, h, w, generator=g)
    info = torch.iinfo(mask_dtype)
    masks = torch.randint(max(info.min, -50), min(info.max, 120), (b, 1, h, w), generator=g).to(mask_dtype)
    return images, masks


@given(names=chains, h=sizes, w=sizes, mask_dtype=mask_dtypes, seed=st.integers(0, 2**31))
def test_torch_path_matches_reference(names, h, w, mask_dtype, seed):
    images, masks = batch(3, 2, h, w, mask_dtype, seed)
    ignore = -1 if mask_dtype == torch.int8 else 100
    aug = gpuaug.Compose(build(names, h, w), ignore_index=ignore, fill=[0.2, 0.9], backend="torch")
    params = aug.sample(images, torch.Generator().manual_seed(seed))
    out_images, out_masks = aug.apply(images, masks, params)
    ref_images, ref_masks = reference.apply(images, masks, params)
    assert out_masks.dtype == mask_dtype and out_masks.shape == ref_masks.shape
    assert torch.equal(out_masks, ref_masks)
    torch.testing.assert_close(out_images, ref_images, atol=IMAGE_ATOL, rtol=0)


@pytest.mark.parametrize("backend", ["triton"])
@given(names=chains, h=st.integers(1, 19), w=st.integers(1, 19), mask_dtype=mask_dtypes, seed=st.integers(0, 2**31))
def test_triton_path_matches_reference(device, names, h, w, mask_dtype, seed):
    images, masks = batch(2, 3, h, w, mask_dtype, seed)
    aug = gpuaug.Compose(build(names, h, w), ignore_index=7, fill=0.4, backend="triton")
    params = aug.sample(images, torch.Generator().manual_seed(seed))
    out_images, out_masks = aug.apply(images.to(device), masks.to(device), params.to(device))
    ref_images, ref_masks = reference.apply(images, masks, params)
    assert torch.equal(out_masks.cpu(), ref_masks)
    torch.testing.assert_close(out_images.cpu(), ref_images, atol=IMAGE_ATOL, rtol=0)


@pytest.mark.parametrize("name", sorted(OP_FACTORIES))
def test_every_op_matches_reference_on_odd_sizes(name, backend, device):
    images, masks = batch(4, 3, 17, 29, torch.int64, seed=1)
    images = (images * 255).to(torch.uint8)
    aug = gpuaug.Compose([OP_FACTORIES[name](17, 29)], ignore_index=-100, fill=[0.1, 0.5, 1.0], backend=backend)
    params = aug.sample(images, torch.Generator().manual_seed(3))
    out_images, out_masks = aug.apply(images.to(device), masks.to(device), params.to(device))
    ref_images, ref_masks = reference.apply(images, masks, params)
    assert torch.equal(out_masks.cpu(), ref_masks)
    torch.testing.assert_close(out_images.cpu(), ref_images, atol=IMAGE_ATOL, rtol=0)


# Several tiles each way with odd remainders (2·32 + 5 rows, 2·128 + 5 columns), well past the
# kernels' tile shape (16×64 today), so a wrong row or column tile offset cannot hide.
MANY_TILES = (69, 261)


@pytest.mark.parametrize("pixel", [False, True], ids=["warp", "fused"])
def test_outputs_of_many_tiles_match_reference(backend, device, pixel):
    images, masks = batch(1, 3 if pixel else 2, 23, 50, torch.int16, seed=2)
    # The zoom-in keeps the whole output inside the source, so every edge and remainder pixel has a real label.
    ops = [gpuaug.Resize(MANY_TILES), gpuaug.RandomPerspective(0.2, p=1.0), gpuaug.RandomAffine(5, scale=(1.4, 1.5))]
    if pixel:  # the fused kernel: warp and colour in one pass
        ops += [gpuaug.ColorJitter(0.4, 0.4, 0.4, 0.1), gpuaug.Normalize([0.4, 0.5, 0.6], [0.2, 0.3, 0.25])]
    aug = gpuaug.Compose(ops, ignore_index=-100, fill=0.3, backend=backend)
    params = aug.sample(images, torch.Generator().manual_seed(0))
    out_images, out_masks = aug.apply(images.to(device), masks.to(device), params.to(device))
    ref_images, ref_masks = reference.apply(images, masks, params)
    assert out_masks.shape[-2:] == MANY_TILES and (ref_masks != -100).all()
    assert torch.equal(out_masks.cpu(), ref_masks)
    torch.testing.assert_close(out_images.cpu(), ref_images, atol=IMAGE_ATOL, rtol=0)


@given(names=chains, h=st.integers(4, 40), w=st.integers(4, 40), seed=st.integers(0, 2**31))
def test_coordinate_probe_alignment(names, h, w, seed):
    images, masks = probe.coordinate_probe(4, h, w, ignore_index=255)
    aug = gpuaug.Compose(build(names, h, w), ignore_index=255)
    out_images, out_masks = aug(images, masks, generator=torch.Generator().manual_seed(seed))
    metrics = probe.measure_alignment(out_images, out_masks, w, 255)
    if metrics["inside_pixels"]:
        assert max(metrics["alignment_px"]) <= 0.5 + 1e-3
    assert metrics["outside_not_ignore"] == 0
    # Pixels whose source is wholly outside (validity 0) are exactly ignore.
    outside = out_images[:, 2] == 0
    assert (out_masks[:, 0][outside] == 255).all()


def test_coordinate_probe_mean_offset_is_unbiased():
    ops = [gpuaug.RandomResizedCrop(48, scale=(0.3, 1.0)), gpuaug.RandomHorizontalFlip(), gpuaug.RandomAffine(30)]
    report = audit.check_pair(lambda i, m: gpuaug.Compose(ops)(i, m, generator=torch.Generator().manual_seed(0)))
    assert report.ok
    assert all(abs(v) < 0.05 for v in report.mean_offset_px)
    assert report.inside_pixels > 1000
