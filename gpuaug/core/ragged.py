"""Variable-size batches as the warps read them: one buffer and a per-sample extent table.

A batch of B samples of different sizes (a list of K×Hᵢ×Wᵢ tensors, or a padded
B×K×H×W batch with each sample's valid (hᵢ, wᵢ)) is held as a :class:`Ragged`: the samples'
storage and a B×(2n+1) int64 table on its device, n the number of spatial dimensions, whose
row b is (element offset of sample b's first plane, plane stride, the strides of every
spatial dimension but the last, then the sample's n extents): (offset, plane stride, row
stride, hᵢ, wᵢ) for images, B×5. The Triton kernels load row b of the table
(``kernels.common.sample_extent``), the torch path gathers with it, so either form is one
launch per batch whatever the sizes, with no per-sample loop and no host sync: the table is
built on the host from shapes the host knows and copied without blocking.

A list is packed into one flat buffer by one ``torch.cat`` (one copy, when a kernel or a
gather first needs it); a padded batch is read where it lies (no copy; the pixels past a
sample's valid size are never read).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import torch

from gpuaug.core.device import to_device

__all__ = ["Ragged", "pack", "from_padded"]


@dataclass(frozen=True, eq=False)
class Ragged:
    """B samples of K planes each, of per-sample size, in one buffer.

    Attributes:
        table: B×(2n+1) int64 on the samples' device (module docstring; B×5 in 2D: offset,
            plane stride, row stride, h, w into :attr:`data`).
        planes: K (channels of images, 1 for masks).
        sizes: each sample's extents on the host, n of them: (h, w), or (d, h, w).
        samples: each sample as a K×h×w (K×d×h×w) view (for the torch path, which resamples
            images with ``grid_sample`` from a zero-padded copy).
    """

    table: torch.Tensor
    planes: int
    sizes: tuple[tuple[int, int], ...]
    samples: tuple[torch.Tensor, ...]
    #: A padded batch the samples are views of (None for a list, packed on first use).
    storage: torch.Tensor | None = None
    #: For samples picked from a list (:meth:`select`, :meth:`repeat`) before it was packed:
    #: the Ragged whose packing the table points into, packed only if :attr:`data` is read.
    base: Ragged | None = None

    @property
    def data(self) -> torch.Tensor:
        """The storage the table points into: the padded batch, or the list packed by one
        ``torch.cat`` (on first use: the torch path reads images from :meth:`padded`, and the
        class check on the CPU reads the samples, so neither packs)."""
        if self.storage is not None:
            return self.storage
        return self._packed if self.base is None else self.base.data

    @cached_property
    def _packed(self) -> torch.Tensor:
        # A plain property in front: torch.compile traces the compiled warp's Ragged (storage
        # given) without entering cached_property's lock.
        return torch.cat([t.reshape(-1) for t in self.samples])

    @property
    def batch(self) -> int:
        """Number of samples B."""
        return len(self.sizes)

    @property
    def spatial_dims(self) -> int:
        """n, the number of spatial dimensions (2 for images, 3 for volumes)."""
        return (self.table.shape[1] - 1) // 2

    @property
    def dtype(self) -> torch.dtype:
        return (self.samples[0] if self.storage is None else self.storage).dtype

    @property
    def device(self) -> torch.device:
        return self.table.device  # the samples' device, also for an empty batch

    def repeat(self, n: int) -> Ragged:
        """Each sample ``n`` times in a row (B·n samples), sharing the storage: no copy."""
        sizes = tuple(s for s in self.sizes for _ in range(n))
        samples = tuple(s for s in self.samples for _ in range(n))
        table = self.table.repeat_interleave(n, dim=0)
        return Ragged(table, self.planes, sizes, samples, *self._shared())

    def select(self, index: Sequence[int]) -> Ragged:
        """The samples at the host positions ``index``, in that order, sharing the storage: no copy."""
        rows = torch.as_tensor(index, dtype=torch.int64)
        table = self.table.index_select(0, rows.to(self.table.device))
        picked = tuple(self.sizes[i] for i in index), tuple(self.samples[i] for i in index)
        return Ragged(table, self.planes, *picked, *self._shared())

    def _shared(self) -> tuple[torch.Tensor | None, Ragged | None]:
        """(storage, base) of a Ragged that shares this one's storage, packed or not yet."""
        if self.storage is not None:
            return self.storage, None
        return None, self if self.base is None else self.base

    def padded(self) -> torch.Tensor:
        """The samples in one zero-padded B×K×max(h)×max(w) tensor (B×K×max(d)×max(h)×max(w)
        for volumes; a copy), aligned at the origin."""
        extent = tuple(max(v) for v in zip(*self.sizes, strict=True))
        out = self.samples[0].new_zeros((self.batch, self.planes, *extent))
        for k, (sample, size) in enumerate(zip(self.samples, self.sizes, strict=True)):
            out[(k, slice(None), *(slice(0, n) for n in size))] = sample
        return out


def _strides(extent: Sequence[int]) -> tuple[int, ...]:
    """The plane stride and the strides of every spatial dimension but the last, of a
    contiguous block of ``extent``: (h·w, w) for (h, w), (d·h·w, h·w, w) for (d, h, w)."""
    return tuple(math.prod(extent[i:]) for i in range(len(extent)))


def _table(rows: list[tuple[int, ...]], dims: int, device: torch.device) -> torch.Tensor:
    table = torch.tensor(rows, dtype=torch.int64).reshape(-1, 2 * dims + 1)
    return to_device(table, device)


def pack(samples: Sequence[torch.Tensor], planes: int, dims: int = 2, storage: torch.Tensor | None = None) -> Ragged:
    """Pack K×Hᵢ×Wᵢ tensors (Hᵢ×Wᵢ when K = 1 is implied by ``planes``; K×Dᵢ×Hᵢ×Wᵢ with
    ``dims`` = 3) of one dtype and device, by one copy; none where ``storage`` is given: a
    1-D buffer the samples already fill, contiguous and back to back in their order."""
    rows, offset, sizes = [], 0, []
    for t in samples:
        size = tuple(t.shape[-dims:])
        rows.append((offset, *_strides(size), *size))
        sizes.append(size)
        offset += planes * math.prod(size)
    views = tuple(t.reshape(planes, *size) for t, size in zip(samples, sizes, strict=True))
    return Ragged(_table(rows, dims, views[0].device), planes, tuple(sizes), views, storage)


def from_padded(batch: torch.Tensor, sizes: Sequence[tuple[int, ...]]) -> Ragged:
    """A padded B×K×H×W (or B×H×W; B×K×D×H×W or B×D×H×W with (d, h, w) ``sizes``) batch
    whose sample b is valid from the origin to ``sizes[b]``."""
    dims = len(sizes[0]) if len(sizes) else 2
    data = batch.contiguous()
    extent = tuple(data.shape[-dims:])
    planes = data.shape[1] if data.dim() == dims + 2 else 1
    strides, volume = _strides(extent), math.prod(extent)
    rows = [(b * planes * volume, *strides, *size) for b, size in enumerate(sizes)]
    stacked = data.reshape(-1, planes, *extent)
    views = tuple(stacked[(b, slice(None), *(slice(0, n) for n in size))] for b, size in enumerate(sizes))
    return Ragged(_table(rows, dims, data.device), planes, tuple(sizes), views, data)
