"""The end-to-end training example runs, writes its JSON and plot, and separates the pipelines."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

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
    }
    assert 0.0 <= data["miou_naive"] <= 1.0 and 0.0 <= data["miou_gpuaug"] <= 1.0
    assert data["miou_gpuaug"] == summary["runs"]["gpuaug"]["final_miou"]
    assert len(data["runs"]["gpuaug"]["loss"]) == 4 and [s for s, _ in data["runs"]["gpuaug"]["miou"]] == [2, 4]
    assert plot.read_bytes()[:4] == b"\x89PNG"
    # A progress line at every evaluation: step, loss since the last one, mIoU, seconds.
    line = r"^gpuaug +step +(\d+)/4  loss (\d+\.\d+)  mIoU +[\d.]+ +[\d.]+ s$"
    progress = re.findall(line, capsys.readouterr().out, re.MULTILINE)
    assert [int(step) for step, _ in progress] == [2, 4]
    losses = data["runs"]["gpuaug"]["loss"]
    expected = [sum(losses[:2]) / 2, sum(losses[2:]) / 2]
    assert [float(loss) for _, loss in progress] == pytest.approx(expected, abs=1e-3)


def test_help_quotes_the_measured_time(capsys):
    with pytest.raises(SystemExit):
        example.main(["--help"])
    assert re.search(r"measured: \d+-\d+ s a run on 2 cores of an AMD EPYC", " ".join(capsys.readouterr().out.split()))


def test_the_net_is_small():
    assert 40_000 < sum(p.numel() for p in example.SmallSegNet().parameters()) < 80_000
