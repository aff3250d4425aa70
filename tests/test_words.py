"""gpuaug.core.words: uint8 channels interleaved in int32 words, and the compiled warp's
gathers that read them (one per tap for every channel) against the per-channel gathers."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gpuaug.core.ragged import from_padded, pack
from gpuaug.core.words import interleave, interleaved_channels, word_channel
from gpuaug.functional import identity_matrix
from gpuaug.torch_path import untile, warp_torch


def uint8(shape, seed):
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


@settings(max_examples=25, deadline=None)
@given(
    channels=st.integers(2, 4), b=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9), seed=st.integers(0, 99)
)
def test_a_batch_round_trips_through_its_words(channels, b, h, w, seed):
    images = uint8((b, channels, h, w), seed)
    words = interleave(images)
    assert words.shape == (b, h, w) and words.dtype == torch.int32
    for k in range(channels):
        assert torch.equal(word_channel(words, k).to(torch.uint8), images[:, k])
    for k in range(channels, 4):  # the bytes past the last channel are zero
        assert not word_channel(words, k).any()


@pytest.mark.parametrize("padded", [False, True], ids=["list", "padded"])
def test_a_ragged_batch_packs_its_words_back_to_back(padded):
    sizes = [(4, 6), (5, 2), (3, 7)]
    samples = [uint8((3, h, w), seed) for seed, (h, w) in enumerate(sizes)]
    if padded:
        batch = uint8((3, 3, 5, 7), 9)
        for k, ((h, w), sample) in enumerate(zip(sizes, samples, strict=True)):
            batch[k, :, :h, :w] = sample
        source = from_padded(batch, sizes)
    else:
        source = pack(samples, 3)
    words = interleave(source)
    assert (words.planes, words.sizes, words.data.dtype) == (1, tuple(sizes), torch.int32)
    assert words.data.numel() == sum(h * w for h, w in sizes)  # packed: no padding copied
    offsets = [0, 24, 34]
    assert words.table[:, 0].tolist() == offsets and words.table[:, 2].tolist() == [w for _, w in sizes]
    for offset, (h, w), sample in zip(offsets, sizes, samples, strict=True):
        stored = words.data[offset : offset + h * w].view(h, w)  # what the table points at
        for k in range(3):
            assert torch.equal(word_channel(stored, k).to(torch.uint8), sample[k])


def test_only_uint8_images_of_two_to_four_channels_are_interleaved():
    assert interleaved_channels(uint8((2, 3, 4, 4), 0)) == 3
    assert interleaved_channels(pack([uint8((4, 3, 3), 0)], 4)) == 4
    assert interleaved_channels(uint8((2, 1, 4, 4), 0)) == 0  # one channel: nothing to share
    assert interleaved_channels(uint8((2, 5, 4, 4), 0)) == 0  # more than a word holds
    assert interleaved_channels(torch.rand(2, 3, 4, 4)) == 0
    assert interleaved_channels(pack([uint8((3, 2, 3, 3), 0)], 3, dims=3)) == 0  # a volume
    assert interleaved_channels(None) == 0


@pytest.mark.parametrize("tiled", [False, True], ids=["rows", "tiled"])
@pytest.mark.parametrize("ragged", [False, True], ids=["stacked", "ragged"])
def test_gathers_of_words_equal_the_per_channel_gathers(ragged, tiled):
    """The torch path's bilinear gathers on words, tiled or in rows, against its tiled
    per-channel gathers (the tiles change the layout of the work, not the values)."""
    images = uint8((3, 3, 11, 13), 5)
    source = pack(list(images), 3) if ragged else images
    matrix = identity_matrix(3).float()
    matrix[:, 0, 0], matrix[:, 1, 1] = torch.tensor([0.7, 1.3, -0.9]), torch.tensor([1.1, 0.6, 0.8])
    matrix[:, 0, 2], matrix[:, 1, 2] = torch.tensor([1.5, -2.25, 12.0]), torch.tensor([0.5, 3.0, -1.0])
    args = ([], matrix, (9, 10), (0.25, 0.5, 0.75), False, "reflect")
    planar = untile(warp_torch(source, *args, tiled=True)[0], (9, 10))  # explicit per-channel gathers
    interleaved, _ = warp_torch(interleave(source), *args, tiled=tiled, interleaved=3)
    interleaved = untile(interleaved, (9, 10)) if tiled else interleaved
    assert interleaved.shape == (3, 3, 9, 10) and torch.equal(interleaved, planar)
