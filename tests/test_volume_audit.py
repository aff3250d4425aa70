"""The volume audit: the 3D coordinate probe, check_volume_pair on correct and broken
pipelines, the recipe's peers, and ``python -m gpuaug audit --volume``."""

import json

import pytest
import torch

import gpuaug
from gpuaug import audit, peers_volume
from gpuaug.audit_volume import check_volume_pair, volume_probe

PATCH = (16, 20, 24)


def test_the_probe_encodes_every_voxel_and_skips_ignore():
    volumes, labels = volume_probe(2, (4, 9, 10), ignore_index=255)
    assert volumes.shape == (2, 4, 4, 9, 10) and labels.shape == (2, 4, 9, 10)
    assert (labels != 255).all() and labels.unique().numel() == 4 * 9 * 10
    assert volumes[0, :, 3, 8, 9].tolist() == [3.5, 8.5, 9.5, 1.0]  # z, y, x, validity


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_gpuaug_passes_the_volume_audit(backend):
    report = check_volume_pair(peers_volume.gpuaug_volume_pipeline(PATCH, backend=backend))
    assert report.ok and report.per_sample and report.inside_pixels > 1000
    assert len(report.alignment_px) == 3 and max(report.alignment_px) <= 0.5
    assert "alignment error px (x, y, z)" in str(report)
    assert audit.check_pair(peers_volume.gpuaug_volume_pipeline(PATCH, backend=backend), (24, 28, 32)) == report


def test_the_audit_finds_float_resampled_labels_and_lost_ignore():
    report = check_volume_pair(peers_volume.naive_pipeline(PATCH))
    assert {"desync", "lost ignore"} <= set(report.bugs) and not report.ok

    def shifted(volumes, labels):  # every label one voxel further along z: a desync on that axis only
        aug = gpuaug.Compose(peers_volume.volume_ops(PATCH), ignore_index=-1)
        out, masks = aug(volumes, labels, torch.Generator().manual_seed(0))
        return out, torch.where(masks == -1, masks, masks + 28 * 32)

    report = check_volume_pair(shifted, ignore_index=-1)
    assert report.alignment_px[2] >= 1.0 and max(report.alignment_px[:2]) <= 0.5 and "desync" in report.bugs

    def zero_padded(volumes, labels):
        out, masks = gpuaug.Compose(peers_volume.volume_ops(PATCH))(volumes, labels)
        return out, torch.where(masks == 255, 0, masks).to(torch.int32)

    report = check_volume_pair(zero_padded)
    assert report.outside_not_ignore > 0 and not report.dtype_kept and "lost dtype" in report.bugs

    def blended(volumes, labels):  # float labels between two voxels' ids: interpolated
        out, masks = gpuaug.Compose(peers_volume.volume_ops(PATCH))(volumes, labels)
        return out, torch.where(masks == 255, 255.0, masks + 0.5)

    assert check_volume_pair(blended).new_labels > 0


@pytest.mark.parametrize("name", ["monai_pipeline", "batchgenerators_pipeline"])
def test_the_peers_run_the_recipe(name):
    pytest.importorskip("monai" if name.startswith("monai") else "batchgenerators")
    fn = getattr(peers_volume, name)(PATCH)
    volumes, labels = volume_probe(2, (24, 28, 32))
    out, masks = fn(volumes, labels)
    assert out.shape == (2, 4, *PATCH) and masks.shape == (2, *PATCH)
    report = check_volume_pair(fn)
    assert max(report.alignment_px) <= 0.5 + 1e-3 and report.per_sample


def test_audit_volume_command(capsys, tmp_path):
    path = tmp_path / "volumes.json"
    assert audit.main(["--volume", "--json", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "align err px (x, y, z)" in printed and "naive: float-resampled labels" in printed
    data = json.loads(path.read_text())
    assert data["gpuaug"]["ok"] and not data["naive: float-resampled labels"]["ok"]


def test_audit_volume_of_your_own_pipeline(capsys, tmp_path, monkeypatch):
    module = tmp_path / "my_volume_aug.py"
    module.write_text(
        "import gpuaug\npair = gpuaug.Compose([gpuaug.RandomAffine3D(20), gpuaug.RandomCrop3D((8, 8, 8))])\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert audit.main(["--volume", "--pipeline", "my_volume_aug:pair"]) == 0
    assert "ok                            yes" in capsys.readouterr().out
