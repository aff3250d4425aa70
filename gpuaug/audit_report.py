"""What an audit of a pair transform measured (:class:`AuditReport`, :func:`gpuaug.audit.check_pair`)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = ["AuditReport", "ALIGNMENT_TOLERANCE", "MAX_MEAN_OFFSET", "axis_names"]

#: Float tolerance on the half-pixel alignment bound.
ALIGNMENT_TOLERANCE = 1e-3
#: Largest mean signed offset per axis that still counts as unbiased.
MAX_MEAN_OFFSET = 0.1


@dataclass(frozen=True)
class AuditReport:
    """What an audit measured on one pair transform.

    Attributes:
        alignment_px: per axis (x, y; x, y, z for volumes), max |mask source pixel − image source coordinate| over
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
        foreign_pixels: for a variable-size audit, pixels of sample k whose label is not a
            source pixel of sample k (another sample's, or none) or whose image was sampled
            from another sample; None for a stacked audit, whose identical samples cannot
            show it. With ``mixing``: pixels whose label and image come from different
            samples, or whose label names no pixel of the batch.
        pasted_pixels: for a ``mixing`` audit, the measured pixels that show another sample
            (label and image both from it); None otherwise.
        appearance_separated: whether the audit read the geometry apart from the pixel ops
            (bit planes replayed under one seed, :mod:`gpuaug.probe`); False when ``fn`` does
            not give the same output twice under ``torch.manual_seed`` (it holds its own
            generator), so the value-coded probe was used and pixel ops would count as
            misalignment; None for a report built by hand.
    """

    alignment_px: tuple[float, ...]
    mean_offset_px: tuple[float, ...]
    outside_not_ignore: int
    new_labels: int
    dtype_kept: bool
    mask_dtype: str
    per_sample: bool
    inside_pixels: int
    foreign_pixels: int | None = None
    pasted_pixels: int | None = None
    appearance_separated: bool | None = None

    @property
    def bugs(self) -> tuple[str, ...]:
        """The bugs the audit found, by name: ``"desync"`` (labels and image more than half a
        pixel apart, or biased, or, where labels are interpolated, more than a pixel apart; or
        from different samples), ``"interpolated labels"``, ``"lost
        ignore"`` (source-less pixels labelled as a class), ``"lost dtype"``; ``"nothing
        measured"`` when no pixel could be measured. Empty when the pipeline is correct."""
        # An interpolated label may be either tap's, rounded or truncated: up to 1 px, and a bias,
        # is the interpolation.
        limit = 1.0 if self.new_labels else 0.5
        aligned = all(a <= limit + ALIGNMENT_TOLERANCE for a in self.alignment_px)
        unbiased = self.new_labels > 0 or all(abs(m) <= MAX_MEAN_OFFSET for m in self.mean_offset_px)
        found = {
            "nothing measured": self.inside_pixels == 0,
            "desync": (self.inside_pixels > 0 and not (aligned and unbiased)) or bool(self.foreign_pixels),
            "interpolated labels": self.new_labels > 0,
            "lost ignore": self.outside_not_ignore > 0,
            "lost dtype": not self.dtype_kept,
        }
        return tuple(name for name, present in found.items() if present)

    @property
    def ok(self) -> bool:
        """Aligned within half a pixel, unbiased, ignore kept outside, no new labels, dtype kept,
        and (variable-size audits) no pixel from another sample: no :attr:`bugs`."""
        return not self.bugs

    def to_dict(self) -> dict:
        """JSON-ready dict of every field and ``ok`` (NaN becomes None)."""
        data = asdict(self) | {"ok": self.ok, "bugs": list(self.bugs)}
        for key in ("alignment_px", "mean_offset_px"):
            data[key] = [None if math.isnan(v) else v for v in data[key]]
        return data

    def __str__(self) -> str:
        axes = axis_names(self)
        rows = [
            (f"alignment error px ({axes})", ", ".join(f"{v:.3f}" for v in self.alignment_px), "<= 0.5"),
            (
                f"mean offset px ({axes})",
                ", ".join(f"{v:+.3f}" for v in self.mean_offset_px),
                f"|.| <= {MAX_MEAN_OFFSET}",
            ),
            ("outside pixels not ignore", str(self.outside_not_ignore), "0"),
            ("labels invented (pixels)", str(self.new_labels), "0"),
            ("mask dtype out", self.mask_dtype, "int64 (kept)"),
            ("per-sample params", "yes" if self.per_sample else "no", ""),
            ("pixels measured", str(self.inside_pixels), ""),
        ]
        if self.appearance_separated is not None:
            separated = "yes" if self.appearance_separated else "no: fn does not replay under torch.manual_seed"
            rows.append(("geometry read apart from pixel ops", separated, ""))
        if self.foreign_pixels is not None:
            what = "label/image from different samples" if self.pasted_pixels is not None else "from another sample"
            rows.insert(4, (f"{what} (pixels)", str(self.foreign_pixels), "0"))
        if self.pasted_pixels is not None:
            rows.insert(5, ("pasted from another sample (pixels)", str(self.pasted_pixels), ""))
        width = max(len(r[0]) for r in rows)
        lines = [f"{name.ljust(width)}  {value:<16} {want}".rstrip() for name, value, want in rows]
        if self.bugs:
            lines.append(f"{'bugs'.ljust(width)}  {', '.join(self.bugs)}")
        return "\n".join(lines + [f"{'ok'.ljust(width)}  {'yes' if self.ok else 'NO'}"])


def axis_names(report: AuditReport) -> str:
    """The report's axes as its tables name them: "x, y", or "x, y, z" for a volume audit."""
    return ", ".join("xyz"[: len(report.alignment_px)])
