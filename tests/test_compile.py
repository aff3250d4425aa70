"""The compiled path, without a GPU: every kernel launch gpuaug makes compiles for sm_90 and sm_80.

The interpreter that runs the kernels elsewhere in the suite is not the compiler, so here
every specialisation the launchers produce (recorded from the public API by
:func:`gpuaug.aot.api_launches`) is compiled ahead of time for sm_90 and sm_80, with
the installed Triton and with Triton 3.6 (the lent GPU machine's). All of them: a covering
subset once missed spills that ptxas produced on sm_80 for one flag combination only.
Each must compile with at most 128 registers per thread, no spills, no FMA (the coordinate
contract) and a correctly rounded divide where the matrix has a perspective row.

Marker ``compile``: ``pytest -m compile`` runs it alone; the GPU run leaves it out.
"""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from gpuaug.kernels.common import MAX_REGISTERS

from gpuaug import aot

pytestmark = pytest.mark.compile

#: The Triton of the lent GPU machine, installed on demand into a cache outside the repository.
GPU_TRITON = "3.6.0"
GPU_TRITON_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gpuaug" / f"triton-{GPU_TRITON}"


def _gpu_triton() -> str | None:
    """PYTHONPATH entry holding Triton 3.6 (installed on first use), or None when it cannot be had."""
    if not (GPU_TRITON_DIR / "triton").is_dir():
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(GPU_TRITON_DIR)]
            + [f"triton=={GPU_TRITON}"],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            return None
    return str(GPU_TRITON_DIR)


@pytest.fixture(scope="module")
def launches() -> list[aot.Launch]:
    return aot.api_launches()


@pytest.fixture(scope="module")
def compiled(launches):
    """Results of the three compile jobs, run side by side in fresh processes."""
    gpu_triton = _gpu_triton()
    jobs = {
        "sm_90": (launches, ["sm_90"], None),
        "sm_80": (launches, ["sm_80"], None),
        GPU_TRITON: (launches, ["sm_90", "sm_80"], gpu_triton) if gpu_triton else None,
    }
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {name: pool.submit(aot.compile_in_subprocess, *job) for name, job in jobs.items() if job is not None}
        results = {name: future.result() for name, future in futures.items()}
    return {name: (jobs[name][0], result) for name, result in results.items()}


def problems(launches: list[aot.Launch], results: list[dict]) -> list[str]:
    """Every way the compiled kernels break the rules of the compiled path, one line each."""
    found = []
    for result in results:
        launch = launches[result["launch"]]
        where = f"{launch.describe()} types={launch.signature} on {result['arch']} (triton {result['triton']})"
        if result["error"]:
            found.append(f"{where}: does not compile: {result['error']}")
            continue
        if result["registers"] > MAX_REGISTERS:
            found.append(f"{where}: {result['registers']} registers > {MAX_REGISTERS}")
        if result["spill_stores"] or result["spill_loads"] or result["local"]:
            found.append(f"{where}: spills ({result['spill_stores']} B stored, {result['local']} B local memory)")
        if result["fma"]:
            found.append(f"{where}: {result['fma']} fma.rn.f32 in the PTX (launched without fp fusion?)")
        if launch.constexprs.get("PERSPECTIVE") and result["div_rn"] < 2:
            found.append(f"{where}: no correctly rounded divide (div.rn.f32) for the perspective divide")
    return found


def test_launches_cover_every_kernel_flag_both_ways(launches):
    # Derived from the kernels' signatures, so a new constexpr switch that the public API
    # matrix does not reach fails here instead of going uncompiled.
    for name, kernel in aot.kernels().items():
        seen = [launch for launch in launches if launch.kernel == name]
        assert seen, f"{name} is never launched"
        for arg in kernel.arg_names:
            values = {launch.constexprs[arg] for launch in seen if type(launch.constexprs.get(arg)) is bool}
            if values:
                assert values >= {True, False}, f"{name}: {arg} is only compiled as {values}"
        if "VIEWS" not in kernel.arg_names:  # the class-count kernels read no per-pixel source
            continue
        # Masks read through a slot map or none; images also one view per sample (pixel ops before a mix).
        views = {launch.constexprs["VIEWS"] for launch in seen}
        expected = {0, 2} if name.startswith("gather_nearest") else {0, 1, 2}
        assert views == expected, f"{name}: VIEWS is compiled as {views}, expected {expected}"


def test_every_launch_compiles_for_sm90(compiled):
    launches, results = compiled["sm_90"]
    assert len(results) == len(launches)
    assert problems(launches, results) == []


def test_every_launch_compiles_for_sm80(compiled):
    launches, results = compiled["sm_80"]
    assert len(results) == len(launches)
    assert problems(launches, results) == []


def test_every_launch_compiles_with_the_gpu_machines_triton(compiled):
    if GPU_TRITON not in compiled:
        pytest.skip(f"triton=={GPU_TRITON} could not be installed into {GPU_TRITON_DIR} (no package index?)")
    launches, results = compiled[GPU_TRITON]
    assert {r["triton"] for r in results} == {GPU_TRITON} and len(results) == 2 * len(launches)
    assert problems(launches, results) == []
