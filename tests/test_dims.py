"""The core's records and extents take their number of spatial dimensions from the matrix
(or the sizes), so a volume family (D×H×W, 4×4 matrices) reuses them; the 2D formats stay."""

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gpuaug.core.matrices import identity_matrix
from gpuaug.core.ragged import from_padded, pack
from gpuaug.core.records import OpRecord, Params
from gpuaug.core.views import Views

extents = st.lists(st.integers(1, 5), min_size=3, max_size=3).map(tuple)


def volume_params(batch=2):
    matrix = identity_matrix(batch, dims=3).to(torch.float32)
    matrix[:, 0, 3] = torch.tensor([0.5, -1.25])  # x translation per sample
    matrix[:, 2, 2] = 2.0  # z scale
    draws = {"applied": torch.tensor([True, False])}
    return Params(
        matrix=matrix,
        in_size=(4, 5, 6),
        out_size=(2, 3, 4),
        ignore_index=255,
        fill=(0.0,),
        perspective=False,
        ops=(OpRecord("RandomFlip", draws),),
    )


def test_params_read_their_dimensions_from_the_matrix():
    params = volume_params()
    assert params.spatial_dims == 3
    assert params.in_sizes.tolist() == [[4, 5, 6], [4, 5, 6]]
    assert not params.variable
    images = Params(identity_matrix(2).float(), (7, 9), (3, 3), 255, (0.0,), False)
    assert images.spatial_dims == 2 and images.in_sizes.tolist() == [[7, 9], [7, 9]]


def test_volume_params_round_trip_through_json():
    params = volume_params()
    data = json.loads(json.dumps(params.to_dict()))
    assert len(data["matrix"][0]) == 4 and data["in_sizes"] == [[4, 5, 6], [4, 5, 6]]
    back = Params.from_dict(data)
    assert back.matrix.shape == (2, 4, 4) and torch.equal(back.matrix, params.matrix)
    assert torch.equal(back.in_sizes, params.in_sizes) and back.out_size == (2, 3, 4)
    assert "4x5x6 -> 2x3x4" in back.describe(1)


def test_image_params_keep_the_2d_format():
    params = Params(identity_matrix(1).float(), (7, 9), (3, 5), 255, (0.0,), False)
    data = params.to_dict()
    assert data["matrix"] == [[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]]
    assert data["in_sizes"] == [[7, 9]] and data["out_size"] == [3, 5]
    assert "7x9 -> 3x5" in params.describe(0)


def test_sizes_that_do_not_match_the_matrix_are_refused():
    with pytest.raises(ValueError, match=r"in_sizes: expected 3 extents per sample for a \(4, 4\) matrix"):
        Params(
            identity_matrix(2, dims=3).float(),
            None,
            (2, 2, 2),
            255,
            (0.0,),
            False,
            in_sizes=torch.ones(2, 2, dtype=torch.int64),
        )


def test_identity_and_views_take_the_dimension():
    assert torch.equal(identity_matrix(2, dims=3), torch.eye(4, dtype=torch.float64).expand(2, 4, 4))
    assert Views(1, None, identity_matrix(2, dims=3).float()).spatial_dims == 3
    assert Views(1, None, identity_matrix(2).float()).spatial_dims == 2


def element(ragged, b, index):
    """Element ``index`` (plane, z, y, x) of sample b, read through the extent table alone."""
    row = ragged.table[b].tolist()
    dims = ragged.spatial_dims
    offset, strides, size = row[0], row[1 : dims + 1], row[dims + 1 :]
    assert all(0 <= i < n for i, n in zip(index[1:], size, strict=True))
    flat = offset + sum(i * s for i, s in zip(index[:-1], strides, strict=True)) + index[-1]
    return ragged.data.reshape(-1)[flat]


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(extents, min_size=1, max_size=3), planes=st.integers(1, 3))
def test_a_packed_list_of_volumes_is_addressed_by_its_table(sizes, planes):
    samples = [torch.arange(planes * d * h * w).reshape(planes, d, h, w) * 10 + k for k, (d, h, w) in enumerate(sizes)]
    ragged = pack(samples, planes, dims=3)
    assert ragged.table.shape == (len(sizes), 7) and ragged.spatial_dims == 3 and ragged.sizes == tuple(sizes)
    for b, sample in enumerate(samples):
        for index in torch.cartesian_prod(*(torch.arange(n) for n in sample.shape)).tolist():
            assert element(ragged, b, index) == sample[tuple(index)]
    padded = ragged.padded()
    assert padded.shape == (len(sizes), planes, *(max(v) for v in zip(*sizes, strict=True)))
    for b, (d, h, w) in enumerate(sizes):
        assert torch.equal(padded[b, :, :d, :h, :w], samples[b])


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(extents, min_size=1, max_size=3), planes=st.integers(1, 2))
def test_a_padded_batch_of_volumes_is_read_where_it_lies(sizes, planes):
    extent = tuple(max(v) + 1 for v in zip(*sizes, strict=True))
    batch = torch.arange(len(sizes) * planes * torch.Size(extent).numel()).reshape(len(sizes), planes, *extent)
    ragged = from_padded(batch, sizes)
    assert ragged.table.shape == (len(sizes), 7) and ragged.data.data_ptr() == batch.data_ptr()
    for b, (d, h, w) in enumerate(sizes):
        assert torch.equal(ragged.samples[b], batch[b, :, :d, :h, :w])
        for index in torch.cartesian_prod(*(torch.arange(n) for n in (planes, d, h, w))).tolist():
            assert element(ragged, b, index) == batch[(b, *index)]
    if planes == 1:  # B×D×H×W labels, one plane implied
        assert torch.equal(from_padded(batch[:, 0], sizes).table, ragged.table)


def test_images_keep_the_2d_table():
    ragged = pack([torch.zeros(3, 4, 5), torch.zeros(3, 2, 7)], 3)
    assert ragged.table.tolist() == [[0, 20, 5, 4, 5], [60, 14, 7, 2, 7]] and ragged.spatial_dims == 2
    padded = from_padded(torch.zeros(2, 6, 8), [(4, 5), (6, 8)])
    assert padded.table.tolist() == [[0, 48, 8, 4, 5], [48, 48, 8, 6, 8]]


def test_picking_samples_of_a_list_packs_nothing_until_the_data_is_read():
    samples = [torch.arange(12).reshape(1, 3, 4) + 100 * k for k in range(3)]
    ragged = pack(samples, 1)
    picked = ragged.select([2, 0]).repeat(2)  # what the class check does, sample by sample
    assert "_packed" not in ragged.__dict__ and "_packed" not in picked.__dict__
    for b, source in enumerate([2, 2, 0, 0]):
        assert torch.equal(picked.samples[b], samples[source])
        for y in range(3):
            for x in range(4):
                assert element(picked, b, (0, y, x)) == samples[source][0, y, x]
    assert picked.data is ragged.data  # packed once, by the list, and shared
    padded = from_padded(torch.zeros(2, 1, 3, 4), [(3, 4), (2, 2)])
    assert padded.select([1]).data is padded.storage
