"""``python -m gpuaug demo``: the three classic mask bugs next to gpuaug, on a synthetic batch.

Runs the same geometric chain twice, through :class:`gpuaug.naive.NaivePipeline` with the
classic bugs (independent mask params, bilinear float mask, zero padding) and through
:class:`gpuaug.Compose`; measures both with the coordinate probes of :mod:`gpuaug.probe`;
times both on a synthetic scene batch; prints a table and writes an overlay PNG that shows
the same scenes through both pipelines side by side, with the same random draws (so the
images match and only the masks differ).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from gpuaug.audit import check_pair, format_table
from gpuaug.compose import Compose
from gpuaug.naive import NaivePipeline
from gpuaug.synthetic import make_scenes
from gpuaug.transforms import RandomAffine, RandomHorizontalFlip, RandomResizedCrop
from gpuaug.viz import save_overlay


def _ops(size: int) -> list:
    return [
        RandomResizedCrop(size, scale=(0.3, 1.0)),
        RandomHorizontalFlip(),
        RandomAffine(degrees=20, translate=(0.05, 0.05), scale=(0.9, 1.1)),
    ]


def _time_ms(fn: Callable[[], object], device: torch.device, repeats: int = 7) -> float:
    """Median wall time of ``fn`` in ms (synchronised on CUDA), after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def run(batch: int, size: int, out: str | None, device: torch.device, seed: int) -> str:
    """Run the demo and return the table; writes the overlay PNG to ``out`` when given."""
    ops = _ops(size)
    pipelines = {"naive (3 bugs)": NaivePipeline(ops), "gpuaug": Compose(ops, ignore_index=255)}
    generator = torch.Generator(device).manual_seed(seed)
    images, masks = make_scenes(batch, 2 * size, 2 * size, generator=generator, device=device)
    reports, times = {}, {}
    for name, pipeline in pipelines.items():

        def fn(images, masks, pipeline=pipeline):
            return pipeline(images, masks, generator=generator)

        reports[name] = check_pair(fn, (size, size), batch, seed=seed, device=device)
        times[name] = f"{_time_ms(lambda fn=fn: fn(images, masks), device):.1f}"
    table = format_table(reports, {"ms/batch": times})
    lines = [
        f"gpuaug demo: {batch} synthetic scenes {2 * size}x{2 * size} -> {size}x{size} on {device}, "
        f"int64 masks, ignore_index=255",
        "chain: " + " -> ".join(type(op).__name__ for op in ops),
        "",
        table,
        "",
        "align err: max |mask source pixel - image source coordinate| per axis (<= 0.5 is exact alignment);",
        "labels invented: pixels with labels never in the input; outside not ignore: pixels from outside the",
        "image labelled as a real class.",
    ]
    if out is not None:
        lines.append(_overlay(pipelines, images, masks, seed, out))
    return "\n".join(lines)


def _overlay(pipelines: dict, images: torch.Tensor, masks: torch.Tensor, seed: int, out: str) -> str:
    """Draw the first scenes through every pipeline side by side; a missing matplotlib is reported, not raised.

    Each pipeline draws from a generator seeded alike, so a scene gets the same image
    parameters in each and the cells of a pair differ only by what the pipeline does to masks.
    """
    shown = min(4, images.shape[0])
    outputs = {}
    for name, pipeline in pipelines.items():
        generator = torch.Generator(images.device).manual_seed(seed)
        outputs[name] = pipeline(images[:shown], masks[:shown], generator=generator)
    # Sample k of every pipeline next to each other: naive #0, gpuaug #0, naive #1, ...
    images = torch.stack([outputs[name][0][k] for k in range(shown) for name in outputs])
    masks = torch.stack([outputs[name][1][k].float() for k in range(shown) for name in outputs])
    titles = [f"{name} #{k}" for k in range(shown) for name in outputs]
    try:
        path = save_overlay(images, masks, out, ignore_index=255, titles=titles, max_samples=len(titles))
    except ImportError as exc:
        return f"overlay not written: {exc}"
    return f"overlay written to {path}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m gpuaug demo``."""
    parser = argparse.ArgumentParser(prog="python -m gpuaug demo", description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16, help="batch size (default 16)")
    parser.add_argument("--size", type=int, default=128, help="output size; scenes are twice as large (default 128)")
    parser.add_argument("--out", default="gpuaug_demo.png", help="overlay PNG path ('' to skip)")
    parser.add_argument("--device", default="auto", help="'auto' (CUDA when present), 'cpu' or 'cuda'")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.batch < 1 or args.size < 8:
        parser.error("--batch must be >= 1 and --size >= 8")
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    print(run(args.batch, args.size, args.out or None, device, args.seed))
    return 0
