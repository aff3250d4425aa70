"""Porting from mmsegmentation: RandomCrop's pad_position and gpuaug.from_mmseg on the configs' train pipelines."""

import warnings

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


# The train pipelines of mmsegmentation 1.x's configs, as written there (configs/_base_/datasets/).
ADE20K_512 = [  # ade20k.py, crop_size = (512, 512)
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations", reduce_zero_label=True),
    dict(type="RandomResize", scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type="RandomCrop", crop_size=(512, 512), cat_max_ratio=0.75),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PhotoMetricDistortion"),
    dict(type="PackSegInputs"),
]
CITYSCAPES_512X1024 = [  # cityscapes.py, crop_size = (512, 1024)
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations"),
    dict(type="RandomResize", scale=(2048, 1024), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type="RandomCrop", crop_size=(512, 1024), cat_max_ratio=0.75),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PhotoMetricDistortion"),
    dict(type="PackSegInputs"),
]
VOC_AUG_512 = [  # pascal_voc12.py (pascal_voc12_aug.py changes only the dataset), crop_size = (512, 512)
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations"),
    dict(type="RandomResize", scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type="RandomCrop", crop_size=(512, 512), cat_max_ratio=0.75),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PhotoMetricDistortion"),
    dict(type="PackSegInputs"),
]
#: The data_preprocessor's mean and std (0-255, RGB) in those configs.
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def hand_written(scale_hw, crop_hw, normalize=True):
    """The gpuaug chain each config means, written out by hand."""
    ops = [
        gpuaug.RandomResize(scale_hw, ratio_range=(0.5, 2.0), keep_ratio=True),
        gpuaug.RandomCrop(crop_hw, pad_if_needed=True, cat_max_ratio=0.75, pad_position="top_left"),
        gpuaug.RandomHorizontalFlip(p=0.5),
        gpuaug.PhotoMetricDistortion(brightness_delta=32 / 255, hue_delta=18 / 180),
    ]
    if not normalize:
        return gpuaug.Compose(ops, ignore_index=255)
    ops.append(gpuaug.Normalize([m / 255 for m in MEAN], [s / 255 for s in STD]))
    return gpuaug.Compose(ops, ignore_index=255, fill=[m / 255 for m in MEAN])  # crops padded with the mean colour


def source_batch(sizes, classes=5):
    images = [torch.rand(3, h, w, generator=torch.Generator().manual_seed(h * w)) for h, w in sizes]
    masks = [(torch.arange(h * w).view(h, w) // 7 % classes) for h, w in sizes]
    return images, masks


@pytest.mark.filterwarnings("ignore:pipeline\\[1\\] LoadAnnotations")
@pytest.mark.parametrize(
    ("pipeline", "scale_hw", "crop_hw", "normalize"),
    [
        (ADE20K_512, (512, 2048), (512, 512), True),
        (ADE20K_512, (512, 2048), (512, 512), False),
        (CITYSCAPES_512X1024, (1024, 2048), (512, 1024), True),
        (VOC_AUG_512, (512, 2048), (512, 512), True),
    ],
    ids=["ade20k", "ade20k-no-mean", "cityscapes", "voc-aug"],
)
def test_the_three_configs_equal_the_hand_written_chains(pipeline, scale_hw, crop_hw, normalize):
    kwargs = dict(mean=MEAN, std=STD) if normalize else {}
    aug, hand = gpuaug.from_mmseg(pipeline, **kwargs), hand_written(scale_hw, crop_hw, normalize)
    assert repr(aug.ops) == repr(hand.ops)
    images, masks = source_batch([(60, 90), (40, 30)])  # the second is smaller than the crop at most ratios
    params, expected = aug.sample(images, masks=masks, seed=7), hand.sample(images, masks=masks, seed=7)
    assert params.to_dict() == expected.to_dict()
    out, out_masks = aug.apply(images, masks, params)  # the same ops and Params: the same outputs
    assert out.shape == (2, 3, *crop_hw) and out_masks.shape == (2, *crop_hw)
    if pipeline is ADE20K_512 and normalize:
        ref, ref_masks = hand.apply(images, masks, expected)
        assert torch.equal(out, ref) and torch.equal(out_masks, ref_masks)


def test_crops_pad_as_mmseg_pads_after_normalising():
    """A smaller image at (0, 0), padded at the bottom / right with 0 after Normalize (the mean colour) and 255."""
    images, masks = source_batch([(20, 30), (9, 40)])
    pipeline = [dict(type="RandomCrop", crop_size=(24, 32)), dict(type="RandomFlip", prob=0.0)]
    aug = gpuaug.from_mmseg(pipeline, mean=MEAN, std=STD)
    params = aug.sample(images, masks=masks, seed=0)
    out, out_masks = aug.apply(images, masks, params)
    lefts = params.ops[0].draws["left"].long().tolist()
    assert params.ops[0].draws["top"].tolist() == [0, 0] and lefts[0] == 0 and 0 <= lefts[1] <= 8
    for k, (h, w) in enumerate([(20, 30), (9, 32)]):
        assert torch.equal(out_masks[k, :h, :w], masks[k][:h, lefts[k] : lefts[k] + w])
        assert (out_masks[k, h:] == 255).all() and (out_masks[k, :, w:] == 255).all()
        assert (out[k, :, h:] == 0).all() and (out[k, :, :, w:] == 0).all()
    mean, std = torch.tensor(MEAN).view(3, 1, 1) / 255, torch.tensor(STD).view(3, 1, 1) / 255
    torch.testing.assert_close(out[0, :, :20, :30], (images[0] - mean) / std, atol=1e-5, rtol=0)
    plain, plain_masks = gpuaug.from_mmseg(pipeline)(images, masks, seed=0)  # no Normalize: padded with 0 too
    assert torch.equal(plain_masks, out_masks) and (plain[0, :, 20:] == 0).all()
    torch.testing.assert_close(plain[0, :, :20, :30], images[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (dict(type="Resize", scale=(64, 32)), "Resize(size=(32, 64))"),  # keep_ratio: mmcv's default False
        (dict(type="Resize", scale=48, keep_ratio=True), repr(gpuaug.RandomResize((48, 48), keep_ratio=True))),
        (
            dict(type="RandomResize", scale=(80, 40), ratio_range=(0.5, 1.5)),
            repr(gpuaug.RandomResize((40, 80), (0.5, 1.5), keep_ratio=False)),
        ),
        (dict(type="RandomFlip", prob=0.3, direction="vertical"), "RandomVerticalFlip(p=0.3)"),
        (
            dict(type="RandomFlip", prob=[0.2, 0.4], direction=["horizontal", "vertical"]),
            repr(
                gpuaug.OneOf(
                    [gpuaug.RandomHorizontalFlip(1.0), gpuaug.RandomVerticalFlip(1.0)], p=0.2 + 0.4, weights=[0.2, 0.4]
                )
            ),
        ),
        (
            dict(type="RandomFlip", prob=0.5, direction="diagonal"),
            repr(
                gpuaug.OneOf(
                    [gpuaug.RandomApply([gpuaug.RandomHorizontalFlip(1.0), gpuaug.RandomVerticalFlip(1.0)], p=1.0)],
                    p=0.5,
                    weights=[0.5],
                )
            ),
        ),
        (
            dict(type="PhotoMetricDistortion", brightness_delta=16, contrast_range=(0.8, 1.2), hue_delta=9),
            repr(gpuaug.PhotoMetricDistortion(16 / 255, (0.8, 1.2), (0.5, 1.5), 9 / 180)),
        ),
        (dict(type="RandomRotate", prob=0.5, degree=20), "RandomRotation(degrees=(-20.0, 20.0), p=0.5)"),
        (dict(type="RandomRotate", prob=1.0, degree=(5, 30)), "RandomRotation(degrees=(-30.0, -5.0), p=1.0)"),
    ],
)
def test_each_step_translates(step, expected):
    assert repr(gpuaug.from_mmseg([step]).ops[0]) == expected


def test_list_of_flip_directions_takes_one_per_sample_with_its_probability():
    aug = gpuaug.from_mmseg([dict(type="RandomFlip", prob=[0.25, 0.5], direction=["horizontal", "vertical"])])
    choice = aug.sample(torch.zeros(4000, 1, 2, 2), seed=0).ops[0].draws["choice"]
    shares = [(choice == k).double().mean().item() for k in (-1, 0, 1)]
    assert shares == pytest.approx([0.25, 0.25, 0.5], abs=0.03)


def test_rotate_turns_clockwise_as_mmcv_imrotate():
    """mmcv.imrotate(img, angle) is cv2.warpAffine with getRotationMatrix2D(((w-1)/2, (h-1)/2), -angle, 1)."""
    cv2 = pytest.importorskip("cv2")
    ys, xs = torch.meshgrid(torch.arange(24.0), torch.arange(32.0), indexing="ij")
    image = torch.stack((xs / 31, ys / 23, 0.5 + 0 * xs))  # smooth: bilinear detail does not matter
    aug = gpuaug.from_mmseg([dict(type="RandomRotate", prob=1.0, degree=(25, 25), pad_val=0, seg_pad_val=255)])
    out = aug(image[None], seed=0)[0]
    matrix = cv2.getRotationMatrix2D((15.5, 11.5), -25.0, 1.0)
    expected = cv2.warpAffine((image.permute(1, 2, 0).numpy() * 255).astype("uint8"), matrix, (32, 24))
    expected = torch.from_numpy(expected).permute(2, 0, 1).float()
    inside = expected[2] == 127  # blue is 0.5 inside; cv2 blends the border with the 0 outside, gpuaug does not
    assert inside.float().mean() > 0.6
    assert (out * 255 - expected).abs()[:, inside].max() < 2
    mirrored = gpuaug.from_mmseg([dict(type="RandomRotate", prob=1.0, degree=(-25, -25))])(image[None], seed=0)[0]
    assert (mirrored * 255 - expected).abs()[:, inside].max() > 20


def test_load_annotations_reduce_zero_label_is_the_datasets_job():
    with pytest.warns(
        UserWarning, match=r"pipeline\[1\] LoadAnnotations\(reduce_zero_label=True\): in gpuaug the dataset"
    ):
        aug = gpuaug.from_mmseg(ADE20K_512[:3])
    assert len(aug.ops) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gpuaug.from_mmseg([dict(type="LoadAnnotations"), dict(type="LoadAnnotations", reduce_zero_label=False)])


SKIPPED = "LoadImageFromFile, LoadAnnotations, PackSegInputs"
SUPPORTED = "supported: PhotoMetricDistortion, RandomCrop, RandomFlip, RandomResize, RandomRotate, Resize"


@pytest.mark.parametrize(
    ("pipeline", "kwargs", "error", "match"),
    [
        (
            [dict(type="RandomCutOut", prob=0.5)],
            {},
            ValueError,
            rf"pipeline\[0\] RandomCutOut: unsupported step 'RandomCutOut'; {SUPPORTED} \(skipped: {SKIPPED}\)",
        ),
        ([dict(prob=0.5)], {}, TypeError, r"pipeline\[0\]: expected a dict with a 'type'"),
        (dict(type="Resize"), {}, TypeError, "pipeline: expected a list of dicts"),
        (
            [dict(type="Resize", scale=(512,))],
            {},
            ValueError,
            r"Resize: scale: expected mmcv's \(w, h\) pair of positive ints, got \(512,\)",
        ),
        ([dict(type="Resize", scale=(0, 5))], {}, ValueError, r"scale: expected mmcv's \(w, h\) pair"),
        (
            [dict(type="RandomResize", scale=[(1024, 512), (2048, 1024)])],
            {},
            ValueError,
            r"a list of scales \(mmcv's range sampling\) is not supported",
        ),
        (
            [dict(type="RandomResize", scale=(2048, 512))],
            {},
            ValueError,
            "ratio_range: mmcv's RandomResize with one scale needs",
        ),
        (
            [dict(type="Resize", scale_factor=0.5)],
            {},
            ValueError,
            r"scale_factor=0.5 is not supported; supported: \(None,\)",
        ),
        (
            [dict(type="Resize", scale=(8, 8), interpolation="nearest")],
            {},
            ValueError,
            "interpolation='nearest' is not supported",
        ),
        (
            [dict(type="RandomResize", scale=(8, 8), ratio_range=(1, 2), resize_type="ResizeShortestEdge")],
            {},
            ValueError,
            "resize_type=",
        ),
        (
            [dict(type="RandomCrop", crop_size=(512, 512), cat_max_ratio=0.75, foo=1)],
            {},
            ValueError,
            r"RandomCrop: unsupported argument\(s\) foo; supported: cat_max_ratio, crop_size, ignore_index",
        ),
        ([dict(type="RandomCrop")], {}, ValueError, r"RandomCrop: missing required argument\(s\) crop_size"),
        ([dict(type="RandomCrop", crop_size=512)], {}, ValueError, r"crop_size: expected mmseg's \(h, w\) pair"),
        (
            [dict(type="RandomCrop", crop_size=(8, 8), ignore_index=0)],
            {},
            ValueError,
            r"RandomCrop ignore_index: 0 differs from ignore_index=255",
        ),
        (
            [dict(type="RandomFlip", prob=0.5, direction="sideways")],
            {},
            ValueError,
            r"direction='sideways': expected 'horizontal', 'vertical' or 'diagonal'",
        ),
        (
            [dict(type="RandomFlip", prob=[0.6, 0.6], direction=["horizontal", "vertical"])],
            {},
            ValueError,
            "prob: expected one probability per direction, summing to <= 1",
        ),
        (
            [dict(type="RandomRotate", prob=0.5, degree=10, seg_pad_val=0)],
            {},
            ValueError,
            r"RandomRotate seg_pad_val: 0 differs from ignore_index=255",
        ),
        (
            [dict(type="RandomRotate", prob=0.5, degree=10, auto_bound=True)],
            {},
            ValueError,
            "auto_bound=True is not supported",
        ),
        ([dict(type="RandomRotate", prob=0.5, degree=0)], {}, ValueError, "degree: expected a positive number or a"),
        ([dict(type="PhotoMetricDistortion", hue_delta="18")], {}, TypeError, "hue_delta: expected a number"),
        ([], dict(mean=MEAN), ValueError, r"mean, std: pass both \(the data_preprocessor's\) or neither"),
        ([], dict(mean=[0.5, 0.5], std=STD), ValueError, "mean: expected the data_preprocessor's three 0-255 values"),
        ([], dict(mean=MEAN, std=[0, 1, 1]), ValueError, "std: expected 0-255 values above 0"),
    ],
)
def test_errors(pipeline, kwargs, error, match):
    with pytest.raises(error, match=match):
        gpuaug.from_mmseg(pipeline, **kwargs)


def test_pad_values_that_differ_are_refused():
    rotate = dict(type="RandomRotate", prob=0.5, degree=10, pad_val=0)
    crop = dict(type="RandomCrop", crop_size=(16, 16))
    with pytest.raises(
        ValueError,
        match=r"pipeline\[1\] RandomCrop's padding .*: pads images with \(123.675, 116.28, 103.53\), "
        r"but pipeline\[0\] RandomRotate pad_val pads with \(0.0, 0.0, 0.0\)",
    ):
        gpuaug.from_mmseg([rotate, crop], mean=MEAN, std=STD)
    with pytest.raises(ValueError, match=r"pipeline\[1\] RandomRotate pad_val: pads images with \(9.0, 9.0, 9.0\)"):
        gpuaug.from_mmseg([rotate, dict(rotate, pad_val=9)])
    aug = gpuaug.from_mmseg([dict(rotate, pad_val=MEAN), crop], mean=MEAN, std=STD)  # one fill: the mean colour
    assert aug.fill == tuple(m / 255 for m in MEAN)
    assert gpuaug.from_mmseg([dict(rotate, pad_val=51), dict(rotate, pad_val=51)]).fill == (0.2,)
    assert gpuaug.from_mmseg([dict(rotate, seg_pad_val=7)], ignore_index=7).ignore_index == 7


def test_from_mmseg_is_public():
    assert "from_mmseg" in gpuaug.__all__ and gpuaug.from_mmseg is gpuaug.mmseg.from_mmseg
