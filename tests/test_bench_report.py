"""bench/report.py turns a pytest-benchmark JSON file into a Markdown report and a chart."""

import importlib.util
import json
from pathlib import Path

spec = importlib.util.spec_from_file_location("report", Path(__file__).parents[1] / "bench" / "report.py")
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)


def bench(name, library, pipeline, median, **extra):
    info = dict(library=library, pipeline=pipeline, batch=16, size="256x256->224x224", device="Test GPU", bytes=8e9)
    return {"name": name, "stats": {"median": median}, "extra_info": info | extra}


def test_report_tables_ratios_and_peak(tmp_path):
    probe = dict(probe_ok=True, probe_alignment_px=0.5, probe_outside_not_ignore=0, probe_mask_dtype="int64")
    results = {
        "machine_info": {"python_version": "3.12", "cpu": {"brand_raw": "test"}},
        "benchmarks": [
            bench("a", "gpuaug", "geometric", 0.01, **probe),
            bench("b", "kornia", "geometric", 0.05, **(probe | {"probe_ok": False, "probe_alignment_px": 1.1})),
            bench("c", "reference", "geometric", 1.0, **probe),
            bench("d", "copy", "peak", 0.004),
            bench("e", "gpuaug", "scaling", 0.02),
            bench("f", "gpuaug", "masks", 0.002, mask_dtype="int64"),
            bench("g", "gpuaug", "antialias", 0.02, chain="geometric", antialias=False),
            bench("h", "gpuaug", "antialias", 0.03, chain="geometric", antialias=True),
            bench("i", "gpuaug", "ade20k-scaling", 0.02, crop=224, megapixels=0.4),
            bench("j", "gpuaug", "ade20k-scaling", 0.12, crop=512, megapixels=2.0),
            bench("k", "gpuaug-inductor", "ade20k-scaling", 0.04, crop=512, megapixels=2.0, compile_s=20.0),
            bench("o", "gpuaug", "ade20k-scaling", 0.006, crop=224, megapixels=0.2, batch=4),
            bench("l", "gpuaug", "class-check", 0.010, part="sample"),
            bench("m", "gpuaug", "class-check", 0.002, part="sample without the class check"),
            bench("n", "gpuaug", "class-check", 0.040, part="geometric call"),
        ],
    }
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    (written,) = report.report(path, tmp_path / "out")
    text = written.read_text()
    assert written.name == "test-gpu.md"
    assert "peak = device-to-device copy in this run, 2000 GB/s" in text
    gpuaug_row = next(line for line in text.splitlines() if line.startswith("| gpuaug | 10.00"))
    # 5× kornia, 100× reference, 800 GB/s = 40 % of the 2000 GB/s copy.
    assert "| 5.00 | 100.00 | 800.0 | 40 % | yes | 0.50 | 0 | int64 |" in gpuaug_row
    assert "| kornia | 50.00 |" in text and "| NO | 1.10 |" in text
    assert "### masks only (warp_mask)" in text and "### scaling" in text
    assert "| geometric | 16, 256x256->224x224 | 20.000 | 30.000 | 1.50 |" in text
    # ms per output megapixel per library and crop, one table per batch, the smaller first: at 16,
    # 50 and 60 ms/MP, a spread of 1.2; at 4, 30 ms/MP at 224² only.
    small, large = text.index("per output megapixel (batch 4,"), text.index("per output megapixel (batch 16,")
    assert small < text.index("| gpuaug | 30.0 | 1.00 |") < large
    assert "| library | 224² ms/MP | 512² ms/MP | largest / smallest |" in text[large:]
    assert "| gpuaug | 50.0 | 60.0 | 1.20 |" in text[large:] and "| gpuaug-inductor | – | 20.0 | 1.00 |" in text[large:]
    assert "gpuaug-inductor at 512² 20.0 s" in text
    # The class check: 10 − 2 = 8 ms of a 40 ms geometric call, sampling as a whole 25 %.
    assert "sampling minus sampling without it): 8.00 ms, 20 % of the geometric call (all of sampling: 25 %)" in text
    assert (tmp_path / "out" / "test-gpu.png").read_bytes()[:4] == b"\x89PNG"


def test_volume_table_gives_ratios_against_both_peers_and_the_audit():
    audit = dict(align_voxels=[0.5, 0.5, 0.5], outside_not_ignore=0, labels_invented=0, mask_dtype_out="int64")
    rows = [
        {"library": "gpuaug", "median_s": 0.1, "batch": 2, "size": "1x160^3->128^3", **audit, "probe_ok": True},
        {"library": "monai", "median_s": 0.25, "batch": 2, "size": "1x160^3->128^3", **audit, "probe_ok": False}
        | {"outside_not_ignore": 557, "mask_dtype_out": "float32"},
        {"library": "batchgenerators", "median_s": 0.4, "batch": 2, "size": "1x160^3->128^3", **audit}
        | {"probe_ok": False, "mask_dtype_out": "float32"},
    ]
    lines = report.volume_table(rows)
    assert "| library | median ms/batch | × vs monai | × vs batchgenerators |" in lines[2]
    assert lines[4] == "| gpuaug | 100.0 | 2.50 | 4.00 | 0.50, 0.50, 0.50 | 0 | 0 | int64 | yes |"
    assert lines[5].startswith("| monai | 250.0 | 1.00 | 1.60 |") and "| 557 | 0 | float32 | NO |" in lines[5]
    assert report.volume_table([]) == []
