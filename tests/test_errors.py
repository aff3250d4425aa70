"""Every bad input gets a clear TypeError / ValueError naming the argument and the expectation."""

import pytest
import torch

import gpuaug
from gpuaug import backends
from gpuaug.functional import warp_image, warp_mask

AUG = gpuaug.Compose([gpuaug.RandomHorizontalFlip()])
IMAGES = torch.rand(2, 3, 8, 8)
MASKS = torch.zeros(2, 8, 8, dtype=torch.int64)
EYE = torch.eye(3).expand(2, 3, 3)


@pytest.mark.parametrize(
    ("images", "masks", "error", "match"),
    [
        (IMAGES, MASKS.float(), TypeError, r"masks: expected an integer label dtype .* got torch.float32"),
        (IMAGES, MASKS.bool(), TypeError, r"masks: expected an integer label dtype .* got torch.bool"),
        (IMAGES, MASKS[:1], ValueError, r"masks: batch size 1 does not match images batch size 2"),
        (IMAGES, MASKS[:, :7], ValueError, r"masks: spatial size 7×8 does not match images spatial size 8×8"),
        (IMAGES, MASKS[0], ValueError, r"masks: expected B×H×W or B×1×H×W, got shape \(8, 8\)"),
        (IMAGES, torch.zeros(2, 3, 8, 8, dtype=torch.int64), ValueError, r"masks: a 4-D mask must be B×1×H×W"),
        (IMAGES[0], MASKS, ValueError, r"images: expected a 4-D tensor B×C×H×W, got shape \(3, 8, 8\)"),
        (IMAGES.to(torch.int32), MASKS, TypeError, r"images: expected dtype uint8, float16, .* got torch.int32"),
        (IMAGES.numpy(), MASKS, TypeError, r"images: expected a torch.Tensor, got ndarray"),
        (torch.rand(2, 3, 0, 8), MASKS, ValueError, r"images: height and width must be positive"),
        (IMAGES, MASKS.numpy(), TypeError, r"masks: expected a torch.Tensor, got ndarray"),
    ],
)
def test_bad_batches(images, masks, error, match):
    with pytest.raises(error, match=match):
        AUG(images, masks)


@pytest.mark.parametrize(
    ("dtype", "ignore", "match"),
    [
        (torch.int8, 255, r"ignore_index: 255 cannot be stored in mask dtype torch.int8 \(range \[-128, 127\]\)"),
        (torch.uint8, -100, r"ignore_index: -100 cannot be stored in mask dtype torch.uint8"),
        (torch.int16, 40000, r"ignore_index: 40000 cannot be stored in mask dtype torch.int16"),
    ],
)
def test_ignore_index_must_fit_mask_dtype(dtype, ignore, match):
    aug = gpuaug.Compose([gpuaug.RandomHorizontalFlip()], ignore_index=ignore)
    with pytest.raises(ValueError, match=match):
        aug(IMAGES, MASKS.to(dtype))
    with pytest.raises(ValueError, match=match.replace("ignore_index", "fill")):
        warp_mask(MASKS.to(dtype), EYE, 8, fill=ignore)


def test_params_must_fit_the_batch():
    params = AUG.sample(IMAGES)
    with pytest.raises(ValueError, match=r"params: sampled for a batch of 2, got images with batch size 3"):
        AUG.apply(torch.rand(3, 3, 8, 8), None, params)
    with pytest.raises(ValueError, match=r"params: sampled for 8×8 images, got 9×8"):
        AUG.apply(torch.rand(2, 3, 9, 8), None, params)
    with pytest.raises(TypeError, match=r"params: expected gpuaug.Params, got dict"):
        AUG.apply(IMAGES, None, params.to_dict())


def test_fill_must_match_channels():
    with pytest.raises(ValueError, match=r"fill: expected 1 or 3 values \(one per channel\), got 2"):
        gpuaug.Compose([gpuaug.RandomHorizontalFlip()], fill=[0.1, 0.2])(IMAGES)
    with pytest.raises(TypeError, match=r"fill: expected a float or a non-empty sequence"):
        gpuaug.Compose([], fill="black")


def test_compose_arguments():
    with pytest.raises(TypeError, match=r"ops: expected a list of gpuaug ops, got RandomHorizontalFlip"):
        gpuaug.Compose(gpuaug.RandomHorizontalFlip())
    with pytest.raises(TypeError, match=r"ops\[1\]: expected a gpuaug op .* got function"):
        gpuaug.Compose([gpuaug.RandomHorizontalFlip(), lambda x: x])
    with pytest.raises(TypeError, match=r"ignore_index: expected an int, got float"):
        gpuaug.Compose([], ignore_index=255.0)
    with pytest.raises(ValueError, match=r"backend: expected one of \('auto', 'triton', 'torch'\), got 'cuda'"):
        gpuaug.Compose([], backend="cuda")
    with pytest.raises(TypeError, match=r"generator: expected a torch.Generator, got int"):
        AUG(IMAGES, MASKS, generator=0)


@pytest.mark.parametrize(
    ("factory", "error", "match"),
    [
        (lambda: gpuaug.RandomHorizontalFlip(p=1.5), ValueError, r"p: expected a probability in \[0, 1\], got 1.5"),
        (lambda: gpuaug.RandomResizedCrop(0), ValueError, r"size: expected positive ints, got 0"),
        (lambda: gpuaug.RandomResizedCrop(8, scale=(0.9, 0.1)), ValueError, r"scale: expected min <= max"),
        (lambda: gpuaug.RandomResizedCrop(8, ratio=(0, 1)), ValueError, r"ratio: expected positive values"),
        (lambda: gpuaug.RandomCrop("big"), TypeError, r"size: expected an int or a \(height, width\) pair"),
        (lambda: gpuaug.Resize((2, 3, 4)), TypeError, r"size: expected an int or a \(height, width\) pair"),
        (lambda: gpuaug.RandomAffine(-5), ValueError, r"degrees: a single number must be non-negative"),
        (lambda: gpuaug.RandomAffine(5, translate=(0.5, 2)), ValueError, r"translate: expected fractions in \[0, 1\]"),
        (lambda: gpuaug.RandomAffine(5, scale=(0, 1)), ValueError, r"scale: expected positive values"),
        (lambda: gpuaug.RandomAffine(5, shear="x"), TypeError, r"shear: expected a number or a \(min, max\) pair"),
        (lambda: gpuaug.RandomRotation("a lot"), TypeError, r"degrees: expected a number or a \(min, max\) pair"),
        (lambda: gpuaug.RandomPerspective(1.5), ValueError, r"distortion_scale: expected a probability in \[0, 1\]"),
        (lambda: gpuaug.RandomScale((0.0, 2.0)), ValueError, r"scale_range: expected positive values"),
    ],
)
def test_op_arguments(factory, error, match):
    with pytest.raises(error, match=match):
        factory()


def test_random_crop_smaller_image_without_padding():
    aug = gpuaug.Compose([gpuaug.RandomCrop(10)])
    with pytest.raises(
        ValueError, match=r"RandomCrop: the canvas 8×8 is smaller than the crop 10×10; pass pad_if_needed"
    ):
        aug(IMAGES, MASKS)


def test_functional_arguments():
    with pytest.raises(ValueError, match=r"matrix: expected shape \(2, 3, 3\), got \(3, 3\)"):
        warp_image(IMAGES, torch.eye(3), 8)
    with pytest.raises(TypeError, match=r"matrix: expected a floating-point tensor, got torch.int64"):
        warp_mask(MASKS, EYE.long(), 8)
    with pytest.raises(ValueError, match=r"out_size: expected positive ints, got \(0, 4\)"):
        warp_image(IMAGES, EYE, (0, 4))
    with pytest.raises(ValueError, match=r"backend: expected one of"):
        warp_mask(MASKS, EYE, 8, backend="cuda")


def test_triton_on_cpu_without_interpreter(monkeypatch):
    # Patch the check, not the environment: Triton reads TRITON_INTERPRET lazily and caches it.
    monkeypatch.setattr(backends, "interpreter_enabled", lambda: False)
    with pytest.raises(RuntimeError, match=r"backend='triton' on cpu tensors needs Triton's interpreter"):
        backends.resolve("triton", torch.device("cpu"))
    assert backends.resolve("auto", torch.device("cpu")) == "torch"


def test_device_mismatch():
    # The meta device stands in for a second device, so this runs without a GPU.
    with pytest.raises(ValueError, match=r"masks: expected the images' device cpu, got meta"):
        AUG(IMAGES, MASKS.to("meta"))
    with pytest.raises(ValueError, match=r"matrix: expected the data's device cpu, got meta"):
        warp_image(IMAGES, EYE.to("meta"), 8)
    with pytest.raises(ValueError, match=r"params: on meta, images on cpu; use params.to\(images.device\)"):
        AUG.apply(IMAGES, None, AUG.sample(IMAGES).to("meta"))
