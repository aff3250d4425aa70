"""In the training loop: seeded per-sample draws, DDP shards, DataLoader, test-time inversion, torch.compile."""

import io
import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import IMAGE_ATOL

import gpuaug
from gpuaug import probe, reference
from gpuaug.core.records import Params

OPS = [
    gpuaug.RandomResizedCrop(12, scale=(0.3, 1.0)),
    gpuaug.RandomHorizontalFlip(),
    gpuaug.RandomAffine(20, translate=(0.1, 0.1)),
    gpuaug.ColorJitter(0.3, 0.3, 0.3, 0.05),
    gpuaug.GaussianNoise(p=0.5),
]


def data(b=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, 16, 16, generator=g), torch.randint(0, 7, (b, 16, 16), generator=g)


#: OPS with per-sample composites: every child draws for every sample, so the choice cannot shift the keys.
COMPOSED = [
    gpuaug.OneOf([gpuaug.RandomResizedCrop(12, scale=(0.3, 1.0)), gpuaug.RandomCrop(12)], weights=[2, 1]),
    gpuaug.RandomApply([gpuaug.RandomHorizontalFlip(), gpuaug.ColorJitter(0.3, 0.3, 0.3, 0.05)], p=0.5),
    gpuaug.OneOf([gpuaug.RandomAffine(20, translate=(0.1, 0.1)), gpuaug.GaussianNoise(p=1.0)], p=0.7),
]


@pytest.mark.parametrize("ops", [OPS, COMPOSED], ids=["ops", "composed"])
def test_seeded_draws_do_not_depend_on_the_batch(ops):
    images, masks = data()
    aug = gpuaug.Compose(ops)
    ids = torch.tensor([40, 3, 17, 9, 5, 71, 2, 8])
    whole = aug(images, masks, seed=7, sample_ids=ids)
    first = aug(images[:4], masks[:4], seed=7, sample_ids=ids[:4])
    second = aug(images[4:], masks[4:], seed=7, sample_ids=ids[4:].tolist())
    assert torch.equal(whole[0], torch.cat((first[0], second[0])))
    assert torch.equal(whole[1], torch.cat((first[1], second[1])))
    # The same sample in another position of another batch: same augmentation.
    alone = aug(images[5:6], masks[5:6], seed=7, sample_ids=[71])
    assert torch.equal(alone[1], whole[1][5:6])


def test_seed_changes_the_draws_and_ids_default_to_positions():
    images, masks = data()
    aug = gpuaug.Compose(OPS)
    epoch0 = aug.sample(images, seed=0)
    epoch1 = aug.sample(images, seed=1)
    assert not torch.equal(epoch0.matrix, epoch1.matrix)
    assert torch.equal(aug.sample(images, seed=0, sample_ids=torch.arange(8)).matrix, epoch0.matrix)
    assert len(torch.unique(epoch0.ops[1].draws["applied"])) == 2  # per-sample, not per-batch


def test_seeded_uniforms_are_uniform():
    images = torch.zeros(4096, 1, 2, 2)
    draws = gpuaug.Compose([gpuaug.RandomRotation(180)]).sample(images, seed=123).ops[0].draws["angle"]
    counts = torch.histc(draws, bins=16, min=-180, max=180)
    expected = 4096 / 16
    chi2 = (((counts - expected) ** 2) / expected).sum().item()
    assert chi2 < 37.7  # 99.9 % quantile of chi-square with 15 degrees of freedom
    assert abs(draws.mean().item()) < 6


def test_seeded_draws_within_a_sample_are_independent():
    # Each op, and each parameter of one op, must read its own counters of the sample's key:
    # over 4096 keyed samples every pair of draws is uncorrelated (5 sigma is 5/64 = 0.078).
    images = torch.zeros(4096, 1, 2, 2)
    ops = [
        gpuaug.RandomHorizontalFlip(),
        gpuaug.RandomRotation(180),
        gpuaug.RandomAffine((0, 90), scale=(1.0, 2.0), shear=(0, 10, 0, 10)),
        gpuaug.GaussianNoise(p=1.0),
    ]
    params = gpuaug.Compose(ops).sample(images, seed=5, sample_ids=torch.arange(10_000, 14_096))
    flip, rotation, affine, noise = (r.draws for r in params.ops)
    draws = [flip["applied"], rotation["angle"], noise["seed"]]
    draws += [affine[k] for k in ("angle", "scale", "shear_x", "shear_y")]
    correlation = torch.corrcoef(torch.stack([d.double() for d in draws]))
    assert (correlation - torch.eye(len(draws), dtype=torch.float64)).abs().max() < 0.078


@pytest.mark.parametrize("seed", [np.int64(7), np.uint8(7), torch.tensor(7), torch.tensor(7, dtype=torch.int16)])
def test_seed_accepts_integer_numpy_and_torch_scalars(seed):
    images, _ = data()
    aug = gpuaug.Compose(OPS)
    ids = [40, 3, 17, 9, 5, 71, 2, 8]
    expected = aug.sample(images, seed=7, sample_ids=ids)
    scalars = ([np.int64(i) for i in ids], [torch.tensor(i) for i in ids])
    for sample_ids in (ids, np.array(ids), *scalars, torch.tensor(ids)):
        params = aug.sample(images, seed=seed, sample_ids=sample_ids)
        assert torch.equal(params.matrix, expected.matrix)
        pairs = zip(params.ops, expected.ops, strict=True)
        assert all(torch.equal(a.draws[k], b.draws[k]) for a, b in pairs for k in a.draws)
    assert not torch.equal(aug.sample(images, seed=seed + 1, sample_ids=ids).matrix, expected.matrix)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _shard_worker(rank, world, port, queue):
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    images, masks = data()
    ids = torch.arange(8)[rank::world]  # strided shards, as DistributedSampler deals them
    out_images, out_masks = gpuaug.Compose(OPS)(images[ids], masks[ids], seed=3, sample_ids=ids)
    gathered = [None] * world
    dist.all_gather_object(gathered, (ids, out_images, out_masks))
    if rank == 0:
        # As bytes: a tensor put on a queue shares its storage through this process, which
        # may have exited before the parent takes it (connection reset).
        buffer = io.BytesIO()
        torch.save(gathered, buffer)
        queue.put(buffer.getvalue())
    dist.destroy_process_group()


def test_two_gloo_processes_reproduce_the_single_process_result():
    images, masks = data()
    single = gpuaug.Compose(OPS)(images, masks, seed=3, sample_ids=torch.arange(8))
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    port = _free_port()
    processes = [ctx.Process(target=_shard_worker, args=(r, 2, port, queue)) for r in range(2)]
    for p in processes:
        p.start()
    gathered = torch.load(io.BytesIO(queue.get()))
    for p in processes:
        p.join(timeout=60)
        assert p.exitcode == 0
    for ids, out_images, out_masks in gathered:
        assert torch.equal(out_images, single[0][ids]) and torch.equal(out_masks, single[1][ids])


def test_invert_round_trip_is_exact_for_flips_and_integer_crops():
    images, masks = probe.coordinate_probe(4, 10, 14)
    aug = gpuaug.Compose([gpuaug.RandomHorizontalFlip(), gpuaug.RandomVerticalFlip(), gpuaug.CenterCrop((8, 12))])
    params = aug.sample(images, torch.Generator().manual_seed(0))
    out_images, out_masks = aug.apply(images, masks, params)
    back_masks = aug.invert(out_masks, params)
    back_images = aug.invert(out_images, params)
    assert back_masks.shape == masks.shape and back_masks.dtype == masks.dtype
    inside = back_masks != 255
    assert torch.equal(back_masks[inside], masks[inside])
    assert inside.sum() == 4 * 8 * 12  # exactly the cropped window comes back; the border is ignore
    window = inside.expand(-1, 2, -1, -1)
    torch.testing.assert_close(back_images[:, :2][window], images[:, :2][window], atol=1e-4, rtol=0)


def test_invert_round_trip_on_the_coordinate_probe():
    images, masks = probe.coordinate_probe(6, 32, 32)
    aug = gpuaug.Compose([gpuaug.RandomResizedCrop(48, scale=(0.4, 1.0)), gpuaug.RandomAffine(25)])
    params = aug.sample(images, torch.Generator().manual_seed(1))
    out_images, out_masks = aug.apply(images, masks, params)
    back_images = aug.invert(out_images, params)
    back_masks = aug.invert(out_masks, params)
    defined = back_images[:, 2] > 0.999
    assert defined.float().mean() > 0.3
    # Away from the view's edge and the frame's (where taps are clamped to the edge pixel, up
    # to half a pixel off), image coordinates come back to within interpolation error; labels
    # to within a pixel.
    defined &= -torch.nn.functional.max_pool2d(-defined[:, None].float(), 3, 1, 1)[:, 0] > 0.5
    defined[:, [0, -1]] = defined[:, :, [0, -1]] = False
    for axis in (0, 1):
        assert (back_images[:, axis] - images[:, axis])[defined].abs().max() < 0.05
    known = back_masks[:, 0] != 255
    cols, rows = probe.decode(back_masks[:, 0], 32)
    assert known.float().mean() > 0.3
    assert (cols - images[:, 0])[known].abs().max() <= 1 and (rows - images[:, 1])[known].abs().max() <= 1
    # Outside the augmented view the labels are ignore and the logits fill.
    rescaled = aug.invert(out_images[:, :1], params, out_size=(64, 64), fill=-1.0)
    assert rescaled.shape == (6, 1, 64, 64) and (rescaled == -1.0).any()


def test_invert_valid_is_the_window_the_view_covered():
    images, masks = probe.coordinate_probe(3, 10, 14)
    aug = gpuaug.Compose([gpuaug.CenterCrop((8, 12))])
    params = aug.sample(images)
    out_images, out_masks = aug.apply(images, masks, params)
    expected = torch.zeros(3, 10, 14, dtype=torch.bool)
    expected[:, 1:9, 1:13] = True  # the centre crop's window in the source frame
    for predictions in (out_images, out_masks, out_masks[:, 0]):
        inverted, valid = aug.invert(predictions, params, return_valid=True)
        assert valid.dtype == torch.bool and torch.equal(valid, expected)
        assert torch.equal(inverted, aug.invert(predictions, params))
    # At twice the resolution, every source pixel becomes a 2×2 block.
    _, valid = aug.invert(out_images, params, out_size=(20, 28), return_valid=True)
    assert torch.equal(valid, expected.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2))


def test_invert_valid_is_exactly_where_labels_come_back(backend, device):
    g = torch.Generator().manual_seed(3)
    images = torch.rand(6, 3, 18, 26, generator=g).to(device)
    crop = gpuaug.RandomResizedCrop((14, 10), scale=(0.3, 1.0))
    aug = gpuaug.Compose([crop, gpuaug.RandomRotation(30), gpuaug.RandomPerspective(p=1.0)], backend=backend)
    params = aug.sample(images, torch.Generator(device).manual_seed(4))
    # A net's label predictions on the augmented view: never the ignore label.
    predictions = torch.randint(0, 7, (6, 14, 10), generator=g).to(device)
    logits = torch.rand(6, 4, 14, 10, generator=g).to(device)
    for out_size in (None, (27, 13)):
        labels, valid = aug.invert(predictions, params, out_size=out_size, return_valid=True)
        _, valid_too = aug.invert(logits, params, out_size=out_size, fill=-1.0, return_valid=True)
        assert valid.shape == labels.shape and torch.equal(valid, labels != 255)
        assert torch.equal(valid_too, valid)
        assert 0.1 < valid.float().mean() < 0.9


def test_invert_to_another_resolution_on_a_non_square_frame(backend, device):
    # Source 8×10 labelled y·W + x; the view (mirror, 2× upsample) loses nothing, so inverting
    # it to 4×20 (H halved, W doubled) gives each frame pixel the label of the source pixel
    # under its centre s = ((j + 0.5)·10/20, (i + 0.5)·8/4), by the coordinate convention
    # (no s lands on a pixel edge along the mirrored axis, where the round trip could pick either side).
    height, width, frame = 8, 10, (4, 20)
    labels = torch.arange(height * width).view(1, height, width).expand(2, -1, -1)
    aug = gpuaug.Compose([gpuaug.RandomHorizontalFlip(p=1.0), gpuaug.Resize((16, 20))], backend=backend)
    params = aug.sample(torch.zeros(2, 1, height, width), torch.Generator().manual_seed(0))
    view = reference.apply(torch.zeros(2, 1, height, width), labels, params)[1]
    back = aug.invert(view.to(device), params.to(device), out_size=frame)
    sx = (torch.arange(frame[1]) + 0.5) * (width / frame[1])
    sy = (torch.arange(frame[0]) + 0.5) * (height / frame[0])
    expected = sy.floor().long().view(-1, 1) * width + sx.floor().long().view(1, -1)
    assert back.shape == (2, *frame) and torch.equal(back.cpu(), expected.expand(2, -1, -1))
    # Float predictions holding each view pixel's source (x, y) come back as the frame pixel's s
    # (bilinear reproduces a linear ramp exactly away from the border).
    r, c = torch.meshgrid(torch.arange(16) + 0.5, torch.arange(20) + 0.5, indexing="ij")
    ramps = torch.stack((width - c / 2, r / 2)).expand(2, -1, -1, -1)
    back = aug.invert(ramps.to(device), params.to(device), out_size=frame).cpu()
    expected = torch.stack(torch.broadcast_tensors(sx.view(1, -1), sy.view(-1, 1))).expand(2, -1, -1, -1)
    torch.testing.assert_close(back[..., 1:-1, 1:-1], expected[..., 1:-1, 1:-1], atol=1e-5, rtol=0)


def test_invert_of_a_perspective_chain_to_another_resolution_matches_reference(backend, device):
    # The inverse map is frame pixel → source (rescale by the sizes' ratios per axis) → view (M⁻¹),
    # built here independently in float64 and replayed through the reference.
    images, masks = probe.coordinate_probe(2, 12, 20)
    ops = [
        gpuaug.RandomPerspective(0.5, p=1.0),
        gpuaug.RandomResizedCrop(16, scale=(0.5, 1.0)),
        gpuaug.RandomRotation(30),
    ]
    aug = gpuaug.Compose(ops, backend=backend)
    params = aug.sample(images, torch.Generator().manual_seed(0))
    view_images, view_masks = reference.apply(images, masks, params)
    frame = (18, 45)
    rescale = torch.diag(torch.tensor([20 / frame[1], 12 / frame[0], 1.0], dtype=torch.float64))
    inverse = Params((torch.linalg.inv(params.matrix.double()) @ rescale).float(), (16, 16), frame, 255, (-1.0,), True)
    ref_images, ref_masks = reference.apply(view_images, view_masks, inverse)
    back_images = aug.invert(view_images.to(device), params.to(device), out_size=frame, fill=-1.0)
    back_masks = aug.invert(view_masks.to(device), params.to(device), out_size=frame)
    assert (ref_masks == 255).any() and (ref_masks != 255).any()
    assert torch.equal(back_masks.cpu(), ref_masks)
    torch.testing.assert_close(back_images.cpu(), ref_images, atol=IMAGE_ATOL, rtol=0)


def test_invert_checks_its_inputs():
    images, masks = data()
    aug = gpuaug.Compose(OPS)
    params = aug.sample(images, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"predictions: expected 8 maps of the augmented size \(12, 12\)"):
        aug.invert(torch.zeros(8, 5, 16, 16), params)
    with pytest.raises(TypeError, match=r"params: expected gpuaug.Params"):
        aug.invert(torch.zeros(8, 5, 12, 12), None)


class SceneDataset(torch.utils.data.Dataset):
    """uint8 images and int64 masks, decoded on the CPU, no augmentation in the workers."""

    def __len__(self):
        return 12

    def __getitem__(self, index):
        g = torch.Generator().manual_seed(index)
        image = (torch.rand(3, 20, 20, generator=g) * 255).to(torch.uint8)
        mask = torch.randint(0, 4, (20, 20), generator=g)
        return image, mask, index


def test_dataloader_with_workers_then_augment_on_the_device():
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    loader = torch.utils.data.DataLoader(
        SceneDataset(), batch_size=4, num_workers=2, pin_memory=device.type == "cuda", shuffle=True
    )
    aug = gpuaug.Compose([gpuaug.RandomResizedCrop(16), gpuaug.RandomHorizontalFlip()], ignore_index=255)
    seen = []
    for images, masks, ids in loader:
        images, masks, ids = gpuaug.to_device((images, masks, ids), device)
        assert images.device.type == device.type and images.dtype == torch.uint8
        out_images, out_masks = aug(images, masks, seed=0, sample_ids=ids)
        assert out_images.shape == (4, 3, 16, 16) and out_images.dtype == torch.float32
        assert out_masks.dtype == torch.int64 and set(out_masks.unique().tolist()) <= {0, 1, 2, 3, 255}
        seen += ids.tolist()
        # The same sample augments identically outside the loader.
        image, mask, index = SceneDataset()[ids[0].item()]
        single = aug(image[None].to(device), mask[None].to(device), seed=0, sample_ids=[index])
        assert torch.equal(single[1], out_masks[:1])
    assert sorted(seen) == list(range(12))


def test_to_device_keeps_structure():
    batch = {"image": torch.zeros(2), "meta": ("name", [torch.ones(1)])}
    moved = gpuaug.to_device(batch, "cpu")
    assert moved["meta"][0] == "name" and torch.equal(moved["meta"][1][0], torch.ones(1))
    assert moved["image"] is batch["image"]


def test_torch_compile_matches_eager():
    images, masks = data(b=2)
    aug = gpuaug.Compose(OPS[:4], backend="torch")
    compiled = torch.compile(aug)
    out = compiled(images, masks, generator=torch.Generator().manual_seed(0))
    eager = aug(images, masks, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[1], eager[1])
    torch.testing.assert_close(out[0], eager[0], atol=1e-5, rtol=0)
