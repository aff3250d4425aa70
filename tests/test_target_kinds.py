"""The target kind interface (gpuaug.targets.base): the built-in kinds declare their rules,
and a kind defined outside the package (here, in this file) runs on the engine and on the
reference with no other change."""

import pytest
import torch
from conftest import IMAGE_ATOL
from test_targets import coded

import gpuaug
from gpuaug import reference
from gpuaug.core.batch import read_batch
from gpuaug.core.planes import Planes
from gpuaug.targets import base
from gpuaug.targets.maps import DenseMap, LabelMap, MapTarget
from gpuaug.targets.points import PointTarget


class Boxes:
    """Axis-aligned boxes B×N×4 (x0, y0, x1, y1), test-only value."""

    __slots__ = ("xyxy",)

    def __init__(self, xyxy):
        self.xyxy = xyxy


class Twice:
    """A dense map to be read twice, test-only value."""

    __slots__ = ("tensor",)

    def __init__(self, tensor):
        self.tensor = tensor


class BoxTarget(base.TargetKind):
    """A kind with no sources: boxes through their four corners, then their bounding box."""

    takes = ("Boxes",)
    title = "Boxes"
    follows_canvas = False

    def __init__(self, xyxy):
        self.xyxy = xyxy

    @classmethod
    def claims(cls, value, context):
        return isinstance(value, Boxes)

    @classmethod
    def check(cls, value, key, context):
        return cls(value.xyxy)

    def finish(self, warped, frame):
        x0, y0, x1, y1 = self.xyxy.unbind(-1)
        corners = torch.stack([torch.stack(c, -1) for c in ((x0, y0), (x1, y0), (x0, y1), (x1, y1))], 2)
        xy, _ = frame.map_points(corners.flatten(1, 2))
        xy = xy.unflatten(1, (-1, 4))
        return torch.cat((xy.amin(2), xy.amax(2)), -1)


class Blurred(base.TargetKind):
    """A kind with two sources from one tensor: the map gathered and interpolated; the output
    is their difference."""

    takes = ("Blurred",)

    def __init__(self, tensor):
        self.sources = (Planes(tensor, (0.0,), False), Planes(tensor, (0.0,), True))

    @classmethod
    def claims(cls, value, context):
        return isinstance(value, Twice)

    @classmethod
    def check(cls, value, key, context):
        return cls(value.tensor)

    def finish(self, warped, frame):
        nearest, bilinear = warped
        return bilinear - nearest


@pytest.fixture
def extra_kinds():
    base.FAMILIES.extend((BoxTarget, Blurred))
    yield
    del base.FAMILIES[-2:]


def test_built_in_kinds_declare_their_rules():
    assert base.FAMILIES[:2] == [MapTarget, PointTarget]
    assert (MapTarget.follows_canvas, PointTarget.follows_canvas) == (True, False)
    batch = read_batch(torch.zeros(1, 3, 4, 4), None, None)
    context = base.Context(batch, 255, "reflect", "ignore")
    assert (LabelMap.padding(context), DenseMap.padding(context)) == ("constant", "reflect")
    same = base.Context(batch, 255, "reflect", "same")
    assert LabelMap.padding(same) == "reflect"
    checked = base.check_targets(
        {"a": torch.zeros(1, 4, 4, dtype=torch.int16), "b": torch.zeros(1, 2, 4, 4)}, batch, 255, "reflect", "ignore"
    )
    assert [type(t) for _, t in checked] == [LabelMap, DenseMap]
    assert [t.sources[0].fill for _, t in checked] == [(255,), (0.0,)]
    assert [t.sources[0].bilinear for _, t in checked] == [False, True]


def test_a_kind_defined_outside_the_package_runs_on_engine_and_reference(extra_kinds, backend, device):
    h, w = 12, 16
    aug = gpuaug.Compose(
        [gpuaug.RandomAffine(20, translate=(0.1, 0.1), scale=(0.8, 1.2)), gpuaug.Resize((10, 14))], backend=backend
    )
    g = torch.Generator().manual_seed(3)
    images = torch.rand(3, 3, h, w, generator=g).to(device)
    params = aug.sample(images, generator=g)
    boxes = torch.tensor([[[1.0, 2.0, 6.0, 9.0]], [[0.0, 0.0, 16.0, 12.0]], [[4.0, 4.0, 5.0, 5.0]]], device=device)
    dense = torch.rand(3, 2, h, w, generator=g).to(device)
    targets = {"boxes": Boxes(boxes), "blurred": Twice(dense), "labels": coded(3, h, w, device)}
    _, _, out = aug.apply(images, None, params, targets=targets)
    cpu = {"boxes": Boxes(boxes.cpu()), "blurred": Twice(dense.cpu()), "labels": coded(3, h, w, "cpu")}
    _, _, expected = reference.apply(images, None, params, targets=cpu)
    assert list(out) == ["boxes", "blurred", "labels"]
    torch.testing.assert_close(out["boxes"].cpu(), expected["boxes"])
    torch.testing.assert_close(out["blurred"].cpu(), expected["blurred"], atol=2 * IMAGE_ATOL, rtol=0)
    assert torch.equal(out["labels"].cpu(), expected["labels"])
    assert expected["blurred"].abs().amax() > 0.05  # the two sources differ: each reached its own place
    # Exact: sample 1's box is the whole image, so its output box spans its four mapped corners.
    inverse = torch.linalg.inv(params.matrix[1].double().cpu())
    corners = torch.tensor(
        [[0.0, 0.0, 1.0], [16.0, 0.0, 1.0], [0.0, 12.0, 1.0], [16.0, 12.0, 1.0]], dtype=torch.float64
    )
    mapped = corners @ inverse.T
    mapped = mapped[:, :2] / mapped[:, 2:]
    span = torch.cat((mapped.amin(0), mapped.amax(0))).float()
    torch.testing.assert_close(out["boxes"][1, 0].cpu(), span, atol=1e-4, rtol=0)


def test_an_unclaimed_value_names_every_family_and_a_kind_refuses_canvas_ops(extra_kinds):
    aug = gpuaug.Compose([gpuaug.Resize(8)])
    with pytest.raises(
        TypeError, match=r"targets\['x'\]: expected a tensor, gpuaug.Target, gpuaug.Points, Boxes or Blurred, got int"
    ):
        aug(torch.rand(2, 3, 8, 8), targets={"x": 3})
    mix = gpuaug.Compose([gpuaug.CutMix(p=1.0)])
    with pytest.raises(ValueError, match=r"targets: Boxes cannot follow \['CutMix'\]"):
        mix(torch.rand(2, 3, 8, 8), torch.zeros(2, 8, 8, dtype=torch.int64), targets={"b": Boxes(torch.zeros(2, 1, 4))})
