"""Audit any image+mask pair transform for the three silent segmentation bugs.

:func:`check_pair` feeds a pair transform the probes of :mod:`gpuaug.probe` and reports,
in pixels and counts, whether image and mask stayed aligned, whether labels were invented,
whether pixels from outside the image kept ``ignore_index`` and whether the mask dtype
survived. It works for gpuaug, for peers (kornia, albumentations, wrapped), and for a
user's own code, on CPU or CUDA, including pipelines that change the output size.

``python -m gpuaug audit`` runs it on the naive pipeline with each classic bug, on gpuaug,
and on kornia / albumentations when they are installed, and prints the table;
``python -m gpuaug audit --pipeline module:function`` audits your own pair transform
instead and exits non-zero when it is not ok.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from gpuaug import probe
from gpuaug._checks import check_int, check_size

__all__ = ["AuditReport", "check_pair", "format_table", "load_pipeline", "main"]

PairFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

#: Float tolerance on the half-pixel alignment bound.
ALIGNMENT_TOLERANCE = 1e-3
#: Largest mean signed offset per axis that still counts as unbiased.
MAX_MEAN_OFFSET = 0.1


@dataclass(frozen=True)
class AuditReport:
    """What an audit measured on one pair transform.

    Attributes:
        alignment_px: per axis (x, y), max |mask source pixel − image source coordinate| over
            pixels whose four bilinear taps are inside the source (NaN when there is none).
        mean_offset_px: per axis, the mean signed mask − image offset over those pixels;
            about 0 when aligned, ±0.5 for a constant half-pixel shift that the max allows.
        outside_not_ignore: pixels mapped wholly from outside the source whose label is not
            ``ignore_index``.
        new_labels: pixels whose label was never in the input (interpolated labels).
        dtype_kept: whether the mask dtype came out as it went in (int64).
        mask_dtype: the output mask dtype, as text.
        per_sample: whether the samples of the batch (identical inputs) came out different.
        inside_pixels: how many pixels the alignment was measured on.
    """

    alignment_px: tuple[float, float]
    mean_offset_px: tuple[float, float]
    outside_not_ignore: int
    new_labels: int
    dtype_kept: bool
    mask_dtype: str
    per_sample: bool
    inside_pixels: int

    @property
    def ok(self) -> bool:
        """Aligned within half a pixel, unbiased, ignore kept outside, no new labels, dtype kept."""
        aligned = all(a <= 0.5 + ALIGNMENT_TOLERANCE for a in self.alignment_px)
        unbiased = all(abs(m) <= MAX_MEAN_OFFSET for m in self.mean_offset_px)
        return aligned and unbiased and self.outside_not_ignore == 0 and self.new_labels == 0 and self.dtype_kept

    def to_dict(self) -> dict:
        """JSON-ready dict of every field and ``ok`` (NaN becomes None)."""
        data = asdict(self) | {"ok": self.ok}
        for key in ("alignment_px", "mean_offset_px"):
            data[key] = [None if math.isnan(v) else v for v in data[key]]
        return data

    def __str__(self) -> str:
        ax, ay = self.alignment_px
        mx, my = self.mean_offset_px
        rows = [
            ("alignment error px (x, y)", f"{ax:.3f}, {ay:.3f}", "<= 0.5"),
            ("mean offset px (x, y)", f"{mx:+.3f}, {my:+.3f}", f"|.| <= {MAX_MEAN_OFFSET}"),
            ("outside pixels not ignore", str(self.outside_not_ignore), "0"),
            ("labels invented (pixels)", str(self.new_labels), "0"),
            ("mask dtype out", self.mask_dtype, "int64 (kept)"),
            ("per-sample params", "yes" if self.per_sample else "no", ""),
            ("pixels measured", str(self.inside_pixels), ""),
        ]
        width = max(len(r[0]) for r in rows)
        lines = [f"{name.ljust(width)}  {value:<16} {want}".rstrip() for name, value, want in rows]
        return "\n".join(lines + [f"{'ok'.ljust(width)}  {'yes' if self.ok else 'NO'}"])


def check_pair(
    fn: PairFn,
    image_size: tuple[int, int] = (64, 64),
    batch_size: int = 8,
    ignore_index: int = 255,
    seed: int = 0,
    *,
    device: torch.device | str | None = None,
) -> AuditReport:
    """Audit the pair transform ``fn(images, masks) -> (images, masks)``.

    ``fn`` receives float32 images B×3×H×W (column, row and validity channels) and int64
    masks B×1×H×W (label y·W + x, skipping ``ignore_index``), then a second batch with a few
    sparse labels, and should treat them like any training batch with image fill 0. The
    global torch seed is set to ``seed`` before each call, so an ``fn`` that uses the
    global RNG is audited reproducibly.

    Args:
        fn: the pair transform under audit.
        image_size: (H, W) of the probes.
        batch_size: samples per probe batch (>= 2 to see per-sample params).
        ignore_index: the value ``fn`` should write outside the image.
        seed: the torch seed set before each call.
        device: where the probes are made (CPU by default).
    """
    if not callable(fn):
        raise TypeError(f"fn: expected a callable fn(images, masks) -> (images, masks), got {type(fn).__name__}")
    height, width = check_size(image_size, "image_size")
    if check_int(batch_size, "batch_size") < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size}")
    images, masks = probe.coordinate_probe(batch_size, height, width, ignore_index, device)
    torch.manual_seed(seed)
    out_images, out_masks = _call(fn, images, masks)
    metrics = probe.measure_alignment(out_images, out_masks, width, ignore_index)
    sparse_images, sparse_masks = probe.label_probe(batch_size, height, width, device=device)
    torch.manual_seed(seed)
    _, sparse_out = _call(fn, sparse_images, sparse_masks)
    return AuditReport(
        alignment_px=metrics["alignment_px"],
        mean_offset_px=metrics["mean_offset_px"],
        outside_not_ignore=metrics["outside_not_ignore"],
        new_labels=probe.count_new_labels(sparse_masks, sparse_out, ignore_index),
        dtype_kept=out_masks.dtype == masks.dtype,
        mask_dtype=str(out_masks.dtype).removeprefix("torch."),
        per_sample=probe.varies_across_batch(out_images),
        inside_pixels=metrics["inside_pixels"],
    )


def _call(fn: PairFn, images: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``fn(images, masks)``, checked to be an (images, masks) pair of tensors."""
    out = fn(images, masks)
    if not (isinstance(out, (tuple, list)) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out)):
        raise TypeError(f"fn: expected fn(images, masks) to return (images, masks) tensors, got {type(out).__name__}")
    return out[0], out[1]


def format_table(reports: dict[str, AuditReport], extra: dict[str, dict[str, str]] | None = None) -> str:
    """Side-by-side table of named reports; ``extra`` adds columns (column → name → cell)."""
    extra = extra or {}
    header = [
        "pipeline",
        "align err px (x, y)",
        "mean offset px",
        "labels invented",
        "mask dtype out",
        "outside not ignore",
        "per-sample",
        *extra,
        "ok",
    ]
    rows = []
    for name, r in reports.items():
        cells = [
            name,
            f"{r.alignment_px[0]:.2f}, {r.alignment_px[1]:.2f}",
            f"{r.mean_offset_px[0]:+.2f}, {r.mean_offset_px[1]:+.2f}",
            str(r.new_labels),
            r.mask_dtype,
            str(r.outside_not_ignore),
            "yes" if r.per_sample else "no",
            *(column[name] for column in extra.values()),
            "yes" if r.ok else "NO",
        ]
        rows.append(cells)
    table = [header, *rows]
    widths = [max(len(row[k]) for row in table) for k in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --- python -m gpuaug audit ------------------------------------------------------------------


def default_pipelines(size: int, ignore_index: int = 255) -> dict[str, PairFn]:
    """The audited pipelines: the naive one with each classic bug, gpuaug, and installed peers.

    Each runs the chain of :mod:`gpuaug.peers` (random resized crop to ``size``, flip,
    small random affine).
    """
    from gpuaug import peers
    from gpuaug.compose import Compose
    from gpuaug.naive import BUGS, NaivePipeline

    ops = peers.gpuaug_ops(size)
    pipelines: dict[str, PairFn] = {
        f"naive: {label}": NaivePipeline.only(bug, ops, ignore_index) for bug, label in BUGS.items()
    }
    pipelines["gpuaug"] = Compose(ops, ignore_index=ignore_index)
    for name, factory in (("kornia", peers.kornia_pipeline), ("albumentations", peers.albumentations_pipeline)):
        try:
            pipelines[name] = factory(size, ignore_index)
        except ImportError:
            continue  # not installed: no row
    return pipelines


def load_pipeline(spec: str) -> PairFn:
    """The pair transform named by ``spec`` = ``"module:function"`` (the module is imported).

    Raises:
        ValueError: a spec that is not ``module:function``, a module that cannot be imported,
            a missing attribute or one that is not callable; the message says which.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"--pipeline: expected module:function (e.g. my_project.augment:pair), got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"--pipeline: cannot import module {module_name!r}: {exc}") from exc
    fn = module
    for part in attribute.split("."):
        if not hasattr(fn, part):
            raise ValueError(f"--pipeline: module {module_name!r} has no attribute {attribute!r}")
        fn = getattr(fn, part)
    if not callable(fn):
        raise ValueError(f"--pipeline: {spec} is a {type(fn).__name__}, expected fn(images, masks) -> (images, masks)")
    return fn


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m gpuaug audit``; returns 1 when a ``--pipeline`` is not ok."""
    parser = argparse.ArgumentParser(prog="python -m gpuaug audit", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pipeline",
        metavar="MODULE:FUNCTION",
        help="audit your own pair transform fn(images, masks) -> (images, masks) instead of the built-in "
        "pipelines, e.g. my_project.augment:train_pair (imported from the current directory or sys.path)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the reports as JSON")
    parser.add_argument("--size", type=int, default=48, help="output size of the audited chain (default 48)")
    parser.add_argument("--image-size", type=int, default=64, help="probe image size (default 64)")
    parser.add_argument("--batch", type=int, default=8, help="probe batch size (default 8)")
    parser.add_argument("--device", default="cpu", help="'cpu' or 'cuda' (peers that cannot run there are skipped)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    size = (args.image_size, args.image_size)
    if args.pipeline is not None:
        try:
            fn = load_pipeline(args.pipeline)
        except ValueError as exc:
            parser.error(str(exc))
        report = check_pair(fn, size, args.batch, seed=args.seed, device=device)
        print(f"gpuaug audit of {args.pipeline}: probes {args.batch}x{size[0]}x{size[1]} on {device}, ignore_index=255")
        print(report)
        _write_json(args.json, {args.pipeline: report})
        return 0 if report.ok else 1
    reports = {}
    for name, fn in default_pipelines(args.size).items():
        if name == "albumentations" and device.type != "cpu":
            continue
        reports[name] = check_pair(fn, size, args.batch, seed=args.seed, device=device)
    print(f"gpuaug audit: probes {args.batch}x{args.image_size}x{args.image_size} on {device}, ignore_index=255")
    print(format_table(reports))
    _write_json(args.json, reports)
    return 0


def _write_json(path: str | None, reports: dict[str, AuditReport]) -> None:
    if path:
        with open(path, "w") as f:
            json.dump({name: r.to_dict() for name, r in reports.items()}, f, indent=2)
        print(f"reports written to {path}")
