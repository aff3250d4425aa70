"""Offsets past 2^31 elements: every kernel indexes the source in int64.

The sources here hold more than 2^31 elements but are left uninitialised except for the
few pixels read, so they cost address space, not memory or time. In the interpreter an
int32 offset wraps (and reads far outside the tensor), as it does in a compiled kernel.
"""

import pytest
import torch

import gpuaug
from gpuaug.core.records import OpRecord, Params
from gpuaug.functional import warp_image, warp_mask

# The kernels run where conftest's ``device`` fixture puts Triton: CUDA when present, else the interpreter.
pytestmark = pytest.mark.parametrize("backend", ["triton"])
H, W = 2**16, 2**15 + 3  # one plane of H×W holds more than 2^31 elements
CORNER = torch.tensor([[11, 22], [33, 44]], dtype=torch.uint8)


def corner_matrix(device, batch=1):
    """Output 2×2 ← the source's bottom-right 2×2 pixels (pixel centres map to pixel centres)."""
    return torch.tensor([[1.0, 0, W - 2], [0, 1.0, H - 2], [0, 0, 1]], device=device).expand(batch, 3, 3)


def big(device, channels=None):
    shape = (1, H, W) if channels is None else (1, channels, H, W)
    source = torch.empty(shape, dtype=torch.uint8, device=device)
    source[..., -2:, -2:] = CORNER.to(device)
    return source


def test_mask_gather_past_two_to_the_31(backend, device):
    out = warp_mask(big(device), corner_matrix(device), (2, 2), backend=backend)
    assert torch.equal(out.cpu(), CORNER[None])


def test_bilinear_warp_past_two_to_the_31(backend, device):
    out = warp_image(big(device, channels=1), corner_matrix(device), (2, 2), backend=backend)
    torch.testing.assert_close(out.cpu(), CORNER.view(1, 1, 2, 2) / 255.0, atol=1e-6, rtol=0)


@pytest.mark.parametrize("channel", [0, 2])
def test_fused_kernel_past_two_to_the_31(backend, device, channel):
    source = torch.empty(1, 3, H, W, dtype=torch.uint8, device=device)
    source[0, channel, -2:, -2:] = CORNER.to(device)
    record = OpRecord(
        "ColorJitter",
        {"applied": torch.tensor([True], device=device), "brightness": torch.tensor([2.0], device=device)},
        gpuaug.ColorJitter(brightness=1.0).config(),
    )
    params = Params(corner_matrix(device), (H, W), (2, 2), 255, (0.0,), False, ops=(record,))
    out = gpuaug.Compose([], backend=backend).apply(source, None, params)
    expected = (CORNER.float() * (2.0 / 255.0)).clamp(max=1.0)
    torch.testing.assert_close(out[0, channel].cpu(), expected, atol=1e-6, rtol=0)
