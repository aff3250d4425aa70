"""Keep large freed blocks in the process on the CPU: glibc's malloc, tuned once (opt-out).

glibc's malloc serves every block above its mmap threshold (128 KiB at start, raised by
frees up to 32 MiB) with fresh pages from the kernel, unmaps it on free, and trims the top
of its heap whenever more than twice that threshold is free. An augmentation batch on the
CPU allocates and frees tensors of tens of MiB (the float32 output of a B=16 512² batch is
48 MiB, each of PhotoMetricDistortion's eager ops makes one), so every batch paid for its
memory again in page faults: the ADE20K recipe took about 515,000 minor faults and 1.1 s of
system time per batch here, against about 1,000 with the allocator variables
``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_`` set. Reusing every buffer in the
library would not cover the tensors it returns, nor the ops of the user's own step.

So the first time gpuaug works on CPU tensors, :func:`tune_malloc` sets those two
parameters with ``mallopt`` (blocks up to 512 MiB from the heap,
up to 1 GiB of free heap kept): freed blocks are reused by the next batch instead of being
returned to the kernel. It is a process-wide setting, so it is done narrowly:

- once, only on Linux with glibc, only when a CPU batch is augmented (importing gpuaug, or
  running on CUDA, changes nothing);
- never over the user's own choice: nothing is changed when ``MALLOC_MMAP_THRESHOLD_``,
  ``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_TOP_PAD_`` or ``GLIBC_TUNABLES`` is set, or another
  allocator is preloaded (``LD_PRELOAD``);
- ``GPUAUG_TUNE_MALLOC=0`` in the environment turns it off.

The price is memory: the process keeps up to 1 GiB of freed heap for reuse (its peak,
rather than its current, use), as the variables do.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import sys

import torch

__all__ = ["tune_malloc", "MMAP_THRESHOLD", "TRIM_THRESHOLD"]

#: Blocks up to this size come from the heap (and are reused) instead of fresh mappings: above
#: a batch's largest tensors (the float32 output of B=8 at 1024² is 96 MiB; at 64 MiB, the value
#: the README once recommended, that batch's output and pixel-op temporaries were mapped fresh
#: every call: the compiled ADE20K recipe there 232 → 94 ms per batch).
MMAP_THRESHOLD = 512 * 2**20
#: Free memory at the top of the heap kept for reuse, up to this size.
TRIM_THRESHOLD = 2**30
#: ``mallopt`` parameter numbers (glibc's malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: Environment variables through which the user has configured the allocator already.
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES", "LD_PRELOAD")


@torch.compiler.disable  # a host-side setting: nothing for dynamo to trace
@functools.cache
def tune_malloc() -> bool:
    """Set glibc's mmap and trim thresholds once per process (module docstring).

    Returns:
        Whether this process's malloc is tuned by gpuaug: False when turned off
        (``GPUAUG_TUNE_MALLOC=0``), left to the user's settings, or not glibc.
    """
    if os.environ.get("GPUAUG_TUNE_MALLOC", "1").strip() in ("0", "false", "no", "off"):
        return False
    if any(os.environ.get(name) for name in _USER_SETTINGS):
        return False
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
