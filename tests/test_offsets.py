"""Offsets past 2^31 elements: every kernel indexes the source in int64.

The sources here hold more than 2^31 elements but are left uninitialised except for the
few pixels read, so they cost address space, not memory or time. In the interpreter an
int32 offset wraps (and reads far outside the tensor), as it does in a compiled kernel.
"""

import pytest
import torch

import gpuaug
from gpuaug.compose import OpRecord, Params
from gpuaug.functional import warp_image, warp_mask

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
H, W = 2**16, 2**15 + 3  # one plane of H×W holds more than 2^31 elements
CORNER = torch.tensor([[11, 22], [33, 44]], dtype=torch.uint8)


def corner_matrix(batch=1):
    """Output 2×2 ← the source's bottom-right 2×2 pixels (pixel centres map to pixel centres)."""
    return torch.tensor([[1.0, 0, W - 2], [0, 1.0, H - 2], [0, 0, 1]], device=DEVICE).expand(batch, 3, 3)


def big(channels=None):
    shape = (1, H, W) if channels is None else (1, channels, H, W)
    source = torch.empty(shape, dtype=torch.uint8, device=DEVICE)
    source[..., -2:, -2:] = CORNER.to(DEVICE)
    return source


def test_mask_gather_past_two_to_the_31():
    out = warp_mask(big(), corner_matrix(), (2, 2), backend="triton")
    assert torch.equal(out.cpu(), CORNER[None])


def test_bilinear_warp_past_two_to_the_31():
    out = warp_image(big(channels=1), corner_matrix(), (2, 2), backend="triton")
    torch.testing.assert_close(out.cpu(), CORNER.view(1, 1, 2, 2) / 255.0, atol=1e-6, rtol=0)


@pytest.mark.parametrize("channel", [0, 2])
def test_fused_kernel_past_two_to_the_31(channel):
    source = torch.empty(1, 3, H, W, dtype=torch.uint8, device=DEVICE)
    source[0, channel, -2:, -2:] = CORNER.to(DEVICE)
    record = OpRecord(
        "ColorJitter",
        {"applied": torch.tensor([True], device=DEVICE), "brightness": torch.tensor([2.0], device=DEVICE)},
        gpuaug.ColorJitter(brightness=1.0).config(),
    )
    params = Params(corner_matrix(), (H, W), (2, 2), 255, (0.0,), False, ops=(record,))
    out = gpuaug.Compose([], backend="triton").apply(source, None, params)
    expected = (CORNER.float() * (2.0 / 255.0)).clamp(max=1.0)
    torch.testing.assert_close(out[0, channel].cpu(), expected, atol=1e-6, rtol=0)
