"""Does the C allocator still matter? The CPU workloads with and without the allocator variables, one run.

Each workload runs in its own process, once per setting, the settings interleaved:

- ``gpuaug``: as a user gets it (gpuaug tunes glibc's malloc on its first CPU batch,
  :mod:`gpuaug.allocator`);
- ``GPUAUG_TUNE_MALLOC=0``: the untuned allocator (gpuaug before that tuning);
- ``MALLOC_* variables``: the README's former advice, ``MALLOC_MMAP_THRESHOLD_=67108864
  MALLOC_TRIM_THRESHOLD_=1073741824``, set before the process starts.

Workloads: ``ade20k`` (the ADE20K recipe, eager torch path, on the benchmark's list of 16
mixed-size uint8 images to 512², per batch after a warm-up), ``inductor`` (the geometric
chain compiled, B=16 3×256² → 224², per batch after the compile), ``example`` (the training
example on a VOC tree of 20 generated images of 120×160 to 1411×1411, ``--size 256``, the
whole process). Reported: user and system CPU seconds (less sensitive than wall time to other
load on the machine), their sum and its ratio to the variables' run, and minor page faults.

Usage: ``python bench/allocator.py [--batches 5] [--compiled-batches 100] [--steps 20]
[--workloads ade20k,inductor,example] [--json PATH]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETTINGS = {
    "gpuaug": {},
    "GPUAUG_TUNE_MALLOC=0": {"GPUAUG_TUNE_MALLOC": "0"},
    "MALLOC_* variables": {"MALLOC_MMAP_THRESHOLD_": "67108864", "MALLOC_TRIM_THRESHOLD_": "1073741824"},
}
#: (h, w) of the example's generated photos: the issue's range, 120×160 to 1411×1411.
PHOTO_SIZES = [(120, 160), (375, 500), (480, 640), (1411, 1411), (683, 1024), (768, 1024), (1024, 768), (500, 333)]


def child(workload: str, batches: int) -> dict:
    """Run ``batches`` batches of ``workload`` after a warm-up; the CPU time and faults per batch."""
    import torch

    import gpuaug
    from gpuaug import peers

    sys.path.insert(0, str(HERE))
    from test_bench import ade20k_batch

    g = torch.Generator().manual_seed(0)
    if workload == "ade20k":
        images, masks = ade20k_batch("cpu", 1)
        aug = gpuaug.Compose(peers.ade20k_ops(512, True))
    else:
        images, masks = torch.rand(16, 3, 256, 256, generator=g), torch.randint(0, 20, (16, 1, 256, 256), generator=g)
        aug = gpuaug.Compose(peers.gpuaug_ops(224), backend="inductor")
    aug(images, masks, generator=g)  # warm-up (and the compile)
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(batches):
        aug(images, masks, generator=g)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "user_s": (after.ru_utime - before.ru_utime) / batches,
        "sys_s": (after.ru_stime - before.ru_stime) / batches,
        "minflt": (after.ru_minflt - before.ru_minflt) / batches,
        "wall_s": (time.perf_counter() - start) / batches,
        "unit": "per batch",
    }


def write_photos(root: Path) -> None:
    """A VOC tree of 20 generated photos (smooth colour fields with edges) and their masks."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / folder).mkdir(parents=True)
    names = []
    for k in range(20):
        h, w = PHOTO_SIZES[k % len(PHOTO_SIZES)]
        ys, xs = np.mgrid[:h, :w] / max(h, w)
        image = np.stack([np.sin(6 * xs + k) * 0.5 + 0.5, ys, np.cos(9 * ys * xs + k) * 0.5 + 0.5], -1)
        labels = ((xs * 4).astype(np.uint8) + 4 * (ys * 3).astype(np.uint8)) % 21
        labels[rng.random((h, w)) < 0.02] = 255
        Image.fromarray((image * 255).astype(np.uint8)).save(root / "JPEGImages" / f"{k}.jpg", quality=90)
        Image.fromarray(labels, mode="L").save(root / "SegmentationClass" / f"{k}.png")
        names.append(str(k))
    (root / "ImageSets/Segmentation/train.txt").write_text("\n".join(names[:16]) + "\n")
    (root / "ImageSets/Segmentation/val.txt").write_text("\n".join(names[16:]) + "\n")


def measure(workload: str, env: dict, args, data: Path | None) -> dict:
    environ = {k: v for k, v in os.environ.items() if k not in ("GPUAUG_TUNE_MALLOC", *SETTINGS["MALLOC_* variables"])}
    environ |= env
    if workload != "example":
        batches = args.batches if workload == "ade20k" else args.compiled_batches
        command = [sys.executable, __file__, "--child", workload, "--batches", str(batches)]
        out = subprocess.run(command, env=environ, check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])
    command = [sys.executable, str(HERE.parent / "examples" / "train_segmentation.py"), "--data", str(data)]
    command += ["--size", "256", "--steps", str(args.steps), "--eval-every", str(args.steps), "--device", "cpu"]
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(command, env=environ, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "user_s": after.ru_utime - before.ru_utime,
        "sys_s": after.ru_stime - before.ru_stime,
        "minflt": after.ru_minflt - before.ru_minflt,
        "wall_s": time.perf_counter() - start,
        "unit": f"whole run, {args.steps} steps",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=("ade20k", "inductor"), help=argparse.SUPPRESS)
    parser.add_argument("--batches", type=int, default=5, help="timed batches per ade20k process")
    parser.add_argument("--compiled-batches", type=int, default=100, help="timed batches per inductor process")
    parser.add_argument("--steps", type=int, default=20, help="training steps of the example")
    parser.add_argument("--workloads", default="ade20k,inductor,example")
    parser.add_argument("--json", type=Path, help="write the rows here too")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.batches)))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "voc"
        write_photos(data)
        for workload in args.workloads.split(","):
            results = {name: measure(workload, env, args, data) for name, env in SETTINGS.items()}
            base = results["MALLOC_* variables"]
            for name, r in results.items():
                cpu = r["user_s"] + r["sys_s"]
                ratio = cpu / (base["user_s"] + base["sys_s"])
                rows.append({"workload": workload, "setting": name, **r, "cpu_s": cpu, "vs_variables": ratio})
    print("| workload | setting | user s | sys s | user+sys s | × the variables | minor faults | wall s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        cells = [r["workload"] + f" ({r['unit']})", r["setting"], f"{r['user_s']:.3f}", f"{r['sys_s']:.3f}"]
        cells += [f"{r['cpu_s']:.3f}", f"{r['vs_variables']:.2f}", f"{r['minflt']:.0f}", f"{r['wall_s']:.2f}"]
        print("| " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
