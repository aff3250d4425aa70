"""The CPU torch path for axis-aligned samples: each sample warped from its own rows and columns.

A sample whose matrix only scales, shifts and flips each axis (m01 = m10 = 0: the resizes,
crops, pads and flips of the mmseg recipes) reads one source column per output column and
one source row per output row, in exactly the contract's float32 coordinates (the zero
terms add ±0; docs/design.md, "Axis-aligned warps"). So labels are the rows read, then
one gather of the columns along them (bit-identical to :mod:`gpuaug.torch_path`; the column
index is one row broadcast, never an h×w tensor), images one interpolation along the rows
the output reads and one blend across them, each sample where it lies, and the fill goes
into whole outside rows and columns. :func:`warp_by_axes` is the torch path with this step
first; :mod:`gpuaug.opencv_path` reads the same outside rows and columns.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from gpuaug.core.planes import Planes, per_plane
from gpuaug.core.ragged import Ragged
from gpuaug.torch_path import reflect, warp_torch

__all__ = ["axis_aligned", "all_axis_aligned", "axis_points", "fill_axes", "inside_runs", "warp_by_axes"]

#: Most bytes of a bilinear sample's rows interpolated along x at once (float32, rows read ×
#: output width × planes): the planes of a small sample go together (fewer ops), a large
#: sample's one at a time (its rows stay in cache for the blend across them).
GROUP_BYTES = 1 << 20


def axis_aligned(matrix: torch.Tensor, perspective: bool) -> torch.Tensor | None:
    """B bool: which samples' matrices map output columns to source columns and rows to rows
    (affine, m01 = m10 = 0: resizes, crops, flips, pads); None where this is not read (CUDA
    tensors, where reading it would sync; a perspective warp; not 2D).

    Then the contract's ``sx = (m00·x + m01·y) + m02`` is exactly ``m00·x + m02`` (the zero
    term adds ±0), so each output column reads one source column and each row one row:
    :func:`axis_points` gives the same float32 coordinates per axis as the B×h×w evaluation."""
    if perspective or matrix.device.type != "cpu" or matrix.shape[-1] != 3:
        return None
    return (matrix[:, 0, 1] == 0).logical_and_(matrix[:, 1, 0] == 0)


def all_axis_aligned(matrix: torch.Tensor, perspective: bool) -> bool:
    """Whether :func:`axis_aligned` reads every sample of ``matrix`` as axis-aligned."""
    aligned = axis_aligned(matrix, perspective)
    return aligned is not None and bool(aligned.all())


def axis_points(
    matrix: torch.Tensor, out_size: tuple[int, int], sizes: list[tuple[int, int]], padding: str, ks: list[int]
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """The source points per axis of samples ``ks`` (K of them, :func:`axis_aligned`
    matrices), whose sources have ``sizes`` (K (H, W) pairs): ``((ys, rows_outside), (xs,
    columns_outside))``, K×h and K×w: the float32 coordinates of the h rows and w columns
    clamped to the edge pixels' centres (0.5 where outside; floor gives the label's pixel,
    as on the torch path) and bool masks; pixel (i, j) of sample ks[r] is outside when its
    row or its column is. ``padding``: "constant" (outside [0, extent)), or "replicate" /
    "reflect" (only non-finite points outside). All K samples at once: each element is the
    same float32 steps as one sample's own."""
    m = matrix[ks]
    extents = torch.tensor(sizes, dtype=torch.float32).view(-1, 2, 1)

    def axis(n: int, scale: torch.Tensor, shift: torch.Tensor, extent: torch.Tensor) -> tuple:
        s = torch.arange(n, dtype=torch.float32).add_(0.5).mul(scale.view(-1, 1)).add_(shift.view(-1, 1))
        if padding == "constant":
            outside = (s >= 0).logical_and_(s < extent).logical_not_()
        else:
            outside = torch.isfinite(s).logical_not_()
            s = reflect(s, extent) if padding == "reflect" else s
        return torch.clamp(s, min=0.5).clamp_(max=extent - 0.5).masked_fill_(outside, 0.5), outside

    rows = axis(out_size[0], m[:, 1, 1], m[:, 1, 2], extents[:, 0])
    return rows, axis(out_size[1], m[:, 0, 0], m[:, 0, 2], extents[:, 1])


def warp_by_axes(
    images: torch.Tensor | Ragged | None,
    planes: list[Planes],
    matrix: torch.Tensor,
    out_size: tuple[int, int],
    fill: tuple[float, ...],
    perspective: bool,
    image_padding: str,
) -> tuple[torch.Tensor | None, list[torch.Tensor]]:
    """:func:`gpuaug.torch_path.warp_torch` (same arguments and outputs, no views) with the
    :func:`axis_aligned` samples of a CPU batch warped one at a time from their own rows and
    columns (no B×h×w coordinates, no padded copy of a list): labels by a row selection and
    a column gather per plane, images and bilinear maps by a pass along rows and one along
    columns. The other samples take ``warp_torch`` as a batch of their own, so a sample's
    output never depends on which samples share its batch."""
    aligned = axis_aligned(matrix, perspective)
    if aligned is None or not bool(aligned.any()):
        return warp_torch(images, planes, matrix, out_size, fill, perspective, image_padding)
    ks = aligned.nonzero().view(-1).tolist()
    out_images = None
    if images is not None:
        out_images = _bilinear_axis_aligned(Planes(images, tuple(fill), True, image_padding), matrix, out_size, ks)
    outs = [
        _bilinear_axis_aligned(p, matrix, out_size, ks)
        if p.bilinear
        else _nearest_axis_aligned(p, matrix, out_size, ks)
        for p in planes
    ]
    rest = (~aligned).nonzero().view(-1)
    if rest.numel():
        picked = [replace(p, tensor=_select(p.tensor, rest)) for p in planes]
        source = None if images is None else _select(images, rest)
        general = warp_torch(source, picked, matrix[rest], out_size, fill, perspective, image_padding)
        if out_images is not None:
            out_images.index_copy_(0, rest, general[0])
        for out, other in zip(outs, general[1], strict=True):
            out.index_copy_(0, rest, other.to(torch.float32) if out.dtype != other.dtype else other)
    return out_images, [out.to(p.tensor.dtype) if p.bilinear else out for out, p in zip(outs, planes, strict=True)]


def _select(source: torch.Tensor | Ragged, rows: torch.Tensor) -> torch.Tensor | Ragged:
    """The samples at ``rows`` (a 1-D int64 CPU tensor) of a stacked or Ragged batch."""
    return source.select(rows.tolist()) if isinstance(source, Ragged) else source.index_select(0, rows)


def _per_sample(planes: Planes, dtype: torch.dtype, out_size: tuple[int, int], ks: list[int]):
    """The output (B×K×h×w of ``dtype``; only samples ``ks`` are written), the fill per plane,
    per sample of ``ks`` its index, its K×H×W source view and its (H, W), and those sizes."""
    source = planes.tensor
    batch = source.batch if isinstance(source, Ragged) else source.shape[0]
    channels = source.planes if isinstance(source, Ragged) else (source.shape[1] if source.dim() == 4 else 1)
    out = torch.empty((batch, channels, *out_size), dtype=dtype)
    samples = [(k, s, tuple(s.shape[-2:])) for k, s in ((k, planes.sample(k)) for k in ks)]
    return out, per_plane(tuple(planes.fill), channels), samples, [size for *_, size in samples]


def _shaped(out: torch.Tensor, source: torch.Tensor | Ragged, out_size: tuple[int, int]) -> torch.Tensor:
    """A warped B×K×h×w map in its source's layout (a Ragged batch's stays B×K×h×w)."""
    return out if isinstance(source, Ragged) else out.view(source.shape[:-2] + tuple(out_size))


def _nearest_axis_aligned(planes: Planes, matrix, out_size: tuple[int, int], ks: list[int]) -> torch.Tensor:
    """The labels of ``planes`` gathered through :func:`axis_points` (floor of the clamped
    points) for samples ``ks``, the fill at outside rows and columns."""
    out, fills, samples, sizes = _per_sample(planes, planes.tensor.dtype, out_size, ks)
    (ys, rows_out), (xs, cols_out) = axis_points(matrix, out_size, sizes, planes.padding, ks)
    ys, xs = ys.floor_().long(), xs.floor_().long()
    row_runs, col_runs = inside_runs(rows_out), inside_runs(cols_out)
    for r, (k, sample, (height, width)) in enumerate(samples):
        cols = xs[r].expand(out_size[0], -1)  # no h×w index tensor
        for plane, into in zip(sample.reshape(len(fills), height, width), out[k], strict=True):
            torch.gather(plane.index_select(0, ys[r]), 1, cols, out=into)
        fill_axes(out[k], row_runs[r], col_runs[r], fills)
    return _shaped(out, planes.tensor, out_size)


def _bilinear_axis_aligned(planes: Planes, matrix, out_size: tuple[int, int], ks: list[int]) -> torch.Tensor:
    """``planes`` sampled bilinearly at p − 0.5 through :func:`axis_points` for samples ``ks``
    (float32, uint8 read as value / 255), the fill at outside rows and columns. Per sample,
    the source rows that any output row reads are interpolated along x once (two column
    gathers per plane, their index one row broadcast), then each output row is the blend of
    its two interpolated rows: the torch path's explicit gather's taps and weights, separated
    by axis."""
    out, fills, samples, sizes = _per_sample(planes, torch.float32, out_size, ks)
    scale = 1.0 / 255.0 if planes.tensor.dtype == torch.uint8 else 1.0
    (ys, rows_out), (xs, cols_out) = axis_points(matrix, out_size, sizes, planes.padding, ks)
    extents = torch.tensor(sizes, dtype=torch.int64).view(-1, 2, 1)
    taps_y, taps_x = _axis_taps(ys, extents[:, 0]), _axis_taps(xs, extents[:, 1])
    row_runs, col_runs = inside_runs(rows_out), inside_runs(cols_out)
    for weight in taps_x[2:]:  # the x weights carry uint8's 1/255
        weight.mul_(scale)
    for r, (k, sample, _) in enumerate(samples):
        (y0, y1, uy, wy), (x0, x1, ux, wx) = (tuple(t[r] for t in taps) for taps in (taps_y, taps_x))
        rows, where = torch.unique(torch.cat((y0, y1)), return_inverse=True)
        first, second = where[: out_size[0]], where[out_size[0] :]
        group = max(1, GROUP_BYTES // (4 * rows.numel() * out_size[1]))
        for planes_in, into in zip(sample.split(group), out[k].split(group), strict=True):
            block = planes_in.index_select(1, rows)  # the group's rows read, contiguous
            shape = (block.shape[0], rows.numel(), -1)  # the column index one row broadcast
            across = torch.mul(torch.gather(block, 2, x0.expand(shape)), ux)  # promoted to float32
            across.addcmul_(torch.gather(block, 2, x1.expand(shape)), wx)
            torch.mul(across.index_select(1, first), uy.view(-1, 1), out=into)
            into.addcmul_(across.index_select(1, second), wy.view(-1, 1))
        fill_axes(out[k], row_runs[r], col_runs[r], fills)
    return _shaped(out, planes.tensor, out_size)


def _axis_taps(p: torch.Tensor, extent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The two bilinear taps of clamped points ``p`` (K×n, K samples) along one axis and their
    weights, as the torch path's explicit gather takes them: ``(i0, i1, 1 − w, w)``, i0 =
    floor(p − 0.5), i1 = i0 + 1 kept in the axis (``extent``, K×1 int64; its weight is 0 there)."""
    i = p - 0.5
    low = i.floor()
    weight = i - low
    low = low.long()
    return low, torch.minimum(low + 1, extent - 1), 1.0 - weight, weight


def inside_runs(outside: torch.Tensor) -> list[tuple[int, int]]:
    """Per line of ``outside`` (K×n bool, :func:`axis_points`' masks of K samples along one
    axis), its first inside point and one past its last ((0, 0) where every point is
    outside). A line's points are monotonic (one scale and shift per axis), so its inside
    points are one run and its outside ones at most a run before it and one after."""
    inside = outside.logical_not()
    count = inside.sum(dim=1)
    first = inside.to(torch.uint8).argmax(dim=1)  # 0 where none is inside
    return [tuple(run) for run in torch.stack((first, first + count), dim=1).tolist()]


def fill_axes(out: torch.Tensor, rows: tuple[int, int], cols: tuple[int, int], fills: tuple) -> None:
    """Write ``fills`` (one per plane) in place into one sample's planes ``out`` (K×h×w) outside
    its inside ``rows`` and ``cols`` (:func:`inside_runs`): whole rows and columns as slices,
    only those touched."""
    h, w = out.shape[-2:]
    (top, bottom), (left, right) = rows, cols
    bands = [(slice(0, top), slice(None)), (slice(bottom, h), slice(None))]
    bands += [(slice(None), slice(0, left)), (slice(None), slice(right, w))]
    bands = [band for band, lines in zip(bands, (top, h - bottom, left, w - right), strict=True) if lines]
    for band in bands:  # none for a sample wholly inside: its planes are not even unbound
        for plane, value in zip(out, fills, strict=True):
            plane[band] = value
