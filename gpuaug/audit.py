"""Audit any image+mask pair transform for the three silent segmentation bugs.

:func:`check_pair` feeds a pair transform the probes of :mod:`gpuaug.probe` and reports,
in pixels and counts, whether image and mask stayed aligned, whether labels were invented,
whether pixels from outside the image kept ``ignore_index`` and whether the mask dtype
survived. It works for gpuaug, for peers (kornia, albumentations, wrapped), and for a
user's own code, on CPU or CUDA, including pipelines that change the output size. With
``image_size`` a list of (h, w) sizes it audits a variable-size pair transform
``fn(images_list, masks_list)`` sample by sample, and also counts pixels that show another
sample's image or labels.

``python -m gpuaug audit`` runs it on the naive pipeline with each classic bug, on gpuaug,
and on kornia / albumentations when they are installed, and prints the table;
``python -m gpuaug audit --pipeline module:function`` audits your own pair transform
instead and exits non-zero when it is not ok; ``--sizes 23x31,40x17,...`` audits on lists
of samples of those sizes.
"""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Sequence
from dataclasses import replace

import torch

from gpuaug import audit_replay, probe
from gpuaug.audit_report import AuditReport, axis_names
from gpuaug.audit_volume import check_volume_pair
from gpuaug.core.checks import check_int, check_size
from gpuaug.core.types import PairFn

__all__ = ["AuditReport", "check_pair", "format_table", "load_pipeline", "main"]


def check_pair(
    fn: PairFn,
    image_size: int | tuple[int, int] | tuple[int, int, int] | Sequence[tuple[int, int]] = (64, 64),
    batch_size: int | None = None,
    ignore_index: int = 255,
    seed: int = 0,
    *,
    device: torch.device | str | None = None,
    mixing: bool = False,
) -> AuditReport:
    """Audit the pair transform ``fn(images, masks) -> (images, masks)``.

    With ``image_size`` an int or an (H, W) pair, ``fn`` receives a stacked batch: float32
    images B×3×H×W (column, row and validity channels) and int64 masks B×1×H×W (label
    y·W + x, skipping ``ignore_index``), then a second batch with a few sparse labels.

    With ``image_size`` a list of (h, w) pairs, one per sample, ``fn`` receives lists:
    B float32 images 4×Hₖ×Wₖ (a fourth channel holds the sample index k) and B int64 masks
    Hₖ×Wₖ labelled by the pixel's index in the whole batch (see
    :func:`gpuaug.probe.coordinate_probe_list`), then sparse labels of the same sizes, then a
    list of B samples all of the first size (to see per-sample params on identical inputs).
    It may return a stacked pair (B×C×h×w images, B×h×w or B×1×h×w masks) or lists of B
    per-sample tensors. Each sample is measured against its own source, decoded with its own
    width, and :attr:`AuditReport.foreign_pixels` counts pixels from another sample.

    With ``image_size`` a (D, H, W) triple of ints, ``fn`` is a volume pair transform and the
    audit is :func:`gpuaug.audit_volume.check_volume_pair` (``batch_size`` 4 when None): the
    3D probe, a report with three axes.

    With ``mixing`` (pipelines that paste other samples' pixels: CutMix, ClassMix, Mosaic)
    a stacked probe is the list probe of B samples of one size, stacked (4 channels, the
    sample index in the fourth and in the labels), and a pixel from another sample is fine
    when its label and its image come from that same sample and agree within half a pixel;
    :attr:`AuditReport.foreign_pixels` counts those whose label and image disagree on the
    sample, :attr:`AuditReport.pasted_pixels` the consistent pasted ones.

    ``fn`` should treat the probes like any training batch with image fill 0. The global
    torch seed is set to ``seed`` before each call, so an ``fn`` that uses the global RNG is
    audited reproducibly.

    Args:
        fn: the pair transform under audit.
        image_size: (H, W) of a stacked probe (an int for a square), or a list of (h, w)
            pairs, one per sample, for a variable-size probe.
        batch_size: samples per stacked probe batch (>= 2 to see per-sample params; 8 when
            None). With a list of sizes the batch has one sample per size: leave it None or
            give that length.
        ignore_index: the value ``fn`` should write outside the image.
        seed: the torch seed set before each call.
        device: where the probes are made (CPU by default).
        mixing: audit a pipeline that mixes samples (above).

    Raises:
        TypeError: ``fn`` not callable, or returning something other than an (images, masks)
            pair of tensors (or, for list probes, of B-tensor lists).
        ValueError: a bad ``image_size`` or ``batch_size``, or a ``batch_size`` that is not
            the length of the ``image_size`` list.
    """
    if not callable(fn):
        raise TypeError(f"fn: expected a callable fn(images, masks) -> (images, masks), got {type(fn).__name__}")
    if batch_size is not None and check_int(batch_size, "batch_size") < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size}")
    if isinstance(image_size, Sequence) and len(image_size) == 3 and all(isinstance(v, int) for v in image_size):
        if mixing:
            raise ValueError("mixing: the volume audit takes no mixing pipelines")
        return check_volume_pair(fn, tuple(image_size), batch_size or 4, ignore_index, seed, device=device)
    sizes = _read_sizes(image_size)
    if sizes is not None:
        if batch_size is not None and batch_size != len(sizes):
            raise ValueError(
                f"batch_size: image_size lists {len(sizes)} sizes, one per sample, so the batch has {len(sizes)} "
                f"samples; got batch_size={batch_size} (leave it out)"
            )
        return _audit(fn, sizes, ignore_index, seed, device, stacked=False, mixing=mixing)
    batch_size = 8 if batch_size is None else batch_size
    height, width = check_size(image_size, "image_size")
    return _audit(fn, [(height, width)] * batch_size, ignore_index, seed, device, stacked=True, mixing=mixing)


class _Refused(Exception):
    """``fn`` raised on the value-coded probe (a pixel op that wants 3 channels, say)."""


def _audit(fn: PairFn, sizes, ignore_index: int, seed: int, device, *, stacked: bool, mixing: bool) -> AuditReport:
    """The value-coded probe first (few calls); when it is not ok, or ``fn`` refuses it, the
    bit planes, which read the geometry apart from pixel ops, if ``fn`` replays under one seed."""
    report, refused = None, None
    try:
        if stacked and not mixing:
            report = _check_stacked(fn, sizes, ignore_index, seed, device)
        else:
            report = _check_list(fn, sizes, ignore_index, seed, device, mixing, stacked=stacked)
    except _Refused as exc:
        refused = exc.__cause__
    if report is not None and report.ok:
        return report
    replayed = audit_replay.check_replayed(fn, sizes, ignore_index, seed, device, stacked=stacked, mixing=mixing)
    if replayed is not None:
        return replayed
    if report is None:  # fn does not replay, and it refused the value probe: its own error
        raise refused
    return replace(report, appearance_separated=False)


def _check_stacked(fn: PairFn, sizes, ignore_index: int, seed: int, device) -> AuditReport:
    """:func:`check_pair` by the value-coded stacked probe (:func:`gpuaug.probe.coordinate_probe`)."""
    (height, width), batch_size = sizes[0], len(sizes)
    images, masks = probe.coordinate_probe(batch_size, height, width, ignore_index, device)
    torch.manual_seed(seed)
    out_images, out_masks = audit_replay.call_pair(_refusing(fn), images, masks)
    metrics = probe.measure_alignment(out_images, out_masks, width, ignore_index)
    checker, _ = probe.checkerboard_labels(sizes, ignore_index, device)
    torch.manual_seed(seed)
    _, checker_out = audit_replay.call_pair(_refusing(fn), images, torch.stack(checker)[:, None])
    return AuditReport(
        alignment_px=metrics["alignment_px"],
        mean_offset_px=metrics["mean_offset_px"],
        outside_not_ignore=metrics["outside_not_ignore"],
        new_labels=probe.count_new_labels(
            audit_replay.flatten(checker), audit_replay.flatten(list(checker_out)), ignore_index
        ),
        dtype_kept=out_masks.dtype == masks.dtype,
        mask_dtype=str(out_masks.dtype).removeprefix("torch."),
        per_sample=probe.varies_across_batch(out_images),
        inside_pixels=metrics["inside_pixels"],
    )


def _refusing(fn: PairFn) -> PairFn:
    """``fn``, its own exceptions raised as :class:`_Refused`."""

    def call(images, masks):
        try:
            return fn(images, masks)
        except Exception as exc:
            raise _Refused(str(exc)) from exc

    return call


def _read_sizes(image_size: object) -> list[tuple[int, int]] | None:
    """``image_size`` as a list of per-sample (h, w) when it is a sequence of pairs; None for one size."""
    pairs = isinstance(image_size, Sequence) and not isinstance(image_size, str)
    if not (pairs and any(isinstance(v, Sequence) and not isinstance(v, str) for v in image_size)):
        return None  # one size: check_size reads it
    sizes = []
    for k, size in enumerate(image_size):
        if not (isinstance(size, Sequence) and len(size) == 2):
            raise TypeError(f"image_size[{k}]: expected an (h, w) pair in a list of sizes, got {size!r}")
        sizes.append(check_size(size, f"image_size[{k}]"))
    return sizes


def _check_list(
    fn: PairFn,
    sizes: list[tuple[int, int]],
    ignore_index: int,
    seed: int,
    device: torch.device | str | None,
    mixing: bool = False,
    stacked: bool = False,
) -> AuditReport:
    """:func:`check_pair` on list probes of per-sample ``sizes`` (``stacked``: passed to ``fn``
    as one B×4×H×W batch and B×H×W masks)."""

    fn = _refusing(fn)

    def call(images, masks):
        if stacked:
            return audit_replay.call_lists(lambda i, m: fn(torch.stack(i), torch.stack(m)), images, masks)
        return audit_replay.call_lists(fn, images, masks)

    images, masks = probe.coordinate_probe_list(sizes, ignore_index, device)
    torch.manual_seed(seed)
    out_images, out_masks = call(images, masks)
    metrics = probe.measure_alignment_list(out_images, out_masks, sizes, ignore_index, mixing=mixing)
    checker, _ = probe.checkerboard_labels(sizes, ignore_index, device)
    torch.manual_seed(seed)
    _, checker_out = call(images, checker)
    same_images, same_masks = probe.coordinate_probe_list([sizes[0]] * len(sizes), ignore_index, device)
    torch.manual_seed(seed)
    same_out, _ = call(same_images, same_masks)
    dtypes = sorted({str(m.dtype).removeprefix("torch.") for m in out_masks})
    return AuditReport(
        alignment_px=metrics["alignment_px"],
        mean_offset_px=metrics["mean_offset_px"],
        outside_not_ignore=metrics["outside_not_ignore"],
        new_labels=probe.count_new_labels(
            audit_replay.flatten(checker), audit_replay.flatten(checker_out), ignore_index
        ),
        dtype_kept=all(m.dtype == torch.int64 for m in out_masks),
        mask_dtype=", ".join(dtypes),
        per_sample=probe.varies_across_batch([image[:3] for image in same_out]),  # the sample channel differs
        inside_pixels=metrics["inside_pixels"],
        foreign_pixels=metrics["foreign_pixels"],
        pasted_pixels=metrics["pasted_pixels"] if mixing else None,
    )


def format_table(reports: dict[str, AuditReport], extra: dict[str, dict[str, str]] | None = None) -> str:
    """Side-by-side table of named reports; ``extra`` adds columns (column → name → cell).

    Variable-size reports (``foreign_pixels`` not None) add a "from another sample" column.
    """
    extra = dict(extra or {})
    if any(r.foreign_pixels is not None for r in reports.values()):
        foreign = {name: "-" if r.foreign_pixels is None else str(r.foreign_pixels) for name, r in reports.items()}
        extra = {"from another sample": foreign, **extra}
    axes = axis_names(next(iter(reports.values()))) if reports else "x, y"
    header = [
        "pipeline",
        f"align err px ({axes})",
        "mean offset px",
        "labels invented",
        "mask dtype out",
        "outside not ignore",
        "per-sample",
        *extra,
        "bugs",
        "ok",
    ]
    rows = []
    for name, r in reports.items():
        cells = [
            name,
            ", ".join(f"{v:.2f}" for v in r.alignment_px),
            ", ".join(f"{v:+.2f}" for v in r.mean_offset_px),
            str(r.new_labels),
            r.mask_dtype,
            str(r.outside_not_ignore),
            "yes" if r.per_sample else "no",
            *(column[name] for column in extra.values()),
            ", ".join(r.bugs) or "-",
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
    probe_size = parser.add_mutually_exclusive_group()
    probe_size.add_argument("--image-size", type=int, default=64, help="probe image size (default 64)")
    probe_size.add_argument(
        "--sizes",
        type=_parse_sizes,
        metavar="HxW,HxW,...",
        help="audit on a variable-size batch instead: lists of one probe per size, e.g. 23x31,40x17,9x50, passed "
        "as fn(images_list, masks_list); the batch has one sample per size. Of the built-in pipelines only "
        "gpuaug takes lists",
    )
    parser.add_argument("--batch", type=int, help="probe batch size (default 8; with --sizes, the number of sizes)")
    parser.add_argument("--device", default="cpu", help="'cpu' or 'cuda' (peers that cannot run there are skipped)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--volume",
        action="store_true",
        help="audit the 3D spatial recipe instead (gpuaug, labels resampled as intensities, and MONAI and "
        "batchgenerators when installed) on a 4×24×28×32 volume probe, or --pipeline on it",
    )
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.volume:
        if args.sizes is not None:
            parser.error("--volume: audits stacked volumes; --sizes is for lists of 2D images")
        return _audit_volumes(args.pipeline, args.batch or 4, args.seed, device, args.json)
    if args.sizes is not None:
        if args.batch is not None and args.batch != len(args.sizes):
            parser.error(f"--batch: --sizes gives {len(args.sizes)} samples, got --batch {args.batch}")
        size, batch = args.sizes, None
        probes = f"{len(args.sizes)} samples " + ",".join(f"{h}x{w}" for h, w in args.sizes)
    else:
        size, batch = (args.image_size, args.image_size), 8 if args.batch is None else args.batch
        probes = f"{batch}x{args.image_size}x{args.image_size}"
    if args.pipeline is not None:
        try:
            fn = load_pipeline(args.pipeline)
        except ValueError as exc:
            parser.error(str(exc))
        report = check_pair(fn, size, batch, seed=args.seed, device=device)
        print(f"gpuaug audit of {args.pipeline}: probes {probes} on {device}, ignore_index=255")
        print(report)
        _write_json(args.json, {args.pipeline: report})
        return 0 if report.ok else 1
    if args.sizes is not None:
        from gpuaug import peers
        from gpuaug.compose import Compose

        pipelines: dict[str, PairFn] = {"gpuaug": Compose(peers.gpuaug_ops(args.size))}
    else:
        pipelines = default_pipelines(args.size)
    reports = {}
    for name, fn in pipelines.items():
        if name == "albumentations" and device.type != "cpu":
            continue
        reports[name] = check_pair(fn, size, batch, seed=args.seed, device=device)
    print(f"gpuaug audit: probes {probes} on {device}, ignore_index=255")
    print(format_table(reports))
    _write_json(args.json, reports)
    return 0


def _audit_volumes(spec: str | None, batch: int, seed: int, device: torch.device, path: str | None) -> int:
    """``audit --volume``: the volume audit (:func:`gpuaug.audit_volume.check_volume_pair`) of a
    ``--pipeline`` or of the recipe's pipelines (:mod:`gpuaug.peers_volume`), as a table."""
    from gpuaug import peers_volume

    size, patch = (24, 28, 32), (16, 20, 24)
    header = f"probes {batch}x4x{'x'.join(map(str, size))} on {device}, ignore_index=255"
    if spec is not None:
        report = check_volume_pair(load_pipeline(spec), size, batch, seed=seed, device=device)
        print(f"gpuaug audit --volume of {spec}: {header}\n{report}")
        _write_json(path, {spec: report})
        return 0 if report.ok else 1
    factories = {
        "gpuaug": peers_volume.gpuaug_volume_pipeline,
        "naive: float-resampled labels": peers_volume.naive_pipeline,
        "monai": peers_volume.monai_pipeline,
        "batchgenerators": peers_volume.batchgenerators_pipeline,
    }
    reports = {}
    for name, factory in factories.items():
        try:
            fn = factory(patch)
        except ImportError:
            continue  # not installed: no row (pip install 'gpuaug[bench3d]')
        if name == "batchgenerators" and device.type != "cpu":
            continue
        reports[name] = check_volume_pair(fn, size, batch, seed=seed, device=device)
    print(f"gpuaug audit --volume: {header}, patches {'x'.join(map(str, patch))}")
    print(format_table(reports))
    _write_json(path, reports)
    return 0


def _parse_sizes(text: str) -> list[tuple[int, int]]:
    """``--sizes`` text ``23x31,40x17`` as [(23, 31), (40, 17)]."""
    sizes = []
    for part in text.split(","):
        h, sep, w = part.strip().lower().partition("x")
        if not (sep and h.isdigit() and w.isdigit() and int(h) > 0 and int(w) > 0):
            raise argparse.ArgumentTypeError(
                f"expected positive HxW sizes separated by commas (e.g. 23x31,40x17), got {part.strip()!r} in {text!r}"
            )
        sizes.append((int(h), int(w)))
    return sizes


def _write_json(path: str | None, reports: dict[str, AuditReport]) -> None:
    if path:
        with open(path, "w") as f:
            json.dump({name: r.to_dict() for name, r in reports.items()}, f, indent=2)
        print(f"reports written to {path}")
