"""Variable-size batches: a list of images of different sizes, or a padded batch with ``sizes``."""

import math

import pytest
import torch
from conftest import IMAGE_ATOL
from hypothesis import given
from hypothesis import strategies as st

import gpuaug
from gpuaug import audit, candidates, reference
from gpuaug.candidates import CandidateCounts
from gpuaug.core import hashing
from gpuaug.transforms import geometric
from gpuaug.transforms.base import Draw

SIZES = [(23, 31), (40, 17), (9, 50), (32, 32)]


def coordinate_batch(sizes, device="cpu", dtype=torch.float32):
    """Per sample: image channels (x, y, sample) at pixel centres, mask label y·W + x (+ 10000·sample)."""
    images, masks = [], []
    for k, (h, w) in enumerate(sizes):
        ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        images.append(torch.stack((xs + 0.5, ys + 0.5, torch.full_like(xs, k))).to(dtype).to(device))
        masks.append((ys * w + xs + 10000 * k).to(torch.int64).to(device))
    return images, masks


def padded(images, masks, fill=7):
    """The same batch padded to its largest size (the padding holds ``fill``, which must never be read)."""
    h = max(t.shape[-2] for t in images)
    w = max(t.shape[-1] for t in images)
    out = torch.full((len(images), images[0].shape[0], h, w), float(fill), dtype=images[0].dtype)
    out_masks = torch.full((len(masks), h, w), fill, dtype=masks[0].dtype)
    for k, (image, mask) in enumerate(zip(images, masks, strict=True)):
        out[k, :, : image.shape[-2], : image.shape[-1]] = image
        out_masks[k, : mask.shape[-2], : mask.shape[-1]] = mask
    return out.to(images[0].device), out_masks.to(masks[0].device)


RECIPES = {
    "ade": lambda: [
        gpuaug.RandomResize((32, 64), ratio_range=(0.5, 2.0)),
        gpuaug.RandomCrop(24, pad_if_needed=True, cat_max_ratio=0.75),
        gpuaug.RandomHorizontalFlip(),
    ],
    "ade-top-left": lambda: [  # mmsegmentation's padding: a smaller side at 0, padded at the bottom / right
        gpuaug.RandomResize((32, 64), ratio_range=(0.5, 2.0)),
        gpuaug.RandomCrop(24, pad_if_needed=True, cat_max_ratio=0.75, pad_position="top_left"),
        gpuaug.RandomHorizontalFlip(),
    ],
    "rrc": lambda: [gpuaug.RandomAffine(30, scale=(0.8, 1.2)), gpuaug.RandomResizedCrop(20)],
    "perspective": lambda: [gpuaug.RandomPerspective(0.4, p=1.0), gpuaug.CenterCrop((18, 26))],
    "short-side": lambda: [gpuaug.RandomResize(short_side=(12, 30)), gpuaug.RandomCrop(16, pad_if_needed=True)],
    "resize-int": lambda: [gpuaug.Resize(20), gpuaug.RandomRotation(45), gpuaug.Resize((16, 12))],
    "oneof": lambda: [gpuaug.OneOf([gpuaug.CenterCrop(16), gpuaug.RandomCrop(16, pad_if_needed=True)])],
    "color": lambda: [
        gpuaug.RandomScale((0.5, 1.5)),
        gpuaug.RandomCrop(20, pad_if_needed=True),
        gpuaug.ColorJitter(0.3, 0.3, 0.3, 0.05),
        gpuaug.Normalize(0.5, 0.25),
    ],
}


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_matches_the_reference_and_the_padded_form(recipe, backend, device):
    images, masks = coordinate_batch(SIZES, device)
    images = [(t / 64).clamp(0, 1) for t in images]  # colour ops want [0, 1]
    aug = gpuaug.Compose(RECIPES[recipe](), ignore_index=-1, fill=0.25, backend=backend)
    params = aug.sample(images, torch.Generator().manual_seed(3), masks=masks)
    out, out_masks = aug.apply(images, masks, params)
    ref, ref_masks = reference.apply(images, masks, params)
    assert out.shape[0] == out_masks.shape[0] == len(SIZES)
    assert torch.equal(out_masks.cpu(), ref_masks)
    torch.testing.assert_close(out.cpu(), ref, atol=IMAGE_ATOL, rtol=0)
    # The padded form: the same draws, the same output, whatever the padding holds.
    pad_images, pad_masks = padded(images, masks)
    pad_params = aug.sample(pad_images, torch.Generator().manual_seed(3), masks=pad_masks, sizes=SIZES)
    assert torch.equal(pad_params.matrix, params.matrix)
    pad_out, pad_out_masks = aug.apply(pad_images, pad_masks, pad_params, sizes=torch.tensor(SIZES))
    assert torch.equal(pad_out_masks, out_masks)
    assert torch.equal(pad_out, out)
    assert torch.equal(reference.apply(pad_images, pad_masks, pad_params, sizes=SIZES)[1], ref_masks)


@given(
    sizes=st.lists(st.tuples(st.integers(1, 40), st.integers(1, 40)), min_size=1, max_size=5),
    seed=st.integers(0, 2**31 - 1),
    padding=st.sampled_from(["constant", "reflect", "replicate"]),
)
def test_random_size_lists(sizes, seed, padding, backend, device):
    images, masks = coordinate_batch(sizes, device)
    ops = [gpuaug.RandomAffine(40, scale=(0.5, 2.0), shear=10), gpuaug.RandomCrop((13, 11), pad_if_needed=True)]
    aug = gpuaug.Compose(ops, ignore_index=-1, backend=backend, padding_mode=padding, mask_padding="same")
    params = aug.sample(images, seed=seed)
    out, out_masks = aug.apply(images, masks, params)
    ref, ref_masks = reference.apply(images, masks, params)
    assert torch.equal(out_masks.cpu(), ref_masks)
    torch.testing.assert_close(out.cpu(), ref, atol=IMAGE_ATOL, rtol=0)
    # Each output pixel shows its own sample's pixel, at the mask's pixel (alignment <= 0.5 px).
    labels = out_masks.cpu()
    read = labels >= 0
    sample = torch.arange(len(sizes)).view(-1, 1, 1).expand_as(labels)
    assert torch.equal((labels // 10000)[read], sample[read])
    assert padding != "constant" or (out[:, 2].cpu()[read] - sample[read]).abs().max() <= 1e-4
    widths = torch.tensor([w for _, w in sizes]).view(-1, 1, 1).expand_as(labels)
    x = (labels % 10000 % widths + 0.5).float()
    y = (labels % 10000 // widths + 0.5).float()
    if padding == "constant":
        assert (out[:, 0].cpu() - x)[read].abs().max() <= 0.5 + 1e-4
        assert (out[:, 1].cpu() - y)[read].abs().max() <= 0.5 + 1e-4


def test_each_op_sees_each_samples_own_canvas(backend, device):
    images, masks = coordinate_batch(SIZES, device)
    # 180° about each sample's own centre is both flips of that sample, exactly; then its centre.
    aug = gpuaug.Compose([gpuaug.RandomRotation((180, 180)), gpuaug.CenterCrop(8)], backend=backend)
    out, out_masks = aug(images, masks)
    for k, (h, w) in enumerate(SIZES):
        top, left = round((h - 8) / 2), round((w - 8) / 2)
        expected = masks[k].flip(0, 1)[top : top + 8, left : left + 8]
        assert torch.equal(out_masks[k], expected), k


def test_oneof_not_applied_keeps_each_samples_canvas():
    images, masks = coordinate_batch(SIZES)
    crops = gpuaug.OneOf([gpuaug.CenterCrop(16), gpuaug.RandomCrop(16, pad_if_needed=True)], p=0.0)
    out_masks = gpuaug.Compose([crops, gpuaug.CenterCrop(8)])(images, masks)[1]
    for k, (h, w) in enumerate(SIZES):  # no sample applied the OneOf: the centre of its own canvas
        top, left = round((h - 8) / 2), round((w - 8) / 2)
        assert torch.equal(out_masks[k], masks[k][top : top + 8, left : left + 8]), k


def test_random_resized_crop_area_is_per_sample():
    images = [torch.rand(3, 10, 100), torch.rand(3, 100, 10)]
    params = gpuaug.Compose([gpuaug.RandomResizedCrop(8, scale=(0.5, 0.5), ratio=(1.0, 1.0))]).sample(images, seed=0)
    record = params.ops[0].draws
    # A square of half the area fits neither sample: both get their own fallback, 10×10 at its centre.
    assert record["height"].tolist() == [10.0, 10.0] and record["width"].tolist() == [10.0, 10.0]
    assert record["top"].tolist() == [0.0, 45.0] and record["left"].tolist() == [45.0, 0.0]


def mmcv_size(h, w, scale, ratio, keep_ratio):
    """mmcv's RandomResize + Resize output (h, w), written out from its documented arithmetic."""
    target = (int(scale[0] * ratio), int(scale[1] * ratio))
    if not keep_ratio:
        return target
    f = min(max(target) / max(h, w), min(target) / min(h, w))
    return int(h * f + 0.5), int(w * f + 0.5)


@pytest.mark.parametrize("keep_ratio", [True, False])
def test_random_resize_follows_mmcv(keep_ratio):
    sizes = [(512, 683), (683, 512), (375, 500), (768, 1024)]
    images = [torch.zeros(1, h, w, dtype=torch.uint8) for h, w in sizes]
    op = gpuaug.RandomResize((512, 2048), ratio_range=(0.5, 2.0), keep_ratio=keep_ratio)
    params = gpuaug.Compose([op, gpuaug.RandomCrop(512, pad_if_needed=True)]).sample(images, seed=4)
    draws = params.ops[0].draws
    for k, (h, w) in enumerate(sizes):
        ratio = float(draws["ratio"][k])
        assert 0.5 <= ratio < 2.0
        expected = mmcv_size(h, w, (512, 2048), ratio, keep_ratio)
        assert (int(draws["height"][k]), int(draws["width"][k])) == expected
    # The matrix scales each sample by its own factors (source = output · in / out).
    m = params.matrix.double()
    crop = params.ops[1].draws
    for k, (h, w) in enumerate(sizes):
        assert math.isclose(float(m[k, 0, 0]), w / float(draws["width"][k]), rel_tol=1e-6)
        assert math.isclose(float(m[k, 1, 2]), float(crop["top"][k]) * h / float(draws["height"][k]), rel_tol=1e-6)


def test_random_resize_short_side_follows_torchvision():
    sizes = [(30, 50), (50, 30), (40, 40)]
    images = [torch.zeros(1, h, w) for h, w in sizes]
    params = gpuaug.Compose([gpuaug.RandomResize(short_side=(10, 20)), gpuaug.CenterCrop(5)]).sample(images, seed=1)
    draws = params.ops[0].draws
    for k, (h, w) in enumerate(sizes):
        short = int(draws["short_side"][k])
        assert 10 <= short <= 20
        expected = (short, int(short * w / h)) if h <= w else (int(short * h / w), short)
        assert (int(draws["height"][k]), int(draws["width"][k])) == expected


def test_random_resize_without_ratio_and_keep_ratio_is_fixed_size(backend, device):
    images, masks = coordinate_batch(SIZES, device)
    out, out_masks = gpuaug.Compose([gpuaug.RandomResize((12, 20), keep_ratio=False)], backend=backend)(images, masks)
    assert out.shape == (4, 3, 12, 20) and out_masks.shape == (4, 12, 20)
    assert gpuaug.RandomResize((12, 20), keep_ratio=False).fixed_size == (12, 20)
    assert gpuaug.RandomResize((12, 20)).fixed_size is None


def test_stacked_batch_after_random_size_op_needs_a_fixed_size_op():
    images = torch.rand(2, 3, 16, 16)
    with pytest.raises(ValueError, match=r"ops\[1\]: RandomHorizontalFlip leaves each sample a size of its own"):
        gpuaug.Compose([gpuaug.RandomResize((8, 8), (0.5, 2.0)), gpuaug.RandomHorizontalFlip()])(images)
    # Resize(int) on a stacked batch gives one size: valid, as before.
    assert gpuaug.Compose([gpuaug.Resize(8)])(torch.rand(2, 3, 16, 32)).shape == (2, 3, 8, 16)


@pytest.mark.parametrize(
    ("ops", "match"),
    [
        ([gpuaug.Resize(8)], r"ops\[0\]: Resize leaves each sample a size"),
        ([gpuaug.Resize(8), gpuaug.RandomAffine(10)], r"ops\[1\]: RandomAffine leaves"),
        ([gpuaug.ColorJitter(0.1)], r"ops: a batch of samples of different sizes .* has none"),
        ([gpuaug.OneOf([gpuaug.CenterCrop(8), gpuaug.RandomHorizontalFlip()])], r"OneOf's children"),
        ([gpuaug.RandomApply([gpuaug.CenterCrop(8)])], r"RandomApply's list must keep"),
        ([gpuaug.OneOf([gpuaug.CenterCrop(8), gpuaug.RandomCrop(8)], p=0.5)], r"ops\[0\]: OneOf leaves each sample"),
    ],
)
def test_variable_input_needs_a_fixed_size_op_last(ops, match):
    images, _ = coordinate_batch(SIZES)
    with pytest.raises(ValueError, match=match):
        gpuaug.Compose(ops)(images)


def test_random_crop_size_checks_on_the_host():
    images, _ = coordinate_batch(SIZES)
    with pytest.raises(
        ValueError, match=r"size: RandomCrop's crop 20×20 is larger than its input canvas 40×17 \(sample 1\)"
    ):
        gpuaug.Compose([gpuaug.RandomCrop(20)])(images)
    with pytest.raises(ValueError, match="pad_if_needed: RandomCrop after an op that gives each sample a random size"):
        gpuaug.Compose([gpuaug.RandomResize((8, 8), (0.5, 2.0)), gpuaug.RandomCrop(4)])(images)
    # Deterministic sizes stay known on the host: Resize(int) then a crop that fits.
    out = gpuaug.Compose([gpuaug.Resize(20), gpuaug.RandomCrop(20)])(images)
    assert out.shape == (4, 3, 20, 20)


def candidate_checks(labels, ignore, ratio):
    """mmsegmentation's check, as it writes it: unique labels and counts, ignore removed."""
    values, counts = torch.unique(labels, return_counts=True)
    counts = counts[values != ignore]
    return len(counts) > 1 and counts.max().item() / counts.sum().item() < ratio


@given(
    labels=st.lists(st.lists(st.sampled_from([0, 1, 2, 3, 255]), min_size=1, max_size=30), min_size=1, max_size=8),
    ratio=st.sampled_from([0.5, 0.75, 0.9, 1.0]),
)
def test_balanced_matches_unique_counts(labels, ratio):
    width = max(len(row) for row in labels)
    rows = [row + [255] * (width - len(row)) for row in labels]
    tensor = torch.tensor(rows, dtype=torch.uint8)
    expected = [candidate_checks(torch.tensor(row), 255, ratio) for row in rows]
    assert geometric.passes(*candidates.row_counts(tensor, 255), ratio).tolist() == expected
    # Both ways of counting agree, whichever the device would pick.
    by_sort = candidates.counts_by_sort(tensor, 255)
    by_bincount = candidates.counts_by_bincount(tensor, 255)
    assert all(torch.equal(a, b) for a, b in zip(by_sort, by_bincount, strict=True))
    wide = tensor.long() * 2**40  # labels far apart: sorted when their range is too wide for bincount
    assert geometric.passes(*candidates.row_counts(wide, 255 * 2**40), ratio).tolist() == expected
    assert candidates.counts_by_bincount(torch.tensor([[0, 2**40]]), 255) is None


def stripe_masks(sizes):
    """Class 0 everywhere but a few thin stripes of classes 1, 2 and ignore: few crops pass at 0.75."""
    masks = []
    for h, w in sizes:
        mask = torch.zeros(h, w, dtype=torch.int64)
        mask[:, w - 6 : w - 3] = 1
        mask[h - 5 :, :] = 2
        mask[:2] = 255
        masks.append(mask)
    return masks


@pytest.mark.parametrize("at_once", [False, True])
def test_class_aware_crop_takes_the_first_passing_candidate(monkeypatch, at_once, backend, device):
    monkeypatch.setattr(CandidateCounts, "at_once", at_once)
    sizes = [(40, 40), (30, 50), (50, 30)] * 4
    masks = [m.to(device) for m in stripe_masks(sizes)]
    images = [torch.rand(3, h, w, device=device) for h, w in sizes]
    crop = gpuaug.RandomCrop(12, cat_max_ratio=0.75)
    aug = gpuaug.Compose([crop], backend=backend)
    params = aug.sample(images, masks=masks, seed=5)
    _, out_masks = aug.apply(images, masks, params)
    attempts = params.ops[0].draws["attempt"].tolist()
    assert any(a > 0 for a in attempts)  # the stripes make early candidates fail
    # The candidates again, from the same keyed draws: coin, 11 tops, 11 lefts.
    draw = Draw(len(sizes), device, keys=hashing.sample_keys(5, torch.arange(len(sizes), device=device)))
    draw.coin(1.0)
    hs, ws = (torch.tensor(v, dtype=torch.float64, device=device) for v in zip(*sizes, strict=True))
    tops = draw.integers(0, hs - 12, 11).long().tolist()
    lefts = draw.integers(0, ws - 12, 11).long().tolist()
    for k, attempt in enumerate(attempts):
        crops = [masks[k][t : t + 12, left : left + 12].cpu() for t, left in zip(tops[k], lefts[k], strict=True)]
        assert torch.equal(out_masks[k].cpu(), crops[attempt])
        assert not any(candidate_checks(c, 255, 0.75) for c in crops[:attempt])
        assert attempt == 10 or candidate_checks(crops[attempt], 255, 0.75)
    # Both ways of checking choose the same candidates.
    monkeypatch.setattr(CandidateCounts, "at_once", not at_once)
    assert aug.sample(images, masks=masks, seed=5).ops[0].draws["attempt"].tolist() == attempts


def test_class_aware_crop_counts_after_the_chain_so_far(backend, device):
    # Left half class 1, right half class 2: a 2×-zoomed flip shows the same content mirrored.
    mask = torch.ones(16, 16, dtype=torch.int64, device=device)
    mask[:, 8:] = 2
    images = [torch.rand(3, 16, 16, device=device)]
    ops = [gpuaug.Resize((32, 32)), gpuaug.RandomCrop(8, cat_max_ratio=0.6)]
    aug = gpuaug.Compose(ops, backend=backend)
    for seed in range(5):
        params = aug.sample(images, masks=[mask], seed=seed)
        out = aug.apply(images, [mask], params)[1][0]
        attempt = int(params.ops[1].draws["attempt"][0])
        assert attempt == 10 or candidate_checks(out.cpu(), 255, 0.6)


def test_class_aware_crop_needs_masks():
    aug = gpuaug.Compose([gpuaug.RandomCrop(4, cat_max_ratio=0.5)])
    with pytest.raises(ValueError, match=r"masks: RandomCrop\(cat_max_ratio=0.5\) chooses crops by their classes"):
        aug.sample(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="cat_max_ratio: expected a number in"):
        gpuaug.RandomCrop(4, cat_max_ratio=0.0)


def test_params_carry_the_sizes(backend, device):
    images, masks = coordinate_batch(SIZES, device)
    aug = gpuaug.Compose([gpuaug.RandomAffine(20), gpuaug.CenterCrop(8)], backend=backend)
    params = aug.sample(images, seed=1)
    assert params.in_size is None
    assert params.in_sizes.tolist() == [list(s) for s in SIZES] and params.in_sizes.dtype == torch.int64
    assert params.describe(1).startswith("sample 1 of 4: 40x17 -> 8x8")
    restored = gpuaug.Params.from_dict(params.to_dict(), device)
    assert restored.in_size is None and torch.equal(restored.in_sizes, params.in_sizes)
    assert torch.equal(aug.apply(images, masks, restored)[1], aug.apply(images, masks, params)[1])
    stacked = aug.sample(torch.rand(2, 3, 5, 6, device=device))
    assert stacked.in_size == (5, 6) and stacked.in_sizes.tolist() == [[5, 6], [5, 6]]
    with pytest.raises(ValueError, match="params: sampled for samples of sizes"):
        aug.apply(images[::-1], None, params)


def test_invert_returns_each_sample_to_its_own_size(backend, device):
    images, masks = coordinate_batch(SIZES, device)
    aug = gpuaug.Compose([gpuaug.RandomHorizontalFlip(), gpuaug.Resize((64, 64))], ignore_index=-1, backend=backend)
    params = aug.sample(images, seed=3)
    _, out_masks = aug.apply(images, masks, params)
    back, valid = aug.invert(out_masks, params, return_valid=True)
    assert isinstance(back, list) and [tuple(t.shape) for t in back] == SIZES
    for k in range(len(SIZES)):
        assert torch.equal(back[k][valid[k]], masks[k][valid[k]])
        assert valid[k].float().mean() > 0.9
    fixed = aug.invert(out_masks, params, out_size=(10, 10))
    assert fixed.shape == (4, 10, 10)


def test_targets_as_lists(backend, device):
    images, masks = coordinate_batch(SIZES, device)
    instances = [torch.stack((m, m // 7)).to(torch.int32) for m in masks]  # K = 2 label planes
    depth = [(t[:1] * 0.01).to(torch.float16) for t in images]  # a dense map, its own dtype
    points = torch.tensor([[[5.5, 3.5]]] * len(SIZES), device=device)
    targets = {"instances": gpuaug.Target(instances, fill=-7), "depth": depth, "points": gpuaug.Points(points)}
    targets["plain"] = [m.clone() for m in masks]  # Hᵢ×Wᵢ: comes back B×h×w, like the masks
    ops = [gpuaug.RandomAffine(25), gpuaug.RandomCrop(16, pad_if_needed=True)]
    aug = gpuaug.Compose(ops, ignore_index=-1, backend=backend)
    params = aug.sample(images, seed=2)
    out, out_masks, outs = aug.apply(images, masks, params, targets=targets)
    ref, ref_masks, ref_outs = reference.apply(images, masks, params, targets=targets)
    assert list(outs) == ["instances", "depth", "points", "plain"]
    assert outs["plain"].shape == out_masks.shape == (4, 16, 16) and torch.equal(outs["plain"], out_masks)
    assert ref_outs["plain"].shape == (4, 16, 16)
    assert outs["instances"].shape == (4, 2, 16, 16) and outs["instances"].dtype == torch.int32
    assert torch.equal(outs["instances"].cpu(), ref_outs["instances"])
    assert torch.equal(outs["instances"][:, 0].long(), torch.where(out_masks == -1, -7, out_masks))
    assert (out_masks == -1).any()
    assert outs["depth"].shape == (4, 1, 16, 16) and outs["depth"].dtype == torch.float16
    torch.testing.assert_close(outs["depth"].cpu(), ref_outs["depth"], atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(outs["points"][0].cpu(), ref_outs["points"][0])
    # The padded form takes padded maps.
    pad_images, pad_masks = padded(images, masks)
    pad_instances = padded([t.float() for t in instances], [t[0] for t in instances])[0].to(torch.int32)
    pad_targets = {"instances": gpuaug.Target(pad_instances, fill=-7)}
    pad_out = aug.apply(pad_images, pad_masks, params, targets=pad_targets, sizes=SIZES)[2]
    assert torch.equal(pad_out["instances"], outs["instances"])


def test_one_launch_per_batch(launches):
    images, masks = coordinate_batch([(5, 7), (9, 3), (4, 4), (6, 11), (2, 13)])
    aug = gpuaug.Compose([gpuaug.RandomAffine(10), gpuaug.RandomCrop(4, pad_if_needed=True)], backend="triton")
    aug(images, masks)
    assert sorted(launches) == ["gather_nearest_kernel", "warp_bilinear_kernel"]
    launches.clear()
    gpuaug.Compose([gpuaug.CenterCrop(4), gpuaug.ColorJitter(0.2)], backend="triton")([i / 20 for i in images], masks)
    assert sorted(launches) == ["fused_image_kernel", "gather_nearest_kernel"]


def test_inputs_are_not_modified(backend, device):
    images, masks = coordinate_batch(SIZES, device)
    before = [t.clone() for t in images + masks]
    gpuaug.Compose(
        [gpuaug.RandomResize((20, 20), (0.5, 2)), gpuaug.RandomCrop(10, pad_if_needed=True)], backend=backend
    )(images, masks)
    assert all(torch.equal(a, b) for a, b in zip(images + masks, before, strict=True))


def test_mask_layouts_follow_the_input():
    images, masks = coordinate_batch(SIZES)
    aug = gpuaug.Compose([gpuaug.CenterCrop(4)])
    assert aug(images, masks)[1].shape == (4, 4, 4)
    assert aug(images, [m.unsqueeze(0) for m in masks])[1].shape == (4, 1, 4, 4)
    assert aug(images, [m.to(torch.uint8) for m in masks])[1].dtype == torch.uint8


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda a, i, m: a([], None), ValueError, "images: expected at least one image"),
        (lambda a, i, m: a([i[0], i[1][:2]], None), ValueError, r"images\[1\]: every image must have images\[0\]'s"),
        (lambda a, i, m: a([i[0], i[1].double()], None), ValueError, r"images\[1\]: every image"),
        (lambda a, i, m: a([i[0], i[1][0]], None), ValueError, r"images\[1\]: expected a 3-D tensor"),
        (lambda a, i, m: a([i[0], "x"], None), TypeError, r"images\[1\]: expected a torch.Tensor"),
        (lambda a, i, m: a(i, m[:3]), ValueError, "masks: expected 4 masks"),
        (lambda a, i, m: a(i, torch.zeros(4, 5, 5)), TypeError, "masks: expected a list"),
        (lambda a, i, m: a(i, [m[0], m[2], m[1], m[3]]), ValueError, r"masks\[1\]: spatial size"),
        (lambda a, i, m: a(i, [m[0].float(), *m[1:]]), TypeError, r"masks\[0\]: expected an integer label dtype"),
        (lambda a, i, m: a(i, [m[0], m[1].int(), *m[2:]]), ValueError, r"masks\[1\]: every mask must have"),
        (lambda a, i, m: a(i, m, sizes=[(1, 1)] * 4), ValueError, "sizes: only used with a padded"),
        (lambda a, i, m: a(torch.zeros(2, 3, 8, 8), sizes=[(8, 8)]), ValueError, r"sizes: expected 2 \(h, w\) pairs"),
        (lambda a, i, m: a(torch.zeros(2, 3, 8, 8), sizes=[(8, 8), (9, 1)]), ValueError, "sample 1's valid size 9×1"),
        (lambda a, i, m: a(torch.zeros(1, 3, 8, 8), sizes=torch.ones(1, 2)), TypeError, "sizes: expected integers"),
        (lambda a, i, m: a(torch.zeros(1, 3, 8, 8), sizes=5), TypeError, "sizes: expected a B×2 integer CPU tensor"),
        (lambda a, i, m: a(i, m, targets={"d": torch.zeros(4, 1, 8, 8)}), TypeError, r"targets\['d'\]: expected a"),
        (lambda a, i, m: a(i, m, targets={"d": m[:2]}), ValueError, r"targets\['d'\]: expected 4 maps"),
        (lambda a, i, m: a(i, m, targets={"d": m[::-1]}), ValueError, r"targets\['d'\]\[0\]: spatial size"),
        (lambda a, i, m: a(i, m, targets={"d": [m[0], m[1].int(), *m[2:]]}), ValueError, r"\[1\]: every map"),
    ],
)
def test_errors(call, error, match):
    images, masks = coordinate_batch(SIZES)
    with pytest.raises(error, match=match):
        call(gpuaug.Compose([gpuaug.CenterCrop(4)]), images, masks)


def test_the_ade20k_recipe_of_the_peers_takes_lists():
    """gpuaug.peers' ADE20K recipe, for gpuaug and each peer: lists in, one stacked batch out, masks' dtype and layout
    kept, gpuaug's geometric part exact under the audit."""
    peers = pytest.importorskip("gpuaug.peers")
    generator = torch.Generator().manual_seed(0)
    images = [torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=generator) for h, w in SIZES]
    masks = [torch.randint(0, 4, (h, w), generator=generator).to(torch.int32) for h, w in SIZES]
    aug = gpuaug.Compose(peers.ade20k_ops(16), ignore_index=255)
    runs = {
        "gpuaug": lambda i, m: aug(i, m, generator=generator),
        "kornia": peers.kornia_ade20k_pipeline(16),
        "albumentations": peers.albumentations_ade20k_pipeline(16),
    }
    for name, fn in runs.items():
        out, out_masks = fn(images, masks)
        assert out.shape == (4, 3, 16, 16) and out.dtype == torch.float32, name
        assert out_masks.shape == (4, 16, 16) and out_masks.dtype == torch.int32, name
        out, out_masks = fn(images, [m[None] for m in masks])  # 1×H×W masks come back B×1×h×w
        assert out_masks.shape == (4, 1, 16, 16), name
    geometric = gpuaug.Compose(peers.ade20k_ops(48, full=False))
    assert audit.check_pair(lambda i, m: geometric(i, m, generator=generator), (64, 64), batch_size=4).ok


WINDOWED_CHAINS = {
    "resize up": lambda: [gpuaug.Resize((100, 100))],
    "crop of an upscale": lambda: [gpuaug.RandomResize((60, 60), keep_ratio=False), gpuaug.RandomCrop((9, 13))],
    "rotated crop": lambda: [gpuaug.RandomAffine(40, scale=(1.2, 2.5)), gpuaug.CenterCrop((7, 11))],
    "flipped, shifted out": lambda: [
        gpuaug.RandomHorizontalFlip(1.0),
        gpuaug.RandomAffine(0, translate=(0.9, 0.9)),
        gpuaug.CenterCrop((8, 8)),
    ],
}


@pytest.mark.parametrize("chain", sorted(WINDOWED_CHAINS))
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_a_list_reads_nothing_of_the_padded_copy_but_its_windows_and_margins(monkeypatch, dtype, chain):
    # The torch path resamples a list on the CPU from a padded float copy that writes only the
    # window of each sample the warp reads and the one-pixel zero margin its edge taps (at
    # weight 0) read; the rest is unset. Unset here means NaN: nothing of it may reach the
    # output, which equals each sample warped alone (a stacked batch of one, no window).
    # Resizing up puts every sample's last output pixels in its last half pixel, whose taps
    # reach the margin; the crops cut windows inside the samples, rotated, flipped, or off it.
    g = torch.Generator().manual_seed(0)
    images = [torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g) for h, w in SIZES]
    images = [t if dtype == torch.uint8 else t.float() / 255 for t in images]
    aug = gpuaug.Compose(WINDOWED_CHAINS[chain](), backend="torch")
    empty = torch.empty
    monkeypatch.setattr(torch, "empty", lambda *a, **k: empty(*a, **k).fill_(math.nan))
    out = aug(images, seed=0)
    monkeypatch.undo()
    alone = torch.cat([aug(image[None], seed=0, sample_ids=[k]) for k, image in enumerate(images)])
    torch.testing.assert_close(out, alone, atol=1e-5, rtol=0)
