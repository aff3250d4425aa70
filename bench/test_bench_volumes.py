"""The 3D spatial recipe (``gpuaug.peers_volume``): gpuaug's backends against MONAI and
batchgenerators, same volumes, same run.

B = 2 volumes of 1×160³ float32 with int64 labels to 128³ patches (quick mode on the CPU: 1×80³ to
64³): rotation ±30° about every axis, isotropic scale 0.7–1.4, a random patch, mirroring on
every axis. gpuaug-inductor's first call (its compile, outside the timing) is recorded as
``compile_s``. Every row carries the volume audit of its pipeline on a small probe
(:func:`gpuaug.audit_volume.check_volume_pair`): per-axis alignment of labels and intensities
in voxels, outside voxels labelled as a class, the label dtype out. The peers are in the
``bench3d`` extra; without it their rows skip.
"""

import time

import pytest
import torch
from conftest import DEVICES, QUICK, device_name, synchronised

from gpuaug import peers_volume, reference
from gpuaug.audit_volume import check_volume_pair

#: (source side, patch side) per device.
SIZES = {"cpu": (80, 64) if QUICK else (160, 128), "cuda": (160, 128)}
BATCH = 2
LIBRARIES = ["gpuaug", "gpuaug-torch", "gpuaug-inductor", "reference", "monai", "batchgenerators"]


def pipeline(library: str, device: str, patch: tuple[int, int, int]):
    """The library's pair transform of the recipe on ``device``, or None where it has none."""
    try:
        if library.startswith("gpuaug"):
            backend = {"gpuaug": "auto", "gpuaug-torch": "torch", "gpuaug-inductor": "inductor"}[library]
            if backend != "auto" and (device == "cuda") == (backend == "inductor"):
                return None  # the torch path on CUDA, the compiled CPU path on the CPU
            return peers_volume.gpuaug_volume_pipeline(patch, backend=backend)
        if library == "reference" and device == "cpu":
            aug = peers_volume.gpuaug_volume_pipeline(patch, backend="torch")
            return lambda volumes, labels: reference.apply(volumes, labels, aug.sample(volumes, masks=labels))
        if library == "monai":
            return peers_volume.monai_pipeline(patch)
        if library == "batchgenerators" and device == "cpu":
            return peers_volume.batchgenerators_pipeline(patch)
    except ImportError:
        pass  # not installed (pip install 'gpuaug[bench3d]')
    return None


def audit(library: str, device: str) -> dict:
    """The volume audit of the library's pipeline on a small probe, as ``extra_info`` fields."""
    fn = pipeline(library, device, (16, 20, 24))
    report = check_volume_pair(fn, (24, 28, 32), BATCH, device=device)
    return {
        "align_voxels": [round(v, 3) for v in report.alignment_px],
        "outside_not_ignore": report.outside_not_ignore,
        "labels_invented": report.new_labels,
        "mask_dtype_out": report.mask_dtype,
        "probe_ok": report.ok,
    }


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("library", LIBRARIES)
def test_volumes(benchmark, library, device):
    source, side = SIZES[device]
    patch = (side,) * 3
    fn = pipeline(library, device, patch)
    if fn is None:
        pytest.skip(f"{library} has no volume pipeline on {device} here (not installed, or not on this device)")
    g = torch.Generator().manual_seed(0)
    volumes = torch.rand(BATCH, 1, source, source, source, generator=g).to(device)
    labels = torch.randint(0, 14, (BATCH, source, source, source), generator=g).to(device)
    start = time.perf_counter()
    fn(volumes, labels)  # warm-up: compiles, caches, first-touch of the buffers
    first = {"compile_s": time.perf_counter() - start} if library == "gpuaug-inductor" else {}
    benchmark.extra_info.update(
        library=library,
        pipeline="volumes",
        batch=BATCH,
        size=f"1x{source}^3->{side}^3",
        device=device_name(device),
        device_type=device,
        bytes=volumes.numel() * 4 + labels.numel() * 8 + BATCH * side**3 * (4 + 8),
        torch=torch.__version__,
        **audit(library, device),
        **first,
    )
    timed = synchronised(lambda: fn(volumes, labels), device)
    out = benchmark.pedantic(timed, rounds=7, iterations=1, warmup_rounds=0)
    assert tuple(out[0].shape[-3:]) == patch and tuple(out[1].shape[-3:]) == patch
