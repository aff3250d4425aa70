"""Test set-up: Triton's interpreter where there is no GPU, hypothesis profile, shared helpers.

TRITON_INTERPRET must be set before anything imports gpuaug.kernels, so it is set here,
at collection time, when CUDA is absent. Then every Triton test runs the real kernels on
CPU tensors; with a GPU the same tests run the compiled kernels on CUDA tensors.
"""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# The device fixtures below return constants, so hypothesis tests may take them (no state leaks between examples).
settings.register_profile(
    "gpuaug",
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,
)
# HYPOTHESIS_PROFILE=thorough runs many more examples (minutes; not in CI).
settings.register_profile("thorough", parent=settings.get_profile("gpuaug"), max_examples=400, derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "gpuaug"))

HAS_CUDA = torch.cuda.is_available()
#: The concrete backends every backend-parametrized test runs on.
BACKENDS = ("torch", "triton")
#: Image tolerance vs the reference (fp32).
IMAGE_ATOL = 1e-4
#: Output image tolerances (atol, rtol) vs the fp32 reference, per output dtype: one rounding of the dtype.
DTYPE_TOLERANCE = {torch.float32: (IMAGE_ATOL, 0.0), torch.bfloat16: (1e-2, 1e-2), torch.float16: (2e-3, 2e-3)}


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """Each concrete backend in turn; ``@pytest.mark.parametrize("backend", ["triton"])`` narrows it."""
    return request.param


@pytest.fixture
def device(backend) -> torch.device:
    """Where ``backend`` runs: the torch path on the CPU; Triton on CUDA when present, else on the
    CPU through the interpreter. So on a GPU machine the same tests run the compiled kernels."""
    return torch.device("cuda" if backend == "triton" and HAS_CUDA else "cpu")


@pytest.fixture
def launches(monkeypatch) -> list[str]:
    """The names of the Triton kernels launched during the test, in order (they still run)."""
    from gpuaug.kernels import common

    names: list[str] = []
    real = common.launch
    for module_name in ("gather_nearest", "warp_bilinear", "fused_image"):
        module = __import__(f"gpuaug.kernels.{module_name}", fromlist=["launch"])
        monkeypatch.setattr(module, "launch", lambda k, *a, **kw: (names.append(k.__name__), real(k, *a, **kw)))
    return names


def pytest_collection_modifyitems(config, items):
    if HAS_CUDA:
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; runs on the GPU machine (bench/gpu.sh)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
