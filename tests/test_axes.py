"""The CPU torch path's axis-aligned samples (gpuaug.torch_axes): the same coordinates per axis
as the B×h×w evaluation, a mixed batch split per sample, every map against the reference."""

import pytest
import torch
from conftest import IMAGE_ATOL
from hypothesis import given
from hypothesis import strategies as st

import gpuaug
from gpuaug import Params, reference
from gpuaug.torch_axes import axis_aligned, axis_points, inside_runs
from gpuaug.torch_path import source_coords


@given(
    scale=st.tuples(st.floats(-4, 4), st.floats(-4, 4)),
    shift=st.tuples(st.floats(-300, 300), st.floats(-300, 300)),
    out=st.tuples(st.integers(1, 40), st.integers(1, 40)),
    size=st.tuples(st.integers(1, 60), st.integers(1, 60)),
)
def test_axis_points_are_the_contracts_coordinates(scale, shift, out, size):
    """Per row and column, the float32 points of the B×h×w evaluation (``sx = (m00·x +
    m01·y) + m02`` with m01 = 0), clamped as the torch path clamps them, and the same outside set."""
    (sx_scale, sy_scale), (sx_shift, sy_shift) = scale, shift
    matrix = torch.tensor([[[sx_scale, 0.0, sx_shift], [0.0, sy_scale, sy_shift], [0.0, 0.0, 1.0]]])
    assert axis_aligned(matrix, False).tolist() == [True]
    (ys, rows_out), (xs, cols_out) = (
        tuple(t[0] for t in axis) for axis in axis_points(matrix, out, [size], "constant", [0])
    )
    sx, sy, _ = source_coords(matrix, out, False)
    height, width = size
    inside = (sx >= 0) & (sx < width) & (sy >= 0) & (sy < height)
    assert torch.equal(~inside[0], rows_out.view(-1, 1) | cols_out.view(1, -1))
    px = sx.clamp(0.5, width - 0.5)[0]
    py = sy.clamp(0.5, height - 0.5)[0]
    assert torch.equal(xs.expand_as(px)[inside[0]], px[inside[0]])
    assert torch.equal(ys.view(-1, 1).expand_as(py)[inside[0]], py[inside[0]])
    for outside in (rows_out, cols_out):  # a line's inside points are one run, as fill_axes fills
        ((first, end),) = inside_runs(outside.view(1, -1))
        run = torch.zeros_like(outside)
        run[first:end] = True
        assert torch.equal(~outside, run)


@pytest.mark.parametrize("padding", ["constant", "replicate", "reflect"])
def test_axis_points_of_several_samples_are_each_samples_own(padding):
    """Samples taken together (per-sample scales, shifts and source sizes broadcast) give each
    sample's own float32 points and outside masks, bit for bit."""
    g = torch.Generator().manual_seed(4)
    matrix = torch.zeros(5, 3, 3)
    matrix[:, 0, 0], matrix[:, 1, 1] = torch.rand(5, generator=g) * 6 - 3, torch.rand(5, generator=g) * 6 - 3
    matrix[:, 0, 2], matrix[:, 1, 2] = torch.rand(5, generator=g) * 80 - 40, torch.rand(5, generator=g) * 80 - 40
    matrix[:, 2, 2] = 1.0
    matrix[3, 0, 2] = float("inf")  # non-finite: outside for every padding mode
    sizes, ks = [(13, 29), (40, 7), (1, 1), (22, 22)], [4, 0, 3, 1]
    together = axis_points(matrix, (17, 23), sizes, padding, ks)
    for r, (k, size) in enumerate(zip(ks, sizes, strict=True)):
        alone = axis_points(matrix, (17, 23), [size], padding, [k])
        for axis, axis_alone in zip(together, alone, strict=True):
            assert all(torch.equal(t[r], a[0]) for t, a in zip(axis, axis_alone, strict=True))
    assert together[1][1][2].all()  # the infinite shift's columns


def test_axis_aligned_reads_each_sample_and_never_cuda_or_perspective():
    matrix = torch.eye(3).repeat(3, 1, 1)
    matrix[1, 0, 1] = 0.25  # a shear: not axis-aligned
    matrix[2, 1, 0] = -1e-30
    assert axis_aligned(matrix, False).tolist() == [True, False, False]
    assert axis_aligned(matrix, True) is None
    assert axis_aligned(matrix.to("meta"), False) is None


def coordinate_list(sizes):
    """Per sample: channels x, y, 10·sample at pixel centres; mask label y·W + x + 10000·sample."""
    images, masks = [], []
    for k, (h, w) in enumerate(sizes):
        ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        images.append(torch.stack((xs + 0.5, ys + 0.5, torch.full_like(xs, 10 * k))).float())
        masks.append((ys * w + xs + 10000 * k).long())
    return images, masks


@pytest.mark.parametrize("form", ["list", "stacked"])
def test_a_mixed_batch_is_split_per_sample(form):
    """Samples 0 and 2 only resize, shift and flip; 1 and 3 rotate. Every map matches the
    reference (labels and the label target exactly), and each sample's output is that
    sample's output when warped alone: the split never depends on the batch (a rotated
    list sample's images excepted, whose ``grid_sample`` coordinates are normalised by the
    padded size of the samples it is warped with, which moves their last bits)."""
    sizes = [(23, 31), (40, 17), (9, 50), (32, 32)] if form == "list" else [(24, 30)] * 4
    images, masks = coordinate_list(sizes)
    if form == "stacked":
        images, masks = torch.stack(images), torch.stack(masks)
    angle = torch.tensor(0.6)
    rotation = [[torch.cos(angle), -torch.sin(angle), 12.0], [torch.sin(angle), torch.cos(angle), 3.0]]
    matrix = torch.tensor(
        [
            [[-0.75, 0.0, 20.5], [0.0, 1.5, -3.25], [0.0, 0.0, 1.0]],
            [*rotation, [0.0, 0.0, 1.0]],
            [[2.0, 0.0, -1.0], [0.0, -0.5, 8.0], [0.0, 0.0, 1.0]],
            [*rotation, [0.0, 0.0, 1.0]],
        ]
    )
    fill = (0.5, -1.0, 2.0)

    def params_of(ks):
        in_size = None if form == "list" else sizes[0]
        return Params(matrix[ks], in_size, (14, 19), 255, fill, False, in_sizes=torch.tensor(sizes)[ks])

    def targets(images, masks):
        dense = images[:, :2] if form == "stacked" else [image[:2] for image in images]
        return {"labels": gpuaug.Target(masks, fill=-7), "dense": gpuaug.Target(dense, "bilinear", fill=-5.0)}

    params = params_of(slice(0, 4))
    aug = gpuaug.Compose([gpuaug.Resize((14, 19))], backend="torch")
    out, out_masks, outs = aug.apply(images, masks, params, targets=targets(images, masks))
    ref, ref_masks, ref_outs = reference.apply(images, masks, params, targets=targets(images, masks))
    assert torch.equal(out_masks, ref_masks) and torch.equal(outs["labels"], ref_outs["labels"])
    torch.testing.assert_close(out, ref, atol=IMAGE_ATOL * 10, rtol=0)  # coordinates up to 50
    torch.testing.assert_close(outs["dense"], ref_outs["dense"], atol=IMAGE_ATOL * 10, rtol=0)
    for k in range(4):
        image, mask = (images[k : k + 1], masks[k : k + 1])
        alone, alone_mask, alone_outs = aug.apply(image, mask, params_of(slice(k, k + 1)), targets=targets(image, mask))
        assert torch.equal(alone_mask, out_masks[k : k + 1])
        if form == "stacked" or k in (0, 2):  # grid_sample normalises by a list's padded size: last bits move
            assert torch.equal(alone, out[k : k + 1])
            assert torch.equal(alone_outs["dense"], outs["dense"][k : k + 1])
