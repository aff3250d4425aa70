"""The README's conventions table ("Coming from mmsegmentation / albumentations / kornia"): each row about gpuaug.

Rows checked elsewhere: crop padding and mmcv's rotation direction in tests/test_mmseg.py, reduce_zero_label in
tests/test_data.py.
"""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import gpuaug

#: (source h, w) → (output h, w): up, down, both, a strong downscale, and a non-integer aspect change.
RESIZES = [((37, 53), (64, 90)), ((64, 90), (37, 53)), ((120, 160), (31, 47)), ((17, 23), (100, 7))]


def resized(images, masks, out_hw):
    return gpuaug.Compose([gpuaug.Resize(out_hw)])(images, masks)


def test_sizes_are_h_w_and_mmcv_scales_w_h():
    images = torch.zeros(1, 3, 30, 40)
    assert resized(images, None, (12, 20)).shape == (1, 3, 12, 20)
    assert gpuaug.Compose([gpuaug.RandomCrop((10, 25))])(images).shape == (1, 3, 10, 25)
    assert gpuaug.from_mmseg([dict(type="Resize", scale=(20, 12))])(images).shape == (1, 3, 12, 20)  # mmcv: (w, h)
    crop = gpuaug.from_mmseg([dict(type="RandomCrop", crop_size=(10, 25))])  # mmseg's crop_size is (h, w)
    assert crop(images, torch.zeros(1, 30, 40, dtype=torch.int64))[0].shape == (1, 3, 10, 25)


@pytest.mark.parametrize(("source", "out"), RESIZES)
def test_masks_take_the_source_pixel_under_each_output_pixel_centre(source, out):
    (h, w), (oh, ow) = source, out
    masks = torch.arange(h * w).view(1, h, w)
    labels = resized(torch.zeros(1, 1, h, w), masks, out)[1][0]
    rows, cols = labels // w, labels % w
    for got, n, size in ((rows[:, 0], oh, h), (cols[0], ow, w)):
        exact = [(i + 0.5) * size / n for i in range(n)]
        ties = torch.tensor([abs(v - round(v)) < 1e-4 for v in exact])  # a centre on a source pixel edge
        expected = torch.tensor([math.floor(v) for v in exact])
        assert torch.equal(got[~ties], expected[~ties])  # INTER_NEAREST_EXACT's rule: floor((i + 1/2) * H / h)
        assert ((got[ties] - expected[ties]).abs() <= 1).all()


@pytest.mark.parametrize(("source", "out"), RESIZES)
def test_masks_match_opencvs_nearest_exact_not_its_nearest(source, out):
    cv2 = pytest.importorskip("cv2")
    (h, w), (oh, ow) = source, out
    masks = torch.arange(h * w, dtype=torch.int32).view(1, h, w)
    labels = resized(torch.zeros(1, 1, h, w), masks, out)[1][0].numpy()
    exact = cv2.resize(masks[0].numpy().astype(np.float32), (ow, oh), interpolation=cv2.INTER_NEAREST_EXACT)
    nearest = cv2.resize(masks[0].numpy().astype(np.float32), (ow, oh), interpolation=cv2.INTER_NEAREST)
    # OpenCV computes the same rule in 16.16 fixed point: a centre exactly on a source edge may go either way.
    assert (labels == exact).mean() > 0.95
    assert (labels == nearest).mean() < (labels == exact).mean() - 0.3  # half a source pixel off


@pytest.mark.parametrize(("source", "out"), RESIZES)
def test_uint8_images_are_within_one_grey_level_of_opencvs_fixed_point_bilinear(source, out):
    cv2 = pytest.importorskip("cv2")
    (h, w), (oh, ow) = source, out
    images = torch.randint(0, 256, (1, 3, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(h))
    ours = torch.round(resized(images, None, out)[0] * 255)
    theirs = cv2.resize(images[0].permute(1, 2, 0).numpy(), (ow, oh), interpolation=cv2.INTER_LINEAR)
    difference = (ours - torch.from_numpy(theirs).permute(2, 0, 1).float()).abs()
    assert difference.max() <= 1 and difference.mean() < 0.5


def test_labels_from_outside_the_image_are_ignore_index():
    masks = torch.zeros(1, 16, 16, dtype=torch.int64)
    out = gpuaug.Compose([gpuaug.RandomRotation((45, 45))], ignore_index=255)(torch.zeros(1, 1, 16, 16), masks)[1]
    assert out[0, 0, 0] == 255 and out[0, 8, 8] == 0 and set(out.unique().tolist()) == {0, 255}


def test_positive_angles_turn_counter_clockwise_as_displayed():
    images = torch.zeros(1, 1, 21, 21)
    images[0, 0, 10, 18] = 1.0  # right of the centre
    out = gpuaug.Compose([gpuaug.RandomRotation((90, 90))])(images)
    assert (out[0, 0] > 0.5).nonzero().tolist() == [[2, 10]]  # now above it


def test_photometric_distortion_stays_in_float_with_a_continuous_hue():
    images = torch.full((256, 3, 2, 2), 100 / 255)
    aug = gpuaug.Compose([gpuaug.PhotoMetricDistortion()])
    params = aug.sample(images, seed=0)
    draws = params.ops[0].draws
    hue = draws["hue"][draws["hue"] != 0] * 180
    assert len(hue) > 50 and (hue != hue.round()).all() and hue.abs().max() <= 18
    only_brightness = (
        (draws["contrast"] == 1) & (draws["saturation"] == 1) & (draws["hue"] == 0) & (draws["brightness"] != 0)
    )
    out = aug.apply(images, None, params)[only_brightness]
    expected = (images[only_brightness] + draws["brightness"][only_brightness].view(-1, 1, 1, 1)).clamp(0, 1)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)  # x + delta, not truncated to a grey level
    assert (out * 255 != (out * 255).floor()).any()


def test_values_are_in_0_1_and_mmseg_values_are_divided_by_255():
    with pytest.raises(ValueError, match=r"you probably meant Normalize\(\(0.485, 0.456, 0.406\)"):
        gpuaug.Compose([gpuaug.RandomCrop(4), gpuaug.Normalize([123.675, 116.28, 103.53], [58.395, 57.12, 57.375])])
    aug = gpuaug.from_mmseg([], mean=[127.5] * 3, std=[127.5] * 3)
    out = aug(torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 1, 2).expand(1, 3, 1, 2))
    assert out[0, :, 0].tolist() == [[-1.0, 1.0]] * 3


#: Each row of the README's table and the test here (or the file) that checks its gpuaug entry.
ROWS = {
    "sizes": test_sizes_are_h_w_and_mmcv_scales_w_h,
    "mask resampling": test_masks_take_the_source_pixel_under_each_output_pixel_centre,
    "uint8 bilinear": test_uint8_images_are_within_one_grey_level_of_opencvs_fixed_point_bilinear,
    "labels from outside": test_labels_from_outside_the_image_are_ignore_index,
    "crop padding": "tests/test_mmseg.py",
    "rotation": test_positive_angles_turn_counter_clockwise_as_displayed,
    "PhotoMetricDistortion": test_photometric_distortion_stays_in_float_with_a_continuous_hue,
    "value scale": test_values_are_in_0_1_and_mmseg_values_are_divided_by_255,
    "zero label": "tests/test_data.py",
}


def test_the_readme_table_has_these_rows_and_the_docstring_agrees():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Coming from mmsegmentation / albumentations / kornia\n")[1].split("\n## ")[0]
    rows = [line.split("|")[1].strip() for line in section.splitlines() if line.startswith("| ")]
    assert rows[1:] == list(ROWS)  # rows[0]: the header
    doc = gpuaug.PhotoMetricDistortion.__doc__
    assert "*truncates* to uint8 after every step" in doc and "rounds to uint8" not in doc
