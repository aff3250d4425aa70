"""The class-aware crop's class check: the candidates it chooses, and the label counts it reads.

The fixture ``tests/data/class_check_attempts.json`` was recorded from the class check that
warped and counted each candidate's labels one view at a time (``tests/class_check_cases.py``),
so the counting that replaced it must choose exactly the same candidates for the same keyed
draws. The counts themselves are checked against ``torch.unique`` over the labels the mask
warp gives for the same matrices.
"""

import json
import math
from pathlib import Path

import class_check_cases
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gpuaug import backends, candidates
from gpuaug.candidates import CandidateCounts
from gpuaug.core.ragged import from_padded, pack
from gpuaug.functional import warp_mask

FIXTURE = Path(__file__).parent / "data" / "class_check_attempts.json"
RECORDED = json.loads(FIXTURE.read_text())
#: Seeds of the fixture replayed per backend (Triton's interpreter is slow: the first two).
SEEDS = {"torch": 4, "triton": 2}


def test_the_same_candidates_as_recorded(backend, device):
    expected = {name: rows[: SEEDS[backend]] for name, rows in RECORDED.items()}
    assert class_check_cases.attempts(backend, device, SEEDS[backend]) == expected


@pytest.mark.parametrize("at_once", [True, False])
def test_all_candidates_at_once_choose_the_same(monkeypatch, at_once, backend, device):
    # On CUDA every candidate is counted in one launch, on the CPU one after another: both here.
    monkeypatch.setattr(CandidateCounts, "at_once", at_once)
    names = ("ade-list", "wide-labels")
    expected = {name: RECORDED[name][:1] for name in names}
    assert class_check_cases.attempts(backend, device, 1, names) == expected


@pytest.mark.parametrize("rotated", [False, True], ids=["axis-aligned", "rotated"])
def test_counts_of_some_samples_are_their_rows_of_the_whole_batch(rotated, backend, device):
    # The CPU check counts only the samples still pending: any subset, in any order, of a list
    # of sizes must give exactly those samples' counts (the axis-aligned views take the
    # row/column gather, the rotated ones the warp).
    g = torch.Generator().manual_seed(5)
    sizes = [(12, 16), (7, 30), (20, 5), (9, 9)]
    masks = pack([torch.randint(0, 6, size, generator=g).to(device) for size in sizes], 1)
    prefix = torch.eye(3, dtype=torch.float64).repeat(len(sizes), 1, 1)
    prefix[:, 0, 0] = torch.tensor([1.0, 0.5, 2.0, -1.0])  # a zoom, and a flip of the last sample
    prefix[:, 0, 2] = torch.tensor([0.0, 1.0, -3.0, 9.0])
    matrices = random_views(g, len(sizes), 2)
    if not rotated:
        matrices[..., 0, 1] = matrices[..., 1, 0] = 0
    counts = CandidateCounts(masks, prefix, 255, "constant", backends.resolve(backend, device))
    whole = counts(matrices, (8, 10))
    picked = [3, 1]
    part = counts(matrices[picked], (8, 10), picked)
    assert all(torch.equal(p.cpu(), w[picked].cpu()) for p, w in zip(part, whole, strict=True))
    assert part[0].shape == (2, 2) and not torch.equal(whole[2][3], whole[2][1])  # distinct samples


def expected_counts(labels: torch.Tensor, ignore: int) -> list[tuple[int, int, int]]:
    """(classes, largest, total) of each view by ``torch.unique``, ignore removed."""
    found = []
    for view in labels.reshape(labels.shape[0], -1):
        values, counts = torch.unique(view, return_counts=True)
        counts = counts[values != ignore]
        found.append((len(counts), int(counts.max()) if len(counts) else 0, int(counts.sum())))
    return found


def random_views(generator, b, n, scale=1.0):
    """B×N×3×3 float64 affine matrices (rotation, scale, translation) about a 12×16 canvas."""
    angle = torch.rand(b, n, generator=generator, dtype=torch.float64) * 2 * math.pi
    zoom = scale * (0.5 + torch.rand(b, n, generator=generator, dtype=torch.float64))
    m = torch.zeros(b, n, 3, 3, dtype=torch.float64)
    m[..., 0, 0], m[..., 0, 1] = zoom * torch.cos(angle), -zoom * torch.sin(angle)
    m[..., 1, 0], m[..., 1, 1] = zoom * torch.sin(angle), zoom * torch.cos(angle)
    m[..., :2, 2] = torch.rand(b, n, 2, generator=generator, dtype=torch.float64) * 16 - 2
    m[..., 2, 2] = 1
    return m


@pytest.mark.parametrize("backend", ["triton"])
@pytest.mark.parametrize("padding", ["constant", "replicate", "reflect"])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int32, torch.int64])
def test_kernel_counts_the_labels_the_warp_shows(padding, dtype, device):
    # Labels in the bins, above them (int32/int64), negative (signed), and ignore.
    from gpuaug.kernels.class_counts import CLASS_BINS, class_counts

    g = torch.Generator().manual_seed(int(dtype.itemsize) * 7 + len(padding))
    b, n, out = 3, 4, (9, 70)  # a width past one tile, a height short of one
    values = [0, 1, 2, 7, 255] if dtype == torch.uint8 else [0, 1, 2, 7, 255, CLASS_BINS, 2**20 + 3, -4]
    if dtype == torch.int64:
        values.append(2**40 + 1)
    masks = torch.tensor(values, dtype=dtype)[torch.randint(len(values), (b, 12, 16), generator=g)]
    masks[0] = masks[0, 0, 0]  # one view of a single class
    matrices = random_views(g, b, n).to(torch.float32).to(device)
    # A stacked batch (its extents from its shape) for int32, a table of extents otherwise.
    source = masks.to(device) if dtype == torch.int32 else from_padded(masks.to(device), [(12, 16)] * b)
    mode = {"constant": 0, "replicate": 1, "reflect": 2}[padding]
    counts = class_counts(source, matrices, out, 255, mode)
    warped = warp_mask(
        masks.repeat_interleave(n, 0), matrices.reshape(-1, 3, 3).cpu(), out, 255, "torch", padding_mode=padding
    )
    got = list(zip(*(c.reshape(-1).tolist() for c in counts), strict=True))
    assert got == expected_counts(warped, 255)


@pytest.mark.parametrize("backend", ["triton"])
def test_kernel_counts_a_list_of_sizes(device):
    from gpuaug.kernels.class_counts import class_counts

    g = torch.Generator().manual_seed(3)
    sizes = [(12, 16), (7, 30), (20, 5)]
    masks = [torch.randint(0, 300, size, generator=g) for size in sizes]
    matrices = random_views(g, len(sizes), 2).to(torch.float32)
    counts = class_counts(pack([m.to(device) for m in masks], 1), matrices.to(device), (10, 11), 255, 0)
    expected = []
    for k, mask in enumerate(masks):
        warped = warp_mask(mask.expand(2, *mask.shape), matrices[k], (10, 11), 255, "torch")
        expected += expected_counts(warped, 255)
    assert list(zip(*(c.reshape(-1).tolist() for c in counts), strict=True)) == expected


@settings(max_examples=20)
@given(
    scale=st.sampled_from([0.25, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0]),
    flip=st.booleans(),
    shift=st.integers(-20, 20),
    size=st.sampled_from([(5, 7), (16, 16), (9, 33)]),
    wide=st.booleans(),
)
@example(scale=2.0, flip=False, shift=0, size=(9, 33), wide=False)  # column 10 lands exactly on x = W, row 6 on y = H
@example(scale=1.0, flip=True, shift=0, size=(16, 16), wide=False)  # the flip's first column exactly at x = W
@example(scale=0.25, flip=True, shift=3, size=(16, 16), wide=True)  # each source pixel read 16 times, wide labels
def test_separable_counts_are_the_warp_labels_counts(scale, flip, shift, size, wide):
    # Axis-aligned views (flips, integer shifts, integer and fractional scales: pixel centres
    # landing exactly on source edges) count the same pixels as the mask warp reads, each
    # source pixel as often as output pixels read it; ignore is not counted, and labels
    # spanning more than MAX_BINS are counted per distinct label.
    g = torch.Generator().manual_seed(shift + 100)
    masks = torch.randint(0, 9, (2, 13, 21), generator=g) * (2**30 if wide else 1)
    masks[torch.rand(masks.shape, generator=g) < 0.15] = 255
    m = torch.zeros(2, 3, 3, dtype=torch.float64)
    m[:, 0, 0] = -scale if flip else scale
    m[:, 0, 2] = (21.0 if flip else 0.0) + shift
    m[:, 1, 1] = scale
    m[:, 1, 2] = torch.tensor([0.0, float(shift)])
    m[:, 2, 2] = 1
    matrix = m.to(torch.float32)
    assert candidates.keeps_axes(matrix)
    got = candidates.separable_counts(from_padded(masks, [(13, 21)] * 2), matrix, 1, size, 255)
    labels = warp_mask(masks, matrix, size, 255, "torch").reshape(2, -1)
    rows = [labels[r : r + 1][labels[r : r + 1] != 255] for r in range(2)]  # the counted labels, per view
    expected = [
        [int(v.unique().numel()), int(v.unique(return_counts=True)[1].max()) if v.numel() else 0, v.numel()]
        for v in rows
    ]
    assert torch.stack(got, dim=1).tolist() == expected


def test_separable_counts_of_no_views_are_empty():
    masks = from_padded(torch.zeros(1, 4, 4, dtype=torch.int64), [(4, 4)])
    got = candidates.separable_counts(masks, torch.zeros(0, 3, 3), 1, (2, 2), 255)
    assert [tuple(c.shape) for c in got] == [(0,)] * 3 and all(c.dtype == torch.int64 for c in got)


def test_rotations_do_not_keep_the_axes():
    g = torch.Generator().manual_seed(0)
    assert not candidates.keeps_axes(random_views(g, 1, 1).reshape(-1, 3, 3).to(torch.float32))
    perspective = torch.eye(3).unsqueeze(0).clone()
    perspective[0, 2, 0] = 1e-3
    assert not candidates.keeps_axes(perspective)
