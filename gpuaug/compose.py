"""Compose: sample per-sample params for a batch, fold them into one warp, apply it, then pixel ops."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import torch

from gpuaug import _hash, backends, fusion
from gpuaug._checks import (
    MASK_PADDINGS,
    PADDING_MODES,
    check_bool,
    check_choice,
    check_fill,
    check_ignore_index,
    check_images,
    check_int,
    check_masks,
    check_pair,
    check_size,
)
from gpuaug.allocator import tune_malloc
from gpuaug.antialias import antialias
from gpuaug.candidates import CandidateCounts
from gpuaug.core.constants import OUT_DTYPES
from gpuaug.core.device import to_device
from gpuaug.core.ragged import Ragged, from_padded, pack
from gpuaug.core.records import OpRecord, Params, selected
from gpuaug.functional import Planes, compilable, identity_matrix, warp_all, warp_compiled
from gpuaug.targets import check_targets, map_points
from gpuaug.transforms.base import CanvasOp, Draw, Op, PixelOp, Sizes
from gpuaug.transforms.canvas import ClassMix, classmix_select, views_of
from gpuaug.transforms.composite import Composite

__all__ = ["Compose", "Params", "OpRecord"]


class Compose:
    """A chain of ops applied to image and mask batches with shared per-sample params.

    Geometric ops fold into one output→source matrix per sample; images are resampled
    bilinearly and masks by nearest-neighbour gather through that one matrix, once.

    Args:
        ops: geometric ops (folded into one warp, whatever their place in the list) and
            pixel ops (applied after the warp, in list order).
        ignore_index: label written into masks where the source is outside the image; must
            fit the mask dtype (checked whenever masks are given).
        fill: image value read outside the source, in the output scale (uint8 images are
            read as [0, 1]): a float or one value per channel.
        out_dtype: dtype of the output images: float32, bfloat16 or float16.
        backend: "auto" (Triton on CUDA, torch elsewhere), "triton", "torch" or "inductor".
            On Triton the warp and the colour ops run fused in one kernel (see
            :mod:`gpuaug.fusion`); "inductor" compiles the torch path on the CPU once per static
            configuration (see :mod:`gpuaug.inductor`; needs a C++ compiler, else it warns and
            runs eagerly).
        padding_mode: where images read when the source point is outside the image:
            "constant" (``fill``), "replicate" (the nearest edge pixel) or "reflect" (the
            point reflected about the image border, ``grid_sample``'s "reflection"); then
            sampled like any inside point. Points behind the camera or non-finite take
            ``fill`` in every mode. Crop padding (``RandomCrop(pad_if_needed=True)``,
            ``CenterCrop``) follows it too.
        mask_padding: "ignore" (masks get ``ignore_index`` outside the image) or "same"
            (the label at ``floor`` of the point the image reads, exactly, on every backend;
            with ``padding_mode="constant"`` it is the same as "ignore").
        antialias: False (default): images are sampled bilinearly, so a chain that shrinks by
            more than 2× aliases (fine texture turns into moiré). True: each sample's image is
            first box-filtered, per axis, by that sample's own scale (source pixels per output
            pixel, from its final matrix at the canvas centre; :mod:`gpuaug.antialias`), as
            torchvision v2's resize antialiases; masks and target maps are gathered as always.

    Shape:
        - images: B×C×H×W, uint8 or float16/bfloat16/float32/float64, any memory format.
        - masks: B×H×W or B×1×H×W, uint8/int8/int16/int32/int64.
        - output images: B×C×h×w ``out_dtype``, contiguous; output masks: same dtype and
          layout, h×w (the input tensor itself when there is no geometric op).

    Example:
        >>> aug = Compose([RandomResizedCrop(224), RandomHorizontalFlip(), RandomAffine(10)])
        >>> g = torch.Generator().manual_seed(0)
        >>> images, masks = aug(images, masks, generator=g)
    """

    def __init__(
        self,
        ops: Sequence[Op | PixelOp],
        ignore_index: int = 255,
        fill: float | Sequence[float] = 0.0,
        *,
        out_dtype: torch.dtype = torch.float32,
        backend: str = "auto",
        padding_mode: str = "constant",
        mask_padding: str = "ignore",
        antialias: bool = False,
    ):
        if isinstance(ops, (Op, PixelOp, CanvasOp)) or not isinstance(ops, Sequence):
            raise TypeError(f"ops: expected a list of gpuaug ops, got {type(ops).__name__}")
        for k, op in enumerate(ops):
            if not isinstance(op, (Op, PixelOp, CanvasOp)):
                raise TypeError(f"ops[{k}]: expected a gpuaug op (gpuaug.transforms), got {type(op).__name__}")
        _check_canvas_order(ops)
        if not isinstance(out_dtype, torch.dtype):
            raise TypeError(f"out_dtype: expected a torch.dtype, got {type(out_dtype).__name__}")
        if out_dtype not in OUT_DTYPES:
            raise ValueError(f"out_dtype: expected torch.float32, torch.bfloat16 or torch.float16, got {out_dtype}")
        if not isinstance(backend, str):
            raise TypeError(f"backend: expected a str, got {type(backend).__name__}")
        if backend not in backends.BACKENDS:
            raise ValueError(f"backend: expected one of {backends.BACKENDS}, got {backend!r}")
        self.ops = list(ops)
        self.ignore_index = check_int(ignore_index, "ignore_index")
        self.fill = check_fill(fill)
        self.out_dtype = out_dtype
        self.backend = backend
        self.padding_mode = check_choice(padding_mode, PADDING_MODES, "padding_mode")
        self.mask_padding = check_choice(mask_padding, MASK_PADDINGS, "mask_padding")
        self.antialias = check_bool(antialias, "antialias")

    def __repr__(self) -> str:
        inner = ",\n".join(f"    {op!r}" for op in self.ops)
        settings = f"ignore_index={self.ignore_index}, fill={self.fill}, out_dtype={self.out_dtype}"
        settings += f", padding_mode={self.padding_mode!r}, mask_padding={self.mask_padding!r}"
        settings += f", antialias={self.antialias}"
        return f"Compose([\n{inner}\n], {settings}, backend={self.backend!r})"

    def sample(
        self,
        images: torch.Tensor | Sequence[torch.Tensor],
        generator: torch.Generator | None = None,
        *,
        masks: torch.Tensor | Sequence[torch.Tensor] | None = None,
        seed: int | None = None,
        sample_ids: torch.Tensor | Sequence[int] | None = None,
        sizes: torch.Tensor | Sequence[Sequence[int]] | None = None,
    ) -> Params:
        """Draw every sample's params for ``images`` at once, as tensors on their device.

        ``images`` (and ``masks``, ``sizes``) take the forms of :meth:`__call__`. Masks are
        only read by ops that choose by content (``RandomCrop(cat_max_ratio=...)``, which
        raises without them). Two sources of randomness, one at a time:

        - ``generator`` (or torch's default RNG on the images' device when both are None). A
          CPU generator with CUDA images draws on the CPU and moves the params with a
          non-blocking copy from pinned memory.
        - ``seed`` and ``sample_ids``: each sample's params are a counter-based hash of
          (seed, its id, draw index) computed on the device, so a sample gets the same
          augmentation whatever its batch, rank or world size (a mixing op's partners excepted:
          they come from the batch, so the same batch composition replays exactly, see
          :mod:`gpuaug.transforms.canvas`). ``sample_ids`` are B ints (a tensor on any
          device, or a sequence), ``arange(B)`` by default; change ``seed`` every epoch.

        No host sync either way (except a class-aware crop with a CPU generator and CUDA
        masks, whose class check must come back to the generator's device).
        """
        return self._sample(read_batch(images, masks, sizes), generator, seed, sample_ids)

    def _sample(self, batch: Batch, generator, seed, sample_ids) -> Params:
        check_fill(self.fill, batch.channels)
        label_source, mask_mode = None, self.padding_mode if self.mask_padding == "same" else "constant"
        if batch.mask_dtype is not None and self._needs_labels():
            check_ignore_index(self.ignore_index, batch.mask_dtype)
            label_source = batch.masks if batch.variable else from_padded(batch.masks, batch.sizes)
        draw = self._draw(batch.batch, batch.device, generator, seed, sample_ids)
        matrix = identity_matrix(batch.batch, draw.device)
        size = batch.in_size
        if batch.variable:
            hw = to_device(torch.tensor(batch.sizes, dtype=torch.float64), draw.device)
            size = Sizes(hw[:, 0], hw[:, 1], batch.sizes)
        records, varying = [], None
        for k, op in enumerate(self.ops):
            if op.kind == "pixel":
                records.append(OpRecord(type(op).__name__, op.sample(draw, batch.channels), op.config()))
                continue
            if op.kind == "canvas":
                if isinstance(size, Sizes):
                    raise ValueError(self._unfixed_message(varying))
                if isinstance(op, ClassMix) and batch.mask_dtype is None:
                    raise ValueError(f"ops[{k}]: ClassMix pastes the partner's classes, so it needs masks; got none")
                records.append(OpRecord(type(op).__name__, op.sample(draw, size), op.config()))
                continue
            if label_source is not None:
                draw.class_counts = CandidateCounts(label_source, matrix, self.ignore_index, mask_mode, self.backend)
            if op.kind == "composite":
                step, record = op.sample_record(draw, size, batch.channels)
            else:
                step = op.sample(draw, size)
                record = OpRecord(type(op).__name__, step.draws)
            matrix = torch.bmm(matrix, step.matrix)  # float64: TF32 matmul settings cannot touch it
            size = step.out_size
            if isinstance(size, Sizes):
                varying = k
            records.append(record)
        if isinstance(size, Sizes):
            raise ValueError(self._unfixed_message(varying))
        geometric = [op for op in self.ops if op.geometric]
        params = Params(
            matrix=matrix.to(torch.float32),
            in_size=batch.in_size,
            out_size=size,
            ignore_index=self.ignore_index,
            fill=self.fill,
            perspective=any(op.perspective for op in geometric),
            geometric=bool(geometric),
            out_dtype=self.out_dtype,
            ops=tuple(records),
            padding_mode=self.padding_mode,
            mask_padding=self.mask_padding,
            in_sizes=torch.tensor(batch.sizes, dtype=torch.int64).reshape(-1, 2),
            antialias=self.antialias,
        )
        device = batch.device
        if draw.device == device:
            return params
        ops = tuple(r.map_draws(lambda v: to_device(v, device)) for r in records)
        return replace(params, matrix=to_device(params.matrix, device), ops=ops)

    def _unfixed_message(self, varying: int | None) -> str:
        fixed = "RandomCrop, CenterCrop, Resize((h, w)), RandomResizedCrop or RandomResize(scale, keep_ratio=False)"
        if varying is None:
            return (
                f"ops: a batch of samples of different sizes (a list, or sizes=) needs a fixed-size op ({fixed}) "
                "to give the batch one output size; the chain has none"
            )
        op = self.ops[varying]
        return (
            f"ops[{varying}]: {type(op).__name__} leaves each sample a size of its own; a fixed-size op ({fixed}) "
            "must follow it so that the batch has one output size"
        )

    def _needs_labels(self) -> bool:
        return any(op.needs_masks for op in self.ops)

    @staticmethod
    def _draw(b: int, device: torch.device, generator, seed, sample_ids) -> Draw:
        """The batch's random source (see :meth:`sample`)."""
        if seed is not None:
            if generator is not None:
                raise ValueError("generator, seed: pass one source of randomness, not both")
            seed = check_int(seed, "seed")
            ids = torch.arange(b, device=device) if sample_ids is None else _sample_ids(sample_ids, b, device)
            return Draw(b, device, keys=_hash.sample_keys(seed, ids))
        if sample_ids is not None:
            raise ValueError("sample_ids: only used with seed=; pass seed too")
        if generator is None:
            return Draw(b, device)
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator: expected a torch.Generator, got {type(generator).__name__}")
        if generator.device != device and generator.device.type != "cpu":
            raise ValueError(f"generator: expected a CPU generator or one on {device}, got one on {generator.device}")
        return Draw(b, generator.device, generator=generator)

    def apply(
        self,
        images: torch.Tensor | Sequence[torch.Tensor],
        masks: torch.Tensor | Sequence[torch.Tensor] | None,
        params: Params,
        *,
        targets: Mapping[str, object] | None = None,
        sizes: torch.Tensor | Sequence[Sequence[int]] | None = None,
    ):
        """Apply sampled ``params`` to a batch (replay). Inputs are never modified.

        Args:
            images, masks: the batch (masks may be None), in any form of :meth:`__call__`; its
                per-sample sizes must be those ``params`` were sampled for.
            params: from :meth:`sample` (or :meth:`Params.from_dict`).
            targets: more per-sample data through the same matrix (:mod:`gpuaug.targets`): a
                dict name → integer label map, float dense map, :class:`gpuaug.Target` or
                :class:`gpuaug.Points`. Targets are data, not params: replay passes them again.
                With a list of images, maps are lists of per-sample maps.
            sizes: the valid (h, w) of each sample of a padded batch (see :meth:`__call__`).

        Returns:
            ``(images, masks)`` when masks are given, the images alone when ``masks`` is None;
            with ``targets``, ``(images, masks_or_None, targets_out)``, ``targets_out`` a dict
            with the same keys in the same order (a Points target gives ``(xy, visible)``).
        """
        return apply_params(read_batch(images, masks, sizes), params, self.backend, targets=targets)

    def invert(
        self,
        predictions: torch.Tensor,
        params: Params,
        out_size: int | tuple[int, int] | None = None,
        fill: float = 0.0,
        *,
        return_valid: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Warp per-pixel predictions on augmented images back to the source frame (test-time augmentation).

        Uses the inverse of each sample's matrix: float predictions (logits or
        probabilities, B×K×h×w) are resampled bilinearly, with ``fill`` where the source
        pixel was not in the augmented view; integer label maps (B×h×w or B×1×h×w) by
        nearest gather, with ``params.ignore_index`` there.

        Args:
            predictions: per-pixel outputs on the batch that ``params`` produced (h×w = params.out_size).
            params: the params the augmented batch was made with.
            out_size: size of the source frame to return (default: each sample's input
                size); a different size rescales it, e.g. to the original resolution.
            fill: value of float predictions where undefined (finite; a float or one per channel).
            return_valid: also return where the augmented view covered the source frame.

        Returns:
            float32 B×K×H×W for float predictions, labels of the input dtype and layout
            otherwise. With ``return_valid``, ``(inverted, valid)``: ``valid`` is a B×H×W bool
            tensor, True at the source pixels the augmented view covered, by the masks'
            nearest-gather convention (exactly where inverted labels are not ignore). To
            average TTA views: ``sum(valid · inverted) / sum(valid)`` per pixel.
            For params of samples of different sizes (a list, or ``sizes=``) and no
            ``out_size``, each sample returns to its own size: lists of B tensors
            (K×hᵢ×wᵢ, or labels hᵢ×wᵢ / 1×hᵢ×wᵢ; ``valid`` hᵢ×wᵢ).
        """
        check_params_type(params)
        if not isinstance(predictions, torch.Tensor):
            raise TypeError(f"predictions: expected a torch.Tensor, got {type(predictions).__name__}")
        canvas = [r.name for r in params.ops if r.kind == "canvas"]
        if canvas:
            raise ValueError(
                f"params: cannot invert {canvas}: an output pixel may come from another sample or a displaced "
                "point, so there is no single inverse matrix"
            )
        labels = not predictions.is_floating_point()
        if labels:
            b, h, w = check_masks(predictions, "predictions")
            channels = None
        else:
            # Logits may have many channels on a narrow map: no channels-last guess here.
            b, channels, h, w = check_images(predictions, "predictions", guess_layout=False)
        if (b, h, w) != (params.batch_size, *params.out_size):
            raise ValueError(
                f"predictions: expected {params.batch_size} maps of the augmented size {params.out_size}, "
                f"got shape {tuple(predictions.shape)}"
            )
        if params.device != predictions.device:
            raise ValueError(
                f"params: on {params.device}, predictions on {predictions.device}; use params.to(predictions.device)"
            )
        fills = check_fill(fill, channels)
        if labels:
            check_ignore_index(params.ignore_index, predictions.dtype, "params.ignore_index")
        in_sizes = params.in_sizes.double()
        per_sample = out_size is None and params.variable
        if per_sample:  # one canvas that holds every sample's own size, cut after
            size = tuple(int(v) for v in params.in_sizes.amax(dim=0))
            frames = in_sizes
        else:
            size = check_size(out_size if out_size is not None else params.in_size, "out_size")
            frames = torch.tensor(size, dtype=torch.float64).expand(b, 2)
        # Source frame pixel → source coordinate (a rescale), then → augmented coordinate (the inverse).
        inverse = torch.linalg.inv_ex(params.matrix.double())[0]
        ones = torch.ones(b, dtype=torch.float64)
        rescale = torch.diag_embed(torch.stack((in_sizes[:, 1] / frames[:, 1], in_sizes[:, 0] / frames[:, 0], ones), 1))
        matrix = (inverse @ to_device(rescale, inverse.device)).float()
        warp = (None, predictions) if labels else (predictions, None)
        out_images, out_masks, _ = warp_all(
            *warp, (), matrix, size, fills, params.ignore_index, self.backend, params.perspective
        )
        inverted = out_masks if labels else out_images
        if return_valid:
            ones = torch.ones((b, h, w), dtype=torch.uint8, device=predictions.device)
            covered = warp_all(None, ones, (), matrix, size, fills, 0, self.backend, params.perspective)[1].bool()
        if per_sample:
            sizes = params.in_sizes.tolist()
            inverted = [inverted[k, ..., :sh, :sw].contiguous() for k, (sh, sw) in enumerate(sizes)]
            if return_valid:
                covered = [covered[k, :sh, :sw].contiguous() for k, (sh, sw) in enumerate(sizes)]
        return (inverted, covered) if return_valid else inverted

    def __call__(
        self,
        images: torch.Tensor | Sequence[torch.Tensor],
        masks: torch.Tensor | Sequence[torch.Tensor] | None = None,
        generator: torch.Generator | None = None,
        *,
        seed: int | None = None,
        sample_ids: torch.Tensor | Sequence[int] | None = None,
        sizes: torch.Tensor | Sequence[Sequence[int]] | None = None,
        targets: Mapping[str, object] | None = None,
    ):
        """Sample params for the batch and apply them: ``apply(images, masks, sample(...))``.

        The batch comes in one of three forms:

        - stacked: images B×C×H×W, masks B×H×W or B×1×H×W;
        - a list of B images C×Hᵢ×Wᵢ (same C, dtype and device) and a list of B masks
          Hᵢ×Wᵢ or 1×Hᵢ×Wᵢ: samples of different sizes, each augmented on its own canvas;
        - padded: images B×C×H×W with ``sizes``, B×2 integers (a CPU tensor or a sequence),
          the valid (h, w) of each sample in its top-left corner; pixels past them are
          outside the sample (fill / ignore), never read.

        The list and padded forms give the same output for the same draws; their chain must
        end with a fixed-size op (ValueError otherwise, naming the op that leaves per-sample
        sizes). Either way the output is one stacked batch B×C×h×w (masks B×h×w, or B×1×h×w
        for 1×H×W masks), one kernel launch for the images and one for the masks.

        With ``targets`` (see :meth:`apply`) it returns ``(images, masks_or_None, targets_out)``.
        """
        batch = read_batch(images, masks, sizes)  # read once: a list is packed once for sampling and warping
        params = self._sample(batch, generator, seed, sample_ids)
        return apply_params(batch, params, self.backend, targets=targets)


@dataclass(frozen=True, eq=False)
class Batch:
    """A checked input batch: stacked, a list of samples of different sizes, or padded with ``sizes``.

    Attributes:
        data: the images and masks as given (masks may be None).
        batch, channels: B and C.
        sizes: each sample's (h, w) on the host.
        in_size: (H, W) of a stacked or padded batch, None for a list.
        mask_dims: 3 (B×h×w output) or 4 (B×1×h×w output).
        device: the data's device.
    """

    data: tuple
    batch: int
    channels: int
    sizes: tuple[tuple[int, int], ...]
    in_size: tuple[int, int] | None
    mask_dims: int
    device: torch.device

    variable: bool

    @cached_property
    def images(self) -> torch.Tensor | Ragged:
        """The images as the warps take them: the stacked tensor, or a :class:`Ragged` batch
        (a list packed by one copy, a padded batch in place); built on first use."""
        return self._warp_form(self.data[0], self.channels)

    @cached_property
    def masks(self) -> torch.Tensor | Ragged | None:
        """The masks likewise (None without masks)."""
        return None if self.data[1] is None else self._warp_form(self.data[1], 1)

    @property
    def mask_dtype(self) -> torch.dtype | None:
        masks = self.data[1]
        return None if masks is None else (masks[0] if isinstance(masks, (list, tuple)) else masks).dtype

    def _warp_form(self, tensors, planes: int) -> torch.Tensor | Ragged:
        if not self.variable:
            return tensors
        if isinstance(tensors, (list, tuple)):
            return pack(tensors, planes)
        return from_padded(tensors, self.sizes)


def read_batch(images: object, masks: object = None, sizes: object = None) -> Batch:
    """Check an input batch in any of its three forms (see :meth:`Compose.__call__`)."""
    if isinstance(images, (list, tuple)):
        if sizes is not None:
            raise ValueError("sizes: only used with a padded B×C×H×W batch; a list of images has its own sizes")
        return _read_list(images, masks)
    b, c, h, w = check_images(images)
    if masks is not None:
        if isinstance(masks, (list, tuple)):
            raise TypeError("masks: expected a tensor like the images (B×H×W or B×1×H×W), got a list")
        check_pair(images, masks)
    mask_dims = 3 if masks is None else masks.dim()
    if sizes is None:
        return Batch((images, masks), b, c, ((h, w),) * b, (h, w), mask_dims, images.device, False)
    valid = _read_sizes(sizes, b, (h, w))
    return Batch((images, masks), b, c, valid, (h, w), mask_dims, images.device, True)


def _read_sizes(sizes: object, batch: int, padded: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    """``sizes`` as B (h, w) int pairs, each within the padded (H, W)."""
    if isinstance(sizes, torch.Tensor):
        if sizes.device.type != "cpu":
            raise ValueError(f"sizes: expected a CPU tensor (reading it from {sizes.device} would sync), got one there")
        if sizes.is_floating_point() or sizes.is_complex() or sizes.dtype == torch.bool:
            raise TypeError(f"sizes: expected integers, got {sizes.dtype}")
        rows = sizes.tolist()
    elif isinstance(sizes, Sequence) and not isinstance(sizes, (str, bytes)):
        rows = [list(r) if isinstance(r, Sequence) and not isinstance(r, (str, bytes)) else r for r in sizes]
    else:
        raise TypeError(f"sizes: expected a B×2 integer CPU tensor or a sequence of (h, w), got {type(sizes).__name__}")
    if len(rows) != batch or not all(isinstance(r, list) and len(r) == 2 for r in rows):
        raise ValueError(f"sizes: expected {batch} (h, w) pairs (B×2, one per sample), got {sizes!r}")
    out = tuple((check_int(h, "sizes"), check_int(w, "sizes")) for h, w in rows)
    for k, (h, w) in enumerate(out):
        if not (1 <= h <= padded[0] and 1 <= w <= padded[1]):
            raise ValueError(
                f"sizes: sample {k}'s valid size {h}×{w} must be at least 1×1 and fit the padded "
                f"{padded[0]}×{padded[1]}"
            )
    return out


def _read_list(images: Sequence, masks: object) -> Batch:
    if len(images) == 0:
        raise ValueError("images: expected at least one image in the list")
    first = images[0]
    for k, image in enumerate(images):
        if not isinstance(image, torch.Tensor):
            raise TypeError(f"images[{k}]: expected a torch.Tensor C×H×W, got {type(image).__name__}")
        if image.dim() != 3:
            raise ValueError(f"images[{k}]: expected a 3-D tensor C×H×W, got shape {tuple(image.shape)}")
        check_images(image.unsqueeze(0), f"images[{k}]", sample=True)
        if (image.shape[0], image.dtype, image.device) != (first.shape[0], first.dtype, first.device):
            raise ValueError(
                f"images[{k}]: every image must have images[0]'s channels, dtype and device "
                f"({first.shape[0]}, {first.dtype}, {first.device}), "
                f"got ({image.shape[0]}, {image.dtype}, {image.device})"
            )
    sizes = tuple((int(t.shape[-2]), int(t.shape[-1])) for t in images)
    mask_dims = 3
    if masks is not None:
        if not isinstance(masks, (list, tuple)):
            raise TypeError(f"masks: expected a list of H×W masks like the images, got {type(masks).__name__}")
        if len(masks) != len(images):
            raise ValueError(f"masks: expected {len(images)} masks (one per image), got {len(masks)}")
        mask_dims = masks[0].dim() + 1 if isinstance(masks[0], torch.Tensor) else 3
        for k, (mask, size) in enumerate(zip(masks, sizes, strict=True)):
            if not isinstance(mask, torch.Tensor):
                raise TypeError(f"masks[{k}]: expected a torch.Tensor H×W, got {type(mask).__name__}")
            check_masks(mask.unsqueeze(0), f"masks[{k}]")
            if mask.dim() + 1 != mask_dims or mask.dtype != masks[0].dtype:
                raise ValueError(
                    f"masks[{k}]: every mask must have masks[0]'s layout and dtype, got {tuple(mask.shape)}"
                )
            if tuple(mask.shape[-2:]) != size:
                raise ValueError(
                    f"masks[{k}]: spatial size {tuple(mask.shape[-2:])} does not match images[{k}]'s {size}"
                )
            if mask.device != first.device:
                raise ValueError(f"masks[{k}]: expected the images' device {first.device}, got {mask.device}")
    return Batch((images, masks), len(images), first.shape[0], sizes, None, mask_dims, first.device, True)


def _walk(ops):
    """Every op of a list, composites' children included (depth first)."""
    for op in ops:
        yield op
        if isinstance(op, Composite):
            yield from _walk(op.ops)


def _sample_ids(sample_ids, batch: int, device: torch.device) -> torch.Tensor:
    """B int64 sample ids on ``device`` (moved without a host sync)."""
    if isinstance(sample_ids, torch.Tensor):
        if sample_ids.is_floating_point() or sample_ids.is_complex() or sample_ids.dtype == torch.bool:
            raise TypeError(f"sample_ids: expected {batch} integer ids (one per sample), got {sample_ids.dtype}")
        if sample_ids.shape != (batch,):
            raise ValueError(
                f"sample_ids: expected {batch} integer ids (one per sample), got shape {tuple(sample_ids.shape)}"
            )
        return to_device(sample_ids.long(), device)
    if isinstance(sample_ids, (str, bytes)) or not hasattr(sample_ids, "__iter__"):
        raise TypeError(f"sample_ids: expected {batch} integer ids (a tensor or a sequence), got {sample_ids!r}")
    ids = [check_int(i, "sample_ids") for i in sample_ids]
    if len(ids) != batch:
        raise ValueError(f"sample_ids: expected {batch} integer ids (one per sample), got {sample_ids!r}")
    return to_device(torch.tensor(ids, dtype=torch.int64), device)


def check_params_type(params: object) -> None:
    """Raise TypeError unless ``params`` is a :class:`Params` (a dict needs :meth:`Params.from_dict`)."""
    if not isinstance(params, Params):
        raise TypeError(f"params: expected gpuaug.Params, got {type(params).__name__}")


def check_params(batch: Batch, params: object) -> None:
    """Check that ``params`` fit this batch (see :func:`read_batch`)."""
    check_params_type(params)
    if params.batch_size != batch.batch:
        raise ValueError(
            f"params: sampled for a batch of {params.batch_size}, got images with batch size {batch.batch}"
        )
    if params.in_sizes.tolist() != [list(v) for v in batch.sizes]:
        if not params.variable and not batch.variable:
            (ph, pw), (h, w) = params.in_size, batch.in_size
            raise ValueError(f"params: sampled for {ph}×{pw} images, got {h}×{w}")
        raise ValueError(
            f"params: sampled for samples of sizes {params.in_sizes.tolist()}, got {[list(v) for v in batch.sizes]}"
        )
    if params.device != batch.device:
        raise ValueError(f"params: on {params.device}, images on {batch.device}; use params.to(images.device)")
    check_fill(params.fill, batch.channels)
    if batch.mask_dtype is not None:
        check_ignore_index(params.ignore_index, batch.mask_dtype)


def apply_params(
    batch: Batch,
    params: Params,
    backend: str = "auto",
    *,
    targets: Mapping[str, object] | None = None,
):
    """Warp a batch (:func:`read_batch`: images, masks, targets) with ``params``, then the pixel
    ops; see :meth:`Compose.apply`.

    On the Triton backend the longest run of pixel ops that the fused image kernel covers is
    applied inside the warp; the rest (a blur, and what follows it) runs as torch ops.
    Targets go through the same matrix, never through the pixel ops.
    """
    check_params_type(params)
    check_params(batch, params)
    if batch.device.type == "cpu":
        tune_malloc()  # large freed blocks stay in the process: no page faults every batch
    specs = None
    if targets is not None:
        specs = check_targets(targets, batch, params.ignore_index, params.padding_mode, params.mask_padding)
    planes = [spec.planes for _, spec in specs or () if spec.planes is not None]
    resolved = backends.resolve(backend, batch.device)
    pixel = [(_replay_op(r), r.draws) for r in params.ops if r.has_pixel]
    fused = fusion.fusable(pixel, batch.channels) if resolved == "triton" else 0
    source, labels, warped = batch.images, batch.masks, [p.tensor for p in planes]
    if params.antialias and params.geometric:
        source = antialias(source, params.matrix, params.out_size, params.perspective)
    canvas = [(k, r) for k, r in enumerate(params.ops) if r.kind == "canvas"]
    if canvas:
        if any(spec.points is not None for _, spec in specs or ()):
            names = [r.name for _, r in canvas]
            raise ValueError(
                f"targets: Points cannot follow {names}: a pixel may come from another sample or be displaced"
            )
        # The compiled path takes plain warps only: canvas ops run on the eager torch path.
        out, labels, warped = _apply_canvas(
            batch, source, params, planes, canvas, "torch" if resolved == "inductor" else resolved
        )
        fused = len(pixel)
    elif fused:
        out_dtype = params.out_dtype if fused == len(pixel) else torch.float32
        out = fusion.fused_image(source, params, pixel[:fused], out_dtype)
        if (labels is not None or planes) and params.geometric:
            _, labels, warped = warp_all(
                None, labels, planes, *_warp_args(params), resolved, params.perspective, **_paddings(params)
            )
    elif resolved == "inductor" and params.geometric and compilable(source, labels, *warped):
        pixel_records = tuple(r for r in params.ops if r.has_pixel)
        if any(r.children for r in pixel_records):  # a composite's ops hold their draws: warp compiled, ops eager
            out, labels, warped = warp_all(
                source, labels, planes, *_warp_args(params), resolved, params.perspective, **_paddings(params)
            )
        else:
            out, labels, warped = _apply_compiled(source, labels, planes, params, pixel, pixel_records)
            fused = len(pixel)
    elif params.geometric:
        out, labels, warped = warp_all(
            source, labels, planes, *_warp_args(params), resolved, params.perspective, **_paddings(params)
        )
    else:
        out = source.to(torch.float32, memory_format=torch.contiguous_format, copy=True)
        if source.dtype == torch.uint8:
            out.mul_(1.0 / 255.0)
    for op, draws in pixel[fused:]:
        out = op.apply(out, draws)
    out = out.to(params.out_dtype).contiguous()
    if labels is not None and batch.variable:  # warped from a Ragged batch: B×1×h×w
        labels = labels.reshape((batch.batch, *params.out_size) if batch.mask_dims == 3 else labels.shape)
    labels = None if labels is None else labels.contiguous()
    if specs is None:
        return out if labels is None else (out, labels)
    outs, maps = {}, iter(warped)
    for name, spec in specs:
        if spec.points is not None:
            outs[name] = map_points(spec.points, params.matrix, params.out_size)
        else:
            warped = next(maps)
            if batch.variable:  # warped from a Ragged batch: B×K×h×w
                warped = warped.reshape((batch.batch, *spec.layout, *params.out_size))
            outs[name] = warped.contiguous()
    return out, labels, outs


def _apply_compiled(images, masks, planes, params: Params, pixel, records) -> tuple:
    """The warp, then the pixel ops and the cast to ``out_dtype``, each compiled by inductor
    (:mod:`gpuaug.inductor`) once per static configuration, from the torch path's own code
    (:func:`gpuaug.functional.warp_compiled`, each op's ``apply``)."""
    from gpuaug import inductor

    paddings = _paddings(params)
    if masks is not None:
        planes = [Planes(masks, (params.ignore_index,), False, paddings["mask_padding"]), *planes]
    out, outs = warp_compiled(
        images, planes, params.matrix, params.out_size, params.fill, params.perspective, paddings["image_padding"]
    )
    ops, out_dtype = [op for op, _ in pixel], params.out_dtype
    config = (
        "pixel",
        inductor.signature(out),
        tuple((r.name, repr(sorted(r.config.items())), tuple(sorted(r.draws))) for r in records),
        out_dtype,
    )

    def fn(out, draws):
        for op, op_draws in zip(ops, draws, strict=True):
            out = op.apply(out, op_draws)
        return out.to(out_dtype)

    if ops or out_dtype != out.dtype:
        out = inductor.run(config, params.batch_size, fn, out, [d for _, d in pixel], settings=inductor.PIXEL_SETTINGS)
    labels = outs.pop(0) if masks is not None else None
    return out, labels, outs


def _apply_canvas(batch: Batch, images, params: Params, planes: list[Planes], canvas: list, backend: str) -> tuple:
    """The warp with canvas ops (:mod:`gpuaug.transforms.canvas`), then every pixel op:
    ``(images float32, masks, warped targets)``; images are read from ``images`` (the
    batch's, or their antialiased copy).

    Masks and targets read through the views in one pass (ClassMix: masks warped per sample
    first, the paste map chosen from them, the mixed masks selected from them). Images too,
    with the pixel ops after the mixing op fused on Triton; pixel ops before it apply per
    source sample, so then each slot's view is warped and coloured whole with its source's
    draws, and the slots are selected per pixel.
    """
    views, mix = views_of(canvas, params.matrix, params.out_size)
    args, paddings = (*_warp_args(params), backend, params.perspective), _paddings(params)
    masks = labels = None
    if mix is not None and params.ops[mix].name == "ClassMix":
        if batch.masks is None:
            raise ValueError("masks: ClassMix pastes the partner's classes, so replaying it needs the masks; got none")
        own_views = replace(views, slots=1, sample=None, matrix=params.matrix, select=None, pre=None)
        own = warp_all(None, batch.masks, (), *args, mask_padding=paddings["mask_padding"], views=own_views)[1]
        b, (h, w) = params.batch_size, params.out_size
        flat = own.reshape(b, h, w)
        paste = classmix_select(flat, params.ops[mix].draws, params.ignore_index)
        labels = torch.where(paste, flat[params.ops[mix].draws["partner"]], flat).reshape(own.shape)
        views = replace(views, select=paste.to(torch.uint8).contiguous())
    else:
        masks = batch.masks
    warped = []
    if masks is not None or planes:
        _, warped_masks, warped = warp_all(None, masks, planes, *args, **paddings, views=views)
        labels = warped_masks if labels is None else labels
    records = [(k, r) for k, r in enumerate(params.ops) if r.has_pixel]
    before = [r for k, r in records if mix is not None and k < mix]
    after = [(_replay_op(r), r.draws) for k, r in records if mix is None or k > mix]
    if not before:
        return _warp_images(images, batch.channels, params, after, backend, views), labels, warped
    slots = []
    for k in range(views.slots):
        slot = views.slot(k)
        source = slot.sample.long()
        ops = [(_replay_op(r), r.draws) for r in (r.map_draws(lambda v, s=source: v[s]) for r in before)]
        slots.append(_warp_images(images, batch.channels, params, ops, backend, slot))
    stacked = torch.stack(slots, dim=1)  # B×L×C×h×w
    index = views.select.long()[:, None, None].expand(-1, 1, stacked.shape[2], -1, -1)
    out = stacked.gather(1, index).squeeze(1)
    for op, draws in after:
        out = op.apply(out, draws)
    return out, labels, warped


def _warp_images(source, channels: int, params: Params, pixel: list, backend: str, views) -> torch.Tensor:
    """The images ``source`` (C ``channels``) warped through ``views`` with ``pixel`` ops
    applied (float32): the leading fusable ops in the Triton kernel, the rest as torch ops."""
    fused = fusion.fusable(pixel, channels) if backend == "triton" else 0
    if fused:
        out = fusion.fused_image(source, params, pixel[:fused], torch.float32, views)
    else:
        args = (*_warp_args(params), backend, params.perspective)
        out = warp_all(source, None, (), *args, image_padding=params.padding_mode, views=views)[0]
    for op, draws in pixel[fused:]:
        out = op.apply(out, draws)
    return out


def _replay_op(record: OpRecord) -> PixelOp | _SelectedPixelOps:
    """The op that replays a record's pixel work: the pixel op itself, or for a composite its
    pixel children selected per sample (fused into the image kernel when
    :func:`gpuaug.fusion.fusable` allows it, torch ops otherwise)."""
    if record.children:
        return _SelectedPixelOps(record)
    return PixelOp.from_config(record.name, record.config)


class _SelectedPixelOps:
    """The pixel children of a OneOf / RandomApply record, each applied where the sample chose it."""

    stage = None  # not one step of the fused kernel: gpuaug.fusion fuses a composite as its children

    def __init__(self, record: OpRecord):
        self.children = [(k, _replay_op(c), c.draws) for k, c in enumerate(record.children) if c.has_pixel]

    def apply(self, images: torch.Tensor, draws: dict[str, torch.Tensor]) -> torch.Tensor:
        for k, op, child_draws in self.children:
            chosen = selected(draws, k).view(-1, 1, 1, 1)
            images = torch.where(chosen, op.apply(images, child_draws), images)
        return images


def _warp_args(params: Params) -> tuple:
    return params.matrix, params.out_size, params.fill, params.ignore_index


def _paddings(params: Params) -> dict[str, str]:
    """The padding modes of the image and mask warps (masks: "constant" means ignore outside)."""
    return {
        "image_padding": params.padding_mode,
        "mask_padding": params.padding_mode if params.mask_padding == "same" else "constant",
    }


def _check_canvas_order(ops) -> None:
    """The canvas ops' place in a chain (:mod:`gpuaug.transforms.canvas`): after every
    geometric op, at most one ElasticTransform and one mixing op, ElasticTransform first."""
    canvas = [(k, op) for k, op in enumerate(ops) if op.kind == "canvas"]
    if not canvas:
        return
    geometric = [k for k, op in enumerate(ops) if op.geometric]
    first = canvas[0][0]
    if geometric and geometric[-1] > first:
        later = geometric[-1]
        raise ValueError(
            f"ops[{first}]: {type(ops[first]).__name__} acts on the output canvas, so it must come after every "
            f"geometric op; ops[{later}] ({type(ops[later]).__name__}) follows it"
        )
    mixing = [k for k, op in canvas if op.mixing]
    elastic = [k for k, op in canvas if not op.mixing]
    for found, name in ((mixing, "mixing op (CutMix, ClassMix, Mosaic)"), (elastic, "ElasticTransform")):
        if len(found) > 1:
            raise ValueError(f"ops[{found[1]}]: a chain takes at most one {name}; ops[{found[0]}] is one already")
    if mixing and elastic and elastic[0] > mixing[0]:
        raise ValueError(
            f"ops[{elastic[0]}]: ElasticTransform deforms each sample's own view, so it must come before the "
            f"mixing op ops[{mixing[0]}] ({type(ops[mixing[0]]).__name__})"
        )
    if mixing and ops[mixing[0]].pointwise_before:
        for k, op in enumerate(ops[: mixing[0]]):
            for pixel in _walk([op]):
                if not pixel.pointwise:
                    raise ValueError(
                        f"ops[{k}]: {type(pixel).__name__} before {type(ops[mixing[0]]).__name__} would see each "
                        "quadrant's canvas, not its source's view (a blur's neighbourhood, a contrast's mean); list "
                        "it after it"
                    )
