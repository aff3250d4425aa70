"""Shared set-up of the benchmarks: one batch per device, timed calls synchronised on CUDA."""

import platform

import pytest
import torch

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def device_name(device: str) -> str:
    """The machine a timing came from, for the report."""
    if device == "cuda":
        return torch.cuda.get_device_name()
    return f"{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def synchronised(fn, device: str):
    """Wrap ``fn`` so that a timed call includes the GPU work it queued."""
    if device != "cuda":
        return fn

    def run():
        out = fn()
        torch.cuda.synchronize()
        return out

    return run


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param
