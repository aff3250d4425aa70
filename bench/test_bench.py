"""gpuaug against its CPU reference and its peers, same data, same run.

Pipelines (``gpuaug.peers`` writes each for every library):

- ``geometric``: RandomResizedCrop + horizontal flip + RandomAffine, images and masks;
- ``full``: geometric + ColorJitter + Normalize;
- ``masks``: ``warp_mask`` alone on int64 and uint8 labels;
- ``targets``: geometric on image + mask + an int64 instance map + a float depth map
  (gpuaug's ``targets=``, kornia's ``data_keys``, albumentations' ``additional_targets``);
- ``scaling``: the geometric pipeline of gpuaug over batch sizes and image sizes;
- ``antialias``: the geometric chain and the ADE20K recipe with ``antialias`` off and on;
- ``ade20k-scaling``: the ADE20K recipe on stacked batches of 8 and 16 to crops of 224², 512²,
  1024² (quick mode on the CPU: a batch of 8, the first two crops), reported per output
  megapixel per library and batch;
- ``ade20k``: mmsegmentation's ADE20K recipe (``gpuaug.peers.ade20k_ops``: random resize,
  class-aware crop with padding, flip, PhotoMetricDistortion, Normalize) on a list of 16 uint8 images
  of ADE20K-like sizes with int64 masks of 150 classes and void, to one 512×512 batch (a
  quarter of every side on the CPU in quick mode); kornia runs it as one
  AugmentationSequential per sample, albumentations as its per-sample loop.

Libraries: gpuaug (its ``auto`` backend: Triton on CUDA, torch on CPU), gpuaug-torch (the
torch path on CUDA), gpuaug-inductor (``backend="inductor"``, the compiled CPU path; its
first call, compile included, is recorded as ``compile_s`` and is outside the timing),
reference (``gpuaug.reference``, CPU), kornia, albumentations (CPU, per-sample loop),
torch-compile (``torch.compile`` of the gpuaug torch path, stock settings; not in quick
mode). A library that is not installed, or cannot run a pipeline, has no row. On CUDA a
device-to-device copy of the same bytes gives the peak bandwidth the report divides by.
"""

import functools
import time

import pytest
import torch
from conftest import DEVICES, QUICK, device_name, synchronised

import gpuaug
from gpuaug import audit, inductor, peers, reference
from gpuaug.functional import warp_mask

#: (device, batch, source size, output size, image dtype) of the head-to-head comparison.
MAIN = {"cpu": (16, 256, 224, torch.float32), "cuda": (64, 512, 512, torch.uint8)}
TARGET_LIBRARIES = ["gpuaug", "gpuaug-torch", "gpuaug-inductor", "reference", "kornia", "albumentations"]
LIBRARIES = TARGET_LIBRARIES + ([] if QUICK else ["torch-compile"])


def batch(device, b, size, image_dtype, mask_dtype=torch.int64):
    g = torch.Generator().manual_seed(0)
    images = torch.rand(b, 3, size, size, generator=g)
    if image_dtype == torch.uint8:
        images = (images * 255).to(torch.uint8)
    masks = torch.randint(0, 20, (b, 1, size, size), generator=g).to(mask_dtype)
    return images.to(device), masks.to(device)


def bytes_moved(images, masks, out_size, out_element=4):
    """Bytes read and written by one call; ``images`` and ``masks`` stacked, or lists of samples."""
    b, c = len(images), images[0].shape[0]
    read = sum(t.numel() * t.element_size() for t in [*images, *(masks if masks is not None else [])])
    written = b * c * out_size**2 * out_element if c else 0
    written += b * out_size**2 * masks[0].element_size() if masks is not None else 0
    return read + written


def record(benchmark, library, pipeline, device, images, masks, out_size, **extra):
    """Describe the run in ``extra_info``; ``images`` stacked B×C×H×W or a list of C×Hᵢ×Wᵢ."""
    sizes = sorted({tuple(t.shape[-2:]) for t in images}, key=lambda hw: hw[0] * hw[1])
    source = "..".join(f"{h}x{w}" for h, w in dict.fromkeys((sizes[0], sizes[-1])))
    if len(sizes) > 1:
        source = f"{len(sizes)} sizes {source}"
    benchmark.extra_info.update(
        library=library,
        pipeline=pipeline,
        batch=len(images),
        size=f"{source}->{out_size}x{out_size}",
        device=device_name(device),
        device_type=device,
        bytes=bytes_moved(images, masks, out_size),
        torch=torch.__version__,
        **extra,
    )


@functools.cache
def probe_verdict(library, device, pipeline="geometric"):
    """The audit of a library's geometric chain (``pipeline``) on the device, once per run: on a 64×64
    batch, or for the ADE20K recipe on a list of four sizes."""
    fn = pipeline_fn(library, pipeline, device, 48)
    sizes = [(48, 64), (64, 48), (40, 52), (72, 96)] if pipeline.startswith("ade20k") else (64, 64)
    report = audit.check_pair(fn, sizes, batch_size=4, device=device)
    return {
        "probe_ok": report.ok,
        "probe_alignment_px": max(report.alignment_px),
        "probe_outside_not_ignore": report.outside_not_ignore,
        "probe_mask_dtype": report.mask_dtype,
    }


def warm_up(fn, library, pipeline, device, *inputs):
    """Call ``fn(*inputs)`` once, outside the timing (and compiling); the extra info it leaves: a
    compiled library's first call, compile included, as ``compile_s``.

    A library that cannot run the pipeline is skipped: it gets no row, not a fake one. For
    gpuaug-inductor the compiled configurations of earlier rows are dropped first: one compiled
    for another batch size (the pixel ops of the same output shape) would run this row eagerly.
    """
    if library == "gpuaug-inductor":
        inductor.clear()
    try:
        start = time.perf_counter()
        fn(*inputs)
        first_call = time.perf_counter() - start
    except Exception as exc:
        pytest.skip(f"{library} cannot run {pipeline} on {device}: {type(exc).__name__}: {exc}")
    return {"compile_s": round(first_call, 2)} if library in ("gpuaug-inductor", "torch-compile") else {}


def pipeline_fn(library, pipeline, device, out_size):
    """A pair transform for (library, pipeline) on ``device``, or None where it has none.

    For ``pipeline="targets"`` it is ``fn(images, masks, instances, depth)``; ``"ade20k"`` is
    the ADE20K recipe on lists, ``"ade20k-geometric"`` the same without the pixel ops.
    """
    ade20k = pipeline.startswith("ade20k")
    full, targets = pipeline in ("full", "ade20k"), pipeline == "targets"
    generator = torch.Generator(device).manual_seed(0)

    def named(extra):
        """gpuaug's ``targets=`` for the extra maps of the "targets" pipeline."""
        return {"targets": {"instances": extra[0], "depth": extra[1]}} if extra else {}

    if library in ("gpuaug", "gpuaug-torch", "gpuaug-inductor", "gpuaug-opencv", "torch-compile", "reference"):
        backend = {"gpuaug": "auto", "gpuaug-inductor": "inductor", "gpuaug-opencv": "opencv"}.get(library, "torch")
        if library == "gpuaug-torch" and device != "cuda":
            return None  # on the CPU, gpuaug's auto backend is the torch path already
        if library in ("gpuaug-inductor", "gpuaug-opencv") and device != "cpu":
            return None  # CPU backends (on CUDA, backend="inductor" runs the Triton kernels: the gpuaug row)
        ops = peers.ade20k_ops(out_size, full) if ade20k else peers.gpuaug_ops(out_size, full)
        aug = gpuaug.Compose(ops, backend=backend)
        if library == "reference":
            if device != "cpu":
                return None
            return lambda images, masks, *extra: reference.apply(
                images, masks, aug.sample(images, generator, masks=masks), **named(extra)
            )
        if library == "torch-compile":
            compiled = torch.compile(aug.apply)
            return lambda images, masks, *extra: compiled(images, masks, aug.sample(images, generator), **named(extra))
        return lambda images, masks, *extra: aug(images, masks, generator=generator, **named(extra))
    try:
        if library == "kornia":
            if ade20k:
                return peers.kornia_ade20k_pipeline(out_size, full=full)
            return peers.kornia_pipeline(out_size, full=full, targets=targets)
        if library == "albumentations" and device == "cpu":
            if ade20k:
                return peers.albumentations_ade20k_pipeline(out_size, full=full)
            return peers.albumentations_pipeline(out_size, full=full, targets=targets)
    except ImportError:
        pass  # the peer is not installed
    return None


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("pipeline", ["geometric", "full"])
@pytest.mark.parametrize("library", LIBRARIES)
def test_pipeline(benchmark, library, pipeline, device):
    b, size, out_size, image_dtype = MAIN[device]
    fn = pipeline_fn(library, pipeline, device, out_size)
    if fn is None:
        pytest.skip(f"{library} has no {pipeline} pipeline on {device}")
    images, masks = batch(device, b, size, image_dtype)
    if library == "albumentations":
        images = images.float() / 255 if images.dtype == torch.uint8 else images
    extra = warm_up(fn, library, pipeline, device, images, masks) | probe_verdict(library, device)
    record(benchmark, library, pipeline, device, images, masks, out_size, **extra)
    timed = synchronised(lambda: fn(images, masks), device)
    if library in ("reference", "albumentations"):
        out = benchmark.pedantic(timed, rounds=3, iterations=1)
    else:
        out = benchmark(timed)
    assert out[0].shape[-2:] == (out_size, out_size)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("library", TARGET_LIBRARIES)
def test_targets(benchmark, library, device):
    b, size, out_size, image_dtype = MAIN[device]
    fn = pipeline_fn(library, "targets", device, out_size)
    if fn is None:
        pytest.skip(f"{library} has no multi-target pipeline on {device}")
    images, masks = batch(device, b, size, image_dtype if library != "albumentations" else torch.float32)
    instances = masks * 1000 + 7
    depth = torch.rand(b, 1, size, size, generator=torch.Generator().manual_seed(1)).to(device)
    extra = warm_up(fn, library, "the multi-target chain", device, images, masks, instances, depth)
    record(benchmark, library, "targets", device, images, masks, out_size, **extra, **probe_verdict(library, device))
    benchmark.extra_info["bytes"] += (instances.numel() + b * out_size**2) * 8 + (depth.numel() + b * out_size**2) * 4
    timed = synchronised(lambda: fn(images, masks, instances, depth), device)
    rounds = {"rounds": 3, "iterations": 1} if library in ("reference", "albumentations") else None
    out = benchmark.pedantic(timed, **rounds) if rounds else benchmark(timed)
    assert out[0].shape[-2:] == (out_size, out_size)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mask_dtype", [torch.int64, torch.uint8], ids=["int64", "uint8"])
@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_masks_only(benchmark, backend, mask_dtype, device):
    if backend == "torch" and device == "cpu":
        pytest.skip("on the CPU the auto backend is the torch path")
    b, size, out_size, _ = MAIN[device]
    images, masks = batch(device, b, size, torch.uint8, mask_dtype)
    params = gpuaug.Compose(peers.gpuaug_ops(out_size)).sample(images, torch.Generator(device).manual_seed(0))
    record(
        benchmark, "gpuaug" if backend == "auto" else "gpuaug-torch", "masks", device, images[:, :0], masks, out_size
    )
    benchmark.extra_info["mask_dtype"] = str(mask_dtype).removeprefix("torch.")
    out = benchmark(
        synchronised(lambda: warp_mask(masks, params.matrix, out_size, backend=backend, perspective=False), device)
    )
    assert out.dtype == mask_dtype


#: The canvas ops benchmarked on top of the geometric chain (each with p = 1: every sample pays).
CANVAS = {
    "none": [],
    "ElasticTransform": [gpuaug.ElasticTransform(30.0, 8.0, p=1.0)],
    "CutMix": [gpuaug.CutMix(p=1.0)],
    "ClassMix": [gpuaug.ClassMix(p=1.0)],
    "Mosaic": [gpuaug.Mosaic(p=1.0)],
    "CutMix, colour before": [gpuaug.ColorJitter(0.4, 0.4, 0.4), gpuaug.CutMix(p=1.0)],
    "CutMix, colour after": [gpuaug.CutMix(p=1.0), gpuaug.ColorJitter(0.4, 0.4, 0.4)],
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", list(CANVAS))
def test_canvas(benchmark, op, device):
    """Each canvas op's cost over the plain geometric chain, same batch, same run (report: ratio to "none")."""
    b, size, out_size, image_dtype = MAIN[device]
    images, masks = batch(device, b, size, image_dtype)
    aug = gpuaug.Compose([*peers.gpuaug_ops(out_size), *CANVAS[op]])
    generator = torch.Generator(device).manual_seed(0)
    record(benchmark, "gpuaug", "canvas", device, images, masks, out_size, op=op)
    out = benchmark(synchronised(lambda: aug(images, masks, generator=generator), device))
    assert out[1].dtype == masks.dtype


SCALING = {
    "cpu": [(1, 128), (16, 128), (4, 256), (16, 256)] if QUICK else [(b, s) for b in (1, 4, 16) for s in (128, 256)],
    "cuda": [(b, s) for b in (1, 8, 64) for s in (128, 512, 1024)],
}


@pytest.mark.parametrize(
    ("device", "b", "size"), [(d, b, s) for d in DEVICES for b, s in SCALING[d]], ids=lambda v: str(v)
)
def test_scaling(benchmark, device, b, size):
    images, masks = batch(device, b, size, torch.uint8)
    aug = gpuaug.Compose(peers.gpuaug_ops(size))
    generator = torch.Generator(device).manual_seed(0)
    record(benchmark, "gpuaug", "scaling", device, images, masks, size)
    benchmark(synchronised(lambda: aug(images, masks, generator=generator), device))


#: ADE20K-like (h, w) sizes of the 16 samples: landscape, portrait, small and large.
ADE20K_SIZES = [(512, 683), (683, 512), (375, 500), (768, 1024), (512, 512), (480, 640), (427, 640), (640, 427)] * 2
#: Per device, (crop, divisor of every side): the recipe at full scale, or a quarter on the CPU in quick mode.
ADE20K = {"cpu": (128, 4) if QUICK else (512, 1), "cuda": (512, 1)}


def ade20k_batch(device, divisor):
    """16 uint8 images 3×H×W of :data:`ADE20K_SIZES` (sides divided by ``divisor``) and int64 masks H×W.

    Each mask is made of 32×32 blocks (at full scale) of classes 0-149, about one block in
    ten void (255), and every other sample has class 0 over its top half (sky, wall): a crop
    there holds more than 75 % of one class, which the class-aware crop rejects.
    """
    g = torch.Generator().manual_seed(0)
    block = 32 // divisor
    images, masks = [], []
    for k, (h, w) in enumerate(ADE20K_SIZES):
        h, w = h // divisor, w // divisor
        images.append(torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g).to(device))
        cells = torch.randint(0, 150, (-(-h // block), -(-w // block)), generator=g)
        cells[torch.rand(cells.shape, generator=g) < 0.1] = 255
        if k % 2:
            cells[: cells.shape[0] // 2] = 0
        masks.append(cells.repeat_interleave(block, 0).repeat_interleave(block, 1)[:h, :w].contiguous().to(device))
    return images, masks


#: Every library and backend that runs the ADE20K recipe (a row where it runs on the device).
ADE20K_LIBRARIES = [
    "gpuaug",
    "gpuaug-torch",
    "gpuaug-inductor",
    "gpuaug-opencv",
    "reference",
    "kornia",
    "albumentations",
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("library", ADE20K_LIBRARIES)
def test_ade20k(benchmark, library, device):
    crop, divisor = ADE20K[device]
    fn = pipeline_fn(library, "ade20k", device, crop)
    if fn is None:
        pytest.skip(f"{library} has no ADE20K pipeline on {device}")
    images, masks = ade20k_batch(device, divisor)
    first_call = warm_up(fn, library, "the ADE20K recipe", device, images, masks)
    probe = probe_verdict(library, device, "ade20k-geometric")
    record(benchmark, library, "ade20k", device, images, masks, crop, **probe, **first_call)
    timed = synchronised(lambda: fn(images, masks), device)
    out = benchmark.pedantic(timed, rounds=9, iterations=1) if device == "cpu" else benchmark(timed)
    assert out[0].shape == (len(images), 3, crop, crop) and out[1].shape == (len(images), crop, crop)
    if benchmark.stats:  # None under --benchmark-disable
        benchmark.extra_info["images_per_s"] = len(images) / benchmark.stats.stats.median


#: Per device, the crop sides of the recipe's scaling table (quick mode on the CPU: the two smaller).
ADE20K_SCALING = {"cpu": [224, 512] if QUICK else [224, 512, 1024], "cuda": [224, 512, 1024]}
#: Per device, the batches of the recipe's scaling table, one table each (a batch's fixed cost is
#: spread over more samples in the larger one; quick mode on the CPU: the smaller only).
ADE20K_SCALING_BATCHES = {"cpu": [8] if QUICK else [8, 16], "cuda": [8, 16]}


def scaling_batch(device, crop, b):
    """``b`` uint8 images 3×S×S, S = 1.25 × ``crop``, with int64 masks S×S of 16×16 blocks of 150 classes."""
    g = torch.Generator().manual_seed(0)
    side, cells = crop * 5 // 4, -(-crop * 5 // 4 // 16)
    images = torch.randint(0, 256, (b, 3, side, side), dtype=torch.uint8, generator=g)
    masks = torch.randint(0, 150, (b, cells, cells), generator=g).repeat_interleave(16, 1).repeat_interleave(16, 2)
    return images.to(device), masks[:, :side, :side].contiguous().to(device)


@pytest.mark.parametrize(
    ("device", "b", "crop"),
    [(d, b, c) for d in DEVICES for b in ADE20K_SCALING_BATCHES[d] for c in ADE20K_SCALING[d]],
    ids=lambda v: str(v),
)
@pytest.mark.parametrize("library", ["gpuaug", "gpuaug-torch", "gpuaug-inductor", "gpuaug-opencv", "albumentations"])
def test_ade20k_scaling(benchmark, library, b, crop, device):
    """The whole ADE20K recipe per output megapixel as the crop grows (report: ms/MP per library
    and size, one table per batch); gpuaug takes the stacked batch, albumentations its per-sample
    loop over the same images."""
    fn = pipeline_fn(library, "ade20k", device, crop)
    if fn is None:
        pytest.skip(f"{library} has no ADE20K pipeline on {device}")
    images, masks = scaling_batch(device, crop, b)
    if library == "albumentations":
        images, masks = list(images), list(masks)
    first_call = warm_up(fn, library, "the ADE20K recipe", device, images, masks)
    record(benchmark, library, "ade20k-scaling", device, images, masks, crop, crop=crop, **first_call)
    benchmark.extra_info["megapixels"] = len(images) * crop**2 / 1e6
    timed = synchronised(lambda: fn(images, masks), device)
    out = benchmark.pedantic(timed, rounds=9, iterations=1) if device == "cpu" else benchmark(timed)
    assert out[1].shape == (len(images), crop, crop)


#: The parts of the ADE20K recipe's geometry timed apart (the report's class-check table).
CLASS_CHECK_PARTS = ["sample", "sample without the class check", "geometric call"]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("part", CLASS_CHECK_PARTS)
def test_ade20k_class_check(benchmark, part, device):
    """The ADE20K recipe's geometric ops (gpuaug, ``auto``): ``sample`` alone, which is the
    class-aware crop's class check and the draws, the same sampling with the crop's check
    left out (``cat_max_ratio=1``), and the whole geometric call, so the report shows the
    class check's share of the recipe's geometry (the first two's difference)."""
    crop, divisor = ADE20K[device]
    images, masks = ade20k_batch(device, divisor)
    ratio = 1.0 if part == "sample without the class check" else peers.ADE20K_CAT_MAX_RATIO
    aug = gpuaug.Compose(peers.ade20k_ops(crop, full=False, cat_max_ratio=ratio))
    seeds = iter(range(10**6))  # a new draw every round, as every training step has

    def sample():
        return aug.sample(images, masks=masks, seed=next(seeds))

    fn = (lambda: aug(images, masks, seed=next(seeds))) if part == "geometric call" else sample
    fn()
    record(benchmark, "gpuaug", "class-check", device, images, masks, crop, part=part)
    timed = synchronised(fn, device)
    benchmark.pedantic(timed, rounds=9, iterations=1) if device == "cpu" else benchmark(timed)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("antialias", [False, True], ids=["plain", "antialias"])
@pytest.mark.parametrize("chain", ["geometric", "ade20k"])
def test_antialias(benchmark, chain, antialias, device):
    """The cost of ``Compose(antialias=True)`` beside the same chain without it, same batch, same
    run (report: the ratio): the geometric chain's batch, and the ADE20K recipe's list."""
    if chain == "geometric":
        b, size, out_size, image_dtype = MAIN[device]
        images, masks = batch(device, b, size, image_dtype)
        ops = peers.gpuaug_ops(out_size)
    else:
        out_size, divisor = ADE20K[device]
        images, masks = ade20k_batch(device, divisor)
        ops = peers.ade20k_ops(out_size, True)
    aug = gpuaug.Compose(ops, antialias=antialias)
    generator = torch.Generator(device).manual_seed(0)
    record(benchmark, "gpuaug", "antialias", device, images, masks, out_size, chain=chain, antialias=antialias)
    timed = synchronised(lambda: aug(images, masks, generator=generator), device)
    slow = chain == "ade20k" and device == "cpu"
    out = benchmark.pedantic(timed, rounds=3, iterations=1, warmup_rounds=1) if slow else benchmark(timed)
    assert out[1].dtype == masks[0].dtype


@pytest.mark.skipif("cuda" not in DEVICES, reason="peak bandwidth is measured on CUDA only")
def test_peak_copy(benchmark):
    b, size, out_size, image_dtype = MAIN["cuda"]
    images, masks = batch("cuda", b, size, image_dtype)
    n = bytes_moved(images, masks, out_size) // 2
    source = torch.empty(n, dtype=torch.uint8, device="cuda")
    target = torch.empty_like(source)
    benchmark.extra_info.update(library="copy", pipeline="peak", device=device_name("cuda"), bytes=2 * n)
    benchmark(synchronised(lambda: target.copy_(source), "cuda"))
