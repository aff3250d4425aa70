"""Image borders: a point inside the image never reads ``fill``; image content and labels end at one edge.

Inside points (the masks' rule: s in [0, W)×[0, H), finite, w > 0) sample the image with
their bilinear taps clamped to it (edge replicate, as ``F.interpolate`` does); outside
points take ``fill``. Checked against ``F.interpolate`` as an independent oracle, and by a
constant image whose warp must equal the mask's not-ignore pattern exactly.
"""

import pytest
import torch
import torch.nn.functional as F
from conftest import IMAGE_ATOL

import gpuaug
from gpuaug import probe, reference
from gpuaug.core.records import Params
from gpuaug.functional import warp_image


def test_upscale_edges_replicate_like_interpolate(backend, device):
    images = torch.rand(2, 3, 50, 70, generator=torch.Generator().manual_seed(0))
    expected = F.interpolate(images, size=(123, 97), mode="bilinear", align_corners=False)
    aug = gpuaug.Compose([gpuaug.Resize((123, 97))], fill=0.7, backend=backend)  # fill would show on any edge
    params = aug.sample(images)
    out = aug.apply(images.to(device), None, params.to(device))
    torch.testing.assert_close(out.cpu(), expected, atol=IMAGE_ATOL, rtol=0)
    torch.testing.assert_close(reference.apply(images, None, params), expected, atol=IMAGE_ATOL, rtol=0)


@pytest.mark.parametrize("perspective", [False, True])
def test_constant_image_ends_exactly_where_the_mask_does(backend, device, perspective):
    # A constant image through any warp is that constant wherever the mask has a label and
    # fill wherever it is ignore: no blended ring along the image's edge.
    ops = [gpuaug.RandomAffine(35, translate=(0.2, 0.2), scale=(0.6, 1.4), shear=10), gpuaug.Resize((41, 53))]
    if perspective:
        ops.insert(0, gpuaug.RandomPerspective(0.7, p=1.0))
    images = torch.full((4, 2, 29, 37), 0.8)
    masks = torch.ones(4, 29, 37, dtype=torch.int64)
    aug = gpuaug.Compose(ops, ignore_index=-1, fill=0.1, backend=backend)
    params = aug.sample(images, torch.Generator().manual_seed(2))
    for out_images, out_masks in (
        aug.apply(images.to(device), masks.to(device), params.to(device)),
        reference.apply(images, masks, params),
    ):
        labelled = (out_masks.cpu() == 1).unsqueeze(1).expand(-1, 2, -1, -1)
        assert 0 < labelled.float().mean() < 1
        expected = torch.where(labelled, 0.8, 0.1)
        torch.testing.assert_close(out_images.cpu(), expected, atol=1e-6, rtol=0)


def test_probe_alignment_holds_on_every_inside_pixel(backend, device):
    images, masks = probe.coordinate_probe(4, 23, 31)
    aug = gpuaug.Compose(
        [gpuaug.RandomResizedCrop((47, 61), scale=(0.2, 1.0)), gpuaug.RandomRotation(30)], backend=backend
    )
    params = aug.sample(images, torch.Generator().manual_seed(4))
    out_images, out_masks = aug.apply(images.to(device), masks.to(device), params.to(device))
    metrics = probe.measure_alignment(out_images.cpu(), out_masks.cpu(), 31)
    # Every pixel with a label counts as inside (validity exactly 1), and is aligned.
    assert metrics["inside_pixels"] == int((out_masks != 255).sum()) > 0
    assert max(metrics["alignment_px"]) <= 0.5 + 1e-5
    assert metrics["outside_not_ignore"] == 0


def test_outside_points_take_fill_and_edge_points_the_edge_value(backend, device):
    # One row: source x = output x − 0.25, so output pixel 0's centre maps to s = 0.25
    # (inside: clamped to pixel 0) and pixel 4 (of 4 + 1) to s = 4.25 (outside: fill).
    row = torch.tensor([[[[10.0, 20.0, 30.0, 40.0]]]])
    matrix = torch.tensor([[[1.0, 0.0, -0.25], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])
    out = warp_image(row.to(device), matrix.to(device), (1, 5), fill=-5.0, backend=backend).cpu()
    # Output j samples index (j + 0.5 − 0.25) − 0.5 = j − 0.25: 10 (clamped), blends, then fill.
    expected = torch.tensor([[[[10.0, 17.5, 27.5, 37.5, -5.0]]]])
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    ref = reference.apply(row, None, Params(matrix, (1, 4), (1, 5), 255, (-5.0,), False))
    torch.testing.assert_close(ref, expected, atol=1e-5, rtol=0)
