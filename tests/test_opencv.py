"""backend="opencv": images through OpenCV's warps within the stated tolerance, masks bit-exact.

The tolerance (docs/design.md, "The OpenCV image warp"): OpenCV rounds each source
coordinate to 1/32 pixel, so an image value may differ from the reference's by 1/32 of
the largest step between neighbouring source pixels, plus one rounding to uint8 (1/510)
for uint8 images. Everything else is exact: which points are outside (``fill``), the masks
and label targets (the torch path's gather), and the fallbacks to the torch path.
"""

import sys

import pytest
import test_exact as exact
import torch
from hypothesis import given
from hypothesis import strategies as st

import gpuaug
from gpuaug import backends, peers, reference

pytest.importorskip("cv2", reason="backend='opencv' needs the opencv extra")

#: The bound on a ramp of slope 1 per pixel (the probe's channels): 1/32 of a pixel.
RAMP_ATOL = 1 / 32 + 1e-5
#: The bound on images in [0, 1] whose neighbours may differ by the whole range.
UINT8_ATOL = 1 / 32 + 1 / 510


@pytest.mark.parametrize(("mode", "mask_padding", "out_size"), exact.CASES, ids=exact.IDS)
def test_opencv_exact_boundaries_by_hand(mode, mask_padding, out_size):
    """The by-hand probe of tests/test_exact.py: the outside points exact (fill where the
    contract says, image content everywhere else), the ramps within 1/32 px, masks exact."""
    params = exact.probe_params(out_size, mode, mask_padding)
    images, masks = exact.probe(params.matrix.shape[0])
    expected_images, expected_masks, inside = exact.expected(out_size, mode, mask_padding)
    aug = gpuaug.Compose([gpuaug.Resize(out_size)], backend="opencv")
    out_images, out_masks = aug.apply(images, masks, params)
    assert torch.equal(out_masks, expected_masks)
    fill = torch.tensor(exact.FILL).view(1, 2, 1, 1).expand_as(out_images)
    assert torch.equal(out_images[~inside.expand_as(out_images)], fill[~inside.expand_as(out_images)])
    torch.testing.assert_close(out_images, expected_images, atol=RAMP_ATOL, rtol=0)


def ade20k_like(seed: int, dtype=torch.uint8):
    """Six uint8 (or float32 in [0, 1]) noise images of their own sizes and block masks of 20 classes and void."""
    g = torch.Generator().manual_seed(seed)
    sizes = [(40, 53), (53, 40), (30, 39), (61, 80), (40, 40), (37, 50)]
    images = [torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g) for h, w in sizes]
    if dtype == torch.float32:
        images = [image.float() / 255 for image in images]
    masks = [torch.randint(0, 20, (h // 4 + 1, w // 4 + 1), generator=g) for h, w in sizes]
    masks = [
        m.repeat_interleave(4, 0).repeat_interleave(4, 1)[:h, :w].contiguous()
        for m, (h, w) in zip(masks, sizes, strict=True)
    ]
    for mask in masks[::2]:
        mask[:3] = 255
    return images, masks


@given(seed=st.integers(0, 2**31 - 1), dtype=st.sampled_from([torch.uint8, torch.float32]))
def test_opencv_ade20k_recipe_matches_reference(seed, dtype):
    """mmsegmentation's ADE20K recipe (resize, class-aware crop with padding, flip, photometric
    distortion, normalise) on a list: masks bit-exact, images within the tolerance (times
    1 / min(std) through Normalize), the inputs untouched."""
    images, masks = ade20k_like(seed, dtype)
    before = [image.clone() for image in images], [mask.clone() for mask in masks]
    aug = gpuaug.Compose(peers.ade20k_ops(32), backend="opencv")
    params = aug.sample(images, torch.Generator().manual_seed(seed), masks=masks)
    out, out_masks = aug.apply(images, masks, params)
    ref, ref_masks = reference.apply(images, masks, params)
    assert out_masks.dtype == torch.int64 and torch.equal(out_masks, ref_masks)
    # The photometric steps are 1-Lipschitz per channel within a small factor (contrast ≤ 1.5, saturation ≤ 1.5).
    torch.testing.assert_close(out, ref, atol=UINT8_ATOL * 1.5 * 1.5 / min(peers.STD) * 255, rtol=0)
    geometric = gpuaug.Compose(peers.ade20k_ops(32, full=False), backend="opencv")
    params = geometric.sample(images, torch.Generator().manual_seed(seed), masks=masks)
    out, out_masks = geometric.apply(images, masks, params)
    ref, ref_masks = reference.apply(images, masks, params)
    assert torch.equal(out_masks, ref_masks)
    torch.testing.assert_close(out, ref, atol=UINT8_ATOL, rtol=0)
    for kept, given_ in zip(before, (images, masks), strict=True):
        assert all(torch.equal(a, b) for a, b in zip(kept, given_, strict=True))


@pytest.mark.parametrize("form", ["stacked", "padded"])
def test_opencv_rotations_and_perspective_match_reference(form):
    """A general affine chain and a perspective one (warpAffine / warpPerspective), on a
    stacked batch and on a padded one with ``sizes`` (each sample read within its size)."""
    images, masks = ade20k_like(3)
    sizes = [tuple(image.shape[-2:]) for image in images]
    if form == "stacked":
        images, masks, sizes = (
            torch.stack([i[:, :30, :39] for i in images]),
            torch.stack([m[:30, :39] for m in masks]),
            None,
        )
    else:
        images, masks = exact_padded(images, masks)
    for ops in (
        [gpuaug.RandomAffine(40, scale=(0.7, 1.3), shear=10), gpuaug.Resize((28, 33))],
        [gpuaug.RandomPerspective(0.5, p=1.0), gpuaug.Resize((28, 33))],
    ):
        aug = gpuaug.Compose(ops, backend="opencv", fill=(0.25, 0.5, 0.75))
        params = aug.sample(images, torch.Generator().manual_seed(1), sizes=sizes)
        out, out_masks = aug.apply(images, masks, params, sizes=sizes)
        ref, ref_masks = reference.apply(images, masks, params, sizes=sizes)
        assert torch.equal(out_masks, ref_masks)
        assert (out_masks == 255).any()  # some points are outside: their fill is checked too
        torch.testing.assert_close(out, ref, atol=UINT8_ATOL, rtol=0)


def exact_padded(images, masks):
    """A padded batch of ``images`` and ``masks``, its padding a value they never hold (200, 77)."""
    h, w = max(i.shape[-2] for i in images), max(i.shape[-1] for i in images)
    out = torch.full((len(images), 3, h, w), 200, dtype=images[0].dtype)
    out_masks = torch.full((len(masks), h, w), 77, dtype=masks[0].dtype)
    for k, (image, mask) in enumerate(zip(images, masks, strict=True)):
        out[k, :, : image.shape[-2], : image.shape[-1]] = image
        out_masks[k, : mask.shape[-2], : mask.shape[-1]] = mask
    return out, out_masks


def test_opencv_non_finite_matrix_reads_nothing():
    """A sample whose matrix is not finite is fill everywhere (OpenCV is not called for it)."""
    params = exact.probe_params((9, 11), "constant", "ignore")
    matrix = params.matrix.clone()
    matrix[2, 0, 2] = float("nan")
    params = gpuaug.Params(matrix, (exact.H, exact.W), (9, 11), exact.IGNORE, exact.FILL, False)
    images, masks = exact.probe(matrix.shape[0])
    out, out_masks = gpuaug.Compose([gpuaug.Resize((9, 11))], backend="opencv").apply(images, masks, params)
    assert torch.equal(out[2], torch.tensor(exact.FILL).view(2, 1, 1).expand(2, 9, 11))
    assert (out_masks[2] == exact.IGNORE).all()
    ref, ref_masks = reference.apply(images, masks, params)
    assert torch.equal(out_masks, ref_masks)
    torch.testing.assert_close(out, ref, atol=RAMP_ATOL, rtol=0)


@pytest.mark.parametrize("case", ["float16", "reflect"])
def test_what_opencv_does_not_take_runs_the_torch_path(case):
    """float16 images and "reflect" padding are warped by the torch path: the same output as backend="torch"."""
    images, masks = ade20k_like(5)
    images = torch.stack([i[:, :30, :39] for i in images]).float().div_(255)
    masks = torch.stack([m[:30, :39] for m in masks])
    padding = "reflect" if case == "reflect" else "constant"
    images = images.half() if case == "float16" else images
    outs = []
    for backend in ("opencv", "torch"):
        aug = gpuaug.Compose([gpuaug.RandomAffine(30), gpuaug.Resize(24)], backend=backend, padding_mode=padding)
        outs.append(aug(images, masks, generator=torch.Generator().manual_seed(0)))
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])


def test_opencv_errors():
    """CUDA tensors are refused naming the backend; without OpenCV the error names the extra."""
    with pytest.raises(ValueError, match="backend='opencv' warps CPU tensors, got cuda"):
        backends.resolve("opencv", torch.device("cuda"))
    aug = gpuaug.Compose([gpuaug.Resize(8)], backend="opencv")
    images = torch.rand(2, 3, 10, 10)
    saved = sys.modules.get("cv2")
    sys.modules["cv2"] = None  # import cv2 now raises ImportError
    try:
        with pytest.raises(ImportError, match=r"gpuaug\[opencv\]"):
            aug(images)
    finally:
        sys.modules["cv2"] = saved


def test_opencv_volumes_dense_targets_and_the_stateless_warp():
    """Volumes take the torch path (OpenCV has no 3D warp): the same output as "torch"; a
    dense target goes through the torch path's bilinear warp beside OpenCV's images; and
    ``warp_image(..., backend="opencv")`` is the Compose's image warp."""
    g = torch.Generator().manual_seed(2)
    volumes, labels = torch.rand(2, 1, 6, 7, 8, generator=g), torch.randint(0, 5, (2, 6, 7, 8), generator=g)
    ops = [gpuaug.RandomAffine3D(30), gpuaug.RandomFlip3D(), gpuaug.RandomGamma(p=1.0)]
    outs = [
        gpuaug.Compose(ops, backend=backend)(volumes, labels, generator=torch.Generator().manual_seed(0))
        for backend in ("opencv", "torch")
    ]
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])
    images, masks = exact.probe(4)
    depth = images[:, :1].double() * 0.5
    aug = gpuaug.Compose([gpuaug.RandomAffine(25, scale=(0.8, 1.2)), gpuaug.Resize((15, 33))], backend="opencv")
    params = aug.sample(images, torch.Generator().manual_seed(4))
    out, out_masks, out_targets = aug.apply(images, masks, params, targets={"depth": depth})
    ref, ref_masks, ref_targets = reference.apply(images, masks, params, targets={"depth": depth})
    assert torch.equal(out_masks, ref_masks)
    torch.testing.assert_close(out, ref, atol=RAMP_ATOL, rtol=0)
    assert out_targets["depth"].dtype == torch.float64
    torch.testing.assert_close(out_targets["depth"], ref_targets["depth"], atol=1e-4, rtol=0)
    warped = gpuaug.functional.warp_image(images, params.matrix, (15, 33), backend="opencv")
    torch.testing.assert_close(warped, out, atol=0, rtol=0)
