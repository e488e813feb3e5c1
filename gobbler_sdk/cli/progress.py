"""The progress bar the command line draws: shown from the first byte, and left as it was on Ctrl-C.

The SDK draws the bars; the command line hands it a ``tqdm`` class (the public ``tqdm_class=`` of reads and
uploads) that changes two things for a terminal:

- a bar appears only once the first byte has moved, so a read that cannot start (offline and not cached, a
  service that refuses) ends with its one-line error and no empty bar above it;
- after Ctrl-C the bar keeps the value it had: the bytes of the files cut short are not taken back from it
  (the SDK does take them back when it drops a partial file, which is right for a retry but would make an
  interrupted bar jump backwards).
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from .app import Settings

__all__ = ["bar_class"]

# Seconds a bar waits before it may be shown: long enough to mean "not until the first byte".
_HIDDEN = 365 * 24 * 3600.0

_interrupted = threading.Event()


def _on_interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    _interrupted.set()
    raise KeyboardInterrupt


def _watch_interrupts() -> None:
    # Only Python's own handler is replaced (which raises KeyboardInterrupt too); anything else is left.
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    ):
        signal.signal(signal.SIGINT, _on_interrupt)


def bar_class(settings: Settings) -> Any:
    """The ``tqdm`` class for the SDK to draw bars with, or ``None`` for no bar.

    ``None`` unless bars are wanted (no ``--quiet`` or ``--json``) and standard error is a terminal: a
    class given to the SDK is used even without one. ``GOBBLER_DISABLE_PROGRESS`` is still honoured by the
    SDK. Installs a SIGINT handler that remembers an interruption (and raises ``KeyboardInterrupt`` as
    usual).
    """
    if not settings.progress or not sys.stderr.isatty():
        return None
    from tqdm.auto import tqdm

    _watch_interrupts()

    class TerminalBar(tqdm):  # type: ignore[type-arg]
        """A bar hidden until its first byte that never moves back once interrupted."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["delay"] = _HIDDEN
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            """Count ``n`` more bytes (ignored when taking bytes back after Ctrl-C)."""
            if n is not None and n < 0 and _interrupted.is_set():
                return None
            if n and n > 0 and self.delay:
                self.delay = 0  # the first byte: from now on the bar is drawn
            result: bool | None = super().update(n)
            return result

    return TerminalBar
