"""PNG plots of a run: ratio to the floor per workload, loopback against an added round trip, and scale.

Drawn with matplotlib's Agg backend (no display needed) from the JSON reports, into ``.bench/`` and, as
the copies docs/performance.md shows, into ``docs/images/``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .memory import REPOSITORY

DOCS_IMAGES = REPOSITORY / "docs" / "images"


def _rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = json.loads(path.read_text()).get("rows", [])
    return [r for r in rows if isinstance(r, dict)]


def _meta(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()).get("meta", {})) if path.is_file() else {}


def ratio_plot(rows: Sequence[dict[str, Any]], title: str, target: Path) -> Path | None:
    """Bars of gobbler-sdk's and pygobbler's time over the floor, per workload, on a log axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r.get("sdk_ratio")]
    if not shown:
        return None
    figure, axes = plt.subplots(figsize=(9, 4.2), dpi=110)
    positions = range(len(shown))
    width = 0.38
    sdk = [r["sdk_ratio"] for r in shown]
    pyg = [r.get("pyg_ratio") or 0 for r in shown]
    axes.bar([p - width / 2 for p in positions], sdk, width, label="gobbler-sdk", color="#2b6cb0")
    axes.bar([p + width / 2 for p in positions], pyg, width, label="pygobbler", color="#dd8452")
    axes.axhline(1.0, color="black", linewidth=0.8)
    axes.set_yscale("log")
    axes.set_xticks(list(positions), [r["key"] for r in shown])
    axes.set_ylabel("time / floor (log)")
    axes.set_title(title, fontsize=10)
    for position, value in zip(positions, sdk, strict=True):
        axes.annotate(f"{value:.2f}x", (position - width / 2, value), ha="center", va="bottom", fontsize=7)
    axes.legend(frameon=False)
    figure.tight_layout()
    figure.savefig(target)
    plt.close(figure)
    return target


def latency_plot(loopback: Sequence[dict[str, Any]], delayed: Sequence[dict[str, Any]], rtt: float,
                 target: Path) -> Path | None:  # fmt: skip
    """gobbler-sdk's and the floor's seconds on loopback and with the added round trip (log axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    near = {r["key"]: r for r in loopback}
    keys = [r["key"] for r in delayed if r["key"] in near and r.get("sdk") and near[r["key"]].get("sdk")]
    if not keys:
        return None
    far = {r["key"]: r for r in delayed}
    figure, axes = plt.subplots(figsize=(9, 4.2), dpi=110)
    width = 0.2
    series = [
        ("floor, loopback", [near[k].get("floor") or 0 for k in keys], "#9ecae1"),
        ("gobbler-sdk, loopback", [near[k]["sdk"] for k in keys], "#2b6cb0"),
        (f"floor, {rtt * 1000:.0f} ms RTT", [far[k].get("floor") or 0 for k in keys], "#fdae6b"),
        (f"gobbler-sdk, {rtt * 1000:.0f} ms RTT", [far[k]["sdk"] for k in keys], "#d94801"),
    ]
    for index, (label, values, color) in enumerate(series):
        axes.bar(
            [p + (index - 1.5) * width for p in range(len(keys))], values, width, label=label, color=color
        )
    axes.set_yscale("log")
    axes.set_xticks(list(range(len(keys))), keys)
    axes.set_ylabel("seconds (log)")
    axes.set_title("loopback against an added round trip (medians)", fontsize=10)
    axes.legend(frameon=False, fontsize=8)
    figure.tight_layout()
    figure.savefig(target)
    plt.close(figure)
    return target


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _n_ticks(axes: Any, levels: Sequence[int]) -> None:
    """Ticks at the measured N only, written out (1,000 rather than 10^3)."""
    axes.set_xticks(list(levels), [f"{n:,}" for n in levels])
    axes.xaxis.set_minor_locator(_pyplot().NullLocator())


def scale_plots(document: dict[str, Any], bench: Path) -> list[Path]:
    """The scale workloads (s) against N on log-log axes; returns the PNGs written into ``bench``.

    ``scale-time.png``: gobbler-sdk's seconds per operation, and its time per item, where an operation whose
    cost grows linearly draws a flat line. ``scale-upload-fetch.png``: upload and fetch over their floors,
    and their peak RSS, each with its target.
    """
    scale = document.get("scale") or {}
    rows = [r for r in scale.get("rows", []) if isinstance(r, dict) and r.get("sdk")]
    if len({r["files"] for r in rows}) < 2:
        return []
    plt = _pyplot()
    meta = document.get("meta", {})
    when = f"{meta.get('service', '')}, {meta.get('date', '')}"
    operations = list(dict.fromkeys(r["operation"] for r in rows))
    colours = plt.get_cmap("tab20")
    made: list[Path] = []

    figure, (total, each) = plt.subplots(1, 2, figsize=(12, 5.6), dpi=110)
    for index, name in enumerate(operations):
        line = sorted((r for r in rows if r["operation"] == name), key=lambda r: r["files"])
        files = [r["files"] for r in line]
        unit = line[0]["unit"]
        style = {"color": colours(index % 20), "marker": "o", "markersize": 3.5, "linewidth": 1.2}
        style["linestyle"] = "-" if unit == "file" else "--"
        label = name if unit == "file" else f"{name} (per {unit})"
        total.plot(files, [r["sdk"] / max(r["repeats"], 1) for r in line], label=label, **style)
        each.plot(files, [r["sdk_per_item"] * 1e6 for r in line], **style)
    levels = sorted({r["files"] for r in rows})
    for axes in (total, each):
        axes.set_xscale("log")
        axes.set_yscale("log")
        _n_ticks(axes, levels)
        axes.set_xlabel("N (files in the version; versions N/100, projects N/10)")
        axes.grid(True, which="both", linewidth=0.3, alpha=0.5)
    total.set_ylabel("seconds per operation (log)")
    total.set_title("gobbler-sdk, time of one operation", fontsize=10)
    each.set_ylabel("µs per item (log)")
    each.set_title("time per file, version, project (latest(): per call): flat = linear", fontsize=10)
    figure.legend(loc="lower center", ncol=5, fontsize=7.5, frameon=False)
    figure.suptitle(f"scale ({when})", fontsize=10)
    figure.tight_layout(rect=(0, 0.13, 1, 0.97))
    made.append(bench / "scale-time.png")
    figure.savefig(made[-1])
    plt.close(figure)

    memory = scale.get("memory", {})
    targets = {"upload": (1.2, "#2b6cb0"), "fetch": (2.5, "#d94801")}
    figure, (ratios, peaks) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    for name, (limit, colour) in targets.items():
        line = sorted((r for r in rows if r["operation"] == name), key=lambda r: r["files"])
        if not line:
            continue
        files = [r["files"] for r in line]
        ratios.plot(files, [r.get("sdk_ratio") or 0 for r in line], marker="o", color=colour, label=name)
        ratios.axhline(limit, color=colour, linestyle=":", linewidth=1, label=f"{name} target {limit:g}x")
        mode = {"upload": "sdk-upload", "fetch": "sdk-fetch-directory"}[name]
        points = [(n, memory[f"{mode}@{n}"]["peak_mib"]) for n in files if f"{mode}@{n}" in memory]
        if points:
            peaks.plot(*zip(*points, strict=True), marker="o", color=colour, label=f"{name} peak RSS")
    if "sdk-baseline" in memory:
        peaks.axhline(
            memory["sdk-baseline"]["peak_mib"], color="grey", linewidth=1, label="import + 1 request"
        )
    peaks.axhline(300, color="black", linestyle=":", linewidth=1, label="target 300 MiB")
    ratios.set_ylabel("gobbler-sdk time / floor")
    ratios.set_title("over the floor (upload: cp -r + raw upload; fetch: curl --parallel)", fontsize=9)
    peaks.set_ylabel("peak RSS of the client process (MiB, log)")
    peaks.set_yscale("log")
    # Plain MiB on the log axis (50, 100, 200, 300 rather than 3 x 10^2).
    ticks = [t for t in (50, 100, 200, 300, 500, 1000) if t <= max(300, peaks.get_ylim()[1])]
    peaks.set_yticks(ticks, [str(t) for t in ticks])
    peaks.yaxis.set_minor_locator(plt.NullLocator())
    peaks.set_title("peak memory, measured in a fresh process", fontsize=9)
    for axes in (ratios, peaks):
        axes.set_xscale("log")
        _n_ticks(axes, levels)
        axes.set_xlabel("N (files)")
        axes.grid(True, which="both", linewidth=0.3, alpha=0.5)
        axes.legend(frameon=False, fontsize=7.5)
    figure.suptitle(f"scale: upload and fetch ({when})", fontsize=10)
    figure.tight_layout()
    made.append(bench / "scale-upload-fetch.png")
    figure.savefig(made[-1])
    plt.close(figure)
    return made


def write_all(bench: Path, docs: Path | None = DOCS_IMAGES) -> list[Path]:
    """Draw every plot the JSON reports in ``bench`` allow; copy them to ``docs``; return the PNGs."""
    made: list[Path] = []
    loopback, delayed = bench / "results.json", bench / "results-latency.json"
    for source, name, label in (
        (loopback, "ratios-loopback.png", "loopback"),
        (delayed, "ratios-latency.png", "added round trip"),
    ):
        meta = _meta(source)
        title = f"time over floor, {label} ({meta.get('service', '')}, {meta.get('date', '')})"
        png = ratio_plot(_rows(source), title, bench / name)
        if png is not None:
            made.append(png)
    rtt = _meta(delayed).get("latency") or 0.02
    png = latency_plot(_rows(loopback), _rows(delayed), rtt, bench / "loopback-vs-latency.png")
    if png is not None:
        made.append(png)
    scale = bench / "results-scale.json"
    if scale.is_file():
        made += scale_plots(json.loads(scale.read_text()), bench)
    if docs is not None:
        docs.mkdir(parents=True, exist_ok=True)
        for png in made:
            shutil.copyfile(png, docs / png.name)
    return made


if __name__ == "__main__":
    for made in write_all(REPOSITORY / ".bench"):
        print(made)
