"""``python -m gobbler_sdk.testing serve``: a Gobbler service in the foreground, for manual experiments.

By default it runs the embedded service on fresh temporary staging and registry directories (removed on
exit), prints the URL, staging and registry, forwards the service's log to stderr and stops cleanly on
Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import NoReturn

from .service import BACKENDS, GobblerService, ServiceStartError

__all__ = ["main"]

_LOG_POLL = 0.2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gobbler_sdk.testing", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run a Gobbler service in the foreground")
    serve.add_argument("--staging", help="staging directory (default: a temporary one)")
    serve.add_argument("--registry", help="registry directory (default: a temporary one)")
    serve.add_argument("--port", type=int, help="TCP port (default: a free one)")
    serve.add_argument("--admin", help="comma-separated administrators (default: the current user)")
    serve.add_argument("--prefix", help="endpoint prefix, without surrounding slashes")
    serve.add_argument("--backend", choices=BACKENDS, default="embedded", help="default: embedded")
    return parser


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


def serve(options: argparse.Namespace) -> int:
    """Run the service until interrupted; return the exit status."""
    service = GobblerService(
        options.staging,
        options.registry,
        port=options.port,
        admin=options.admin,
        prefix=options.prefix,
        backend=options.backend,
    )
    try:
        try:
            service.start()
        except ServiceStartError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m gobbler_sdk.testing``; return the exit status."""
    options = _parser().parse_args(argv)
    # SIGINT too: a process started in the background by a non-interactive shell inherits SIGINT
    # ignored, and Python then leaves it ignored, so Ctrl-C (or a test's SIGINT) would do nothing.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    return serve(options)


if __name__ == "__main__":
    sys.exit(main())
