"""Compose: sample per-sample params for a batch, fold them into one warp, apply it, then pixel ops."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from gpuaug import backends
from gpuaug.core.batch import Batch, read_batch
from gpuaug.core.checks import (
    MASK_PADDINGS,
    PADDING_MODES,
    check_bool,
    check_choice,
    check_fill,
    check_int,
)
from gpuaug.core.constants import OUT_DTYPES
from gpuaug.core.records import OpRecord, Params
from gpuaug.engine import apply_params
from gpuaug.inversion import invert_params
from gpuaug.sampling import sample_params
from gpuaug.transforms.base import CanvasOp, Op, PixelOp
from gpuaug.transforms.canvas import check_canvas_order

__all__ = ["Compose", "Params", "OpRecord"]


def _spatial_dims(ops: list) -> int | None:
    """The spatial dimensions every op of the chain takes (2: images, 3: volumes), None when
    they all take either; ValueError naming the first op that does not share them."""
    common, first = {2, 3}, None
    for k, op in enumerate(ops):
        if not common & set(op.spatial_dims):
            j, other = first
            raise ValueError(
                f"ops[{k}]: {type(op).__name__} takes {_data(op.spatial_dims)}, but ops[{j}] {type(other).__name__} "
                f"takes {_data(other.spatial_dims)}: one Compose chains 2D ops or volume ops, not both"
            )
        if first is None and len(op.spatial_dims) == 1:
            first = (k, op)
        common &= set(op.spatial_dims)
    return next(iter(common)) if len(common) == 1 else None


def _data(dims: tuple[int, ...]) -> str:
    return "volumes (B×C×D×H×W)" if dims == (3,) else "2D images (B×C×H×W)"


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
        backend: "auto" (Triton on CUDA, torch elsewhere), "triton", "torch", "inductor" or
            "opencv". On Triton the warp and the colour ops run fused in one kernel (see
            :mod:`gpuaug.fusion`); "inductor" compiles the torch path on the CPU once per static
            configuration (see :mod:`gpuaug.inductor`; needs a C++ compiler, else it warns and
            runs eagerly); "opencv" (CPU tensors, the ``opencv`` extra) is the torch path with
            the images resampled by OpenCV (:mod:`gpuaug.opencv_path`: masks exact, images
            within 1/32 px of the reference; volumes take the torch path).
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
        check_canvas_order(ops)
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
        self.spatial_dims = _spatial_dims(self.ops)
        if self.spatial_dims == 3 and self.antialias:
            raise ValueError("antialias: the prefilter is for 2D images; a chain of volume ops takes antialias=False")
        for k, op in enumerate(self.ops):
            if op.kind == "pixel" and self.spatial_dims is not None:
                op.check_dims(self.spatial_dims, f"ops[{k}]")

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
        return self._sample(self._read(images, masks, sizes), generator, seed, sample_ids)

    def _read(self, images, masks, sizes) -> Batch:
        """The batch checked as the chain's data: volumes B×C×D×H×W for volume ops, images
        otherwise (a chain of intensity ops alone takes either, by the images' rank)."""
        first = images[0] if isinstance(images, (list, tuple)) and images else images
        rank = first.dim() + (isinstance(images, (list, tuple))) if isinstance(first, torch.Tensor) else 0
        given = 3 if rank == 5 else 2  # a B×C×D×H×W batch, or a list of C×D×H×W volumes
        if self.spatial_dims not in (None, given):
            k, op = next((k, op) for k, op in enumerate(self.ops) if op.spatial_dims == (self.spatial_dims,))
            wanted = (
                "volumes B×C×D×H×W (or a list of C×D×H×W)"
                if self.spatial_dims == 3
                else "images B×C×H×W (or a list of C×H×W)"
            )
            got = f"shape {tuple(images.shape)}" if isinstance(images, torch.Tensor) else type(images).__name__
            if isinstance(images, (list, tuple)) and isinstance(first, torch.Tensor):
                got = f"a list of samples of shape {tuple(first.shape)}, ..."
            raise ValueError(f"ops[{k}]: {type(op).__name__} takes {wanted}, got images of {got}")
        return read_batch(images, masks, sizes, given)

    def _sample(self, batch: Batch, generator, seed, sample_ids) -> Params:
        return sample_params(self, batch, generator, seed, sample_ids)

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
        return apply_params(self._read(images, masks, sizes), params, self.backend, targets=targets)

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
        return invert_params(predictions, params, self.backend, out_size, fill, return_valid)

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
        batch = self._read(images, masks, sizes)  # read once, for sampling and warping
        params = self._sample(batch, generator, seed, sample_ids)
        return apply_params(batch, params, self.backend, targets=targets)
