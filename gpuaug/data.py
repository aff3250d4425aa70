"""Getting batches from disk and a DataLoader onto the device, for augmentation in the training step.

The recipe: keep the dataset cheap (decode to uint8 tensors, no augmentation in workers),
let the DataLoader collate and pin the batch, move it with ``non_blocking=True``, and
augment the whole batch on the device inside the training step::

    loader = DataLoader(dataset, batch_size=32, num_workers=4, pin_memory=True, shuffle=True)
    aug = gpuaug.Compose([...])
    for epoch in range(epochs):
        for step, (images, masks, ids) in enumerate(loader):           # uint8 B×3×H×W, int64 B×H×W
            images, masks, ids = gpuaug.to_device((images, masks, ids), "cuda")
            images, masks = aug(images, masks, seed=epoch, sample_ids=ids)

uint8 batches are a quarter of the float32 bytes over PCIe, and the copy overlaps with
the previous step's compute. With ``seed`` and ``sample_ids`` (dataset indices) each
sample's augmentation is the same whatever the batch composition or the number of GPUs
(except what a mixing op pastes in: its partners come from the batch).

Datasets on disk whose images differ in size (Pascal VOC, Cityscapes, ADE20K, mmsegmentation's
custom layout) cannot be stacked:
:class:`SegmentationFolder` decodes one sample in a worker (Pillow, the ``data`` extra) and
:func:`collate` keeps the batch as lists, which the loader pins and ``to_device`` moves::

    dataset = gpuaug.data.SegmentationFolder("VOCdevkit/VOC2012", "voc", "train", return_index=True)
    loader = DataLoader(dataset, batch_size=16, num_workers=4, pin_memory=True, shuffle=True,
                        collate_fn=gpuaug.data.collate)
    for epoch in range(epochs):
        for images, masks, ids in loader:        # lists of uint8 3×Hi×Wi and int64 Hi×Wi, int64 B
            images, masks, ids = gpuaug.to_device((images, masks, ids), "cuda")
            images, masks = aug(images, masks, seed=epoch, sample_ids=ids)

Decoding stays on the CPU in the workers; torchvision (and its GPU JPEG decoder) is not
used, so neither a missing nor a broken torchvision install affects this module.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from gpuaug.core import device as core_device
from gpuaug.optional import require

__all__ = ["to_device", "SegmentationFolder", "collate"]

#: Cityscapes labelIds (the values in ``*_gtFine_labelIds.png``) of the 19 evaluated classes,
#: in train-id order: road, sidewalk, building, wall, fence, pole, traffic light, traffic sign,
#: vegetation, terrain, sky, person, rider, car, truck, bus, train, motorcycle, bicycle.
CITYSCAPES_EVAL_IDS = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)
LAYOUTS = ("voc", "cityscapes", "ade20k", "mmseg")
#: The folder names of the ade20k layout's splits, and the benchmark's folder.
ADE20K_SPLITS = {"train": "training", "val": "validation"}
ADE20K_FOLDER = "ADEChallengeData2016"
#: The train id of every labelId a uint8 mask can hold; 255 (void) for the non-evaluated ones.
_CITYSCAPES_TRAIN_ID = torch.full((256,), 255, dtype=torch.int64)
_CITYSCAPES_TRAIN_ID[list(CITYSCAPES_EVAL_IDS)] = torch.arange(len(CITYSCAPES_EVAL_IDS))
#: mmsegmentation's ``reduce_zero_label`` on every uint8 value: 0 → 255, k → k − 1, 255 stays 255.
_REDUCE_ZERO_LABEL = torch.arange(-1, 255, dtype=torch.int64)
_REDUCE_ZERO_LABEL[0] = 255
_REDUCE_ZERO_LABEL[255] = 255
#: The keyword-only arguments of the mmseg layout and their defaults.
_MMSEG_DEFAULTS = {
    "img_dir": "images/{split}",
    "ann_dir": "annotations/{split}",
    "img_suffix": ".jpg",
    "seg_map_suffix": ".png",
    "split_file": None,
}


def to_device(batch, device: torch.device | str, non_blocking: bool = True):
    """Move every tensor in ``batch`` (a tensor, or nested tuples / lists / dicts) to ``device``.

    CPU tensors bound for CUDA are pinned first (a no-op when the DataLoader already pinned
    them) so the copy is asynchronous; other objects are returned as they are. Tuples,
    named tuples, lists and dicts keep their type.
    """
    if not isinstance(device, (torch.device, str, int)) or isinstance(device, bool):
        raise TypeError(f"device: expected a torch.device or a str such as 'cuda', got {type(device).__name__}")
    try:
        device = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device: {exc}") from exc
    if isinstance(batch, torch.Tensor):
        return core_device.to_device(batch, device, non_blocking)
    if isinstance(batch, Mapping):
        return type(batch)({k: to_device(v, device, non_blocking) for k, v in batch.items()})
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(to_device(v, device, non_blocking) for v in batch))
    if isinstance(batch, Sequence) and not isinstance(batch, (str, bytes)):
        return type(batch)(to_device(v, device, non_blocking) for v in batch)
    return batch


class SegmentationFolder(torch.utils.data.Dataset):
    """A segmentation dataset on disk: item ``i`` is ``(image, mask)``, or ``(image, mask, i)`` with ``return_index``.

    ``image`` is uint8 3×H×W (RGB whatever the file's mode), ``mask`` int64 H×W of class
    indices with 255 for void; sizes may differ between items (batch them with :func:`collate`).
    ``i`` is the dataset index as an int, for the augmentation's ``sample_ids=``.

    Layouts (``root`` is the folder that holds the named subfolders):

    - ``"voc"`` (Pascal VOC): ids listed one per line in ``ImageSets/Segmentation/{split}.txt``,
      images ``JPEGImages/<id>.jpg``, masks ``SegmentationClass/<id>.png``. The masks are
      palette ("P") or greyscale PNGs whose stored values are the class indices; they are
      read as indices, never through the palette's colours.
    - ``"cityscapes"``: images ``leftImg8bit/{split}/<city>/<name>_leftImg8bit.png``, masks
      ``gtFine/{split}/<city>/<name>_gtFine_labelIds.png``, sorted by path; labelIds are mapped
      to the 19 train ids (:data:`CITYSCAPES_EVAL_IDS`: road 7 → 0 … bicycle 33 → 18), every
      other labelId to 255.
    - ``"ade20k"`` (``ADEChallengeData2016``, the MIT scene-parsing benchmark; ``root`` is
      that folder or the one holding it): split ``"train"`` or ``"val"``, images
      ``images/training|validation/<name>.jpg``, masks ``annotations/training|validation/
      <name>.png``, sorted by path; ``reduce_zero_label`` by default, so the 150 classes
      are 0–149 and "other" (0) is 255.
    - ``"mmseg"``: mmsegmentation's generic custom layout (COCO-Stuff, LoveDA, Potsdam-style
      trees), set by the keyword-only arguments below: images ``root/img_dir/<stem>img_suffix``,
      masks ``root/ann_dir/<stem>seg_map_suffix``. Without ``split_file`` every file under
      ``img_dir`` (subfolders included) whose name ends with ``img_suffix`` is an item, sorted
      by path as mmsegmentation sorts them; with it, the stems listed one per line in
      ``root/split_file``, in that order. ``{split}`` in ``img_dir``, ``ann_dir`` and
      ``split_file`` is replaced by ``split``.

    Args:
        root: the dataset's folder.
        layout: one of :data:`LAYOUTS`.
        split: the split to read (a folder or a split file's name, as the layout says).
        return_index: return the dataset index as a third item.
        reduce_zero_label: mmsegmentation's label reduction, applied to the stored values:
            0 → 255, k → k − 1 for 1 ≤ k ≤ 254, 255 stays 255. None (default) takes the
            layout's default: True for ``"ade20k"``, False for the others. The cityscapes
            layout maps labelIds to train ids itself and refuses True.
        img_dir, ann_dir, img_suffix, seg_map_suffix, split_file: the ``"mmseg"`` layout's
            folders (relative to ``root``), file-name endings and split file (a file of stems,
            relative to ``root``; None: list ``img_dir``), as mmsegmentation's dataset
            arguments of the same names; the other layouts refuse values other than the defaults.

    Files are listed and checked when the dataset is built; decoding (Pillow, ``pip install
    'gpuaug[data]'``) happens in ``__getitem__``, so in the DataLoader's workers. Attributes:
    ``files``, the ``(image_path, mask_path)`` pairs in index order; ``reduce_zero_label``,
    the resolved bool.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        layout: str = "voc",
        split: str = "train",
        *,
        return_index=False,
        reduce_zero_label: bool | None = None,
        img_dir: str = "images/{split}",
        ann_dir: str = "annotations/{split}",
        img_suffix: str = ".jpg",
        seg_map_suffix: str = ".png",
        split_file: str | os.PathLike | None = None,
    ):
        if layout not in LAYOUTS:
            raise ValueError(f"layout: expected one of {', '.join(map(repr, LAYOUTS))}, got {layout!r}")
        if not isinstance(split, str) or not split:
            raise ValueError(f"split: expected a non-empty str such as 'train', got {split!r}")
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"root: expected a str or os.PathLike, got {type(root).__name__}")
        folders = {
            "img_dir": img_dir,
            "ann_dir": ann_dir,
            "img_suffix": img_suffix,
            "seg_map_suffix": seg_map_suffix,
            "split_file": split_file,
        }
        self.reduce_zero_label = self._reduce_zero_label(layout, reduce_zero_label)
        if layout == "ade20k" and split not in ADE20K_SPLITS:
            raise ValueError(f"split: the ade20k layout has 'train' (images/training) and 'val', got {split!r}")
        if layout != "mmseg":
            for name, value in folders.items():
                if value != _MMSEG_DEFAULTS[name]:
                    raise ValueError(f"{name}: only read by layout='mmseg', got {value!r} with layout={layout!r}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"root: no such directory: {self.root}")
        if layout == "ade20k" and not (self.root / "images").is_dir() and (self.root / ADE20K_FOLDER).is_dir():
            self.root = self.root / ADE20K_FOLDER  # the folder above the benchmark's own
        self.layout = layout
        self.split = split
        self.return_index = bool(return_index)
        if layout == "voc":
            self.files = self._voc_files()
        elif layout == "cityscapes":
            self.files = self._cityscapes_files()
        elif layout == "ade20k":
            folder = ADE20K_SPLITS[split]
            self.files = self._listed_files(
                Path("images", folder), Path("annotations", folder), ".jpg", ".png", "split"
            )
        else:
            self.files = self._mmseg_files(**folders)
        for image_path, mask_path in self.files:
            for path in (image_path, mask_path):
                if not path.is_file():
                    raise FileNotFoundError(f"{layout} split {split!r}: no such file: {path}")

    @staticmethod
    def _reduce_zero_label(layout: str, reduce_zero_label) -> bool:
        if reduce_zero_label is None:
            return layout == "ade20k"
        if not isinstance(reduce_zero_label, bool):
            raise TypeError(f"reduce_zero_label: expected a bool or None, got {reduce_zero_label!r}")
        if reduce_zero_label and layout == "cityscapes":
            raise ValueError(
                "reduce_zero_label: the cityscapes layout maps labelIds to the 19 train ids (void 255) itself; "
                "reduce_zero_label=True does not apply to it"
            )
        return reduce_zero_label

    def _voc_files(self) -> list[tuple[Path, Path]]:
        split_file = self.root / "ImageSets" / "Segmentation" / f"{self.split}.txt"
        if not split_file.is_file():
            raise FileNotFoundError(f"split: no such split file: {split_file}")
        ids = [line.strip() for line in split_file.read_text().splitlines() if line.strip()]
        if not ids:
            raise ValueError(f"split: {split_file} lists no ids")
        return [(self.root / "JPEGImages" / f"{i}.jpg", self.root / "SegmentationClass" / f"{i}.png") for i in ids]

    def _cityscapes_files(self) -> list[tuple[Path, Path]]:
        image_dir = self.root / "leftImg8bit" / self.split
        if not image_dir.is_dir():
            raise FileNotFoundError(f"split: no such directory: {image_dir}")
        images = sorted(image_dir.glob("*/*_leftImg8bit.png"))
        if not images:
            raise ValueError(f"split: no <city>/*_leftImg8bit.png images under {image_dir}")
        mask_dir = self.root / "gtFine" / self.split
        suffix = "_leftImg8bit.png"
        return [(p, mask_dir / p.parent.name / (p.name[: -len(suffix)] + "_gtFine_labelIds.png")) for p in images]

    def _mmseg_files(self, img_dir, ann_dir, img_suffix, seg_map_suffix, split_file) -> list[tuple[Path, Path]]:
        for name, value in (("img_suffix", img_suffix), ("seg_map_suffix", seg_map_suffix)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name}: expected a non-empty str such as '.png', got {value!r}")
        img_dir, ann_dir = self._split_path("img_dir", img_dir), self._split_path("ann_dir", ann_dir)
        if split_file is None:
            return self._listed_files(img_dir, ann_dir, img_suffix, seg_map_suffix, "img_dir")
        path = self.root / self._split_path("split_file", split_file)
        if not path.is_file():
            raise FileNotFoundError(f"split_file: no such file: {path}")
        stems = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        if not stems:
            raise ValueError(f"split_file: {path} lists no stems")
        images, masks = self.root / img_dir, self.root / ann_dir
        return [(images / f"{stem}{img_suffix}", masks / f"{stem}{seg_map_suffix}") for stem in stems]

    def _split_path(self, name: str, value) -> Path:
        """``value`` (a str or os.PathLike, relative to the root) with ``{split}`` replaced by the split."""
        if not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"{name}: expected a str or os.PathLike, got {type(value).__name__}")
        try:
            return Path(os.fspath(value).format(split=self.split))
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"{name}: expected a path with at most a {{split}} field, got {value!r}") from exc

    def _listed_files(self, img_dir: Path, ann_dir: Path, img_suffix: str, seg_suffix: str, name: str):
        """Every file under ``root/img_dir`` ending with ``img_suffix``, sorted by path, each with
        the mask of the same relative stem under ``root/ann_dir``; errors name the argument ``name``."""
        images, masks = self.root / img_dir, self.root / ann_dir
        if not images.is_dir():
            raise FileNotFoundError(f"{name}: no such directory: {images}")
        found = sorted((p for p in images.rglob(f"*{img_suffix}") if p.is_file()), key=str)
        if not found:
            raise ValueError(f"{name}: no *{img_suffix} images under {images}")
        stems = [p.relative_to(images).as_posix()[: -len(img_suffix)] for p in found]
        return [(p, masks / f"{stem}{seg_suffix}") for p, stem in zip(found, stems, strict=True)]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index):
        index = operator.index(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index: expected -{len(self)} <= index < {len(self)}, got {index}")
        index %= len(self)
        image_path, mask_path = self.files[index]
        pil = require("PIL.Image", "data", "gpuaug.data.SegmentationFolder", package="pillow")
        with pil.open(image_path) as file:
            rgb = file.convert("RGB")
        with pil.open(mask_path) as file:
            if file.mode not in ("P", "L"):
                raise ValueError(
                    f"mask {mask_path}: expected a palette ('P') or greyscale ('L') PNG of class indices, "
                    f"got mode {file.mode!r}"
                )
            # tobytes() of a "P" image is its palette indices, of an "L" image its values: never colours.
            labels = file.tobytes()
            if file.size != rgb.size:
                raise ValueError(f"mask {mask_path}: size (W, H) {file.size} differs from {image_path}: {rgb.size}")
        width, height = rgb.size
        image = torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8).view(height, width, 3)
        image = image.permute(2, 0, 1).contiguous()
        mask = torch.frombuffer(bytearray(labels), dtype=torch.uint8).view(height, width).long()
        if self.layout == "cityscapes":
            mask = _CITYSCAPES_TRAIN_ID[mask]
        if self.reduce_zero_label:
            mask = _REDUCE_ZERO_LABEL[mask]
        return (image, mask, index) if self.return_index else (image, mask)


def collate(batch: Sequence[tuple]) -> tuple:
    """DataLoader ``collate_fn`` for samples of different sizes: keep images and masks as lists.

    ``batch`` is a sequence of ``(image, mask)`` or of ``(image, mask, index)`` tuples (as
    :class:`SegmentationFolder` returns them). Returns ``(images, masks)`` (two lists, in batch
    order, the tensors as they are) or ``(images, masks, indices)`` with ``indices`` an int64
    tensor of shape (B,), ready for ``sample_ids=``.
    """
    if not isinstance(batch, Sequence) or not batch:
        raise ValueError(f"batch: expected a non-empty sequence of (image, mask[, index]) tuples, got {batch!r}")
    lengths = {len(sample) if isinstance(sample, (tuple, list)) else None for sample in batch}
    if lengths not in ({2}, {3}):
        raise ValueError("batch: expected all samples to be (image, mask) tuples or all (image, mask, index) tuples")
    columns = [list(column) for column in zip(*batch, strict=True)]
    if len(columns) == 3:
        try:
            columns[2] = torch.tensor([operator.index(i) for i in columns[2]], dtype=torch.int64)
        except TypeError as exc:
            raise TypeError(f"batch: expected each sample's index to be an int, got {columns[2]!r}") from exc
    return tuple(columns)
