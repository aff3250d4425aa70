"""Every bad input to the public API gets a TypeError (wrong type) or a ValueError (wrong value)
whose message starts with the argument the caller passed.

One table: each row is a call, the exception type and a regex the message must match.
"""

import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

import gpuaug
from gpuaug import audit, backends, metrics, peers, probe, reference, viz
from gpuaug.functional import warp_image, warp_mask

AUG = gpuaug.Compose([gpuaug.RandomHorizontalFlip()])
IMAGES = torch.rand(2, 3, 8, 8)
MASKS = torch.zeros(2, 8, 8, dtype=torch.int64)
EYE = torch.eye(3).expand(2, 3, 3)
PARAMS = AUG.sample(IMAGES, torch.Generator().manual_seed(0))
LOGITS = torch.rand(2, 5, 8, 8)
#: Only written to if an overlay check regresses and lets the call through.
OVERLAY = Path(tempfile.gettempdir()) / "gpuaug_test_errors_overlay.png"


def params_dict(**changes):
    data = PARAMS.to_dict()
    data.update(changes)
    return data


def pair(images, masks):
    return images, masks


def with_draw_dtype(dtype):
    data = PARAMS.to_dict()
    data["ops"][0]["draws"]["applied"]["dtype"] = dtype
    return data


def with_child_draw_dtype(dtype):
    aug = gpuaug.Compose([gpuaug.OneOf([gpuaug.RandomVerticalFlip(), gpuaug.RandomHorizontalFlip()])])
    data = aug.sample(IMAGES, torch.Generator().manual_seed(0)).to_dict()
    data["ops"][0]["children"][1]["draws"]["applied"]["dtype"] = dtype
    return data


def case(name, call, error, match):
    return pytest.param(call, error, match, id=name)


BATCHES = [
    case(
        "masks-float",
        lambda: AUG(IMAGES, MASKS.float()),
        TypeError,
        r"masks: expected an integer label dtype .* got torch.float32",
    ),
    case(
        "masks-bool",
        lambda: AUG(IMAGES, MASKS.bool()),
        TypeError,
        r"masks: expected an integer label dtype .* got torch.bool",
    ),
    case(
        "masks-batch",
        lambda: AUG(IMAGES, MASKS[:1]),
        ValueError,
        r"masks: batch size 1 does not match images batch size 2",
    ),
    case(
        "masks-size",
        lambda: AUG(IMAGES, MASKS[:, :7]),
        ValueError,
        r"masks: spatial size 7×8 does not match images spatial size 8×8",
    ),
    case(
        "masks-2d", lambda: AUG(IMAGES, MASKS[0]), ValueError, r"masks: expected B×H×W or B×1×H×W, got shape \(8, 8\)"
    ),
    case(
        "masks-4d",
        lambda: AUG(IMAGES, torch.zeros(2, 3, 8, 8, dtype=torch.int64)),
        ValueError,
        r"masks: a 4-D mask must be B×1×H×W",
    ),
    case("masks-numpy", lambda: AUG(IMAGES, MASKS.numpy()), TypeError, r"masks: expected a torch.Tensor, got ndarray"),
    case(
        "masks-device",
        lambda: AUG(IMAGES, MASKS.to("meta")),
        ValueError,
        r"masks: expected the images' device cpu, got meta",
    ),
    case(
        "images-3d",
        lambda: AUG(IMAGES[0], MASKS),
        ValueError,
        r"images: expected a 4-D tensor B×C×H×W, got shape \(3, 8, 8\)",
    ),
    case(
        "images-int32",
        lambda: AUG(IMAGES.to(torch.int32), MASKS),
        TypeError,
        r"images: expected dtype uint8, float16, .* got torch.int32",
    ),
    case(
        "images-numpy", lambda: AUG(IMAGES.numpy(), MASKS), TypeError, r"images: expected a torch.Tensor, got ndarray"
    ),
    case(
        "images-empty",
        lambda: AUG(torch.rand(2, 3, 0, 8), MASKS),
        ValueError,
        r"images: height and width must be positive",
    ),
    case(
        "images-no-channel", lambda: AUG(torch.rand(2, 0, 8, 8)), ValueError, r"images: expected at least one channel"
    ),
    case(
        "images-channels-last-rgb",
        lambda: AUG(torch.rand(2, 40, 30, 3)),
        ValueError,
        r"images: shape \(2, 40, 30, 3\) looks like channels-last B×H×W×C .* "
        r"expects B×C×H×W: pass images.permute\(0, 3, 1, 2\)",
    ),
    case(
        "images-channels-last-grey",
        lambda: AUG(torch.rand(2, 32, 32, 1), torch.zeros(2, 32, 32, dtype=torch.int64)),
        ValueError,
        r"images: shape \(2, 32, 32, 1\) looks like channels-last",
    ),
    case(
        "images-channels-last-crop",
        lambda: gpuaug.Compose([gpuaug.RandomCrop(224)])(torch.rand(1, 400, 300, 3)),
        ValueError,
        r"images: .* looks like channels-last",
    ),
    case(
        "ignore-int8",
        lambda: gpuaug.Compose([gpuaug.RandomHorizontalFlip()], ignore_index=255)(IMAGES, MASKS.to(torch.int8)),
        ValueError,
        r"ignore_index: 255 cannot be stored in mask dtype torch.int8 \(range \[-128, 127\]\)",
    ),
    case(
        "ignore-uint8",
        lambda: gpuaug.Compose([gpuaug.RandomHorizontalFlip()], ignore_index=-100)(IMAGES, MASKS.to(torch.uint8)),
        ValueError,
        r"ignore_index: -100 cannot be stored in mask dtype torch.uint8",
    ),
    case(
        "ignore-int16",
        lambda: gpuaug.Compose([gpuaug.RandomHorizontalFlip()], ignore_index=40000)(IMAGES, MASKS.to(torch.int16)),
        ValueError,
        r"ignore_index: 40000 cannot be stored in mask dtype torch.int16",
    ),
    case(
        "fill-channels",
        lambda: gpuaug.Compose([gpuaug.RandomHorizontalFlip()], fill=[0.1, 0.2])(IMAGES),
        ValueError,
        r"fill: expected 1 or 3 values \(one per channel\), got 2",
    ),
    case(
        "random-crop-larger",
        lambda: gpuaug.Compose([gpuaug.RandomCrop(10)])(IMAGES, MASKS),
        ValueError,
        r"size: RandomCrop's crop 10×10 is larger than its input canvas 8×8; pass pad_if_needed=True",
    ),
    case(
        "grayscale-one-channel",
        lambda: gpuaug.Compose([gpuaug.RandomGrayscale()])(IMAGES[:, :1]),
        ValueError,
        r"images: RandomGrayscale needs 3 \(RGB\) channels, got 1",
    ),
    case(
        "photometric-one-channel",
        lambda: gpuaug.Compose([gpuaug.PhotoMetricDistortion()])(IMAGES[:, :1]),
        ValueError,
        r"images: PhotoMetricDistortion needs 3 \(RGB\) channels, got 1",
    ),
    case(
        "normalize-channels",
        lambda: gpuaug.Compose([gpuaug.Normalize([0.1, 0.2, 0.3], 1.0)])(IMAGES[:, :1]),
        ValueError,
        r"mean: expected 1 or 1 values \(one per channel\), got 3",
    ),
    case(
        "blur-too-large",
        lambda: gpuaug.Compose([gpuaug.GaussianBlur(17, p=1.0)])(IMAGES[:, :1]),
        ValueError,
        r"kernel_size: \(17, 17\) is too large for a reflect border on 8×8",
    ),
]

RANDOMNESS = [
    case(
        "generator-int",
        lambda: AUG(IMAGES, MASKS, generator=0),
        TypeError,
        r"generator: expected a torch.Generator, got int",
    ),
    case(
        "generator-and-seed",
        lambda: AUG(IMAGES, generator=torch.Generator(), seed=1),
        ValueError,
        r"generator, seed: pass one source of randomness, not both",
    ),
    case(
        "ids-without-seed",
        lambda: AUG(IMAGES, sample_ids=[0, 1]),
        ValueError,
        r"sample_ids: only used with seed=; pass seed too",
    ),
    case(
        "ids-count",
        lambda: AUG(IMAGES, seed=1, sample_ids=[1]),
        ValueError,
        r"sample_ids: expected 2 integer ids \(one per sample\)",
    ),
    case(
        "ids-float-tensor",
        lambda: AUG(IMAGES, seed=1, sample_ids=torch.zeros(2)),
        TypeError,
        r"sample_ids: expected 2 integer ids .* got torch.float32",
    ),
    case(
        "ids-bool-tensor",
        lambda: AUG(IMAGES, seed=1, sample_ids=torch.zeros(2, dtype=torch.bool)),
        TypeError,
        r"sample_ids: expected 2 integer ids .* got torch.bool",
    ),
    case(
        "ids-tensor-shape",
        lambda: AUG(IMAGES, seed=1, sample_ids=torch.zeros(2, 1, dtype=torch.int64)),
        ValueError,
        r"sample_ids: expected 2 integer ids \(one per sample\), got shape \(2, 1\)",
    ),
    case(
        "ids-float",
        lambda: AUG(IMAGES, seed=1, sample_ids=[0, 1.5]),
        TypeError,
        r"sample_ids: expected an int, got float",
    ),
    case(
        "ids-bool",
        lambda: AUG(IMAGES, seed=1, sample_ids=[0, True]),
        TypeError,
        r"sample_ids: expected an int, got bool",
    ),
    case(
        "ids-int",
        lambda: AUG(IMAGES, seed=1, sample_ids=5),
        TypeError,
        r"sample_ids: expected 2 integer ids \(a tensor or a sequence\)",
    ),
    case("seed-str", lambda: AUG(IMAGES, MASKS, seed="epoch"), TypeError, r"seed: expected an int, got str"),
    case("seed-float", lambda: AUG(IMAGES, seed=1.0), TypeError, r"seed: expected an int, got float"),
    case("seed-bool", lambda: AUG(IMAGES, seed=True), TypeError, r"seed: expected an int, got bool"),
    case("seed-numpy-float", lambda: AUG(IMAGES, seed=np.float64(1)), TypeError, r"seed: expected an int, got float64"),
    case("seed-numpy-bool", lambda: AUG(IMAGES, seed=np.bool_(True)), TypeError, r"seed: expected an int, got bool"),
    case(
        "seed-float-tensor",
        lambda: AUG(IMAGES, seed=torch.tensor(1.0)),
        TypeError,
        r"seed: expected an int, got a torch.float32 tensor of shape \(\)",
    ),
    case(
        "seed-bool-tensor",
        lambda: AUG(IMAGES, seed=torch.tensor(True)),
        TypeError,
        r"seed: expected an int, got a torch.bool tensor",
    ),
    case(
        "seed-1d-tensor",
        lambda: AUG(IMAGES, seed=torch.tensor([1])),
        TypeError,
        r"seed: expected an int, got a torch.int64 tensor of shape \(1,\)",
    ),
]

TARGETS = [
    case(
        "targets-list",
        lambda: AUG(IMAGES, targets=[MASKS]),
        TypeError,
        r"targets: expected a dict name → tensor, gpuaug.Target or gpuaug.Points, got list",
    ),
    case(
        "targets-value-type",
        lambda: AUG(IMAGES, targets={"depth": [1.0]}),
        TypeError,
        r"targets\['depth'\]: expected a tensor, gpuaug.Target or gpuaug.Points, got list",
    ),
    case(
        "targets-bool",
        lambda: AUG(IMAGES, targets={"valid": MASKS.bool()}),
        TypeError,
        r"targets\['valid'\]: expected an integer label map .* got torch.bool; pass binary masks as uint8",
    ),
    case(
        "targets-complex",
        lambda: AUG(IMAGES, targets={"z": torch.zeros(2, 1, 8, 8, dtype=torch.complex64)}),
        TypeError,
        r"targets\['z'\]: expected an integer label map .* got torch.complex64",
    ),
    case(
        "targets-batch",
        lambda: AUG(IMAGES, MASKS, targets={"depth": LOGITS[:1]}),
        ValueError,
        r"targets\['depth'\]: batch size 1 does not match images batch size 2",
    ),
    case(
        "targets-size",
        lambda: AUG(IMAGES, targets={"ids": MASKS[:, :7]}),
        ValueError,
        r"targets\['ids'\]: spatial size 7×8 does not match images spatial size 8×8",
    ),
    case(
        "targets-device",
        lambda: AUG(IMAGES, targets={"depth": LOGITS.to("meta")}),
        ValueError,
        r"targets\['depth'\]: expected the images' device cpu, got meta",
    ),
    case(
        "targets-float-rank",
        lambda: AUG(IMAGES, targets={"depth": LOGITS[:, 0]}),
        ValueError,
        r"targets\['depth'\]: a float map must be B×K×H×W \(unsqueeze\(1\) a B×H×W map\), got shape \(2, 8, 8\)",
    ),
    case(
        "targets-label-rank",
        lambda: AUG(IMAGES, targets={"ids": MASKS[:, None, None]}),
        ValueError,
        r"targets\['ids'\]: an integer label map must be B×H×W, B×1×H×W or B×K×H×W, got shape \(2, 1, 1, 8, 8\)",
    ),
    case(
        "targets-no-planes",
        lambda: AUG(IMAGES, targets={"depth": LOGITS[:, :0]}),
        ValueError,
        r"targets\['depth'\]: expected at least one plane, got shape \(2, 0, 8, 8\)",
    ),
    case(
        "targets-interpolation-unknown",
        lambda: AUG(IMAGES, targets={"depth": gpuaug.Target(LOGITS, interpolation="bicubic")}),
        ValueError,
        r"targets\['depth'\]: interpolation: expected one of \('nearest', 'bilinear'\), got 'bicubic'",
    ),
    case(
        "targets-interpolation-type",
        lambda: AUG(IMAGES, targets={"depth": gpuaug.Target(LOGITS, interpolation=0)}),
        TypeError,
        r"targets\['depth'\]: interpolation: expected one of \('nearest', 'bilinear'\), got int",
    ),
    case(
        "targets-bilinear-labels",
        lambda: AUG(IMAGES, targets={"ids": gpuaug.Target(MASKS, interpolation="bilinear")}),
        ValueError,
        r"targets\['ids'\]: interpolation='bilinear' on an integer tensor \(torch.int64\): .* only gathered",
    ),
    case(
        "targets-fill-out-of-range",
        lambda: AUG(IMAGES, targets={"ids": gpuaug.Target(MASKS.to(torch.uint8), fill=256)}),
        ValueError,
        r"targets\['ids'\]: fill: 256 cannot be stored in torch.uint8 \(range \[0, 255\]\)",
    ),
    case(
        "targets-fill-float-for-labels",
        lambda: AUG(IMAGES, targets={"ids": gpuaug.Target(MASKS, fill=0.5)}),
        TypeError,
        r"targets\['ids'\]: fill: expected an int for a torch.int64 label map, got 0.5",
    ),
    case(
        "targets-fill-half-range",
        lambda: AUG(IMAGES, targets={"depth": gpuaug.Target(LOGITS.half(), fill=1e6)}),
        ValueError,
        r"targets\['depth'\]: fill: expected a finite value that torch.float16 can hold \(\|fill\| <= 65504\)",
    ),
    case(
        "targets-fill-nan",
        lambda: AUG(IMAGES, targets={"depth": gpuaug.Target(LOGITS, fill=float("nan"))}),
        ValueError,
        r"targets\['depth'\]: fill: expected a finite value",
    ),
    case(
        "targets-fill-type",
        lambda: AUG(IMAGES, targets={"depth": gpuaug.Target(LOGITS, fill="zero")}),
        TypeError,
        r"targets\['depth'\]: fill: expected a number for a torch.float32 map, got 'zero'",
    ),
    case(
        "targets-ignore-does-not-fit",
        lambda: AUG(IMAGES, targets={"ids": MASKS.to(torch.int8)}),
        ValueError,
        r"targets\['ids'\]: ignore_index 255 cannot be stored in torch.int8 .* gpuaug.Target\(tensor, fill=...\)",
    ),
    case(
        "targets-points-shape",
        lambda: AUG(IMAGES, targets={"kp": gpuaug.Points(torch.zeros(2, 5, 3))}),
        ValueError,
        r"targets\['kp'\]: Points: expected shape B×N×2 \(x, y per point\), got \(2, 5, 3\)",
    ),
    case(
        "targets-points-dtype",
        lambda: AUG(IMAGES, targets={"kp": gpuaug.Points(torch.zeros(2, 5, 2, dtype=torch.int64))}),
        TypeError,
        r"targets\['kp'\]: Points: expected a float tensor of \(x, y\) coordinates, got torch.int64",
    ),
    case(
        "targets-points-batch",
        lambda: AUG(IMAGES, targets={"kp": gpuaug.Points(torch.zeros(3, 5, 2))}),
        ValueError,
        r"targets\['kp'\]: Points: batch size 3 does not match images batch size 2",
    ),
    case(
        "targets-points-type",
        lambda: AUG(IMAGES, targets={"kp": gpuaug.Points([[0.0, 0.0]])}),
        TypeError,
        r"targets\['kp'\]: Points: expected a B×N×2 float tensor, got list",
    ),
    case(
        "targets-apply",
        lambda: AUG.apply(IMAGES, None, PARAMS, targets={"depth": LOGITS[:1]}),
        ValueError,
        r"targets\['depth'\]: batch size 1",
    ),
    case(
        "targets-reference",
        lambda: reference.apply(IMAGES, None, PARAMS, targets={"ids": gpuaug.Target(MASKS, interpolation="cubic")}),
        ValueError,
        r"targets\['ids'\]: interpolation: expected one of",
    ),
]


COMPOSE = [
    case(
        "ops-single",
        lambda: gpuaug.Compose(gpuaug.RandomHorizontalFlip()),
        TypeError,
        r"ops: expected a list of gpuaug ops, got RandomHorizontalFlip",
    ),
    case(
        "ops-function",
        lambda: gpuaug.Compose([gpuaug.RandomHorizontalFlip(), lambda x: x]),
        TypeError,
        r"ops\[1\]: expected a gpuaug op .* got function",
    ),
    case(
        "ignore-float",
        lambda: gpuaug.Compose([], ignore_index=255.0),
        TypeError,
        r"ignore_index: expected an int, got float",
    ),
    case(
        "ignore-bool",
        lambda: gpuaug.Compose([], ignore_index=True),
        TypeError,
        r"ignore_index: expected an int, got bool",
    ),
    case(
        "fill-str",
        lambda: gpuaug.Compose([], fill="black"),
        TypeError,
        r"fill: expected a float or a non-empty sequence",
    ),
    case("fill-items", lambda: gpuaug.Compose([], fill=[0.1, "a"]), TypeError, r"fill: expected numbers"),
    case(
        "fill-nan", lambda: gpuaug.Compose([], fill=float("nan")), ValueError, r"fill: expected finite values, got nan"
    ),
    case(
        "fill-inf",
        lambda: gpuaug.Compose([], fill=[0.0, float("inf"), 0.0]),
        ValueError,
        r"fill: expected finite values",
    ),
    case(
        "out-dtype-int8",
        lambda: gpuaug.Compose([], out_dtype=torch.int8),
        ValueError,
        r"out_dtype: expected torch.float32",
    ),
    case(
        "out-dtype-str",
        lambda: gpuaug.Compose([], out_dtype="float16"),
        TypeError,
        r"out_dtype: expected a torch.dtype, got str",
    ),
    case(
        "backend-cuda",
        lambda: gpuaug.Compose([], backend="cuda"),
        ValueError,
        r"backend: expected one of \('auto', 'triton', 'torch', 'inductor', 'opencv'\), got 'cuda'",
    ),
    case("backend-none", lambda: gpuaug.Compose([], backend=None), TypeError, r"backend: expected a str, got NoneType"),
    case(
        "padding-mode-wrap",
        lambda: gpuaug.Compose([], padding_mode="wrap"),
        ValueError,
        r"padding_mode: expected one of \('constant', 'replicate', 'reflect'\), got 'wrap'",
    ),
    case(
        "padding-mode-int",
        lambda: gpuaug.Compose([], padding_mode=2),
        TypeError,
        r"padding_mode: expected one of .* got int",
    ),
    case(
        "mask-padding-zero",
        lambda: gpuaug.Compose([], mask_padding="zero"),
        ValueError,
        r"mask_padding: expected one of \('ignore', 'same'\), got 'zero'",
    ),
    case(
        "warp-image-padding",
        lambda: warp_image(IMAGES, EYE, 8, padding_mode="mirror"),
        ValueError,
        r"padding_mode: expected one of",
    ),
    case(
        "warp-mask-padding",
        lambda: warp_mask(MASKS, EYE, 8, padding_mode=None),
        TypeError,
        r"padding_mode: expected one of .* got NoneType",
    ),
    case(
        "from-dict-padding",
        lambda: gpuaug.Params.from_dict(params_dict(padding_mode="edge")),
        ValueError,
        r"padding_mode: expected one of .* got 'edge'",
    ),
    case(
        "apply-batch",
        lambda: AUG.apply(torch.rand(3, 3, 8, 8), None, PARAMS),
        ValueError,
        r"params: sampled for a batch of 2, got images with batch size 3",
    ),
    case(
        "apply-size",
        lambda: AUG.apply(torch.rand(2, 3, 9, 8), None, PARAMS),
        ValueError,
        r"params: sampled for 8×8 images, got 9×8",
    ),
    case(
        "apply-dict",
        lambda: AUG.apply(IMAGES, None, PARAMS.to_dict()),
        TypeError,
        r"params: expected gpuaug.Params, got dict",
    ),
    case(
        "apply-device",
        lambda: AUG.apply(IMAGES, None, PARAMS.to("meta")),
        ValueError,
        r"params: on meta, images on cpu; use params.to\(images.device\)",
    ),
    case(
        "reference-dict",
        lambda: reference.apply(IMAGES, MASKS, PARAMS.to_dict()),
        TypeError,
        r"params: expected gpuaug.Params, got dict",
    ),
    case(
        "reference-masks",
        lambda: reference.apply(IMAGES, MASKS.float(), PARAMS),
        TypeError,
        r"masks: expected an integer label dtype",
    ),
]

INVERT = [
    case(
        "predictions-size",
        lambda: AUG.invert(torch.zeros(2, 5, 16, 16), PARAMS),
        ValueError,
        r"predictions: expected 2 maps of the augmented size \(8, 8\), got shape \(2, 5, 16, 16\)",
    ),
    case(
        "predictions-batch",
        lambda: AUG.invert(torch.zeros(3, 8, 8, dtype=torch.int64), PARAMS),
        ValueError,
        r"predictions: expected 2 maps of the augmented size",
    ),
    case(
        "predictions-numpy",
        lambda: AUG.invert(LOGITS.numpy(), PARAMS),
        TypeError,
        r"predictions: expected a torch.Tensor, got ndarray",
    ),
    case(
        "predictions-bool",
        lambda: AUG.invert(MASKS.bool(), PARAMS),
        TypeError,
        r"predictions: expected an integer label dtype",
    ),
    case(
        "predictions-float-3d",
        lambda: AUG.invert(MASKS.float(), PARAMS),
        ValueError,
        r"predictions: expected a 4-D tensor B×C×H×W",
    ),
    case(
        "predictions-labels-4d",
        lambda: AUG.invert(torch.zeros(2, 5, 8, 8, dtype=torch.int64), PARAMS),
        ValueError,
        r"predictions: a 4-D mask must be B×1×H×W",
    ),
    case(
        "predictions-int8-ignore",
        lambda: AUG.invert(MASKS.to(torch.int8), PARAMS),
        ValueError,
        r"params.ignore_index: 255 cannot be stored in mask dtype torch.int8",
    ),
    case("invert-params-none", lambda: AUG.invert(LOGITS, None), TypeError, r"params: expected gpuaug.Params"),
    case(
        "invert-params-device",
        lambda: AUG.invert(LOGITS, PARAMS.to("meta")),
        ValueError,
        r"params: on meta, predictions on cpu; use params.to\(predictions.device\)",
    ),
    case(
        "invert-fill-nan",
        lambda: AUG.invert(LOGITS, PARAMS, fill=float("nan")),
        ValueError,
        r"fill: expected finite values",
    ),
    case(
        "invert-fill-inf-labels",
        lambda: AUG.invert(MASKS, PARAMS, fill=float("-inf")),
        ValueError,
        r"fill: expected finite values",
    ),
    case(
        "invert-fill-channels",
        lambda: AUG.invert(LOGITS, PARAMS, fill=[0.0, 1.0]),
        ValueError,
        r"fill: expected 1 or 5 values",
    ),
    case(
        "invert-out-size",
        lambda: AUG.invert(LOGITS, PARAMS, out_size=(0, 4)),
        ValueError,
        r"out_size: expected positive ints, got \(0, 4\)",
    ),
]

PARAMS_CASES = [
    case("from-dict-missing", lambda: gpuaug.Params.from_dict({"matrix": []}), ValueError, r"data: missing keys"),
    case(
        "from-dict-list",
        lambda: gpuaug.Params.from_dict([]),
        TypeError,
        r"data: expected a dict from Params.to_dict\(\), got list",
    ),
    case(
        "from-dict-out-dtype",
        lambda: gpuaug.Params.from_dict(params_dict(out_dtype="float99")),
        ValueError,
        r"out_dtype: unknown dtype 'float99'",
    ),
    case(
        "from-dict-out-dtype-function",
        lambda: gpuaug.Params.from_dict(params_dict(out_dtype="zeros")),
        ValueError,
        r"out_dtype: unknown dtype 'zeros'",
    ),
    case(
        "from-dict-draw-dtype",
        lambda: gpuaug.Params.from_dict(with_draw_dtype("boolean")),
        ValueError,
        r"ops\[0\].draws.applied.dtype: unknown dtype 'boolean'",
    ),
    case(
        "from-dict-child-draw-dtype",
        lambda: gpuaug.Params.from_dict(with_child_draw_dtype("boolean")),
        ValueError,
        r"ops\[0\].children\[1\].draws.applied.dtype: unknown dtype 'boolean'",
    ),
    case("describe-range", lambda: PARAMS.describe(4), IndexError, r"i: sample 4 is out of range for a batch of 2"),
    case("describe-str", lambda: PARAMS.describe("0"), TypeError, r"i: expected an int, got str"),
]

FLIP = gpuaug.RandomHorizontalFlip()
COMPOSITES = [
    case(
        "oneof-empty", lambda: gpuaug.OneOf([]), ValueError, r"ops: OneOf expected at least one op, got an empty list"
    ),
    case(
        "oneof-single", lambda: gpuaug.OneOf(FLIP), TypeError, r"ops: OneOf expected a list of gpuaug ops, got Random"
    ),
    case(
        "oneof-child",
        lambda: gpuaug.OneOf([FLIP, "blur"]),
        TypeError,
        r"ops\[1\]: OneOf expected a gpuaug op \(gpuaug.transforms\), got str",
    ),
    case("oneof-p", lambda: gpuaug.OneOf([FLIP], p=1.2), ValueError, r"p: expected a probability in \[0, 1\], got 1.2"),
    case("oneof-p-str", lambda: gpuaug.OneOf([FLIP], p="1"), TypeError, r"p: expected a probability"),
    case(
        "oneof-weights-length",
        lambda: gpuaug.OneOf([FLIP, FLIP], weights=[1]),
        ValueError,
        r"weights: expected 2 values \(one per op\), got 1",
    ),
    case(
        "oneof-weights-negative",
        lambda: gpuaug.OneOf([FLIP, FLIP], weights=[1, -1]),
        ValueError,
        r"weights: expected finite non-negative values, got \[1, -1\]",
    ),
    case(
        "oneof-weights-nan",
        lambda: gpuaug.OneOf([FLIP, FLIP], weights=[1, float("nan")]),
        ValueError,
        r"weights: expected finite non-negative values",
    ),
    case(
        "oneof-weights-zero",
        lambda: gpuaug.OneOf([FLIP, FLIP], weights=[0, 0.0]),
        ValueError,
        r"weights: expected at least one positive value, got \[0, 0.0\]",
    ),
    case(
        "oneof-weights-str",
        lambda: gpuaug.OneOf([FLIP, FLIP], weights="12"),
        TypeError,
        r"weights: expected a sequence of 2 numbers \(one per op\), got '12'",
    ),
    case(
        "oneof-weights-items",
        lambda: gpuaug.OneOf([FLIP, FLIP], weights=[1, None]),
        TypeError,
        r"weights: expected numbers, got \[1, None\]",
    ),
    case(
        "oneof-sizes-static",
        lambda: gpuaug.OneOf([gpuaug.RandomCrop(8), FLIP, gpuaug.CenterCrop((8, 6))]),
        ValueError,
        r"ops: OneOf's children must all give the same output size, got ops\[0\] \(RandomCrop\) 8×8, "
        r"ops\[2\] \(CenterCrop\) 8×6",
    ),
    case(
        "oneof-sizes-nested",
        lambda: gpuaug.RandomApply([gpuaug.OneOf([gpuaug.OneOf([gpuaug.Resize((4, 4))]), gpuaug.RandomCrop(5)])]),
        ValueError,
        r"ops: OneOf's children must all give the same output size, got ops\[0\] \(OneOf\) 4×4, "
        r"ops\[1\] \(RandomCrop\) 5×5",
    ),
    case(
        "oneof-sizes-sample",
        lambda: gpuaug.Compose([gpuaug.OneOf([gpuaug.Resize(4), FLIP])])(IMAGES),
        ValueError,
        r"ops: OneOf's children must all give the same output size, got ops\[0\] \(Resize\) 4×4, "
        r"ops\[1\] \(RandomHorizontalFlip\) 8×8 from a 8×8 input",
    ),
    case(
        "random-apply-size",
        lambda: gpuaug.Compose([gpuaug.RandomApply([FLIP, gpuaug.RandomCrop(6)])])(IMAGES),
        ValueError,
        r"ops: RandomApply's list must keep the canvas size, got 8×8 -> 6×6",
    ),
    case(
        "random-apply-empty",
        lambda: gpuaug.RandomApply(()),
        ValueError,
        r"ops: RandomApply expected at least one op, got an empty list",
    ),
    case(
        "random-apply-child",
        lambda: gpuaug.RandomApply([gpuaug.Compose([FLIP])]),
        TypeError,
        r"ops\[0\]: RandomApply expected a gpuaug op \(gpuaug.transforms\), got Compose",
    ),
    case("random-apply-p", lambda: gpuaug.RandomApply([FLIP], p=-0.1), ValueError, r"p: expected a probability in"),
    case(
        "random-apply-pixel-rgb",
        lambda: gpuaug.Compose([gpuaug.RandomApply([gpuaug.RandomGrayscale()])])(IMAGES[:, :1]),
        ValueError,
        r"images: RandomGrayscale needs 3 \(RGB\) channels, got 1",
    ),
]

OPS = [
    case(
        "flip-p",
        lambda: gpuaug.RandomHorizontalFlip(p=1.5),
        ValueError,
        r"p: expected a probability in \[0, 1\], got 1.5",
    ),
    case(
        "flip-p-nan",
        lambda: gpuaug.RandomVerticalFlip(p=float("nan")),
        ValueError,
        r"p: expected a probability in \[0, 1\], got nan",
    ),
    case(
        "flip-p-str",
        lambda: gpuaug.RandomHorizontalFlip(p="0.5"),
        TypeError,
        r"p: expected a probability \(a number in \[0, 1\]\), got '0.5'",
    ),
    case("flip-p-bool", lambda: gpuaug.RandomVerticalFlip(p=True), TypeError, r"p: expected a probability"),
    case("rrc-size", lambda: gpuaug.RandomResizedCrop(0), ValueError, r"size: expected positive ints, got 0"),
    case(
        "rrc-size-float",
        lambda: gpuaug.RandomResizedCrop(2.5),
        TypeError,
        r"size: expected an int or a \(height, width\) pair",
    ),
    case(
        "rrc-size-items", lambda: gpuaug.RandomResizedCrop((8, 2.5)), TypeError, r"size: expected ints, got \(8, 2.5\)"
    ),
    case(
        "rrc-scale-order",
        lambda: gpuaug.RandomResizedCrop(8, scale=(0.9, 0.1)),
        ValueError,
        r"scale: expected min <= max",
    ),
    case(
        "rrc-scale-inf",
        lambda: gpuaug.RandomResizedCrop(8, scale=(0.5, float("inf"))),
        ValueError,
        r"scale: expected finite values",
    ),
    case(
        "rrc-ratio", lambda: gpuaug.RandomResizedCrop(8, ratio=(0, 1)), ValueError, r"ratio: expected positive values"
    ),
    case("rrc-p", lambda: gpuaug.RandomResizedCrop(8, p=2), ValueError, r"p: expected a probability in \[0, 1\]"),
    case(
        "crop-size", lambda: gpuaug.RandomCrop("big"), TypeError, r"size: expected an int or a \(height, width\) pair"
    ),
    case("crop-p", lambda: gpuaug.RandomCrop(8, p=-0.1), ValueError, r"p: expected a probability in \[0, 1\]"),
    case(
        "center-crop-size", lambda: gpuaug.CenterCrop((4, 0)), ValueError, r"size: expected positive ints, got \(4, 0\)"
    ),
    case(
        "resize-size", lambda: gpuaug.Resize((2, 3, 4)), TypeError, r"size: expected an int or a \(height, width\) pair"
    ),
    case("resize-str", lambda: gpuaug.Resize("big"), TypeError, r"size: expected an int or a \(height, width\) pair"),
    case(
        "affine-degrees", lambda: gpuaug.RandomAffine(-5), ValueError, r"degrees: a single number must be non-negative"
    ),
    case(
        "affine-translate",
        lambda: gpuaug.RandomAffine(5, translate=(0.5, 2)),
        ValueError,
        r"translate: expected fractions in \[0, 1\]",
    ),
    case(
        "affine-translate-type",
        lambda: gpuaug.RandomAffine(5, translate=("a", 0)),
        TypeError,
        r"translate: expected numbers",
    ),
    case(
        "affine-translate-shape",
        lambda: gpuaug.RandomAffine(5, translate=0.1),
        TypeError,
        r"translate: expected \(max fraction",
    ),
    case("affine-scale", lambda: gpuaug.RandomAffine(5, scale=(0, 1)), ValueError, r"scale: expected positive values"),
    case(
        "affine-shear",
        lambda: gpuaug.RandomAffine(5, shear="x"),
        TypeError,
        r"shear: expected a number or a \(min, max\) pair",
    ),
    case(
        "rotation-degrees",
        lambda: gpuaug.RandomRotation("a lot"),
        TypeError,
        r"degrees: expected a number or a \(min, max\) pair",
    ),
    case(
        "rotation-nan", lambda: gpuaug.RandomRotation((0, float("nan"))), ValueError, r"degrees: expected finite values"
    ),
    case("rotation-p", lambda: gpuaug.RandomRotation(10, p=2), ValueError, r"p: expected a probability in \[0, 1\]"),
    case(
        "perspective-scale",
        lambda: gpuaug.RandomPerspective(1.5),
        ValueError,
        r"distortion_scale: expected a probability in \[0, 1\]",
    ),
    case("perspective-p", lambda: gpuaug.RandomPerspective(p="x"), TypeError, r"p: expected a probability"),
    case("scale-range", lambda: gpuaug.RandomScale((0.0, 2.0)), ValueError, r"scale_range: expected positive values"),
    case("scale-range-type", lambda: gpuaug.RandomScale("x"), TypeError, r"scale_range: expected a \(min, max\) pair"),
    case("jitter-hue", lambda: gpuaug.ColorJitter(hue=0.6), ValueError, r"hue: expected values in \[-0.5, 0.5\]"),
    case(
        "jitter-brightness",
        lambda: gpuaug.ColorJitter(brightness=-1),
        ValueError,
        r"brightness: a single number must be non-negative",
    ),
    case(
        "jitter-brightness-type",
        lambda: gpuaug.ColorJitter(brightness="a"),
        TypeError,
        r"brightness: expected a \(min, max\) pair",
    ),
    case(
        "jitter-contrast",
        lambda: gpuaug.ColorJitter(contrast=(-0.5, 1)),
        ValueError,
        r"contrast: values must be >= 0.0",
    ),
    case("jitter-p", lambda: gpuaug.ColorJitter(0.1, p=None), TypeError, r"p: expected a probability"),
    case(
        "photometric-brightness-negative",
        lambda: gpuaug.PhotoMetricDistortion(brightness_delta=-0.1),
        ValueError,
        r"brightness_delta: expected a number in \[0.0, 1.0\], got -0.1$",
    ),
    case(
        "photometric-brightness-255",
        lambda: gpuaug.PhotoMetricDistortion(brightness_delta=32),
        ValueError,
        r"brightness_delta: expected a number in \[0.0, 1.0\], got 32; .* on the 0-255 scale is 32/255",
    ),
    case(
        "photometric-brightness-type",
        lambda: gpuaug.PhotoMetricDistortion(brightness_delta="32"),
        TypeError,
        r"brightness_delta: expected a number in \[0.0, 1.0\], got '32'",
    ),
    case(
        "photometric-hue-180",
        lambda: gpuaug.PhotoMetricDistortion(hue_delta=18),
        ValueError,
        r"hue_delta: expected a number in \[0.0, 0.5\], got 18; .* 18 steps of a 180-step hue is 18/180",
    ),
    case(
        "photometric-hue-nan",
        lambda: gpuaug.PhotoMetricDistortion(hue_delta=float("nan")),
        ValueError,
        r"hue_delta: expected a number in \[0.0, 0.5\], got nan$",
    ),
    case(
        "photometric-hue-type",
        lambda: gpuaug.PhotoMetricDistortion(hue_delta=None),
        TypeError,
        r"hue_delta: expected a number",
    ),
    case(
        "photometric-contrast-order",
        lambda: gpuaug.PhotoMetricDistortion(contrast_range=(1.5, 0.5)),
        ValueError,
        r"contrast_range: expected min <= max",
    ),
    case(
        "photometric-contrast-type",
        lambda: gpuaug.PhotoMetricDistortion(contrast_range=1.5),
        TypeError,
        r"contrast_range: expected a \(min, max\) pair",
    ),
    case(
        "photometric-saturation-negative",
        lambda: gpuaug.PhotoMetricDistortion(saturation_range=(-1, 1)),
        ValueError,
        r"saturation_range: values must be >= 0.0",
    ),
    case("photometric-p", lambda: gpuaug.PhotoMetricDistortion(p=2), ValueError, r"p: expected a probability"),
    case("grayscale-p", lambda: gpuaug.RandomGrayscale(p=1.5), ValueError, r"p: expected a probability in \[0, 1\]"),
    case(
        "blur-even",
        lambda: gpuaug.GaussianBlur(4),
        ValueError,
        r"kernel_size: expected odd positive ints, got \(4, 4\)",
    ),
    case(
        "blur-str",
        lambda: gpuaug.GaussianBlur("3"),
        TypeError,
        r"kernel_size: expected an int or a \(height, width\) pair of ints, got '3'",
    ),
    case(
        "blur-float",
        lambda: gpuaug.GaussianBlur((3, 3.0)),
        TypeError,
        r"kernel_size: expected an int or a \(height, width\) pair",
    ),
    case("blur-sigma", lambda: gpuaug.GaussianBlur(3, sigma=0), ValueError, r"sigma: expected positive values"),
    case("noise-std", lambda: gpuaug.GaussianNoise(std=(-1, 1)), ValueError, r"std: values must be >= 0.0"),
    case(
        "noise-std-nan", lambda: gpuaug.GaussianNoise(std=(0, float("nan"))), ValueError, r"std: expected finite values"
    ),
    case("noise-mean", lambda: gpuaug.GaussianNoise(mean="0"), TypeError, r"mean: expected a number"),
    case("normalize-std-zero", lambda: gpuaug.Normalize([0.5], [0.0]), ValueError, r"std: expected positive values"),
    case(
        "normalize-mean-type",
        lambda: gpuaug.Normalize("a", 1),
        TypeError,
        r"mean: expected a number or a sequence of numbers",
    ),
    case("normalize-std-nan", lambda: gpuaug.Normalize(0.5, float("nan")), ValueError, r"std: expected finite values"),
    case(
        "normalize-counts",
        lambda: gpuaug.Normalize([0.5, 0.5], [0.2, 0.2, 0.2]),
        ValueError,
        r"mean, std: expected the same number",
    ),
    case(
        "normalize-0-255",
        lambda: gpuaug.Compose(
            [gpuaug.Resize(4), gpuaug.Normalize((123.675, 116.28, 103.53), (58.395, 57.12, 57.375))]
        ),
        ValueError,
        r"ops\[1\]: mean, std: gpuaug works on images in \[0, 1\] \(uint8 is read as value/255\).*"
        r"Normalize\(\(0.485, 0.456, 0.406\), \(0.229, 0.224, 0.225\)\)",
    ),
    case(
        "normalize-std-255",
        lambda: gpuaug.Compose([gpuaug.Normalize(0.5, 58.395)])(IMAGES),
        ValueError,
        r"ops\[0\]: std: gpuaug works on images in \[0, 1\]",
    ),
    case(
        "normalize-mean-255",
        lambda: gpuaug.Compose([gpuaug.RandomHorizontalFlip(), gpuaug.Normalize([0.4, 128.0, 0.4], 0.2)]),
        ValueError,
        r"ops\[1\]: mean: gpuaug works on images in \[0, 1\]",
    ),
]

FUNCTIONAL = [
    case(
        "warp-matrix-shape",
        lambda: warp_image(IMAGES, torch.eye(3), 8),
        ValueError,
        r"matrix: expected shape \(2, 3, 3\), got \(3, 3\)",
    ),
    case(
        "warp-matrix-int",
        lambda: warp_mask(MASKS, EYE.long(), 8),
        TypeError,
        r"matrix: expected a floating-point tensor, got torch.int64",
    ),
    case(
        "warp-matrix-list",
        lambda: warp_image(IMAGES, EYE.tolist(), 8),
        TypeError,
        r"matrix: expected a torch.Tensor, got list",
    ),
    case(
        "warp-matrix-device",
        lambda: warp_image(IMAGES, EYE.to("meta"), 8),
        ValueError,
        r"matrix: expected the data's device cpu, got meta",
    ),
    case(
        "warp-out-size",
        lambda: warp_image(IMAGES, EYE, (0, 4)),
        ValueError,
        r"out_size: expected positive ints, got \(0, 4\)",
    ),
    case("warp-backend", lambda: warp_mask(MASKS, EYE, 8, backend="cuda"), ValueError, r"backend: expected one of"),
    case(
        "warp-fill-nan",
        lambda: warp_image(IMAGES, EYE, 8, fill=float("nan")),
        ValueError,
        r"fill: expected finite values",
    ),
    case(
        "warp-channels-last",
        lambda: warp_image(torch.rand(2, 16, 16, 3), EYE, 8),
        ValueError,
        r"images: .* looks like channels-last",
    ),
    case(
        "warp-mask-float",
        lambda: warp_mask(MASKS.float(), EYE, 8),
        TypeError,
        r"masks: expected an integer label dtype",
    ),
    case(
        "warp-mask-fill-int8",
        lambda: warp_mask(MASKS.to(torch.int8), EYE, 8, fill=255),
        ValueError,
        r"fill: 255 cannot be stored in mask dtype torch.int8 \(range \[-128, 127\]\)",
    ),
    case(
        "warp-mask-fill-uint8",
        lambda: warp_mask(MASKS.to(torch.uint8), EYE, 8, fill=-100),
        ValueError,
        r"fill: -100 cannot be stored in mask dtype torch.uint8",
    ),
    case(
        "warp-mask-fill-int16",
        lambda: warp_mask(MASKS.to(torch.int16), EYE, 8, fill=40000),
        ValueError,
        r"fill: 40000 cannot be stored in mask dtype torch.int16",
    ),
    case(
        "warp-mask-fill-float",
        lambda: warp_mask(MASKS, EYE, 8, fill=255.0),
        TypeError,
        r"fill: expected an int, got float",
    ),
]

GUARDRAILS = [
    *(
        case(
            f"check-mask-{dtype}",
            lambda t=dtype: gpuaug.check_mask(MASKS.to(t), 3),
            TypeError,
            rf"mask: expected integer labels, got {dtype}",
        )
        for dtype in (torch.float32, torch.float16, torch.bool)
    ),
    case(
        "check-mask-numpy",
        lambda: gpuaug.check_mask(MASKS.numpy(), 3),
        TypeError,
        r"mask: expected a torch.Tensor, got ndarray",
    ),
    case(
        "check-mask-classes",
        lambda: gpuaug.check_mask(MASKS, num_classes=0),
        ValueError,
        r"num_classes: expected a positive int, got 0",
    ),
    case(
        "check-mask-classes-type",
        lambda: gpuaug.check_mask(MASKS, num_classes=3.0),
        TypeError,
        r"num_classes: expected a positive int, got float",
    ),
    case(
        "check-mask-ignore",
        lambda: gpuaug.check_mask(MASKS, 3, ignore_index="255"),
        TypeError,
        r"ignore_index: expected an int, got str",
    ),
    case(
        "check-mask-labels",
        lambda: gpuaug.check_mask(MASKS + 3, 3),
        ValueError,
        r"mask: 128 pixels have labels outside \[0, 3\)",
    ),
    case(
        "image-values-255",
        lambda: gpuaug.check_image_values(IMAGES * 255),
        ValueError,
        r"images: expected values in \[0, 1\] \(gpuaug's scale; uint8 is read as value/255\).*divide by 255",
    ),
    case(
        "image-values-nan",
        lambda: gpuaug.check_image_values(IMAGES.index_fill(3, torch.tensor([2]), float("nan"))),
        ValueError,
        r"images: expected values in \[0, 1\] .* got 0 values outside it, 48 NaN and 0 inf",
    ),
    case(
        "image-values-inf",
        lambda: gpuaug.check_image_values(torch.tensor([0.5, float("inf"), -float("inf")])),
        ValueError,
        r"images: .* got 0 values outside it, 0 NaN and 2 inf, finite values in \[0.5, 0.5\]",
    ),
    case(
        "image-values-negative",
        lambda: gpuaug.check_image_values(IMAGES - 0.5),
        ValueError,
        r"images: expected values in \[0, 1\]",
    ),
    case(
        "image-values-int",
        lambda: gpuaug.check_image_values(MASKS),
        TypeError,
        r"images: expected uint8 or floating-point values, got torch.int64",
    ),
    case(
        "image-values-numpy",
        lambda: gpuaug.check_image_values(IMAGES.numpy()),
        TypeError,
        r"images: expected a torch.Tensor, got ndarray",
    ),
    case("monitor-classes", lambda: gpuaug.ClassPixelMonitor(0), ValueError, r"num_classes: expected a positive int"),
    case(
        "monitor-classes-type",
        lambda: gpuaug.ClassPixelMonitor("21"),
        TypeError,
        r"num_classes: expected a positive int, got str",
    ),
    case(
        "monitor-ignore",
        lambda: gpuaug.ClassPixelMonitor(4, ignore_index=None),
        TypeError,
        r"ignore_index: expected an int, got NoneType",
    ),
    case("monitor-empty", lambda: gpuaug.ClassPixelMonitor(4).report(), RuntimeError, r"no batch seen yet"),
    case(
        "monitor-after-float",
        lambda: gpuaug.ClassPixelMonitor(4).update(MASKS, MASKS.float()),
        TypeError,
        r"masks_after: expected an integer label dtype",
    ),
    case(
        "monitor-before-numpy",
        lambda: gpuaug.ClassPixelMonitor(4).update(MASKS.numpy(), MASKS),
        TypeError,
        r"masks_before: expected a torch.Tensor",
    ),
    case(
        "monitor-device",
        lambda: gpuaug.ClassPixelMonitor(4).update(MASKS, MASKS.to("meta")),
        ValueError,
        r"masks_after: expected masks_before's device cpu, got meta",
    ),
    case(
        "monitor-ratio",
        lambda: monitored().report(min_ratio=0),
        ValueError,
        r"min_ratio: expected a positive ratio, got 0",
    ),
    case(
        "monitor-ratio-type",
        lambda: monitored().report(min_ratio="0.5"),
        TypeError,
        r"min_ratio: expected a positive ratio, got str",
    ),
    case(
        "miou-float", lambda: metrics.miou(MASKS.float(), MASKS, 3), TypeError, r"pred, target: expected integer labels"
    ),
    case(
        "miou-bool-target",
        lambda: metrics.miou(MASKS, MASKS.bool(), 3),
        TypeError,
        r"pred, target: expected integer labels",
    ),
    case(
        "confusion-list",
        lambda: metrics.confusion_matrix(MASKS.tolist(), MASKS, 3),
        TypeError,
        r"pred: expected a torch.Tensor, got list",
    ),
    case(
        "confusion-target",
        lambda: metrics.confusion_matrix(MASKS, None, 3),
        TypeError,
        r"target: expected a torch.Tensor, got NoneType",
    ),
    case(
        "confusion-pixels",
        lambda: metrics.confusion_matrix(MASKS[:1], MASKS, 3),
        ValueError,
        r"pred: expected as many pixels as target \(128\), got 64",
    ),
    case(
        "confusion-device",
        lambda: metrics.confusion_matrix(MASKS.to("meta"), MASKS, 3),
        ValueError,
        r"pred: expected target's device cpu",
    ),
    case("miou-classes", lambda: metrics.miou(MASKS, MASKS, 0), ValueError, r"num_classes: expected a positive int"),
    case(
        "miou-classes-type", lambda: metrics.miou(MASKS, MASKS, 2.0), TypeError, r"num_classes: expected a positive int"
    ),
    case(
        "confusion-ignore",
        lambda: metrics.confusion_matrix(MASKS, MASKS, 3, ignore_index=None),
        TypeError,
        r"ignore_index: expected an int",
    ),
]

TOOLS = [
    case(
        "to-device-str", lambda: gpuaug.to_device(IMAGES, "gpu9"), ValueError, r"device: Invalid device string: 'gpu9'"
    ),
    case(
        "to-device-none", lambda: gpuaug.to_device(IMAGES, None), TypeError, r"device: expected a torch.device or a str"
    ),
    case(
        "audit-fn",
        lambda: audit.check_pair(3),
        TypeError,
        r"fn: expected a callable fn\(images, masks\) -> \(images, masks\), got int",
    ),
    case(
        "audit-size",
        lambda: audit.check_pair(pair, image_size=0),
        ValueError,
        r"image_size: expected positive ints, got 0",
    ),
    case(
        "audit-batch",
        lambda: audit.check_pair(pair, batch_size=0),
        ValueError,
        r"batch_size: expected a positive int, got 0",
    ),
    case(
        "audit-batch-type",
        lambda: audit.check_pair(pair, batch_size=2.0),
        TypeError,
        r"batch_size: expected an int, got float",
    ),
    case(
        "audit-sizes-batch",
        lambda: audit.check_pair(pair, image_size=[(4, 5), (6, 7)], batch_size=8),
        ValueError,
        r"batch_size: image_size lists 2 sizes, one per sample, so the batch has 2 samples; got batch_size=8",
    ),
    case(
        "audit-sizes-pair",
        lambda: audit.check_pair(pair, image_size=[(4, 5), 6]),
        TypeError,
        r"image_size\[1\]: expected an \(h, w\) pair in a list of sizes, got 6",
    ),
    case(
        "audit-sizes-positive",
        lambda: audit.check_pair(pair, image_size=[(4, 5), (0, 6)]),
        ValueError,
        r"image_size\[1\]: expected positive ints, got \(0, 6\)",
    ),
    case(
        "audit-list-returns-count",
        lambda: audit.check_pair(lambda images, masks: (images[:1], masks), image_size=[(4, 5), (6, 7)]),
        ValueError,
        r"fn: returned 1 images for a batch of 2 samples",
    ),
    case(
        "audit-list-returns-type",
        lambda: audit.check_pair(lambda images, masks: (images, None), image_size=[(4, 5), (6, 7)]),
        TypeError,
        r"fn: expected its masks to be a tensor or a list of tensors, got NoneType",
    ),
    case(
        "audit-list-mask-size",
        lambda: audit.check_pair(lambda images, masks: (images, masks[::-1]), image_size=[(4, 5), (6, 7)]),
        ValueError,
        r"masks\[0\]: expected a 4×h×w image and an h×w mask, got \(4, 4, 5\) and \(6, 7\)",
    ),
    case(
        "probe-list-lengths",
        lambda: probe.measure_alignment_list([torch.zeros(4, 2, 2)], [], [(2, 2)]),
        ValueError,
        r"masks: expected 1 images and 1 masks \(one per size\), got 1 and 0",
    ),
    case(
        "audit-returns-images",
        lambda: audit.check_pair(lambda images, masks: images),
        TypeError,
        r"fn: expected fn\(images, masks\) to return \(images, masks\) tensors, got Tensor",
    ),
    case(
        "overlay-empty",
        lambda: viz.save_overlay(IMAGES[:0], MASKS[:0], OVERLAY),
        ValueError,
        r"images: expected at least one sample",
    ),
    case(
        "overlay-images",
        lambda: viz.save_overlay(IMAGES.numpy(), MASKS, OVERLAY),
        TypeError,
        r"images: expected a torch.Tensor",
    ),
    case(
        "overlay-masks",
        lambda: viz.save_overlay(IMAGES, MASKS.tolist(), OVERLAY),
        TypeError,
        r"masks: expected a torch.Tensor, got list",
    ),
    case(
        "overlay-masks-shape",
        lambda: viz.save_overlay(IMAGES, MASKS[:, :4], OVERLAY),
        ValueError,
        r"masks: shape \(2, 4, 8\) does not match images of shape \(2, 3, 8, 8\)",
    ),
    case(
        "overlay-masks-channels",
        lambda: viz.save_overlay(IMAGES, MASKS[:, None].expand(-1, 2, -1, -1), OVERLAY),
        ValueError,
        r"masks: expected B×H×W or B×1×H×W",
    ),
    case(
        "overlay-max-samples",
        lambda: viz.save_overlay(IMAGES, MASKS, OVERLAY, max_samples=0),
        ValueError,
        r"max_samples: expected a positive int, got 0",
    ),
    case(
        "overlay-titles",
        lambda: viz.save_overlay(IMAGES, MASKS, OVERLAY, titles=["one"]),
        ValueError,
        r"titles: expected a caption for each of the 2 samples drawn, got 1",
    ),
    case(
        "overlay-mean-alone",
        lambda: viz.save_overlay(IMAGES, MASKS, OVERLAY, mean=0.5),
        ValueError,
        r"mean, std: pass both",
    ),
    case(
        "overlay-mean-255",
        lambda: viz.save_overlay(IMAGES, MASKS, OVERLAY, mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375)),
        ValueError,
        r"save_overlay: mean, std: gpuaug works on images in \[0, 1\]",
    ),
    case(
        "overlay-mean-channels",
        lambda: viz.save_overlay(IMAGES, MASKS, OVERLAY, mean=(0.5, 0.5), std=0.2),
        ValueError,
        r"mean: expected 1 or 3 values",
    ),
]


def monitored():
    monitor = gpuaug.ClassPixelMonitor(4)
    monitor.update(MASKS, MASKS)
    return monitor


@pytest.mark.parametrize(
    ("call", "error", "match"),
    BATCHES
    + RANDOMNESS
    + TARGETS
    + COMPOSE
    + INVERT
    + PARAMS_CASES
    + COMPOSITES
    + OPS
    + FUNCTIONAL
    + GUARDRAILS
    + TOOLS,
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match) as raised:
        call()
    assert type(raised.value) is error  # not a subclass (a bare AttributeError is no ValueError either)


def test_bad_inputs_are_not_modified():
    images, masks = IMAGES.clone(), MASKS.clone()
    with pytest.raises(ValueError):
        gpuaug.Compose([gpuaug.RandomCrop(10)])(images, masks)
    assert torch.equal(images, IMAGES) and torch.equal(masks, MASKS)


@pytest.mark.parametrize(
    "shape",
    [(2, 3, 4, 4), (2, 1, 3, 3), (1, 4, 8, 3), (2, 3, 40, 1), (2, 5, 4, 4), (1, 8, 3, 3), (1, 6, 8, 5), (1, 64, 2, 7)],
)
def test_channels_first_batches_near_the_channels_last_rule_are_accepted(shape):
    # The rule refuses C > 4 with H > 4 and W in {1, 3, 4}: grey / RGB / RGBA, 5+ px wide or <= 4 px tall pass.
    images = torch.rand(shape)
    masks = torch.zeros(shape[0], *shape[2:], dtype=torch.int64)
    out_images, out_masks = AUG(images, masks)
    assert out_images.shape == shape and out_masks.shape == masks.shape
    assert warp_image(images, torch.eye(3).expand(shape[0], 3, 3), shape[2:]).shape == shape


JITTER = gpuaug.Compose([gpuaug.RandomHorizontalFlip(), gpuaug.ColorJitter(0.2, 0.2)])


@pytest.mark.parametrize(
    ("modules", "call", "match"),
    [
        (
            ("matplotlib", "matplotlib.pyplot"),
            lambda: viz.save_overlay(IMAGES, MASKS, OVERLAY),
            r"gpuaug.viz needs matplotlib: pip install 'gpuaug\[viz\]'",
        ),
        (
            ("kornia",),
            lambda: reference.apply(IMAGES, MASKS, JITTER.sample(IMAGES)),
            r"gpuaug.reference \(its pixel ops\) needs kornia: pip install 'gpuaug\[kornia\]'",
        ),
        (
            ("kornia", "kornia.augmentation"),
            lambda: peers.kornia_pipeline(8),
            r"gpuaug.peers.kornia_pipeline needs kornia: pip install 'gpuaug\[kornia\]'",
        ),
        (
            ("albumentations",),
            lambda: peers.albumentations_pipeline(8),
            r"gpuaug.peers.albumentations_pipeline needs albumentations: pip install 'gpuaug\[bench\]'",
        ),
        (
            ("kornia", "kornia.augmentation"),
            lambda: peers.kornia_ade20k_pipeline(8),
            r"gpuaug.peers.kornia_ade20k_pipeline needs kornia: pip install 'gpuaug\[kornia\]'",
        ),
        (
            ("albumentations",),
            lambda: peers.albumentations_ade20k_pipeline(8),
            r"gpuaug.peers.albumentations_ade20k_pipeline needs albumentations: pip install 'gpuaug\[bench\]'",
        ),
    ],
)
def test_missing_optional_dependency_names_the_extra(monkeypatch, modules, call, match):
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)  # what an uninstalled module looks like to import
    with pytest.raises(ImportError, match=match):
        call()


def test_the_engine_runs_without_kornia(monkeypatch):
    for module in ("kornia", "kornia.augmentation"):
        monkeypatch.setitem(sys.modules, module, None)
    out_images, out_masks = JITTER(IMAGES, MASKS)
    geometric = AUG.sample(IMAGES)
    assert torch.equal(reference.apply(IMAGES, MASKS, geometric)[1], AUG.apply(IMAGES, MASKS, geometric)[1])
    assert "kornia" not in audit.default_pipelines(8) and "gpuaug" in audit.default_pipelines(8)


def test_triton_on_cpu_without_interpreter(monkeypatch):
    # Patch the check, not the environment: Triton reads TRITON_INTERPRET lazily and caches it.
    monkeypatch.setattr(backends, "interpreter_enabled", lambda: False)
    with pytest.raises(RuntimeError, match=r"backend='triton' on cpu tensors needs Triton's interpreter"):
        backends.resolve("triton", torch.device("cpu"))
    assert backends.resolve("auto", torch.device("cpu")) is backends.TORCH


def test_resolved_backends_declare_what_they_run():
    cpu = torch.device("cpu")
    declared = {
        b.name: (b.kernels, b.compiled, b.eager.name) for b in (backends.TRITON, backends.TORCH, backends.INDUCTOR)
    }
    assert declared == {
        "triton": (True, False, "triton"),
        "torch": (False, False, "torch"),
        "inductor": (False, True, "torch"),
    }
    assert backends.resolve(backends.TORCH, cpu) is backends.TORCH  # resolved once, passed down as it is
    assert backends.resolve("triton", cpu) is backends.TRITON  # the suite runs the interpreter
