"""A Gobbler service in the foreground, for manual experiments: what ``serve`` commands run.

:func:`serve_in_foreground` runs the embedded service (or the binary) on the given or fresh temporary
staging and registry directories (temporary ones are removed on exit), prints the URL, staging and
registry, forwards the service's log to standard error and stops cleanly on Ctrl-C or SIGTERM. Both
``python -m gobbler_sdk.testing serve`` and ``gobbler-sdk serve`` are this function.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import NoReturn

from .service import GobblerService

__all__ = ["serve_in_foreground"]

_LOG_POLL = 0.2


def _interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def _ignore_signals() -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _forward_log(service: GobblerService, offset: int) -> int:
    """Copy what the service logged since ``offset`` to our stderr; return the new offset."""
    path = service.stderr_path
    if path is None:
        return offset
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except OSError:
        return offset
    if data:
        sys.stderr.write(data.decode("utf-8", errors="replace"))
        sys.stderr.flush()
    return offset + len(data)


def serve_in_foreground(
    staging: str | os.PathLike[str] | None = None,
    registry: str | os.PathLike[str] | None = None,
    *,
    port: int | None = None,
    admin: str | None = None,
    prefix: str | None = None,
    backend: str = "embedded",
) -> int:
    """Run a Gobbler service until Ctrl-C or SIGTERM and return the exit status for the process.

    Called from the main thread, it handles SIGINT and SIGTERM itself: a process started in the background
    by a non-interactive shell inherits SIGINT ignored, and Ctrl-C (or a test's SIGINT) would else do
    nothing.

    Args:
        staging: Staging directory (default: a temporary one).
        registry: Registry directory (default: a temporary one).
        port: TCP port (default: a free one).
        admin: Comma-separated administrators (default: the current user).
        prefix: Endpoint prefix, without surrounding slashes.
        backend: ``"embedded"``, ``"binary"`` or ``"auto"`` (see :class:`GobblerService`).

    Returns:
        0 after a clean stop, the service's status (at least 1) when it exited by itself.

    Raises:
        ServiceStartError: When the service did not start (nothing is left running).
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
    service = GobblerService(
        staging,
        registry,
        port=port,
        admin=admin,
        prefix=prefix,
        backend=backend,
    )
    try:
        service.start()
        assert service.process is not None
        print(f"Gobbler service running ({service.backend} backend, PID {service.process.pid})")
        print(f"  URL:      {service.url}")
        print(f"  staging:  {service.staging}")
        print(f"  registry: {service.registry}")
        print("Press Ctrl-C to stop.", flush=True)
        offset = 0
        while True:
            offset = _forward_log(service, offset)
            status = service.process.poll()
            if status is not None:
                print(f"error: the service exited with status {status}", file=sys.stderr)
                return status if status > 0 else 1
            time.sleep(_LOG_POLL)
    except KeyboardInterrupt:
        print("Stopping the Gobbler service.", flush=True)
        return 0
    finally:
        # A second Ctrl-C must not cut the shutdown short and leave the service running.
        _ignore_signals()
        service.stop()
