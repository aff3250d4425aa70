"""Shared set-up of the benchmark suite: devices, quick mode, timing helpers.

``pytest bench --benchmark-only`` runs everything; ``GPUAUG_BENCH_QUICK=1`` a reduced set
(no torch.compile, fewer sizes) that ends within minutes on 2 CPU cores. Every benchmark
records ``library``, ``pipeline``, ``batch``, ``size``, ``device`` and ``bytes`` (the full
source read once plus the output written once, images and masks) in ``extra_info``, and
the peers' rows carry a probe verdict (``probe_*``) so no speed is shown without its
correctness. ``python bench/report.py RESULTS.json`` turns a ``--benchmark-json`` file
into the report under ``bench/results/``.
"""

import os
import platform

import torch

from gpuaug.allocator import tune_malloc

QUICK = os.environ.get("GPUAUG_BENCH_QUICK", "0") not in ("", "0")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


#: Bytes of the block :func:`pytest_sessionstart` allocates and frees (above glibc's default
#: 128 KiB mmap threshold, below its 32 MiB dynamic maximum).
ALLOCATOR_WARM_UP = 24 * 2**20


def pytest_sessionstart(session):
    """Measure every library with the C allocator in the same state: the one gpuaug sets.

    gpuaug tunes glibc's malloc on its first CPU batch (:mod:`gpuaug.allocator`: large freed
    blocks stay in the process), a process-wide change; done here, before any timing, so the
    peers measured before gpuaug's first row get it too. Where it is off or unavailable,
    freeing one block above the mmap threshold at least raises glibc's dynamic threshold
    for every library alike (whichever library first freed one would otherwise speed up
    every row after it: gpuaug's eager path measured 31 → 15 ms per batch from that alone).
    """
    tune_malloc()
    block = torch.ones(ALLOCATOR_WARM_UP, dtype=torch.uint8)
    del block


def device_name(device: str) -> str:
    """The machine a timing came from, for the report."""
    if device == "cuda":
        return torch.cuda.get_device_name()
    return f"CPU {platform.machine()} ({torch.get_num_threads()} threads)"


def synchronised(fn, device: str):
    """Wrap ``fn`` so that a timed call includes the GPU work it queued."""
    if device != "cuda":
        return fn

    def run():
        out = fn()
        torch.cuda.synchronize()
        return out

    return run
