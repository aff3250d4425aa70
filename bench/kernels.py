"""Static kernel report: registers, spills, occupancy and the memory-bandwidth floor, without a GPU.

    python bench/kernels.py --out bench/results/            # writes kernels-sm90.md
    python bench/kernels.py --arch sm_80 --out /tmp/report  # another architecture

Every launch the public API makes (``gpuaug.aot.api_launches``) is compiled ahead of
time with the installed Triton; the report lists, per kernel and main specialisation,
registers per thread, spills, shared memory, the theoretical occupancy on an H100 at the
kernel's launch configuration, the bytes each output pixel reads and writes, and the time
below which no kernel can move the benchmark shapes' bytes (the bandwidth floor). Nothing
here is measured on a GPU: the GPU report (``bench/gpu.sh``) puts measured times beside it.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # lets the API matrix run on CPU tensors (nothing is launched)

import triton  # noqa: E402
from gpuaug.kernels.common import BLOCK_H, BLOCK_W  # noqa: E402

from gpuaug import aot  # noqa: E402
from gpuaug.core.checks import PADDING_MODES  # noqa: E402

#: H100 SXM5 (the lent machine's card) from NVIDIA's data sheet, and the H100 PCIe that CV-CUDA measured on.
H100_SXM_BANDWIDTH = 3.35e12
H100_PCIE_BANDWIDTH = 2.0e12
#: Per SM on sm_90: registers, resident warps and blocks; registers are allocated per warp in units of 256.
SM_REGISTERS, SM_WARPS, SM_BLOCKS, REGISTER_UNIT = 65536, 64, 32, 256
ITEMSIZE = {"u8": 1, "i8": 1, "i16": 2, "fp16": 2, "bf16": 2, "i32": 4, "fp32": 4, "i64": 8, "fp64": 8}


def occupancy(registers: int, num_warps: int) -> tuple[int, float]:
    """Resident warps per SM and their fraction of the maximum (registers are the only limit here)."""
    per_warp = math.ceil(registers * 32 / REGISTER_UNIT) * REGISTER_UNIT
    blocks = min(SM_REGISTERS // (per_warp * num_warps), SM_BLOCKS, SM_WARPS // num_warps)
    return blocks * num_warps, blocks * num_warps / SM_WARPS


def pixel_bytes(launch: aot.Launch) -> tuple[int, int]:
    """Bytes read and written per output pixel, reading each source pixel once (scale ~1)."""
    src, out = (ITEMSIZE[launch.signature[k].lstrip("*")] for k in ("src_ptr", "out_ptr"))
    name, flags = launch.kernel, launch.constexprs
    if name.startswith("gather_nearest"):
        return src, out
    if name.startswith("warp_bilinear"):
        channels = flags.get("C", 3)  # C is a runtime argument unless it is 1
        return channels * src, channels * out
    if flags.get("MEAN_ONLY"):
        return 3 * src, 0
    return 3 * src, 3 * out


def main_launches(launches: list[aot.Launch]) -> list[aot.Launch]:
    """The specialisations worth a row: 16-divisible sizes, the common dtypes and op mixes."""

    def wanted(launch: aot.Launch) -> bool:
        types, flags = launch.signature, launch.constexprs
        if "h" not in launch.divisible:
            return False
        if launch.kernel.startswith("gather_nearest"):
            return types["src_ptr"] in ("*u8", "*i64")
        if launch.kernel.startswith("warp_bilinear"):
            return "C" not in flags and types["src_ptr"] in ("*u8", "*fp32")
        steps = [k for k, v in flags.items() if v is True and k not in ("PERSPECTIVE", "MEAN_ONLY", "NOISE_CLIP")]
        return len(steps) > 1 or not flags["PERSPECTIVE"]

    rows, seen = [], set()
    for launch in filter(wanted, launches):
        key = (launch.kernel, launch.signature["src_ptr"], launch.signature["out_ptr"], flag_text(launch))
        if key not in seen:
            seen.add(key)
            rows.append(launch)
    return rows


def floors() -> list[tuple[str, float, str]]:
    """Bandwidth floors of the benchmark shapes: (shape, bytes, note)."""
    b1, hw1 = 64, 512 * 512
    b2, hw2 = 16, 1080 * 1920
    return [
        ("B=64 3×512² uint8 → 3×512² fp32 + int64 masks 512² → 512²", b1 * hw1 * (3 + 12 + 8 + 8), "images + masks"),
        ("B=16 3×1080×1920 uint8 → same size fp32 (images only)", b2 * hw2 * (3 + 12), "gpuaug's output dtype"),
        ("B=16 3×1080×1920 uint8 → same size uint8 (images only)", b2 * hw2 * (3 + 3), "like for like with CV-CUDA"),
    ]


def flag_text(launch: aot.Launch) -> str:
    on = [k for k, v in launch.constexprs.items() if v is True]
    padding = launch.constexprs.get("PADDING", 0)
    on += [f"PADDING={PADDING_MODES[padding]}"] if padding else []
    views = launch.constexprs.get("VIEWS", 0)
    on += [f"VIEWS={VIEW_MODES[views]}"] if views else []
    return ", ".join(on) if on else "—"


#: The kernels' ``VIEWS`` modes (``kernels/common.py: tile_sources``), as the report names them.
VIEW_MODES = ("none", "per-sample", "slot map")


def report(arch: str) -> str:
    launches = aot.api_launches("cuda" if torch.cuda.is_available() else "cpu")
    results = aot.compile_in_subprocess(launches, [arch])
    failed = [(launches[r["launch"]], r["error"]) for r in results if r["error"]]
    if failed:
        raise SystemExit("kernels that do not compile:\n" + "\n".join(f"{k.describe()}: {e}" for k, e in failed))
    by_launch = {r["launch"]: r for r in results}
    lines = [
        f"# Kernel report, {arch} (static: compiled ahead of time, nothing measured on a GPU)",
        "",
        f"Triton {triton.__version__}, torch {torch.__version__}; tile {BLOCK_H}×{BLOCK_W} output pixels per program; "
        f"{len(launches)} specialisations recorded from the public API (`gpuaug.aot.api_launches`), "
        "all compiled. Occupancy is the theoretical one on an H100 (65,536 registers, 64 warps, 32 blocks per SM; "
        "registers are the only limit, no kernel uses static shared memory beyond what the table shows). Bytes per "
        "output pixel assume each source pixel is read once (scale ≈ 1); the bilinear taps' reuse is left to the "
        "cache.",
        "",
        "## Per kernel, over every recorded specialisation",
        "",
        "| kernel | specialisations | registers (min–max) | spill bytes | warps per program | px per thread | "
        "resident warps per SM at max registers |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in aot.kernels():
        rows = [(launch, by_launch[i]) for i, launch in enumerate(launches) if launch.kernel == name]
        regs = [r["registers"] for _, r in rows]
        spills = sum(r["spill_stores"] + r["spill_loads"] for _, r in rows)
        warps = rows[0][1]["num_warps"]
        resident, _ = occupancy(max(regs), warps)
        per_thread = BLOCK_H * BLOCK_W // (32 * warps)
        lines.append(
            f"| `{name.split('.')[1]}` | {len(rows)} | {min(regs)}–{max(regs)} | {spills} | {warps} | {per_thread} "
            f"| {resident} |"
        )
    lines += [
        "",
        "## Main specialisations",
        "",
        "| kernel | source → output | flags on | registers | spills (B) | shared (B) | occupancy (warps/SM) "
        "| read + written B per output px |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for launch in main_launches(launches):
        r = by_launch[launches.index(launch)]
        resident, fraction = occupancy(r["registers"], r["num_warps"])
        read, written = pixel_bytes(launch)
        types = f"{launch.signature['src_ptr'][1:]} → {launch.signature['out_ptr'][1:]}"
        lines.append(
            f"| `{launch.kernel.split('.')[1]}` | {types} | {flag_text(launch)} | {r['registers']} "
            f"| {r['spill_stores'] + r['spill_loads']} | {r['shared']} | {resident} ({fraction:.0%}) "
            f"| {read} + {written} |"
        )
    lines += [
        "",
        "## Memory-bandwidth floors of the benchmark shapes",
        "",
        "The least time any kernel needs to read the source once and write the output once, at the data sheet's "
        f"bandwidth: H100 SXM {H100_SXM_BANDWIDTH / 1e12:.2f} TB/s, H100 PCIe {H100_PCIE_BANDWIDTH / 1e12:.1f} TB/s. "
        "NVIDIA CV-CUDA publishes 1.74 ms for WarpAffine on the second shape on an H100 PCIe (uint8 → uint8, cubic "
        "interpolation, reflect border), to be compared with the like-for-like row, not with gpuaug's float output.",
        "",
        "| shape | bytes moved | floor, H100 SXM | floor, H100 PCIe | note |",
        "|---|---:|---:|---:|---|",
    ]
    for shape, moved, note in floors():
        lines.append(
            f"| {shape} | {moved / 1e6:.0f} MB | {moved / H100_SXM_BANDWIDTH * 1e3:.3f} ms "
            f"| {moved / H100_PCIE_BANDWIDTH * 1e3:.3f} ms | {note} |"
        )
    lines += ["", "Measured times: the GPU report from `bench/gpu.sh`, when a run on a lent GPU has been made.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="folder for kernels-<arch>.md")
    parser.add_argument("--arch", default="sm_90", help="sm_80, sm_90, ... (default sm_90)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"kernels-{args.arch.replace('_', '')}.md"
    path.write_text(report(args.arch))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
