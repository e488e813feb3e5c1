"""Progress reporting for copies and downloads: a callback, a terminal bar, or nothing.

``progress=True`` draws a one-line bar on standard error only when it is a terminal, so logs and CI output
stay clean; a callable receives a :class:`ProgressEvent` after every file.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ProgressCallback", "ProgressEvent", "Tracker"]


@dataclass(frozen=True)
class ProgressEvent:
    """Where a long operation stands.

    Attributes:
        phase: ``"copy"`` (staging an upload) or ``"download"``.
        path: The file just finished, relative to the operation's root.
        files_done: Files finished so far.
        files_total: Files in the whole operation.
        bytes_done: Bytes finished so far.
        bytes_total: Bytes in the whole operation.
    """

    phase: str
    path: str
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int


ProgressCallback = Callable[[ProgressEvent], None]


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


class _TerminalBar:
    def __init__(self, label: str) -> None:
        self.label = label
        self._last = 0.0

    def __call__(self, event: ProgressEvent) -> None:
        now = time.monotonic()
        final = event.files_done == event.files_total
        if not final and now - self._last < 0.1:
            return
        self._last = now
        width = 30
        fraction = event.bytes_done / event.bytes_total if event.bytes_total else 1.0
        filled = int(width * fraction)
        line = (
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] "
            f"{event.files_done}/{event.files_total} files, "
            f"{_human(event.bytes_done)}/{_human(event.bytes_total)}"
        )
        sys.stderr.write(line + ("\n" if final else ""))
        sys.stderr.flush()


class Tracker:
    """Thread-safe progress counter feeding a callback.

    Args:
        progress: ``True`` for a terminal bar (only if stderr is a TTY), a callable, or ``None``/``False``.
        phase: Name of the operation, passed on in events.
        files_total: Number of files expected.
        bytes_total: Number of bytes expected.
    """

    def __init__(
        self, progress: bool | ProgressCallback | None, phase: str, files_total: int, bytes_total: int
    ) -> None:
        self.phase = phase
        self.files_total = files_total
        self.bytes_total = bytes_total
        self.files_done = 0
        self.bytes_done = 0
        self._lock = threading.Lock()
        self._callback: ProgressCallback | None
        if progress is True:
            self._callback = _TerminalBar(phase) if sys.stderr.isatty() else None
        elif callable(progress):
            self._callback = progress
        else:
            self._callback = None

    def advance(self, path: str, size: int) -> None:
        """Record one finished file of ``size`` bytes."""
        if self._callback is None:
            return
        with self._lock:
            self.files_done += 1
            self.bytes_done += size
            event = ProgressEvent(
                self.phase, path, self.files_done, self.files_total, self.bytes_done, self.bytes_total
            )
            self._callback(event)
