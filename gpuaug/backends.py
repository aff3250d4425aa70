"""Backend selection: Triton kernels on CUDA, the vectorised torch path elsewhere.

``"auto"`` picks Triton for CUDA tensors and torch for everything else. ``"triton"`` on CPU
tensors runs the kernels through Triton's interpreter, which must be enabled by setting
``TRITON_INTERPRET=1`` before :mod:`gpuaug.kernels` is first imported. ``"inductor"`` is the
compiled CPU path (:mod:`gpuaug.inductor`): the torch path compiled by ``torch.compile`` once
per static configuration; it needs a C++ compiler at run time (without one: a warning and
the torch path) and on CUDA tensors it runs the Triton kernels, gpuaug's compiled path there.
``"opencv"`` (CPU tensors only, the ``opencv`` extra) is the torch path with the image warp
done by OpenCV (:mod:`gpuaug.opencv_path`): masks keep the exact gather.
"""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass

import torch

from gpuaug.optional import require

BACKENDS = ("auto", "triton", "torch", "inductor", "opencv")


@dataclass(frozen=True)
class Backend:
    """A backend resolved for the data of one call (:func:`resolve`): what the engine, the
    warps and the class check ask of it, so none of them compares names.

    Attributes:
        name: "triton", "torch", "inductor" or "opencv".
        kernels: it runs gpuaug's Triton kernels (one launch per dtype, the fused image
            kernel with the pixel ops it covers, the class check's histograms).
        compiled: it compiles the plain warp and the pixel ops after it
            (:mod:`gpuaug.inductor`); warps through canvas views run on :attr:`eager`.
        opencv: it warps images with OpenCV (:mod:`gpuaug.opencv_path`, the images it
            takes) and everything else on the torch path.
    """

    name: str
    kernels: bool = False
    compiled: bool = False
    opencv: bool = False

    @property
    def eager(self) -> Backend:
        """The backend of the work this one does not compile: the torch path for "inductor"."""
        return TORCH if self.compiled else self


TRITON = Backend("triton", kernels=True)
TORCH = Backend("torch")
INDUCTOR = Backend("inductor", compiled=True)
OPENCV = Backend("opencv", opencv=True)


def resolve(backend: str | Backend, device: torch.device) -> Backend:
    """The concrete :class:`Backend` for data on ``device`` (a Backend is already resolved)."""
    if isinstance(backend, Backend):
        return backend
    return {"triton": TRITON, "torch": TORCH, "inductor": INDUCTOR, "opencv": OPENCV}[_resolve_name(backend, device)]


def _resolve_name(backend: str, device: torch.device) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    if backend == "inductor":
        if device.type == "cuda" and triton_available():
            return "triton"
        if device.type != "cpu":
            return "torch"
        if not cpp_compiler_available():
            warnings.warn(
                "backend='inductor' needs a C++ compiler (g++ or clang++, as torch.compile's CPU backend finds "
                "them; set CXX) and none was found: running the eager torch path",
                RuntimeWarning,
                stacklevel=4,  # the frame that called the engine
            )
            return "torch"
        return "inductor"
    if backend == "opencv":
        if device.type != "cpu":
            raise ValueError(
                f"backend='opencv' warps CPU tensors, got {device.type} tensors: use backend='auto' on {device.type}"
            )
        require("cv2", "opencv", "backend='opencv'", package="opencv-python-headless")
        return backend
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


@functools.cache
def cpp_compiler_available() -> bool:
    """Whether torch.compile's CPU backend (inductor) finds a C++ compiler on this machine."""
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler

        get_cpp_compiler()
    except Exception:
        return False
    return True
