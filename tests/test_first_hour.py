"""Frictions of a first trial on real data, each fixed: captions that stay in their cells, the
channels-last hint for a list sample, and an empty batch through the class-aware crop."""

import pytest
import torch

import gpuaug
from gpuaug import peers, reference

pytest.importorskip("matplotlib")


def test_overlay_captions_stay_in_their_cells():
    from matplotlib.image import AxesImage
    from matplotlib.text import Text

    from gpuaug.viz import _figure

    aug = gpuaug.Compose(peers.ade20k_ops(32))  # long captions: resize, class-aware crop, flip, photometric
    g = torch.Generator().manual_seed(0)
    images = [torch.rand(3, 40 + 7 * k, 50 - 3 * k, generator=g) for k in range(6)]
    masks = [torch.randint(0, 5, image.shape[1:], generator=g) for image in images]
    params = aug.sample(images, g, masks=masks)
    out, out_masks = aug.apply(images, masks, params)
    fig = _figure(out, out_masks, 255, params, 16, None, peers.MEAN, peers.STD)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    pictures = [a.axes.get_window_extent(renderer) for a in fig.findobj(AxesImage)]
    captions = [t for t in fig.findobj(Text) if t.get_text().strip() and t.get_visible()]
    assert len(captions) == 6 and len({id(box) for box in pictures}) >= 6
    page = fig.bbox
    for caption in captions:
        box = caption.get_window_extent(renderer)
        shown = box if not caption.get_clip_on() else box.intersection(box, caption.axes.bbox) or box
        assert (
            page.x0 - 1 <= shown.x0 and shown.x1 <= page.x1 + 1 and page.y0 - 1 <= shown.y0 and shown.y1 <= page.y1 + 1
        )
        assert not any(shown.overlaps(picture) for picture in pictures), caption.get_text()


def test_a_channels_last_list_sample_gets_a_hint_that_works():
    image = torch.zeros(96, 128, 3)
    with pytest.raises(ValueError) as raised:
        gpuaug.Compose([gpuaug.RandomCrop(8)])([image])
    message = str(raised.value)
    assert "images[0]: shape (96, 128, 3) looks like channels-last H×W×C" in message
    assert "pass images[0].permute(2, 0, 1)" in message
    assert image.permute(2, 0, 1).shape == (3, 96, 128)  # the hint's call runs on what was passed


@pytest.mark.parametrize("padded", [False, True])
def test_an_empty_batch_goes_through_the_class_aware_crop(padded):
    ops = peers.ade20k_ops(8)  # RandomResize + RandomCrop(cat_max_ratio=0.75) + flip + photometric
    aug = gpuaug.Compose(ops if padded else [gpuaug.RandomCrop(8, cat_max_ratio=0.75)])
    images, masks = torch.zeros(0, 3, 16, 16), torch.zeros(0, 16, 16, dtype=torch.int64)
    out, out_masks = aug(images, masks)
    assert out.shape == (0, 3, 8, 8) and out_masks.shape == (0, 8, 8) and out_masks.dtype == torch.int64
    params = aug.sample(images, masks=masks)
    ref, ref_masks = reference.apply(images, masks, params)
    assert ref.shape == (0, 3, 8, 8) and torch.equal(ref_masks, out_masks)
