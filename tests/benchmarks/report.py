"""Turning results into the markdown tables printed at the end and the JSON file with every raw time."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .base import Row, ServiceRow
from .memory import MemoryRow
from .scale import ScaleRow


def seconds(value: float | None) -> str:
    """Seconds with three significant decimals for short times."""
    if value is None:
        return "n/a"
    return f"{value:.3f}" if value < 10 else f"{value:.2f}"


def times(value: float | None) -> str:
    """A ratio as ``1.23x``."""
    return "n/a" if value is None else f"{value:.2f}x"


def mib(value: float | None) -> str:
    """Mebibytes with one decimal."""
    return "n/a" if value is None else f"{value:.1f}"


def micros(value: float | None) -> str:
    """Seconds as microseconds, three significant digits."""
    if value is None:
        return "n/a"
    return f"{value * 1e6:.3g}" if value * 1e6 < 1000 else f"{value * 1e6:,.0f}"


def _loads(values: Sequence[float] | None) -> str:
    """Load averages as ``1.2/0.9/0.8``."""
    return "/".join(f"{v:.2f}" for v in values) if values else "unknown"


def _cell(value: float | None, label: str) -> str:
    """Seconds, or the reason a contender could not run (a label starting with ``n/a``)."""
    if value is None and label.startswith("n/a"):
        return label
    return seconds(value)


def _met(met: bool | None, verdict: str) -> str:
    if met is None:
        return f"n/a ({verdict})" if verdict else "n/a"
    return "yes" if met else verdict


def _table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |" for line in lines]
    return out


def scale_summary(rows: Sequence[ScaleRow]) -> list[str]:
    """One line per scale operation: its time per item, ratio to the floor and peak at every N."""
    operations = list(dict.fromkeys(r.operation for r in rows))
    levels = sorted({r.files for r in rows})
    lines = []
    for name in operations:
        line = sorted((r for r in rows if r.operation == name), key=lambda r: r.files)
        last = line[-1]
        judged = [r for r in line if r.met is not None]
        met = (
            "yes"
            if judged and all(r.met for r in judged)
            else "; ".join(f"no at {r.files:,}: {', '.join(r.missed)}" for r in judged if r.met is False)
        )
        lines.append(
            [
                f"{name} (per {last.unit})",
                " / ".join(micros(r.sdk_per_item) for r in line),
                " / ".join(micros(r.floor_per_item) for r in line),
                times(last.growth),
                times(last.floor_growth),
                " / ".join(times(r.sdk_ratio) for r in line),
                " / ".join(mib(r.peak_mib) for r in line) if any(r.peak_mib for r in line) else "-",
                met or "-",
            ]
        )
    at = " / ".join(f"{n:,}" for n in levels)
    return _table(
        [
            "operation",
            f"µs per item, gobbler-sdk, N = {at}",
            "µs per item, floor",
            f"growth {levels[0]:,} → {levels[-1]:,}",
            "floor's growth",
            "sdk/floor",
            "peak RSS (MiB)",
            "met?",
        ],
        lines,
    )


def scale_table(rows: Sequence[ScaleRow]) -> list[str]:
    """The scale tables: a summary per operation, then one line per operation and N."""
    if not rows:
        return []
    out = ["", "Scale (s), one line per operation:", "", *scale_summary(rows)]
    out += ["", "Scale (s): time per item at every N, and its growth from the smallest N:", ""]
    out += _table(
        [
            "operation",
            "N files",
            "items",
            "floor (s)",
            "gobbler-sdk (s)",
            "sdk/floor",
            "µs per item, floor",
            "µs per item, sdk",
            "growth",
            "floor's growth",
            "peak RSS (MiB)",
            "target",
            "measured",
            "met?",
        ],
        [
            [
                f"{r.operation}: {r.title}",
                f"{r.files:,}",
                f"{r.items:,} {r.unit}{'s' if r.items != 1 else ''}"
                + (f" x {r.repeats}" if r.repeats > 1 else ""),
                seconds(r.floor),
                seconds(r.sdk),
                times(r.sdk_ratio),
                micros(r.floor_per_item),
                micros(r.sdk_per_item),
                times(r.growth),
                times(r.floor_growth),
                mib(r.peak_mib),
                r.target,
                r.measured or "-",
                _met(r.met, r.verdict) if r.met is not None or r.measured else "-",
            ]
            for r in rows
        ],
    )
    floors = {r.operation: r.floor_label for r in rows}
    out += ["", "Scale floors: " + "; ".join(f"**{name}** = {label}" for name, label in floors.items())]
    return out


def markdown(
    meta: dict[str, Any],
    rows: Sequence[Row],
    memory: Sequence[MemoryRow],
    services: Sequence[ServiceRow],
    scale: Sequence[ScaleRow] = (),
) -> str:
    """The whole report: a header line, the time table, notes on floors, memory, scale and service tables."""
    out = [
        f"Benchmark ({meta['mode']}), {meta['date']}, {meta['machine']}, Python {meta['python']}, "
        f"service: {meta['service']}, {meta['rounds']} rounds after {meta['warmup']} warm-up, "
        f"data on {'tmpfs' if meta['tmpfs'] else 'disk'}"
        + (
            f", {meta['latency'] * 1000:g} ms round trip added by {meta['latency_method']} "
            f"(measured by a 1-byte ping-pong: {(meta['measured_rtt'] or 0) * 1000:.1f} ms), "
            + (
                f"a connection's window growing from 10 segments up to {meta['latency_window'] >> 10} KiB."
                if meta.get("latency_window")
                else "no bound on a connection's window."
            )
            if meta.get("latency")
            else "."
        ),
        "",
        f"Commit {meta.get('commit') or 'unknown'}"
        + (" with uncommitted changes" if meta.get("dirty") else "")
        + f", CPU {meta.get('cpu_model') or 'unknown'}, load average (1/5/15 min) "
        + f"{_loads(meta.get('load_before'))} before the run and {_loads(meta.get('load_after'))} after it.",
        "",
    ]
    if rows:
        out += _table(
            [
                "#",
                "workload",
                "floor (s)",
                "gobbler-sdk (s)",
                "pygobbler (s)",
                "sdk/floor",
                "pyg/floor",
                "target",
                "measured",
                "met?",
            ],
            [
                [
                    r.key,
                    r.title,
                    _cell(r.floor, r.floor_label),
                    seconds(r.sdk),
                    _cell(r.pyg, r.pyg_label),
                    times(r.sdk_ratio),
                    times(r.pyg_ratio),
                    r.target,
                    r.measured,
                    _met(r.met, r.verdict),
                ]
                for r in rows
            ],
        )
        out += ["", "Floors, variants and notes:", ""]
        for r in rows:
            details = [f"floor = {r.floor_label}"] if r.floor_label else []
            details += [f"pygobbler = {r.pyg_label}"] if r.pyg_label else []
            details += r.notes
            out.append(f"- **{r.key}**: " + "; ".join(details))
    if memory:
        out += [""]
        out += _table(
            [
                "#",
                "measurement",
                "gobbler-sdk peak (MiB)",
                "sdk baseline (MiB)",
                "pygobbler peak (MiB)",
                "pyg baseline (MiB)",
                "target",
                "measured",
                "met?",
            ],
            [
                [
                    m.key,
                    m.title,
                    mib(m.sdk_peak),
                    mib(m.sdk_baseline),
                    mib(m.pyg_peak),
                    mib(m.pyg_baseline),
                    m.target,
                    m.measured,
                    _met(m.met, m.verdict),
                ]
                for m in memory
            ],
        )
    out += scale_table(scale)
    if services:
        out += ["", "Embedded service against GOBBLER_BINARY (same rounds):", ""]
        out += _table(
            [
                "#",
                "workload",
                "floor, binary (s)",
                "floor, embedded (s)",
                "sdk, binary (s)",
                "sdk, embedded (s)",
                "embedded/binary, floor",
                "embedded/binary, sdk",
            ],
            [
                [
                    s.key,
                    s.title,
                    seconds(s.floor_binary),
                    seconds(s.floor_embedded),
                    seconds(s.sdk_binary),
                    seconds(s.sdk_embedded),
                    times(s.floor_ratio),
                    times(s.sdk_ratio),
                ]
                for s in services
            ],
        )
    return "\n".join(out) + "\n"


def write_json(
    path: Path,
    meta: dict[str, Any],
    raw: dict[str, Any],
    rows: Sequence[Row],
    memory: Sequence[MemoryRow],
    memory_raw: dict[str, Any],
    services: Sequence[ServiceRow],
    scale: tuple[Sequence[ScaleRow], dict[str, Any]] = ((), {}),
) -> None:
    """Write every raw time and every derived number (``scale``: the scale rows and peak memories)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "meta": meta,
        "raw": raw,
        "rows": [r.to_json() for r in rows],
        "memory": {"rows": [m.to_json() for m in memory], "raw": memory_raw},
        "services": [s.to_json() for s in services],
        "scale": {"rows": [r.to_json() for r in scale[0]], "memory": scale[1]},
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
