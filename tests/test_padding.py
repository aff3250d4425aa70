"""Padding modes: outside points read the replicated or reflected image, masks optionally the same point.

Oracles: ``grid_sample``'s "border" and "reflection" padding (align_corners=False) for
images under any matrix, and ``numpy.pad`` ("edge", "symmetric") for whole-pixel shifts and
crops, where images and labels are exact copies of source pixels.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import IMAGE_ATOL

import gpuaug
from gpuaug import audit, probe, reference
from gpuaug.functional import warp_image, warp_mask

NUMPY_MODE = {"replicate": "edge", "reflect": "symmetric"}
GRID_MODE = {"replicate": "border", "reflect": "reflection"}
MODES = ["replicate", "reflect"]


def labels(b, h, w):
    return torch.arange(b * h * w, dtype=torch.int64).view(b, h, w)


def shift(dx, dy, batch=2):
    """Output → source: source = output + (dx, dy), whole pixels."""
    return torch.tensor([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]]).expand(batch, 3, 3)


@pytest.mark.parametrize("mode", MODES)
def test_whole_pixel_shift_equals_numpy_pad(backend, device, mode):
    h, w, dx, dy, pad = 5, 7, -9, 4, 12  # reaches beyond one reflection
    masks = labels(2, h, w)
    images = torch.rand(2, 2, h, w)
    padded_masks = torch.from_numpy(np.pad(masks.numpy(), ((0, 0), (pad, pad), (pad, pad)), NUMPY_MODE[mode]))
    padded_images = torch.from_numpy(np.pad(images.numpy(), ((0, 0), (0, 0), (pad, pad), (pad, pad)), NUMPY_MODE[mode]))
    rows, cols = slice(pad + dy, pad + dy + h), slice(pad + dx, pad + dx + w)
    m = shift(dx, dy).to(device)
    out_masks = warp_mask(masks.to(device), m, (h, w), backend=backend, padding_mode=mode)
    out_images = warp_image(images.to(device), m, (h, w), backend=backend, padding_mode=mode)
    assert torch.equal(out_masks.cpu(), padded_masks[:, rows, cols])
    torch.testing.assert_close(out_images.cpu(), padded_images[:, :, rows, cols], atol=1e-6, rtol=0)


@pytest.mark.parametrize("mode", MODES)
def test_images_match_grid_sample_padding_under_any_affine(backend, device, mode):
    images = torch.rand(3, 3, 19, 26, generator=torch.Generator().manual_seed(1))
    aug = gpuaug.Compose([gpuaug.RandomAffine(60, translate=(0.4, 0.4), scale=(0.4, 1.0))], padding_mode=mode)
    params = aug.sample(images, torch.Generator().manual_seed(2))
    matrix = params.matrix.double()
    ys, xs = torch.meshgrid(torch.arange(19.0) + 0.5, torch.arange(26.0) + 0.5, indexing="ij")
    points = torch.stack((xs, ys, torch.ones_like(xs)), -1).double()
    source = torch.einsum("bij,hwj->bhwi", matrix, points)[..., :2]
    grid = (source / torch.tensor([26.0, 19.0], dtype=torch.float64) * 2 - 1).float()
    expected = F.grid_sample(images, grid, mode="bilinear", padding_mode=GRID_MODE[mode], align_corners=False)
    out = gpuaug.Compose(aug.ops, padding_mode=mode, backend=backend).apply(images.to(device), None, params.to(device))
    torch.testing.assert_close(out.cpu(), expected, atol=IMAGE_ATOL, rtol=0)
    torch.testing.assert_close(reference.apply(images, None, params), expected, atol=IMAGE_ATOL, rtol=0)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("mask_padding", ["ignore", "same"])
def test_masks_follow_mask_padding_exactly_against_reference(backend, device, mode, mask_padding):
    images = torch.rand(4, 3, 21, 17)
    masks = labels(4, 21, 17).remainder(50)
    ops = [gpuaug.RandomPerspective(0.6, p=1.0), gpuaug.RandomAffine(45, scale=(0.5, 1.2)), gpuaug.CenterCrop(30)]
    aug = gpuaug.Compose(ops, ignore_index=-1, fill=0.3, padding_mode=mode, mask_padding=mask_padding, backend=backend)
    params = aug.sample(images, torch.Generator().manual_seed(3))
    out_images, out_masks = aug.apply(images.to(device), masks.to(device), params.to(device))
    ref_images, ref_masks = reference.apply(images, masks, params)
    assert torch.equal(out_masks.cpu(), ref_masks)
    torch.testing.assert_close(out_images.cpu(), ref_images, atol=IMAGE_ATOL, rtol=0)
    ignored = (ref_masks == -1).float().mean()
    assert (ignored == 0) if mask_padding == "same" else (ignored > 0.05)
    assert (ref_images != 0.3).all()  # only points behind the camera would read fill


@pytest.mark.parametrize("mode", ["constant", *MODES])
def test_points_behind_the_camera_stay_outside_in_every_mode(backend, device, mode):
    minus_identity = -torch.eye(3).expand(2, 3, 3).to(device)  # s = (x, y) inside, but w = −1
    out_masks = warp_mask(labels(2, 6, 5).to(device), minus_identity, (6, 5), 9, backend, padding_mode=mode)
    out_images = warp_image(torch.rand(2, 1, 6, 5).to(device), minus_identity, (6, 5), 0.25, backend, padding_mode=mode)
    assert (out_masks == 9).all() and (out_images == 0.25).all()


@pytest.mark.parametrize("mode", MODES)
def test_crop_padding_follows_the_mode(backend, device, mode):
    images, masks = torch.rand(2, 3, 6, 9), labels(2, 6, 9)
    aug = gpuaug.Compose([gpuaug.CenterCrop((10, 13))], padding_mode=mode, mask_padding="same", backend=backend)
    out_images, out_masks = aug(images.to(device), masks.to(device))
    # CenterCrop (10, 13) of 6×9 starts at (−2, −2): numpy pads 2 before and after.
    expected = np.pad(masks.numpy(), ((0, 0), (2, 2), (2, 2)), NUMPY_MODE[mode])
    assert torch.equal(out_masks.cpu(), torch.from_numpy(expected))
    expected_images = np.pad(images.numpy(), ((0, 0), (0, 0), (2, 2), (2, 2)), NUMPY_MODE[mode])
    torch.testing.assert_close(out_images.cpu(), torch.from_numpy(expected_images), atol=1e-6, rtol=0)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("mask_padding", ["ignore", "same"])
def test_probe_and_check_pair_accept_the_modes(mode, mask_padding):
    ops = [gpuaug.RandomResizedCrop(40, scale=(0.3, 1.0)), gpuaug.RandomAffine(30, translate=(0.3, 0.3))]
    aug = gpuaug.Compose(ops, padding_mode=mode, mask_padding=mask_padding)
    report = audit.check_pair(lambda images, masks: aug(images, masks), image_size=(32, 32))
    assert report.ok, report
    images, masks = probe.coordinate_probe(4, 32, 32)
    out_images, out_masks = aug(images, masks, torch.Generator().manual_seed(0))
    metrics = probe.measure_alignment(out_images, out_masks, 32)
    assert max(metrics["alignment_px"]) <= 0.5 + 1e-5
    labelled = int((out_masks != 255).sum())
    assert metrics["inside_pixels"] == labelled
    assert (labelled == out_masks.numel()) == (mask_padding == "same")


def test_modes_round_trip_through_params_and_old_dicts_default_to_constant():
    aug = gpuaug.Compose([gpuaug.RandomRotation(30)], padding_mode="reflect", mask_padding="same")
    params = aug.sample(torch.rand(2, 3, 8, 8))
    again = gpuaug.Params.from_dict(params.to_dict())
    assert (again.padding_mode, again.mask_padding) == ("reflect", "same")
    old = {k: v for k, v in params.to_dict().items() if k not in ("padding_mode", "mask_padding")}
    restored = gpuaug.Params.from_dict(old)
    assert (restored.padding_mode, restored.mask_padding) == ("constant", "ignore")


@pytest.mark.parametrize("mode", MODES)
def test_fused_colour_path_pads_like_the_reference(backend, device, mode):
    images = (torch.rand(2, 3, 15, 22) * 255).to(torch.uint8)
    ops = [
        gpuaug.RandomAffine(50, scale=(0.5, 0.9)),
        gpuaug.ColorJitter(0.3, 0.3, 0.3, 0.05),
        gpuaug.Normalize(0.5, 0.25),
    ]
    aug = gpuaug.Compose(ops, padding_mode=mode, backend=backend)
    params = aug.sample(images, torch.Generator().manual_seed(5))
    out = aug.apply(images.to(device), None, params.to(device))
    torch.testing.assert_close(out.cpu(), reference.apply(images, None, params), atol=IMAGE_ATOL, rtol=0)
