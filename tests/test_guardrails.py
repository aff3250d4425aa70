"""check_mask, ClassPixelMonitor, metrics and the overlay."""

import struct

import pytest
import torch

import gpuaug
from gpuaug import metrics, viz


def test_check_mask_accepts_valid_masks():
    mask = torch.tensor([[0, 1, 2], [255, 2, 0]], dtype=torch.uint8)
    assert gpuaug.check_mask(mask, num_classes=3) is None
    assert gpuaug.check_mask(torch.tensor([[-100, 4]]), num_classes=5, ignore_index=-100) is None


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bool])
def test_check_mask_rejects_float_and_bool(dtype):
    with pytest.raises(TypeError, match=rf"mask: expected integer labels, got {dtype}"):
        gpuaug.check_mask(torch.zeros(2, 2, dtype=dtype), num_classes=3)


def test_check_mask_reports_bad_labels_and_counts():
    mask = torch.tensor([[0, 7, 7], [-1, 255, 3]])
    with pytest.raises(
        ValueError, match=r"mask: 4 pixels have labels outside \[0, 3\) ∪ \{255\}: -1 \(1 px\), 3 \(1 px\), 7 \(2 px\)"
    ):
        gpuaug.check_mask(mask, num_classes=3)
    with pytest.raises(ValueError, match=r"num_classes: expected a positive int"):
        gpuaug.check_mask(mask, num_classes=0)


MASK_DTYPES = [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64]
#: Labels worth probing: around 0, the classic ignore values, and the edges of every dtype.
EDGE_LABELS = [-(2**63), -(2**31), -32768, -129, -128, -127, -100, -1, 0, 1, 2, 99, 100, 126, 127, 128, 155, 156]
EDGE_LABELS += [254, 255, 256, 299, 300, 32767, 32768, 2**31 - 1, 2**31, 2**63 - 1]


@pytest.mark.parametrize("dtype", MASK_DTYPES)
@pytest.mark.parametrize("num_classes", [1, 3, 100, 127, 128, 255, 256, 300, 2**31, 2**64])
@pytest.mark.parametrize("ignore_index", [255, -100, -1, 0, 127, 2**31, 2**64])
def test_check_mask_is_exact_on_every_integer_dtype(dtype, num_classes, ignore_index):
    info = torch.iinfo(dtype)
    labels = [v for v in EDGE_LABELS if info.min <= v <= info.max]
    assert info.min in labels and info.max in labels
    mask = torch.tensor(labels, dtype=dtype).view(1, 1, -1)
    before = mask.clone()
    invalid = [v for v in labels if not (0 <= v < num_classes or v == ignore_index)]
    if not invalid:
        assert gpuaug.check_mask(mask, num_classes, ignore_index) is None
    else:
        shown = ", ".join(f"{v} (1 px)" for v in invalid[:20])
        more = f" and {len(invalid) - 20} more labels" if len(invalid) > 20 else ""
        outside = f"outside [0, {num_classes}) ∪ {{{ignore_index}}}"
        message = f"mask: {len(invalid)} pixels have labels {outside}: {shown}{more}"
        with pytest.raises(ValueError) as error:
            gpuaug.check_mask(mask, num_classes, ignore_index)
        assert str(error.value) == message
    assert torch.equal(mask, before)


def test_check_mask_narrow_dtypes_do_not_wrap():
    # The cases that wrapped when the bounds were compared in the mask dtype.
    with pytest.raises(ValueError, match=r"mask: 1 pixels have labels outside \[0, 3\) ∪ \{255\}: -1 \(1 px\)"):
        gpuaug.check_mask(torch.tensor([[0, -1, 2]], dtype=torch.int8), num_classes=3, ignore_index=255)
    assert gpuaug.check_mask(torch.tensor([[0, 100, 127]], dtype=torch.int8), num_classes=300) is None
    with pytest.raises(ValueError, match=r"outside \[0, 3\) ∪ \{-100\}: 156 \(1 px\)"):
        gpuaug.check_mask(torch.tensor([[0, 156]], dtype=torch.uint8), num_classes=3, ignore_index=-100)


def test_check_mask_catches_a_normalised_or_interpolated_mask():
    mask = torch.randint(0, 3, (2, 8, 8))
    with pytest.raises(TypeError):
        gpuaug.check_mask(mask.float() / 255, num_classes=3)
    soft = torch.nn.functional.interpolate(mask[:, None].float(), scale_factor=2, mode="bilinear")
    with pytest.raises(ValueError, match=r"pixels have labels outside"):
        gpuaug.check_mask((soft * 10).long(), num_classes=3)


def test_monitor_counts_equal_bincount_and_flag_dropped_class():
    g = torch.Generator().manual_seed(0)
    before = torch.randint(0, 4, (3, 1, 10, 10), generator=g)
    before[:, :, :2] = 255
    after = before.clone()
    after[after == 3] = 0  # class 3 vanishes
    monitor = gpuaug.ClassPixelMonitor(num_classes=4)
    monitor.update(before, after)
    monitor.update(before, before)
    counts_before, counts_after = monitor.counts()
    valid = before[before != 255]
    assert torch.equal(counts_before, 2 * torch.bincount(valid, minlength=4))
    assert torch.equal(
        counts_after, torch.bincount(valid, minlength=4) + torch.bincount(after[after != 255], minlength=4)
    )
    fb, fa = monitor.fractions()
    assert torch.isclose(fb.sum(), torch.tensor(1.0, dtype=torch.float64))
    report = monitor.report(min_ratio=0.6)
    assert report.flagged == [3]
    assert "<- dropped" in str(report) and str(report).count("<- dropped") == 1
    assert gpuaug.ClassPixelMonitor(4).__class__ is gpuaug.ClassPixelMonitor
    with pytest.raises(RuntimeError, match=r"no batch seen yet"):
        gpuaug.ClassPixelMonitor(4).report()
    with pytest.raises(TypeError, match=r"masks_after: expected an integer label dtype"):
        monitor.update(before, after.float())


def test_confusion_matrix_and_miou_match_a_pixel_loop():
    g = torch.Generator().manual_seed(1)
    target = torch.randint(0, 4, (2, 6, 7), generator=g)
    target[0, 0] = 255
    pred = torch.randint(0, 5, (2, 1, 6, 7), generator=g)  # label 4 is out of range: a miss
    k = 4
    expected = torch.zeros(k, k, dtype=torch.int64)
    misses = torch.zeros(k)
    for t, p in zip(target.flatten().tolist(), pred.flatten().tolist(), strict=True):
        if t == 255:
            continue
        if p < k:
            expected[t, p] += 1
        else:
            misses[t] += 1
    cm = metrics.confusion_matrix(pred, target, k, 255)
    assert cm.dtype == torch.int64 and torch.equal(cm, expected)
    ious = []
    for c in range(k):
        inter = expected[c, c].item()
        union = expected[c].sum().item() + expected[:, c].sum().item() - inter + misses[c].item()
        if union:
            ious.append(inter / union)
    assert metrics.miou(pred, target, k, 255).item() == pytest.approx(sum(ious) / len(ious))


def test_miou_perfect_and_ignored():
    target = torch.tensor([[0, 1, 255], [1, 1, 0]])
    assert metrics.miou(target.clone(), target, 3).item() == 1.0
    pred = torch.tensor([[0, 1, 2], [1, 1, 0]])  # the wrong label sits on an ignored pixel
    assert metrics.miou(pred, target, 3).item() == 1.0
    with pytest.raises(TypeError, match=r"pred, target: expected integer labels"):
        metrics.miou(pred.float(), target, 3)


def png_size(path):
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_overlay_writes_png_of_expected_size(tmp_path):
    images = torch.rand(6, 3, 20, 30)
    masks = torch.randint(0, 5, (6, 20, 30))
    masks[:, :3] = 255
    params = gpuaug.Compose([gpuaug.RandomHorizontalFlip()]).sample(images)
    path = viz.save_overlay(images, masks, tmp_path / "grid.png", params=params, max_samples=5)
    assert png_size(path) == (4 * 352, 2 * 396)
    one = viz.save_overlay((images[:1] * 255).to(torch.uint8), masks[:1, None], tmp_path / "one.png")
    assert png_size(one) == (352, 396)
    with pytest.raises(ValueError, match=r"images: expected at least one sample"):
        viz.save_overlay(images[:0], masks[:0], tmp_path / "none.png")


def test_overlay_without_matplotlib_says_how_to_install(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match=r"pip install 'gpuaug\[viz\]'"):
        viz.save_overlay(torch.rand(1, 3, 4, 4), torch.zeros(1, 4, 4, dtype=torch.int64), tmp_path / "x.png")
