"""Seeded batches for the class-aware crop, and the candidate each sample chose.

``tests/data/class_check_attempts.json`` holds the ``attempt`` draws (the candidate used,
0-10) that every case below gave before the class check was rewritten to count labels
without materialised candidate views; ``tests/test_class_check.py`` holds every backend to
them. ``python tests/class_check_cases.py`` prints the attempts of the current code as JSON
(to rerecord only when the sampling itself changes on purpose).
"""

import json
import sys

import torch

import gpuaug

#: (h, w) of the list cases: ADE20K-like shapes at an eighth of their size.
LIST_SIZES = [(64, 85), (85, 64), (47, 62), (96, 128), (64, 64), (60, 80), (53, 80), (80, 53)]


def block_masks(sizes, block, classes, generator, dominant, dtype=torch.int64, offset=0, ignore=255):
    """Masks of ``block``-pixel cells of random classes (one cell in ten ``ignore``); every
    other sample has class ``offset`` over its top ``dominant`` fraction, so early candidates
    fail the check there."""
    masks = []
    for k, (h, w) in enumerate(sizes):
        cells = torch.randint(0, classes, (-(-h // block), -(-w // block)), generator=generator) + offset
        cells[torch.rand(cells.shape, generator=generator) < 0.1] = ignore
        if k % 2:
            cells[: int(cells.shape[0] * dominant)] = offset
        mask = cells.repeat_interleave(block, 0).repeat_interleave(block, 1)[:h, :w]
        masks.append(mask.to(dtype).contiguous())
    return masks


def cases():
    """name → (Compose keyword arguments, ops, images, masks, call keyword arguments)."""
    g = torch.Generator().manual_seed(0)
    out = {}
    masks = block_masks(LIST_SIZES, 8, 150, g, 0.7)
    images = [torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g) for h, w in LIST_SIZES]
    ops = [gpuaug.RandomResize((64, 256), ratio_range=(0.5, 2.0)), gpuaug.RandomCrop(64, True, cat_max_ratio=0.75)]
    out["ade-list"] = ({}, ops, images, masks, {})
    stacked = torch.stack(block_masks([(40, 48)] * 8, 4, 6, g, 0.55))
    ops = [gpuaug.RandomAffine(30, scale=(0.8, 1.2)), gpuaug.RandomCrop(24, cat_max_ratio=0.6)]
    out["rotated"] = ({}, ops, torch.rand(8, 3, 40, 48, generator=g), stacked, {})
    padded = torch.full((8, 50, 60), 255, dtype=torch.int64)
    sizes = [(50, 60), (30, 40), (45, 20), (24, 60)] * 2
    for k, (mask, (h, w)) in enumerate(zip(block_masks(sizes, 5, 4, g, 0.8), sizes, strict=True)):
        padded[k, :h, :w] = mask
    ops = [gpuaug.RandomCrop(28, True, cat_max_ratio=0.75)]
    out["padded-sizes"] = ({}, ops, torch.rand(8, 3, 50, 60, generator=g), padded, {"sizes": sizes})
    wide = torch.stack(block_masks([(32, 32)] * 8, 4, 5, g, 0.8, offset=70_000, ignore=-1))
    wide[::3, :4] = -5  # negative labels, below any bin
    ops = [gpuaug.RandomCrop(16, cat_max_ratio=0.7)]
    out["wide-labels"] = ({"ignore_index": -1}, ops, torch.rand(8, 3, 32, 32, generator=g), wide, {})
    small = torch.stack(block_masks([(36, 36)] * 8, 6, 3, g, 0.6, dtype=torch.uint8))
    ops = [gpuaug.RandomScale((0.8, 1.5)), gpuaug.RandomCrop(20, True, cat_max_ratio=0.75)]
    out["uint8"] = ({}, ops, torch.rand(8, 1, 36, 36, generator=g), small, {})
    reflect = torch.stack(block_masks([(30, 40)] * 8, 5, 4, g, 0.65))
    ops = [gpuaug.RandomAffine(20, translate=(0.2, 0.2)), gpuaug.RandomCrop(24, cat_max_ratio=0.7)]
    settings = {"padding_mode": "reflect", "mask_padding": "same"}
    out["reflect-same"] = (settings, ops, torch.rand(8, 3, 30, 40, generator=g), reflect, {})
    persp = torch.stack(block_masks([(32, 32)] * 8, 4, 4, g, 0.6, dtype=torch.int32))
    ops = [gpuaug.RandomPerspective(0.5, p=1.0), gpuaug.RandomCrop(20, cat_max_ratio=0.7)]
    out["perspective"] = ({}, ops, torch.rand(8, 3, 32, 32, generator=g), persp, {})
    return out


def attempts(backend: str, device: torch.device, seeds: int = 4, names=None) -> dict[str, list[list[int]]]:
    """Per case (or per case of ``names``): the attempts of seeds 0 to ``seeds`` − 1 (sample ids 10-17)."""
    found = {}
    for name, (settings, ops, images, masks, call) in cases().items():
        if names is not None and name not in names:
            continue
        aug = gpuaug.Compose(ops, backend=backend, **settings)
        move = (lambda t: t.to(device)) if not isinstance(images, list) else (lambda ts: [t.to(device) for t in ts])
        rows = []
        for seed in range(seeds):
            params = aug.sample(move(images), masks=move(masks), seed=seed, sample_ids=range(10, 18), **call)
            crop = next(r for r in params.ops if "attempt" in r.draws)
            rows.append(crop.draws["attempt"].tolist())
        found[name] = rows
    return found


if __name__ == "__main__":
    json.dump(attempts(sys.argv[1] if len(sys.argv) > 1 else "torch", torch.device("cpu")), sys.stdout, indent=1)
