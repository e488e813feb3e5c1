"""Progress reporting for copies and downloads: a ``tqdm`` bar, a callback, or nothing.

By default (``progress=None``) a bar is drawn when one can be seen: when standard error is a terminal or
inside a Jupyter kernel (``tqdm.auto`` picks the notebook widget there), and never when
``GOBBLER_DISABLE_PROGRESS`` is ``1``/``true``/``yes``, so logs and CI output stay clean. The bar counts
bytes as they arrive, within large files too, with the rate and the time left. ``tqdm_class=`` draws it
with another ``tqdm`` subclass (which is then used even without a terminal). A callable instead receives a
:class:`ProgressEvent` after every file, and no bar is drawn unless ``tqdm_class`` is also given.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import environment
from ._cancel import current_scope

if TYPE_CHECKING:
    from tqdm import tqdm

__all__ = ["ProgressCallback", "ProgressEvent", "TqdmClass", "Tracker", "bars_disabled", "with_tqdm_class"]


@dataclass(frozen=True)
class ProgressEvent:
    """Where a long operation stands.

    Attributes:
        phase: ``"copy"`` (staging an upload) or ``"download"``.
        path: The file just finished, relative to the operation's root.
        files_done: Files finished so far.
        files_total: Files in the whole operation.
        bytes_done: Bytes of the finished files so far.
        bytes_total: Bytes in the whole operation.
    """

    phase: str
    path: str
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int


ProgressCallback = Callable[[ProgressEvent], None]

#: A ``tqdm`` class (``tqdm.tqdm``, ``tqdm.notebook.tqdm``, a subclass of either).
TqdmClass = type["tqdm[Any]"]


def bars_disabled() -> bool:
    """Whether ``GOBBLER_DISABLE_PROGRESS`` turns progress bars off."""
    return environment.flag(environment.DISABLE_PROGRESS)


def _bar_visible() -> bool:
    stream = sys.stderr
    if stream is None:
        return False
    # Jupyter's kernel replaces stderr with its own stream, which is no terminal but shows a widget.
    if type(stream).__module__.startswith("ipykernel"):
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _WithBarClass:
    """A progress setting carrying a ``tqdm`` class through code that only passes ``progress`` on."""

    def __init__(self, progress: bool | ProgressCallback | None, tqdm_class: TqdmClass) -> None:
        self.progress = progress
        self.tqdm_class = tqdm_class

    def __call__(self, event: ProgressEvent) -> None:
        if callable(self.progress):
            self.progress(event)


def with_tqdm_class(
    progress: bool | ProgressCallback | None, tqdm_class: TqdmClass | None
) -> bool | ProgressCallback | None:
    """Fold ``tqdm_class`` into a ``progress`` setting (unchanged when there is no class)."""
    return progress if tqdm_class is None else _WithBarClass(progress, tqdm_class)


class Tracker:
    """Thread-safe progress counter feeding a bar and/or a callback.

    Args:
        progress: ``None``/``True`` for a bar where one can be seen, ``False`` for nothing, or a callable.
        phase: Name of the operation, passed on in events and shown on the bar.
        files_total: Number of files expected.
        bytes_total: Number of bytes expected.
        tqdm_class: Draw the bar with this class (even without a terminal).
        label: Text shown on the bar instead of ``phase``.
    """

    def __init__(
        self,
        progress: bool | ProgressCallback | None,
        phase: str,
        files_total: int,
        bytes_total: int,
        *,
        tqdm_class: TqdmClass | None = None,
        label: str | None = None,
    ) -> None:
        if isinstance(progress, _WithBarClass):
            tqdm_class = tqdm_class or progress.tqdm_class
            progress = progress.progress
        self.phase = phase
        self.files_total = files_total
        self.bytes_total = bytes_total
        self.files_done = 0
        self.bytes_done = 0
        self._lock = threading.Lock()
        # Every chunk and every file passes through here, on whichever thread does the work: the one place
        # where a cancelled async caller's operation stops (see gobbler_sdk._cancel).
        self._scope = current_scope()
        self._callback: ProgressCallback | None = progress if callable(progress) else None
        self._bar: tqdm[Any] | None = None
        wanted = progress is not False and not bars_disabled()
        if (
            wanted
            and files_total > 0
            and (tqdm_class is not None or (self._callback is None and _bar_visible()))
        ):
            self._bar = self._make_bar(tqdm_class, label or phase)

    def _make_bar(self, tqdm_class: TqdmClass | None, label: str) -> tqdm[Any]:
        if tqdm_class is None:
            from tqdm.auto import tqdm as auto

            tqdm_class = auto
        # A terminal that reports no size (some containers' ptys) would get empty lines: assume 80x24.
        try:
            sized = os.get_terminal_size(sys.stderr.fileno()).columns > 0
        except (AttributeError, OSError, ValueError):
            sized = True
        shape: dict[str, Any] = {"dynamic_ncols": True} if sized else {"ncols": 80, "nrows": 24}
        return tqdm_class(
            total=self.bytes_total,
            desc=label,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            file=sys.stderr,
            **shape,
            leave=True,
        )

    @property
    def active(self) -> bool:
        """Whether anything listens (callers skip per-chunk work otherwise)."""
        return self._bar is not None or self._callback is not None or self._scope is not None

    @property
    def on_bytes(self) -> Callable[[int], None] | None:
        """What a download calls with each chunk's size (``None`` when nothing needs to see chunks)."""
        return self.add_bytes if self._bar is not None or self._scope is not None else None

    def add_bytes(self, size: int) -> None:
        """Count bytes received within an unfinished file (negative when a partial download is dropped)."""
        if self._scope is not None and size > 0:
            self._scope.check()
        if self._bar is not None:
            with self._lock:
                self._bar.update(size)

    def advance(self, path: str, size: int) -> None:
        """Record one finished file of ``size`` bytes, none of which went through :meth:`add_bytes`."""
        self._finish(path, size, size)

    def streamed(self, path: str, size: int) -> None:
        """Record one finished file of ``size`` bytes, which were already counted by :meth:`add_bytes`."""
        self._finish(path, size, 0)

    def _finish(self, path: str, size: int, uncounted: int) -> None:
        if not self.active:
            return
        if self._scope is not None:
            self._scope.check()
        with self._lock:
            self.files_done += 1
            self.bytes_done += size
            if self._bar is not None:
                if uncounted:
                    self._bar.update(uncounted)
                if self.files_total > 1:
                    self._bar.set_postfix_str(f"{self.files_done}/{self.files_total} files", refresh=False)
                if self.files_done >= self.files_total:
                    self._close_bar()
            if self._callback is not None:
                self._callback(
                    ProgressEvent(
                        self.phase, path, self.files_done, self.files_total, self.bytes_done, self.bytes_total
                    )
                )

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def close(self) -> None:
        """Close the bar (also done when the last file finishes)."""
        with self._lock:
            self._close_bar()

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
