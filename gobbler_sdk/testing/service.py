"""Running a Gobbler service in a child process: the embedded one or a real binary.

Several :class:`GobblerService` objects can run at once, each with its own port and directories. Each
service runs in a session of its own and is stopped through its process ID (the process group it leads),
so nothing it started outlives :meth:`GobblerService.stop`; services still running when the interpreter
exits are stopped then.

Backends:

- ``"embedded"``: ``python -m gobbler_sdk.server``, bound to 127.0.0.1 only.
- ``"binary"``: a real Gobbler executable, the one named by ``GOBBLER_BINARY`` or else the release of
  ``version`` for this platform, downloaded once (see :mod:`gobbler_sdk.testing.download`). The reference
  executable has no option to choose its address and listens on all interfaces.
- ``"auto"``: the binary when ``GOBBLER_BINARY`` is set or the release is already cached, else embedded.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from .. import environment
from .._arguments import items_of
from ..server.trees import remove_tree
from .download import DEFAULT_VERSION, UnsupportedPlatformError, cached_binary, download_binary

__all__ = [
    "BACKENDS",
    "BINARY_VARIABLE",
    "DEFAULT_STARTUP_TIMEOUT",
    "GobblerRequestError",
    "GobblerService",
    "ServiceStartError",
    "free_port",
    "select_backend",
]

BACKENDS = ("auto", "binary", "embedded")
BINARY_VARIABLE = environment.BINARY
DEFAULT_STARTUP_TIMEOUT = 30.0

# How often to retry with another port when the automatically chosen one was taken in the meantime.
_PORT_ATTEMPTS = 5
_POLL_INTERVAL = 0.02


class ServiceStartError(RuntimeError):
    """The service process exited or did not answer ``/info`` in time; the message carries its stderr."""


class GobblerRequestError(RuntimeError):
    """A request submitted with :meth:`GobblerService.request` failed.

    Attributes:
        status: HTTP status code of the answer.
        reason: The service's ``reason`` (or the body when the answer is not JSON).
    """

    def __init__(self, action: str, status: int, reason: str) -> None:
        super().__init__(f"{action} failed with HTTP {status}: {reason}")
        self.status = status
        self.reason = reason


def free_port() -> int:
    """Ask the kernel for a free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def select_backend(backend: str = "auto", *, version: str = DEFAULT_VERSION) -> tuple[str, Path | None]:
    """Decide which implementation a backend choice runs.

    Args:
        backend: ``"auto"``, ``"binary"`` or ``"embedded"``.
        version: Release whose cached executable ``"auto"`` looks for and ``"binary"`` falls back to.

    Returns:
        ``("embedded", None)`` or ``("binary", path)``. The path is ``GOBBLER_BINARY`` when set, else the
        cache location of the release, which may not have been downloaded yet for ``"binary"``.

    Raises:
        ValueError: For an unknown backend name.
        UnsupportedPlatformError: For ``"binary"`` without ``GOBBLER_BINARY`` on a platform without releases.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if backend == "embedded":
        return "embedded", None
    configured = environment.value(BINARY_VARIABLE)
    if configured:
        return "binary", Path(configured)
    if backend == "binary":
        return "binary", cached_binary(version)
    try:
        cached = cached_binary(version)
    except UnsupportedPlatformError:
        return "embedded", None
    return ("binary", cached) if cached.is_file() else ("embedded", None)


class GobblerService:
    """One Gobbler service in a child process, usable as a context manager.

    Args:
        staging: Staging directory; a fresh world-writable temporary one when ``None``.
        registry: Registry directory; a fresh temporary one when ``None``.
        port: TCP port; a free one when ``None`` (chosen again if another process takes it first).
        admin: Administrator user names (a list or a comma-separated string); the current user when ``None``.
        prefix: Endpoint prefix (``-prefix``).
        whitelist: Path of a link whitelist file (``-whitelist``).
        spoof: Path of a spoofing permissions file (``-spoof``).
        probation: Probation lifetime in days (``-probation``).
        concurrency: Worker count (``-concurrency``).
        extra_args: Further command-line arguments. A ``-prefix`` among them is honoured like ``prefix``.
        binary: Path of a real Gobbler executable to run; implies the ``"binary"`` backend.
        startup_timeout: Seconds to wait for ``/info`` to answer.
        backend: ``"auto"``, ``"binary"`` or ``"embedded"`` (module documentation). ``None`` keeps the
            historical default of this class: the embedded service unless ``binary`` is given.
        version: Gobbler release used by the ``"binary"`` and ``"auto"`` backends without ``GOBBLER_BINARY``.
        overwrite: Download the release again even when it is cached.

    Raises:
        ValueError: For an unknown backend, or ``binary`` combined with another backend.
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
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        backend: str | None = None,
        version: str = DEFAULT_VERSION,
        overwrite: bool = False,
    ) -> None:
        extra_args = items_of(extra_args, "extra_args", item=str, noun="command-line arguments")
        self.version = version
        self.overwrite = overwrite
        self._download = False
        self.binary: str | None
        if binary is not None:
            if backend not in (None, "binary"):
                raise ValueError(f"binary= runs the binary backend, not {backend!r}")
            self._backend, self.binary = "binary", str(binary)
        else:
            chosen, path = select_backend(backend or "embedded", version=version)
            self._backend, self.binary = chosen, str(path) if path is not None else None
            # Only a release (not GOBBLER_BINARY) is ever downloaded.
            if path is not None and not environment.value(BINARY_VARIABLE):
                self._download = overwrite or not path.is_file()

        self._owned: list[str] = []
        self.staging = (
            Path(staging) if staging is not None else Path(self._make_dir("gobbler-staging-", 0o1777))
        )
        self.registry = (
            Path(registry) if registry is not None else Path(self._make_dir("gobbler-registry-", 0o755))
        )
        self._auto_port = port is None
        self.port = port if port is not None else free_port()
        if admin is None:
            admin = [_current_user()]
        self.admin: list[str] = admin.split(",") if isinstance(admin, str) else list(admin)
        self.prefix = prefix if prefix is not None else _flag_value(extra_args, "prefix") or ""
        self.startup_timeout = startup_timeout
        self._options: list[str] = []
        for flag, value in (
            ("-prefix", prefix),
            ("-whitelist", whitelist),
            ("-spoof", spoof),
            ("-probation", probation),
            ("-concurrency", concurrency),
        ):
            if value is not None:
                self._options += [flag, str(value)]
        self._options += list(extra_args)
        self.process: subprocess.Popen[bytes] | None = None
        self._stderr_path: str | None = None

    @property
    def backend(self) -> str:
        """``"binary"`` or ``"embedded"``: the implementation this object runs."""
        return self._backend

    @property
    def url(self) -> str:
        """Base URL including the prefix, without a trailing slash."""
        base = f"http://127.0.0.1:{self.port}"
        return f"{base}/{self.prefix}" if self.prefix else base

    @property
    def args(self) -> list[str]:
        """Command-line arguments given to either implementation."""
        args = ["-staging", str(self.staging), "-registry", str(self.registry), "-port", str(self.port)]
        if self.admin:
            args += ["-admin", ",".join(self.admin)]
        return args + self._options

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<GobblerService {self.backend} {self.url} {state}>"

    @property
    def running(self) -> bool:
        """Whether the service process is alive."""
        return self.process is not None and self.process.poll() is None

    def _make_dir(self, prefix: str, mode: int) -> str:
        path = tempfile.mkdtemp(prefix=prefix)
        os.chmod(path, mode)
        self._owned.append(path)
        return path

    def command(self) -> list[str]:
        """The full command line that starts this service."""
        if self.binary:
            return [self.binary, *self.args]
        # Explicit, so the service stays on loopback even if the embedded default ever changes.
        return [sys.executable, "-m", "gobbler_sdk.server", "-host", "127.0.0.1", *self.args]

    def start(self) -> GobblerService:
        """Start the process and wait until ``/info`` answers for this service's registry.

        Downloads the release first when the binary backend needs it. A failed start cleans up like
        :meth:`stop`.

        Raises:
            ServiceStartError: When the process exits early or does not answer in time.
            DownloadError: When the release cannot be downloaded.
        """
        if self.running:
            return self
        try:
            if self._download:
                self.binary = str(download_binary(self.version, overwrite=self.overwrite))
                self._download = False
            for attempt in range(_PORT_ATTEMPTS):
                problem = self._launch()
                if problem is None:
                    _RUNNING.add(self)
                    return self
                exited, message = problem
                retry = exited and self._auto_port and "address already in use" in message.lower()
                if not retry or attempt == _PORT_ATTEMPTS - 1:
                    raise ServiceStartError(message)
                self._discard_process()
                self.port = free_port()
        except BaseException:
            self.stop()
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _launch(self) -> tuple[bool, str] | None:
        """Start one process; ``None`` when ready, else (whether it exited, error message with stderr)."""
        self._discard_process()
        handle, self._stderr_path = tempfile.mkstemp(prefix="gobbler-stderr-", suffix=".log")
        with os.fdopen(handle, "wb") as stderr:
            self.process = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr, start_new_session=True
            )
        deadline = time.monotonic() + self.startup_timeout
        # A short timeout: a slow answer is simply asked again, and a port held by something that never
        # answers must not hide the early exit of our process for long.
        with httpx.Client(timeout=1.0) as client:
            while True:
                if self.process.poll() is not None:
                    status = self.process.returncode
                    return True, f"the service exited with status {status} during start-up: {self.stderr()}"
                if self._answers(client):
                    return None
                if time.monotonic() > deadline:
                    return (
                        False,
                        f"the service did not answer within {self.startup_timeout} s: {self.stderr()}",
                    )
                time.sleep(_POLL_INTERVAL)

    def _answers(self, client: httpx.Client) -> bool:
        # Another service may hold the port (we lost a race for it); only our registry counts as ready.
        try:
            response = client.get(f"{self.url}/info")
            if response.status_code != 200:
                return False
            registry = response.json().get("registry")
            return isinstance(registry, str) and os.path.samefile(registry, self.registry)
        except (httpx.TransportError, ValueError, AttributeError, OSError):
            return False

    def stderr(self) -> str:
        """Everything the service has written to stderr/stdout so far."""
        if not self._stderr_path or not os.path.exists(self._stderr_path):
            return ""
        with open(self._stderr_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    @property
    def stderr_path(self) -> str | None:
        """File receiving the service's stderr/stdout while it runs (removed by :meth:`stop`)."""
        return self._stderr_path

    def request(self, action: str, payload: Mapping[str, Any], *, timeout: float = 120.0) -> dict[str, Any]:
        """Submit one request: write a request file in staging, ``POST /new/{name}``, remove the file.

        Args:
            action: Action name, e.g. ``"create_project"``.
            payload: The request's JSON object.
            timeout: HTTP timeout in seconds.

        Returns:
            The service's JSON answer.

        Raises:
            GobblerRequestError: When the service answers with an error status.
        """
        name = f"request-{action}-{uuid.uuid4().hex}"
        path = self.staging / name
        # Created with the umask's default mode so a service running as another account can read it.
        with open(path, "x", encoding="utf-8") as handle:
            json.dump(payload, handle)
        try:
            response = httpx.post(f"{self.url}/new/{name}", timeout=timeout)
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if response.status_code >= 300:
            reason = body.get("reason", body) if isinstance(body, dict) else body
            raise GobblerRequestError(action, response.status_code, str(reason))
        return body if isinstance(body, dict) else {"body": body}

    def _discard_process(self) -> None:
        """Stop the process if it runs, reap it and remove its stderr file."""
        process, self.process = self.process, None
        if process is not None:
            if process.poll() is None:
                _terminate_group(process)
            else:
                process.wait()
        if self._stderr_path:
            with contextlib.suppress(OSError):
                os.unlink(self._stderr_path)
            self._stderr_path = None

    def stop(self, *, remove_directories: bool = True) -> None:
        """Stop the process (SIGTERM, then SIGKILL) and remove the directories this object created."""
        _RUNNING.discard(self)
        self._discard_process()
        if remove_directories:
            for path in self._owned:
                # Depth-safe (shutil.rmtree recurses and fails on a tree a test made very deep); what cannot
                # be removed, such as another user's files, is left behind rather than stop the others.
                with contextlib.suppress(OSError):
                    remove_tree(str(path))
            self._owned.clear()

    def __enter__(self) -> GobblerService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _terminate_group(process: subprocess.Popen[bytes]) -> None:
    """Stop the process group led by ``process`` (its PID) and reap the leader."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    # Anything the service itself started and left behind goes with it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _flag_value(args: Sequence[str], name: str) -> str | None:
    """The last value given to ``-name`` in Go flag syntax, or ``None``."""
    found = None
    items = list(args)
    for index, arg in enumerate(items):
        flag, has_value, value = arg.lstrip("-").partition("=")
        if not arg.startswith("-") or flag != name:
            continue
        if has_value:
            found = value
        elif index + 1 < len(items):
            found = items[index + 1]
    return found


def _current_user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


# Strong references: a running service dropped by its owner must still be stopped at exit.
_RUNNING: set[GobblerService] = set()


@atexit.register
def _stop_all() -> None:
    for service in list(_RUNNING):
        service.stop()
