"""Each op's matrix against a float64 matrix built independently from its drawn params."""

import math

import pytest
import torch

import gpuaug
from gpuaug.functional import affine_matrix, perspective_matrix


def sample(ops, size=(30, 40), batch=6, seed=0):
    images = torch.zeros(batch, 1, *size)
    return gpuaug.Compose(ops).sample(images, torch.Generator().manual_seed(seed))


def apply(matrix, points):
    """Map N×2 points through one 3×3 matrix in float64, with the homogeneous divide."""
    homogeneous = torch.cat((points.double(), torch.ones(len(points), 1, dtype=torch.float64)), dim=1)
    mapped = homogeneous @ matrix.double().T
    return mapped[:, :2] / mapped[:, 2:]


def scale_translate(sx, sy, tx, ty):
    return torch.tensor([[sx, 0.0, tx], [0.0, sy, ty], [0.0, 0.0, 1.0]], dtype=torch.float64)


def rotation_about(angle_deg, cx, cy):
    """Output→source map of a counter-clockwise (as displayed, y down) rotation about (cx, cy)."""
    t = math.radians(angle_deg)
    # Forward (source→output) rotates by -t in y-down maths; the inverse rotates by +t.
    inverse = torch.tensor(
        [[math.cos(t), -math.sin(t), 0.0], [math.sin(t), math.cos(t), 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64
    )
    return scale_translate(1, 1, cx, cy) @ inverse @ scale_translate(1, 1, -cx, -cy)


def test_horizontal_flip_matrix():
    params = sample([gpuaug.RandomHorizontalFlip(p=0.5)], batch=64)
    applied = params.ops[0].draws["applied"]
    assert 0 < int(applied.sum()) < 64
    for i in range(64):
        expected = scale_translate(-1, 1, 40, 0) if applied[i] else scale_translate(1, 1, 0, 0)
        torch.testing.assert_close(params.matrix[i].double(), expected)


def test_vertical_flip_matrix():
    params = sample([gpuaug.RandomVerticalFlip(p=1.0)])
    torch.testing.assert_close(params.matrix, scale_translate(1, -1, 0, 30).float().expand(6, 3, 3))


def test_resize_int_scales_shorter_side():
    params = sample([gpuaug.Resize(15)])
    assert params.out_size == (15, 20)
    torch.testing.assert_close(params.matrix[0].double(), scale_translate(40 / 20, 30 / 15, 0, 0))
    assert sample([gpuaug.Resize(16)], size=(40, 30)).out_size == (21, 16)


def test_resize_pair_is_exact():
    params = sample([gpuaug.Resize((7, 9))])
    assert params.out_size == (7, 9)
    torch.testing.assert_close(params.matrix[0].double(), scale_translate(40 / 9, 30 / 7, 0, 0))


@pytest.mark.parametrize(("crop", "offset"), [((10, 20), (10, 10)), ((29, 39), (0, 0)), ((35, 47), (-2, -3))])
def test_center_crop_matrix(crop, offset):
    params = sample([gpuaug.CenterCrop(crop)])
    assert params.out_size == crop
    torch.testing.assert_close(params.matrix[0].double(), scale_translate(1, 1, offset[1], offset[0]))


def test_random_crop_offsets_are_integer_and_in_range():
    params = sample([gpuaug.RandomCrop((20, 25))], batch=64)
    draws = params.ops[0].draws
    top, left = draws["top"], draws["left"]
    assert torch.equal(top, top.round()) and torch.equal(left, left.round())
    assert 0 <= top.min() and top.max() <= 10 and 0 <= left.min() and left.max() <= 15
    assert len(torch.unique(top)) > 3
    for i in range(64):
        torch.testing.assert_close(params.matrix[i].double(), scale_translate(1, 1, left[i], top[i]))


def test_random_crop_pad_if_needed_places_image_inside():
    params = sample([gpuaug.RandomCrop((36, 40), pad_if_needed=True)], batch=64)
    top = params.ops[0].draws["top"]
    assert params.out_size == (36, 40)
    assert -6 <= top.min() and top.max() <= 0 and len(torch.unique(top)) > 3
    assert torch.equal(params.ops[0].draws["left"], torch.zeros(64, dtype=top.dtype))


@pytest.mark.parametrize(
    ("crop", "pad", "tops", "lefts"),
    [
        ((30, 39), False, [0], [0, 1]),  # one column narrower than the 30×40 image: left is 0 or 1
        ((29, 40), False, [0, 1], [0]),
        ((36, 43), True, range(-6, 1), range(-3, 1)),  # larger: the image sits anywhere from H − h to 0
    ],
)
def test_random_crop_draws_every_valid_offset(crop, pad, tops, lefts):
    draws = sample([gpuaug.RandomCrop(crop, pad_if_needed=pad)], batch=256).ops[0].draws
    assert set(draws["top"].tolist()) == set(tops)
    assert set(draws["left"].tolist()) == set(lefts)


def test_random_resized_crop_box_and_matrix():
    params = sample([gpuaug.RandomResizedCrop((12, 16), scale=(0.2, 0.9))], batch=64)
    d = params.ops[0].draws
    area = d["height"] * d["width"] / (30 * 40)
    ratio = d["width"] / d["height"]
    assert params.out_size == (12, 16)
    assert (d["top"] >= 0).all() and (d["top"] + d["height"] <= 30).all()
    assert (d["left"] >= 0).all() and (d["left"] + d["width"] <= 40).all()
    # Rounding the box to whole pixels moves area and ratio a little off the drawn ranges.
    assert (area > 0.15).all() and (area < 0.95).all()
    assert (ratio > 0.6).all() and (ratio < 1.5).all()
    for i in range(64):
        expected = scale_translate(d["width"][i] / 16, d["height"][i] / 12, d["left"][i], d["top"][i])
        torch.testing.assert_close(params.matrix[i].double(), expected)


def test_random_resized_crop_falls_back_to_centre_crop():
    # No box of at least the whole area with a ratio of 2 fits a 30×40 image: torchvision's fallback.
    params = sample([gpuaug.RandomResizedCrop(8, scale=(1.0, 1.0), ratio=(2.0, 2.0))])
    d = params.ops[0].draws
    assert torch.equal(d["width"], torch.full((6,), 40.0, dtype=d["width"].dtype))
    assert torch.equal(d["height"], torch.full((6,), 20.0, dtype=d["height"].dtype))
    assert torch.equal(d["top"], torch.full((6,), 5.0, dtype=d["top"].dtype))


def test_rotation_90_is_counter_clockwise():
    params = sample([gpuaug.RandomRotation((90, 90))], size=(20, 20))
    torch.testing.assert_close(params.matrix[0].double(), rotation_about(90, 10, 10), atol=1e-6, rtol=0)
    # The source's right-middle point lands at the top-middle of the output.
    top_middle = torch.tensor([[10.0, 1.0]])
    torch.testing.assert_close(apply(params.matrix[0], top_middle), torch.tensor([[19.0, 10.0]], dtype=torch.float64))


def test_random_affine_matches_independent_composition():
    ops = [gpuaug.RandomAffine(30, translate=(0.2, 0.1), scale=(0.7, 1.3), shear=(-10, 10, -5, 5))]
    params = sample(ops, batch=16)
    d = params.ops[0].draws
    for i in range(16):
        angle, sx, sy = d["angle"][i].item(), math.radians(d["shear_x"][i]), math.radians(d["shear_y"][i])
        tx, ty, s = d["translate_x"][i].item(), d["translate_y"][i].item(), d["scale"][i].item()
        assert tx == round(tx) and abs(tx) <= 8 and abs(ty) <= 3
        shear = torch.tensor([[1, 0, 0], [-math.tan(sy), 1, 0], [0, 0, 1]], dtype=torch.float64) @ torch.tensor(
            [[1, -math.tan(sx), 0], [0, 1, 0], [0, 0, 1]], dtype=torch.float64
        )
        forward_linear = rotation_about(-angle, 0, 0) @ scale_translate(s, s, 0, 0) @ shear
        forward = scale_translate(1, 1, 20 + tx, 15 + ty) @ forward_linear @ scale_translate(1, 1, -20, -15)
        torch.testing.assert_close(params.matrix[i].double(), torch.linalg.inv(forward), atol=2e-5, rtol=1e-5)


def test_affine_matrix_without_shear_is_rotation_scale_translation():
    m = affine_matrix(torch.tensor([30.0]), torch.tensor([[2.0, -3.0]]), torch.tensor([2.0]), torch.zeros(1, 2), (5, 4))
    forward = scale_translate(1, 1, 7, 1) @ rotation_about(-30, 0, 0) @ scale_translate(2, 2, -10, -8)
    torch.testing.assert_close(m[0].double(), torch.linalg.inv(forward), atol=1e-6, rtol=1e-6)


def test_perspective_matrix_maps_output_corners_to_source_corners():
    source = torch.tensor([[[0.0, 0.0], [40.0, 0.0], [40.0, 30.0], [0.0, 30.0]]])
    output = torch.tensor([[[3.0, 2.0], [37.0, 5.0], [38.0, 27.0], [1.0, 29.0]]])
    m = perspective_matrix(source, output)
    torch.testing.assert_close(apply(m[0], output[0]), source[0].double(), atol=1e-4, rtol=0)
    centre = output[0].mean(0, keepdim=True).double()
    w = (m[0].double() @ torch.cat((centre[0], torch.ones(1, dtype=torch.float64))))[2]
    assert abs(w.item() - 1.0) < 1e-6


def test_random_perspective_corners_and_identity_when_not_applied():
    params = sample([gpuaug.RandomPerspective(distortion_scale=0.5, p=0.5)], batch=32)
    d = params.ops[0].draws
    applied, corners = d["applied"], d["corners"]
    assert 0 < int(applied.sum()) < 32
    source = torch.tensor([[0.0, 0.0], [40.0, 0.0], [40.0, 30.0], [0.0, 30.0]], dtype=torch.float64)
    offsets = (corners - source).abs()
    assert (offsets[..., 0] <= 10).all() and (offsets[..., 1] <= 7).all()
    assert torch.equal(offsets, offsets.round())
    for i in range(32):
        if applied[i]:
            torch.testing.assert_close(apply(params.matrix[i], corners[i]), source, atol=1e-3, rtol=0)
        else:
            assert torch.equal(params.matrix[i], torch.eye(3))


def test_random_scale_keeps_canvas_and_covers_or_contains():
    params = sample([gpuaug.RandomScale((0.5, 2.0))], batch=64)
    d = params.ops[0].draws
    assert params.out_size == (30, 40)
    s, ox, oy = d["scale"], d["offset_x"], d["offset_y"]
    assert (s >= 0.5).all() and (s <= 2.0).all()
    # Zoom-out: the scaled image lies inside the canvas; zoom-in: it covers the canvas.
    left, right = ox, ox + s * 40
    inside = (left >= -1e-4) & (right <= 40 + 1e-4)
    covers = (left <= 1e-4) & (right >= 40 - 1e-4)
    assert torch.where(s <= 1, inside, covers).all()
    for i in range(64):
        forward = scale_translate(s[i], s[i], ox[i], oy[i])
        torch.testing.assert_close(params.matrix[i].double(), torch.linalg.inv(forward), atol=1e-5, rtol=1e-5)


def test_chain_composes_in_list_order():
    ops = [gpuaug.CenterCrop((20, 30)), gpuaug.RandomHorizontalFlip(p=1.0), gpuaug.Resize((10, 15))]
    params = sample(ops)
    expected = scale_translate(1, 1, 5, 5) @ scale_translate(-1, 1, 30, 0) @ scale_translate(2, 2, 0, 0)
    assert params.out_size == (10, 15)
    torch.testing.assert_close(params.matrix[0].double(), expected)


@pytest.fixture
def tf32_matmul():
    """The matmul settings common in training scripts: TF32 on CUDA, "high" precision everywhere."""
    before = torch.backends.cuda.matmul.allow_tf32, torch.get_float32_matmul_precision()
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.set_float32_matmul_precision("high")
    yield
    torch.backends.cuda.matmul.allow_tf32 = before[0]
    torch.set_float32_matmul_precision(before[1])


def test_chain_is_composed_in_float64_and_cast_once(tf32_matmul):
    from gpuaug.core import hashing
    from gpuaug.transforms.base import Draw

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # TF32 exists on CUDA only
    ops = [
        gpuaug.RandomResizedCrop(97, scale=(0.3, 1.0)),
        gpuaug.RandomHorizontalFlip(),
        gpuaug.RandomAffine(40, translate=(0.1, 0.1), scale=(0.7, 1.3), shear=(-10, 10, -5, 5)),
        gpuaug.RandomPerspective(0.5, p=1.0),
        gpuaug.RandomRotation(90),
    ]
    ids = torch.arange(64, device=device)
    params = gpuaug.Compose(ops).sample(torch.zeros(64, 1, 513, 389, device=device), seed=3, sample_ids=ids)
    # The same keyed draws, op by op, multiplied independently in float64.
    draw = Draw(64, device, keys=hashing.sample_keys(3, ids))
    size, expected = (513, 389), torch.eye(3, dtype=torch.float64, device=device)
    for op in ops:
        step = op.sample(draw, size)
        expected, size = expected @ step.matrix.double(), step.out_size
    assert params.matrix.dtype == torch.float32
    assert torch.equal(params.matrix, expected.to(torch.float32))


IDENTITY = scale_translate(1, 1, 0, 0)
# Every random op with p < 1 on a 30×40 canvas, and the matrix its docstring promises for a
# sample it is not applied to: identity, the whole image resized, or torchvision's centre crop.
NOT_APPLIED = {
    "hflip": (lambda p: gpuaug.RandomHorizontalFlip(p), IDENTITY),
    "vflip": (lambda p: gpuaug.RandomVerticalFlip(p), IDENTITY),
    "resized-crop": (lambda p: gpuaug.RandomResizedCrop((12, 16), p=p), scale_translate(40 / 16, 30 / 12, 0, 0)),
    "crop": (lambda p: gpuaug.RandomCrop((20, 26), p=p), scale_translate(1, 1, (40 - 26) / 2, (30 - 20) / 2)),
    "crop-padded": (  # the image centred in the larger crop: (36 − 30) / 2 rows above it, (44 − 40) / 2 columns left
        lambda p: gpuaug.RandomCrop((36, 44), pad_if_needed=True, p=p),
        scale_translate(1, 1, -(44 - 40) / 2, -(36 - 30) / 2),
    ),
    "affine": (lambda p: gpuaug.RandomAffine(30, (0.2, 0.2), (0.7, 1.3), shear=(-10, 10, -5, 5), p=p), IDENTITY),
    "rotation": (lambda p: gpuaug.RandomRotation(30, p=p), IDENTITY),
    "scale": (lambda p: gpuaug.RandomScale((0.5, 2.0), p=p), IDENTITY),
    "perspective": (lambda p: gpuaug.RandomPerspective(0.5, p=p), IDENTITY),
}


@pytest.mark.parametrize("name", sorted(NOT_APPLIED))
def test_p_below_one_applied_fraction_and_not_applied_matrix(name):
    factory, neutral = NOT_APPLIED[name]
    n, p = 4000, 0.3
    params = sample([factory(p)], batch=n)
    applied = params.ops[0].draws["applied"]
    # The applied count is binomial(n, p): within 5 standard deviations.
    assert abs(int(applied.sum()) - n * p) < 5 * math.sqrt(n * p * (1 - p))
    assert torch.equal(params.matrix[~applied], neutral.float().expand(int((~applied).sum()), 3, 3))
    # Applied samples are transformed (a random crop may land on the centre now and then).
    changed = (params.matrix[applied] != neutral.float()).flatten(1).any(dim=1)
    assert changed.float().mean() > 0.9
