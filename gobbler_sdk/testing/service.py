"""Running a Gobbler service in a child process: the embedded one or a real binary.

Several :class:`GobblerService` objects can run at once, each with its own port and directories.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

__all__ = ["GobblerService", "ServiceStartError", "free_port"]


class ServiceStartError(RuntimeError):
    """The service process exited or did not answer ``/info`` in time; the message carries its stderr."""


def free_port() -> int:
    """Ask the kernel for a free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GobblerService:
    """One Gobbler service in a child process, usable as a context manager.

    Args:
        staging: Staging directory; a fresh world-writable temporary one when ``None``.
        registry: Registry directory; a fresh temporary one when ``None``.
        port: TCP port; a free one when ``None``.
        admin: Administrator user names (a list or a comma-separated string); the current user when ``None``.
        prefix: Endpoint prefix (``-prefix``).
        whitelist: Path of a link whitelist file (``-whitelist``).
        spoof: Path of a spoofing permissions file (``-spoof``).
        probation: Probation lifetime in days (``-probation``).
        concurrency: Worker count (``-concurrency``).
        extra_args: Further command-line arguments.
        binary: Path of a real Gobbler executable; ``None`` runs the embedded service.
        startup_timeout: Seconds to wait for ``/info`` to answer.
    """

    def __init__(
        self,
        staging: str | os.PathLike[str] | None = None,
        registry: str | os.PathLike[str] | None = None,
        *,
        port: int | None = None,
        admin: Sequence[str] | str | None = None,
        prefix: str | None = None,
        whitelist: str | os.PathLike[str] | None = None,
        spoof: str | os.PathLike[str] | None = None,
        probation: int | None = None,
        concurrency: int | None = None,
        extra_args: Sequence[str] = (),
        binary: str | os.PathLike[str] | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self._owned: list[str] = []
        self.staging = (
            Path(staging) if staging is not None else Path(self._make_dir("gobbler-staging-", 0o1777))
        )
        self.registry = (
            Path(registry) if registry is not None else Path(self._make_dir("gobbler-registry-", 0o755))
        )
        self.port = port if port is not None else free_port()
        if admin is None:
            admin = [_current_user()]
        self.admin: list[str] = admin.split(",") if isinstance(admin, str) else list(admin)
        self.prefix = prefix or ""
        self.binary = str(binary) if binary is not None else None
        self.startup_timeout = startup_timeout
        args = ["-staging", str(self.staging), "-registry", str(self.registry), "-port", str(self.port)]
        if self.admin:
            args += ["-admin", ",".join(self.admin)]
        for flag, value in (
            ("-prefix", prefix),
            ("-whitelist", whitelist),
            ("-spoof", spoof),
            ("-probation", probation),
            ("-concurrency", concurrency),
        ):
            if value is not None:
                args += [flag, str(value)]
        self.args = args + list(extra_args)
        self.process: subprocess.Popen[bytes] | None = None
        self._stderr_path: str | None = None

    @property
    def backend(self) -> str:
        """``"binary"`` or ``"embedded"``."""
        return "binary" if self.binary else "embedded"

    @property
    def url(self) -> str:
        """Base URL including the prefix, without a trailing slash."""
        base = f"http://127.0.0.1:{self.port}"
        return f"{base}/{self.prefix}" if self.prefix else base

    def _make_dir(self, prefix: str, mode: int) -> str:
        path = tempfile.mkdtemp(prefix=prefix)
        os.chmod(path, mode)
        self._owned.append(path)
        return path

    def command(self) -> list[str]:
        """The full command line that starts this service."""
        if self.binary:
            return [self.binary, *self.args]
        return [sys.executable, "-m", "gobbler_sdk.server", *self.args]

    def start(self) -> GobblerService:
        """Start the process and wait until ``/info`` answers.

        Raises:
            ServiceStartError: When the process exits early or does not answer in time.
        """
        handle, self._stderr_path = tempfile.mkstemp(prefix="gobbler-stderr-", suffix=".log")
        with os.fdopen(handle, "wb") as stderr:
            self.process = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr, start_new_session=True
            )
        deadline = time.monotonic() + self.startup_timeout
        with httpx.Client(timeout=2.0) as client:
            while True:
                if self.process.poll() is not None:
                    raise ServiceStartError(
                        f"the service exited with status {self.process.returncode}: {self.stderr()}"
                    )
                try:
                    if client.get(f"{self.url}/info").status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    output = self.stderr()
                    self.stop()
                    raise ServiceStartError(
                        f"the service did not answer within {self.startup_timeout} s: {output}"
                    )
                time.sleep(0.02)

    def stderr(self) -> str:
        """Everything the service has written to stderr/stdout so far."""
        if not self._stderr_path or not os.path.exists(self._stderr_path):
            return ""
        with open(self._stderr_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def stop(self, *, remove_directories: bool = True) -> None:
        """Stop the process (SIGTERM, then SIGKILL) and remove the directories this object created."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None
        if self._stderr_path:
            with contextlib.suppress(OSError):
                os.unlink(self._stderr_path)
            self._stderr_path = None
        if remove_directories:
            for path in self._owned:
                shutil.rmtree(path, ignore_errors=True)
            self._owned.clear()

    def __enter__(self) -> GobblerService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _current_user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name
