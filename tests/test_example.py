"""The end-to-end training example runs, writes its JSON and plot, and separates the pipelines."""

import importlib.util
import json
import math
import re
from pathlib import Path

import pytest
import torch
from folders import write_voc

spec = importlib.util.spec_from_file_location(
    "train_segmentation", Path(__file__).parents[1] / "examples" / "train_segmentation.py"
)
example = importlib.util.module_from_spec(spec)
spec.loader.exec_module(example)


def test_a_few_steps_of_every_run(tmp_path, capsys):
    out = tmp_path / "results.json"
    plot = tmp_path / "curves.png"
    args = ["--steps", "4", "--batch", "4", "--size", "24", "--eval-every", "2", "--ablate", "--device", "cpu"]
    summary = example.main(args + ["--json", str(out), "--plot", str(plot)])
    data = json.loads(out.read_text())
    assert set(data["runs"]) == {
        "naive",
        "gpuaug",
        "only independent params",
        "only bilinear mask",
        "only zero padding",
        "void as class 0",
    }
    assert 0.0 <= data["miou_naive"] <= 1.0 and 0.0 <= data["miou_gpuaug"] <= 1.0
    assert data["miou_gpuaug"] == summary["runs"]["gpuaug"]["final_miou"]
    assert len(data["runs"]["gpuaug"]["loss"]) == 4 and [s for s, _ in data["runs"]["gpuaug"]["miou"]] == [2, 4]
    assert plot.read_bytes()[:4] == b"\x89PNG"
    # A banner first; a line after the first step; a progress line at every evaluation: step,
    # loss since the last one, mIoU, seconds and the time left (this run, and the runs after it).
    text = capsys.readouterr().out
    banner = text.splitlines()[0]
    assert banner.startswith("train_segmentation: data synthetic scenes, 5 classes; 6 runs (naive, gpuaug, ")
    assert "of 4 steps, batch 4 at 24×24; device cpu" in banner
    assert re.search(r"^gpuaug +step +1/4  +[\d.]+ s  ETA \d+ s this run, \d+ s all runs$", text, re.MULTILINE)
    line = r"^gpuaug +step +(\d+)/4  loss (\d+\.\d+)  mIoU +[\d.]+ +[\d.]+ s  ETA \d+ s this run, \d+ s all runs$"
    progress = re.findall(line, text, re.MULTILINE)
    assert [int(step) for step, _ in progress] == [2, 4]
    assert re.search(r"^void as class 0 +step +4/4 .* ETA 0 s this run, 0 s all runs$", text, re.MULTILINE)
    losses = data["runs"]["gpuaug"]["loss"]
    expected = [sum(losses[:2]) / 2, sum(losses[2:]) / 2]
    assert [float(loss) for _, loss in progress] == pytest.approx(expected, abs=1e-3)


def test_help_quotes_the_measured_time(capsys):
    with pytest.raises(SystemExit):
        example.main(["--help"])
    assert re.search(r"measured: \d+-\d+ s a run on 2 cores of an AMD EPYC", " ".join(capsys.readouterr().out.split()))


def test_the_net_is_small():
    assert 40_000 < sum(p.numel() for p in example.SmallSegNet().parameters()) < 80_000


def test_void_as_class_0_reaches_the_pipeline_without_void():
    seen = []

    def pipeline(images, masks, **kwargs):
        seen.append((masks, kwargs))
        return images, masks

    stacked = torch.tensor([[[0, 255], [3, 255]]])
    listed = [torch.tensor([[255, 1]]), torch.tensor([[2], [255]])]
    buggy = example.void_as_background(pipeline)
    buggy(None, stacked, seed=1)
    buggy(None, listed, generator=None)
    assert seen[0][0].tolist() == [[[0, 0], [3, 0]]] and seen[0][1] == {"seed": 1}
    assert [m.tolist() for m in seen[1][0]] == [[[0, 1]], [[2], [0]]] and seen[1][1] == {"generator": None}
    assert stacked.tolist() == [[[0, 255], [3, 255]]] and listed[0].tolist() == [[255, 1]]  # inputs untouched


def test_a_few_steps_on_a_voc_folder(tmp_path):
    root, _ = write_voc(tmp_path / "voc")  # train: 3 images of different sizes; val: 1; labels up to 20 and 255
    out = tmp_path / "results.json"
    args = ["--data", str(root), "--layout", "voc", "--steps", "3", "--batch", "2", "--size", "16"]
    example.main(args + ["--eval-every", "3", "--ablate", "--device", "cpu", "--json", str(out)])
    data = json.loads(out.read_text())
    assert set(data["runs"]) == {"gpuaug", "void as class 0"} and "miou_naive" not in data
    assert data["classes"] == 21 and data["eval_split"] == "val" and "eval_note" not in data
    assert data["data"] == str(root) and data["size"] == 16 and len(data["runs"]["gpuaug"]["loss"]) == 3
    for run in data["runs"].values():
        assert math.isfinite(run["final_miou"]) and 0.0 <= run["final_miou"] <= 1.0
    assert data["miou_gpuaug"] == data["runs"]["gpuaug"]["final_miou"]
    # Without the validation split it evaluates on the training split and says so.
    (root / "ImageSets/Segmentation/val.txt").unlink()
    example.main(["--data", str(root), "--steps", "1", "--size", "16", "--classes", "30", "--json", str(out)])
    data = json.loads(out.read_text())
    assert data["eval_split"] == "train" and "no 'val' split" in data["eval_note"] and data["classes"] == 30
    assert set(data["runs"]) == {"gpuaug"} and math.isfinite(data["miou_gpuaug"])


@pytest.mark.parametrize("mix", ["cutmix", "classmix"])
def test_mix_adds_a_run_and_reports_its_effect(tmp_path, mix):
    out = tmp_path / "results.json"
    args = ["--steps", "2", "--batch", "4", "--size", "24", "--eval-every", "2", "--device", "cpu", "--mix", mix]
    example.main(args + ["--json", str(out)])
    data = json.loads(out.read_text())
    assert set(data["runs"]) == {"naive", "gpuaug", f"gpuaug + {mix}"}
    assert data["mix"] == mix and data["miou_mix"] == data["runs"][f"gpuaug + {mix}"]["final_miou"]
    assert data["mix_effect"] == pytest.approx(data["miou_mix"] - data["miou_gpuaug"])


def test_with_mix_puts_the_mix_after_the_geometric_ops():
    ops = example.peers.ade20k_ops(16)
    mixed = example.with_mix(ops, "mosaic")
    kinds = [type(op).__name__ for op in mixed]
    assert kinds.index("Mosaic") == kinds.index("RandomHorizontalFlip") + 1 and len(mixed) == len(ops) + 1


def test_a_few_steps_of_the_volume_runs(tmp_path, capsys):
    out = tmp_path / "volumes.json"
    summary = example.main(
        ["--volume", "--steps", "4", "--eval-every", "2", "--size", "8", "--device", "cpu", "--json", str(out)]
    )
    data = json.loads(out.read_text())
    assert set(data["runs"]) == {"naive", "gpuaug"} and data["data"] == "synthetic volumes"
    assert 0.0 <= data["miou_naive"] <= 1.0 and data["miou_gpuaug"] == summary["runs"]["gpuaug"]["final_miou"]
    assert [s for s, _ in data["runs"]["gpuaug"]["miou"]] == [2, 4]
    assert "batch 4, 12³ to 8³ patches" in capsys.readouterr().out.splitlines()[0]


def test_the_naive_volume_run_resamples_labels_and_gpuaug_gathers_them():
    runs = example.volume_runs(8)
    volumes, labels = example.make_volumes(2, 12, generator=torch.Generator().manual_seed(0))
    for name, run in runs.items():
        out, masks = run(volumes, labels, generator=torch.Generator().manual_seed(1))
        assert out.shape == (2, 1, 8, 8, 8) and masks.shape == (2, 8, 8, 8) and masks.dtype == torch.int64
        invented = set(masks.unique().tolist()) - set(labels.unique().tolist())
        assert bool(invented) == (name == "naive")  # rounded blends of void (255) and classes
    with pytest.raises(SystemExit):
        example.main(["--volume", "--ablate"])
