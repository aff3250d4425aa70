"""The probe and the audit on variable-size batches: gpuaug passes on lists, each list bug is caught."""

import json
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import gpuaug
from gpuaug import audit, audit_report, probe
from gpuaug.functional import warp_image

#: Samples 0 and 1 share a size, so swapping them keeps every geometric relation intact.
SIZES = [(30, 40), (30, 40), (23, 31), (40, 17)]


#: RandomResize scales: the first as mmseg's ADE recipe has it (scaled down); the second mostly
#: below the crop, so the padding puts source-less pixels in every batch.
SCALES = [(32, 48), (16, 24)]


def ade_chain(backend, scale=SCALES[0], ignore_index=255):
    ops = [
        gpuaug.RandomResize(scale, (0.5, 2.0)),
        gpuaug.RandomCrop(24, pad_if_needed=True),
        gpuaug.RandomHorizontalFlip(),
        gpuaug.RandomAffine(15),
    ]
    return gpuaug.Compose(ops, ignore_index=ignore_index, backend=backend)


def test_list_probe_encodes_sample_and_pixel():
    images, masks = probe.coordinate_probe_list([(3, 4), (5, 2)], ignore_index=7)
    assert [tuple(t.shape) for t in images] == [(4, 3, 4), (4, 5, 2)] and all(t.dtype == torch.float32 for t in images)
    assert [tuple(t.shape) for t in masks] == [(3, 4), (5, 2)] and all(t.dtype == torch.int64 for t in masks)
    assert images[1][0, 3, 1] == 1 and images[1][1, 3, 1] == 3 and (images[1][2] == 1).all()
    assert (images[0][3] == 0).all() and (images[1][3] == 1).all()
    assert masks[0][1, 2] == 6 and masks[0][2, 3] == 11 + 1  # past the ignore value, labels shift by one
    assert masks[1][3, 1] == 12 + 3 * 2 + 1 + 1  # after sample 0's 12 pixels, with its own width 2
    assert not any((m == 7).any() for m in masks)
    for labels in (masks[0], masks[1]):
        sample, col, row = probe.decode_list(labels, [(3, 4), (5, 2)], ignore_index=7)
        k = 0 if labels is masks[0] else 1
        assert (sample == k).all()
        ys, xs = torch.meshgrid(torch.arange(labels.shape[0]), torch.arange(labels.shape[1]), indexing="ij")
        assert torch.equal(col, xs) and torch.equal(row, ys)
    sample, _, _ = probe.decode_list(torch.tensor([7, -1, 22, 23]), [(3, 4), (5, 2)], ignore_index=7)
    assert sample.tolist() == [-1, -1, 1, -1]  # ignore, and labels that are no pixel of the batch


def test_list_label_probe_has_only_the_sparse_labels():
    images, masks = probe.label_probe_list([(9, 6), (4, 13)])
    assert [tuple(t.shape) for t in images] == [(4, 9, 6), (4, 4, 13)]
    assert set(torch.cat([m.flatten() for m in masks]).tolist()) == set(probe.PROBE_LABELS)


def test_identity_lists_are_aligned_and_a_swap_is_foreign():
    images, masks = probe.coordinate_probe_list(SIZES)
    metrics = probe.measure_alignment_list(images, masks, SIZES)
    assert metrics["alignment_px"] == (0.0, 0.0) and metrics["foreign_pixels"] == 0
    assert metrics["inside_pixels"] == sum(h * w for h, w in SIZES)
    swapped = probe.measure_alignment_list(images, [masks[1], masks[0], *masks[2:]], SIZES)
    assert swapped["foreign_pixels"] == 2 * 30 * 40
    assert swapped["inside_pixels"] == metrics["inside_pixels"] - 2 * 30 * 40


@pytest.mark.parametrize("scale", SCALES)
def test_gpuaug_passes_on_lists(scale, backend, device):
    report = audit.check_pair(ade_chain(backend, scale), image_size=SIZES, device=device)
    assert report.ok, report
    assert max(report.alignment_px) <= 0.5 + audit_report.ALIGNMENT_TOLERANCE
    assert report.foreign_pixels == 0 and report.outside_not_ignore == 0 and report.new_labels == 0
    assert report.per_sample and report.dtype_kept and report.inside_pixels > 0
    assert report.to_dict()["foreign_pixels"] == 0 and "from another sample (pixels)" in str(report)


def test_batch_size_is_implied_by_the_sizes():
    seen = []

    def record(images, masks):
        seen.append([tuple(t.shape) for t in images])
        return images, masks

    report = audit.check_pair(record, image_size=SIZES[2:], batch_size=2)
    assert seen[0] == [(4, 23, 31), (4, 40, 17)] and seen[2] == [(4, 23, 31), (4, 23, 31)]
    assert report.ok and report.alignment_px == (0.0, 0.0) and not report.per_sample
    assert audit.check_pair(record, image_size=SIZES[2:]) == report


def test_batch_wide_list_transform_is_not_per_sample():
    def flip_all(images, masks):  # one decision for the whole batch; per-sample outputs of their own sizes
        return [t.flip(-1) for t in images], [t.flip(-1) for t in masks]

    report = audit.check_pair(flip_all, image_size=SIZES)
    assert report.ok and not report.per_sample and report.alignment_px == (0.0, 0.0)


def bilinear_masks(aug):
    """Masks warped per sample as float images (bilinear), then truncated back to labels."""

    def fn(images, masks):
        params = aug.sample(images)
        out = aug.apply(images, None, params)
        soft = [
            warp_image(m[None, None].float(), params.matrix[k : k + 1], params.out_size, fill=255.0)
            for k, m in enumerate(masks)
        ]
        return out, torch.cat(soft)[:, 0].long()

    return fn


def separate_draws(aug):
    """Each sample's image and mask warped with independent draws."""

    def fn(images, masks):
        image_params, mask_params = aug.sample(images), aug.sample(images)
        return aug.apply(images, None, image_params), aug.apply(images, masks, mask_params)[1]

    return fn


def swapped_masks(aug):
    """Sample 0's mask goes with sample 1's image and back (their sizes match, so the call goes through)."""

    def fn(images, masks):
        return aug(images, [masks[1], masks[0], *masks[2:]])

    return fn


def swapped_images(aug):
    """Sample 0's image goes with sample 1's mask and back."""

    def fn(images, masks):
        return aug([images[1], images[0], *images[2:]], masks)

    return fn


def zero_outside(aug):
    """Outside pixels written as 0, a real label."""

    def fn(images, masks):
        out, out_masks = aug(images, masks)
        return out, out_masks.masked_fill(out_masks == 255, 0)

    return fn


@pytest.mark.parametrize(
    ("broken", "symptom"),
    [
        (bilinear_masks, lambda r: r.new_labels > 0),
        (separate_draws, lambda r: max(r.alignment_px) > 2),
        # Same size, same draws: the geometry is aligned, only the sample index shows the swap.
        (swapped_masks, lambda r: max(r.alignment_px) <= 0.5 and r.foreign_pixels > 0),
        (swapped_images, lambda r: max(r.alignment_px) <= 0.5 and r.foreign_pixels > 0),
        (zero_outside, lambda r: r.outside_not_ignore > 0),
    ],
)
def test_each_list_bug_is_caught(broken, symptom, backend, device):
    report = audit.check_pair(broken(ade_chain(backend, SCALES[1])), image_size=SIZES, device=device)
    assert not report.ok
    assert symptom(report), report


@settings(max_examples=8)
@given(
    sizes=st.lists(st.tuples(st.integers(1, 40), st.integers(1, 40)), min_size=1, max_size=4),
    recipe=st.sampled_from(["ade", "affine"]),
    seed=st.integers(0, 2**16),
)
def test_random_size_lists_pass_the_audit(sizes, recipe, seed, backend, device):
    if recipe == "ade":
        aug = ade_chain(backend, SCALES[1], ignore_index=-1)
    else:
        ops = [gpuaug.RandomAffine(40, scale=(0.5, 2.0), shear=10), gpuaug.RandomCrop((13, 11), pad_if_needed=True)]
        aug = gpuaug.Compose(ops, ignore_index=-1, backend=backend)
    report = audit.check_pair(aug, image_size=sizes, ignore_index=-1, seed=seed, device=device)
    assert report.outside_not_ignore == 0 and report.foreign_pixels == 0 and report.new_labels == 0
    assert report.inside_pixels == 0 or max(report.alignment_px) <= 0.5 + audit_report.ALIGNMENT_TOLERANCE
    assert report.dtype_kept


def test_audit_command_with_sizes(tmp_path, capsys):
    path = tmp_path / "audit.json"
    assert audit.main(["--sizes", "23x31,40x17,9x50", "--size", "16", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "probes 3 samples 23x31,40x17,9x50 on cpu" in out
    rows = {line.split("  ")[0]: line for line in out.splitlines()[3:] if "  " in line}
    assert list(rows) == ["gpuaug"] and rows["gpuaug"].rstrip().endswith("yes")
    assert json.loads(path.read_text())["gpuaug"]["foreign_pixels"] == 0


PIPELINES = """
import gpuaug

aug = gpuaug.Compose([gpuaug.RandomResize((24, 24), (0.5, 2.0)), gpuaug.RandomCrop(16, pad_if_needed=True)])

def good(images, masks):
    return aug(images, masks)

def swapped(images, masks):
    return aug(images, masks[1::-1] + masks[2:])
"""


def test_audit_command_audits_a_users_list_pipeline(tmp_path, monkeypatch, capsys):
    (tmp_path / "user_lists.py").write_text(PIPELINES)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert audit.main(["--pipeline", "user_lists:good", "--sizes", "20x20,20x20,12x30"]) == 0
    assert audit.main(["--pipeline", "user_lists:swapped", "--sizes", "20x20,20x20,12x30", "--batch", "3"]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^from another sample \(pixels\)\s+[1-9]\d*\s+0$", out, re.MULTILINE)
    assert re.search(r"^ok\s+NO$", out, re.MULTILINE)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sizes", "23x31,40"], r"--sizes: expected positive HxW sizes separated by commas .* got '40'"),
        (["--sizes", "0x3"], r"--sizes: expected positive HxW sizes"),
        (["--sizes", "4x4,5x5", "--batch", "3"], r"--batch: --sizes gives 2 samples, got --batch 3"),
        (["--sizes", "4x4", "--image-size", "32"], r"--image-size: not allowed with argument --sizes"),
    ],
)
def test_audit_command_rejects_bad_sizes(args, message, capsys):
    with pytest.raises(SystemExit) as exited:
        audit.main(args)
    assert exited.value.code == 2
    assert re.search(message, capsys.readouterr().err)
