"""Compose: sample per-sample params for a batch, fold them into one warp, apply it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch

from gpuaug._checks import check_fill, check_ignore_index, check_images, check_pair
from gpuaug.backends import BACKENDS
from gpuaug.functional import _to_device, identity_matrix, warp_batch
from gpuaug.transforms.base import Op

__all__ = ["Compose", "Params", "OpRecord"]


@dataclass(frozen=True, eq=False)
class OpRecord:
    """The raw draws of one op for a batch.

    Attributes:
        name: the op's class name.
        draws: name → tensor with one row per sample (B or B×k), as drawn.
    """

    name: str
    draws: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Params:
    """Everything needed to replay one batch's augmentation, without the Compose.

    Attributes:
        matrix: B×3×3 float32, output pixel centre → source coordinate (the whole chain).
        in_size: (H, W) of the input batch.
        out_size: (h, w) of the output batch.
        ignore_index: label written into masks where the source is outside the image.
        fill: image value(s) read outside the source, output scale (1 or C floats).
        perspective: whether the matrix may have a perspective row.
        ops: one :class:`OpRecord` per op, in chain order (for logging; replay uses ``matrix``).
    """

    matrix: torch.Tensor
    in_size: tuple[int, int]
    out_size: tuple[int, int]
    ignore_index: int
    fill: tuple[float, ...]
    perspective: bool
    ops: tuple[OpRecord, ...] = ()

    @property
    def batch_size(self) -> int:
        """Number of samples B."""
        return self.matrix.shape[0]

    @property
    def device(self) -> torch.device:
        """Device of the tensors."""
        return self.matrix.device

    def to(self, device: torch.device | str) -> Params:
        """A copy with every tensor on ``device``."""
        device = torch.device(device)
        ops = tuple(OpRecord(r.name, {k: v.to(device) for k, v in r.draws.items()}) for r in self.ops)
        return replace(self, matrix=self.matrix.to(device), ops=ops)

    def describe(self, i: int) -> str:
        """A human-readable log of sample ``i``: every op's draws and the final matrix.

        Reads sample ``i`` back to the host, so it synchronises on CUDA; it is for logs.
        """
        if not -self.batch_size <= i < self.batch_size:
            raise IndexError(f"i: sample {i} is out of range for a batch of {self.batch_size}")
        (hi, wi), (ho, wo) = self.in_size, self.out_size
        lines = [f"sample {i % self.batch_size} of {self.batch_size}: {hi}x{wi} -> {ho}x{wo}"]
        for record in self.ops:
            parts = [f"{k}={_format(v[i])}" for k, v in record.draws.items()]
            lines.append(f"  {record.name}" + (": " + ", ".join(parts) if parts else ""))
        rows = self.matrix[i].tolist()
        lines.append("  matrix (output->source): " + "; ".join(" ".join(f"{v:.6g}" for v in r) for r in rows))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """A JSON-ready dict (plain lists and numbers) that :meth:`from_dict` restores exactly."""
        return {
            "matrix": self.matrix.tolist(),
            "in_size": list(self.in_size),
            "out_size": list(self.out_size),
            "ignore_index": self.ignore_index,
            "fill": list(self.fill),
            "perspective": self.perspective,
            "ops": [
                {
                    "name": r.name,
                    "draws": {
                        k: {"dtype": str(v.dtype).removeprefix("torch."), "data": v.tolist()}
                        for k, v in r.draws.items()
                    },
                }
                for r in self.ops
            ],
        }

    @classmethod
    def from_dict(cls, data: dict, device: torch.device | str | None = None) -> Params:
        """Rebuild Params from :meth:`to_dict` output, on ``device`` (CPU by default)."""
        missing = {"matrix", "in_size", "out_size", "ignore_index", "fill", "perspective", "ops"} - set(data)
        if missing:
            raise ValueError(f"data: missing keys {sorted(missing)}; expected the output of Params.to_dict()")
        matrix = torch.tensor(data["matrix"], dtype=torch.float32, device=device).reshape(-1, 3, 3)
        ops = tuple(
            OpRecord(
                r["name"],
                {
                    k: torch.tensor(v["data"], dtype=getattr(torch, v["dtype"]), device=device)
                    for k, v in r["draws"].items()
                },
            )
            for r in data["ops"]
        )
        return cls(
            matrix=matrix,
            in_size=tuple(data["in_size"]),
            out_size=tuple(data["out_size"]),
            ignore_index=int(data["ignore_index"]),
            fill=tuple(float(v) for v in data["fill"]),
            perspective=bool(data["perspective"]),
            ops=ops,
        )


def _format(value: torch.Tensor) -> str:
    if value.dtype == torch.bool:
        return "yes" if bool(value) else "no"
    if value.dim() > 0:
        return "[" + ", ".join(_format(v) for v in value) + "]"
    number = value.item()
    if float(number).is_integer():
        return str(int(number))
    return f"{number:.4g}"


class Compose:
    """A chain of ops applied to image and mask batches with shared per-sample params.

    Geometric ops fold into one output→source matrix per sample; images are resampled
    bilinearly and masks by nearest-neighbour gather through that one matrix, once.

    Args:
        ops: the ops, applied in list order.
        ignore_index: label written into masks where the source is outside the image; must
            fit the mask dtype (checked whenever masks are given).
        fill: image value read outside the source, in the output scale (uint8 images are
            read as [0, 1]): a float or one value per channel.
        backend: "auto" (Triton on CUDA, torch elsewhere), "triton" or "torch".

    Shape:
        - images: B×C×H×W, uint8 or float16/bfloat16/float32/float64, any memory format.
        - masks: B×H×W or B×1×H×W, uint8/int8/int16/int32/int64.
        - output images: B×C×h×w float32, contiguous; output masks: same dtype and layout, h×w.

    Example:
        >>> aug = Compose([RandomResizedCrop(224), RandomHorizontalFlip(), RandomAffine(10)])
        >>> g = torch.Generator().manual_seed(0)
        >>> images, masks = aug(images, masks, generator=g)
    """

    def __init__(
        self,
        ops: Sequence[Op],
        ignore_index: int = 255,
        fill: float | Sequence[float] = 0.0,
        *,
        backend: str = "auto",
    ):
        if isinstance(ops, Op) or not isinstance(ops, Sequence):
            raise TypeError(f"ops: expected a list of gpuaug ops, got {type(ops).__name__}")
        for k, op in enumerate(ops):
            if not isinstance(op, Op):
                raise TypeError(f"ops[{k}]: expected a gpuaug op (gpuaug.transforms.Op), got {type(op).__name__}")
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
            raise TypeError(f"ignore_index: expected an int, got {type(ignore_index).__name__}")
        if backend not in BACKENDS:
            raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
        self.ops = list(ops)
        self.ignore_index = ignore_index
        self.fill = check_fill(fill)
        self.backend = backend

    def __repr__(self) -> str:
        inner = ",\n".join(f"    {op!r}" for op in self.ops)
        return f"Compose([\n{inner}\n], ignore_index={self.ignore_index}, fill={self.fill}, backend={self.backend!r})"

    def sample(self, images: torch.Tensor, generator: torch.Generator | None = None) -> Params:
        """Draw every sample's params for ``images`` at once, as tensors on their device.

        Draws come from ``generator`` (or torch's default RNG on the images' device). A CPU
        generator with CUDA images draws on the CPU and moves the params with a
        non-blocking copy from pinned memory. No host sync.
        """
        b, c, h, w = check_images(images)
        check_fill(self.fill, c)
        device = images.device
        draw_device = device
        if generator is not None:
            if not isinstance(generator, torch.Generator):
                raise TypeError(f"generator: expected a torch.Generator, got {type(generator).__name__}")
            draw_device = generator.device
            if draw_device != device and draw_device.type != "cpu":
                raise ValueError(f"generator: expected a CPU generator or one on {device}, got one on {draw_device}")
        matrix = identity_matrix(b, draw_device)
        size = (h, w)
        records = []
        for op in self.ops:
            step = op.sample(b, size, generator, draw_device)
            matrix = torch.bmm(matrix, step.matrix)
            size = step.out_size
            records.append(OpRecord(type(op).__name__, step.draws))
        params = Params(
            matrix=matrix,
            in_size=(h, w),
            out_size=size,
            ignore_index=self.ignore_index,
            fill=self.fill,
            perspective=any(op.perspective for op in self.ops),
            ops=tuple(records),
        )
        if draw_device == device:
            return params
        ops = tuple(OpRecord(r.name, {k: _to_device(v, device) for k, v in r.draws.items()}) for r in records)
        return replace(params, matrix=_to_device(matrix, device), ops=ops)

    def apply(self, images: torch.Tensor, masks: torch.Tensor | None, params: Params):
        """Apply sampled ``params`` to a batch (replay). Inputs are never modified.

        Returns:
            ``(images, masks)`` when masks are given, the images alone when ``masks`` is None.
        """
        return apply_params(images, masks, params, self.backend)

    def __call__(self, images: torch.Tensor, masks: torch.Tensor | None = None, generator=None):
        """``apply(images, masks, sample(images, generator))``."""
        return self.apply(images, masks, self.sample(images, generator))


def check_params(images: torch.Tensor, masks: torch.Tensor | None, params: object) -> None:
    """Check that ``params`` fit this batch (and the masks, when given)."""
    b, c, h, w = check_images(images)
    if not isinstance(params, Params):
        raise TypeError(f"params: expected gpuaug.Params, got {type(params).__name__}")
    if params.batch_size != b:
        raise ValueError(f"params: sampled for a batch of {params.batch_size}, got images with batch size {b}")
    if tuple(params.in_size) != (h, w):
        raise ValueError(f"params: sampled for {params.in_size[0]}×{params.in_size[1]} images, got {h}×{w}")
    if params.device != images.device:
        raise ValueError(f"params: on {params.device}, images on {images.device}; use params.to(images.device)")
    check_fill(params.fill, c)
    if masks is not None:
        check_pair(images, masks)
        check_ignore_index(params.ignore_index, masks.dtype)


def apply_params(images: torch.Tensor, masks: torch.Tensor | None, params: Params, backend: str = "auto"):
    """Warp images (and masks) with ``params`` on the chosen backend; see :meth:`Compose.apply`."""
    check_params(images, masks, params)
    out, labels = warp_batch(
        images, masks, params.matrix, params.out_size, params.fill, params.ignore_index, backend, params.perspective
    )
    return out if masks is None else (out, labels)
