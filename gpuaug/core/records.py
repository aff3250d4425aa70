"""What a batch's augmentation was: one :class:`OpRecord` per op and the :class:`Params` that
replay it, without the Compose (saved with :meth:`Params.to_dict`, restored exactly)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import torch

from gpuaug.core.checks import MASK_PADDINGS, PADDING_MODES, check_bool, check_choice, check_int
from gpuaug.core.registry import op_class

__all__ = ["OpRecord", "Params", "check_params_type", "selected"]


def selected(draws: dict[str, torch.Tensor], k: int) -> torch.Tensor:
    """B bool: the samples that apply child ``k``, from a composite record's selection ``draws``
    (OneOf's ``choice``, RandomApply's ``applied``)."""
    if "choice" in draws:
        return draws["choice"] == k
    return draws["applied"]


@dataclass(frozen=True, eq=False)
class OpRecord:
    """The raw draws of one op for a batch.

    Attributes:
        name: the op's class name.
        draws: name → tensor with one row per sample (B or B×k), as drawn.
        config: for pixel ops, the constructor arguments that replay needs (plain values);
            None for geometric ops, whose effect is all in the matrix, and for composites.
        children: for :class:`gpuaug.OneOf` and :class:`gpuaug.RandomApply`, one record per
            child op, each with its draws for every sample, chosen or not; the composite's
            ``draws`` hold the per-sample selection (``choice``: B int64 index, −1 for none;
            ``applied``: B bool). Empty for every other op.
    """

    name: str
    draws: dict[str, torch.Tensor] = field(default_factory=dict)
    config: dict | None = None
    children: tuple[OpRecord, ...] = ()

    def map_draws(self, fn) -> OpRecord:
        """A copy with ``fn`` applied to every draw tensor, the children's included."""
        draws = {k: fn(v) for k, v in self.draws.items()}
        return replace(self, draws=draws, children=tuple(c.map_draws(fn) for c in self.children))

    @property
    def kind(self) -> str:
        """The op's kind (:data:`gpuaug.core.registry.KINDS`). A record with a config (a pixel
        or canvas op, rebuilt from it on replay) takes its class's from the registry; one
        without is replayed through the matrix, whatever its class: a composite when it has
        children, else geometric."""
        if self.config is not None:
            return op_class(self.name).kind
        return "composite" if self.children else "geometric"

    @property
    def has_pixel(self) -> bool:
        """Whether replay has pixel work to do for this record (a pixel op, or a composite holding one)."""
        return self.kind == "pixel" or any(c.has_pixel for c in self.children)

    def to_dict(self) -> dict:
        """JSON-ready: name, config, draws (dtype and data), and children when there are any."""
        data = {
            "name": self.name,
            "config": self.config,
            "draws": {
                k: {"dtype": str(v.dtype).removeprefix("torch."), "data": v.tolist()} for k, v in self.draws.items()
            },
        }
        if self.children:
            data["children"] = [c.to_dict() for c in self.children]
        return data

    @classmethod
    def from_dict(cls, data: Mapping, device: torch.device | str | None, key: str) -> OpRecord:
        """Rebuild a record from :meth:`to_dict` output; ``key`` names it in errors (``ops[2]``)."""
        draws = {
            k: torch.tensor(v["data"], dtype=_dtype(v["dtype"], f"{key}.draws.{k}.dtype"), device=device)
            for k, v in data["draws"].items()
        }
        children = tuple(
            cls.from_dict(c, device, f"{key}.children[{j}]") for j, c in enumerate(data.get("children", ()))
        )
        return cls(data["name"], draws, data["config"], children)

    def describe(self, i: int, indent: str = "  ", mark: str = "") -> list[str]:
        """Log lines of sample ``i``; a composite's children are marked [x] where sample i applies them."""
        parts = [f"{k}={_format(v[i])}" for k, v in self.draws.items()]
        lines = [f"{indent}{mark}{self.name}" + (": " + ", ".join(parts) if parts else "")]
        for k, child in enumerate(self.children):
            lines += child.describe(i, indent + "  ", "[x] " if bool(selected(self.draws, k)[i]) else "[ ] ")
        return lines


@dataclass(frozen=True, eq=False)
class Params:
    """Everything needed to replay one batch's augmentation, without the Compose.

    The number of spatial dimensions n comes from the matrix (:attr:`spatial_dims`): images
    have n = 2, a 3×3 matrix acting on (x, y, 1) and sizes (h, w); every size below has n
    entries, in the order of the tensor's dimensions.

    Attributes:
        matrix: B×(n+1)×(n+1) float32, output pixel centre → source coordinate (the whole
            chain): B×3×3 for images.
        in_size: (H, W) of a stacked (or padded) input batch; None for a list of images.
        out_size: (h, w) of the output batch.
        ignore_index: label written into masks where the source is outside the image.
        fill: image value(s) read outside the source, output scale (1 or C floats).
        perspective: whether the matrix may have a perspective row.
        geometric: whether the chain has a geometric op (without one, nothing is warped and
            masks come back as they are).
        out_dtype: dtype of the output images.
        ops: one :class:`OpRecord` per op, in chain order; geometric ops are replayed through
            ``matrix``, pixel ops from their record.
        padding_mode: where images read outside the source: "constant" (``fill``),
            "replicate" or "reflect".
        mask_padding: what masks read there: "ignore" (``ignore_index``) or "same" (the
            label of the point the image reads).
        in_sizes: B×n int64 CPU tensor, each sample's input (h, w) (the valid size of a
            padded sample); on the CPU always, as the host knows it, so reading it never syncs.
        antialias: whether images are box-filtered by each sample's own downscale before the
            warp (:mod:`gpuaug.antialias`).
    """

    matrix: torch.Tensor
    in_size: tuple[int, int] | None
    out_size: tuple[int, int]
    ignore_index: int
    fill: tuple[float, ...]
    perspective: bool
    geometric: bool = True
    out_dtype: torch.dtype = torch.float32
    ops: tuple[OpRecord, ...] = ()
    padding_mode: str = "constant"
    mask_padding: str = "ignore"
    in_sizes: torch.Tensor | None = None
    antialias: bool = False

    def __post_init__(self):
        if self.in_sizes is None:  # a stacked batch: every sample has the batch's size
            if self.in_size is None:
                raise ValueError("in_sizes: required when in_size is None (a list of images)")
            sizes = torch.tensor(self.in_size, dtype=torch.int64).expand(self.matrix.shape[0], self.spatial_dims)
            object.__setattr__(self, "in_sizes", sizes.contiguous())
            return
        if self.in_sizes.shape[-1] != self.spatial_dims:
            raise ValueError(
                f"in_sizes: expected {self.spatial_dims} extents per sample for a {tuple(self.matrix.shape[1:])} "
                f"matrix, got shape {tuple(self.in_sizes.shape)}"
            )

    @property
    def variable(self) -> bool:
        """Whether the samples came in sizes of their own (a list, or a padded batch with ``sizes``)."""
        return self.in_size is None or bool((self.in_sizes != torch.tensor(self.in_size)).any())

    @property
    def batch_size(self) -> int:
        """Number of samples B."""
        return self.matrix.shape[0]

    @property
    def spatial_dims(self) -> int:
        """n, the number of spatial dimensions: the matrix is B×(n+1)×(n+1)."""
        return self.matrix.shape[-1] - 1

    @property
    def device(self) -> torch.device:
        """Device of the tensors."""
        return self.matrix.device

    def to(self, device: torch.device | str) -> Params:
        """A copy with every tensor on ``device``."""
        device = torch.device(device)
        ops = tuple(r.map_draws(lambda v: v.to(device)) for r in self.ops)
        return replace(self, matrix=self.matrix.to(device), ops=ops)

    def describe(self, i: int) -> str:
        """A human-readable log of sample ``i``: every op's draws and the final matrix.

        Reads sample ``i`` back to the host, so it synchronises on CUDA; it is for logs.
        """
        i = check_int(i, "i")
        if not -self.batch_size <= i < self.batch_size:
            raise IndexError(f"i: sample {i} is out of range for a batch of {self.batch_size}")
        size_in, size_out = ("x".join(str(n) for n in size) for size in (self.in_sizes[i].tolist(), self.out_size))
        lines = [f"sample {i % self.batch_size} of {self.batch_size}: {size_in} -> {size_out}"]
        for record in self.ops:
            lines += record.describe(i)
        rows = self.matrix[i].tolist()
        lines.append("  matrix (output->source): " + "; ".join(" ".join(f"{v:.6g}" for v in r) for r in rows))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """A JSON-ready dict (plain lists and numbers) that :meth:`from_dict` restores exactly."""
        return {
            "matrix": self.matrix.tolist(),
            "in_size": None if self.in_size is None else list(self.in_size),
            "in_sizes": self.in_sizes.tolist(),
            "out_size": list(self.out_size),
            "ignore_index": self.ignore_index,
            "fill": list(self.fill),
            "perspective": self.perspective,
            "geometric": self.geometric,
            "out_dtype": str(self.out_dtype).removeprefix("torch."),
            "padding_mode": self.padding_mode,
            "mask_padding": self.mask_padding,
            "antialias": self.antialias,
            "ops": [r.to_dict() for r in self.ops],
        }

    @classmethod
    def from_dict(cls, data: dict, device: torch.device | str | None = None) -> Params:
        """Rebuild Params from :meth:`to_dict` output, on ``device`` (CPU by default)."""
        if not isinstance(data, Mapping):
            raise TypeError(f"data: expected a dict from Params.to_dict(), got {type(data).__name__}")
        keys = {"matrix", "in_size", "out_size", "ignore_index", "fill", "perspective", "geometric", "out_dtype", "ops"}
        missing = keys - set(data)
        if missing:
            raise ValueError(f"data: missing keys {sorted(missing)}; expected the output of Params.to_dict()")
        dims = len(data["out_size"])
        matrix = torch.tensor(data["matrix"], dtype=torch.float32, device=device).reshape(-1, dims + 1, dims + 1)
        ops = tuple(OpRecord.from_dict(r, device, f"ops[{i}]") for i, r in enumerate(data["ops"]))
        for i, record in enumerate(ops):  # the canvas ops index the batch: check them before any read
            if record.config is not None:
                op = op_class(record.name, f"ops[{i}].name")(**record.config)
                op.check_draws(record.draws, matrix.shape[0], tuple(data["out_size"]), f"ops[{i}]")
        return cls(
            matrix=matrix,
            in_size=None if data["in_size"] is None else tuple(data["in_size"]),
            # Absent from dicts written before variable-size batches existed.
            in_sizes=torch.tensor(data["in_sizes"], dtype=torch.int64).view(-1, dims) if "in_sizes" in data else None,
            out_size=tuple(data["out_size"]),
            ignore_index=int(data["ignore_index"]),
            fill=tuple(float(v) for v in data["fill"]),
            perspective=bool(data["perspective"]),
            geometric=bool(data["geometric"]),
            out_dtype=_dtype(data["out_dtype"], "out_dtype"),
            ops=ops,
            # Absent from dicts written before padding modes existed.
            padding_mode=check_choice(data.get("padding_mode", "constant"), PADDING_MODES, "padding_mode"),
            mask_padding=check_choice(data.get("mask_padding", "ignore"), MASK_PADDINGS, "mask_padding"),
            # Absent from dicts written before antialiasing existed.
            antialias=check_bool(data.get("antialias", False), "antialias"),
        )


def _dtype(name: object, key: str) -> torch.dtype:
    """The torch dtype called ``name`` (as :meth:`Params.to_dict` writes it); ``key`` names the entry."""
    dtype = getattr(torch, name, None) if isinstance(name, str) else None
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"{key}: unknown dtype {name!r}; expected a torch dtype name such as 'float32'")
    return dtype


def _format(value: torch.Tensor) -> str:
    if value.numel() > 16:  # a field (ElasticTransform's displacement): its shape and size, not its values
        shape = "×".join(str(n) for n in value.shape)
        return f"<{shape} {str(value.dtype).removeprefix('torch.')}, max |v| {value.abs().max().item():.4g}>"
    if value.dtype == torch.bool:
        return "yes" if bool(value) else "no"
    if value.dim() > 0:
        return "[" + ", ".join(_format(v) for v in value) + "]"
    number = value.item()
    if float(number).is_integer():
        return str(int(number))
    return f"{number:.4g}"


def check_params_type(params: object) -> None:
    """Raise TypeError unless ``params`` is a :class:`Params` (a dict needs :meth:`Params.from_dict`)."""
    if not isinstance(params, Params):
        raise TypeError(f"params: expected gpuaug.Params, got {type(params).__name__}")
