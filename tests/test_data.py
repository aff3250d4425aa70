"""Datasets on disk: SegmentationFolder (VOC, Cityscapes, ADE20K and mmseg layouts) and the list-keeping collate."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from folders import SIZES, write_ade20k, write_cityscapes, write_mmseg, write_voc
from PIL import Image

import gpuaug
from gpuaug.data import SegmentationFolder, collate

#: The 19 Cityscapes train ids, written out here independently of gpuaug.data: labelId -> train id.
CITYSCAPES_TRAIN_IDS = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
    23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}  # fmt: skip


def reduced(labels: np.ndarray) -> torch.Tensor:
    """mmsegmentation's reduce_zero_label, written out: 0 -> 255, 255 stays 255, every other k -> k - 1."""
    out = labels.astype(np.int64) - 1
    out[(labels == 0) | (labels == 255)] = 255
    return torch.from_numpy(out)


def decoded(path) -> torch.Tensor:
    """Pillow's own RGB decode of ``path`` as uint8 3×H×W (JPEG is lossy: compare to this, not to what was saved)."""
    return torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)


@pytest.fixture
def voc(tmp_path):
    return write_voc(tmp_path)


@pytest.fixture
def cityscapes(tmp_path):
    return write_cityscapes(tmp_path)


def test_voc_masks_are_the_palette_indices_and_images_rgb(voc):
    root, labels = voc
    dataset = SegmentationFolder(root, "voc", "train")
    assert len(dataset) == 3
    for i, name in enumerate("abc"):
        image, mask = dataset[i]
        h, w = SIZES[i]
        assert image.dtype == torch.uint8 and image.shape == (3, h, w)
        assert torch.equal(image, decoded(root / "JPEGImages" / f"{name}.jpg"))
        assert mask.dtype == torch.int64 and mask.shape == (h, w)
        assert torch.equal(mask, torch.from_numpy(labels[name]).long())
    assert set(dataset[0][1].unique().tolist()) == {0, 1, 5, 14, 20, 255}


def test_voc_split_file_is_honoured(voc):
    root, labels = voc
    assert [image.stem for image, _ in SegmentationFolder(root, split="train").files] == ["a", "b", "c"]
    val = SegmentationFolder(root, "voc", "val")
    assert len(val) == 1 and [mask.name for _, mask in val.files] == ["d.png"]
    assert torch.equal(val[0][1], torch.from_numpy(labels["d"]).long())


def test_cityscapes_label_ids_map_to_the_19_train_ids(cityscapes):
    root, labels = cityscapes
    dataset = SegmentationFolder(root, "cityscapes", "train")
    order = ["aachen_000000_000019", "aachen_000001_000019", "bonn_000000_000019"]  # sorted by path
    assert [image.name for image, _ in dataset.files] == [f"{name}_leftImg8bit.png" for name in order]
    for i, name in enumerate(order):
        image, mask = dataset[i]
        city = name.split("_")[0]
        assert torch.equal(image, decoded(root / "leftImg8bit" / "train" / city / f"{name}_leftImg8bit.png"))
        expected = np.vectorize(lambda label_id: CITYSCAPES_TRAIN_IDS.get(int(label_id), 255))(labels[name])
        assert mask.dtype == torch.int64 and torch.equal(mask, torch.from_numpy(expected).long())
        assert set(mask.unique().tolist()) == set(range(19)) | {255}
    assert image.shape[0] == 3  # the RGBA file too
    assert len(SegmentationFolder(root, "cityscapes", "val")) == 1


def test_ade20k_reduces_the_zero_label_by_default(tmp_path):
    root, labels = write_ade20k(tmp_path)
    dataset = SegmentationFolder(root, "ade20k", "train")
    order = ["ADE_train_00000001", "ADE_train_00000002", "ADE_train_00000010"]  # sorted by path
    assert dataset.reduce_zero_label is True
    assert [(image.name, mask.name) for image, mask in dataset.files] == [(f"{n}.jpg", f"{n}.png") for n in order]
    for i, name in enumerate(order):
        image, mask = dataset[i]
        assert torch.equal(image, decoded(root / "images/training" / f"{name}.jpg")) and image.shape[0] == 3
        assert mask.dtype == torch.int64 and torch.equal(mask, reduced(labels[name]))
    assert mask.flatten()[:6].tolist() == [255, 0, 1, 149, 253, 255]
    raw = SegmentationFolder(root, "ade20k", "train", reduce_zero_label=False)
    assert raw.reduce_zero_label is False and torch.equal(raw[0][1], torch.from_numpy(labels[order[0]]).long())
    val = SegmentationFolder(root, "ade20k", "val", return_index=True)
    assert len(val) == 1 and torch.equal(val[0][1], reduced(labels["ADE_val_1"])) and val[0][2] == 0


def test_ade20k_root_may_be_the_folder_above(tmp_path):
    root, labels = write_ade20k(tmp_path / "ADEChallengeData2016")
    dataset = SegmentationFolder(tmp_path, "ade20k", "val")
    assert dataset.root == root and torch.equal(dataset[0][1], reduced(labels["ADE_val_1"]))


def test_mmseg_layout_lists_img_dir_or_reads_the_split_file(tmp_path):
    root, labels = write_mmseg(tmp_path)
    folders = dict(img_dir="img/{split}", ann_dir="ann/{split}", img_suffix=".png", seg_map_suffix="_labelTrainIds.png")
    dataset = SegmentationFolder(root, "mmseg", **folders)
    assert dataset.reduce_zero_label is False
    stems = ["rural/a", "rural/c", "urban/b"]  # every .png under img/train, sorted by path; the .txt left out
    assert [image.relative_to(root / "img/train").as_posix() for image, _ in dataset.files] == [
        f"{s}.png" for s in stems
    ]
    for i, stem in enumerate(stems):
        image, mask = dataset[i]
        assert torch.equal(image, decoded(root / "img/train" / f"{stem}.png"))
        assert torch.equal(mask, torch.from_numpy(labels[stem]).long())  # palette PNGs read as indices
    listed = SegmentationFolder(root, "mmseg", split_file="splits/{split}.txt", reduce_zero_label=True, **folders)
    assert [mask.name for _, mask in listed.files] == ["c_labelTrainIds.png", "b_labelTrainIds.png"]
    assert torch.equal(listed[1][1], reduced(labels["urban/b"]))


def test_mmseg_layout_defaults_are_mmsegs(tmp_path):
    root, labels = write_ade20k(tmp_path)  # images/{split}/*.jpg and annotations/{split}/*.png, as mmseg's defaults
    dataset = SegmentationFolder(root, "mmseg", "validation")
    assert [image.name for image, _ in dataset.files] == ["ADE_val_1.jpg"]
    assert torch.equal(dataset[0][1], torch.from_numpy(labels["ADE_val_1"]).long())


def test_ade20k_and_mmseg_errors_name_the_path(tmp_path, voc):
    root, _ = write_ade20k(tmp_path / "ade")
    with pytest.raises(
        ValueError, match=r"split: the ade20k layout has 'train' \(images/training\) and 'val', got 'test'"
    ):
        SegmentationFolder(root, "ade20k", "test")
    with pytest.raises(TypeError, match="reduce_zero_label: expected a bool or None, got 1"):
        SegmentationFolder(root, "ade20k", reduce_zero_label=1)
    with pytest.raises(ValueError, match="reduce_zero_label: the cityscapes layout maps labelIds"):
        SegmentationFolder(root, "cityscapes", reduce_zero_label=True)
    with pytest.raises(ValueError, match=r"img_dir: only read by layout='mmseg', got 'x' with layout='ade20k'"):
        SegmentationFolder(root, "ade20k", img_dir="x")
    with pytest.raises(ValueError, match=r"split_file: only read by layout='mmseg'"):
        SegmentationFolder(voc[0], "voc", split_file="a.txt")
    (root / "annotations/training/ADE_train_00000010.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"ade20k split 'train': no such file: .*ADE_train_00000010\.png"):
        SegmentationFolder(root, "ade20k")
    with pytest.raises(FileNotFoundError, match=r"split: no such directory: .*images[/\\]training"):
        SegmentationFolder(tmp_path, "ade20k")
    with pytest.raises(FileNotFoundError, match=r"img_dir: no such directory: .*images[/\\]train$"):
        SegmentationFolder(root, "mmseg")
    with pytest.raises(ValueError, match=r"img_dir: no \*\.png images under .*images[/\\]validation"):
        SegmentationFolder(root, "mmseg", "validation", img_suffix=".png")
    with pytest.raises(FileNotFoundError, match=r"split_file: no such file: .*val\.txt"):
        SegmentationFolder(root, "mmseg", "validation", split_file="val.txt")
    (root / "empty.txt").write_text("\n")
    with pytest.raises(ValueError, match=r"split_file: .*empty\.txt lists no stems"):
        SegmentationFolder(root, "mmseg", "validation", split_file="empty.txt")
    (root / "one.txt").write_text("ADE_val_2\n")
    with pytest.raises(FileNotFoundError, match=r"mmseg split 'validation': no such file: .*ADE_val_2\.jpg"):
        SegmentationFolder(root, "mmseg", "validation", split_file="one.txt")
    with pytest.raises(ValueError, match=r"ann_dir: expected a path with at most a \{split\} field, got 'a/\{x\}'"):
        SegmentationFolder(root, "mmseg", "validation", ann_dir="a/{x}")
    with pytest.raises(ValueError, match=r"seg_map_suffix: expected a non-empty str such as '.png', got ''"):
        SegmentationFolder(root, "mmseg", "validation", seg_map_suffix="")


def test_return_index_gives_the_dataset_index(voc):
    root, _ = voc
    dataset = SegmentationFolder(root, return_index=True)
    image, mask, index = dataset[1]
    assert type(index) is int and index == 1 and image.shape == (3, *SIZES[1])
    assert dataset[-1][2] == 2 and len(SegmentationFolder(root)[0]) == 2
    with pytest.raises(IndexError, match="index: expected -3 <= index < 3, got 3"):
        dataset[3]


def test_collate_keeps_lists_and_stacks_indices():
    images = [torch.zeros(3, h, w, dtype=torch.uint8) for h, w in SIZES]
    masks = [torch.zeros(h, w, dtype=torch.int64) for h, w in SIZES]
    out_images, out_masks, ids = collate(list(zip(images, masks, [4, 0, 7], strict=True)))
    assert type(out_images) is list and all(a is b for a, b in zip(out_images, images, strict=True))
    assert type(out_masks) is list and all(a is b for a, b in zip(out_masks, masks, strict=True))
    assert ids.dtype == torch.int64 and ids.tolist() == [4, 0, 7]
    pair = collate(list(zip(images, masks, strict=True)))
    assert len(pair) == 2 and pair[0] == images and pair[1] == masks


@pytest.mark.parametrize(
    ("batch", "error", "match"),
    [
        ([], ValueError, "batch: expected a non-empty sequence"),
        ([(1, 2), (1, 2, 3)], ValueError, r"tuples or all \(image, mask, index\) tuples"),
        ([(1,)], ValueError, r"batch: expected all samples to be \(image, mask\) tuples"),
        ([(1, 2, 0.5)], TypeError, "batch: expected each sample's index to be an int, got"),
    ],
)
def test_collate_errors(batch, error, match):
    with pytest.raises(error, match=match):
        collate(batch)


def test_in_a_dataloader(voc):
    root, labels = voc
    dataset = SegmentationFolder(root, return_index=True)
    loader = torch.utils.data.DataLoader(dataset, batch_size=3, collate_fn=collate, num_workers=0)
    (images, masks, ids), *rest = list(loader)
    assert not rest and ids.tolist() == [0, 1, 2]
    assert [tuple(image.shape) for image in images] == [(3, h, w) for h, w in SIZES]
    assert all(torch.equal(m, torch.from_numpy(labels[n]).long()) for m, n in zip(masks, "abc", strict=True))
    moved = gpuaug.to_device((images, masks, ids), "cpu")
    assert type(moved[0]) is list and moved[0][2] is images[2]


def test_layout_and_split_errors(voc, tmp_path):
    root, _ = voc
    with pytest.raises(ValueError, match=r"layout: expected one of 'voc', 'cityscapes', 'ade20k', 'mmseg', got 'ADE'"):
        SegmentationFolder(root, "ADE")
    with pytest.raises(ValueError, match=r"split: expected a non-empty str"):
        SegmentationFolder(root, split="")
    with pytest.raises(TypeError, match=r"root: expected a str or os.PathLike, got int"):
        SegmentationFolder(3)
    with pytest.raises(FileNotFoundError, match=r"root: no such directory: .*nowhere"):
        SegmentationFolder(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"split: no such split file: .*Segmentation[/\\]test\.txt"):
        SegmentationFolder(root, split="test")
    (root / "ImageSets/Segmentation/empty.txt").write_text("\n\n")
    with pytest.raises(ValueError, match=r"split: .*empty\.txt lists no ids"):
        SegmentationFolder(root, split="empty")
    with pytest.raises(FileNotFoundError, match=r"split: no such directory: .*leftImg8bit[/\\]train"):
        SegmentationFolder(root, "cityscapes")
    (root / "leftImg8bit/train/aachen").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"split: no <city>/\*_leftImg8bit\.png images under"):
        SegmentationFolder(root, "cityscapes")


def test_missing_files_are_named(voc, cityscapes):
    root, _ = voc
    (root / "SegmentationClass/b.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"voc split 'train': no such file: .*SegmentationClass[/\\]b\.png"):
        SegmentationFolder(root)
    (root / "JPEGImages/d.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"no such file: .*JPEGImages[/\\]d\.jpg"):
        SegmentationFolder(root, split="val")
    root, _ = cityscapes
    (root / "gtFine/train/bonn/bonn_000000_000019_gtFine_labelIds.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"no such file: .*gtFine[/\\]train[/\\]bonn[/\\]bonn_000000_000019_"):
        SegmentationFolder(root, "cityscapes")


def test_colour_and_mismatched_masks_are_refused(voc):
    root, _ = voc
    Image.new("RGB", (53, 37)).save(root / "SegmentationClass/a.png")
    Image.new("L", (10, 10)).save(root / "SegmentationClass/b.png")
    dataset = SegmentationFolder(root)
    with pytest.raises(ValueError, match=r"a\.png: expected a palette \('P'\) or greyscale \('L'\) .* got mode 'RGB'"):
        dataset[0]
    with pytest.raises(ValueError, match=r"b\.png: size \(W, H\) \(10, 10\) differs from .*b\.jpg: \(48, 64\)"):
        dataset[1]


def test_without_pillow_the_error_names_the_extra(voc, monkeypatch):
    root, _ = voc
    dataset = SegmentationFolder(root)  # listing the files needs no Pillow
    for module in ("PIL", "PIL.Image"):
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=r"needs PIL: pip install 'gpuaug\[data\]' \(or pip install pillow\)"):
        dataset[0]


def test_a_broken_torchvision_does_not_matter(voc):
    """torchvision whose import raises RuntimeError (a build without its CUDA libs) must not reach gpuaug.data."""
    root, _ = voc
    script = textwrap.dedent(
        """
        import sys

        class BrokenTorchvision:
            def find_spec(self, name, path=None, target=None):
                if name == "torchvision" or name.startswith("torchvision."):
                    raise RuntimeError("operator torchvision::nms does not exist")

        sys.meta_path.insert(0, BrokenTorchvision())
        import gpuaug.data

        dataset = gpuaug.data.SegmentationFolder(sys.argv[1], return_index=True)
        images, masks, ids = gpuaug.data.collate([dataset[0], dataset[2]])
        assert ids.tolist() == [0, 2] and masks[1].shape == (20, 31)
        print("ok", "torchvision" in sys.modules)
        """
    )
    result = subprocess.run([sys.executable, "-c", script, str(root)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ok", "False"]
