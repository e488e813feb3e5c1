"""Start-up sequence and lifetime of an embedded service, in the reference service's order.

:class:`EmbeddedServer` is also the programmatic entry point for tests that want the service in their own
process, for example to trigger maintenance without waiting 24 hours.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from datetime import datetime

from . import maintenance
from .config import ServerConfig
from .http import GobblerHTTPServer
from .journal import LOGS
from .service import Service

__all__ = ["MAINTENANCE_INTERVAL", "EmbeddedServer"]

log = logging.getLogger("gobbler_sdk.server")

MAINTENANCE_INTERVAL = 24 * 60 * 60.0


def _warn_unless_shared(staging: str) -> None:
    """Warn unless staging is mode 1777 (else users cannot submit, or can remove each other's files)."""
    mode = stat.S_IMODE(os.stat(staging).st_mode)
    if mode != 0o1777:
        log.warning(
            "the staging directory %s has mode %04o, not 1777: every user of the service must be able to "
            "create files in it (world-writable) and none may remove another's (sticky bit); run "
            "'chmod 1777 %s'",
            staging,
            mode,
            staging,
        )


class EmbeddedServer:
    """An embedded Gobbler service: start-up checks done, socket bound, not yet serving.

    Args:
        config: Service configuration; ``port=0`` picks a free port.
        read_processes: Extra processes serving every request but ``POST``, so that reads do not wait for
            the interpreter lock of the process running the actions (``python -m gobbler_sdk.server`` starts
            one per CPU, at most 4; in-process use starts none by default).

    Raises:
        OSError: When the registry's ``..logs`` cannot be created, staging cannot be listed, or the
            address cannot be bound.
        OverflowError: When the port is outside 0-65535.
    """

    def __init__(self, config: ServerConfig, *, read_processes: int = 0) -> None:
        logs = os.path.join(config.registry, LOGS)
        try:
            os.stat(logs)
        except FileNotFoundError:
            os.mkdir(logs, 0o755)
        # Every name already in staging is blocked for the first minute, as the reference service does.
        existing = os.listdir(config.staging)
        _warn_unless_shared(config.staging)
        self.service = Service(config)
        try:
            self.service.replay.prefill(existing)
            self.httpd = GobblerHTTPServer((config.host, config.port), self.service)
            self.httpd.start_readers(read_processes)
        except BaseException:
            self.service.close()
            raise
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self._closed = threading.Event()

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL of the service, including the prefix (no trailing slash)."""
        prefix = f"/{self.service.config.prefix}" if self.service.config.prefix else ""
        return f"http://{self.service.config.host}:{self.port}{prefix}"

    def run_maintenance(self, now: datetime | None = None) -> None:
        """Run the daily maintenance (staging, log and probation purges) right now, synchronously."""
        maintenance.run(self.service, now)

    def _schedule(self) -> None:
        if self._closed.is_set():
            return
        self._timer = threading.Timer(MAINTENANCE_INTERVAL, self._tick)
        self._timer.daemon = True
        self._timer.start()

    def _tick(self) -> None:
        try:
            self.run_maintenance()
        except Exception:
            log.exception("maintenance failed")
        self._schedule()

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`close` (or an interrupt)."""
        self._schedule()
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> EmbeddedServer:
        """Serve in a background daemon thread and return ``self``."""
        self._thread = threading.Thread(target=self.serve_forever, name="gobbler-http", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, cancel the maintenance timer and release the socket."""
        self._closed.set()
        if self._timer is not None:
            self._timer.cancel()
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
        self.httpd.server_close()
        self.service.close()

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
