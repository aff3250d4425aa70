"""warp_image / warp_mask on known matrices, every backend (the ``backend`` / ``device`` fixtures of conftest)."""

import pytest
import torch
from conftest import IMAGE_ATOL

from gpuaug import reference
from gpuaug.core.records import Params
from gpuaug.functional import warp_image, warp_mask

MASK_DTYPES = [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64]


def mat(*rows, batch=2):
    return torch.tensor(rows, dtype=torch.float32).expand(batch, 3, 3).contiguous()


IDENTITY = ((1, 0, 0), (0, 1, 0), (0, 0, 1))


def labels(b, h, w, dtype=torch.int64):
    """Mask whose label is y·W + x, wrapped into the dtype's positive range."""
    index = torch.arange(b * h * w).view(b, h, w) % 100
    return index.to(dtype)


@pytest.mark.parametrize("dtype", MASK_DTYPES)
def test_identity_keeps_masks_and_dtype(backend, device, dtype):
    masks = labels(2, 5, 7, dtype).to(device)
    out = warp_mask(masks, mat(*IDENTITY).to(device), (5, 7), fill=0, backend=backend)
    assert out.dtype == dtype
    assert torch.equal(out, masks)


def test_identity_keeps_images(backend, device):
    images = torch.rand(2, 3, 5, 7, device=device)
    out = warp_image(images, mat(*IDENTITY).to(device), (5, 7), backend=backend)
    torch.testing.assert_close(out, images, atol=1e-6, rtol=0)


def test_horizontal_flip(backend, device):
    masks = labels(2, 4, 6).to(device)
    images = torch.rand(2, 3, 4, 6, device=device)
    m = mat((-1, 0, 6), (0, 1, 0), (0, 0, 1)).to(device)
    assert torch.equal(warp_mask(masks, m, (4, 6), backend=backend), masks.flip(-1))
    torch.testing.assert_close(warp_image(images, m, (4, 6), backend=backend), images.flip(-1), atol=1e-6, rtol=0)


def test_integer_shift_fills_ignore_and_fill(backend, device):
    masks = labels(2, 5, 6).to(device)
    images = torch.rand(2, 2, 5, 6, device=device)
    m = mat((1, 0, 2), (0, 1, -1), (0, 0, 1)).to(device)  # source = output + (2, -1)
    out = warp_mask(masks, m, (5, 6), fill=-100, backend=backend)
    expected = torch.full_like(masks, -100)
    expected[:, 1:, :4] = masks[:, :4, 2:]
    assert torch.equal(out, expected)
    img = warp_image(images, m, (5, 6), fill=[0.25, 0.75], backend=backend)
    expected_img = torch.tensor([0.25, 0.75], device=device).view(1, 2, 1, 1).expand(2, 2, 5, 6).clone()
    expected_img[:, :, 1:, :4] = images[:, :, :4, 2:]
    torch.testing.assert_close(img, expected_img, atol=1e-6, rtol=0)


def test_zoom_2x_repeats_each_label_and_interpolates_images(backend, device):
    masks = labels(2, 3, 4).to(device)
    m = mat((0.5, 0, 0), (0, 0.5, 0), (0, 0, 1)).to(device)  # output 6×8 shows the 3×4 source
    out = warp_mask(masks, m, (6, 8), backend=backend)
    assert torch.equal(out, masks.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2))
    ramp = torch.arange(4.0, device=device).view(1, 1, 1, 4).expand(2, 1, 3, 4).contiguous()
    img = warp_image(ramp, m, (6, 8), backend=backend)
    # Output centre j + 0.5 samples source index (j + 0.5)/2 − 0.5; the outer half pixel is
    # inside the image, so its taps are clamped to the edge column and it never reads fill.
    expected = torch.tensor([0.0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0], device=device)
    torch.testing.assert_close(img[0, 0, 2], expected, atol=1e-6, rtol=0)


def test_uint8_images_read_as_unit_range(backend, device):
    images = torch.randint(0, 256, (2, 3, 5, 4), dtype=torch.uint8, device=device)
    out = warp_image(images, mat(*IDENTITY).to(device), (5, 4), backend=backend)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, images.float() / 255, atol=1e-6, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_float_image_dtypes_give_float32(backend, device, dtype):
    images = torch.rand(2, 3, 5, 4, device=device).to(dtype)
    out = warp_image(images, mat(*IDENTITY).to(device), (5, 4), backend=backend)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, images.float(), atol=1e-6, rtol=0)


def test_perspective_behind_camera_and_non_finite_are_ignore(backend, device):
    masks = labels(4, 6, 6).to(device)
    images = torch.rand(4, 1, 6, 6, device=device)
    m = torch.tensor(
        [
            [[1, 0, 0], [0, 1, 0], [0.0, 0.0, -1.0]],  # w = -1 everywhere: behind the camera
            [[-1, 0, 0], [0, -1, 0], [0.0, 0.0, -1.0]],  # -I: s = (x, y) is inside the image, but w = -1
            [[1, 0, 0], [0, 1, 0], [0.0, 0.0, 0.0]],  # w = 0: division by zero
            [[1, 0, 0], [0, 1, 0], [0.1, 0.0, 1.0]],  # a genuine perspective row
        ],
        dtype=torch.float32,
        device=device,
    )
    out = warp_mask(masks, m, (6, 6), fill=7, backend=backend)
    img = warp_image(images, m, (6, 6), fill=0.5, backend=backend)
    assert (out[:3] == 7).all()
    assert (img[:3] == 0.5).all()
    params = Params(m.cpu(), (6, 6), (6, 6), 7, (0.5,), True)
    ref_img, ref_mask = reference.apply(images, masks, params)
    assert torch.equal(out.cpu(), ref_mask)
    torch.testing.assert_close(img.cpu(), ref_img, atol=IMAGE_ATOL, rtol=0)


def test_mask_layout_and_non_contiguous_inputs(backend, device):
    base = labels(2, 9, 8).to(device)
    strided = base.transpose(1, 2)  # 2×8×9, not contiguous
    m = mat((-1, 0, 9), (0, 1, 0), (0, 0, 1)).to(device)
    out = warp_mask(strided.unsqueeze(1), m, (8, 9), backend=backend)
    assert out.shape == (2, 1, 8, 9) and out.is_contiguous()
    assert torch.equal(out[:, 0], strided.flip(-1))
    images = torch.rand(2, 3, 8, 9, device=device).contiguous(memory_format=torch.channels_last)
    img = warp_image(images, m, (8, 9), backend=backend)
    assert img.is_contiguous()
    torch.testing.assert_close(img, images.flip(-1), atol=1e-6, rtol=0)


def test_empty_batch_returns_empty_outputs(backend, device):
    m = torch.zeros(0, 3, 3, device=device)
    assert warp_mask(torch.zeros(0, 1, 4, 4, dtype=torch.int16, device=device), m, (3, 5), backend=backend).shape == (
        0,
        1,
        3,
        5,
    )
    assert warp_image(torch.zeros(0, 3, 4, 4, device=device), m, (3, 5), backend=backend).shape == (0, 3, 3, 5)


def test_int64_labels_beyond_float_precision_are_exact(backend, device):
    big = torch.tensor([2**53 + 1, 2**62 + 3, -(2**60) - 7, 5], dtype=torch.int64).view(1, 2, 2).to(device)
    m = mat((-1, 0, 2), (0, 1, 0), (0, 0, 1), batch=1).to(device)
    assert torch.equal(warp_mask(big, m, (2, 2), fill=-(2**63), backend=backend), big.flip(-1))


def test_inputs_are_not_modified(backend, device):
    images = torch.rand(2, 3, 6, 5, device=device)
    masks = labels(2, 6, 5).to(device)
    before = images.clone(), masks.clone()
    m = mat((0.7, 0.2, 1), (-0.1, 1.1, 0.5), (0, 0, 1)).to(device)
    warp_image(images, m, (4, 4), fill=0.3, backend=backend)
    warp_mask(masks, m, (4, 4), backend=backend)
    assert torch.equal(images, before[0]) and torch.equal(masks, before[1])
