"""Canvas ops (ElasticTransform, CutMix, ClassMix, Mosaic): exact masks in the one-resample design.

Checked against the CPU reference on both backends, against exact expectations on
coordinate-encoded probes (each quadrant, box and paste is where its draws say, each pixel's
image and label from the same sample and point), and statistically (CutMix's pasted area,
ClassMix's classes, the displacement's scale).
"""

import math

import pytest
import torch
from conftest import BACKENDS
from hypothesis import given, settings
from hypothesis import strategies as st

import gpuaug
from gpuaug import probe, reference
from gpuaug.audit import check_pair


def elastic(p=1.0):
    return gpuaug.ElasticTransform(3.0, 2.0, p=p)


CANVAS = {
    "cutmix": lambda: [gpuaug.CutMix(p=0.8)],
    "classmix": lambda: [gpuaug.ClassMix(p=0.8)],
    "mosaic": lambda: [gpuaug.Mosaic(p=0.8)],
    "elastic": lambda: [elastic(0.8)],
    "elastic+cutmix": lambda: [elastic(), gpuaug.CutMix(p=0.8)],
    "elastic+classmix": lambda: [elastic(), gpuaug.ClassMix(p=0.8)],
    "elastic+mosaic": lambda: [elastic(), gpuaug.Mosaic(p=0.8)],
}


def geometric(perspective=False, size=16):
    ops = [gpuaug.RandomResizedCrop(size, scale=(0.4, 1.0)), gpuaug.RandomRotation(20)]
    return ops + ([gpuaug.RandomPerspective(p=1.0)] if perspective else [])


def batch(b=5, h=19, w=23, classes=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (b, 3, h, w), generator=g, dtype=torch.uint8)
    # Blocks of classes, so each sample has several and ClassMix has something to choose.
    masks = torch.randint(0, classes, (b, 1, (h + 3) // 4, (w + 3) // 4), generator=g)
    masks = masks.repeat_interleave(4, 2).repeat_interleave(4, 3)[:, 0, :h, :w].contiguous()
    masks[:, 0, :3] = 255
    return images, masks


def assert_matches_reference(aug, images, masks, targets=None, **kwargs):
    params = aug.sample(images, torch.Generator().manual_seed(7), masks=masks, **kwargs)
    outs = aug.apply(images, masks, params, targets=targets, **kwargs)
    refs = reference.apply(images, masks, params, targets=targets, **kwargs)
    assert torch.equal(outs[1], refs[1])
    assert outs[1].dtype == refs[1].dtype
    torch.testing.assert_close(outs[0], refs[0], atol=1e-4, rtol=0)
    if targets is not None:
        for name, value in refs[2].items():
            if value.is_floating_point():
                torch.testing.assert_close(outs[2][name], value, atol=1e-4, rtol=0)
            else:
                assert torch.equal(outs[2][name], value), name
    return params, outs


@pytest.mark.parametrize("name", CANVAS)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("perspective", [False, True])
def test_matches_reference_with_pixel_ops_and_targets(name, backend, perspective):
    images, masks = batch()
    # A colour op before the canvas op (per source sample), one fused after it, then one that is not.
    # Before a Mosaic only pointwise pixel ops (a contrast's mean would see the quadrant canvas).
    jitter = gpuaug.ColorJitter(0.4, 0.0 if "mosaic" in name else 0.4, 0.4, 0.1)
    ops = [*geometric(perspective), jitter, *CANVAS[name]()]
    ops += [gpuaug.GaussianNoise(p=0.5), gpuaug.Normalize(0.5, 0.25)]
    aug = gpuaug.Compose(ops, backend=backend)
    g = torch.Generator().manual_seed(3)
    targets = {
        "parts": gpuaug.Target(torch.randint(0, 9, (5, 2, 19, 23), generator=g, dtype=torch.int16), fill=-1),
        "depth": torch.rand(5, 1, 19, 23, generator=g),
    }
    assert_matches_reference(aug, images, masks, targets)


@pytest.mark.parametrize("name", CANVAS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_matches_reference_without_pixel_ops_before(name, backend):
    # The one-pass path: every pixel reads its slot in the warp itself.
    images, masks = batch()
    aug = gpuaug.Compose([*geometric(), *CANVAS[name](), gpuaug.ColorJitter(0.3, 0.3)], backend=backend)
    assert_matches_reference(aug, images, masks)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["replicate", "reflect"])
@pytest.mark.parametrize("name", ["elastic+cutmix", "mosaic", "classmix"])
def test_padding_modes_match_reference(backend, mode, name):
    images, masks = batch()
    aug = gpuaug.Compose([*geometric(), *CANVAS[name]()], backend=backend, padding_mode=mode, mask_padding="same")
    assert_matches_reference(aug, images, masks)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64])
def test_mask_dtypes_and_ignore_kept(backend, dtype):
    images, masks = batch()
    masks = torch.where(masks == 255, 100, masks).to(dtype)
    aug = gpuaug.Compose([*geometric(), elastic(), gpuaug.Mosaic(p=1.0)], ignore_index=100, backend=backend)
    _, (_, out) = assert_matches_reference(aug, images, masks)
    assert out.dtype == dtype and (out == 100).any()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["cutmix", "classmix", "elastic+mosaic"])
def test_variable_size_lists_match_reference_and_padded(backend, name):
    shapes = [(21, 30), (17, 40), (33, 18), (25, 25)]
    g = torch.Generator().manual_seed(5)
    images = [torch.rand(3, h, w, generator=g) for h, w in shapes]
    masks = [torch.randint(0, 5, (h, w), generator=g) for h, w in shapes]
    ops = [gpuaug.RandomResize((24, 32), (0.8, 1.2)), gpuaug.RandomCrop(20, pad_if_needed=True), *CANVAS[name]()]
    aug = gpuaug.Compose([*ops, gpuaug.Normalize(0.5, 0.5)], backend=backend)
    params, outs = assert_matches_reference(aug, images, masks)
    padded = torch.zeros(4, 3, 40, 40)
    padded_masks = torch.zeros(4, 40, 40, dtype=torch.int64)
    for k, (h, w) in enumerate(shapes):
        padded[k, :, :h, :w], padded_masks[k, :h, :w] = images[k], masks[k]
    again = aug.apply(padded, padded_masks, params, sizes=shapes)
    assert torch.equal(again[1], outs[1]) and torch.equal(again[0], outs[0])


# --- exact expectations on probes ----------------------------------------------------------


def stacked_probe(b, h, w):
    images, masks = probe.coordinate_probe_list([(h, w)] * b)
    return torch.stack(images), torch.stack(masks)


def decoded(out_images, out_masks, b, h, w):
    """Per output pixel: the sample its image came from, the sample/column/row its label names."""
    label_sample, col, row = probe.decode_list(out_masks, [(h, w)] * b)
    return out_images[:, 3], label_sample, col, row


@pytest.mark.parametrize("backend", BACKENDS)
def test_cutmix_box_shows_the_partner_exactly(backend):
    b, h, w = 6, 12, 16
    images, masks = stacked_probe(b, h, w)
    aug = gpuaug.Compose([gpuaug.CenterCrop((h, w)), gpuaug.CutMix(alpha=0.7, p=1.0)], backend=backend)
    params = aug.sample(images, torch.Generator().manual_seed(1), masks=masks)
    out_images, out_masks = aug.apply(images, masks, params)
    draws = params.ops[1].draws
    image_sample, label_sample, col, row = decoded(out_images, out_masks, b, h, w)
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    pasted = 0
    for k in range(b):
        x0, y0, x1, y1 = draws["box"][k].tolist()
        side = math.sqrt(1.0 - float(draws["lam"][k]))
        assert (x1 - x0, y1 - y0) == (round(w * side), round(h * side))
        assert 0 <= x0 <= x1 <= w and 0 <= y0 <= y1 <= h
        inside = (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)
        expected = torch.where(inside, int(draws["partner"][k]), k)
        assert torch.equal(label_sample[k], expected)
        torch.testing.assert_close(image_sample[k], expected.float())
        # An identity chain: every pixel reads its own position, from whichever sample.
        assert torch.equal(col[k], xs) and torch.equal(row[k], ys)
        pasted += int(inside.sum())
    assert pasted > 0
    assert (params.ops[1].draws["partner"] != torch.arange(b)).all()  # one cycle: nobody is its own partner


@pytest.mark.parametrize("backend", BACKENDS)
def test_mosaic_quadrants_show_each_source_whole(backend):
    b, h, w = 5, 12, 16
    images, masks = stacked_probe(b, h, w)
    aug = gpuaug.Compose([gpuaug.CenterCrop((h, w)), gpuaug.Mosaic(p=1.0)], backend=backend)
    params = aug.sample(images, torch.Generator().manual_seed(2), masks=masks)
    out_images, out_masks = aug.apply(images, masks, params)
    draws = params.ops[1].draws
    image_sample, label_sample, col, row = decoded(out_images, out_masks, b, h, w)
    for k in range(b):
        cx, cy = draws["center"][k].tolist()
        assert 1 <= cx < w and 1 <= cy < h
        sources = [k, *draws["partners"][k].tolist()]
        rects = [(0, 0, cx, cy), (cx, 0, w, cy), (0, cy, cx, h), (cx, cy, w, h)]
        for source, (left, top, right, bottom) in zip(sources, rects, strict=True):
            region = (slice(top, bottom), slice(left, right))
            assert (label_sample[k][region] == source).all()
            torch.testing.assert_close(image_sample[k][region], torch.full_like(image_sample[k][region], source))
            # The source's whole canvas scaled onto the quadrant: image column at pixel centre x.
            x = torch.arange(left, right, dtype=torch.float64) + 0.5
            expected_col = ((x - left) * w / (right - left) - 0.5).clamp(0, w - 1)
            torch.testing.assert_close(out_images[k, 0][region], expected_col.float().expand(bottom - top, -1))
            y = torch.arange(top, bottom, dtype=torch.float64) + 0.5
            expected_row = torch.floor((y - top) * h / (bottom - top)).long()
            assert torch.equal(row[k][region], expected_row.view(-1, 1).expand(-1, right - left))


@pytest.mark.parametrize("backend", BACKENDS)
def test_classmix_pastes_exactly_half_the_partners_classes(backend):
    b, h, w = 8, 16, 20
    images, masks = batch(b, h, w, classes=7, seed=3)
    # Sample k's image is k + 1 everywhere, so a pixel shows which sample it came from (fill 0: none).
    images = torch.arange(1.0, b + 1).view(b, 1, 1, 1).expand(b, 3, h, w).contiguous()
    plain = gpuaug.Compose(geometric(size=(h, w)), backend=backend)
    aug = gpuaug.Compose([*geometric(size=(h, w)), gpuaug.ClassMix(p=1.0)], backend=backend)
    params = aug.sample(images, torch.Generator().manual_seed(4), masks=masks)
    out_images, out_masks = aug.apply(images, masks, params)
    # Draws follow list order: without ClassMix the same seed gives the same chain.
    own_images, own = plain(images, masks, torch.Generator().manual_seed(4))
    partner = params.ops[-1].draws["partner"]
    checked = 0
    for k in range(b):
        theirs = own[partner[k]]
        classes = [c for c in torch.unique(theirs).tolist() if c != 255]
        paste = (out_images[k, 0] - float(partner[k] + 1)).abs() < 0.5
        pasted = torch.unique(theirs[paste]).tolist()
        assert len(pasted) == math.ceil(len(classes) / 2)
        assert set(pasted) <= set(classes)
        assert torch.equal(paste, torch.isin(theirs, torch.tensor(pasted)))
        assert torch.equal(out_masks[k], torch.where(paste, theirs, own[k]))
        torch.testing.assert_close(out_images[k][:, ~paste], own_images[k][:, ~paste])
        checked += len(classes) > 1
    assert checked >= b // 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_pixel_ops_before_a_mix_keep_the_partners_colour(backend):
    b, h, w = 4, 10, 12
    images = torch.full((b, 3, h, w), 0.5)
    masks = torch.zeros(b, h, w, dtype=torch.int64)
    jitter = gpuaug.ColorJitter(brightness=0.5, p=1.0)
    for before in (True, False):
        ops = (
            [gpuaug.CenterCrop((h, w)), jitter, gpuaug.CutMix(p=1.0)]
            if before
            else [gpuaug.CenterCrop((h, w)), gpuaug.CutMix(p=1.0), jitter]
        )
        aug = gpuaug.Compose(ops, backend=backend)
        params = aug.sample(images, torch.Generator().manual_seed(5), masks=masks)
        out, _ = aug.apply(images, masks, params)
        factor = params.ops[1 if before else 2].draws["brightness"]
        mix = params.ops[2 if before else 1].draws
        for k in range(b):
            x0, y0, x1, y1 = mix["box"][k].tolist()
            own = (0.5 * factor[k]).clamp(0, 1)
            pasted = (0.5 * factor[mix["partner"][k]]).clamp(0, 1) if before else own
            torch.testing.assert_close(out[k, :, y0:y1, x0:x1], pasted.expand(3, y1 - y0, x1 - x0))
            outside = torch.ones(h, w, dtype=torch.bool)
            outside[y0:y1, x0:x1] = False
            torch.testing.assert_close(out[k][:, outside], own.expand(3, int(outside.sum())))


# --- statistics -------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_cutmix_pasted_area_and_lambda_statistics(alpha):
    b, h, w = 4000, 64, 48
    aug = gpuaug.Compose([gpuaug.Resize((h, w)), gpuaug.CutMix(alpha=alpha, p=1.0)], backend="torch")
    params = aug.sample(torch.zeros(b, 1, 8, 8), torch.Generator().manual_seed(6))
    draws = params.ops[1].draws
    lam = draws["lam"].double()
    x0, y0, x1, y1 = draws["box"].double().unbind(1)
    area = (x1 - x0) * (y1 - y0) / (h * w)
    # Beta(α, α): mean 1/2, variance 1 / (4(2α + 1)); the box's area is 1 − λ up to rounding.
    assert abs(lam.mean().item() - 0.5) < 0.02
    assert abs(lam.var().item() - 1.0 / (4.0 * (2.0 * alpha + 1.0))) < 0.01
    assert abs(area.mean().item() - (1.0 - lam.mean().item())) < 0.01
    assert (area - (1.0 - lam)).abs().max().item() < 2.5 / min(h, w)


def test_cutmix_p_is_per_sample():
    aug = gpuaug.Compose([gpuaug.Resize((16, 16)), gpuaug.CutMix(p=0.3)], backend="torch")
    params = aug.sample(torch.zeros(2000, 1, 4, 4), torch.Generator().manual_seed(0))
    draws = params.ops[1].draws
    assert abs(draws["applied"].float().mean().item() - 0.3) < 0.04
    empty = (draws["box"][:, 2] == draws["box"][:, 0]) | (draws["box"][:, 3] == draws["box"][:, 1])
    assert empty[~draws["applied"]].all()


def test_elastic_alpha_zero_is_the_identity():
    images, masks = batch()
    for backend in BACKENDS:
        plain = gpuaug.Compose(geometric(), backend=backend)
        aug = gpuaug.Compose([*geometric(), gpuaug.ElasticTransform(0.0, 4.0, p=1.0)], backend=backend)
        expected = plain(images, masks, torch.Generator().manual_seed(8))
        out = aug(images, masks, torch.Generator().manual_seed(8))
        assert torch.equal(out[1], expected[1])
        torch.testing.assert_close(out[0], expected[0], atol=1e-5, rtol=0)  # explicit taps vs grid_sample


def displacement_rms(alpha, sigma, size=(96, 96), b=8):
    """RMS of the displacement an identity chain + ElasticTransform applies, read off the probe."""
    h, w = size
    images, masks = probe.coordinate_probe(b, h, w)
    aug = gpuaug.Compose([gpuaug.CenterCrop(size), gpuaug.ElasticTransform(alpha, sigma, p=1.0)], backend="torch")
    params = aug.sample(images, torch.Generator().manual_seed(9))
    out = aug.apply(images, None, params)
    xs = torch.arange(w, dtype=torch.float32) - 0.0
    ys = torch.arange(h, dtype=torch.float32).view(-1, 1)
    inner = (slice(None), slice(8, -8), slice(8, -8))  # away from the clamped edge
    dx, dy = (out[:, 0] - xs)[inner], (out[:, 1] - ys)[inner]
    return torch.sqrt((dx**2 + dy**2).mean() / 2).item(), params


def test_elastic_displacement_scales_with_alpha_and_matches_the_per_pixel_field():
    sigma = 6.0
    small, params_small = displacement_rms(2.0, sigma)
    large, params_large = displacement_rms(4.0, sigma)
    assert large == pytest.approx(2.0 * small, rel=0.02)
    field_small = params_small.ops[1].draws["displacement"]
    torch.testing.assert_close(params_large.ops[1].draws["displacement"], 2.0 * field_small)
    # albumentations' field: uniform(−1, 1) per pixel, Gaussian of sigma, times alpha.
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(64, 1, 96, 96, generator=g) * 2 - 1
    radius = int(4 * sigma)
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1.0) / sigma) ** 2)
    taps /= taps.sum()
    smooth = torch.nn.functional.conv2d(noise, taps.view(1, 1, 1, -1), padding=(0, radius))
    smooth = torch.nn.functional.conv2d(smooth, taps.view(1, 1, -1, 1), padding=(radius, 0))
    per_pixel = 2.0 * smooth[:, :, radius:-radius, radius:-radius].pow(2).mean().sqrt().item()
    assert small == pytest.approx(per_pixel, rel=0.25)


# --- replay, draws, seeds ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cutmix", "mosaic", "elastic+classmix"])
def test_draws_follow_list_order(name):
    images, masks = batch()
    plain = gpuaug.Compose(geometric(), backend="torch")
    aug = gpuaug.Compose([*geometric(), *CANVAS[name]()], backend="torch")
    a = plain.sample(images, torch.Generator().manual_seed(2), masks=masks)
    b = aug.sample(images, torch.Generator().manual_seed(2), masks=masks)
    assert torch.equal(a.matrix, b.matrix)


@pytest.mark.parametrize("name", ["cutmix", "mosaic", "classmix"])
def test_keyed_draws_replay_the_same_composition_in_any_order(name):
    images, masks = batch(b=6)
    aug = gpuaug.Compose([*geometric(), *CANVAS[name]()], backend="torch")
    ids = torch.tensor([10, 11, 12, 13, 14, 15])
    order = torch.tensor([3, 0, 5, 1, 4, 2])
    out = aug(images, masks, seed=4, sample_ids=ids)
    shuffled = aug(images[order], masks[order], seed=4, sample_ids=ids[order])
    assert torch.equal(shuffled[1], out[1][order])
    torch.testing.assert_close(shuffled[0], out[0][order])

    # Another composition pairs samples differently: the one before the missing sample in each cycle.
    def partner_ids(params, ids):
        draws = params.ops[-1].draws
        partners = draws["partners"] if "partners" in draws else draws["partner"].view(-1, 1)
        return {int(i): ids[partners[k]].tolist() for k, i in enumerate(ids)}

    whole = partner_ids(aug.sample(images, masks=masks, seed=4, sample_ids=ids), ids)
    part = partner_ids(aug.sample(images[:5], masks=masks[:5], seed=4, sample_ids=ids[:5]), ids[:5])
    changed = [i for i in part if part[i] != whole[i]]
    assert len(changed) >= 1 and all(15 in whole[i] for i in changed)


def test_params_round_trip_and_describe():
    images, masks = batch()
    aug = gpuaug.Compose([*geometric(), elastic(), gpuaug.Mosaic(p=1.0)], backend="torch")
    params = aug.sample(images, torch.Generator().manual_seed(1), masks=masks)
    again = gpuaug.Params.from_dict(params.to_dict())
    replayed, original = aug.apply(images, masks, again), aug.apply(images, masks, params)
    assert all(torch.equal(x, y) for x, y in zip(replayed, original, strict=True))
    text = params.describe(2)
    assert "Mosaic" in text and "partners=[" in text and "ElasticTransform: applied=yes, displacement=<2×" in text
    assert len(text) < 2000


def test_one_launch_for_images_and_one_for_masks(launches):
    images, masks = batch()
    for mix in (gpuaug.CutMix(p=1.0), gpuaug.Mosaic(p=1.0)):
        launches.clear()
        gpuaug.Compose([*geometric(), elastic(), mix, gpuaug.Normalize(0.5, 0.5)], backend="triton")(images, masks)
        assert sorted(launches) == ["fused_image_kernel", "gather_nearest_kernel"]


# --- audit ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CANVAS)
def test_audit_passes_every_canvas_pipeline(name):
    aug = gpuaug.Compose([gpuaug.RandomResizedCrop(24), gpuaug.RandomRotation(15), *CANVAS[name]()], backend="torch")
    report = check_pair(aug, 32, batch_size=4, mixing=True)
    assert report.ok, str(report)
    assert report.foreign_pixels == 0
    if name != "elastic":
        assert report.pasted_pixels > 0
    listed = check_pair(aug, [(30, 20), (17, 33), (25, 25)], mixing=True)
    assert listed.ok, str(listed)


def test_audit_catches_a_mix_whose_masks_are_not_mixed():
    def broken(images, masks):
        aug = gpuaug.Compose([gpuaug.RandomResizedCrop(24), gpuaug.CutMix(p=1.0)], backend="torch")
        params = aug.sample(images, masks=masks)
        out_images, _ = aug.apply(images, masks, params)
        plain = gpuaug.Compose([gpuaug.RandomResizedCrop(24)], backend="torch")
        unmixed = gpuaug.Params.from_dict(params.to_dict() | {"ops": [params.ops[0].to_dict()]})
        return out_images, plain.apply(images, masks, unmixed)[1]

    report = check_pair(broken, 32, batch_size=4, mixing=True)
    assert not report.ok and report.foreign_pixels > 0


def test_audit_without_mixing_counts_pasted_pixels_as_foreign():
    aug = gpuaug.Compose([gpuaug.RandomResizedCrop(24), gpuaug.CutMix(p=1.0)], backend="torch")
    report = check_pair(aug, [(30, 20), (17, 33), (25, 25)])
    assert not report.ok and report.foreign_pixels > 0


@settings(max_examples=15, deadline=None)
@given(
    b=st.integers(1, 5),
    h=st.integers(2, 20),
    w=st.integers(2, 20),
    name=st.sampled_from(sorted(CANVAS)),
    seed=st.integers(0, 2**16),
)
def test_property_any_batch_matches_reference(b, h, w, name, seed):
    images, masks = batch(b, 13, 17, seed=seed)
    aug = gpuaug.Compose([gpuaug.RandomResizedCrop((h, w)), gpuaug.RandomRotation(30), *CANVAS[name]()])
    params = aug.sample(images, torch.Generator().manual_seed(seed), masks=masks)
    out = aug.apply(images, masks, params)
    ref = reference.apply(images, masks, params)
    assert torch.equal(out[1], ref[1])
    torch.testing.assert_close(out[0], ref[0], atol=1e-4, rtol=0)


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ops, message",
    [
        ([gpuaug.CutMix(), gpuaug.RandomHorizontalFlip()], r"ops\[0\]: CutMix .* after every geometric op; ops\[1\]"),
        ([gpuaug.Resize(8), gpuaug.CutMix(), gpuaug.Mosaic()], r"ops\[2\]: a chain takes at most one mixing op"),
        ([gpuaug.Resize(8), elastic(), elastic()], r"ops\[2\]: a chain takes at most one ElasticTransform"),
        ([gpuaug.Resize(8), gpuaug.CutMix(), elastic()], r"ops\[2\]: ElasticTransform .* before the mixing op"),
    ],
)
def test_order_errors_name_the_op(ops, message):
    with pytest.raises(ValueError, match=message):
        gpuaug.Compose(ops)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: gpuaug.CutMix(alpha=0), "alpha: expected a finite number > 0"),
        (lambda: gpuaug.CutMix(p=1.5), "p: expected a probability"),
        (lambda: gpuaug.Mosaic(center_range=(0.0, 0.5)), r"center_range: expected 0 < low <= high < 1"),
        (lambda: gpuaug.Mosaic(center_range=(0.7, 0.3)), "center_range: expected min <= max"),
        (lambda: gpuaug.ElasticTransform(1.0, 0.0), "alpha, sigma: expected a finite alpha >= 0 and sigma > 0"),
        (lambda: gpuaug.ElasticTransform(-1.0, 2.0), r"alpha: expected a number in \[0.0, inf\]"),
        (lambda: gpuaug.ClassMix(p=-0.1), "p: expected a probability"),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_classmix_needs_masks_at_sampling_and_replay():
    images, masks = batch()
    aug = gpuaug.Compose([*geometric(), gpuaug.ClassMix()])
    with pytest.raises(ValueError, match=r"ops\[2\]: ClassMix .* needs masks"):
        aug(images)
    with pytest.raises(ValueError, match=r"ops\[2\]: ClassMix .* needs masks"):
        aug.sample(images)
    params = aug.sample(images, masks=masks)
    with pytest.raises(ValueError, match="masks: ClassMix .* replaying it needs the masks"):
        aug.apply(images, None, params)
    with pytest.raises(ValueError, match="masks: ClassMix .* replaying it needs the masks"):
        reference.apply(images, None, params)


@pytest.mark.parametrize("name", ["cutmix", "elastic"])
def test_invert_and_points_refuse_canvas_params(name):
    images, masks = batch()
    aug = gpuaug.Compose([*geometric(), *CANVAS[name]()])
    params = aug.sample(images, masks=masks)
    with pytest.raises(ValueError, match="params: cannot invert .* no single inverse"):
        aug.invert(torch.zeros(5, 2, 16, 16), params)
    points = {"corners": gpuaug.Points(torch.zeros(5, 1, 2))}
    with pytest.raises(ValueError, match="targets: Points cannot follow"):
        aug.apply(images, masks, params, targets=points)
    with pytest.raises(ValueError, match="targets: Points cannot follow"):
        reference.apply(images, masks, params, targets=points)


def test_mosaic_needs_a_canvas_of_two_by_two():
    with pytest.raises(ValueError, match=r"Mosaic: the canvas must be at least 2×2 .* got 1×8"):
        gpuaug.Compose([gpuaug.Resize((1, 8)), gpuaug.Mosaic()])(torch.zeros(2, 3, 4, 4))


def test_variable_size_needs_a_fixed_size_before_a_mix():
    images = [torch.zeros(3, 10, 12), torch.zeros(3, 8, 9)]
    with pytest.raises(ValueError, match=r"ops\[0\]: RandomScale leaves each sample a size of its own"):
        gpuaug.Compose([gpuaug.RandomScale((0.5, 1.0)), gpuaug.CutMix()])(images)


def test_not_allowed_inside_composites():
    with pytest.raises(TypeError, match=r"ops\[0\]: OneOf expected a gpuaug op"):
        gpuaug.OneOf([gpuaug.CutMix(), gpuaug.Mosaic()])


@pytest.mark.parametrize("name", CANVAS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_batch_and_a_batch_of_one(name, backend):
    aug = gpuaug.Compose([gpuaug.Resize((8, 8)), *CANVAS[name](), gpuaug.ColorJitter(0.2)], backend=backend)
    images, masks = aug(torch.zeros(0, 3, 10, 10), torch.zeros(0, 10, 10, dtype=torch.int64))
    assert images.shape == (0, 3, 8, 8) and masks.shape == (0, 8, 8)
    one, one_masks = batch(b=1)
    assert_matches_reference(aug, one, one_masks)  # the partner is the sample itself


@pytest.mark.parametrize("backend", BACKENDS)
def test_pixel_only_composites_may_follow_or_precede_a_mix(backend):
    images, masks = batch()
    after = [gpuaug.RandomApply([gpuaug.ColorJitter(0.4, 0.4)], p=0.5), gpuaug.OneOf([gpuaug.RandomGrayscale(1.0)])]
    for canvas in (CANVAS["cutmix"](), CANVAS["elastic+mosaic"]()):
        between = [gpuaug.RandomApply([gpuaug.ColorJitter(0.3, 0.0, 0.3)], p=0.5)]
        aug = gpuaug.Compose([*geometric(), *between, *canvas, *after], backend=backend)
        assert_matches_reference(aug, images, masks)


@pytest.mark.parametrize(
    "before",
    [gpuaug.ColorJitter(contrast=0.3), gpuaug.GaussianBlur(3), gpuaug.RandomApply([gpuaug.ColorJitter(0.2, 0.2)])],
)
def test_mosaic_refuses_pixel_ops_before_it_that_see_the_whole_image(before):
    with pytest.raises(ValueError, match=r"ops\[1\]: .* before Mosaic would see each quadrant's canvas"):
        gpuaug.Compose([gpuaug.Resize(8), before, gpuaug.Mosaic()])
    gpuaug.Compose([gpuaug.Resize(8), gpuaug.Mosaic(), before])  # after it: the mixed output
    gpuaug.Compose([gpuaug.Resize(8), before, gpuaug.CutMix()])  # a CutMix slot is the source's own view


@pytest.mark.parametrize("b", [1, 2, 3, 4, 5, 16])
def test_mosaic_partners_are_distinct_when_the_batch_allows(b):
    aug = gpuaug.Compose([gpuaug.Resize((8, 8)), gpuaug.Mosaic(p=1.0)], backend="torch")
    for seed in range(5):
        partners = aug.sample(torch.zeros(b, 1, 8, 8), seed=seed).ops[1].draws["partners"]
        sources = torch.cat((torch.arange(b).view(-1, 1), partners), dim=1)
        distinct = [len(set(row)) for row in sources.tolist()]
        assert distinct == [min(b, 4)] * b
        assert sorted(partners[:, 0].tolist()) == list(range(b))  # each column a permutation


def test_cutmix_tiny_alpha_draws_lambda_near_0_or_1_never_nan():
    aug = gpuaug.Compose([gpuaug.Resize((16, 16)), gpuaug.CutMix(alpha=0.001, p=1.0)], backend="torch")
    draws = aug.sample(torch.zeros(4000, 1, 4, 4), torch.Generator().manual_seed(0)).ops[1].draws
    lam = draws["lam"]
    assert not lam.isnan().any()
    assert ((lam > 0.01) & (lam < 0.99)).float().mean().item() < 0.05  # Beta(α, α) → coin flips as α → 0
    assert 0.45 < (lam > 0.5).float().mean().item() < 0.55
    assert ((draws["box"] >= 0) & (draws["box"] <= 16)).all()


@pytest.mark.parametrize(
    "name, field, value, message",
    [
        ("cutmix", "partner", lambda v: v.fill_(-1), r"ops\[2\].draws.partner: expected sample indices in \[0, 4\]"),
        ("mosaic", "partners", lambda v: v.fill_(5), r"ops\[2\].draws.partners: expected sample indices in \[0, 4\]"),
        ("cutmix", "box", lambda v: v.fill_(99), r"ops\[2\].draws.box: expected boxes"),
        ("mosaic", "center", lambda v: v.fill_(0), r"ops\[2\].draws.center: expected centre columns"),
        ("elastic", "displacement", lambda v: v[:, :, :1], r"ops\[2\].draws.displacement: expected shape"),
    ],
)
def test_loaded_params_with_bad_canvas_draws_raise(name, field, value, message):
    images, masks = batch()
    aug = gpuaug.Compose([*geometric(), *CANVAS[name]()], backend="torch")
    data = aug.sample(images, masks=masks).to_dict()
    record = data["ops"][2]["draws"][field]
    record["data"] = value(torch.tensor(record["data"])).tolist()
    with pytest.raises(ValueError, match=message):
        gpuaug.Params.from_dict(data)
