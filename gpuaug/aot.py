"""Ahead-of-time compilation of the kernels for a CUDA GPU that need not be present.

Triton's interpreter (``TRITON_INTERPRET=1``), which runs the kernels on CPU tensors in the
tests, is not the compiler: it accepts code the compiler rejects (module-level Python
constants, for one) and has no FMA and no register limit. This module compiles the kernels
the way a CUDA launch would, on any machine:

- :func:`record` captures the launches that gpuaug makes (kernel, argument types and
  16-byte divisibility, constexpr values, launch options) instead of running them, and
  :func:`api_launches` drives the public API over a matrix of dtypes, op mixes and flags
  under it, so the specialisations to compile come from the launchers, not from a hand list;
- :func:`compile_launch` compiles one launch for an architecture (``"sm_80"``, ``"sm_90"``)
  to PTX and a cubin and reads the cubin's resource usage (registers, local memory, which
  is where spills go, shared memory) with the ``cuobjdump`` shipped in the Triton wheel;
- ``python -m gpuaug.aot ARCH [ARCH ...] < launches.json`` compiles in a fresh
  process, where the kernels are imported without the interpreter; with ``PYTHONPATH``
  pointing at another Triton it tries that version.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import triton
import triton.language as tl

import gpuaug
from gpuaug.core.checks import IMAGE_DTYPES, MASK_DTYPES, PADDING_MODES, VOLUME_DTYPES
from gpuaug.core.constants import OUT_DTYPES
from gpuaug.core.ragged import from_padded
from gpuaug.functional import warp_image, warp_mask
from gpuaug.targets.maps import FLOAT_DTYPES, Target

KERNEL_MODULES = ("gather_nearest", "warp_bilinear", "fused_image", "class_counts", "volume")

_TYPES = {
    torch.float16: "fp16",
    torch.bfloat16: "bf16",
    torch.float32: "fp32",
    torch.float64: "fp64",
    torch.uint8: "u8",
    torch.int8: "i8",
    torch.int16: "i16",
    torch.int32: "i32",
    torch.int64: "i64",
}


@dataclass(frozen=True)
class Launch:
    """One kernel specialisation as a CUDA launch would compile it.

    Attributes:
        kernel: ``"module.function"`` inside ``gpuaug.kernels``.
        signature: argument name → Triton type (``"*fp32"``, ``"i32"``, ``"constexpr"``).
        constexprs: values of the constexpr arguments (including integers equal to 1, which
            Triton specialises).
        divisible: arguments whose value (pointer address or integer) is a multiple of 16.
        options: launch options (``num_warps``, ``enable_fp_fusion``, ...).
    """

    kernel: str
    signature: dict[str, str]
    constexprs: dict[str, object]
    divisible: tuple[str, ...] = ()
    options: dict[str, object] = field(default_factory=dict)

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def describe(self) -> str:
        """The kernel and its constexpr values, one line."""
        flags = ", ".join(f"{k}={v}" for k, v in self.constexprs.items())
        return f"{self.kernel.split('.')[1]}({flags})"


def kernels() -> dict[str, object]:
    """``"module.function"`` → every launchable kernel object of ``gpuaug.kernels``."""
    found = {}
    for module_name in KERNEL_MODULES:
        module = importlib.import_module(f"gpuaug.kernels.{module_name}")
        for name, value in vars(module).items():
            if isinstance(value, triton.runtime.KernelInterface) and name.endswith("_kernel"):
                found[f"{module_name}.{name}"] = value
    return found


def _argument_type(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return "*" + _TYPES[value.dtype]
    if isinstance(value, bool):
        return "u1"
    if isinstance(value, int):
        return "i32" if -(2**31) <= value < 2**31 else "i64"
    if isinstance(value, float):
        return "fp32"
    raise TypeError(f"launch argument: unsupported type {type(value).__name__}")


def _divisible(value: object) -> bool:
    if isinstance(value, torch.Tensor):
        return value.data_ptr() % 16 == 0
    return isinstance(value, int) and not isinstance(value, bool) and value % 16 == 0


@contextmanager
def record() -> Iterator[list[Launch]]:
    """Within the block, kernel launches are recorded (deduplicated, in order) and not run.

    Outputs of the recorded calls are left unwritten. Works with and without the interpreter.
    """
    launches: list[Launch] = []
    seen: set[str] = set()

    def recorder(name: str, fn) -> object:
        parameters = inspect.signature(fn).parameters
        constant = {n for n, p in parameters.items() if p.annotation is tl.constexpr}

        def run(*args, grid, warmup, **kwargs):
            bound = dict(zip(parameters, args, strict=False)) | {k: v for k, v in kwargs.items() if k in parameters}
            signature, constexprs, divisible = {}, {}, []
            for arg, value in bound.items():
                # Triton makes constexprs of integers equal to 1, like the declared ones.
                if arg in constant or (type(value) is int and value == 1):
                    signature[arg], constexprs[arg] = "constexpr", value
                    continue
                signature[arg] = _argument_type(value)
                if _divisible(value):
                    divisible.append(arg)
            options = {k: v for k, v in kwargs.items() if k not in parameters}
            launch = Launch(name, signature, constexprs, tuple(divisible), options)
            if launch.key() not in seen:
                seen.add(launch.key())
                launches.append(launch)

        return run

    found = kernels()
    try:
        for name, kernel in found.items():
            kernel.run = recorder(name, kernel.fn)
        yield launches
    finally:
        for kernel in found.values():
            del kernel.run


def api_launches(device: torch.device | str = "cpu") -> list[Launch]:
    """The launches gpuaug's public API makes over a matrix of inputs, recorded (not run).

    Covers every kernel flag and argument type at least once: both warps for every image
    and mask dtype, 1 and 3 channels, with and without perspective, every padding mode, at
    sizes divisible by 16, at odd ones and at 1 (which Triton makes a constexpr); Compose's fused image kernel
    with each pixel op alone (with and without perspective) and with the whole fused chain
    (with ColorJitter, and with PhotoMetricDistortion in its place) in every padding mode,
    for every input dtype and every output dtype; ``Compose.invert`` for logits and
    labels; and targets: K-plane label gathers of every integer dtype, dense maps of every
    float dtype (written in that dtype) and gathered float maps, in every padding mode.
    Variable-size batches (lists, padded batches with sizes) go through every kernel too, and
    so do the canvas ops (every ``VIEWS`` mode, with and without ``DISPLACE``). Volumes: a
    covering subset (every volume and label dtype in one padding mode, every padding mode
    with one dtype, sizes of 1, and volumes of their own sizes).
    """
    driver = _Driver(torch.device(device))
    with record() as launches:
        driver.plain_and_fused()
        driver.targets()
        driver.variable_size()
        driver.class_check()
        driver.canvas()
        driver.volumes()
    return launches


class _Driver:
    """The API calls of :func:`api_launches`, by family, on zero tensors of ``device``."""

    def __init__(self, device: torch.device):
        self.device = device
        self.generator = torch.Generator().manual_seed(0)
        photometric = gpuaug.PhotoMetricDistortion()
        noise = gpuaug.GaussianNoise(p=0.5)
        normalize = gpuaug.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
        self.single = [
            gpuaug.ColorJitter(brightness=0.4),
            gpuaug.ColorJitter(contrast=0.4),
            gpuaug.ColorJitter(saturation=0.4),
            gpuaug.ColorJitter(hue=0.1),
            photometric,
            gpuaug.RandomGrayscale(0.5),
            noise,
            gpuaug.GaussianNoise(p=0.5, clip=False),
            normalize,
        ]
        self.chain = [gpuaug.ColorJitter(0.4, 0.4, 0.4, 0.1), gpuaug.RandomGrayscale(0.2), noise, normalize]
        # PhotoMetricDistortion shares ColorJitter's stage (the kernel runs one of the two): its own chain.
        self.chains = [self.chain, [photometric, *self.chain[1:]]]
        self.warps = {False: [gpuaug.RandomResizedCrop(32)], True: [gpuaug.RandomPerspective(p=1.0), gpuaug.Resize(32)]}
        self.shapes = [(30, 41), (17, 64), (48, 9)]

    def zeros(self, *shape, dtype=torch.float32):
        return torch.zeros(shape, dtype=dtype, device=self.device)

    def fused(self, perspective: bool, ops: list, dtype=torch.uint8, out_dtype=torch.float32, padding="constant"):
        ops = [*self.warps[perspective], *ops]
        aug = gpuaug.Compose(ops, out_dtype=out_dtype, backend="triton", padding_mode=padding)
        aug(self.zeros(2, 3, 48, 64, dtype=dtype), self.zeros(2, 48, 64, dtype=torch.int64), self.generator)

    def plain_and_fused(self) -> None:
        """Both warps for every dtype, channel count, padding mode and size; the fused kernel; invert."""
        for perspective in (False, True):
            matrix = torch.eye(3, device=self.device).expand(2, 3, 3)
            for dtype in IMAGE_DTYPES:
                for channels in (1, 3):
                    image = self.zeros(2, channels, 32, 48, dtype=dtype)
                    warp_image(image, matrix, (16, 32), 0.5, "triton", perspective=perspective)
            for dtype in MASK_DTYPES:
                warp_mask(self.zeros(2, 32, 48, dtype=dtype), matrix, (16, 32), 0, "triton", perspective=perspective)
            warp_image(
                self.zeros(2, 3, 13, 21, dtype=torch.uint8), matrix, (11, 17), 0.5, "triton", perspective=perspective
            )
            warp_mask(self.zeros(2, 13, 21, dtype=torch.int64), matrix, (11, 17), 0, "triton", perspective=perspective)
            for op in self.single:
                self.fused(perspective, [op])
            for mode in PADDING_MODES[1:]:
                image, mask = self.zeros(2, 3, 32, 48, dtype=torch.uint8), self.zeros(2, 32, 48, dtype=torch.int64)
                warp_image(image, matrix, (16, 32), 0.5, "triton", perspective=perspective, padding_mode=mode)
                warp_mask(mask, matrix, (16, 32), 0, "triton", perspective=perspective, padding_mode=mode)
                for ops in self.chains:
                    self.fused(perspective, ops, padding=mode)
            aug = gpuaug.Compose(self.warps[perspective], backend="triton")
            params = aug.sample(self.zeros(2, 3, 48, 64), self.generator)
            aug.invert(self.zeros(2, 5, *params.out_size), params)
            aug.invert(self.zeros(2, *params.out_size, dtype=torch.int64), params)
        # Sizes equal to 1 are constexprs in a CUDA launch: one-pixel sources and outputs.
        one = torch.eye(3, device=self.device).expand(2, 3, 3)
        warp_image(self.zeros(2, 3, 1, 1, dtype=torch.uint8), one, (1, 1), 0.5, "triton", perspective=False)
        warp_mask(self.zeros(2, 1, 1, dtype=torch.int64), one, (1, 1), 0, "triton", perspective=False)
        aug = gpuaug.Compose([gpuaug.Resize((1, 1)), *self.chain], backend="triton")
        aug(self.zeros(1, 3, 1, 1, dtype=torch.uint8), self.zeros(1, 1, 1, dtype=torch.int64), self.generator)
        for ops in self.chains:
            for dtype in IMAGE_DTYPES:
                self.fused(False, ops, dtype)
            for out_dtype in OUT_DTYPES:
                self.fused(True, ops, torch.float64, out_dtype)

    def targets(self) -> None:
        """Several targets: K-plane label gathers, dense maps of every float dtype, gathered float maps."""
        # Several targets: the label planes of each dtype in one K-plane gather (a fill per
        # plane), dense maps of each float dtype in one bilinear launch writing that dtype,
        # float maps gathered by nearest; with and without perspective, every padding mode.
        for perspective in (False, True):
            for mode in PADDING_MODES:
                ops = [*self.warps[perspective][:1], gpuaug.CenterCrop(20)]
                aug = gpuaug.Compose(ops, backend="triton", padding_mode=mode, mask_padding="same")
                targets = {f"labels {d}": Target(self.zeros(2, 2, 48, 64, dtype=d), fill=0) for d in MASK_DTYPES}
                targets |= {f"dense {d}": self.zeros(2, 2, 48, 64, dtype=d) for d in FLOAT_DTYPES}
                targets |= {f"gathered {d}": Target(self.zeros(2, 1, 48, 64, dtype=d), "nearest") for d in FLOAT_DTYPES}
                masks = self.zeros(2, 48, 64, dtype=torch.int64)
                aug(self.zeros(2, 3, 48, 64, dtype=torch.uint8), masks, self.generator, targets=targets)

    def variable_size(self) -> None:
        """Variable-size batches: lists, a padded batch with sizes, the fused chains, antialiasing."""
        # Variable-size batches (per-sample extents from a table): lists of every image and
        # mask dtype, a padded batch with sizes, the fused self.chain, the class-aware crop's
        # candidate gathers, every padding mode, and invert back to each sample's size.
        self.shapes = [(30, 41), (17, 64), (48, 9)]
        for perspective in (False, True):
            for mode in PADDING_MODES:
                ops = [gpuaug.RandomResize((32, 48), (0.5, 2.0)), gpuaug.RandomCrop(24, True, cat_max_ratio=0.75)]
                ops = [*ops, *self.warps[perspective][:1]]
                aug = gpuaug.Compose(ops, backend="triton", padding_mode=mode, mask_padding="same")
                masks = [self.zeros(h, w, dtype=torch.int64) for h, w in self.shapes]
                for dtype in IMAGE_DTYPES:
                    aug([self.zeros(3, h, w, dtype=dtype) for h, w in self.shapes], masks, self.generator)
                aug([self.zeros(3, h, w, dtype=torch.uint8) for h, w in self.shapes], masks, self.generator)
                padded = self.zeros(3, 3, 48, 64, dtype=torch.uint8)
                aug(padded, self.zeros(3, 48, 64, dtype=torch.int64), self.generator, sizes=self.shapes)
                for pixel in self.chains:
                    fused_aug = gpuaug.Compose([*ops, *pixel], backend="triton", padding_mode=mode)
                    fused_aug([self.zeros(3, h, w, dtype=torch.uint8) for h, w in self.shapes], masks, self.generator)
            # Antialiased (Compose(antialias=True)): the kernels read the prefiltered float32
            # copy of a stacked or a variable-size batch, plain and with the fused self.chains.
            for pixel in [[], *self.chains]:
                ops = [gpuaug.Resize((16, 20)), *self.warps[perspective][:1], *pixel]
                smooth = gpuaug.Compose(ops, backend="triton", antialias=True)
                smooth(
                    self.zeros(2, 3, 48, 64, dtype=torch.uint8),
                    self.zeros(2, 48, 64, dtype=torch.int64),
                    self.generator,
                )
                smooth([self.zeros(3, h, w, dtype=torch.uint8) for h, w in self.shapes], masks, self.generator)
            for dtype in MASK_DTYPES:
                aug = gpuaug.Compose([gpuaug.CenterCrop(16), *self.warps[perspective][:1]], 0, backend="triton")
                aug(
                    [self.zeros(1, h, w) for h, w in self.shapes],
                    [self.zeros(h, w, dtype=dtype) for h, w in self.shapes],
                    self.generator,
                )

    def class_check(self) -> None:
        """The class-aware crop's histograms, variable-size targets, invert back to each sample's size."""
        from gpuaug.kernels.class_counts import class_counts  # the kernels as this process imports them

        # The class-aware crop's label histograms, for every mask dtype: one candidate per
        # call (the CPU's way, N = 1) and all ten at once (CUDA's).
        for dtype in MASK_DTYPES:
            aug = gpuaug.Compose([gpuaug.RandomCrop(24, True, cat_max_ratio=0.75)], 0, backend="triton")
            aug(self.zeros(2, 3, 48, 64), self.zeros(2, 48, 64, dtype=dtype), self.generator)
            candidates = torch.eye(3, device=self.device).expand(2, 10, 3, 3)
            class_counts(from_padded(self.zeros(2, 48, 64, dtype=dtype), [(48, 64)] * 2), candidates, (24, 24), 0, 0)
            class_counts(self.zeros(2, 48, 64, dtype=dtype), candidates, (24, 24), 0, 0)  # a stacked batch
            for mode in PADDING_MODES:
                ops = [*self.warps[True][:1], gpuaug.CenterCrop(20)]  # the perspective warp
                aug = gpuaug.Compose(ops, backend="triton", padding_mode=mode, mask_padding="same")
                targets = {
                    f"labels {d}": Target([self.zeros(2, h, w, dtype=d) for h, w in self.shapes], fill=0)
                    for d in MASK_DTYPES
                }
                targets |= {f"dense {d}": [self.zeros(2, h, w, dtype=d) for h, w in self.shapes] for d in FLOAT_DTYPES}
                aug(
                    [self.zeros(3, h, w, dtype=torch.uint8) for h, w in self.shapes],
                    None,
                    self.generator,
                    targets=targets,
                )
            params = aug.sample([self.zeros(1, h, w) for h, w in self.shapes], self.generator)
            aug.invert(self.zeros(3, 5, *params.out_size), params)
            aug.invert(self.zeros(3, *params.out_size, dtype=torch.int64), params)

    def canvas(self) -> None:
        """Canvas ops: slot maps, one view per sample, displacements, with the fused chain after them."""
        # Canvas ops: a slot per pixel (VIEWS 2), one view per sample for pixel ops before a
        # mixing op (VIEWS 1), a displacement (DISPLACE) alone and under views; with the fused
        # self.chain after them, stacked and variable-size, with targets, every padding mode.
        elastic = gpuaug.ElasticTransform(2.0, 3.0, p=1.0)
        mixes = [gpuaug.CutMix(p=1.0), gpuaug.Mosaic(p=1.0), gpuaug.ClassMix(p=1.0)]
        canvases = [[elastic], *([m] for m in mixes), *([elastic, m] for m in mixes)]
        for perspective in (False, True):
            for mode in PADDING_MODES:
                for canvas in canvases:
                    ops = [*self.warps[perspective], *canvas]
                    aug = gpuaug.Compose(ops, backend="triton", padding_mode=mode, mask_padding="same")
                    targets = {"labels": Target(self.zeros(2, 2, 48, 64, dtype=torch.int32), fill=0)}
                    targets |= {"dense": self.zeros(2, 1, 48, 64)}
                    masks = self.zeros(2, 48, 64, dtype=torch.int64)
                    aug(self.zeros(2, 3, 48, 64, dtype=torch.uint8), masks, self.generator, targets=targets)
                    # Pixel ops before a mix: fused per view, or (a blur) the plain warp per view;
                    # before a Mosaic only pointwise ones (no contrast, no blur).
                    mosaic = any(isinstance(op, gpuaug.Mosaic) for op in canvas)
                    before = [
                        gpuaug.ColorJitter(0.4, 0.0, 0.4, 0.1) if mosaic else self.chain[0],
                        *canvas,
                        *self.chain[1:],
                    ]
                    blurred = [] if mosaic else [[gpuaug.GaussianBlur(3), *canvas]]
                    for pixel in ([*canvas, *self.chain], before, *blurred):
                        fused_aug = gpuaug.Compose(
                            [*self.warps[perspective], *pixel], backend="triton", padding_mode=mode
                        )
                        fused_aug(self.zeros(2, 3, 48, 64, dtype=torch.uint8), masks, self.generator)
            for canvas in canvases:
                ops = [gpuaug.RandomResize((32, 48), (0.5, 2.0)), gpuaug.RandomCrop(24, True), *canvas, *self.chain]
                aug = gpuaug.Compose(ops, backend="triton")
                masks = [self.zeros(h, w, dtype=torch.int64) for h, w in self.shapes]
                aug([self.zeros(3, h, w, dtype=torch.uint8) for h, w in self.shapes], masks, self.generator)

    def volumes(self) -> None:
        """The volume kernels: every volume and label dtype, every padding mode, one-voxel sizes."""
        chain = [gpuaug.RandomAffine3D(30, scale=(0.7, 1.4)), gpuaug.RandomCrop3D((6, 8, 10), True, 0.5)]
        shape = (10, 12, 14)
        for dtype in VOLUME_DTYPES:
            aug = gpuaug.Compose(chain, 0, backend="triton")
            aug(self.zeros(2, 1, *shape, dtype=dtype), self.zeros(2, *shape, dtype=torch.int64), self.generator)
        for dtype in MASK_DTYPES:
            aug = gpuaug.Compose(chain, 0, backend="triton")
            aug(self.zeros(2, 3, *shape), self.zeros(2, 1, *shape, dtype=dtype), self.generator)
        for mode in PADDING_MODES[1:]:
            aug = gpuaug.Compose(chain, 0, backend="triton", padding_mode=mode, mask_padding="same")
            aug(self.zeros(2, 1, *shape), self.zeros(2, *shape, dtype=torch.int64), self.generator)
        one = gpuaug.Compose([gpuaug.Resize3D(1)], 0, backend="triton")
        one(self.zeros(1, 1, 1, 1, 1), self.zeros(1, 1, 1, 1, dtype=torch.int64), self.generator)
        # Volumes of their own sizes: a list (stacked padded) and a padded batch with sizes (EXTENTS).
        sizes = [(10, 12, 14), (7, 9, 13)]
        aug = gpuaug.Compose(chain, 0, backend="triton")
        masks = [self.zeros(*s, dtype=torch.int64) for s in sizes]
        aug([self.zeros(1, *s) for s in sizes], masks, self.generator)
        aug(self.zeros(2, 3, *shape), self.zeros(2, *shape, dtype=torch.int64), self.generator, sizes=sizes)


_RESOURCES = re.compile(r"REG:(\d+) STACK:(\d+) SHARED:(\d+) LOCAL:(\d+)")
_SPILLS = re.compile(r"(\d+) bytes spill stores, (\d+) bytes spill loads")


def compile_launch(launch: Launch, arch: str) -> dict:
    """Compile ``launch`` for ``arch`` (``"sm_80"``, ``"sm_90"``) and measure the result.

    Returns a dict with, from the cubin, ``registers``, ``stack`` and ``local`` bytes per
    thread and static ``shared`` bytes; from the assembler's report, ``spill_stores`` and
    ``spill_loads`` bytes; from the PTX, its ``ptx_version`` and the count of ``fma.rn.f32``
    and ``div.rn.f32`` instructions; ``num_warps``, ``seconds`` spent compiling, and
    ``error`` (None, or the compiler's message, in which case the other fields are missing).
    """
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    module_name, name = launch.kernel.split(".")
    fn = getattr(importlib.import_module(f"gpuaug.kernels.{module_name}"), name)
    if not isinstance(fn, triton.runtime.JITFunction):
        raise RuntimeError("compile_launch: the kernels were imported under TRITON_INTERPRET; use a fresh process")
    names = list(launch.signature)
    source = ASTSource(
        fn=fn,
        signature=launch.signature,
        constexprs=launch.constexprs,
        attrs={(names.index(arg),): [["tt.divisibility", 16]] for arg in launch.divisible},
    )
    target = GPUTarget("cuda", int(arch.removeprefix("sm_")), 32)
    start = time.perf_counter()
    try:
        compiled = triton.compile(source, target=target, options=dict(launch.options))
    except Exception as error:  # the compiler's own errors are the result here
        return {"error": f"{type(error).__name__}: {error}".strip()[:2000]}
    seconds = time.perf_counter() - start
    ptx = compiled.asm["ptx"]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "k.ptx").write_text(ptx)
        (Path(tmp) / "k.cubin").write_bytes(compiled.asm["cubin"])
        usage = _tool("cuobjdump", "--dump-resource-usage", f"{tmp}/k.cubin")
        # Spills are read from the assembler Triton itself uses, on the same PTX.
        gpu_name = re.search(r"^\.target\s+(\w+)", ptx, re.MULTILINE).group(1)
        report = _tool(
            _ptxas(target.arch), "-v", "--fmad=false", f"--gpu-name={gpu_name}", f"{tmp}/k.ptx", "-o", f"{tmp}/o"
        )
    registers, stack, shared, local = (int(v) for v in _RESOURCES.search(usage).groups())
    stores, loads = (int(v) for v in _SPILLS.search(report).groups())
    return {
        "error": None,
        "registers": registers,
        "spill_stores": stores,
        "spill_loads": loads,
        "stack": stack,
        "local": local,
        "shared": max(shared, compiled.metadata.shared),
        "fma": len(re.findall(r"\bfma\.rn\.f32\b", ptx)),
        "div_rn": len(re.findall(r"\bdiv\.rn\.f32\b", ptx)),
        "num_warps": compiled.metadata.num_warps,
        "ptx_version": re.search(r"^\.version\s+([\d.]+)", ptx, re.MULTILINE).group(1),
        "seconds": round(seconds, 3),
    }


def _ptxas(capability: int) -> str:
    """The assembler Triton uses for ``capability`` (the wheel ships two of them)."""
    from triton.backends.nvidia.compiler import get_ptxas

    return get_ptxas(capability).path


def _tool(program: str, *args: str) -> str:
    """Run one of the CUDA tools shipped in the Triton wheel; its report (stdout + stderr)."""
    path = program if "/" in program else str(Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / program)
    done = subprocess.run([path, *args], capture_output=True, text=True, check=True)
    return done.stdout + done.stderr


def compile_in_subprocess(
    launches: list[Launch],
    archs: list[str],
    pythonpath: str | None = None,
    timeout: float = 600,
    workers: int | None = None,
) -> list[dict]:
    """:func:`compile_launch` for every launch and arch in fresh processes (no interpreter).

    The launches are shared out over ``workers`` processes (default: one per CPU core),
    which compile side by side. ``pythonpath`` is put first on the children's
    ``PYTHONPATH`` (another Triton, for one). Returns one dict per (launch, arch), launches
    outer, each with ``launch`` (its index), ``arch`` and ``triton`` (the version that
    compiled it) added.
    """
    import os
    from concurrent.futures import ThreadPoolExecutor

    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, env.get("PYTHONPATH")) if p)
    workers = max(1, min(workers or os.cpu_count() or 1, len(launches)))
    shares = [list(range(start, len(launches), workers)) for start in range(workers)]

    def compile_share(share: list[int]) -> list[dict]:
        payload = json.dumps([asdict(launches[i]) for i in share])
        done = subprocess.run(
            [sys.executable, "-m", "gpuaug.aot", *archs],
            input=payload,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the compile process failed ({done.returncode}):\n{done.stderr[-4000:]}")
        return [r | {"launch": share[r["launch"]]} for r in json.loads(done.stdout)]

    with ThreadPoolExecutor(workers) as pool:
        results = [r for rs in pool.map(compile_share, shares) for r in rs]
    return sorted(results, key=lambda r: (r["launch"], archs.index(r["arch"])))


def main(argv: list[str]) -> int:
    """Read launches (JSON list of :class:`Launch` fields) on stdin, print results as JSON."""
    archs = argv or ["sm_90"]
    launches = [Launch(**{**d, "divisible": tuple(d["divisible"])}) for d in json.load(sys.stdin)]
    results = []
    for index, launch in enumerate(launches):
        for arch in archs:
            results.append({"launch": index, "arch": arch, "triton": triton.__version__} | compile_launch(launch, arch))
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
