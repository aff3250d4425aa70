"""The compiled CPU path (``backend="inductor"``): the torch path's warp and pixel ops as one
``torch.compile``d function per static configuration.

What is compiled is the torch path itself, not a copy: :func:`gpuaug.torch_path.warp_torch`
with ``tiled=True`` (source coordinates once from 1-D bases in the contract's order, the
mask labels and the four bilinear taps by explicit gathers, as the variable-size path reads
them, over 16×16 output tiles), followed by the pixel ops' own ``apply`` and the cast to the
output dtype. With the settings below inductor emits it as a few fused C++ loops instead of
``grid_sample`` and an int64 index buffer.

Masks stay bit-exact: inductor's C++ is built with ``-ffp-contract=off`` (no FMA), pinned
here in :data:`SETTINGS` rather than left to the default, and without unsafe maths; the
divide stays a divide.

Compile cost is paid once per static configuration (shapes, dtypes, strides, output size,
settings, the chain's pixel ops): :func:`run` keeps one compiled function per configuration
and compiles a configuration for the first batch size it sees. A batch of another size (the
short last batch of an epoch) runs eagerly (the warp: the plain torch path): no recompile,
no stall.
Variable-size batches (lists, padded batches with ``sizes=``) compile once too: their
samples enter the warp as one flat storage whose length is marked dynamic and an extent
table (:func:`gpuaug.functional.warp_compiled`), so a batch of new sizes reuses the code.
Without a C++ compiler :func:`gpuaug.backends.resolve` warns and picks the eager torch path;
a compile that fails anyway warns once and leaves that configuration eager.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Hashable

import torch

__all__ = ["SETTINGS", "run", "compile_count", "clear"]

#: inductor settings of the compiled warp. The realize thresholds keep the coordinate maths
#: inlined into the gathers (one loop rather than several kernels with int64 index buffers);
#: the fp flags keep the masks bit-exact (no FMA contraction, no fast-math).
SETTINGS = {
    "realize_reads_threshold": 100,
    "realize_cpu_opcount_threshold": 10000,
    "realize_cpu_acc_reads_threshold": 1000,
    "assert_indirect_indexing": False,
    "cpp.enable_floating_point_contract_flag": "off",
    "cpp.enable_unsafe_math_opt_flag": False,
}

#: Settings of the pixel ops' function, compiled apart from the warp: inductor's defaults
#: with the same fp flags (the warp's realize thresholds would inline the colour maths into
#: every read of it, and compiling ColorJitter's hue that way does not finish).
PIXEL_SETTINGS = {k: v for k, v in SETTINGS.items() if k.startswith("cpp.")}

_lock = threading.Lock()
_compiled: dict[Hashable, Callable] = {}  # (config, batch size) → compiled function
_batch_size: dict[Hashable, int] = {}  # config → the batch size it was compiled for
_failed: set[Hashable] = set()
_compiles = 0


def signature(*tensors: torch.Tensor | None) -> tuple:
    """The static description of tensor arguments, batch dimension left out: shape, dtype, strides."""
    return tuple(None if t is None else (t.shape[1:], t.dtype, t.stride()[1:], t.device.type) for t in tensors)


def run(config: Hashable, batch: int, fn: Callable, *args, settings: dict | None = None, eager: Callable | None = None):
    """``fn(*args)``, through the function compiled for ``config`` when ``batch`` is its batch size.

    ``fn`` must be a pure function of its tensor arguments whose static settings are all in
    ``config`` (closures of one ``config`` are interchangeable). The first call of a
    ``config`` compiles it for its ``batch``; later calls with another batch size, and every
    call after a failed compile, run ``eager(*args)`` instead (default ``fn`` itself,
    eagerly), which must return what ``fn`` does. ``settings``: the inductor settings to
    compile with (default :data:`SETTINGS`).
    """
    eager = fn if eager is None else eager
    global _compiles
    with _lock:
        size = _batch_size.setdefault(config, batch)
        if size != batch or config in _failed:
            compiled = None
        else:
            compiled = _compiled.get(config)
            if compiled is None:
                compiled = _compiled[config] = torch.compile(fn, dynamic=False, fullgraph=True)
                _compiles += 1
    if compiled is None:
        return eager(*args)
    try:
        patched = torch._inductor.config.patch(SETTINGS if settings is None else settings)
        with patched, torch._dynamo.config.patch(recompile_limit=1024):
            return compiled(*args)
    except Exception as exc:  # a broken toolchain must not stop training: warn once, stay eager
        with _lock:
            _failed.add(config)
        warnings.warn(
            f"backend='inductor': compiling failed ({type(exc).__name__}: {exc}); this configuration runs the "
            "eager torch path",
            RuntimeWarning,
            stacklevel=3,
        )
        return eager(*args)


def compile_count() -> int:
    """How many configurations have been compiled in this process."""
    return _compiles


def clear() -> None:
    """Forget every compiled configuration (the next call of each compiles again)."""
    global _compiles
    with _lock:
        _compiled.clear()
        _batch_size.clear()
        _failed.clear()
        _compiles = 0
