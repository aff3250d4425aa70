"""Turn a pytest-benchmark JSON file into bench/results/<device>.md and a PNG chart.

Usage: ``python bench/report.py RESULTS.json [--out bench/results]``. One report per device
found in the file. Every figure comes from that one run: speed-ups are ratios of medians
measured side by side, and on CUDA the bandwidth is divided by the device-to-device copy
measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def load(path: Path) -> tuple[dict, list[dict]]:
    data = json.loads(path.read_text())
    rows = []
    for bench in data["benchmarks"]:
        info = bench.get("extra_info", {})
        if "library" not in info:
            continue
        rows.append(info | {"median_s": bench["stats"]["median"], "name": bench["name"]})
    return data.get("machine_info", {}), rows


#: The pipelines every library runs, compared side by side (``targets``: image, mask, an int64
#: instance map and a float depth map; ``ade20k``: the ADE20K recipe on a list of mixed sizes).
HEAD_TO_HEAD = ("geometric", "full", "targets", "ade20k")


def gbps(row: dict) -> float:
    return row["bytes"] / row["median_s"] / 1e9


def head_to_head(rows: list[dict], peak: float | None) -> list[str]:
    lines = []
    for pipeline in HEAD_TO_HEAD:
        group = [r for r in rows if r["pipeline"] == pipeline]
        if not group:
            continue
        by_library = {r["library"]: r for r in group}
        kornia = by_library.get("kornia", {}).get("median_s")
        ref = by_library.get("reference", {}).get("median_s")
        first = group[0]
        lines += [
            f"### {pipeline}: batch {first['batch']}, {first['size']}",
            "",
            "| library | median ms/batch | images/s | × vs kornia | × vs reference | GB/s"
            + (" | % of peak" if peak else "")
            + " | probe ok | align px | outside not ignore | mask dtype |",
            "|---|---:|---:|---:|---:|---:" + ("|---:" if peak else "") + "|---|---:|---:|---|",
        ]
        for r in sorted(group, key=lambda r: r["median_s"]):
            cells = [
                r["library"],
                f"{r['median_s'] * 1e3:.2f}",
                f"{r['batch'] / r['median_s']:.0f}",
                f"{kornia / r['median_s']:.2f}" if kornia else "–",
                f"{ref / r['median_s']:.2f}" if ref else "–",
                f"{gbps(r):.1f}",
            ]
            if peak:
                cells.append(f"{100 * gbps(r) / peak:.0f} %")
            cells += [
                "yes" if r.get("probe_ok") else "NO",
                f"{r.get('probe_alignment_px', float('nan')):.2f}",
                str(r.get("probe_outside_not_ignore", "–")),
                str(r.get("probe_mask_dtype", "–")),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        compiled = [f"{r['library']} {r['compile_s']:.1f} s" for r in group if "compile_s" in r]
        if compiled:
            lines += ["", "First call, compile included (outside the timings): " + ", ".join(compiled) + "."]
        lines.append("")
    return lines


def simple_table(title: str, rows: list[dict], key_columns: list[str], peak: float | None) -> list[str]:
    if not rows:
        return []
    header = [*key_columns, "median ms", "images/s", "GB/s"] + (["% of peak"] if peak else [])
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in sorted(rows, key=lambda r: tuple(r.get(k, "") for k in key_columns) + (r["median_s"],)):
        cells = [str(r.get(k, "")) for k in key_columns]
        cells += [f"{r['median_s'] * 1e3:.3f}", f"{r['batch'] / r['median_s']:.0f}", f"{gbps(r):.1f}"]
        if peak:
            cells.append(f"{100 * gbps(r) / peak:.0f} %")
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def class_check_share(rows: list[dict]) -> list[str]:
    """The class check's own time (sampling with it minus sampling without it) and its share of
    the geometric call, from the class-check rows of one run; nothing without all three parts."""
    median = {r.get("part"): r["median_s"] for r in rows}
    if not {"sample", "sample without the class check", "geometric call"} <= median.keys():
        return []
    check = median["sample"] - median["sample without the class check"]
    sample_share = 100 * median["sample"] / median["geometric call"]
    return [
        f"The class check (sampling minus sampling without it): {check * 1e3:.2f} ms, "
        f"{100 * check / median['geometric call']:.0f} % of the geometric call "
        f"(all of sampling: {sample_share:.0f} %).",
        "",
    ]


def canvas_table(rows: list[dict]) -> list[str]:
    """Each canvas op's median beside the plain geometric chain's ("none"), as a ratio from this run."""
    base = next((r for r in rows if r["op"] == "none"), None)
    if base is None:
        return []
    lines = [
        f"### canvas ops over the geometric chain (gpuaug, batch {base['batch']}, {base['size']})",
        "",
        "| op | median ms | × the geometric chain |",
        "|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: r["median_s"]):
        lines.append(f"| {r['op']} | {r['median_s'] * 1e3:.3f} | {r['median_s'] / base['median_s']:.2f} |")
    return lines + [""]


def antialias_table(rows: list[dict]) -> list[str]:
    """Each chain with ``antialias=True`` beside the same chain without it, as a ratio from this run."""
    lines = ["### antialias=True over the same chain (gpuaug)", "", "| chain | batch, size | off ms | on ms | × |"]
    lines.append("|---|---|---|---|---|")
    for chain in dict.fromkeys(r["chain"] for r in rows):
        off = next((r for r in rows if r["chain"] == chain and not r["antialias"]), None)
        on = next((r for r in rows if r["chain"] == chain and r["antialias"]), None)
        if off is None or on is None:
            continue
        ratio = on["median_s"] / off["median_s"]
        cells = [chain, f"{off['batch']}, {off['size']}", f"{off['median_s'] * 1e3:.3f}", f"{on['median_s'] * 1e3:.3f}"]
        lines.append("| " + " | ".join(cells) + f" | {ratio:.2f} |")
    return lines + [""] if len(lines) > 4 else []


def per_megapixel_tables(rows: list[dict]) -> list[str]:
    """:func:`per_megapixel_table` of each batch size, smallest first."""
    batches = sorted({r["batch"] for r in rows})
    return [line for b in batches for line in per_megapixel_table([r for r in rows if r["batch"] == b])]


def per_megapixel_table(rows: list[dict]) -> list[str]:
    """The ADE20K recipe's ms per output megapixel at one batch size, one line per library, one
    column per crop, and the spread (largest over smallest) from the smallest crop to the largest."""
    crops = sorted({r["crop"] for r in rows})
    if not crops:
        return []
    lines = [
        f"### ADE20K recipe per output megapixel (batch {rows[0]['batch']}, source 1.25x the crop)",
        "",
        "| library | " + " | ".join(f"{c}² ms/MP" for c in crops) + " | largest / smallest |",
        "|---|" + "---:|" * (len(crops) + 1),
    ]
    for library in dict.fromkeys(r["library"] for r in rows):
        cost = {r["crop"]: r["median_s"] * 1e3 / r["megapixels"] for r in rows if r["library"] == library}
        cells = [f"{cost[c]:.1f}" if c in cost else "–" for c in crops]
        lines.append(f"| {library} | " + " | ".join(cells) + f" | {max(cost.values()) / min(cost.values()):.2f} |")
    compiled = [f"{r['library']} at {r['crop']}² {r['compile_s']:.1f} s" for r in rows if "compile_s" in r]
    if compiled:
        lines += ["", "First call, compile included (outside the timings): " + ", ".join(compiled) + "."]
    return lines + [""]


def volume_table(rows: list[dict]) -> list[str]:
    """The 3D recipe per library, ratios against MONAI and batchgenerators from this run, with
    each pipeline's volume audit (alignment per axis in voxels, outside voxels labelled as a
    class, the label dtype out)."""
    if not rows:
        return []
    by_library = {r["library"]: r["median_s"] for r in rows}
    peers = [p for p in ("monai", "batchgenerators") if p in by_library]
    first = rows[0]
    lines = [
        f"### volumes: batch {first['batch']}, {first['size']} (rotation ±30° about each axis, scale 0.7–1.4, "
        "random patch, mirroring)",
        "",
        "| library | median ms/batch | "
        + "".join(f"× vs {p} | " for p in peers)
        + "align voxels (x, y, z) | outside not ignore | labels invented | label dtype out | probe ok |",
        "|---|---:|" + "---:|" * len(peers) + "---|---:|---:|---|---|",
    ]
    for r in sorted(rows, key=lambda r: r["median_s"]):
        ratios = "".join(f"{by_library[p] / r['median_s']:.2f} | " for p in peers)
        align = ", ".join(f"{v:.2f}" for v in r["align_voxels"])
        lines.append(
            f"| {r['library']} | {r['median_s'] * 1e3:.1f} | {ratios}{align} | {r['outside_not_ignore']} | "
            f"{r['labels_invented']} | {r['mask_dtype_out']} | {'yes' if r['probe_ok'] else 'NO'} |"
        )
    compiled = [f"{r['library']} {r['compile_s']:.1f} s" for r in rows if "compile_s" in r]
    if compiled:
        lines += ["", "First call, compile included (outside the timings): " + ", ".join(compiled) + "."]
    return lines + [""]


def chart(rows: list[dict], path: Path, device: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    pipelines = [p for p in HEAD_TO_HEAD if any(r["pipeline"] == p for r in rows)]
    if not pipelines:
        return False
    fig, axes = plt.subplots(1, len(pipelines), figsize=(5.5 * len(pipelines), 3.6), squeeze=False)
    for ax, pipeline in zip(axes[0], pipelines, strict=True):
        group = sorted((r for r in rows if r["pipeline"] == pipeline), key=lambda r: r["median_s"])
        names = [r["library"] for r in group]
        rates = [r["batch"] / r["median_s"] for r in group]
        colours = ["tab:green" if r.get("probe_ok") else "tab:red" for r in group]
        ax.barh(names[::-1], rates[::-1], color=colours[::-1])
        ax.set_xlabel("images/s (higher is better)")
        ax.set_title(f"{pipeline}, batch {group[0]['batch']}, {group[0]['size']}", fontsize=9)
    fig.suptitle(f"{device}: green = passes the mask probe, red = fails it", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def report(path: Path, out: Path) -> list[Path]:
    machine, rows = load(path)
    by_device = defaultdict(list)
    for r in rows:
        by_device[r["device"]].append(r)
    written = []
    out.mkdir(parents=True, exist_ok=True)
    for device, group in by_device.items():
        copy = [r for r in group if r["library"] == "copy"]
        peak = gbps(copy[0]) if copy else None
        name = slug(device)
        lines = [
            f"# gpuaug benchmarks on {device}",
            "",
            f"From `{path.name}`, one pytest-benchmark run; torch {group[0].get('torch', '?')}, "
            f"Python {machine.get('python_version', '?')}, host CPU {machine.get('cpu', {}).get('brand_raw', '?')}.",
            "Medians per batch. Speed-ups are ratios of medians from this run. GB/s counts the source read once",
            "and the output written once (images and masks)"
            + (f"; peak = device-to-device copy in this run, {peak:.0f} GB/s." if peak else "."),
            "The probe columns audit each library's geometric chain (gpuaug.audit): 'align px' is the largest",
            "mask-vs-image offset (<= 0.5 is exact), 'outside not ignore' counts pixels from outside the image",
            "labelled as a class.",
            "",
        ]
        lines += head_to_head(group, peak)
        masks = [r | {"mask dtype": r.get("mask_dtype", "")} for r in group if r["pipeline"] == "masks"]
        lines += simple_table("masks only (warp_mask)", masks, ["library", "mask dtype", "size"], peak)
        scaling = [r for r in group if r["pipeline"] == "scaling"]
        lines += simple_table(
            "scaling (gpuaug, geometric, uint8 images, int64 masks)", scaling, ["batch", "size"], peak
        )
        lines += canvas_table([r for r in group if r["pipeline"] == "canvas"])
        checks = [r for r in group if r["pipeline"] == "class-check"]
        lines += simple_table(
            "ADE20K recipe, geometric ops: sampling (the class check) and the call", checks, ["part", "size"], peak
        )
        lines += class_check_share(checks)
        lines += per_megapixel_tables([r for r in group if r["pipeline"] == "ade20k-scaling"])
        lines += antialias_table([r for r in group if r["pipeline"] == "antialias"])
        lines += volume_table([r for r in group if r["pipeline"] == "volumes"])
        if chart(group, out / f"{name}.png", device):
            lines += [f"![images/s per library]({name}.png)", ""]
        target = out / f"{name}.md"
        target.write_text("\n".join(lines))
        written.append(target)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a pytest-benchmark --benchmark-json file")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    for path in report(args.results, args.out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
