"""Antialiased downscaling (``Compose(..., antialias=True)``, :mod:`gpuaug.antialias`).

- every backend against :mod:`gpuaug.reference` (images to float tolerance, masks bit for bit
  and equal to the masks without antialiasing) over chains that shrink by resizes, resized
  crops, scales, affine and perspective maps, stacked, list and padded batches, canvas ops;
- the default: outputs bit-identical to the plain warp, and old Params dicts replay unfiltered;
- a 1-px checkerboard and a photo-like image against OpenCV's INTER_AREA;
- the scale rule: the Jacobian of the divided map at the canvas centre, by finite differences.
"""

import dataclasses

import numpy as np
import pytest
import torch
from conftest import IMAGE_ATOL

import gpuaug
from gpuaug import reference
from gpuaug.antialias import source_scale
from gpuaug.functional import warp_image

cv2 = pytest.importorskip("cv2")

CHAINS = {
    "resize": lambda: [gpuaug.Resize((9, 13))],
    "resized-crop": lambda: [gpuaug.RandomResizedCrop((10, 8), scale=(0.5, 1.0))],
    "scale-crop": lambda: [gpuaug.RandomScale((0.2, 1.5)), gpuaug.RandomCrop(12, pad_if_needed=True)],
    "affine": lambda: [gpuaug.RandomAffine(40, scale=(0.25, 0.7), shear=15), gpuaug.CenterCrop((14, 16))],
    "perspective": lambda: [gpuaug.RandomPerspective(0.5, p=1.0), gpuaug.Resize((11, 15))],
    "upscale": lambda: [gpuaug.Resize((60, 70))],
}


def batch(b=3, h=37, w=45, seed=0, uint8=False):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(b, 3, h, w, generator=g)
    if uint8:
        images = (images * 255).to(torch.uint8)
    return images, torch.randint(0, 20, (b, h, w), generator=g)


def check(aug, images, masks, seed, sizes=None):
    params = aug.sample(images, torch.Generator().manual_seed(seed), sizes=sizes)
    assert params.antialias
    out_images, out_masks = aug.apply(images, masks, params, sizes=sizes)
    ref_images, ref_masks = reference.apply(images, masks, params, sizes=sizes)
    assert torch.equal(out_masks.cpu(), ref_masks)
    torch.testing.assert_close(out_images.cpu(), ref_images, atol=IMAGE_ATOL, rtol=0)
    plain_images, plain_masks = aug.apply(images, masks, dataclasses.replace(params, antialias=False), sizes=sizes)
    assert torch.equal(out_masks, plain_masks)  # masks are gathered as always
    return out_images, plain_images


@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_matches_reference_masks_unchanged(backend, device, chain):
    images, masks = batch(seed=len(chain))
    aug = gpuaug.Compose([*CHAINS[chain](), gpuaug.ColorJitter(0.3, 0.3, p=0.5)], backend=backend, antialias=True)
    out, plain = check(aug, images.to(device), masks.to(device), seed=3)
    if chain == "upscale":
        torch.testing.assert_close(out, plain, atol=1e-6, rtol=0)  # nothing shrinks: nothing filtered
    else:
        assert (out - plain).abs().max() > 0.05


def test_uint8_reflect_and_canvas_ops_match_reference(backend, device):
    images, masks = batch(b=4, seed=5, uint8=True)
    ops = [gpuaug.RandomResizedCrop(12, scale=(0.3, 1.0)), gpuaug.ColorJitter(0.3, p=0.5), gpuaug.CutMix(p=1.0)]
    ops.append(gpuaug.RandomGrayscale(0.5))
    aug = gpuaug.Compose(ops, backend=backend, antialias=True, padding_mode="reflect")
    check(aug, images.to(device), masks.to(device), seed=1)


def test_variable_size_batches_match_reference(backend, device):
    g = torch.Generator().manual_seed(2)
    sizes = [(31, 40), (17, 52), (44, 23)]
    images = [torch.rand(3, h, w, generator=g).to(device) for h, w in sizes]
    masks = [torch.randint(0, 9, (h, w), generator=g).to(device) for h, w in sizes]
    aug = gpuaug.Compose(
        [gpuaug.RandomAffine(20, scale=(0.5, 1.0)), gpuaug.Resize((12, 10))], backend=backend, antialias=True
    )
    out_list, _ = check(aug, images, masks, seed=4)
    padded = torch.full((3, 3, 44, 52), float("nan"), device=device)  # the padding must never be read
    padded_masks = torch.zeros((3, 44, 52), dtype=torch.int64, device=device)
    for k, (image, mask) in enumerate(zip(images, masks, strict=True)):
        padded[k, :, : image.shape[1], : image.shape[2]] = image
        padded_masks[k, : mask.shape[0], : mask.shape[1]] = mask
    out_padded, _ = check(aug, padded, padded_masks, seed=4, sizes=sizes)
    torch.testing.assert_close(out_padded, out_list, atol=1e-6, rtol=0)


def test_default_is_the_plain_warp_bit_for_bit(backend, device):
    images, masks = batch(seed=7)
    images, masks = images.to(device), masks.to(device)
    aug = gpuaug.Compose([gpuaug.RandomAffine(30, scale=(0.2, 0.5)), gpuaug.Resize((10, 12))], backend=backend)
    params = aug.sample(images, torch.Generator().manual_seed(0))
    assert not aug.antialias and not params.antialias
    out, _ = aug.apply(images, masks, params)
    plain = warp_image(images, params.matrix, (10, 12), backend=backend, perspective=params.perspective)
    assert torch.equal(out, plain)
    old = params.to_dict()
    del old["antialias"]  # a dict written before antialiasing existed replays unfiltered
    assert not gpuaug.Params.from_dict(old, device).antialias
    on = dataclasses.replace(params, antialias=True).to_dict()
    assert gpuaug.Params.from_dict(on, device).antialias
    assert torch.equal(gpuaug.Compose(aug.ops, backend=backend).apply(images, masks, params)[0], out)


def checkerboard(h, w):
    return ((np.arange(h)[:, None] + np.arange(w)[None, :]) % 2).astype(np.float32)


def test_checkerboard_std_near_inter_area(backend, device):
    # The 4000×6000 → 512×768 scaled down by 4 (the same 7.8125× per axis).
    board = checkerboard(1000, 1500)
    images = torch.from_numpy(board)[None, None].expand(1, 3, -1, -1).to(device)
    area = cv2.resize(board, (192, 128), interpolation=cv2.INTER_AREA).std()
    plain = gpuaug.Compose([gpuaug.Resize((128, 192))], backend=backend)(images)
    smooth = gpuaug.Compose([gpuaug.Resize((128, 192))], backend=backend, antialias=True)(images)
    assert plain.std() > 0.1  # aliased: the board survives as a pattern
    assert smooth.std() <= 2 * area
    assert abs(smooth.mean() - 0.5) < 1e-3


def photo_like(h, w, seed=0):
    """An image with a natural image's 1/f amplitude spectrum (texture at every scale) and
    hard-edged shapes, float32 H×W×3 in [0, 1]."""
    rng = np.random.default_rng(seed)
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
    amplitude = 1.0 / np.maximum(np.hypot(fy, fx), 1.0 / max(h, w))
    channels = []
    for _ in range(3):
        spectrum = amplitude * np.exp(2j * np.pi * rng.random((h, w)))
        field = np.fft.ifft2(spectrum).real
        channels.append((field - field.mean()) / (4 * field.std()) + 0.5)
    image = np.stack(channels, axis=-1)
    ys, xs = np.mgrid[:h, :w]
    image[(xs - w / 3) ** 2 + (ys - h / 2) ** 2 < (h / 4) ** 2] = (0.9, 0.2, 0.1)
    image[(ys // 3) % 2 == 0, int(0.7 * w) :] *= 0.3  # a fine stripe pattern, 3 px per stripe
    return np.clip(image, 0, 1).astype(np.float32)


def test_photo_like_image_near_inter_area(backend, device):
    photo = photo_like(480, 720)
    area = torch.from_numpy(cv2.resize(photo, (96, 64), interpolation=cv2.INTER_AREA)).permute(2, 0, 1)
    images = torch.from_numpy(photo).permute(2, 0, 1)[None].to(device)
    plain = gpuaug.Compose([gpuaug.Resize((64, 96))], backend=backend)(images)[0].cpu()
    smooth = gpuaug.Compose([gpuaug.Resize((64, 96))], backend=backend, antialias=True)(images)[0].cpu()
    error, plain_error = (smooth - area).abs().mean(), (plain - area).abs().mean()
    assert error < 0.01
    assert error < plain_error / 3


def test_source_scale_is_the_centre_jacobian():
    g = torch.Generator().manual_seed(0)
    matrix = torch.eye(3, dtype=torch.float64).repeat(4, 1, 1) + 0.3 * torch.randn(4, 3, 3, generator=g).double()
    matrix[:, 2] = torch.tensor([1e-3, -2e-3, 1.0], dtype=torch.float64)
    matrix[0, 2] = torch.tensor([0.0, 0.0, 1.0])
    h, w = 20, 30

    def divided(x, y):
        p = matrix @ torch.tensor([x, y, 1.0], dtype=torch.float64)
        return p[:, :2] / p[:, 2:]

    eps = 1e-5
    dx = (divided(w / 2 + eps, h / 2) - divided(w / 2 - eps, h / 2)) / (2 * eps)
    dy = (divided(w / 2, h / 2 + eps) - divided(w / 2, h / 2 - eps)) / (2 * eps)
    expected = torch.stack((torch.hypot(dx[:, 0], dy[:, 0]), torch.hypot(dx[:, 1], dy[:, 1])), dim=1)
    torch.testing.assert_close(source_scale(matrix, (h, w), True), expected, rtol=1e-6, atol=0)
    torch.testing.assert_close(source_scale(matrix[:1], (h, w), False), expected[:1], rtol=1e-6, atol=0)
    behind = matrix[1:2].clone()
    behind[0, 2] = torch.tensor([0.0, 0.0, -1.0])
    assert source_scale(behind, (h, w), True).isnan().all()


def test_antialias_must_be_a_bool():
    with pytest.raises(TypeError, match="antialias: expected True or False"):
        gpuaug.Compose([gpuaug.Resize(8)], antialias=1)
