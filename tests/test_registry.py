"""The one op registry (gpuaug.core.registry) and the kinds ops declare.

Records take their kind from it (``OpRecord.kind``: pixel and canvas ops by their class,
the rest by their shape), replay rebuilds pixel and canvas ops through it, and a name it
does not know, or an op of the wrong kind, is a ValueError naming the entry.
"""

import pytest
import torch

import gpuaug
from gpuaug.core import registry
from gpuaug.transforms.base import CanvasOp, Op, PixelOp
from gpuaug.transforms.composite import Composite


def chain():
    return gpuaug.Compose(
        [
            gpuaug.RandomHorizontalFlip(),
            gpuaug.OneOf([gpuaug.RandomRotation(10), gpuaug.RandomGrayscale(1.0)]),
            gpuaug.CutMix(p=1.0),
            gpuaug.ColorJitter(0.2, p=1.0),
        ],
        backend="torch",
    )


def test_records_take_their_kind_from_the_op_class():
    params = chain().sample(torch.rand(4, 3, 8, 8), seed=0)
    assert [r.kind for r in params.ops] == ["geometric", "composite", "canvas", "pixel"]
    assert [r.kind for r in params.ops[1].children] == ["geometric", "pixel"]
    assert [r.has_pixel for r in params.ops] == [False, True, False, True]


def test_every_public_op_is_registered_with_its_declared_kind():
    bases = {Op: "geometric", PixelOp: "pixel", CanvasOp: "canvas"}
    for name in gpuaug.__all__:
        cls = getattr(gpuaug, name)
        base = next((b for b in bases if isinstance(cls, type) and issubclass(cls, b)), None)
        if base is not None:
            expected = "composite" if issubclass(cls, Composite) else bases[base]
            assert registry.op_class(name) is cls and cls.kind == expected, name


@pytest.mark.parametrize("name", ["Op", "PixelOp", "CanvasOp", "Composite", "_Flip", "NoSuchOp"])
def test_bases_and_unknown_names_are_not_ops(name):
    with pytest.raises(ValueError, match=rf"ops\[3\].name: unknown op '{name}'; known: \["):
        registry.op_class(name, "ops[3].name")


def test_loaded_record_of_an_unknown_op_names_it():
    data = chain().sample(torch.rand(4, 3, 8, 8), seed=0).to_dict()
    data["ops"][3]["name"] = "NoSuchJitter"
    with pytest.raises(ValueError, match=r"ops\[3\].name: unknown op 'NoSuchJitter'"):
        gpuaug.Params.from_dict(data)


def test_rebuilding_an_op_of_another_kind_names_both_kinds():
    with pytest.raises(ValueError, match=r"name: 'CutMix' is a canvas op, expected a pixel op"):
        PixelOp.from_config("CutMix", {})
    with pytest.raises(ValueError, match=r"name: 'ColorJitter' is a pixel op, expected a canvas op"):
        CanvasOp.from_config("ColorJitter", {})


def test_a_class_without_a_valid_kind_is_refused():
    with pytest.raises(TypeError, match=r"Odd.kind: expected one of"):

        class Odd(PixelOp):
            kind = "colour"


def test_ops_declare_the_output_size_they_fix():
    fixed = {
        gpuaug.RandomCrop((5, 7)): (5, 7),
        gpuaug.CenterCrop(6): (6, 6),
        gpuaug.RandomResizedCrop((8, 9)): (8, 9),
        gpuaug.Resize((4, 3)): (4, 3),
        gpuaug.Resize(4): None,  # the shorter side: the other follows the input
        gpuaug.RandomResize((12, 20), keep_ratio=False): (12, 20),
        gpuaug.RandomScale((0.5, 2.0)): None,
        gpuaug.RandomHorizontalFlip(): None,
        gpuaug.ColorJitter(0.1): None,
        gpuaug.CutMix(): None,
        gpuaug.OneOf([gpuaug.RandomCrop(5), gpuaug.Resize((5, 5))]): (5, 5),
        gpuaug.RandomApply([gpuaug.RandomRotation(5)]): None,
    }
    assert {repr(op): op.fixed_size for op in fixed} == {repr(op): size for op, size in fixed.items()}


def test_ops_declare_what_the_engine_asks_of_them():
    ops = {
        "flip": gpuaug.RandomHorizontalFlip(),
        "aware crop": gpuaug.RandomCrop(5, cat_max_ratio=0.75),
        "crop": gpuaug.RandomCrop(5),
        "blur": gpuaug.GaussianBlur(3),
        "jitter": gpuaug.ColorJitter(0.1, 0.2),
        "jitter without contrast": gpuaug.ColorJitter(0.1, 0.0, 0.2),
        "distortion": gpuaug.PhotoMetricDistortion(),
        "mosaic": gpuaug.Mosaic(),
        "cutmix": gpuaug.CutMix(),
        "one of": gpuaug.OneOf([gpuaug.RandomGrayscale(), gpuaug.RandomCrop(5, cat_max_ratio=0.5)]),
        "apply": gpuaug.RandomApply([gpuaug.GaussianBlur(3)]),
    }
    declared = {name: (op.geometric, op.needs_masks, op.pointwise) for name, op in ops.items()}
    assert declared == {
        "flip": (True, False, True),
        "aware crop": (True, True, True),
        "crop": (True, False, True),
        "blur": (False, False, False),
        "jitter": (False, False, False),
        "jitter without contrast": (False, False, True),
        "distortion": (False, False, True),
        "mosaic": (False, False, True),
        "cutmix": (False, False, True),
        "one of": (True, True, True),
        "apply": (False, False, False),
    }
    assert [op.pointwise_before for op in (ops["mosaic"], ops["cutmix"])] == [True, False]
    canvas = [gpuaug.Mosaic(), gpuaug.CutMix(), gpuaug.ClassMix(), gpuaug.ElasticTransform(10.0, 3.0)]
    assert [op.selects_by_labels for op in canvas] == [False, False, True, False]
