"""uint8 images with their channels interleaved in int32 words, for gathers that read all of
a pixel's channels in one load.

Channel k of a pixel is byte k of its word (bits 8k to 8k + 7 on a little-endian host, read
back by :func:`word_channel`); a word holds up to four channels, and the bytes past the last
channel are zero. The compiled CPU warp (:func:`gpuaug.functional.warp_compiled`) gathers
RGB uint8 images this way: one gather per bilinear tap instead of one per tap and channel.
"""

from __future__ import annotations

import math
import sys

import torch

from gpuaug.core.ragged import Ragged, pack

__all__ = ["interleaved_channels", "interleave", "word_channel"]

#: Most channels one int32 word holds.
WORD_CHANNELS = 4


def interleaved_channels(images: torch.Tensor | Ragged | None) -> int:
    """K, the channels :func:`interleave` puts in each word of 2D ``images``, or 0 where they
    are not uint8 B×K×H×W (or a Ragged batch of K planes) with 2 to :data:`WORD_CHANNELS`
    channels, or the host is big-endian."""
    if images is None or images.dtype != torch.uint8 or sys.byteorder != "little":
        return 0
    if isinstance(images, Ragged):
        channels = images.planes if images.spatial_dims == 2 else 0
    else:
        channels = images.shape[1] if images.dim() == 4 else 0
    return channels if 2 <= channels <= WORD_CHANNELS else 0


def interleave(images: torch.Tensor | Ragged) -> torch.Tensor | Ragged:
    """uint8 images of :func:`interleaved_channels` K channels as one plane of int32 words,
    channel k in byte k: B×K×H×W gives B×H×W; a Ragged batch gives a Ragged batch of one
    plane, its words packed back to back (written once either way)."""
    if not isinstance(images, Ragged):
        out = torch.empty((images.shape[0], *images.shape[2:]), dtype=torch.int32, device=images.device)
        return _words(images.unbind(1), out)
    lengths = [math.prod(size) for size in images.sizes]
    buffer = torch.empty(sum(lengths), dtype=torch.int32, device=images.device)
    parts = zip(images.samples, images.sizes, buffer.split(lengths), strict=True)
    words = [_words(sample.unbind(0), part.view(size)) for sample, size, part in parts]
    return pack(words, 1, storage=buffer)


def _words(channels: tuple[torch.Tensor, ...], out: torch.Tensor) -> torch.Tensor:
    """The uint8 ``channels`` (each shaped as ``out``) as words, written into int32 ``out``:
    ``c₀ | c₁ << 8 | …`` by whole-plane integer ops (an interleaving byte copy is 4× slower)."""
    out.copy_(channels[0])
    for k, channel in enumerate(channels[1:], start=1):
        out.bitwise_or_(channel.to(torch.int32).bitwise_left_shift_(8 * k))
    return out


def word_channel(words: torch.Tensor, k: int) -> torch.Tensor:
    """Channel ``k`` (0-255, int32) of :func:`interleave`'s words."""
    return words.bitwise_right_shift(8 * k).bitwise_and(255)
