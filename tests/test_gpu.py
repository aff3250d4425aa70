"""GPU-only checks (marker ``gpu``): compiled Triton kernels, bit-exact masks, no host sync.

They run wherever CUDA is present (bench/gpu.sh on the lent GPU machine) and are skipped
elsewhere; the same kernels are covered on the CPU through Triton's interpreter.
"""

import pytest
import torch
from conftest import DTYPE_TOLERANCE

import gpuaug
from gpuaug import reference

pytestmark = pytest.mark.gpu

CHAINS = {
    "rrc-flip-affine": [gpuaug.RandomResizedCrop(96), gpuaug.RandomHorizontalFlip(), gpuaug.RandomAffine(30, shear=10)],
    "perspective-rotation": [gpuaug.RandomPerspective(0.6, p=1.0), gpuaug.RandomRotation(180)],
    "scale-crop": [gpuaug.RandomScale((0.5, 2.0)), gpuaug.RandomCrop(100, pad_if_needed=True), gpuaug.Resize(77)],
}


def cuda_batch(dtype, b=8, h=131, w=117):
    g = torch.Generator("cuda").manual_seed(0)
    images = torch.rand(b, 3, h, w, device="cuda", generator=g)
    info = torch.iinfo(dtype)
    masks = torch.randint(max(info.min, -1000), min(info.max, 1000), (b, 1, h, w), device="cuda", generator=g)
    return images, masks.to(dtype)


@pytest.mark.parametrize("chain", sorted(CHAINS))
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64])
def test_triton_equals_torch_and_reference_bit_for_bit(chain, dtype):
    images, masks = cuda_batch(dtype)
    ignore = -1 if dtype == torch.int8 else 111
    triton = gpuaug.Compose(CHAINS[chain], ignore_index=ignore, fill=0.3, backend="triton")
    torch_path = gpuaug.Compose(CHAINS[chain], ignore_index=ignore, fill=0.3, backend="torch")
    params = triton.sample(images, torch.Generator("cuda").manual_seed(1))
    t_images, t_masks = triton.apply(images, masks, params)
    p_images, p_masks = torch_path.apply(images, masks, params)
    r_images, r_masks = reference.apply(images, masks, params)
    assert t_masks.dtype == dtype and t_masks.is_cuda
    assert torch.equal(t_masks, p_masks)
    assert torch.equal(t_masks.cpu(), r_masks)
    torch.testing.assert_close(t_images, p_images, atol=1e-4, rtol=0)
    torch.testing.assert_close(t_images.cpu(), r_images, atol=1e-4, rtol=0)


PIXEL = [
    gpuaug.ColorJitter(0.4, 0.4, 0.4, 0.1),
    gpuaug.RandomGrayscale(0.2),
    gpuaug.GaussianNoise(p=0.5),
    gpuaug.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
]


@pytest.mark.parametrize("out_dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("blur", [False, True])
def test_fused_kernel_matches_torch_path_and_reference(out_dtype, blur):
    images, masks = cuda_batch(torch.int64)
    images = (images * 255).to(torch.uint8)
    ops = CHAINS["rrc-flip-affine"] + (PIXEL[:1] + [gpuaug.GaussianBlur(5, p=0.5)] + PIXEL[1:] if blur else PIXEL)
    fused = gpuaug.Compose(ops, fill=0.2, out_dtype=out_dtype, backend="triton")
    params = fused.sample(images, torch.Generator("cuda").manual_seed(3))
    f_images, f_masks = fused.apply(images, masks, params)
    t_images, t_masks = gpuaug.Compose(ops, backend="torch").apply(images, masks, params)
    r_images, r_masks = reference.apply(images, masks, params)
    assert torch.equal(f_masks, t_masks) and torch.equal(f_masks.cpu(), r_masks)
    atol, rtol = DTYPE_TOLERANCE[out_dtype]
    torch.testing.assert_close(f_images.float(), t_images.float(), atol=atol, rtol=rtol)
    torch.testing.assert_close(f_images.float().cpu(), r_images.float(), atol=atol, rtol=rtol)


@pytest.mark.parametrize("backend", ["triton", "torch"])
def test_sample_and_apply_never_sync(backend):
    images, masks = cuda_batch(torch.int64)
    ops = [op for chain in CHAINS.values() for op in chain] + PIXEL[:1] + [gpuaug.GaussianBlur(3)] + PIXEL[1:]
    aug = gpuaug.Compose(ops, fill=[0.1, 0.2, 0.3], backend=backend)
    cpu_generator_aug = gpuaug.Compose(CHAINS["rrc-flip-affine"], backend=backend)
    aug(images, masks, generator=torch.Generator("cuda").manual_seed(0))  # warm-up: compile, allocate
    cpu_generator_aug(images, masks, generator=torch.Generator().manual_seed(0))
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        aug(images, masks, generator=torch.Generator("cuda").manual_seed(1))
        cpu_generator_aug(images, masks, generator=torch.Generator().manual_seed(1))
    finally:
        torch.cuda.set_sync_debug_mode("default")


def test_cpu_generator_with_cuda_data_matches_cpu_draws():
    images, masks = cuda_batch(torch.int64)
    aug = gpuaug.Compose(CHAINS["rrc-flip-affine"])
    on_cuda = aug.sample(images, torch.Generator().manual_seed(5))
    on_cpu = aug.sample(images.cpu(), torch.Generator().manual_seed(5))
    assert on_cuda.matrix.is_cuda
    assert torch.equal(on_cuda.matrix.cpu(), on_cpu.matrix)
    out = aug.apply(images, masks, on_cuda)
    assert torch.equal(out[1].cpu(), reference.apply(images, masks, on_cpu)[1])


def test_offsets_past_two_to_the_31():
    # 3 × 27000 × 27000 uint8 labels: 2.19e9 elements, so element offsets overflow int32.
    n = 27000
    masks = torch.zeros(3, n, n, dtype=torch.uint8, device="cuda")
    masks[2, -1, -1], masks[2, 0, 0], masks[2, -1, 0] = 7, 9, 5
    matrix = torch.tensor([[-1.0, 0, n], [0, -1.0, n], [0, 0, 1]], device="cuda").expand(3, 3, 3)
    out = gpuaug.functional.warp_mask(masks, matrix, (n, n), backend="triton")
    assert (out[2, 0, 0].item(), out[2, -1, -1].item(), out[2, 0, -1].item()) == (7, 9, 5)


def test_seeded_draws_agree_across_devices():
    images, masks = cuda_batch(torch.int64)
    ops = CHAINS["rrc-flip-affine"] + CHAINS["perspective-rotation"] + PIXEL
    aug = gpuaug.Compose(ops)
    ids = torch.arange(100, 108)
    on_cuda = aug.sample(images, seed=4, sample_ids=ids.cuda())
    on_cpu = aug.sample(images.cpu(), seed=4, sample_ids=ids)
    torch.testing.assert_close(on_cuda.matrix.cpu(), on_cpu.matrix, atol=1e-6, rtol=1e-6)
    for a, b in zip(on_cuda.ops, on_cpu.ops, strict=True):
        for name in a.draws:
            torch.testing.assert_close(a.draws[name].cpu(), b.draws[name], atol=1e-6, rtol=1e-6)


ADE = [
    gpuaug.RandomResize((96, 384), ratio_range=(0.5, 2.0)),
    gpuaug.RandomCrop(96, pad_if_needed=True, cat_max_ratio=0.75),
    gpuaug.RandomHorizontalFlip(),
    gpuaug.ColorJitter(0.2, 0.3, 0.3, 0.05),
    gpuaug.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
]


def cuda_list(sizes=((96, 128), (128, 96), (70, 94), (144, 192), (33, 250))):
    g = torch.Generator("cuda").manual_seed(0)
    images = [torch.randint(0, 256, (3, h, w), device="cuda", generator=g, dtype=torch.uint8) for h, w in sizes]
    masks = [torch.randint(0, 6, (h, w), device="cuda", generator=g) for h, w in sizes]
    return images, masks


def assert_triton_equals_torch_and_reference(ops, images, masks):
    """``ops`` on CUDA through the kernels, the torch path and the reference, from one draw:
    masks bit for bit, images within 1e-4."""
    triton = gpuaug.Compose(ops, backend="triton")
    params = triton.sample(images, torch.Generator("cuda").manual_seed(2), masks=masks)
    t_images, t_masks = triton.apply(images, masks, params)
    p_images, p_masks = gpuaug.Compose(ops, backend="torch").apply(images, masks, params)
    r_images, r_masks = reference.apply(images, masks, params)
    assert torch.equal(t_masks, p_masks) and torch.equal(t_masks.cpu(), r_masks)
    torch.testing.assert_close(t_images, p_images, atol=1e-4, rtol=0)
    torch.testing.assert_close(t_images.cpu(), r_images, atol=1e-4, rtol=0)


def test_variable_size_lists_match_torch_and_reference():
    assert_triton_equals_torch_and_reference(ADE, *cuda_list())


@pytest.mark.parametrize("backend", ["triton", "torch"])
def test_variable_size_lists_never_sync(backend):
    images, masks = cuda_list()
    aug = gpuaug.Compose(ADE, backend=backend)
    aug(images, masks, seed=0)  # warm-up: compile, allocate
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        aug(images, masks, seed=1)
        aug(images, masks, generator=torch.Generator("cuda").manual_seed(1))
    finally:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.parametrize(
    "canvas",
    [
        [gpuaug.ElasticTransform(20.0, 6.0, p=1.0)],
        [gpuaug.CutMix(p=0.8)],
        [gpuaug.ClassMix(p=0.8)],
        [gpuaug.ElasticTransform(20.0, 6.0, p=1.0), gpuaug.Mosaic(p=0.8)],
        [PIXEL[0], gpuaug.CutMix(p=0.8)],
    ],
    ids=["elastic", "cutmix", "classmix", "elastic-mosaic", "colour-before-cutmix"],
)
def test_canvas_ops_compiled_equal_torch_path_and_reference(canvas):
    images, masks = cuda_batch(torch.int64, b=6)
    masks = masks.remainder(7)  # a few classes, for ClassMix
    ops = [*CHAINS["perspective-rotation"], gpuaug.Resize((90, 70)), *canvas, *PIXEL[1:]]
    assert_triton_equals_torch_and_reference(ops, images, masks)
