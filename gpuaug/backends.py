"""Backend selection: Triton kernels on CUDA, the vectorised torch path elsewhere.

``"auto"`` picks Triton for CUDA tensors and torch for everything else. ``"triton"`` on CPU
tensors runs the kernels through Triton's interpreter, which must be enabled by setting
``TRITON_INTERPRET=1`` before :mod:`gpuaug.kernels` is first imported.
"""

from __future__ import annotations

import os

import torch

BACKENDS = ("auto", "triton", "torch")


def resolve(backend: str, device: torch.device) -> str:
    """Return the concrete backend ("triton" or "torch") for data on ``device``."""
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        return "triton" if device.type == "cuda" and triton_available() else "torch"
    if backend == "triton":
        if not triton_available():
            raise RuntimeError("backend='triton': Triton is not installed (pip install triton, Linux only)")
        if device.type != "cuda" and not interpreter_enabled():
            raise RuntimeError(
                f"backend='triton' on {device.type} tensors needs Triton's interpreter: set TRITON_INTERPRET=1 "
                "before gpuaug.kernels is imported, or move the data to CUDA, or use backend='torch'"
            )
    return backend


def interpreter_enabled() -> bool:
    """Whether Triton's CPU interpreter is switched on for this process."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def triton_available() -> bool:
    """Whether the triton package can be imported."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True
