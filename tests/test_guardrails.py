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


def test_check_mask_reports_bad_labels_and_counts():
    mask = torch.tensor([[0, 7, 7], [-1, 255, 3]])
    with pytest.raises(
        ValueError, match=r"mask: 4 pixels have labels outside \[0, 3\) ∪ \{255\}: -1 \(1 px\), 3 \(1 px\), 7 \(2 px\)"
    ):
        gpuaug.check_mask(mask, num_classes=3)


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


@pytest.mark.parametrize(
    "images",
    [
        torch.tensor([0, 7, 255], dtype=torch.uint8),
        torch.tensor([0.0, 0.5, 1.0]),
        torch.tensor([0.0, 1.0], dtype=torch.bfloat16),
        torch.rand(2, 3, 5, 5, dtype=torch.float64),
        torch.rand(2, 3, 5, 5).half().contiguous(memory_format=torch.channels_last),
        torch.empty(0, 3, 4, 4),
    ],
)
def test_check_image_values_accepts_images_in_the_unit_range(images):
    before = images.clone()
    assert gpuaug.check_image_values(images) is None
    assert torch.equal(images, before)


@pytest.mark.parametrize("bad", [1.0 + 2**-20, -(2**-20), 255.0, float("nan"), float("inf"), -float("inf")])
def test_check_image_values_rejects_one_bad_value(bad):
    images = torch.rand(2, 3, 6, 6)
    images[1, 2, 3, 4] = bad
    with pytest.raises(ValueError, match=r"images: expected values in \[0, 1\]"):
        gpuaug.check_image_values(images)


def test_monitor_reset_starts_the_counts_again():
    masks = torch.tensor([[[0, 1, 1], [2, 255, 1]]])
    monitor = gpuaug.ClassPixelMonitor(num_classes=3)
    monitor.update(masks, masks)
    monitor.update(masks, torch.zeros_like(masks))
    assert monitor.counts()[0].tolist() == [2, 6, 2]  # cumulative over both updates
    monitor.reset()
    with pytest.raises(RuntimeError, match=r"no batch seen yet"):
        monitor.counts()
    monitor.update(masks, torch.zeros_like(masks))
    before, after = monitor.counts()
    assert before.tolist() == [1, 3, 1] and after.tolist() == [6, 0, 0]


def read_png(path):
    import matplotlib.image

    return torch.from_numpy(matplotlib.image.imread(path).copy())


def test_overlay_undoes_a_normalize(tmp_path):
    g = torch.Generator().manual_seed(2)
    images = torch.rand(3, 3, 12, 16, generator=g)
    masks = torch.randint(0, 4, (3, 12, 16), generator=g)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    normalised = gpuaug.Compose([gpuaug.Normalize(mean, std)])(images)
    assert normalised.min() < -1.5  # drawn as it is, most of it would clamp to black
    torch.testing.assert_close(viz._display_rgb(normalised, mean, std), images, atol=1e-6, rtol=0)
    grey = viz._display_rgb(normalised[:, :1], 0.5, 0.25)
    assert grey.shape == images.shape and torch.equal(grey[:, 0], grey[:, 2])
    torch.testing.assert_close(grey[:, 0], (normalised[:, 0] * 0.25 + 0.5).clamp(0, 1))
    plain = viz.save_overlay(images, masks, tmp_path / "plain.png")
    undone = viz.save_overlay(normalised, masks, tmp_path / "undone.png", mean=mean, std=std)
    raw = viz.save_overlay(normalised, masks, tmp_path / "raw.png")
    assert (read_png(undone) - read_png(plain)).abs().max() <= 1 / 255
    assert (read_png(raw) - read_png(plain)).abs().max() > 0.2


def test_overlay_captions_stay_inside_their_cells():
    from matplotlib.image import AxesImage
    from matplotlib.text import Text

    images = torch.rand(6, 3, 20, 30)
    masks = torch.randint(0, 5, (6, 20, 30))
    ops = [gpuaug.RandomResizedCrop((20, 30)), gpuaug.RandomPerspective(p=1.0)]
    ops += [gpuaug.RandomAffine(10, shear=(1, 2, 3, 4)), gpuaug.ColorJitter(0.2, 0.2, 0.2, 0.1)]
    ops += [gpuaug.GaussianNoise(), gpuaug.GaussianBlur(3)]
    params = gpuaug.Compose(ops).sample(images, torch.Generator().manual_seed(0))
    long_line = "x" * 300
    titles = [params.describe(k) for k in range(4)] + [long_line, "\n".join([long_line] * 40)]
    for kwargs in ({"params": params, "titles": None}, {"params": None, "titles": titles}):
        fig = viz._figure(images, masks, 255, max_samples=6, mean=None, std=None, **kwargs)
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        cell_w = viz.CELL[0] * fig.dpi
        captions = [t for t in fig.findobj(Text) if t.get_text().strip()]
        pictures = [image.axes.get_window_extent(renderer) for image in fig.findobj(AxesImage)]
        assert len(captions) == 6
        for k, caption in enumerate(captions):
            box, band = caption.get_window_extent(renderer), caption.axes.get_window_extent(renderer)
            col = k % viz.COLUMNS
            assert col * cell_w <= box.x0 and box.x1 <= (col + 1) * cell_w, (k, box)
            # Whole inside its caption band: nothing clipped, nothing over another cell's image.
            assert band.y0 - 1 <= box.y0 and box.y1 <= band.y1 + 1 and band.x0 - 1 <= box.x0 and box.x1 <= band.x1 + 1
            assert not any(box.overlaps(picture) for picture in pictures), k
        viz._pyplot().close(fig)


def test_ignore_hatching_shows_on_a_black_image(tmp_path):
    images = torch.zeros(1, 3, 48, 48)
    masks = torch.full((1, 48, 48), 255)
    rgba = viz._mask_rgba(masks[0], 255, viz._pyplot().get_cmap("tab20"))
    opaque = rgba[..., 3] > 0.5
    assert (rgba[..., :3][opaque] > 0.9).all(-1).any() and (rgba[..., :3][opaque] < 0.1).all(-1).any()
    assert 0.2 < opaque.float().mean() < 0.8  # stripes, not a solid block
    png = read_png(viz.save_overlay(images, masks, tmp_path / "black.png"))
    assert (png[60:330, 60:290, :3] > 0.8).all(-1).float().mean() > 0.1  # white stripes over the black image
