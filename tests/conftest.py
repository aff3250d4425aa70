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

settings.register_profile(
    "gpuaug", deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
# HYPOTHESIS_PROFILE=thorough runs many more examples (minutes; not in CI).
settings.register_profile("thorough", parent=settings.get_profile("gpuaug"), max_examples=400, derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "gpuaug"))

HAS_CUDA = torch.cuda.is_available()
#: Device the Triton backend runs on: CUDA when present, else CPU through the interpreter.
TRITON_DEVICE = torch.device("cuda" if HAS_CUDA else "cpu")
#: Image tolerance vs the reference (fp32).
IMAGE_ATOL = 1e-4
#: Output image tolerances (atol, rtol) vs the fp32 reference, per output dtype: one rounding of the dtype.
DTYPE_TOLERANCE = {torch.float32: (IMAGE_ATOL, 0.0), torch.bfloat16: (1e-2, 1e-2), torch.float16: (2e-3, 2e-3)}


def pytest_collection_modifyitems(config, items):
    if HAS_CUDA:
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; runs on the GPU machine (bench/gpu.sh)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
