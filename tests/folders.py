"""Tiny dataset trees on disk (VOC, Cityscapes, ADE20K, mmseg layouts) for the tests of gpuaug.data and the example."""

import numpy as np
from PIL import Image

#: H×W per item: every item a different size, so nothing can be stacked.
SIZES = [(37, 53), (64, 48), (20, 31)]
VOC_LABELS = np.array([0, 1, 5, 14, 20, 255], dtype=np.uint8)
#: Palette colour k is far from (k, k, k), so a mask read through its colours (RGB or greyscale) gives other values.
PALETTE = [value for k in range(256) for value in ((k * 37 + 11) % 256, (k * 91 + 140) % 256, (255 - k * 7) % 256)]


def random_image(rng, h, w, mode="RGB") -> Image.Image:
    image = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    return image.convert(mode)


def palette_png(labels: np.ndarray, path) -> None:
    mask = Image.fromarray(labels, mode="L").convert("P")  # "L" -> "P" keeps the values as the indices
    mask.putpalette(PALETTE)
    mask.save(path)


def write_voc(root):
    """A VOC tree under ``root``: train = a, b, c (different sizes, c a greyscale JPEG), val = d; e is in no split.

    Returns ``(root, labels)``, ``labels`` each item's uint8 H×W class indices (0, 1, 5, 14, 20, 255).
    """
    rng = np.random.default_rng(0)
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / folder).mkdir(parents=True)
    labels = {}
    for name, (h, w), mode in zip("abcde", [*SIZES, (16, 24), (8, 8)], ["RGB", "RGB", "L", "RGB", "RGB"], strict=True):
        random_image(rng, h, w, mode).save(root / "JPEGImages" / f"{name}.jpg", quality=90)
        labels[name] = rng.choice(VOC_LABELS, (h, w))
        palette_png(labels[name], root / "SegmentationClass" / f"{name}.png")
    (root / "ImageSets/Segmentation/train.txt").write_text("a\nb\n\nc  \n")
    (root / "ImageSets/Segmentation/val.txt").write_text("d\n")
    return root, labels


def write_cityscapes(root):
    """A Cityscapes tree under ``root``: train = aachen (2 images, one RGBA) + bonn (1), every labelId 0..33
    present; val = one. Returns ``(root, labels)``, ``labels`` each image's uint8 H×W labelIds."""
    rng = np.random.default_rng(1)
    names = {"train": ["aachen_000001_000019", "aachen_000000_000019", "bonn_000000_000019"], "val": ["lindau_000000"]}
    labels = {}
    for split, split_names in names.items():
        for k, name in enumerate(split_names):
            h, w = SIZES[k]
            city = name.split("_")[0]
            for folder in ("leftImg8bit", "gtFine"):
                (root / folder / split / city).mkdir(parents=True, exist_ok=True)
            mode = "RGBA" if k == 1 else "RGB"
            random_image(rng, h, w, mode).save(root / "leftImg8bit" / split / city / f"{name}_leftImg8bit.png")
            ids = rng.integers(0, 34, (h, w), dtype=np.uint8)
            ids.flat[:34] = np.arange(34)
            labels[name] = ids
            Image.fromarray(ids, mode="L").save(root / "gtFine" / split / city / f"{name}_gtFine_labelIds.png")
    return root, labels


def every_label(rng, h, w) -> np.ndarray:
    """uint8 H×W labels holding 0, 1, 2, 150, 254 and 255 (the edges of reduce_zero_label) and random others."""
    labels = rng.integers(0, 256, (h, w), dtype=np.uint8)
    labels.flat[:6] = [0, 1, 2, 150, 254, 255]
    return labels


def write_ade20k(root):
    """An ADEChallengeData2016 tree under ``root``: training = 3 images of different sizes (one greyscale),
    validation = 1. Returns ``(root, labels)``, ``labels`` each file's stored uint8 H×W values by name."""
    rng = np.random.default_rng(2)
    names = {
        "training": ["ADE_train_00000002", "ADE_train_00000001", "ADE_train_00000010"],
        "validation": ["ADE_val_1"],
    }
    labels = {}
    for folder, split_names in names.items():
        for kind in ("images", "annotations"):
            (root / kind / folder).mkdir(parents=True)
        for k, name in enumerate(split_names):
            h, w = SIZES[k]
            random_image(rng, h, w, "L" if k == 2 else "RGB").save(root / "images" / folder / f"{name}.jpg")
            labels[name] = every_label(rng, h, w)
            Image.fromarray(labels[name], mode="L").save(root / "annotations" / folder / f"{name}.png")
    return root, labels


def write_mmseg(root):
    """An mmseg custom tree under ``root`` (LoveDA / COCO-Stuff style): ``img/train/<area>/<stem>.png`` and
    ``ann/train/<area>/<stem>_labelTrainIds.png``, a stray ``.txt`` among the images, and ``splits/train.txt``
    listing two stems. Returns ``(root, labels)``, ``labels`` each stem's stored uint8 H×W values."""
    rng = np.random.default_rng(3)
    stems = ["urban/b", "rural/a", "rural/c"]
    labels = {}
    for k, stem in enumerate(stems):
        h, w = SIZES[k]
        for folder in ("img/train", "ann/train"):
            (root / folder / stem).parent.mkdir(parents=True, exist_ok=True)
        random_image(rng, h, w).save(root / "img/train" / f"{stem}.png")
        labels[stem] = every_label(rng, h, w)
        palette_png(labels[stem], root / "ann/train" / f"{stem}_labelTrainIds.png")
    (root / "img/train/notes.txt").write_text("not an image")
    (root / "splits").mkdir()
    (root / "splits/train.txt").write_text("rural/c\n\nurban/b\n")
    return root, labels
