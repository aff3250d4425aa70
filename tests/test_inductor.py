"""The compiled CPU path (``backend="inductor"``, :mod:`gpuaug.inductor`).

A dedicated module rather than a third entry of conftest's ``BACKENDS``: every static
configuration costs a cold inductor compile (10–30 s on 2 cores), so the whole suite on
three backends would add minutes of compiles. Here a few configurations are built once
(module-scoped) and reused by every test: four warp compiles and one pixel-op compile.

- masks bit for bit and images within IMAGE_ATOL against :mod:`gpuaug.reference`, over a
  chain of every geometric op (perspective included), targets, every pixel op, the three
  padding modes, uint8 and float images;
- matrices with decimal entries, whose source points land on integers in exact arithmetic,
  so any change of the coordinate order (or of the floor) flips labels;
- lists and padded batches with ``sizes=`` of new sizes every batch compile once (the
  recipe of mmseg's ADE20K included, counted with dynamo's counters over an epoch);
- a short last batch and a missing C++ compiler run eagerly without compiling.
"""

import pytest
import torch
from conftest import IMAGE_ATOL

import gpuaug
from gpuaug import backends, functional, inductor, peers, reference
from gpuaug.functional import warp_image, warp_mask

pytestmark = pytest.mark.skipif(not backends.cpp_compiler_available(), reason="needs a C++ compiler")

#: The chains' OUT is neither square nor whole 16×16 tiles (2×3 tiles, the last row and column
#: partial), so a swap of the tile rows and columns in the compiled code shows (the decimal-matrix
#: tests keep DECIMAL_OUT, mostly inside the source).
B, H, W, OUT, DECIMAL_OUT = 4, 21, 26, (17, 40), (17, 19)


def data(b=B, h=H, w=W, seed=0, uint8=False):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(b, 3, h, w, generator=g)
    if uint8:
        images = (images * 255).to(torch.uint8)
    masks = torch.randint(0, 40, (b, 1, h, w), generator=g)
    return images, masks


def geometric_ops():
    """Every geometric op, perspective included, in one chain ending at OUT."""
    return [
        gpuaug.RandomScale((0.7, 1.4)),
        gpuaug.RandomCrop((19, 23), pad_if_needed=True),
        gpuaug.CenterCrop((20, 22)),
        gpuaug.RandomHorizontalFlip(),
        gpuaug.RandomVerticalFlip(),
        gpuaug.RandomRotation(30),
        gpuaug.RandomAffine(20, translate=(0.1, 0.1), scale=(0.8, 1.2), shear=10),
        gpuaug.RandomPerspective(0.5, p=0.8),
        gpuaug.Resize((23, 25)),
        gpuaug.RandomResizedCrop(OUT),
    ]


def pixel_ops():
    return [
        gpuaug.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8),
        gpuaug.RandomGrayscale(0.3),
        gpuaug.GaussianNoise(std=(0.0, 0.05), p=0.5),
        gpuaug.GaussianBlur(3, p=0.5),
        gpuaug.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    ]


@pytest.fixture(scope="module")
def geometric():
    """Constant padding, float images, masks and targets: one warp compile for the module."""
    return gpuaug.Compose(geometric_ops(), ignore_index=255, fill=[0.2, 0.5, 0.9], backend="inductor")


@pytest.fixture(scope="module")
def full():
    """Reflect padding with masks following it, uint8 images, every pixel op: one warp and one pixel compile."""
    ops = geometric_ops() + pixel_ops()
    return gpuaug.Compose(ops, ignore_index=255, padding_mode="reflect", mask_padding="same", backend="inductor")


def targets(masks, seed=0):
    g = torch.Generator().manual_seed(seed + 1)
    return {"instances": masks * 1000 + 7, "depth": torch.rand(masks.shape[0], 2, H, W, generator=g)}


def check_against_reference(aug, images, masks, seed, with_targets=False):
    params = aug.sample(images, torch.Generator().manual_seed(seed))
    extra = {"targets": targets(masks, seed)} if with_targets else {}
    out = aug.apply(images, masks, params, **extra)
    ref = reference.apply(images, masks, params, **extra)
    assert torch.equal(out[1], ref[1])
    torch.testing.assert_close(out[0], ref[0], atol=IMAGE_ATOL, rtol=0)
    if with_targets:
        assert torch.equal(out[2]["instances"], ref[2]["instances"])
        torch.testing.assert_close(out[2]["depth"], ref[2]["depth"], atol=IMAGE_ATOL, rtol=0)
    return params


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_geometric_chain_and_targets_match_reference(geometric, seed):
    images, masks = data(seed=seed)
    check_against_reference(geometric, images, masks, seed, with_targets=True)


@pytest.mark.parametrize("seed", [0, 1])
def test_full_chain_reflect_uint8_matches_reference(full, seed):
    images, masks = data(seed=seed, uint8=True)
    check_against_reference(full, images, masks, seed)


@pytest.mark.parametrize("uint8", [False, True])
def test_antialias_matches_reference(geometric, uint8):
    """Antialiased: the source is prefiltered eagerly (float32, contiguous), then the same
    compiled warp as ``geometric``'s float images (no new compile for uint8 sources either)."""
    aug = gpuaug.Compose(geometric.ops, ignore_index=255, fill=[0.2, 0.5, 0.9], backend="inductor", antialias=True)
    images, masks = data(seed=6, uint8=uint8)
    check_against_reference(geometric, *data(seed=6), 6, with_targets=True)  # compiled for float sources
    before = inductor.compile_count()
    params = check_against_reference(aug, images, masks, 6, with_targets=True)
    assert params.antialias and inductor.compile_count() == before


def test_hue_rotations_wrap_around_the_circle_compiled():
    """PhotoMetricDistortion's hue, compiled: every hue rotated by shifts that carry it past 0
    and past a full turn (±0.5 and near them), and replayed shifts beyond half a turn (the same
    rotations), against the reference; the compiled path writes the wrap out (``_hue_mod_6``)."""
    import dataclasses

    shifts = [-0.5, -0.45, -0.2, 0.0, 0.2, 0.45, 0.5, 0.7, -0.9, 1.25, 2.3, -1.8]
    images = torch.rand(len(shifts), 3, 9, 16, generator=torch.Generator().manual_seed(13))
    aug = gpuaug.Compose([gpuaug.Resize((9, 16)), gpuaug.PhotoMetricDistortion()], backend="inductor")
    params = aug.sample(images, seed=0)
    neutral = dict(applied=True, brightness=0.0, contrast_first=True, contrast=1.0, saturation=1.0)
    draws = {k: torch.full((len(shifts),), v) for k, v in neutral.items()} | {"hue": torch.tensor(shifts)}
    draws = {k: v.to(params.ops[1].draws[k].dtype) for k, v in draws.items()}
    params = dataclasses.replace(params, ops=(params.ops[0], dataclasses.replace(params.ops[1], draws=draws)))
    before = inductor.compile_count()
    out = aug.apply(images, None, params)
    assert inductor.compile_count() == before + 2  # the warp and the pixel function compiled and ran
    torch.testing.assert_close(out, reference.apply(images, None, params), atol=IMAGE_ATOL, rtol=0)
    assert (out[:3] - images[:3]).abs().amax() > 0.1  # the hues moved


def aligned_ops():
    """Resizes, crops and flips only: every sample's matrix keeps the axes."""
    return [gpuaug.RandomScale((0.7, 1.4)), gpuaug.RandomCrop(OUT, pad_if_needed=True), gpuaug.RandomHorizontalFlip()]


def test_axis_aligned_labels_of_a_list_are_gathered_where_they_lie(monkeypatch):
    """A list whose every matrix keeps the axes: its label maps come from the eager row and
    column gathers of each sample where it lies (no packed copy for a compiled loop), the
    images alone compiled; masks bit for bit, images within IMAGE_ATOL of the reference."""
    images, masks, _ = variable_batch(mixed_sizes(7), 7, uint8=True)
    aug = gpuaug.Compose(aligned_ops(), ignore_index=255, backend="inductor")
    params = aug.sample(images, torch.Generator().manual_seed(7))
    eager_calls, eager = [], functional.warp_by_axes
    monkeypatch.setattr(functional, "warp_by_axes", lambda *args: eager_calls.append(args) or eager(*args))
    out_images, out_masks = aug.apply(images, masks, params)
    assert [(args[0], len(args[1])) for args in eager_calls] == [(None, 1)]  # the labels only
    ref_images, ref_masks = reference.apply(images, masks, params)
    assert torch.equal(out_masks, ref_masks)
    torch.testing.assert_close(out_images, ref_images, atol=IMAGE_ATOL, rtol=0)


@pytest.mark.parametrize("padded", [False, True])
def test_axis_aligned_labels_of_a_batch_are_compiled_with_the_images(monkeypatch, padded):
    """A stacked batch (or a padded one with ``sizes=``) whose every matrix keeps the axes: its
    label maps are read where they lie by the compiled loop with the images and dense maps (one
    compile, no eager per-sample gathers), every map in its place; all against the reference."""
    if padded:
        images, masks, sizes = variable_batch(mixed_sizes(7), 7, uint8=True, padded=True)
        ref_args = variable_batch(mixed_sizes(7), 7, uint8=True)[:2]
    else:
        (images, masks), sizes = data(seed=7, uint8=True), {}
        ref_args = images, masks
    aug = gpuaug.Compose(aligned_ops(), ignore_index=255, backend="inductor")
    params = aug.sample(images, torch.Generator().manual_seed(7), **sizes)
    extra = {} if padded else {"targets": targets(masks, 7)}
    ref = reference.apply(*ref_args, params, **extra)
    eager_calls = []
    monkeypatch.setattr(functional, "warp_by_axes", lambda *args: eager_calls.append(args))
    before = inductor.compile_count()
    out = aug.apply(images, masks, params, **extra, **sizes)
    assert inductor.compile_count() == before + 1 and not eager_calls
    assert torch.equal(out[1], ref[1])
    torch.testing.assert_close(out[0], ref[0], atol=IMAGE_ATOL, rtol=0)
    if not padded:
        assert torch.equal(out[2]["instances"], ref[2]["instances"])
        torch.testing.assert_close(out[2]["depth"], ref[2]["depth"], atol=IMAGE_ATOL, rtol=0)


def test_configurations_compile_once(geometric, full):
    images, masks = data(seed=5)
    geometric(images, masks, generator=torch.Generator().manual_seed(5), targets=targets(masks))
    uint8 = data(seed=5, uint8=True)
    full(*uint8, generator=torch.Generator().manual_seed(5))
    before = inductor.compile_count()
    for seed in range(6, 9):
        geometric(images, masks, generator=torch.Generator().manual_seed(seed), targets=targets(masks))
        full(*uint8, generator=torch.Generator().manual_seed(seed))
    assert inductor.compile_count() == before


def test_short_last_batch_runs_eagerly_without_recompiling(geometric):
    images, masks = data(seed=3)
    check_against_reference(geometric, images, masks, 3, with_targets=True)  # compiled for B
    before = inductor.compile_count()
    frames = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    short = data(b=B - 1, seed=4)
    check_against_reference(geometric, *short, 4, with_targets=True)
    assert inductor.compile_count() == before
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == frames


def unique_graphs() -> int:
    """The graphs dynamo has compiled in this process (recompiles included)."""
    return torch._dynamo.utils.counters["stats"]["unique_graphs"]


def mixed_sizes(seed, b=B):
    g = torch.Generator().manual_seed(seed)
    return [(int(h), int(w)) for h, w in torch.randint(14, 40, (b, 2), generator=g)]


def variable_batch(sizes, seed, uint8=False, padded=False):
    """Images and int64 masks of per-sample ``sizes``: lists, or padded batches (garbage in the
    padding, which no sample may read) with their ``sizes`` for ``sizes=``."""
    g = torch.Generator().manual_seed(seed)
    images = [torch.rand(3, h, w, generator=g) for h, w in sizes]
    if uint8:
        images = [(t * 255).to(torch.uint8) for t in images]
    masks = [torch.randint(0, 40, (h, w), generator=g) for h, w in sizes]
    if not padded:
        return images, masks, {}
    height, width = (max(v) for v in zip(*sizes, strict=True))
    stacked_images = torch.full((len(sizes), 3, height, width), 77, dtype=images[0].dtype)
    stacked_masks = torch.full((len(sizes), height, width), 39, dtype=torch.int64)
    for k, (h, w) in enumerate(sizes):
        stacked_images[k, :, :h, :w], stacked_masks[k, :h, :w] = images[k], masks[k]
    return stacked_images, stacked_masks, {"sizes": sizes}


def test_variable_size_batches_compile_once(geometric):
    """Lists and padded batches with ``sizes=``, alternating, of new sizes every batch: one
    compile of the variable-size warp (its storage's length is dynamic; both forms are one
    configuration), then none; masks bit for bit."""
    check_against_reference(geometric, *data(seed=0), 0)  # the stacked configuration, compiled earlier
    compiles, graphs = inductor.compile_count(), unique_graphs()
    for seed in range(4):
        images, masks, sizes = variable_batch(mixed_sizes(seed), seed, padded=bool(seed % 2))
        params = geometric.sample(images, torch.Generator().manual_seed(seed), **sizes)
        out_images, out_masks = geometric.apply(images, masks, params, **sizes)
        ref_images, ref_masks = reference.apply(*variable_batch(mixed_sizes(seed), seed)[:2], params)
        assert torch.equal(out_masks, ref_masks)
        torch.testing.assert_close(out_images, ref_images, atol=IMAGE_ATOL, rtol=0)
        assert (inductor.compile_count(), unique_graphs()) == (compiles + 1, graphs + 1), f"batch {seed}"


def test_recipe_on_mixed_sizes_compiles_in_the_first_batch_only():
    """mmseg's ADE20K recipe (class-aware crop, PhotoMetricDistortion, Normalize) over an epoch of
    uint8 lists of new sizes every batch and a short last batch: dynamo compiles the warp and
    the pixel ops in the first batch and nothing after it; masks bit for bit, images within
    IMAGE_ATOL of the reference."""
    aug = gpuaug.Compose(peers.ade20k_ops(24), backend="inductor")
    graphs, attempts = None, []
    for step, b in enumerate([B] * 4 + [B - 1]):
        images, masks, _ = variable_batch(mixed_sizes(10 + step, b), 10 + step, uint8=True)
        for mask in masks[1::2]:  # mostly one class: the class check rejects crops there
            mask[: mask.shape[0] * 3 // 4] = 0
        params = aug.sample(images, masks=masks, seed=step)
        attempts += [r.draws["attempt"] for r in params.ops if r.name == "RandomCrop"]
        out_images, out_masks = aug.apply(images, masks, params)
        ref_images, ref_masks = reference.apply(images, masks, params)
        assert torch.equal(out_masks, ref_masks)
        torch.testing.assert_close(out_images, ref_images, atol=IMAGE_ATOL, rtol=0)
        graphs = unique_graphs() if graphs is None else graphs
        assert unique_graphs() == graphs, f"batch {step} compiled again"
    assert (torch.cat(attempts) > 0).any()  # the class check chose crops in this configuration


def test_missing_compiler_warns_and_runs_eagerly(monkeypatch):
    monkeypatch.setattr(backends, "cpp_compiler_available", lambda: False)
    aug = gpuaug.Compose([gpuaug.RandomAffine(10), gpuaug.Resize(9)], backend="inductor")
    images, masks = data()
    before = inductor.compile_count()
    with pytest.warns(RuntimeWarning, match="needs a C\\+\\+ compiler"):
        params = aug.sample(images, torch.Generator().manual_seed(0))
        out = aug.apply(images, masks, params)
    with pytest.warns(RuntimeWarning, match="needs a C\\+\\+ compiler"):
        warped = warp_mask(masks, params.matrix, params.out_size, backend="inductor")
    assert torch.equal(out[1], reference.apply(images, masks, params)[1])
    assert torch.equal(warped, out[1])
    assert inductor.compile_count() == before


def decimal_matrices(b, perspective):
    """Matrices with decimal entries: many source points are integers in exact arithmetic,
    so float32 rounding in another order than the contract's lands on the other side."""
    g = torch.Generator().manual_seed(7)
    m = torch.randint(-12, 13, (b, 3, 3), generator=g).double() / 10
    m[:, 0, 0] += 1.0
    m[:, 1, 1] += 1.0
    m[:, 0, 2] = torch.randint(0, 30, (b,), generator=g).double() / 10
    m[:, 1, 2] = torch.randint(0, 30, (b,), generator=g).double() / 10
    if perspective:
        m[:, 2, :2] = torch.randint(-3, 4, (b, 2), generator=g).double() / 100
        m[:, 2, 2] = 1.0
    else:
        m[:, 2] = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    return m.float()


def test_warp_mask_decimal_matrices_bit_exact():
    """Functional warp, masks only, perspective divide: the contract's order and floor, bit for bit."""
    _, masks = data(b=8, seed=11)
    matrix = decimal_matrices(8, perspective=True)
    compiled = warp_mask(masks, matrix, DECIMAL_OUT, fill=255, backend="inductor")
    expected = torch.empty_like(compiled)
    for k in range(8):  # the reference's own per-sample steps
        sx, sy, front = reference._source_points(matrix[k], *DECIMAL_OUT, True)
        inside = front & (sx >= 0) & (sx < W) & (sy >= 0) & (sy < H)
        expected[k, 0] = reference._nearest(masks[k, 0], sx, sy, inside, 255)
    assert torch.equal(compiled, expected)
    assert torch.equal(warp_mask(masks, matrix, DECIMAL_OUT, fill=255, backend="torch"), expected)
    assert (compiled != 255).float().mean() > 0.5  # mostly inside: the test exercises the labels


def test_warp_image_replicate_decimal_matrices():
    images, _ = data(b=8, seed=12)
    matrix = decimal_matrices(8, perspective=False)
    settings = {"fill": 0.3, "perspective": False, "padding_mode": "replicate"}
    compiled = warp_image(images, matrix, DECIMAL_OUT, backend="inductor", **settings)
    eager = warp_image(images, matrix, DECIMAL_OUT, backend="torch", **settings)
    torch.testing.assert_close(compiled, eager, atol=IMAGE_ATOL, rtol=0)


def test_bad_backend_names_the_argument():
    with pytest.raises(ValueError, match="backend: expected one of .*'inductor'"):
        gpuaug.Compose([gpuaug.Resize(8)], backend="indcutor")
