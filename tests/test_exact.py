"""Exact expectations that do not go through gpuaug.reference: a bug shared by a fast path and
the reference still fails here.

- Exact boundaries: scale-and-shift matrices of halves and whole numbers, so every source
  coordinate is exact in float32, chosen so that some land exactly on the source's edges
  (x = 0, x = W, y = H: a half-pixel shift past a crop flush with the edge, an integer
  downscale of an odd size, a flip shifted by half a pixel) next to whole-pixel shifts,
  an integer upscale, a flip and a crop flush with the right and bottom edges. The
  expected labels, ramp values and fills are computed here, per axis, in plain Python, on
  every backend (the compiled path's tiled code included) and padding mode, at output
  sizes that are not square and not whole tiles (17×40, 40×17, 1×33).
- Composites whose pixel children follow geometric ones replay each pixel child exactly
  on the samples that chose it (index k of the child list), on the torch path, the fused
  kernel and the reference.

The list of mutations these tests were written against is docs/testing.md.
"""

import math
from dataclasses import replace

import pytest
import torch

import gpuaug
from gpuaug import Params, backends, inductor, reference
from gpuaug.core.constants import GRAY_WEIGHTS
from gpuaug.functional import warp_image

H, W = 21, 45  # the source, not square
IGNORE, LABEL_FILL, FILL, DENSE_FILL = -1, -7, (-1.0, -2.0), -5.0
#: (mode, mask_padding, out_size): every padding mode; outputs neither square nor whole tiles
#: (16×16 on the compiled path, 16×64 in the kernels).
CASES = [
    ("constant", "ignore", (17, 40)),
    ("constant", "ignore", (40, 17)),
    ("replicate", "same", (17, 40)),
    ("reflect", "same", (40, 17)),
    ("reflect", "ignore", (17, 40)),
    ("replicate", "same", (1, 33)),
]
IDS = [f"{mode}-{masks}-{h}x{w}" for mode, masks, (h, w) in CASES]


def axis_maps(out: int, src: int):
    """Per sample, the map of one axis as (scale, offset): source = scale·(index + 0.5) + offset."""
    return [
        (1.0, src - out + 0.5),  # past a crop flush with the far edge by half a pixel: the last centre reads src
        (1.0, -0.5),  # half a pixel back: the first centre reads 0
        (1.0, float(src - out)),  # a crop flush with the far edge
        (1.0, src - out + 3.0),  # whole-pixel shifts: 3 pixels past the far edge,
        (1.0, -3.0),  # and before the near one
        (2.0, src - 2.0 * out + 1.0),  # integer downscale: the last centre reads src
        (0.5, 0.0),  # integer upscale
        (-1.0, float(src)),  # flip
        (-1.0, src + 0.5),  # flip shifted by half a pixel: the first centre reads src
    ]


def expected_axis(scale: float, offset: float, out: int, src: int, mode: str):
    """For each output index: (inside, source pixel, ramp value) of one axis, by hand."""
    result = []
    for j in range(out):
        s = scale * (j + 0.5) + offset
        inside = mode != "constant" or 0 <= s < src
        if mode == "reflect":
            s = s % (2 * src)
            s = s if s < src else 2 * src - s
        p = min(max(s, 0.5), src - 0.5)
        result.append((inside, math.floor(p), p - 0.5))
    return result


def expected(out_size, mode, mask_padding, source=(H, W)):
    """The probe's image (channels: x ramp, y ramp), mask (label y·W + x) and where the image
    reads the source (B×1×h×w), by hand, for the samples of :func:`axis_maps`."""
    (h, w), (height, width) = out_size, source
    images, masks, inside = [], [], []
    for (ax, cx), (ay, cy) in zip(axis_maps(w, width), axis_maps(h, height), strict=True):
        modes = (mode, "constant" if mask_padding == "ignore" else mode)
        (in_x, _, vx), (in_x_label, col, _) = (torch.tensor(expected_axis(ax, cx, w, width, m)).T for m in modes)
        (in_y, _, vy), (in_y_label, row, _) = (torch.tensor(expected_axis(ay, cy, h, height, m)).T for m in modes)
        reads = (in_y.view(h, 1) * in_x.view(1, w)).bool()
        ramps = torch.stack((vx.view(1, w).expand(h, w), vy.view(h, 1).expand(h, w)))
        images.append(torch.where(reads, ramps, torch.tensor(FILL).view(2, 1, 1)))
        labelled = (in_y_label.view(h, 1) * in_x_label.view(1, w)).bool()
        masks.append(torch.where(labelled, row.view(h, 1).long() * width + col.view(1, w).long(), IGNORE))
        inside.append(reads)
    return torch.stack(images).float(), torch.stack(masks), torch.stack(inside).unsqueeze(1)


def probe_matrix(out_size, source=(H, W)):
    """The matrices of :func:`axis_maps`, one sample each (B×3×3 float32)."""
    (h, w), (height, width) = out_size, source
    rows = [
        [[ax, 0.0, cx], [0.0, ay, cy], [0.0, 0.0, 1.0]]
        for (ax, cx), (ay, cy) in zip(axis_maps(w, width), axis_maps(h, height), strict=True)
    ]
    return torch.tensor(rows, dtype=torch.float32)


def probe_params(out_size, mode, mask_padding):
    matrix = probe_matrix(out_size)
    return Params(matrix, (H, W), out_size, IGNORE, FILL, False, padding_mode=mode, mask_padding=mask_padding)


def probe(b, source=(H, W)):
    """Image channels x and y (the pixel's column and row), mask label y·W + x."""
    height, width = source
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij"
    )
    images = torch.stack((xs, ys)).expand(b, 2, height, width).contiguous()
    masks = (ys * width + xs).long().expand(b, height, width).contiguous()
    return images, masks


@pytest.fixture
def eager_compile(monkeypatch):
    """``backend="inductor"`` with ``torch.compile`` replaced by the function it is given: the
    compiled path's own tiled torch code (its tile bookkeeping) runs, without a compile (a
    cold compile per configuration would cost the suite minutes; tests/test_inductor.py
    compiles for real, at a 17×40 output). An error in it fails the test: gpuaug.inductor
    would take it for a failed compile and run the plain torch path, which has no tiles."""
    if not backends.cpp_compiler_available():
        pytest.skip("needs a C++ compiler (backend='inductor' runs the plain torch path without one)")
    calls, errors = [], []

    def compile_eagerly(fn, **kwargs):
        def compiled(*args):
            calls.append(fn)
            try:
                return fn(*args)
            except Exception as exc:
                errors.append(exc)
                raise

        return compiled

    inductor.clear()
    monkeypatch.setattr(torch, "compile", compile_eagerly)
    yield
    inductor.clear()
    assert calls and not errors, errors


@pytest.fixture(params=["torch", "triton", "inductor"])
def any_backend(request):
    """Every backend, the compiled path's tiled code included; Triton runs on CUDA when present."""
    if request.param == "inductor":
        request.getfixturevalue("eager_compile")
    device = "cuda" if request.param == "triton" and torch.cuda.is_available() else "cpu"
    return request.param, torch.device(device)


@pytest.mark.parametrize(("mode", "mask_padding", "out_size"), CASES, ids=IDS)
def test_exact_boundaries_by_hand(any_backend, mode, mask_padding, out_size):
    backend, device = any_backend
    params = probe_params(out_size, mode, mask_padding)
    images, masks = probe(params.matrix.shape[0])
    expected_images, expected_masks, inside = expected(out_size, mode, mask_padding)
    targets = {
        # Gathered with the masks (one launch of three planes), each plane with the target's fill.
        "labels": gpuaug.Target(torch.stack((masks, masks + 1000), 1), fill=LABEL_FILL),
        "dense": gpuaug.Target(images.double(), "bilinear", fill=DENSE_FILL),
    }
    aug = gpuaug.Compose([gpuaug.Resize(out_size)], backend=backend)
    out_images, out_masks, out = aug.apply(images.to(device), masks.to(device), params.to(device), targets=targets)
    if mode != "constant" and mask_padding == "ignore":
        assert (out_masks.cpu() == IGNORE).any()
    assert torch.equal(out_masks.cpu(), expected_masks)
    torch.testing.assert_close(out_images.cpu(), expected_images, atol=1e-4, rtol=0)
    outside = (expected_masks == IGNORE).unsqueeze(1)
    labels = torch.where(outside, LABEL_FILL, torch.stack((expected_masks, expected_masks + 1000), 1))
    assert torch.equal(out["labels"].cpu(), labels)
    dense = torch.where(inside, expected_images.double(), DENSE_FILL)
    assert out["dense"].dtype == torch.float64
    torch.testing.assert_close(out["dense"].cpu(), dense, atol=1e-4, rtol=0)


@pytest.mark.parametrize(("mode", "mask_padding"), [("constant", "ignore"), ("reflect", "same")])
@pytest.mark.parametrize("form", ["list", "padded"])
def test_variable_size_exact_boundaries_by_hand(backend, device, mode, mask_padding, form):
    """Samples of their own sizes (one taller than wide) in one batch, each read within its
    own extent: a list (packed), and a padded batch with ``sizes`` whose padding (NaN, a
    label no sample has) must never be read."""
    out_size, sources = (17, 40), [(21, 45), (13, 29), (31, 11)]
    n = probe_matrix(out_size).shape[0]  # samples per source size
    matrix = torch.cat([probe_matrix(out_size, s) for s in sources])
    sizes = [s for s in sources for _ in range(n)]
    params = Params(
        matrix,
        None,
        out_size,
        IGNORE,
        FILL,
        False,
        padding_mode=mode,
        mask_padding=mask_padding,
        in_sizes=torch.tensor(sizes),
    )
    images, masks = [probe(1, s)[0][0] for s in sizes], [probe(1, s)[1][0] for s in sizes]
    if form == "padded":
        padded_images, padded_masks = (
            torch.full((len(sizes), 2, 31, 45), math.nan),
            torch.full((len(sizes), 31, 45), 10**6),
        )
        for k, (h, w) in enumerate(sizes):
            padded_images[k, :, :h, :w], padded_masks[k, :h, :w] = images[k], masks[k]
        images, masks = padded_images.to(device), padded_masks.to(device)
    else:
        images, masks = [i.to(device) for i in images], [m.to(device) for m in masks]
    aug = gpuaug.Compose([gpuaug.Resize(out_size)], backend=backend)
    out_images, out_masks = aug.apply(images, masks, params.to(device), sizes=sizes if form == "padded" else None)
    expected_parts = [expected(out_size, mode, mask_padding, s) for s in sources]
    assert torch.equal(out_masks.cpu().reshape(-1, *out_size), torch.cat([m for _, m, _ in expected_parts]))
    torch.testing.assert_close(out_images.cpu(), torch.cat([i for i, _, _ in expected_parts]), atol=1e-4, rtol=0)


def test_edge_taps_at_weight_zero_stay_in_the_image(any_backend):
    """A centre exactly on the last column (row) reads it with the next tap at weight 0; that
    tap is clamped to the image, so the pixel past the edge, the next row's first (the next
    plane's first row), here inf, never reaches the output (0 · inf is NaN)."""
    backend, device = any_backend
    images = torch.rand(2, 2, 9, 14, generator=torch.Generator().manual_seed(0))
    images[:, :, 0] = math.inf
    images[:, :, :, 0] = math.inf
    shift = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0]]).expand(2, 3, 3)  # centres of 1..W-1
    for mode in ("constant", "replicate"):
        out = warp_image(images.to(device), shift.to(device), (8, 13), backend=backend, padding_mode=mode)
        torch.testing.assert_close(out.cpu(), images[:, :, 1:, 1:], atol=1e-5, rtol=0)  # NaN fails


def test_fused_kernel_fills_and_colours_by_hand(backend, device, launches):
    """The fused image kernel (warp + brightness ×2 in one pass on Triton): each channel
    its own fill at the points outside, coloured like the pixels inside."""
    out_size, fill = (17, 40), (0.1, 0.2, 0.3)
    aug = gpuaug.Compose(
        [gpuaug.Resize(out_size), gpuaug.ColorJitter(brightness=(2.0, 2.0))], fill=fill, backend=backend
    )
    images = torch.cat((probe(9)[0] / 100.0, torch.full((9, 1, H, W), 0.25)), 1)  # in [0, 0.45]
    sampled = aug.sample(images, seed=0)
    params = replace(probe_params(out_size, "constant", "ignore"), fill=fill, ops=sampled.ops)
    out = aug.apply(images.to(device), None, params.to(device)).cpu()
    assert launches == (["fused_image_kernel"] if backend == "triton" else [])
    ramps, _, inside = expected(out_size, "constant", "ignore")
    warped = torch.cat((ramps / 100.0, torch.full((9, 1, *out_size), 0.25)), 1)
    expected_images = torch.where(inside, warped, torch.tensor(fill).view(1, 3, 1, 1)) * 2.0
    torch.testing.assert_close(out, expected_images, atol=1e-5, rtol=0)


@pytest.mark.parametrize(("mode", "mask_padding", "out_size"), CASES[:4], ids=IDS[:4])
def test_reference_exact_boundaries_by_hand(mode, mask_padding, out_size):
    params = probe_params(out_size, mode, mask_padding)
    images, masks = probe(params.matrix.shape[0])
    expected_images, expected_masks, _ = expected(out_size, mode, mask_padding)
    out_images, out_masks = reference.apply(images, masks, params)
    assert torch.equal(out_masks, expected_masks)
    torch.testing.assert_close(out_images, expected_images, atol=1e-4, rtol=0)


# --- composites: a pixel child after geometric ones is replayed by its own index ----------------

B = 24


def composite_images():
    """Three channels, none constant along x, so a flip shows; values in [0, 0.5] (brightness 2 stays in [0, 1])."""
    g = torch.Generator().manual_seed(3)
    return torch.rand(B, 3, 6, 10, generator=g) * 0.5


def gray(images):
    r, g, b = GRAY_WEIGHTS
    return (r * images[:, 0] + g * images[:, 1] + b * images[:, 2]).unsqueeze(1).expand_as(images)


#: Per child, its effect on the identity-warped batch, by hand.
EFFECTS = {
    "flip": lambda x: x.flip(-1),
    "vflip": lambda x: x.flip(-2),
    "normalize": lambda x: (x - 0.5) / 0.25,
    "gray": gray,
    "bright": lambda x: (x * 2.0).clamp(0.0, 1.0),
}
OPS = {
    "flip": lambda: gpuaug.RandomHorizontalFlip(p=1.0),
    "vflip": lambda: gpuaug.RandomVerticalFlip(p=1.0),
    "normalize": lambda: gpuaug.Normalize(0.5, 0.25),
    "gray": lambda: gpuaug.RandomGrayscale(p=1.0),
    "bright": lambda: gpuaug.ColorJitter(brightness=(2.0, 2.0)),
}
#: Geometric children first, then pixel children: torch ops (Normalize is not a kernel step)
#: and kernel steps in the fused kernel's order.
ONEOF = {"torch-ops": ["flip", "vflip", "normalize", "gray"], "kernel-steps": ["flip", "vflip", "bright", "gray"]}


def run(backend, device, images, ops, seed):
    aug = gpuaug.Compose(ops, backend=backend)
    params = aug.sample(images, seed=seed)
    out = aug.apply(images.to(device), None, params.to(device)).cpu()
    return params, out, reference.apply(images, None, params)


@pytest.mark.parametrize("children", sorted(ONEOF))
def test_oneof_pixel_children_after_geometric_ones_by_hand(backend, device, children):
    names = ONEOF[children]
    images = composite_images()
    params, out, ref = run(backend, device, images, [gpuaug.OneOf([OPS[n]() for n in names])], seed=1)
    choice = params.ops[0].draws["choice"]
    assert set(choice.tolist()) == set(range(len(names)))
    expected = images.clone()
    for k, name in enumerate(names):
        expected = torch.where((choice == k).view(-1, 1, 1, 1), EFFECTS[name](images), expected)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(ref, expected, atol=1e-5, rtol=0)


def test_random_apply_of_geometric_and_pixel_children_by_hand(backend, device):
    images = composite_images()
    ops = [gpuaug.RandomApply([OPS["flip"](), OPS["bright"](), OPS["gray"]()], p=0.5)]
    params, out, ref = run(backend, device, images, ops, seed=4)
    applied = params.ops[0].draws["applied"]
    assert set(applied.tolist()) == {False, True}
    expected = torch.where(applied.view(-1, 1, 1, 1), gray(EFFECTS["bright"](images.flip(-1))), images)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(ref, expected, atol=1e-5, rtol=0)


# --- canvas ops on canvases that are not square ------------------------------------------------


@pytest.mark.parametrize("canvas", [(7, 18), (18, 7)])
def test_elastic_and_mosaic_on_a_non_square_canvas_match_reference(backend, device, canvas):
    """The displacement field is gh×gw with gh ≠ gw, Mosaic's quadrants are not square: a
    swap of the field's rows and columns, or of a quadrant's x and y scale, shows (the
    reference's field and quadrant code is its own)."""
    images, masks = probe(6, canvas)
    ops = [gpuaug.CenterCrop(canvas), gpuaug.ElasticTransform(4.0, 2.0, p=1.0), gpuaug.Mosaic(p=1.0)]
    aug = gpuaug.Compose(ops, ignore_index=IGNORE, backend=backend)
    params = aug.sample(images, seed=3)
    out_images, out_masks = aug.apply(images.to(device), masks.to(device), params.to(device))
    ref_images, ref_masks = reference.apply(images, masks, params)
    assert torch.equal(out_masks.cpu(), ref_masks)
    torch.testing.assert_close(out_images.cpu(), ref_images, atol=1e-4, rtol=0)
