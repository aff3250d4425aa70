"""PhotoMetricDistortion: each step's values, the coins, replay, fusion, and the torch path, the
fused kernel and the reference against each other."""

import dataclasses
import json

import pytest
import torch
from conftest import IMAGE_ATOL
from hypothesis import given
from hypothesis import strategies as st

import gpuaug
from gpuaug import fusion, reference
from gpuaug.engine import replay_op
from gpuaug.transforms import PixelOp

GEOMETRIC = [gpuaug.RandomResizedCrop((13, 17), scale=(0.3, 1.0)), gpuaug.RandomAffine(25)]
#: The draws of a sample whose every step is off.
NEUTRAL = dict(applied=True, brightness=0.0, contrast_first=True, contrast=1.0, saturation=1.0, hue=0.0)


def rgb(b=6, h=19, w=23, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = (torch.rand(b, 3, h, w, generator=g) * 255).round().to(torch.uint8)
    return images, torch.randint(0, 6, (b, h, w), generator=g)


def distort(images, backend, device, **draws):
    """``images`` (B×3×h×w float) through PhotoMetricDistortion with the given draws (one value for
    every sample, the rest neutral): (the backend's output, the reference's)."""
    aug = gpuaug.Compose([gpuaug.PhotoMetricDistortion()], backend=backend)
    params = aug.sample(images, seed=0)
    b = images.shape[0]
    values = {k: torch.full((b,), v, dtype=params.ops[0].draws[k].dtype) for k, v in (NEUTRAL | draws).items()}
    params = dataclasses.replace(params, ops=(dataclasses.replace(params.ops[0], draws=values),))
    return aug.apply(images.to(device), None, params.to(device)).cpu(), reference.apply(images, None, params)


def pixels(*values):
    """One 1×3×1×n image whose columns are the given RGB triples."""
    return torch.tensor(values, dtype=torch.float32).T.reshape(1, 3, 1, len(values))


def assert_both(result, expected, atol=1e-6):
    out, ref = result
    torch.testing.assert_close(out, expected, atol=atol, rtol=0)
    torch.testing.assert_close(ref, expected, atol=atol, rtol=0)


# Reference equality --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ops",
    [
        [gpuaug.PhotoMetricDistortion(p=0.8)],
        [gpuaug.PhotoMetricDistortion(0.3, (0.0, 2.5), (0.0, 3.0), 0.5), gpuaug.RandomGrayscale(0.3)],
        [gpuaug.PhotoMetricDistortion(), gpuaug.GaussianNoise(p=0.5), gpuaug.Normalize(0.5, 0.25)],
    ],
    ids=["alone", "wide-gray", "noise-normalize"],
)
def test_matches_reference_on_both_backends(ops, backend, device):
    images, masks = rgb(b=16)
    aug = gpuaug.Compose(GEOMETRIC + ops, fill=0.3, backend=backend)
    params = aug.sample(images, torch.Generator().manual_seed(3))
    pixel = [(replay_op(r), r.draws) for r in params.ops if r.has_pixel]
    assert fusion.fusable(pixel, 3) == len(pixel)  # on Triton the whole chain is the fused kernel
    out_images, out_masks = aug.apply(images.to(device), masks.to(device), params.to(device))
    ref_images, ref_masks = reference.apply(images, masks, params)
    assert torch.equal(out_masks.cpu(), ref_masks)
    torch.testing.assert_close(out_images.cpu(), ref_images, atol=IMAGE_ATOL, rtol=0)


@given(
    brightness=st.floats(0.0, 1.0),
    contrast=st.tuples(st.floats(0.0, 3.0), st.floats(0.0, 3.0)).map(sorted),
    saturation=st.tuples(st.floats(0.0, 3.0), st.floats(0.0, 3.0)).map(sorted),
    hue=st.floats(0.0, 0.5),
    p=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**31),
)
def test_random_settings_match_reference(backend, device, brightness, contrast, saturation, hue, p, seed):
    images, _ = rgb(b=8, h=9, w=12, seed=seed % 89)
    ops = GEOMETRIC[:1] + [gpuaug.PhotoMetricDistortion(brightness, contrast, saturation, hue, p)]
    params = gpuaug.Compose(ops).sample(images, seed=seed)
    out = gpuaug.Compose(ops, backend=backend).apply(images.to(device), None, params.to(device))
    torch.testing.assert_close(out.cpu(), reference.apply(images, None, params), atol=IMAGE_ATOL, rtol=0)


# Each step, on constructed inputs ------------------------------------------------------------


def test_brightness_adds_delta_and_clamps(backend, device):
    images = torch.rand(3, 3, 5, 7, generator=torch.Generator().manual_seed(0))
    for delta in (0.3, -0.3):
        assert_both(distort(images, backend, device, brightness=delta), (images + delta).clamp(0, 1))


@pytest.mark.parametrize("first", [True, False], ids=["first", "last"])
def test_contrast_scales_and_clamps(first, backend, device):
    images = torch.rand(3, 3, 5, 7, generator=torch.Generator().manual_seed(0))
    for alpha in (1.7, 0.4):
        out = distort(images, backend, device, contrast=alpha, contrast_first=first)
        assert_both(out, (images * alpha).clamp(0, 1))


def test_saturation_zero_gives_the_hsv_value_in_every_channel(backend, device):
    images = torch.rand(3, 3, 5, 7, generator=torch.Generator().manual_seed(0))
    value = images.amax(dim=1, keepdim=True).expand_as(images)  # V = max(R, G, B), not the luma
    assert_both(distort(images, backend, device, saturation=0.0), value)


def test_saturation_is_clamped_in_hsv(backend, device):
    # S = 0.75 → min(1.5, 1) = 1 keeps V = 0.8 and the hue: the minimum channel goes to 0 and
    # the middle one to V·(1 − f) = 0.8 / 3 (unclamped, S = 1.5 would make it 0 too).
    out = distort(pixels((0.2, 0.4, 0.8), (0.5, 0.5, 0.5)), backend, device, saturation=2.0)
    assert_both(out, pixels((0.0, 0.8 / 3, 0.8), (0.5, 0.5, 0.5)))


@pytest.mark.parametrize(("shift", "expected"), [(1 / 3, (0.0, 1.0, 0.0)), (-1 / 3, (0.0, 0.0, 1.0))])
def test_hue_rotates_pure_red(shift, expected, backend, device):
    out = distort(pixels((1.0, 0.0, 0.0), (0.3, 0.3, 0.3)), backend, device, hue=shift)
    assert_both(out, pixels(expected, (0.3, 0.3, 0.3)))


def test_saturation_and_hue_share_one_round_trip(backend, device):
    # Half a turn maps each channel c to max + min − c; S·0.5 then halves the distance to V.
    out = distort(pixels((0.8, 0.4, 0.2)), backend, device, hue=0.5, saturation=0.5)
    assert_both(out, pixels((0.5, 0.7, 0.8)), atol=1e-5)


@pytest.mark.parametrize(("first", "expected"), [(True, (0.4, 0.6, 1.0)), (False, (0.4, 1.0, 1.0))])
def test_contrast_before_or_after_the_hsv_steps(first, expected, backend, device):
    # first: (1, 0.8, 0.4), then half a hue turn; last: (0.2, 0.6, 0.8) from the turn, then ·2.
    out = distort(pixels((0.8, 0.4, 0.2)), backend, device, contrast=2.0, contrast_first=first, hue=0.5)
    assert_both(out, pixels(expected), atol=1e-5)


def test_brightness_comes_before_the_hsv_steps(backend, device):
    # (0.8, 0.5, 0.5) then S 0.375 → 0.75: (0.8, 0.2, 0.2); the other way (0.5, 0, 0) + 0.3 would be (0.8, 0.3, 0.3).
    out = distort(pixels((0.5, 0.2, 0.2)), backend, device, brightness=0.3, saturation=2.0)
    assert_both(out, pixels((0.8, 0.2, 0.2)), atol=1e-5)


def test_neutral_draws_leave_values_outside_the_unit_range(backend, device):
    images = torch.tensor([-0.5, 0.3, 1.5]).view(1, 3, 1, 1).expand(2, 3, 2, 2).contiguous()
    out, ref = distort(images, backend, device)
    assert torch.equal(out, images) and torch.equal(ref, images)


def test_p_zero_leaves_images_unchanged(backend, device):
    images, masks = rgb()
    images = images.float() / 255
    aug = gpuaug.Compose([gpuaug.PhotoMetricDistortion(p=0.0)], backend=backend)
    out_images, out_masks = aug(images.to(device), masks.to(device), seed=1)
    assert torch.equal(out_images.cpu(), images)
    assert torch.equal(out_masks.cpu(), masks)


def test_masks_are_untouched(backend, device):
    images, masks = (t.to(device) for t in rgb())
    out_images, out_masks = gpuaug.Compose([gpuaug.PhotoMetricDistortion()], backend=backend)(images, masks)
    assert out_masks is masks and out_images.shape == images.shape


# Draws ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("keyed", [False, True], ids=["generator", "seed"])
def test_coins_and_ranges_over_a_large_batch(keyed):
    op = gpuaug.PhotoMetricDistortion(0.2, (0.6, 1.4), (0.3, 1.8), 0.05, p=0.7)
    images = torch.zeros(20_000, 3, 1, 1)
    aug = gpuaug.Compose([op])
    params = aug.sample(images, seed=11) if keyed else aug.sample(images, torch.Generator().manual_seed(11))
    draws = params.ops[0].draws
    applied = draws["applied"]
    assert abs(applied.float().mean().item() - 0.7) < 0.02
    assert abs(draws["contrast_first"].float().mean().item() - 0.5) < 0.02
    for name, neutral, (low, high) in [
        ("brightness", 0.0, (-0.2, 0.2)),
        ("contrast", 1.0, (0.6, 1.4)),
        ("saturation", 1.0, (0.3, 1.8)),
        ("hue", 0.0, (-0.05, 0.05)),
    ]:
        values = draws[name]
        on = values != neutral
        assert not on[~applied].any(), name  # neutral wherever the op is not applied
        assert abs(on[applied].float().mean().item() - 0.5) < 0.02, name  # each step's own fair coin
        assert low <= values[on].min().item() and values[on].max().item() < high, name
        assert abs(values[on].mean().item() - (low + high) / 2) < 0.02 * (high - low), name
    coins = torch.stack([draws[n] != v for n, v in (("brightness", 0.0), ("contrast", 1.0), ("hue", 0.0))])
    assert abs(torch.corrcoef(coins[:, applied].float())[0, 1:].abs().max().item()) < 0.05  # independent coins


def test_keyed_draws_do_not_depend_on_the_batch():
    images = torch.zeros(8, 3, 4, 4)
    aug = gpuaug.Compose([gpuaug.PhotoMetricDistortion()])
    whole = aug.sample(images, seed=4, sample_ids=torch.arange(8)).ops[0].draws
    part = aug.sample(images[:3], seed=4, sample_ids=torch.tensor([5, 6, 7])).ops[0].draws
    for name, values in whole.items():
        assert torch.equal(values[5:], part[name]), name


def test_params_replay_through_to_dict(backend, device):
    images, masks = rgb()
    aug = gpuaug.Compose(GEOMETRIC + [gpuaug.PhotoMetricDistortion(p=0.8), gpuaug.Normalize(0.4, 0.2)])
    params = aug.sample(images, torch.Generator().manual_seed(9))
    restored = gpuaug.Params.from_dict(json.loads(json.dumps(params.to_dict())))
    replay = gpuaug.Compose([], backend=backend).apply(images.to(device), masks.to(device), restored.to(device))
    out = gpuaug.Compose([], backend=backend).apply(images.to(device), masks.to(device), params.to(device))
    assert torch.equal(replay[0], out[0]) and torch.equal(replay[1], out[1])
    assert "PhotoMetricDistortion: applied=" in params.describe(0) and "contrast_first=" in params.describe(0)


def test_config_round_trips():
    op = gpuaug.PhotoMetricDistortion(0.1, (0.7, 1.2), (0.0, 2.0), 0.25, p=0.4)
    config = json.loads(json.dumps(op.config()))
    assert config == dict(
        brightness_delta=0.1, contrast_range=[0.7, 1.2], saturation_range=[0.0, 2.0], hue_delta=0.25, p=0.4
    )
    again = PixelOp.from_config("PhotoMetricDistortion", config)
    assert type(again) is gpuaug.PhotoMetricDistortion and again.config() == op.config()
    assert gpuaug.PhotoMetricDistortion().config() == dict(
        brightness_delta=32 / 255, contrast_range=[0.5, 1.5], saturation_range=[0.5, 1.5], hue_delta=0.1, p=1.0
    )


# Fusion --------------------------------------------------------------------------------------


def test_fusion_runs_one_of_colorjitter_and_photometric():
    jitter, photometric = gpuaug.ColorJitter(0.2), gpuaug.PhotoMetricDistortion()
    gray, noise, norm = gpuaug.RandomGrayscale(), gpuaug.GaussianNoise(), gpuaug.Normalize(0.5, 0.5)
    assert fusion.fusable([(op, {}) for op in (photometric, gray, noise, norm)], 3) == 4
    assert fusion.fusable([(op, {}) for op in (jitter, photometric, norm)], 3) == 1
    assert fusion.fusable([(op, {}) for op in (photometric, jitter)], 3) == 1
    assert fusion.fusable([(op, {}) for op in (gray, photometric)], 3) == 1


@pytest.mark.parametrize(
    "ops",
    [
        [gpuaug.RandomApply([gpuaug.PhotoMetricDistortion(p=0.9), gpuaug.RandomGrayscale(p=0.5)], p=0.6)],
        [gpuaug.OneOf([gpuaug.ColorJitter(0.4, 0.4, 0.4, 0.1), gpuaug.PhotoMetricDistortion()])],
        [gpuaug.ColorJitter(0.3, 0.3), gpuaug.PhotoMetricDistortion(), gpuaug.Normalize(0.5, 0.25)],
    ],
    ids=["randomapply-fused", "oneof-with-jitter", "after-jitter"],
)
def test_composites_and_mixes_match_reference(ops, backend, device):
    images, _ = rgb(b=16, h=9, w=14)
    aug = gpuaug.Compose([gpuaug.RandomAffine(20), *ops], fill=0.2, backend=backend)
    params = aug.sample(images, seed=5)
    out = aug.apply(images.to(device), None, params.to(device))
    torch.testing.assert_close(out.cpu(), reference.apply(images, None, params), atol=IMAGE_ATOL, rtol=0)


def test_a_sample_not_applied_is_unchanged_whatever_its_values(backend, device):
    # As a composite's selection leaves the record: applied False, the drawn values kept.
    images = torch.rand(2, 3, 5, 7, generator=torch.Generator().manual_seed(0))
    values = dict(brightness=0.3, contrast=1.7, saturation=0.2, hue=0.25)
    assert_both(distort(images, backend, device, applied=False, **values), images, atol=0)
