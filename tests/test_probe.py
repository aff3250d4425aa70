"""The probe and the audit: each classic bug of the naive pipeline is flagged, gpuaug passes."""

import json
import math
import re

import pytest
import torch

import gpuaug
from gpuaug import audit, demo, probe
from gpuaug.naive import BUGS, NaivePipeline

OPS = [gpuaug.RandomResizedCrop(32, scale=(0.3, 1.0)), gpuaug.RandomHorizontalFlip(), gpuaug.RandomAffine(25)]
NO_BUGS = dict.fromkeys(BUGS, False)


def report(fn):
    g = torch.Generator().manual_seed(0)
    return audit.check_pair(lambda i, m: fn(i, m, generator=g), image_size=(40, 40), batch_size=6)


def test_coordinate_probe_encodes_pixels_and_skips_ignore():
    images, masks = probe.coordinate_probe(2, 20, 20, ignore_index=255)
    assert images.shape == (2, 3, 20, 20) and masks.shape == (2, 1, 20, 20) and masks.dtype == torch.int64
    assert images[0, 0, 3, 7] == 7 and images[0, 1, 3, 7] == 3 and (images[:, 2] == 1).all()
    assert masks[0, 0, 3, 7] == 3 * 20 + 7
    assert not (masks == 255).any()
    assert masks[0, 0, 12, 15] == 12 * 20 + 15 + 1  # past the ignore value, labels shift by one


def test_identity_is_perfectly_aligned():
    images, masks = probe.coordinate_probe(1, 9, 11)
    metrics = probe.measure_alignment(images, masks, 11)
    assert metrics["alignment_px"] == (0.0, 0.0) and metrics["inside_pixels"] == 99


def test_gpuaug_passes():
    result = report(gpuaug.Compose(OPS))
    assert result.ok, result
    assert max(result.alignment_px) <= 0.5 + 1e-3
    assert result.to_dict()["ok"] is True


def test_naive_without_bugs_passes():
    assert report(NaivePipeline(OPS, **NO_BUGS)).ok


@pytest.mark.parametrize(
    ("bug", "symptom"),
    [
        ("desync", lambda r: max(r.alignment_px) > 2),
        ("bilinear_mask", lambda r: r.new_labels > 0),
        ("ignore_lost", lambda r: r.outside_not_ignore > 0),
        ("float_mask", lambda r: not r.dtype_kept),
    ],
)
def test_each_classic_bug_is_flagged(bug, symptom):
    result = report(NaivePipeline.only(bug, OPS))
    assert not result.ok
    assert symptom(result), result


def test_half_pixel_shift_shows_in_mean_offset():
    def shifted(images, masks, generator):
        params = gpuaug.Compose(OPS).sample(images, generator)
        out = gpuaug.Compose([]).apply(images, None, params)
        # The mask taken at source s − 0.5, the align_corners mistake: biased by half a pixel.
        shift = torch.tensor([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]]).expand_as(params.matrix)
        labels = gpuaug.functional.warp_mask(masks, shift @ params.matrix, params.out_size)
        return out, labels

    result = report(shifted)
    assert max(result.alignment_px) <= 1.0 + 1e-3
    assert all(m < -0.3 for m in result.mean_offset_px)
    assert not result.ok


def test_no_inside_pixels_gives_nan():
    images, masks = probe.coordinate_probe(1, 4, 4)
    metrics = probe.measure_alignment(torch.zeros_like(images), masks, 4)
    assert metrics["inside_pixels"] == 0 and all(math.isnan(v) for v in metrics["alignment_px"])


def test_demo_prints_table_and_writes_overlay(tmp_path, capsys):
    path = tmp_path / "demo.png"
    assert demo.main(["--batch", "4", "--size", "32", "--out", str(path)]) == 0
    text = capsys.readouterr().out
    naive_line = next(line for line in text.splitlines() if line.startswith("naive"))
    gpuaug_line = next(line for line in text.splitlines() if line.startswith("gpuaug  "))
    assert naive_line.rstrip().endswith("NO") and gpuaug_line.rstrip().endswith("yes")
    assert "int64" in gpuaug_line and "float32" in naive_line
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_overlay_pairs_the_same_scenes(monkeypatch):
    drawn = {}

    def capture(images, masks, out, **kwargs):
        drawn.update(images=images, masks=masks, **kwargs)
        return out

    monkeypatch.setattr(demo, "save_overlay", capture)
    demo.run(batch=6, size=16, out="unused.png", device=torch.device("cpu"), seed=3)
    assert drawn["titles"] == [f"{name} #{k}" for k in range(4) for name in ("naive (3 bugs)", "gpuaug")]
    images, masks = drawn["images"], drawn["masks"]
    assert images.shape[0] == masks.shape[0] == 8
    # Side by side, the same scene with the same draws: identical images, only the masks differ.
    assert torch.equal(images[0::2], images[1::2]) and not torch.equal(masks[0::2], masks[1::2])
    assert len({tuple(image.flatten()[:50].tolist()) for image in images[1::2]}) == 4  # four different scenes


def test_report_to_dict_and_str():
    result = report(gpuaug.Compose(OPS))
    data = result.to_dict()
    assert data["ok"] is True and data["dtype_kept"] is True and data["mask_dtype"] == "int64"
    assert data["per_sample"] is True and len(data["alignment_px"]) == 2
    text = str(result)
    assert "alignment error px (x, y)" in text and text.splitlines()[-1].endswith("yes")


def test_one_draw_per_batch_is_not_per_sample():
    def batch_wide(images, masks):
        flipped = torch.rand(()) < 2  # the same decision for the whole batch
        return (images.flip(-1), masks.flip(-1)) if flipped else (images, masks)

    result = audit.check_pair(batch_wide, image_size=(16, 16))
    assert result.ok and not result.per_sample


def test_output_size_change_is_audited():
    def downscale(images, masks):
        return images[..., ::2, ::2], masks[..., ::2, ::2]

    # Subsampling keeps image and mask on the same source pixels, at half the size.
    result = audit.check_pair(downscale, image_size=(20, 20))
    assert result.inside_pixels == 8 * 10 * 10
    assert result.alignment_px == (0.0, 0.0)


def test_audit_command_lists_every_pipeline(tmp_path, capsys):
    path = tmp_path / "audit.json"
    assert audit.main(["--json", str(path), "--batch", "4", "--image-size", "32", "--size", "24"]) == 0
    text = capsys.readouterr().out
    rows = {line.split("  ")[0]: line for line in text.splitlines()[2:] if "  " in line}
    for name in ("naive: independent params", "naive: bilinear mask", "naive: float mask", "naive: zero padding"):
        assert rows[name].rstrip().endswith("NO")
    assert rows["gpuaug"].rstrip().endswith("yes")
    data = json.loads(path.read_text())
    assert data["gpuaug"]["ok"] is True and data["naive: float mask"]["mask_dtype"] == "float32"
    assert data["naive: zero padding"]["outside_not_ignore"] > 0


PIPELINES = """
import gpuaug
from gpuaug.naive import NaivePipeline

OPS = [gpuaug.RandomResizedCrop(24, scale=(0.5, 1.0)), gpuaug.RandomHorizontalFlip()]
good = gpuaug.Compose(OPS)
zero_padding = NaivePipeline.only("ignore_lost", OPS + [gpuaug.RandomRotation(30)])
not_a_function = 3

def pair(images, masks):
    return good(images, masks)
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "user_augment.py").write_text(PIPELINES)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "user_augment"


def test_audit_command_audits_a_users_pipeline(user_module, tmp_path, capsys):
    from gpuaug.__main__ import main as cli

    path = tmp_path / "mine.json"
    args = ["--batch", "4", "--image-size", "32"]
    assert cli(["audit", "--pipeline", f"{user_module}:pair", "--json", str(path), *args]) == 0
    out = capsys.readouterr().out
    assert f"gpuaug audit of {user_module}:pair" in out and re.search(r"^ok\s+yes$", out, re.MULTILINE)
    assert json.loads(path.read_text())[f"{user_module}:pair"]["ok"] is True
    assert audit.main(["--pipeline", f"{user_module}:good", *args]) == 0  # a callable object works too
    assert audit.main(["--pipeline", f"{user_module}:zero_padding", *args]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^ok\s+NO$", out, re.MULTILINE) and "outside pixels not ignore" in out


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("user_augment", r"--pipeline: expected module:function \(e.g. my_project.augment:pair\), got 'user_augment'"),
        (":pair", r"--pipeline: expected module:function"),
        ("no_such_module_here:pair", r"--pipeline: cannot import module 'no_such_module_here'"),
        ("user_augment:missing", r"--pipeline: module 'user_augment' has no attribute 'missing'"),
        ("user_augment:not_a_function", r"--pipeline: user_augment:not_a_function is a int, expected fn\(images"),
    ],
)
def test_audit_command_rejects_a_bad_pipeline_spec(user_module, spec, message, capsys):
    with pytest.raises(SystemExit) as exited:
        audit.main(["--pipeline", spec])
    assert exited.value.code == 2
    assert re.search(message, capsys.readouterr().err)


def test_only_one_bug():
    pipeline = NaivePipeline.only("ignore_lost", OPS)
    assert pipeline.ignore_lost and not (pipeline.desync or pipeline.bilinear_mask or pipeline.float_mask)
    with pytest.raises(ValueError, match=r"bug: expected one of .* got 'typo'"):
        NaivePipeline.only("typo", OPS)
