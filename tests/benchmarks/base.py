"""What every workload shares: the contender protocol, the result rows, medians and target checks.

A workload names its contenders (the floor's parts, gobbler-sdk, pygobbler's variants); the runner asks it to
measure each one once per round, in a rotating order, and keeps every raw time. The workload then turns the
kept rounds into table rows: raw times are summarised by their median, and ratios are computed per round
(against the floor measured in that same round) before taking their median, so slow and fast moments of a
shared machine cancel out instead of adding up.
"""

from __future__ import annotations

import contextlib
import http.client
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from gobbler_sdk._fetcher import _Stream

Times = dict[str, float]


def pyg_text(label: str) -> str:
    """Describe pygobbler's variant, or say it could not run because it is not installed."""
    try:
        import pygobbler  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:  # pragma: no cover - the dev extra installs it
        return "n/a (pygobbler not installed)"
    return label


@dataclass
class Row:
    """One line of the result table.

    ``floor``/``sdk``/``pyg`` are median seconds (``None`` when not measured); ``sdk_ratio`` and
    ``pyg_ratio`` are medians of per-round ratios to the floor; ``measured`` restates the number the target
    is about and ``met`` says whether it holds (``None`` when it cannot be judged).
    """

    key: str
    title: str
    floor: float | None
    sdk: float | None
    pyg: float | None
    sdk_ratio: float | None
    pyg_ratio: float | None
    target: str
    measured: str
    met: bool | None
    verdict: str
    floor_label: str = ""
    pyg_label: str = ""
    notes: list[str] = field(default_factory=list)
    #: gobbler-sdk's process CPU time per HTTP request (seconds, median over rounds), where measured.
    cpu_per_request: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain-data form for the JSON report."""
        return asdict(self)


@dataclass
class ServiceRow:
    """The same workload against the binary (primary) and the embedded service, in the same rounds."""

    key: str
    title: str
    floor_binary: float | None
    floor_embedded: float | None
    sdk_binary: float | None
    sdk_embedded: float | None
    floor_ratio: float | None
    sdk_ratio: float | None

    def to_json(self) -> dict[str, Any]:
        """Plain-data form for the JSON report."""
        return asdict(self)


class Workload:
    """Base of the timed workloads; subclasses fill in the hooks.

    Attributes:
        key: Short identifier used by ``--only`` (``"a"``, ``"c"``...).
        title: One-line description for the table.
        contenders: Names measured in every round.
        extras: Per-round facts that are not times (request counts, best concurrency...), keyed by round.
    """

    key = ""
    title = ""

    def __init__(self) -> None:
        self.contenders: list[str] = []
        self.extras: dict[int, dict[str, Any]] = {}

    def setup(self) -> None:
        """Prepare data and registry state (not timed)."""

    def measure(self, contender: str, round_index: int) -> float:
        """Run one contender once and return its wall-clock seconds (preparation and clean-up excluded)."""
        raise NotImplementedError

    def order(self, round_index: int) -> list[str]:
        """The contenders in the order they run in this round: started at a different one each round."""
        return rotated(self.contenders, round_index)

    def settle(self, round_index: int) -> None:
        """Untimed work before each round's contenders (nothing by default)."""

    def teardown(self) -> None:
        """Release what :meth:`setup` made."""

    def rows(self, rounds: Sequence[Times]) -> list[Row]:
        """Turn the kept rounds (warm-up excluded) into table rows."""
        raise NotImplementedError

    def service_rows(self, rounds: Sequence[Times]) -> list[ServiceRow]:
        """Embedded service against ``GOBBLER_BINARY`` (only the upload workloads have any)."""
        return []

    def note(self, round_index: int, name: str, value: Any) -> None:
        """Record a non-time fact about a round for the JSON report."""
        self.extras.setdefault(round_index, {})[name] = value

    def note_cost(self, round_index: int, contender: str, cost: ClientCost) -> None:
        """Record a contender's CPU seconds and HTTP requests in one round."""
        self.note(round_index, f"{contender} cpu", round(cost.cpu, 6))
        self.note(round_index, f"{contender} requests", cost.requests)

    def cpu_per_request(self, contender: str) -> float | None:
        """Median over the kept rounds of a contender's CPU seconds per request (see :meth:`note_cost`)."""
        return median(
            [
                facts[f"{contender} cpu"] / facts[f"{contender} requests"]
                for index, facts in self.extras.items()
                if index >= 0 and facts.get(f"{contender} requests") and f"{contender} cpu" in facts
            ]
        )

    def cost_note(self, contender: str) -> str:
        """The report's line on a contender's CPU per request, with the requests per round."""
        per = self.cpu_per_request(contender)
        name = f"{contender} requests"
        counts = sorted({int(f[name]) for i, f in self.extras.items() if i >= 0 and name in f})
        shown = "n/a" if per is None else f"{per * 1e6:.0f} µs"
        requests = ", ".join(map(str, counts)) or "?"
        return f"client CPU per request: {shown} (process CPU time / {requests} requests)"


@dataclass
class ClientCost:
    """What the code run inside :func:`client_cost` cost this process: CPU seconds and HTTP requests.

    The services run in processes of their own (and so does the latency proxy), so this process's CPU
    time is the client's own work: its Python, its system calls, its hashing.
    """

    cpu: float = 0.0
    requests: int = 0

    @property
    def per_request(self) -> float | None:
        """CPU seconds per request, ``None`` without requests."""
        return self.cpu / self.requests if self.requests else None


@contextlib.contextmanager
def client_cost() -> Iterator[ClientCost]:
    """Measure the process CPU time and count every HTTP request sent (``http.client`` and httpx).

    Requests are counted where the client sends them (``HTTPConnection.request``, ``httpx.Client.send``, and
    the download window's own ``_Stream.send``), patched for the duration: every path of the client counts.
    """
    cost = ClientCost()
    plain, pooled, streamed = http.client.HTTPConnection.request, httpx.Client.send, _Stream.send

    def request(self: http.client.HTTPConnection, *args: Any, **kwargs: Any) -> None:
        cost.requests += 1
        plain(self, *args, **kwargs)

    def send(self: httpx.Client, *args: Any, **kwargs: Any) -> httpx.Response:
        cost.requests += 1
        return pooled(self, *args, **kwargs)

    def stream(self: _Stream, target: str) -> None:
        cost.requests += 1
        streamed(self, target)

    http.client.HTTPConnection.request = request  # type: ignore[method-assign]
    httpx.Client.send = send  # type: ignore[method-assign]
    _Stream.send = stream  # type: ignore[method-assign]
    start = time.process_time()
    try:
        yield cost
    finally:
        cost.cpu = time.process_time() - start
        http.client.HTTPConnection.request = plain  # type: ignore[method-assign]
        httpx.Client.send = pooled  # type: ignore[method-assign]
        _Stream.send = streamed  # type: ignore[method-assign]


def rotated(names: Sequence[str], round_index: int) -> list[str]:
    """``names`` started at a different place each round."""
    if not names:
        return []
    shift = round_index % len(names)
    return [*names[shift:], *names[:shift]]


def timed(operation: Callable[[], object]) -> float:
    """Seconds ``operation`` takes, by the monotonic high-resolution clock."""
    start = time.perf_counter()
    operation()
    return time.perf_counter() - start


def median(values: Sequence[float | None]) -> float | None:
    """Median of the values that exist, or ``None``."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def best(times: Times, names: Sequence[str]) -> float | None:
    """The fastest of ``names`` in one round (``None`` when none was measured)."""
    present = [times[n] for n in names if n in times]
    return min(present) if present else None


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or ``None`` when either is missing or the denominator is zero."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def per_round(
    rounds: Sequence[Times],
    numerator: Callable[[Times], float | None],
    denominator: Callable[[Times], float | None],
) -> float | None:
    """Median over rounds of the ratio of two quantities measured in the same round."""
    return median([ratio(numerator(t), denominator(t)) for t in rounds])


def at_most(value: float | None, limit: float, unit: str = "x floor") -> tuple[str, bool | None, str]:
    """Judge ``value <= limit``; returns (measured text, met, verdict with the shortfall when missed)."""
    if value is None:
        return "n/a", None, "not measured"
    measured = f"{value:.2f}{unit}"
    if value <= limit:
        return measured, True, "yes"
    return measured, False, f"no: {value / limit:.2f}x too slow"


def at_least(value: float | None, limit: float, unit: str = "x") -> tuple[str, bool | None, str]:
    """Judge ``value >= limit`` (a speed-up); same return shape as :func:`at_most`."""
    if value is None:
        return "n/a", None, "not measured"
    measured = f"{value:.2f}{unit}"
    if value >= limit:
        return measured, True, "yes"
    return measured, False, f"no: needs {limit / value:.2f}x more" if value > 0 else "no"


def combine(*checks: tuple[str, bool | None, str]) -> tuple[str, bool | None, str]:
    """Join several target checks: missed when one is missed, met only when all are met."""
    measured = "; ".join(c[0] for c in checks)
    states = [c[1] for c in checks]
    met: bool | None = False if False in states else None if None in states else True
    if met is False:
        verdict = "; ".join(c[2] for c in checks if c[1] is False)
    elif met is None:
        verdict = "; ".join(c[2] for c in checks if c[1] is None)
    else:
        verdict = "yes"
    return measured, met, verdict
