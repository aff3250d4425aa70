"""Volumes (B×C×D×H×W) on the same engine: the ops' matrices, labels exact against the
reference on every backend, the coordinate probe in 3D, foreground-centred patches, the
intensity ops, replay and the errors."""

import json

import pytest
import torch
from conftest import BACKENDS, IMAGE_ATOL
from hypothesis import given
from hypothesis import strategies as st

import gpuaug
from gpuaug import backends, inductor, reference
from gpuaug.functional import warp_volumes

FILL = -1000.0
IGNORE = 255


def probe(b=2, d=6, h=7, w=8):
    """Volumes whose three channels hold each voxel centre's (x, y, z), and labels that
    encode the voxel, (z·H + y)·W + x."""
    z, y, x = torch.meshgrid(*(torch.arange(n, dtype=torch.float32) + 0.5 for n in (d, h, w)), indexing="ij")
    volumes = torch.stack((x, y, z)).expand(b, 3, d, h, w).contiguous()
    labels = torch.arange(d * h * w, dtype=torch.int64).view(1, d, h, w).expand(b, d, h, w).contiguous()
    return volumes, labels


def spatial_chain(crop=(5, 6, 7)):
    return [
        gpuaug.RandomAffine3D(30, translate=0.1, scale=(0.7, 1.4)),
        gpuaug.RandomCrop3D(crop, pad_if_needed=True),
        gpuaug.RandomFlip3D(),
    ]


def run(ops, backend, volumes, labels, seed=0, **settings):
    aug = gpuaug.Compose(ops, backend=backend, **settings)
    params = aug.sample(volumes, torch.Generator().manual_seed(seed), masks=labels)
    return aug, params, aug.apply(volumes, labels, params)


@pytest.mark.parametrize("backend", [*BACKENDS, "inductor"])  # inductor runs volumes on the torch path
def test_probe_labels_and_intensities_agree_and_outside_is_ignore(backend):
    volumes, labels = probe()
    _, params, (out, masks) = run(spatial_chain(), backend, volumes, labels, fill=FILL, ignore_index=-1)
    d, h, w = volumes.shape[-3:]
    labelled = masks != -1
    assert labelled.any() and (~labelled).any()
    voxel = torch.stack((masks % w, masks // w % h, masks // (h * w)), 1).float() + 0.5  # (x, y, z) centres
    gap = (voxel - out).abs().amax(1)[labelled]
    assert gap.max() <= 0.5
    outside = out[:, 0] == FILL
    assert torch.equal(outside, ~labelled)  # no outside voxel labelled, no inside one ignored
    assert not torch.equal(params.matrix[0], params.matrix[1])  # per-sample params


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int64])
@pytest.mark.parametrize("layout", ["BDHW", "B1DHW"])
def test_labels_keep_dtype_and_layout_and_equal_the_reference(backend, dtype, layout):
    volumes = torch.randn(2, 2, 7, 8, 9)
    labels = torch.randint(0, 5, (2, 7, 8, 9)).to(dtype)
    labels = labels.unsqueeze(1) if layout == "B1DHW" else labels
    _, params, (out, masks) = run(spatial_chain(), backend, volumes, labels, fill=0.25, ignore_index=IGNORE)
    assert masks.dtype == dtype and masks.shape == labels.shape[:-3] + (5, 6, 7)
    want_images, want_masks = reference.apply(volumes, labels, params)
    assert torch.equal(masks, want_masks)
    torch.testing.assert_close(out, want_images, atol=IMAGE_ATOL, rtol=0)


@given(
    size=st.tuples(st.integers(1, 7), st.integers(1, 7), st.integers(1, 7)),
    crop=st.tuples(st.integers(1, 8), st.integers(1, 8), st.integers(1, 8)),
    padding=st.sampled_from(["constant", "replicate", "reflect"]),
    dtype=st.sampled_from([torch.float32, torch.int16, torch.uint8]),
    seed=st.integers(0, 2**16),
)
def test_every_backend_equals_the_reference(size, crop, padding, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    volumes = (torch.rand((3, 2, *size), generator=g) * 200).to(dtype)
    labels = torch.randint(-3, 9, (3, *size), generator=g, dtype=torch.int64)
    ops = [*spatial_chain(crop), gpuaug.RandomContrast(p=0.5)]
    mask_padding = "same" if padding != "constant" and seed % 2 else "ignore"
    settings = dict(padding_mode=padding, mask_padding=mask_padding, ignore_index=-1, fill=3.0)
    params = gpuaug.Compose(ops, **settings).sample(volumes, g, masks=labels)
    want_images, want_masks = reference.apply(volumes, labels, params)
    for backend in BACKENDS:
        out, masks = gpuaug.Compose(ops, backend=backend, **settings).apply(volumes, labels, params)
        assert torch.equal(masks, want_masks), backend
        torch.testing.assert_close(out, want_images, atol=IMAGE_ATOL * 200, rtol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_flips_crops_and_resizes_move_voxels_exactly(backend):
    volumes, labels = probe(b=1)
    flips = {"flip_d": torch.tensor([True]), "flip_h": torch.tensor([False]), "flip_w": torch.tensor([True])}
    aug = gpuaug.Compose([gpuaug.RandomFlip3D(p=1.0)], backend=backend)
    params = aug.sample(volumes, torch.Generator().manual_seed(0), masks=labels)
    assert all(bool(v) for v in params.ops[0].draws.values())
    _, masks = aug(volumes, labels, torch.Generator().manual_seed(0))
    assert torch.equal(masks, labels.flip(1, 2, 3))
    assert gpuaug.RandomFlip3D(axes=(0, 2)).sample(gpuaug.transforms.base.Draw(1, "cpu"), (6, 7, 8)).draws.keys() == (
        flips.keys()
    )
    crop = gpuaug.Compose([gpuaug.RandomCrop3D((3, 4, 5))], backend=backend)
    params = crop.sample(volumes, torch.Generator().manual_seed(1))
    c = [int(params.ops[0].draws[f"corner_{a}"][0]) for a in "dhw"]
    _, masks = crop.apply(volumes, labels, params)
    assert torch.equal(masks, labels[:, c[0] : c[0] + 3, c[1] : c[1] + 4, c[2] : c[2] + 5])
    _, masks = gpuaug.Compose([gpuaug.Resize3D((3, 7, 4))], backend=backend)(volumes, labels)
    assert torch.equal(masks, labels[:, 1::2, :, 1::2])  # voxel centres: source 2·(j + 0.5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_quarter_turn_about_each_axis(backend):
    """90° about D turns each H×W slice counter-clockwise as displayed (as 2D's RandomAffine);
    about H the (z, x) plane, about W the (y, z) plane, by the same rule."""
    volumes, labels = probe(b=1, d=5, h=5, w=5)
    expected = {0: labels.rot90(1, (2, 3)), 1: labels.rot90(1, (3, 1)), 2: labels.rot90(1, (1, 2))}
    for axis, want in expected.items():
        degrees = [(0.0, 0.0)] * 3
        degrees[axis] = (90.0, 90.0)
        _, masks = gpuaug.Compose([gpuaug.RandomAffine3D(degrees)], backend=backend)(volumes, labels)
        assert torch.equal(masks, want), axis
    image = torch.zeros(1, 1, 1, 5, 5)
    image[0, 0, 0, 1, 3] = 1.0  # upper right
    turned = gpuaug.Compose([gpuaug.RandomAffine3D([(90, 90), (0, 0), (0, 0)])], backend=backend)(image)
    assert turned[0, 0, 0, 1, 1] == 1.0  # upper left: counter-clockwise


def test_scale_above_one_magnifies_and_translation_is_continuous():
    draw = gpuaug.transforms.base.Draw(1, torch.device("cpu"))
    step = gpuaug.RandomAffine3D(0, scale=[(2, 2), (1, 1), (0.5, 0.5)], translate=(0.1, 0, 0)).sample(draw, (10, 8, 6))
    m = step.matrix[0]
    assert m[0, 0] == 2.0 and m[1, 1] == 1.0 and m[2, 2] == 0.5  # source step = 1 / scale, x along W
    shift = float(step.draws["translate_d"][0])
    assert abs(shift) <= 1.0 and shift != round(shift)
    assert torch.isclose(m[2, 3], torch.tensor(5.0 - 0.5 * (5.0 + shift), dtype=torch.float64))


@pytest.mark.parametrize("backend", BACKENDS)
def test_foreground_patches_centre_on_a_foreground_voxel(backend):
    labels = torch.zeros(4, 9, 10, 11, dtype=torch.int64)
    labels[0, 4, 5, 6] = 3  # room on every side: the patch centre is exactly that voxel
    labels[1, 0, 9, 10] = 1  # at a corner: the patch is clamped into the volume
    labels[2, 4, 4, 4] = IGNORE  # ignore is not foreground: a random patch
    volumes = torch.randn(4, 1, 9, 10, 11)
    aug = gpuaug.Compose([gpuaug.RandomCrop3D((5, 4, 3), foreground_p=1.0)], backend=backend)
    params = aug.sample(volumes, torch.Generator().manual_seed(0), masks=labels)
    draws = params.ops[0].draws
    corner = torch.stack([draws[f"corner_{a}"] for a in "dhw"], 1).long()
    assert draws["foreground"].tolist() == [True, True, False, False]
    assert corner[0].tolist() == [4 - 2, 5 - 2, 6 - 1]
    assert corner[1].tolist() == [0, 10 - 4, 11 - 3]
    _, masks = aug.apply(volumes, labels, params)
    assert masks[0, 2, 2, 1] == 3 and (masks[1] == 1).sum() == 1


def test_foreground_follows_the_chain_and_falls_back_without_it():
    """The foreground is read through the chain before the crop (here a flip of every axis),
    and ``foreground_p=0`` draws the same random patch, without needing masks."""
    labels = torch.zeros(1, 8, 8, 8, dtype=torch.int64)
    labels[0, 1, 1, 1] = 2
    volumes = torch.randn(1, 1, 8, 8, 8)
    ops = [gpuaug.RandomFlip3D(p=1.0), gpuaug.RandomCrop3D(3, foreground_p=1.0)]
    params = gpuaug.Compose(ops).sample(volumes, torch.Generator().manual_seed(0), masks=labels)
    draws = params.ops[1].draws
    assert [int(draws[f"corner_{a}"]) for a in "dhw"] == [6 - 1] * 3
    plain = gpuaug.Compose([ops[0], gpuaug.RandomCrop3D(3)]).sample(volumes, torch.Generator().manual_seed(0))
    with_coin = gpuaug.Compose([ops[0], gpuaug.RandomCrop3D(3, foreground_p=1e-9)])
    coin = with_coin.sample(volumes, torch.Generator().manual_seed(0), masks=labels)
    assert torch.equal(plain.matrix, coin.matrix)  # same draws, the coin failed


def test_keyed_draws_do_not_depend_on_the_batch():
    volumes = torch.randn(4, 1, 6, 6, 6)
    aug = gpuaug.Compose(spatial_chain((4, 4, 4)))
    whole = aug.sample(volumes, seed=7, sample_ids=[10, 11, 12, 13])
    part = aug.sample(volumes[2:], seed=7, sample_ids=[12, 13])
    assert torch.equal(whole.matrix[2:], part.matrix)


@pytest.mark.parametrize("backend", BACKENDS)
def test_params_replay_from_json(backend):
    volumes, labels = probe()
    aug, params, (out, masks) = run([*spatial_chain(), gpuaug.RandomGamma(p=1.0)], backend, volumes, labels)
    back = gpuaug.Params.from_dict(json.loads(json.dumps(params.to_dict())))
    assert back.matrix.shape == (2, 4, 4)
    again, again_masks = aug.apply(volumes, labels, back)
    assert torch.equal(again_masks, masks) and torch.equal(again, out)
    text = params.describe(1)
    assert "6x7x8 -> 5x6x7" in text and "RandomAffine3D: applied=yes, angle_d=" in text


def test_intensity_ops_follow_their_formulas():
    g = torch.Generator().manual_seed(0)
    volumes = torch.rand(3, 2, 4, 5, 6, generator=g) * 400 - 100  # unscaled, as CT
    for op, draw in (
        (gpuaug.RandomGamma(p=1.0), "gamma"),
        (gpuaug.RandomGamma(p=1.0, invert=True), "gamma"),
        (gpuaug.RandomMultiplicativeBrightness(p=1.0), "factor"),
        (gpuaug.RandomContrast(p=1.0), "factor"),
    ):
        aug = gpuaug.Compose([op])
        params = aug.sample(volumes, g)
        out = aug.apply(volumes, None, params)
        value = params.ops[0].draws[draw].view(-1, 1, 1, 1, 1).double()
        x, flat = volumes.double(), volumes.double().flatten(1)
        low, high = flat.amin(1).view(-1, 1, 1, 1, 1), flat.amax(1).view(-1, 1, 1, 1, 1)
        if draw == "gamma" and op.invert:
            want = -(((-x + high) / (high - low + 1e-7)) ** value * (high - low + 1e-7) - high)
        elif draw == "gamma":
            want = ((x - low) / (high - low + 1e-7)) ** value * (high - low + 1e-7) + low
        elif isinstance(op, gpuaug.RandomContrast):
            mean = flat.mean(1).view(-1, 1, 1, 1, 1)
            want = ((x - mean) * value + mean).clamp(low, high)
        else:
            want = x * value
        torch.testing.assert_close(out.double(), want, atol=1e-3, rtol=1e-5)
        torch.testing.assert_close(out, reference.apply(volumes, None, params), atol=1e-3, rtol=1e-5)


def test_intensities_are_read_unscaled_and_noise_is_not_clipped():
    volumes = torch.full((2, 1, 3, 3, 3), 200, dtype=torch.uint8)
    ct = torch.full((2, 1, 3, 3, 3), -700, dtype=torch.int16)
    aug = gpuaug.Compose([gpuaug.RandomFlip3D(), gpuaug.Normalize(100.0, 50.0)])
    torch.testing.assert_close(aug(volumes), torch.full((2, 1, 3, 3, 3), 2.0))
    torch.testing.assert_close(aug(ct), torch.full((2, 1, 3, 3, 3), -16.0))
    noise = gpuaug.Compose([gpuaug.GaussianNoise(std=5.0, p=1.0)])
    params = noise.sample(torch.zeros(1, 1, 4, 4, 4), seed=1)
    noisy = noise.apply(torch.zeros(1, 1, 4, 4, 4), None, params)
    assert noisy.min() < 0 and noisy.max() > 1
    torch.testing.assert_close(reference.apply(torch.zeros(1, 1, 4, 4, 4), None, params), noisy)


def test_inputs_are_not_modified():
    volumes, labels = probe()
    before = volumes.clone(), labels.clone()
    gpuaug.Compose([*spatial_chain(), gpuaug.RandomContrast(p=1.0)])(volumes, labels)
    assert torch.equal(volumes, before[0]) and torch.equal(labels, before[1])


VOLUMES, LABELS = probe(b=2)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda: gpuaug.Compose([gpuaug.RandomAffine3D(10), gpuaug.RandomHorizontalFlip()]),
            ValueError,
            r"ops\[1\]: RandomHorizontalFlip takes 2D images .* but ops\[0\] RandomAffine3D takes volumes",
        ),
        (
            lambda: gpuaug.Compose([gpuaug.RandomFlip3D()])(torch.rand(2, 3, 8, 8)),
            ValueError,
            r"ops\[0\]: RandomFlip3D takes volumes B×C×D×H×W \(or a list of C×D×H×W\), "
            r"got images of shape \(2, 3, 8, 8\)",
        ),
        (
            lambda: gpuaug.Compose([gpuaug.RandomHorizontalFlip()])(VOLUMES),
            ValueError,
            r"ops\[0\]: RandomHorizontalFlip takes images B×C×H×W .*, got images of shape \(2, 3, 6, 7, 8\)",
        ),
        (
            lambda: gpuaug.Compose([gpuaug.RandomFlip3D()])([torch.rand(3, 8, 8)]),
            ValueError,
            r"ops\[0\]: RandomFlip3D takes .* got images of a list of samples of shape \(3, 8, 8\)",
        ),
        (
            lambda: gpuaug.Compose([gpuaug.RandomFlip3D(), gpuaug.ColorJitter(0.1)]),
            ValueError,
            r"ops\[1\]: ColorJitter takes 2D images",
        ),
        (lambda: gpuaug.Compose([gpuaug.RandomFlip3D()], antialias=True), ValueError, r"antialias: .*volume"),
        (lambda: gpuaug.Resize3D((4, 4)), TypeError, r"size: expected an int or a \(depth, height, width\) triple"),
        (lambda: gpuaug.RandomCrop3D((4, 0, 4)), ValueError, r"size: expected positive ints"),
        (lambda: gpuaug.RandomCrop3D(4, foreground_p=1.5), ValueError, r"foreground_p: expected a probability"),
        (lambda: gpuaug.RandomCrop3D(4, foreground_p=-0.1), ValueError, r"foreground_p: expected a probability"),
        (lambda: gpuaug.RandomFlip3D(axes=(0, 3)), ValueError, r"axes: expected distinct axis indices"),
        (lambda: gpuaug.RandomAffine3D([(0, 1), (0, 1)]), TypeError, r"degrees: expected"),
        (lambda: gpuaug.RandomAffine3D(10, translate=(0.1, 2.0, 0)), ValueError, r"translate: expected fractions"),
        (lambda: gpuaug.RandomGamma(gamma=(0, 1)), ValueError, r"gamma: expected positive values"),
        (
            lambda: gpuaug.Compose([gpuaug.RandomCrop3D(9)])(VOLUMES),
            ValueError,
            r"size: RandomCrop3D's patch 9×9×9 is larger than its input canvas 6×7×8; pass pad_if_needed=True",
        ),
        (
            lambda: gpuaug.Compose([gpuaug.RandomCrop3D(4, foreground_p=0.5)])(VOLUMES),
            ValueError,
            r"masks: RandomCrop3D\(foreground_p=0.5\) .* needs the masks",
        ),
        (
            lambda: gpuaug.Compose([gpuaug.RandomFlip3D()])(VOLUMES, LABELS[:, :5]),
            ValueError,
            r"masks: spatial size \(5, 7, 8\) does not match images spatial size \(6, 7, 8\)",
        ),
        (
            lambda: gpuaug.Compose([gpuaug.RandomFlip3D()])(VOLUMES, LABELS[:1]),
            ValueError,
            r"masks: batch size 1 does not match",
        ),
        (
            lambda: gpuaug.Compose([gpuaug.RandomFlip3D()])(VOLUMES, LABELS.float()),
            TypeError,
            r"masks: expected an integer label dtype",
        ),
        (
            lambda: gpuaug.Compose([gpuaug.RandomFlip3D()])(VOLUMES.to(torch.int32)),
            TypeError,
            r"images: expected dtype uint8, int16, .* for volumes, got torch.int32",
        ),
        (
            lambda: gpuaug.Compose([gpuaug.RandomFlip3D()], ignore_index=-1)(VOLUMES, LABELS.to(torch.uint8)),
            ValueError,
            r"ignore_index: -1 cannot be stored in mask dtype torch.uint8",
        ),
        (
            lambda: gpuaug.Compose([gpuaug.RandomFlip3D()]).apply(
                VOLUMES, LABELS, gpuaug.Compose([gpuaug.RandomHorizontalFlip()]).sample(torch.rand(2, 3, 7, 8))
            ),
            ValueError,
            r"params: sampled for 2D images \(B×C×H×W\), got volumes",
        ),
        (
            lambda: gpuaug.Compose([gpuaug.RandomFlip3D()], padding_mode="reflect", mask_padding="ignore")(
                VOLUMES, LABELS.unsqueeze(2)
            ),
            ValueError,
            r"masks: expected B×D×H×W or B×1×D×H×W label volumes",
        ),
    ],
)
def test_bad_volume_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_the_normalize_guard_is_for_2d_images_only():
    gpuaug.Compose([gpuaug.RandomFlip3D(), gpuaug.Normalize(-200.0, 400.0)])(VOLUMES)
    gpuaug.Compose([gpuaug.Normalize(-200.0, 400.0)])(VOLUMES)
    with pytest.raises(ValueError, match=r"ops\[0\]: mean, std: gpuaug works on images in \[0, 1\]"):
        gpuaug.Compose([gpuaug.Normalize(200.0, 400.0)])(torch.rand(1, 3, 4, 4))


@pytest.mark.parametrize("backend", BACKENDS)
def test_invert_brings_labels_and_maps_back(backend):
    volumes, labels = probe()
    aug = gpuaug.Compose([gpuaug.RandomFlip3D(), gpuaug.RandomCrop3D((4, 5, 6))], backend=backend, ignore_index=-1)
    params = aug.sample(volumes, torch.Generator().manual_seed(3))
    out, masks = aug.apply(volumes, labels, params)
    back, valid = aug.invert(masks, params, return_valid=True)
    assert back.shape == labels.shape and valid.shape == labels.shape and valid.sum() == 2 * 4 * 5 * 6
    assert torch.equal(back[valid], labels[valid]) and (back[~valid] == -1).all()
    maps = aug.invert(out, params, fill=-5.0)
    torch.testing.assert_close(maps[:, :, valid[0]][0], volumes[:, :, valid[0]][0])
    assert (maps[0][:, ~valid[0]] == -5.0).all()
    half = aug.invert(masks, params, out_size=(3, 7, 4))  # another frame size: the source frame rescaled
    assert half.shape == (2, 3, 7, 4)
    with pytest.raises(ValueError, match=r"predictions: expected 2 maps of the augmented size \(4, 5, 6\)"):
        aug.invert(masks[:, :3], params)


SIZES = [(9, 10, 11), (7, 12, 8), (5, 6, 7)]


def listed(seed=0, dtype=torch.int64, layout=()):
    g = torch.Generator().manual_seed(seed)
    volumes = [torch.randn(2, *s, generator=g) * 100 for s in SIZES]
    labels = [torch.randint(0, 5, (*layout, *s), generator=g).to(dtype) for s in SIZES]
    return volumes, labels


def padded(volumes, labels):
    """The same samples in one stack padded with NaN and label 77, which must never be read."""
    shape = [max(s[k] for s in SIZES) for k in range(3)]
    images = torch.full((len(SIZES), 2, *shape), float("nan"))
    masks = torch.full((len(SIZES), *labels[0].shape[:-3], *shape), 77, dtype=labels[0].dtype)
    for k, (d, h, w) in enumerate(SIZES):
        images[k, :, :d, :h, :w] = volumes[k]
        masks[k, ..., :d, :h, :w] = labels[k]
    return images, masks


@pytest.mark.parametrize("padding", ["constant", "reflect"])
@pytest.mark.parametrize("layout", [(), (1,)])
def test_lists_and_padded_batches_equal_the_reference_on_every_backend(padding, layout):
    volumes, labels = listed(layout=layout, dtype=torch.int16)
    ops = [*spatial_chain((6, 7, 8)), gpuaug.RandomContrast(p=0.5)]
    ops[1] = gpuaug.RandomCrop3D((6, 7, 8), pad_if_needed=True, foreground_p=0.5)
    settings = dict(padding_mode=padding, mask_padding="same" if padding == "reflect" else "ignore", fill=2.0)
    params = gpuaug.Compose(ops, **settings).sample(volumes, torch.Generator().manual_seed(5), masks=labels)
    assert params.in_size is None and params.in_sizes.tolist() == [list(s) for s in SIZES]
    want_images, want_masks = reference.apply(volumes, labels, params)
    assert want_masks.shape == (3, *layout, 6, 7, 8) and want_masks.dtype == torch.int16
    stack, stack_masks = padded(volumes, labels)
    for backend in BACKENDS:
        aug = gpuaug.Compose(ops, backend=backend, **settings)
        for source, source_masks, sizes in ((volumes, labels, None), (stack, stack_masks, SIZES)):
            out, masks = aug.apply(source, source_masks, params, sizes=sizes)
            assert torch.equal(masks, want_masks) and not (masks == 77).any(), backend
            assert not out.isnan().any()
            torch.testing.assert_close(out, want_images, atol=1e-3, rtol=1e-5)
    assert torch.equal(reference.apply(stack, stack_masks, params, sizes=SIZES)[1], want_masks)


def test_foreground_patches_of_a_list_centre_in_their_own_sample():
    volumes, _ = listed()
    labels = [torch.zeros(s, dtype=torch.int64) for s in SIZES]
    for k, (d, h, w) in enumerate(SIZES):
        labels[k][d - 1, h - 1, w - 1] = k + 1  # the far corner of each sample, inside the stack's padding elsewhere
    aug = gpuaug.Compose([gpuaug.RandomCrop3D(3, pad_if_needed=True, foreground_p=1.0)], ignore_index=-1)
    params = aug.sample(volumes, torch.Generator().manual_seed(0), masks=labels)
    draws = params.ops[0].draws
    corner = torch.stack([draws[f"corner_{a}"] for a in "dhw"], 1).long().tolist()
    assert draws["foreground"].all() and corner == [[d - 3, h - 3, w - 3] for d, h, w in SIZES]
    _, masks = aug.apply(volumes, labels, params)
    assert [int(m[2, 2, 2]) for m in masks] == [1, 2, 3]


def test_a_list_needs_a_fixed_size_op_and_inverts_to_each_sample():
    volumes, labels = listed()
    with pytest.raises(
        ValueError, match=r"ops\[0\]: RandomFlip3D leaves each sample a size of its own; .*RandomCrop3D"
    ):
        gpuaug.Compose([gpuaug.RandomFlip3D()])(volumes, labels)
    aug = gpuaug.Compose([gpuaug.RandomFlip3D(), gpuaug.RandomCrop3D((4, 5, 6))], ignore_index=-1)
    params = aug.sample(volumes, torch.Generator().manual_seed(2))
    _, masks = aug.apply(volumes, labels, params)
    back, valid = aug.invert(masks, params, return_valid=True)
    assert [tuple(t.shape) for t in back] == SIZES and [int(v.sum()) for v in valid] == [4 * 5 * 6] * 3
    assert all(torch.equal(b[v], m[v]) for b, v, m in zip(back, valid, labels, strict=True))
    with pytest.raises(ValueError, match=r"sizes: expected 3 \(d, h, w\) triples \(B×3, one per sample\)"):
        aug(padded(volumes, labels)[0], sizes=[(9, 10)] * 3)
    with pytest.raises(ValueError, match=r"sizes: sample 0's valid size 10×10×11 must be at least 1×1×1 and fit"):
        aug(padded(volumes, labels)[0], sizes=[(10, 10, 11), *SIZES[1:]])
    with pytest.raises(ValueError, match=r"masks\[1\]: spatial size \(7, 12, 9\) does not match images\[1\]'s"):
        aug(volumes, [labels[0], torch.zeros(7, 12, 9, dtype=torch.int64), labels[2]])
    with pytest.raises(ValueError, match=r"images\[1\]: every volume must have images\[0\]'s channels"):
        aug([volumes[0], volumes[1][:1], volumes[2]])


def test_offsets_past_2_to_the_31_are_int64():
    """A 1300³ volume has 2.2e9 voxels: its far corner lies past int32. The source is allocated
    but never written except that voxel (its pages are never touched), and the warp reads only
    there, so the test costs no memory; int32 offsets would wrap and read elsewhere."""
    side = 1300
    assert side**3 > 2**31
    labels = torch.empty((1, side, side, side), dtype=torch.uint8)
    volumes = torch.empty((1, 1, side, side, side), dtype=torch.uint8)
    labels[0, -1, -1, -1], volumes[0, 0, -1, -1, -1] = 7, 9
    matrix = torch.eye(4).unsqueeze(0)
    matrix[0, :3, 3] = side - 1.0  # output voxel (0, 0, 0) reads source voxel (side − 1,) * 3
    out, masks = warp_volumes(volumes, labels, matrix, (1, 1, 1), (0.0,), 255, "triton")
    assert masks.item() == 7 and out.item() == 9.0
    assert warp_volumes(None, labels, matrix, (1, 1, 1), (0.0,), 255, "torch")[1].item() == 7


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_non_finite_matrix_reads_nothing(backend):
    """A sample whose matrix is NaN or infinite (a params file gone wrong) is all fill and
    ignore, in every padding mode, and the other samples are untouched."""
    volumes, labels = probe(b=3)
    matrix = torch.eye(4).repeat(3, 1, 1)
    matrix[1, 0, 0], matrix[2, 1, 3] = float("nan"), float("inf")
    for padding in ("constant", "replicate", "reflect"):
        out, masks = warp_volumes(
            volumes, labels, matrix, (6, 7, 8), (-1.0,), 255, backend, image_padding=padding, mask_padding=padding
        )
        assert torch.equal(masks[0], labels[0]) and (masks[1:] == 255).all(), padding
        torch.testing.assert_close(out[0], volumes[0], atol=1e-5, rtol=0)
        assert (out[1:] == -1.0).all(), padding


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_empty_batch_goes_through_every_op(backend):
    ops = [*spatial_chain((4, 4, 4)), gpuaug.RandomGamma(p=1.0), gpuaug.RandomContrast(p=1.0)]
    ops[1] = gpuaug.RandomCrop3D(4, foreground_p=0.5)
    out, masks = gpuaug.Compose(ops, backend=backend)(torch.zeros(0, 1, 6, 6, 6), torch.zeros(0, 6, 6, 6).long())
    assert out.shape == (0, 1, 4, 4, 4) and masks.shape == (0, 4, 4, 4) and masks.dtype == torch.int64


def test_foreground_of_a_list_is_read_within_each_samples_canvas():
    """With replicate padding the masks read past a small sample repeat its edge labels on
    the batch's larger canvas; those voxels are not the sample's, so they are not foreground
    (here the one voxel (3, 0, 0) of a 4³ sample is the only one, whatever the draw)."""
    labels = [torch.zeros(4, 4, 4, dtype=torch.int64), torch.zeros(9, 9, 9, dtype=torch.int64)]
    labels[0][3, 0, 0] = labels[1][4, 4, 4] = 1
    volumes = [torch.zeros(1, 4, 4, 4), torch.zeros(1, 9, 9, 9)]
    aug = gpuaug.Compose(
        [gpuaug.RandomCrop3D(9, pad_if_needed=True, foreground_p=1.0)], padding_mode="replicate", mask_padding="same"
    )
    for seed in range(8):
        draws = aug.sample(volumes, torch.Generator().manual_seed(seed), masks=labels).ops[0].draws
        assert [int(draws[f"corner_{a}"][0]) for a in "dhw"] == [3 - 4, -4, -4], seed


needs_cpp = pytest.mark.skipif(not backends.cpp_compiler_available(), reason="needs a C++ compiler")


@needs_cpp
def test_the_compiled_path_compiles_volumes_once_per_configuration():
    """backend="inductor" compiles the torch path of volumes: labels bit-exact against the
    reference, stacked batches and lists; lists of new sizes every batch compile once."""
    ops = [*spatial_chain((6, 7, 8)), gpuaug.RandomGamma(p=0.5)]
    aug = gpuaug.Compose(ops, backend="inductor", fill=1.5)
    volumes, labels = probe(b=2)
    params = aug.sample(volumes, torch.Generator().manual_seed(1), masks=labels)
    before = inductor.compile_count()
    out, masks = aug.apply(volumes, labels, params)
    assert inductor.compile_count() == before + 1
    want_images, want_masks = reference.apply(volumes, labels, params)
    assert torch.equal(masks, want_masks)
    torch.testing.assert_close(out, want_images, atol=IMAGE_ATOL, rtol=0)
    graphs = None
    for seed in range(3):  # lists of new sizes every batch, then a padded batch of them
        g = torch.Generator().manual_seed(seed)
        sizes = [tuple(int(v) for v in torch.randint(5, 12, (3,), generator=g)) for _ in range(3)]
        listed_volumes = [torch.randn(2, *s, generator=g) for s in sizes]
        listed_labels = [torch.randint(0, 4, s, generator=g) for s in sizes]
        params = aug.sample(listed_volumes, g, masks=listed_labels)
        out, masks = aug.apply(listed_volumes, listed_labels, params)
        want_images, want_masks = reference.apply(listed_volumes, listed_labels, params)
        assert torch.equal(masks, want_masks)
        torch.testing.assert_close(out, want_images, atol=1e-3, rtol=1e-5)
        graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"] if graphs is None else graphs
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == graphs
    assert inductor.compile_count() == before + 2  # the stacked configuration and the variable-size one
