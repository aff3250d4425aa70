"""Pixel ops: exact values, kornia cross-checks, reference equality on both backends, fusion, dtypes."""

import json

import kornia
import pytest
import torch
from conftest import DTYPE_TOLERANCE, IMAGE_ATOL
from hypothesis import given
from hypothesis import strategies as st

import gpuaug
from gpuaug import engine, fusion, reference
from gpuaug.core import hashing

PIXEL_FACTORIES = {
    "brightness": lambda: gpuaug.ColorJitter(brightness=0.6, p=0.8),
    "contrast": lambda: gpuaug.ColorJitter(contrast=0.6, p=0.8),
    "saturation": lambda: gpuaug.ColorJitter(saturation=0.9, p=0.8),
    "hue": lambda: gpuaug.ColorJitter(hue=0.5, p=0.8),
    "jitter": lambda: gpuaug.ColorJitter(0.4, 0.4, 0.4, 0.1),
    "photometric": lambda: gpuaug.PhotoMetricDistortion(p=0.8),
    "gray": lambda: gpuaug.RandomGrayscale(p=0.5),
    "noise": lambda: gpuaug.GaussianNoise(mean=0.02, std=(0.0, 0.2), p=0.7),
    "noise-unclipped": lambda: gpuaug.GaussianNoise(std=0.1, p=1.0, clip=False),
    "blur": lambda: gpuaug.GaussianBlur((3, 5), sigma=(0.3, 2.0), p=0.7),
    "normalize": lambda: gpuaug.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
}
GEOMETRIC = [
    gpuaug.RandomResizedCrop((13, 17), scale=(0.3, 1.0)),
    gpuaug.RandomHorizontalFlip(),
    gpuaug.RandomAffine(25),
]


def rgb(b=4, h=19, w=23, seed=0, uint8=False):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(b, 3, h, w, generator=g)
    masks = torch.randint(0, 6, (b, h, w), generator=g)
    return ((images * 255).round().to(torch.uint8) if uint8 else images), masks


def run(ops, images, masks, backend, device, out_dtype=torch.float32, seed=0, fill=0.25):
    aug = gpuaug.Compose(ops, fill=fill, out_dtype=out_dtype, backend=backend)
    params = aug.sample(images, torch.Generator().manual_seed(seed))
    out = aug.apply(images.to(device), masks.to(device), params.to(device))
    return out, reference.apply(images, masks, params), params


def assert_images_close(actual, expected):
    atol, rtol = DTYPE_TOLERANCE[expected.dtype]
    assert actual.dtype == expected.dtype
    torch.testing.assert_close(actual.cpu().float(), expected.float(), atol=atol, rtol=rtol)


@pytest.mark.parametrize("name", sorted(PIXEL_FACTORIES))
def test_each_pixel_op_matches_reference(name, backend, device):
    images, masks = rgb(uint8=True)
    (out_images, out_masks), (ref_images, ref_masks), _ = run(
        GEOMETRIC + [PIXEL_FACTORIES[name]()], images, masks, backend, device
    )
    assert torch.equal(out_masks.cpu(), ref_masks)
    assert_images_close(out_images, ref_images)


@given(
    names=st.lists(st.sampled_from(sorted(PIXEL_FACTORIES)), min_size=1, max_size=4),
    out_dtype=st.sampled_from([torch.float32, torch.bfloat16, torch.float16]),
    seed=st.integers(0, 2**31),
)
def test_pixel_chains_match_reference(backend, device, names, out_dtype, seed):
    images, masks = rgb(b=3, h=11, w=14, seed=seed % 97)
    ops = GEOMETRIC[:2] + [PIXEL_FACTORIES[n]() for n in names]
    (out_images, out_masks), (ref_images, ref_masks), _ = run(ops, images, masks, backend, device, out_dtype, seed)
    assert torch.equal(out_masks.cpu(), ref_masks)
    assert_images_close(out_images, ref_images)


@pytest.mark.parametrize("uint8", [True, False], ids=["uint8", "float"])
def test_channels_last_input_through_the_fused_path(backend, device, uint8):
    images, masks = rgb(b=2, uint8=uint8)
    images = images.contiguous(memory_format=torch.channels_last)
    assert not images.is_contiguous()  # a strided layout the kernels must not read as B×C×H×W
    ops = GEOMETRIC + [gpuaug.ColorJitter(0.4, 0.4, 0.4, 0.1), gpuaug.Normalize([0.4, 0.5, 0.6], [0.2, 0.3, 0.25])]
    (out_images, out_masks), (ref_images, ref_masks), _ = run(ops, images, masks, backend, device)
    assert torch.equal(out_masks.cpu(), ref_masks)
    assert_images_close(out_images, ref_images)


def test_brightness_two_is_clamped_double():
    images, masks = rgb()
    aug = gpuaug.Compose([gpuaug.ColorJitter(brightness=(2, 2))])
    assert torch.equal(aug(images), (2 * images).clamp(0, 1))


def test_normalize_exact():
    images, _ = rgb()
    mean, std = [0.1, 0.2, 0.3], [0.5, 0.25, 0.8]
    out = gpuaug.Compose([gpuaug.Normalize(mean, std)])(images)
    torch.testing.assert_close(out, (images - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1))


def test_fill_is_applied_before_normalize(backend, device):
    images, _ = rgb(h=8, w=8)
    ops = [gpuaug.CenterCrop(16), gpuaug.Normalize(0.5, 0.25)]
    out = gpuaug.Compose(ops, fill=0.9, backend=backend)(images.to(device)).cpu()
    # Rows 0-2 of the 16×16 output lie wholly above the 8×8 image: every tap reads fill.
    torch.testing.assert_close(out[:, :, :3], torch.full_like(out[:, :, :3], (0.9 - 0.5) / 0.25))


def test_constant_image_stays_constant_under_blur():
    images = torch.full((3, 3, 12, 15), 0.37)
    out = gpuaug.Compose([gpuaug.GaussianBlur(7, sigma=(0.5, 3.0), p=1.0)])(images)
    torch.testing.assert_close(out, images, atol=1e-6, rtol=0)


def test_blur_with_fixed_sigma_equals_kornia_reflect():
    images, _ = rgb()
    out = gpuaug.Compose([gpuaug.GaussianBlur((5, 3), sigma=1.3, p=1.0)])(images)
    expected = kornia.filters.gaussian_blur2d(images, (5, 3), (1.3, 1.3), border_type="reflect")
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (dict(brightness=(1.6, 1.6)), dict(brightness=(1.6, 1.6))),
        (dict(contrast=(0.4, 0.4)), dict(contrast=(0.4, 0.4))),
        (dict(saturation=(1.7, 1.7)), dict(saturation=(1.7, 1.7))),
        (dict(hue=(0.2, 0.2)), dict(hue=(0.2, 0.2))),
        (dict(hue=(-0.45, -0.45)), dict(hue=(-0.45, -0.45))),
    ],
)
def test_color_jitter_matches_kornia_color_jitter(ours, theirs, backend, device):
    images, _ = rgb()
    out = gpuaug.Compose([gpuaug.ColorJitter(**ours)], backend=backend)(images.to(device))
    expected = kornia.augmentation.ColorJitter(**theirs, p=1.0)(images)
    torch.testing.assert_close(out.cpu(), expected, atol=IMAGE_ATOL, rtol=0)


def test_per_sample_draws_differ_across_the_batch():
    images = torch.rand(1, 3, 8, 8).expand(16, 3, 8, 8)
    params = gpuaug.Compose([gpuaug.ColorJitter(0.4, 0.4, 0.4, 0.1), gpuaug.GaussianBlur(3)]).sample(images)
    for name in ("brightness", "contrast", "saturation", "hue"):
        assert len(torch.unique(params.ops[0].draws[name])) == 16
    assert len(torch.unique(params.ops[1].draws["sigma"])) == 16
    out = gpuaug.Compose([gpuaug.ColorJitter(0.4, 0.4, 0.4, 0.1)])(images)
    assert len({tuple(o.flatten()[:5].tolist()) for o in out}) == 16


def test_pixel_ops_never_touch_masks(backend, device):
    images, masks = (t.to(device) for t in rgb())
    ops = [gpuaug.ColorJitter(0.4, 0.4, 0.4, 0.1), gpuaug.GaussianNoise(p=1.0), gpuaug.Normalize(0.5, 0.5)]
    out_images, out_masks = gpuaug.Compose(ops, backend=backend)(images, masks)
    assert out_masks is masks  # bit-identical, and not even copied
    assert out_images.shape == images.shape


def test_uint8_to_bfloat16_close_to_float32_path(backend, device):
    images, masks = rgb(uint8=True)
    ops = GEOMETRIC + [gpuaug.ColorJitter(0.3, 0.3, 0.3, 0.05), gpuaug.Normalize(0.5, 0.25)]
    aug16 = gpuaug.Compose(ops, out_dtype=torch.bfloat16, backend=backend)
    aug32 = gpuaug.Compose(ops, backend=backend)
    low = aug16(images.to(device), generator=torch.Generator().manual_seed(1))
    full = aug32(images.to(device), generator=torch.Generator().manual_seed(1))
    assert low.dtype == torch.bfloat16 and full.dtype == torch.float32
    torch.testing.assert_close(low.float(), full, atol=2e-2, rtol=1e-2)


def test_params_with_pixel_ops_round_trip_and_replay():
    images, masks = rgb()
    ops = GEOMETRIC + [gpuaug.ColorJitter(0.4, 0.4, 0.4, 0.1), gpuaug.GaussianBlur(3), gpuaug.GaussianNoise(p=1.0)]
    aug = gpuaug.Compose(ops + [gpuaug.Normalize([0.4, 0.5, 0.6], 0.2)], out_dtype=torch.float16)
    params = aug.sample(images, torch.Generator().manual_seed(2))
    restored = gpuaug.Params.from_dict(json.loads(json.dumps(params.to_dict())))
    assert restored.out_dtype == torch.float16
    replay = gpuaug.Compose([]).apply(images, masks, restored)
    out = aug.apply(images, masks, params)
    assert torch.equal(replay[0], out[0]) and torch.equal(replay[1], out[1])
    text = params.describe(0)
    assert "ColorJitter: applied=" in text and "GaussianNoise:" in text and "seed=" in text


def test_fusion_plan():
    jitter, gray, noise = gpuaug.ColorJitter(0.1), gpuaug.RandomGrayscale(), gpuaug.GaussianNoise()
    norm, blur = gpuaug.Normalize(0.5, 0.5), gpuaug.GaussianBlur(3)
    plan = [(op, {}) for op in (jitter, gray, noise, norm)]
    assert fusion.fusable(plan, 3) == 4
    assert fusion.fusable(plan, 1) == 0
    assert fusion.fusable([(jitter, {}), (blur, {}), (norm, {})], 3) == 1
    assert fusion.fusable([(norm, {}), (jitter, {})], 3) == 1
    assert fusion.fusable([(blur, {}), (jitter, {})], 3) == 0


def test_hash_normal_is_standard_normal():
    z = hashing.normal(torch.tensor(12345), torch.arange(200_000))
    assert abs(z.mean().item()) < 0.01 and abs(z.std().item() - 1) < 0.01
    assert abs(((z > 1.96).float().mean() - 0.025).item()) < 0.003
    other = hashing.normal(torch.tensor(54321), torch.arange(200_000))
    assert abs(torch.corrcoef(torch.stack((z, other)))[0, 1].item()) < 0.01


def test_brightness_and_noise_work_on_any_channel_count():
    # Their bad-channel counterparts (grayscale, Normalize, a too-large blur) are in test_errors.py.
    gray_images = torch.rand(2, 1, 8, 8)
    out = gpuaug.Compose([gpuaug.ColorJitter(brightness=0.5), gpuaug.GaussianNoise(p=1.0)])(gray_images)
    assert out.shape == gray_images.shape


@pytest.mark.parametrize("backend", ["triton"])
@pytest.mark.parametrize("out_dtype", [torch.float32, torch.bfloat16])
def test_fused_triton_path_equals_torch_path(out_dtype, device):
    images, masks = rgb(uint8=True)
    ops = GEOMETRIC + [
        gpuaug.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.7),
        gpuaug.RandomGrayscale(0.4),
        gpuaug.GaussianNoise(p=0.6),
        gpuaug.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ]
    params = gpuaug.Compose(ops, out_dtype=out_dtype).sample(images, torch.Generator().manual_seed(5))
    fused = gpuaug.Compose(ops, backend="triton").apply(images.to(device), masks.to(device), params.to(device))
    plain = gpuaug.Compose(ops, backend="torch").apply(images, masks, params)
    assert torch.equal(fused[1].cpu(), plain[1])
    atol, rtol = DTYPE_TOLERANCE[out_dtype]
    torch.testing.assert_close(fused[0].cpu().float(), plain[0].float(), atol=atol, rtol=rtol)


@pytest.mark.parametrize("per_chunk", [1, 3])
def test_pixel_ops_chunk_by_chunk_on_the_cpu_equal_the_whole_batch(monkeypatch, per_chunk):
    """On the CPU the engine runs the pixel ops chunk by chunk of samples (engine.CHUNK_VALUES):
    every op, each chunk with its slice of the draws, gives the whole batch's values exactly,
    with chunks of two sizes; a composite's pixel children run whole."""
    images, masks = rgb(b=7, seed=3, uint8=True)
    chains = [
        [*GEOMETRIC, *(PIXEL_FACTORIES[name]() for name in sorted(PIXEL_FACTORIES))],
        [gpuaug.RandomHorizontalFlip(), gpuaug.OneOf([gpuaug.RandomGrayscale(p=1.0), gpuaug.ColorJitter(0.5, 0.5)])],
    ]
    for ops in chains:
        aug = gpuaug.Compose(ops, backend="torch")
        params = aug.sample(images, torch.Generator().manual_seed(5))
        monkeypatch.setattr(engine, "CHUNK_VALUES", 2**40)
        whole = aug.apply(images, masks, params)[0]
        monkeypatch.setattr(engine, "CHUNK_VALUES", per_chunk * whole[0].numel())
        chunked = aug.apply(images, masks, params)[0]
        assert torch.equal(chunked, whole)
        assert_images_close(chunked, reference.apply(images, masks, params)[0])


def test_pixel_chunks_on_the_cpu_are_even(monkeypatch):
    """The CPU's chunks are as few as engine.CHUNK_VALUES allows and of even sizes: 7 samples
    at up to 3 a chunk go as 2 + 2 + 3, not 3 + 3 + 1."""
    images, masks = rgb(b=7, seed=3, uint8=True)
    aug = gpuaug.Compose([gpuaug.RandomHorizontalFlip(), gpuaug.PhotoMetricDistortion()], backend="torch")
    params = aug.sample(images, torch.Generator().manual_seed(5))
    seen, apply = [], gpuaug.PhotoMetricDistortion.apply

    def spy(self, chunk, draws):
        seen.append(chunk.shape[0])
        return apply(self, chunk, draws)

    monkeypatch.setattr(gpuaug.PhotoMetricDistortion, "apply", spy)
    monkeypatch.setattr(engine, "CHUNK_VALUES", 3 * images[0].numel())
    aug.apply(images, masks, params)
    assert seen == [2, 2, 3]


def test_photometric_hsv_steps_of_some_samples_equal_each_sample_alone():
    """PhotoMetricDistortion eagerly on the CPU runs its HSV round trip on the samples that
    draw a saturation or hue step only: a batch where some do (one not applied at all, with
    a saturation drawn) gives each sample exactly its values alone, and leaves its input as
    it was."""
    op = gpuaug.PhotoMetricDistortion()
    images = torch.rand(5, 3, 6, 7, generator=torch.Generator().manual_seed(2))
    before = images.clone()
    draws = {
        "applied": torch.tensor([True, True, False, True, True]),
        "brightness": torch.tensor([0.05, 0.0, 0.1, 0.0, -0.05]),
        "contrast_first": torch.tensor([True, False, True, False, True]),
        "contrast": torch.tensor([1.2, 1.0, 0.8, 1.0, 0.9]),
        "saturation": torch.tensor([1.0, 1.4, 0.6, 1.0, 0.7]),
        "hue": torch.tensor([0.0, 0.0, 0.05, -0.04, 0.03]),
    }
    batch = op.apply(images, draws)
    for k in range(images.shape[0]):
        alone = op.apply(images[k : k + 1], {name: value[k : k + 1] for name, value in draws.items()})
        assert torch.equal(batch[k : k + 1], alone), k
    assert torch.equal(batch[2], images[2])  # not applied
    assert not torch.equal(batch[1], images[1]) and not torch.equal(batch[3], images[3])  # their HSV steps only
    assert torch.equal(images, before)
