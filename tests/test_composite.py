"""OneOf and RandomApply: per-sample choice over every child's draws, folded into one matrix.

The frequencies follow ``p`` and ``weights``; the chosen child's matrix is exactly what that
child alone draws (replayed from the same keyed draws), a child not chosen is the identity;
composites nest; the fast paths equal the reference on both backends; the params
round-trip through JSON and describe which child each sample applied.
"""

import json
import math

import pytest
import torch
from conftest import IMAGE_ATOL

import gpuaug
from gpuaug import fusion, probe, reference
from gpuaug.core import hashing
from gpuaug.engine import replay_op
from gpuaug.transforms.base import Draw

GEOMETRIC = [
    gpuaug.RandomAffine(30, translate=(0.1, 0.1), scale=(0.8, 1.2), shear=10),
    gpuaug.RandomRotation(90),
    gpuaug.RandomPerspective(0.5, p=1.0),
    gpuaug.RandomHorizontalFlip(p=1.0),
]


def keyed(b, seed=5):
    """The keyed Draw that Compose.sample(seed=seed) uses for a batch of b with default ids."""
    return Draw(b, torch.device("cpu"), keys=hashing.sample_keys(seed, torch.arange(b)))


def within(count, n, p, sigmas=5.0):
    """Whether ``count`` successes of ``n`` trials are within ``sigmas`` binomial sigmas of n·p."""
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p)) + 1e-9


def test_oneof_frequencies_follow_p_and_weights():
    n, weights, p = 20000, [1.0, 3.0, 0.0, 2.0], 0.8
    aug = gpuaug.Compose([gpuaug.OneOf([gpuaug.RandomHorizontalFlip()] * 4, p=p, weights=weights)])
    choice = aug.sample(torch.zeros(n, 1, 2, 2), torch.Generator().manual_seed(0)).ops[0].draws["choice"]
    assert within(int((choice == -1).sum()), n, 1 - p)
    for k, w in enumerate(weights):
        expected = p * w / sum(weights)
        assert int((choice == k).sum()) == 0 if w == 0 else within(int((choice == k).sum()), n, expected), k


def test_oneof_weights_default_to_uniform_and_random_apply_follows_p():
    n = 20000
    images = torch.zeros(n, 1, 2, 2)
    choice = gpuaug.Compose([gpuaug.OneOf([gpuaug.RandomVerticalFlip()] * 3)]).sample(images, seed=1).ops[0]
    for k in range(3):
        assert within(int((choice.draws["choice"] == k).sum()), n, 1 / 3), k
    applied = gpuaug.Compose([gpuaug.RandomApply([gpuaug.RandomVerticalFlip()], p=0.3)]).sample(images, seed=1)
    assert within(int(applied.ops[0].draws["applied"].sum()), n, 0.3)


def test_chosen_child_matrix_is_what_the_child_alone_draws():
    b, size = 64, (20, 24)
    first = gpuaug.RandomVerticalFlip()
    aug = gpuaug.Compose([first, gpuaug.OneOf(GEOMETRIC, p=0.8)])
    params = aug.sample(torch.zeros(b, 1, *size), seed=5)
    # Replay: the same keyed draws through each op alone, in the order Compose draws them.
    draw = keyed(b)
    before = first.sample(draw, size).matrix
    alone = [op.sample(draw, size) for op in GEOMETRIC]
    choice = params.ops[1].draws["choice"]
    assert set(choice.tolist()) == {-1, 0, 1, 2, 3}
    for i in range(b):
        k = int(choice[i])
        step = torch.eye(3, dtype=torch.float64) if k < 0 else alone[k].matrix[i]
        assert torch.equal(params.matrix[i], (before[i] @ step).float()), i
    for k, (record, step) in enumerate(zip(params.ops[1].children, alone, strict=True)):
        assert record.draws.keys() == step.draws.keys()
        assert all(torch.equal(record.draws[n], step.draws[n]) for n in step.draws), k
    assert params.perspective


def test_random_apply_is_the_whole_list_or_the_identity():
    b, size = 48, (16, 16)
    ops = [gpuaug.RandomRotation(40), gpuaug.RandomHorizontalFlip(p=1.0), gpuaug.ColorJitter(0.5)]
    params = gpuaug.Compose([gpuaug.RandomApply(ops, p=0.5)]).sample(torch.zeros(b, 3, *size), seed=5)
    draw = keyed(b)
    rotation, flip = ops[0].sample(draw, size).matrix, ops[1].sample(draw, size).matrix
    applied = params.ops[0].draws["applied"]
    assert 0 < int(applied.sum()) < b
    expected = torch.where(applied.view(-1, 1, 1), rotation @ flip, torch.eye(3, dtype=torch.float64))
    assert torch.equal(params.matrix, expected.float())
    assert not params.perspective


def test_nesting_oneof_in_random_apply_in_compose():
    b, size = 64, (12, 12)
    inner = gpuaug.OneOf([gpuaug.RandomRotation(45), gpuaug.RandomPerspective(0.4, p=1.0)], weights=[1, 3])
    aug = gpuaug.Compose([gpuaug.RandomApply([gpuaug.RandomHorizontalFlip(p=1.0), inner], p=0.6)])
    params = aug.sample(torch.zeros(b, 3, *size), seed=5)
    draw = keyed(b)
    flip = gpuaug.RandomHorizontalFlip(p=1.0).sample(draw, size).matrix
    rotation, perspective = inner.ops[0].sample(draw, size).matrix, inner.ops[1].sample(draw, size).matrix
    record = params.ops[0]
    applied, choice = record.draws["applied"], record.children[1].draws["choice"]
    assert set(zip(applied.tolist(), choice.tolist(), strict=True)) == {(a, c) for a in (False, True) for c in (0, 1)}
    eye = torch.eye(3, dtype=torch.float64)
    for i in range(b):
        expected = flip[i] @ (rotation[i] if choice[i] == 0 else perspective[i]) if applied[i] else eye
        assert torch.equal(params.matrix[i], expected.float()), i
    assert params.perspective


@pytest.mark.parametrize("child", range(5))
def test_every_child_is_aligned_on_the_coordinate_probe(child):
    h, w = 30, 26
    children = [
        gpuaug.RandomResizedCrop(16, scale=(0.3, 1.0)),
        gpuaug.RandomCrop(16),
        gpuaug.Resize((16, 16)),
        gpuaug.CenterCrop(16),
        gpuaug.OneOf([gpuaug.RandomCrop(16, pad_if_needed=True), gpuaug.CenterCrop(16)]),
    ]
    weights = [float(k == child) for k in range(len(children))]
    tail = gpuaug.RandomApply([gpuaug.RandomAffine(30), gpuaug.RandomPerspective(0.5, p=1.0)])
    aug = gpuaug.Compose([gpuaug.OneOf(children, weights=weights), tail])
    images, masks = probe.coordinate_probe(6, h, w, ignore_index=255)
    params = aug.sample(images, torch.Generator().manual_seed(child))
    assert (params.ops[0].draws["choice"] == child).all()
    out_images, out_masks = aug.apply(images, masks, params)
    metrics = probe.measure_alignment(out_images, out_masks, w, 255)
    assert metrics["inside_pixels"] > 0 and max(metrics["alignment_px"]) <= 0.5 + 1e-3
    assert metrics["outside_not_ignore"] == 0


def mixed_chain():
    """Geometric and pixel children, nested, with a fusable colour op before the composites."""
    return [
        gpuaug.ColorJitter(0.3, 0.3),
        gpuaug.OneOf(
            [gpuaug.RandomResizedCrop(10), gpuaug.RandomCrop(10, pad_if_needed=True), gpuaug.Resize((10, 10))]
        ),
        gpuaug.RandomApply(
            [
                gpuaug.RandomAffine(25),
                gpuaug.ColorJitter(0.4, 0.4, 0.4, 0.1),
                gpuaug.OneOf(
                    [gpuaug.RandomGrayscale(p=1.0), gpuaug.GaussianBlur(3, p=1.0), gpuaug.RandomPerspective()]
                ),
            ],
            p=0.6,
        ),
        gpuaug.OneOf([gpuaug.GaussianNoise(p=1.0), gpuaug.Normalize(0.5, 0.25)], p=0.7, weights=[1, 2]),
    ]


def test_mixed_chain_matches_reference(backend, device):
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(8, 3, 13, 11, generator=g) * 255).to(torch.uint8)
    masks = torch.randint(0, 9, (8, 13, 11), generator=g, dtype=torch.int16)
    aug = gpuaug.Compose(mixed_chain(), ignore_index=-1, fill=0.3, backend=backend)
    params = aug.sample(images, seed=2)
    # Every branch is taken by some sample of this batch.
    assert set(params.ops[1].draws["choice"].tolist()) == {0, 1, 2}
    assert set(params.ops[2].draws["applied"].tolist()) == {False, True}
    assert set(params.ops[2].children[2].draws["choice"].tolist()) == {0, 1, 2}
    assert set(params.ops[3].draws["choice"].tolist()) == {-1, 0, 1}
    out_images, out_masks = aug.apply(images.to(device), masks.to(device), params.to(device))
    ref_images, ref_masks = reference.apply(images, masks, params)
    assert out_masks.dtype == torch.int16 and torch.equal(out_masks.cpu(), ref_masks)
    torch.testing.assert_close(out_images.cpu(), ref_images, atol=IMAGE_ATOL, rtol=0)


def test_pixel_children_apply_only_where_chosen():
    images = torch.rand(16, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    aug = gpuaug.Compose([gpuaug.OneOf([gpuaug.Normalize(0.5, 0.25), gpuaug.RandomGrayscale(p=1.0)], p=0.8)])
    masks = torch.zeros(16, 6, 6, dtype=torch.uint8)
    params = aug.sample(images, seed=2)
    out, out_masks = aug.apply(images, masks, params)
    assert out_masks is masks  # a pixel-only composite warps nothing
    choice = params.ops[0].draws["choice"]
    assert set(choice.tolist()) == {-1, 0, 1}
    gray = gpuaug.RandomGrayscale(p=1.0).apply(images, {"applied": torch.ones(16, dtype=torch.bool)})
    expected = torch.where(
        (choice == 0).view(-1, 1, 1, 1),
        (images - 0.5) / 0.25,
        torch.where((choice == 1).view(-1, 1, 1, 1), gray, images),
    )
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


def test_params_round_trip_through_json_and_replay():
    images = torch.rand(6, 3, 13, 11, generator=torch.Generator().manual_seed(1))
    aug = gpuaug.Compose(mixed_chain(), backend="torch")
    params = aug.sample(images, torch.Generator().manual_seed(4))
    restored = gpuaug.Params.from_dict(json.loads(json.dumps(params.to_dict())))
    assert restored.to_dict() == params.to_dict()
    assert [len(r.children) for r in restored.ops] == [0, 3, 3, 2]
    assert torch.equal(aug.apply(images, None, restored), aug.apply(images, None, params))
    torch.testing.assert_close(
        reference.apply(images, None, restored), aug.apply(images, None, params), atol=IMAGE_ATOL, rtol=0
    )


def test_describe_marks_the_child_each_sample_applied():
    aug = gpuaug.Compose([gpuaug.OneOf([gpuaug.RandomHorizontalFlip(), gpuaug.GaussianBlur(3)], p=0.7)])
    params = aug.sample(torch.zeros(32, 3, 8, 8), seed=3)
    choice = params.ops[0].draws["choice"].tolist()
    for k in (-1, 0, 1):
        i = choice.index(k)
        lines = params.describe(i).splitlines()
        assert lines[1] == f"  OneOf: choice={k}"
        assert lines[2].startswith("    [x] RandomHorizontalFlip" if k == 0 else "    [ ] RandomHorizontalFlip")
        assert lines[3].startswith("    [x] GaussianBlur: applied=" if k == 1 else "    [ ] GaussianBlur: applied=")


def test_oneof_children_of_one_fixed_size_need_no_input_size():
    aug = gpuaug.OneOf([gpuaug.RandomCrop(8), gpuaug.Resize((8, 8)), gpuaug.RandomHorizontalFlip()])
    assert aug.fixed_size == (8, 8)
    out = gpuaug.Compose([aug])(torch.rand(2, 3, 8, 8), generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 3, 8, 8)


FUSABLE_COMPOSITES = {
    "oneof-jitter-gray": [gpuaug.OneOf([gpuaug.ColorJitter(0.4, 0.4, 0.4, 0.1), gpuaug.RandomGrayscale(p=1.0)], p=0.8)],
    "randomapply-jitter-noise": [
        gpuaug.ColorJitter(brightness=0.3, p=0.5),
        gpuaug.RandomApply([gpuaug.RandomGrayscale(p=0.7), gpuaug.GaussianNoise(p=1.0)], p=0.6),
        gpuaug.Normalize(0.5, 0.25),
    ],
}


@pytest.mark.parametrize("name", sorted(FUSABLE_COMPOSITES))
def test_composites_of_kernel_steps_run_in_the_fused_kernel(name, backend, device):
    images = (torch.rand(16, 3, 9, 14, generator=torch.Generator().manual_seed(1)) * 255).to(torch.uint8)
    ops = [gpuaug.RandomAffine(20), *FUSABLE_COMPOSITES[name]]
    aug = gpuaug.Compose(ops, fill=0.2, backend=backend)
    params = aug.sample(images, seed=5)
    pixel = [(replay_op(r), r.draws) for r in params.ops if r.has_pixel]
    assert fusion.fusable(pixel, 3) == len(pixel)  # the whole pixel chain is one kernel pass
    out = aug.apply(images.to(device), None, params.to(device))
    torch.testing.assert_close(out.cpu(), reference.apply(images, None, params), atol=IMAGE_ATOL, rtol=0)


def test_composites_outside_the_kernel_order_are_not_fused():
    images = torch.rand(4, 3, 8, 8)
    chains = {
        "normalize-child": [gpuaug.OneOf([gpuaug.Normalize(0.5, 0.25), gpuaug.RandomGrayscale(p=1.0)])],
        "reverse-order": [gpuaug.RandomApply([gpuaug.RandomGrayscale(p=1.0), gpuaug.ColorJitter(0.2)])],
        "after-its-stage": [
            gpuaug.RandomGrayscale(p=0.5),
            gpuaug.OneOf([gpuaug.ColorJitter(0.2), gpuaug.GaussianNoise()]),
        ],
        "nested": [gpuaug.OneOf([gpuaug.RandomApply([gpuaug.ColorJitter(0.2)])])],
    }
    for name, ops in chains.items():
        params = gpuaug.Compose(ops).sample(images, seed=0)
        pixel = [(replay_op(r), r.draws) for r in params.ops if r.has_pixel]
        assert fusion.fusable(pixel, 3) == len(pixel) - 1, name
