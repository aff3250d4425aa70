"""The audit on real pipelines: pixel ops anywhere in the chain are appearance, not misalignment,
and each of the three bugs is named as itself when it hides among pixel ops."""

import pytest
import torch

import gpuaug
from gpuaug import audit, probe
from gpuaug.naive import BUGS, NaivePipeline

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
GEOMETRY = [gpuaug.RandomResizedCrop(40, scale=(0.3, 1.0)), gpuaug.RandomHorizontalFlip(), gpuaug.RandomAffine(20)]
PIXEL_OPS = {
    "jitter-normalize": lambda: [gpuaug.ColorJitter(0.4, 0.4, 0.4, 0.1), gpuaug.Normalize(MEAN, STD)],
    "photometric": lambda: [gpuaug.PhotoMetricDistortion()],
    "blur": lambda: [gpuaug.GaussianBlur(5, p=1.0)],
    "noise": lambda: [gpuaug.GaussianNoise(std=(0.05, 0.1), p=1.0)],
    "everything": lambda: [
        gpuaug.PhotoMetricDistortion(),
        gpuaug.GaussianBlur(5, p=1.0),
        gpuaug.GaussianNoise(p=1.0),
        gpuaug.Normalize(MEAN, STD),
    ],
}


def check(fn, size=48, batch=4):
    return audit.check_pair(fn, size, batch_size=batch)


@pytest.mark.parametrize("where", ["after", "before"])
@pytest.mark.parametrize("pixel", sorted(PIXEL_OPS))
def test_correct_pipelines_with_pixel_ops_pass(pixel, where):
    ops = GEOMETRY + PIXEL_OPS[pixel]() if where == "after" else PIXEL_OPS[pixel]() + GEOMETRY
    report = check(gpuaug.Compose(ops, backend="torch"))
    assert report.ok, str(report)
    assert report.bugs == () and report.appearance_separated is True
    assert max(report.alignment_px) <= 0.5 and report.inside_pixels > 0


#: The bug each naive switch injects, as the audit names it.
NAMES = {
    "desync": "desync",
    "bilinear_mask": "interpolated labels",
    "ignore_lost": "lost ignore",
    "float_mask": "lost dtype",
}


@pytest.mark.parametrize("pixel", ["jitter-normalize", "everything"])
@pytest.mark.parametrize("bug", sorted(BUGS))
def test_each_bug_among_pixel_ops_is_named(bug, pixel):
    naive = NaivePipeline.only(bug, GEOMETRY + PIXEL_OPS[pixel]())
    report = check(lambda images, masks: naive(images, masks))
    wanted = (NAMES[bug],) if bug != "desync" else ("desync", "lost ignore")  # other draws also pad elsewhere
    assert report.bugs == wanted, str(report)
    assert ", ".join(wanted) in str(report).splitlines()[-2]  # the "bugs" line, above "ok NO"
    assert not report.ok and report.to_dict()["bugs"] == list(wanted)


@pytest.mark.parametrize("size", [48, 32, 16, 96])
def test_interpolated_labels_are_found_at_every_scale(size):
    resize = [gpuaug.Resize((size, size))]
    report = check(NaivePipeline.only("bilinear_mask", resize), size=64, batch=2)
    assert report.new_labels > 0 and report.bugs == ("interpolated labels",), str(report)
    assert check(gpuaug.Compose(resize), size=64, batch=2).ok


def test_a_pipeline_that_does_not_replay_says_so():
    generator = torch.Generator().manual_seed(0)  # its own generator: every call draws anew
    aug = gpuaug.Compose(GEOMETRY + [gpuaug.Normalize(MEAN, STD)])
    report = check(lambda images, masks: aug(images, masks, generator=generator))
    assert report.appearance_separated is False and not report.ok
    assert "does not replay under torch.manual_seed" in str(report)
    plain = gpuaug.Compose(GEOMETRY)
    assert check(lambda images, masks: plain(images, masks, generator=generator)).appearance_separated is None


def test_lists_with_pixel_ops_pass_and_a_swap_is_foreign():
    from gpuaug import peers

    aug = gpuaug.Compose(peers.ade20k_ops(24), backend="torch")  # PhotoMetricDistortion + Normalize
    sizes = [(30, 40), (30, 40), (23, 31)]
    report = audit.check_pair(aug, sizes)
    assert report.ok and report.appearance_separated and report.foreign_pixels == 0, str(report)
    swapped = audit.check_pair(lambda images, masks: aug(images, [masks[1], masks[0], masks[2]]), sizes)
    assert swapped.bugs == ("desync",) and swapped.foreign_pixels > 0, str(swapped)


def test_mixing_with_pixel_ops_passes():
    jitter, mix = gpuaug.ColorJitter(0.3, 0.3), gpuaug.CutMix(p=1.0)
    ops = [gpuaug.RandomResizedCrop(24), jitter, mix, gpuaug.Normalize(0.5, 0.25)]
    report = audit.check_pair(gpuaug.Compose(ops, backend="torch"), 32, batch_size=4, mixing=True)
    assert report.ok and report.pasted_pixels > 0, str(report)


def test_stripes_decode_every_position_and_halfway():
    codes = torch.arange(40).view(1, 40)
    middle = sum(probe.BIT_LEVELS) / 2
    stripes = torch.stack([probe.stripe_plane([codes], s)[0][0].reshape(-1) - middle for s in range(8)])
    cells = torch.stack([probe.bit_plane([codes // probe.CELL], b)[0][0].reshape(-1) - middle for b in range(4)])
    tie = torch.full((40,), 1e-6)
    position, halfway, reliable = probe.decode_axis(stripes.double(), cells.double(), tie)
    assert torch.equal(position, torch.arange(40, dtype=torch.float64)) and reliable.all() and not halfway.any()
    blend = (stripes[:, :-1] + stripes[:, 1:]) / 2  # a bilinear tap halfway between neighbours
    position, halfway, reliable = probe.decode_axis(blend.double(), cells[:, :-1].double(), tie[:-1])
    assert torch.equal(position, torch.arange(39) + 0.5) and halfway.all() and reliable.all()


def test_checkerboard_neighbours_differ():
    masks, labels = probe.checkerboard_labels([(3, 4)], ignore_index=0)
    assert 0 not in labels and set(masks[0].unique().tolist()) == set(labels)
    assert (masks[0][:, 1:] != masks[0][:, :-1]).all() and (masks[0][1:] != masks[0][:-1]).all()
