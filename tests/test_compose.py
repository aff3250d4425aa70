"""Compose and Params: per-sample draws, replay, logging, reproducibility, return conventions."""

import json

import torch

import gpuaug
from gpuaug import reference

OPS = [
    gpuaug.RandomResizedCrop(12),
    gpuaug.RandomHorizontalFlip(),
    gpuaug.RandomAffine(20, translate=(0.1, 0.1), scale=(0.9, 1.1)),
]


def data(b=4, h=16, w=20):
    g = torch.Generator().manual_seed(5)
    return torch.rand(b, 3, h, w, generator=g), torch.randint(0, 10, (b, h, w), generator=g)


def test_params_are_per_sample():
    images = torch.zeros(64, 1, 8, 8)
    params = gpuaug.Compose([gpuaug.RandomHorizontalFlip()]).sample(images, torch.Generator().manual_seed(0))
    flips = int(params.ops[0].draws["applied"].sum())
    assert 0 < flips < 64
    rotations = gpuaug.Compose([gpuaug.RandomRotation(30)]).sample(images, torch.Generator().manual_seed(0))
    assert len(torch.unique(rotations.ops[0].draws["angle"])) == 64


def test_same_seed_same_output_and_different_seed_differs():
    images, masks = data()
    aug = gpuaug.Compose(OPS)
    a = aug(images, masks, generator=torch.Generator().manual_seed(1))
    b = aug(images, masks, generator=torch.Generator().manual_seed(1))
    c = aug(images, masks, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_call_equals_apply_of_sample():
    images, masks = data()
    aug = gpuaug.Compose(OPS)
    out = aug(images, masks, generator=torch.Generator().manual_seed(3))
    params = aug.sample(images, torch.Generator().manual_seed(3))
    replay = aug.apply(images, masks, params)
    assert torch.equal(out[0], replay[0]) and torch.equal(out[1], replay[1])


def test_images_alone_when_masks_is_none():
    images, masks = data()
    aug = gpuaug.Compose(OPS)
    out = aug(images, generator=torch.Generator().manual_seed(3))
    assert isinstance(out, torch.Tensor) and out.shape == (4, 3, 12, 12) and out.dtype == torch.float32
    pair = aug(images, masks, generator=torch.Generator().manual_seed(3))
    assert torch.equal(out, pair[0])
    assert pair[1].shape == (4, 12, 12) and pair[1].dtype == masks.dtype


def test_default_generator_draws_from_torch_rng():
    images, masks = data()
    aug = gpuaug.Compose(OPS)
    torch.manual_seed(11)
    a = aug(images, masks)
    torch.manual_seed(11)
    b = aug(images, masks)
    assert torch.equal(a[1], b[1])


def test_params_round_trip_through_json():
    images, masks = data()
    aug = gpuaug.Compose(OPS + [gpuaug.RandomPerspective(p=1.0)], ignore_index=-100, fill=[0.1, 0.2, 0.3])
    params = aug.sample(images, torch.Generator().manual_seed(4))
    restored = gpuaug.Params.from_dict(json.loads(json.dumps(params.to_dict())))
    assert torch.equal(restored.matrix, params.matrix)
    assert (restored.in_size, restored.out_size, restored.ignore_index) == ((16, 20), (12, 12), -100)
    assert restored.fill == (0.1, 0.2, 0.3) and restored.perspective
    for a, b in zip(restored.ops, params.ops, strict=True):
        assert a.name == b.name and a.draws.keys() == b.draws.keys()
        assert all(torch.equal(a.draws[k], b.draws[k]) for k in a.draws)
    # Replay without the Compose, through the fast path and through the reference.
    out = aug.apply(images, masks, params)
    again = gpuaug.Compose([]).apply(images, masks, restored)
    assert torch.equal(out[1], again[1]) and torch.equal(out[0], again[0])
    assert torch.equal(reference.apply(images, masks, restored)[1], out[1])


def test_describe_logs_each_op():
    images, _ = data()
    params = gpuaug.Compose(OPS).sample(images, torch.Generator().manual_seed(0))
    text = params.describe(1)
    assert text.startswith("sample 1 of 4: 16x20 -> 12x12")
    flipped = "yes" if params.ops[1].draws["applied"][1] else "no"
    assert f"RandomHorizontalFlip: applied={flipped}" in text
    assert f"top={int(params.ops[0].draws['top'][1])}" in text
    assert "angle=" in text and "matrix (output->source)" in text


def test_params_to_device_moves_every_tensor():
    images, _ = data()
    params = gpuaug.Compose(OPS).sample(images, torch.Generator().manual_seed(0)).to("cpu")
    assert params.matrix.device.type == "cpu"
    assert all(v.device.type == "cpu" for r in params.ops for v in r.draws.values())


def test_empty_batch():
    images = torch.zeros(0, 3, 16, 20)
    masks = torch.zeros(0, 1, 16, 20, dtype=torch.uint8)
    out_images, out_masks = gpuaug.Compose(OPS)(images, masks)
    assert out_images.shape == (0, 3, 12, 12) and out_masks.shape == (0, 1, 12, 12)
    assert out_masks.dtype == torch.uint8


def test_outputs_contiguous_and_inputs_untouched():
    images, masks = data()
    images = images.contiguous(memory_format=torch.channels_last)
    before = images.clone(), masks.clone()
    out_images, out_masks = gpuaug.Compose(OPS, fill=0.5)(images, masks, generator=torch.Generator().manual_seed(0))
    assert out_images.is_contiguous() and out_masks.is_contiguous()
    assert torch.equal(images, before[0]) and torch.equal(masks, before[1])


def test_negative_ignore_index_outside():
    images, masks = data()
    aug = gpuaug.Compose([gpuaug.RandomScale((0.5, 0.5))], ignore_index=-100)
    _, out = aug(images, masks.to(torch.int16), generator=torch.Generator().manual_seed(0))
    assert out.dtype == torch.int16
    assert (out == -100).sum() > 0 and set(out.unique().tolist()) <= set(range(10)) | {-100}


def test_repr_lists_ops():
    text = repr(gpuaug.Compose(OPS))
    assert "RandomResizedCrop(size=(12, 12)" in text and "ignore_index=255" in text
