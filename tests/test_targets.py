"""Several targets: label maps, dense maps and points through the images' one matrix.

Properties over random chains: a dense map equal to an image channel comes out equal to that
output channel (before pixel ops), a label map equal to the mask equals the output mask, K
planes each equal their own warp as a mask, int64 ids above 2^53 survive exactly, everything
equals the CPU reference on both backends, and points land where their pixel's label lands.
"""

import dataclasses

import pytest
import torch
from conftest import IMAGE_ATOL
from hypothesis import given
from hypothesis import strategies as st
from test_reference import OP_FACTORIES, build

import gpuaug
from gpuaug import reference
from gpuaug.functional import warp_image
from gpuaug.transforms.base import Draw

chains = st.lists(st.sampled_from(sorted(OP_FACTORIES)), min_size=1, max_size=3)
sizes = st.integers(min_value=2, max_value=19)
paddings = st.sampled_from(["constant", "replicate", "reflect"])
label_dtypes = st.sampled_from([torch.uint8, torch.int16, torch.int32, torch.int64])
float_dtypes = st.sampled_from([torch.float16, torch.bfloat16, torch.float32, torch.float64])


def coded(b, h, w, device, offset=0):
    """int64 B×H×W labels y·W + x + offset: each label names its source pixel."""
    code = torch.arange(h * w, dtype=torch.int64, device=device).view(1, h, w).expand(b, h, w)
    return (code + offset).contiguous()


@given(names=chains, h=sizes, w=sizes, padding=paddings, seed=st.integers(0, 2**31 - 1))
def test_dense_target_equal_to_an_image_channel_comes_out_equal_to_it(backend, device, names, h, w, padding, seed):
    aug = gpuaug.Compose(build(names, h, w), backend=backend, padding_mode=padding)
    images = torch.rand(3, 3, h, w, generator=torch.Generator().manual_seed(seed)).to(device)
    out, _, targets = aug(images, None, torch.Generator().manual_seed(seed), targets={"depth": images[:, 1:2]})
    assert targets["depth"].dtype == torch.float32
    assert torch.equal(targets["depth"], out[:, 1:2])


@given(names=chains, h=sizes, w=sizes, mask_padding=st.sampled_from(["ignore", "same"]), padding=paddings)
def test_label_target_equal_to_the_mask_comes_out_equal_to_it(backend, device, names, h, w, mask_padding, padding):
    aug = gpuaug.Compose(build(names, h, w), backend=backend, padding_mode=padding, mask_padding=mask_padding)
    images = torch.rand(3, 3, h, w).to(device)
    masks = coded(3, h, w, device)
    _, out_masks, targets = aug(images, masks, torch.Generator().manual_seed(h * w), targets={"semantic": masks})
    assert torch.equal(targets["semantic"], out_masks)


@given(names=chains, h=sizes, w=sizes, dtype=label_dtypes, layout=st.sampled_from(["BHW", "B1HW", "BKHW"]))
def test_each_label_plane_equals_its_own_warp_as_a_mask(backend, device, names, h, w, dtype, layout):
    aug = gpuaug.Compose(build(names, h, w), ignore_index=7, backend=backend)
    images = torch.rand(2, 3, h, w).to(device)
    planes = torch.randint(0, 100, (2, 3, h, w), generator=torch.Generator().manual_seed(h + w)).to(dtype).to(device)
    labels = {"BHW": planes[:, 0], "B1HW": planes[:, :1], "BKHW": planes}[layout]
    params = aug.sample(images, torch.Generator().manual_seed(w))
    _, _, targets = aug.apply(images, None, params, targets={"labels": labels})
    out = targets["labels"]
    assert out.dtype == dtype and out.shape == labels.shape[:-2] + params.out_size and out.is_contiguous()
    for k in range(labels.shape[1] if labels.dim() == 4 else 1):
        plane = planes[:, k]
        expected = aug.apply(images, plane, params)[1]
        assert torch.equal(out.reshape(2, -1, *params.out_size)[:, k], expected)


@given(names=chains, h=sizes, w=sizes)
def test_int64_ids_above_2_53_survive_exactly(backend, device, names, h, w):
    aug = gpuaug.Compose(build(names, h, w), backend=backend)
    images = torch.rand(2, 3, h, w).to(device)
    base = 2**53 + 1  # odd: float64 would round it
    ids = coded(2, h, w, device, offset=base)
    _, out_masks, targets = aug(images, coded(2, h, w, device), torch.Generator().manual_seed(h), targets={"ids": ids})
    out = targets["ids"]
    inside = out_masks != 255
    assert torch.equal(out[inside] - base, out_masks[inside])
    assert (out[~inside] == 255).all()


@given(
    names=st.lists(st.sampled_from([*sorted(OP_FACTORIES), "jitter", "normalize"]), min_size=1, max_size=4),
    h=sizes,
    w=sizes,
    dense_dtype=float_dtypes,
    label_dtype=label_dtypes,
    padding=paddings,
    mask_padding=st.sampled_from(["ignore", "same"]),
)
def test_targets_match_the_reference(backend, device, names, h, w, dense_dtype, label_dtype, padding, mask_padding):
    pixel = {"jitter": gpuaug.ColorJitter(0.4, 0.4), "normalize": gpuaug.Normalize([0.5], [0.25])}
    geometric = [n for n in names if n not in pixel]
    ops = (build(geometric, h, w) if geometric else []) + [pixel[n] for n in names if n in pixel]
    aug = gpuaug.Compose(ops, backend=backend, padding_mode=padding, mask_padding=mask_padding)
    g = torch.Generator().manual_seed(h * 31 + w)
    images = torch.rand(2, 3, h, w, generator=g).to(device)
    masks = torch.randint(0, 9, (2, 1, h, w), generator=g).to(device)
    targets = {
        "weights": torch.rand(2, 2, h, w, generator=g).to(dense_dtype).to(device),
        "instances": gpuaug.Target(torch.randint(0, 120, (2, h, w), generator=g).to(label_dtype).to(device), fill=0),
        "semantic": torch.randint(0, 9, (2, 2, h, w), generator=g).to(label_dtype).to(device),
        "heat": gpuaug.Target(torch.rand(2, 1, h, w, generator=g).to(device), interpolation="nearest", fill=-1.5),
        "dense_fill": gpuaug.Target(torch.rand(2, 3, h, w, generator=g).to(device), fill=0.25),
        "points": gpuaug.Points((torch.rand(2, 4, 2, generator=g) * torch.tensor([w, h])).to(device)),
    }
    params = aug.sample(images, g)
    out = aug.apply(images, masks, params, targets=targets)
    ref = reference.apply(images, masks, params, targets=targets)
    assert torch.equal(out[1].cpu(), ref[1])
    assert list(out[2]) == list(ref[2]) == list(targets)
    for name in ("instances", "semantic", "heat"):
        assert torch.equal(out[2][name].cpu(), ref[2][name]), name
    for name, dtype in (("weights", dense_dtype), ("dense_fill", torch.float32)):
        got, want = out[2][name].cpu(), ref[2][name]
        assert got.dtype == want.dtype == dtype
        atol = {torch.float16: 2e-3, torch.bfloat16: 1e-2}.get(got.dtype, IMAGE_ATOL)
        torch.testing.assert_close(got.double(), want.double(), atol=atol, rtol=atol)
    xy, visible = out[2]["points"]
    torch.testing.assert_close(xy.cpu(), ref[2]["points"][0], atol=1e-4, rtol=1e-6)
    assert torch.equal(visible.cpu(), ref[2]["points"][1])


def test_dense_maps_keep_their_dtype_and_skip_the_pixel_ops(backend, device):
    ops = [gpuaug.RandomAffine(20), gpuaug.ColorJitter(0.5, 0.5, 0.5, 0.1), gpuaug.Normalize([0.5], [0.1])]
    aug = gpuaug.Compose(ops, out_dtype=torch.bfloat16, backend=backend)
    images = torch.rand(2, 3, 9, 13).to(device)
    params = aug.sample(images, torch.Generator().manual_seed(0))
    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        dense = images.to(dtype)
        out, _, targets = aug.apply(images, None, params, targets={"dense": dense})
        assert out.dtype == torch.bfloat16 and targets["dense"].dtype == dtype
        # The pixel ops would move the values by far more than one rounding of the dtype.
        expected = warp_image(dense.float(), params.matrix, params.out_size, 0.0, backend)
        atol = {torch.float16: 2e-3, torch.bfloat16: 1e-2}.get(dtype, IMAGE_ATOL)
        torch.testing.assert_close(targets["dense"].float(), expected, atol=atol, rtol=atol)


def test_fill_overrides_and_defaults(backend, device):
    aug = gpuaug.Compose([gpuaug.CenterCrop((12, 12))], ignore_index=200, backend=backend)  # pads 8×8 by 2
    images = torch.rand(1, 3, 8, 8).to(device)
    labels = torch.ones(1, 8, 8, dtype=torch.uint8, device=device)
    dense = torch.ones(1, 1, 8, 8, device=device)
    targets = {
        "labels": labels,
        "instances": gpuaug.Target(labels, fill=0),
        "dense": dense,
        "dense_fill": gpuaug.Target(dense, fill=-1.0),
        "nearest": gpuaug.Target(dense * 0.5, interpolation="nearest"),
    }
    _, _, out = aug(images, targets=targets)
    border = torch.ones(12, 12, dtype=torch.bool)
    border[2:10, 2:10] = False
    for name, outside, inside in [
        ("labels", 200, 1),
        ("instances", 0, 1),
        ("dense", 0.0, 1.0),
        ("dense_fill", -1.0, 1.0),
        ("nearest", 0.0, 0.5),
    ]:
        plane = out[name].reshape(12, 12).cpu()
        assert (plane[border] == outside).all() and (plane[~border] == inside).all(), name


def test_returns_keep_key_order_and_are_unchanged_without_targets(backend, device):
    aug = gpuaug.Compose([gpuaug.RandomResizedCrop(8)], backend=backend)
    images = torch.rand(2, 3, 10, 10).to(device)
    masks = torch.zeros(2, 10, 10, dtype=torch.int64, device=device)
    assert isinstance(aug(images), torch.Tensor)
    assert len(aug(images, masks)) == 2
    names = ["zeta", "alpha", "mid", "beta"]
    values = [masks, images[:, :1], gpuaug.Points(torch.rand(2, 3, 2, device=device)), gpuaug.Target(masks, fill=0)]
    out_images, out_masks, out = aug(images, targets=dict(zip(names, values, strict=True)))
    assert out_masks is None and out_images.shape == (2, 3, 8, 8) and list(out) == names
    assert aug(images, masks, targets={})[2] == {}


def test_without_a_geometric_op_targets_come_back_as_they_are(backend, device):
    aug = gpuaug.Compose([gpuaug.ColorJitter(0.5)], backend=backend)
    images = torch.rand(2, 3, 6, 7).to(device)
    labels = torch.randint(0, 5, (2, 2, 6, 7), device=device)
    dense = torch.rand(2, 1, 6, 7, device=device, dtype=torch.float64)
    xy = torch.tensor([[[0.5, 0.5], [6.9, 5.9]], [[7.0, 1.0], [-0.1, 2.0]]], device=device)
    _, _, out = aug(images, targets={"labels": labels, "dense": dense, "points": gpuaug.Points(xy)})
    assert out["labels"] is labels and out["dense"] is dense
    assert torch.equal(out["points"][0], xy)
    assert out["points"][1].tolist() == [[True, True], [False, False]]


def test_replay_from_a_dict_gives_the_same_targets(backend, device):
    aug = gpuaug.Compose([gpuaug.RandomAffine(30, scale=(0.7, 1.3)), gpuaug.RandomHorizontalFlip()], backend=backend)
    images = torch.rand(2, 3, 11, 9).to(device)
    targets = {"ids": coded(2, 11, 9, device), "depth": images[:, :2].double()}
    params = aug.sample(images, torch.Generator().manual_seed(3))
    first = aug.apply(images, None, params, targets=targets)[2]
    again = aug.apply(images, None, gpuaug.Params.from_dict(params.to_dict(), device), targets=targets)[2]
    assert torch.equal(first["ids"], again["ids"]) and torch.equal(first["depth"], again["depth"])


# --- points ----------------------------------------------------------------------------------

UPSAMPLING = {
    "hflip": lambda h, w: gpuaug.RandomHorizontalFlip(),
    "vflip": lambda h, w: gpuaug.RandomVerticalFlip(),
    "crop": lambda h, w: gpuaug.RandomCrop((max(1, h - 1), w + 3), pad_if_needed=True),
    "zoom": lambda h, w: gpuaug.RandomResizedCrop((h + 5, w + 7), scale=(0.3, 0.9)),
}


def pixel_centres(h, w, device):
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    return torch.stack((xs, ys), dim=-1).reshape(1, -1, 2).to(device)


@given(names=st.lists(st.sampled_from(sorted(UPSAMPLING)), min_size=1, max_size=3), h=sizes, w=sizes)
def test_a_pixel_centre_lands_on_the_pixel_that_takes_its_label(backend, device, names, h, w):
    ops, size = [], (h, w)
    for name in names:
        ops.append(UPSAMPLING[name](*size))
        size = ops[-1].sample(Draw(1, torch.device("cpu")), size).out_size
    aug = gpuaug.Compose(ops, ignore_index=-1, backend=backend)
    images = torch.rand(2, 3, h, w).to(device)
    xy = pixel_centres(h, w, device).expand(2, -1, -1)
    _, out_masks, out = aug(
        images, coded(2, h, w, device), torch.Generator().manual_seed(h * w), targets={"p": gpuaug.Points(xy)}
    )
    mapped, visible = out["p"]
    oh, ow = out_masks.shape[-2:]
    source_label = torch.arange(h * w, device=device).expand(2, -1)
    col, row = mapped[..., 0].floor().long(), mapped[..., 1].floor().long()
    for b in range(2):
        v = visible[b]
        assert torch.equal(out_masks[b, row[b, v], col[b, v]], source_label[b, v])
    assert (
        ((mapped[..., 0] >= 0) & (mapped[..., 0] < ow) & (mapped[..., 1] >= 0) & (mapped[..., 1] < oh))
        .eq(visible)
        .all()
    )


@given(names=chains, h=sizes, w=sizes)
def test_points_land_within_the_warps_reach_of_their_label(backend, device, names, h, w):
    aug = gpuaug.Compose(build(names, h, w), ignore_index=-1, backend=backend)
    images = torch.rand(2, 3, h, w).to(device)
    xy = pixel_centres(h, w, device).expand(2, -1, -1)
    params = aug.sample(images, torch.Generator().manual_seed(h + 7 * w))
    _, out_masks, out = aug.apply(images, coded(2, h, w, device), params, targets={"p": gpuaug.Points(xy)})
    mapped, visible = out["p"]
    assert mapped.dtype == torch.float32 and visible.dtype == torch.bool and visible.shape == (2, h * w)
    oh, ow = params.out_size
    inside = (mapped[..., 0] >= 0) & (mapped[..., 0] < ow) & (mapped[..., 1] >= 0) & (mapped[..., 1] < oh)
    assert not (visible & ~inside).any()
    if params.perspective:
        return  # the local Jacobian bound below is for affine chains
    m = params.matrix.double()
    reach = 0.5 * m[:, :2, :2].abs().sum(dim=2) + 0.5 + 1e-3  # per axis: half an output pixel, then floor
    for b in range(2):
        v = visible[b]
        col, row = mapped[b, v, 0].floor().long(), mapped[b, v, 1].floor().long()
        label = out_masks[b, row, col]
        hit = label >= 0
        centre = torch.stack(((label % w).double() + 0.5, (label // w).double() + 0.5), dim=-1)
        off = (centre - xy[b, v].double()).abs()[hit]
        assert (off <= reach[b]).all()


def test_points_outside_the_canvas_or_behind_the_camera_are_not_visible(backend, device):
    aug = gpuaug.Compose([gpuaug.CenterCrop((4, 4))], backend=backend)
    images = torch.rand(1, 3, 8, 8).to(device)
    xy = torch.tensor([[[4.0, 4.0], [0.5, 0.5], [2.0, 2.0], [5.99, 5.99], [6.0, 3.0]]], device=device)
    _, _, out = aug(images, targets={"p": gpuaug.Points(xy)})
    assert out["p"][1].tolist() == [[True, False, True, True, False]]
    torch.testing.assert_close(out["p"][0], xy - 2.0)
    # Source → output q = F·(x, y, 1): w = 1 − x/4 is negative for x > 4, where (10, −3) would
    # divide to (16/3, 2), inside the canvas, if the sign of w were not checked.
    params = gpuaug.Compose([gpuaug.RandomPerspective(p=1.0)]).sample(images.cpu(), torch.Generator().manual_seed(0))
    forward = torch.tensor([[[-1.0, 0.0, 2.0], [0.0, 1.0, 0.0], [-0.25, 0.0, 1.0]]], dtype=torch.float64)
    params = dataclasses.replace(params, matrix=torch.linalg.inv(forward).float()).to(device)
    pts = gpuaug.Points(torch.tensor([[[1.0, 1.0], [10.0, -3.0]]], device=device))
    for out in (
        gpuaug.Compose([], backend=backend).apply(images, None, params, targets={"p": pts})[2]["p"],
        reference.apply(images, None, params, targets={"p": pts})[2]["p"],
    ):
        assert out[1].tolist() == [[True, False]]
        torch.testing.assert_close(out[0][0, 0].cpu(), torch.tensor([4.0 / 3.0, 4.0 / 3.0]))


# --- kernels ---------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["triton"])
def test_one_launch_per_label_dtype_and_per_dense_dtype(backend, device, monkeypatch):
    from gpuaug.kernels import gather_nearest, warp_bilinear

    calls = []

    def counted(module, name):
        launcher = getattr(module, name)

        def run(src, *args, **kwargs):
            out = launcher(src, *args, **kwargs)
            calls.append((name, src.dtype, src.shape[1] if src.dim() == 4 else 1))
            return out

        monkeypatch.setattr(module, name, run)

    counted(gather_nearest, "gather_nearest")
    counted(warp_bilinear, "warp_bilinear")
    aug = gpuaug.Compose([gpuaug.RandomAffine(10)], backend=backend)
    images = torch.rand(2, 3, 16, 16, device=device)
    masks = torch.zeros(2, 16, 16, dtype=torch.int64, device=device)
    targets = {
        "instances": gpuaug.Target(torch.zeros(2, 2, 16, 16, dtype=torch.int64, device=device), fill=0),
        "semantic": torch.zeros(2, 1, 16, 16, dtype=torch.int64, device=device),
        "binary": torch.zeros(2, 4, 16, 16, dtype=torch.uint8, device=device),
        "depth": torch.zeros(2, 1, 16, 16, device=device),
        "weights": torch.zeros(2, 2, 16, 16, device=device),
        "half": torch.zeros(2, 1, 16, 16, dtype=torch.float16, device=device),
    }
    aug(images, masks, torch.Generator().manual_seed(0), targets=targets)
    assert sorted(calls, key=str) == sorted(
        [
            ("warp_bilinear", torch.float32, 3),  # the images
            ("gather_nearest", torch.int64, 4),  # masks + instances + semantic
            ("gather_nearest", torch.uint8, 4),
            ("warp_bilinear", torch.float32, 3),  # depth + weights
            ("warp_bilinear", torch.float16, 1),
        ],
        key=str,
    )
