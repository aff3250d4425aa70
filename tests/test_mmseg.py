"""Porting from mmsegmentation: RandomCrop's pad_position and gpuaug.from_mmseg on the configs' train pipelines."""

import pytest
import torch
from test_matrices import sample

import gpuaug
from gpuaug import reference


@pytest.mark.parametrize(
    ("crop", "tops", "lefts"),
    [
        ((36, 43), [0], [0]),  # larger on both sides than the 30×40 image: it sits at (0, 0)
        ((20, 43), range(0, 11), [0]),  # taller image: cropped at a uniform top, placed at left 0
        ((36, 25), [0], range(0, 16)),
    ],
)
def test_top_left_places_a_smaller_side_at_zero(crop, tops, lefts):
    op = gpuaug.RandomCrop(crop, pad_if_needed=True, pad_position="top_left")
    draws = sample([op], batch=256).ops[0].draws
    assert set(draws["top"].tolist()) == set(tops)
    assert set(draws["left"].tolist()) == set(lefts)


def test_top_left_not_applied_is_the_centre_crop_with_a_smaller_side_at_zero():
    op = gpuaug.RandomCrop((20, 43), pad_if_needed=True, p=0.0, pad_position="top_left")
    draws = sample([op], batch=8).ops[0].draws
    assert draws["top"].tolist() == [5.0] * 8 and draws["left"].tolist() == [0.0] * 8
    centred = sample([gpuaug.RandomCrop((20, 43), pad_if_needed=True, p=0.0)], batch=8).ops[0].draws
    assert centred["top"].tolist() == [5.0] * 8 and centred["left"].tolist() == [-1.0] * 8


def test_top_left_pads_only_bottom_right_and_matches_the_reference(backend, device):
    sizes = [(10, 30), (25, 12), (9, 9), (40, 40)]
    masks = [(torch.arange(h * w).view(h, w) % 7).to(device) for h, w in sizes]
    images = [torch.rand(3, h, w, device=device) for h, w in sizes]
    ops = [gpuaug.RandomCrop(16, pad_if_needed=True, cat_max_ratio=0.5, pad_position="top_left")]
    aug = gpuaug.Compose(ops, ignore_index=255, fill=0.25, backend=backend)
    params = aug.sample(images, masks=masks, seed=3)
    out, out_masks = aug.apply(images, masks, params)
    ref, ref_masks = reference.apply(images, masks, params)
    assert torch.equal(out_masks.cpu(), ref_masks)
    torch.testing.assert_close(out.cpu(), ref, atol=1e-4, rtol=0)
    draws = params.ops[0].draws
    for k, (h, w) in enumerate(sizes):
        top, left = int(draws["top"][k]), int(draws["left"][k])
        assert (top == 0 if h < 16 else 0 <= top <= h - 16) and (left == 0 if w < 16 else 0 <= left <= w - 16)
        shown = masks[k][top : top + 16, left : left + 16].cpu()
        expected = torch.full((16, 16), 255, dtype=torch.int64)
        expected[: shown.shape[0], : shown.shape[1]] = shown  # the image at the top left, ignore below and right
        assert torch.equal(out_masks[k].cpu(), expected)
        rows, cols = shown.shape
        assert (out[k, :, rows:].cpu() == 0.25).all() and (out[k, :, :, cols:].cpu() == 0.25).all()


def test_pad_position_is_keyword_only_and_checked():
    with pytest.raises(ValueError, match=r"pad_position: expected 'random' or 'top_left', got 'bottom'"):
        gpuaug.RandomCrop(8, pad_position="bottom")
    with pytest.raises(TypeError):
        gpuaug.RandomCrop(8, True, 1.0, 1.0, "top_left")
    assert gpuaug.RandomCrop(8).pad_position == "random"
