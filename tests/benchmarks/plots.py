"""PNG plots of a run: ratio to the floor per workload, and loopback against an added round trip.

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
    if docs is not None:
        docs.mkdir(parents=True, exist_ok=True)
        for png in made:
            shutil.copyfile(png, docs / png.name)
    return made


if __name__ == "__main__":
    for made in write_all(REPOSITORY / ".bench"):
        print(made)
