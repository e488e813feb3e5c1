"""Where the benchmark works: a scratch tree on tmpfs, generated data, the services and admin clients.

Everything lives under one directory, on ``/dev/shm`` when it exists and has room (so disks do not decide
the numbers), and is removed at the end. The primary service is the embedded one, or the binary named by
``GOBBLER_BINARY``; in the latter case an embedded service runs as well so the upload workloads can compare
the two implementations.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from gobbler_sdk import GobblerClient
from gobbler_sdk.testing import GobblerService

from .latency import LINUX_WINDOW, Netem, ProxyProcess, ping_rtt
from .settings import MIB

PROJECT = "bench"
TMPFS = Path("/dev/shm")


def choose_root(needed: int) -> tuple[Path, bool]:
    """A fresh scratch directory, on tmpfs when possible; returns (path, whether it is on tmpfs)."""
    if TMPFS.is_dir() and os.access(TMPFS, os.W_OK):
        with contextlib.suppress(OSError):
            if shutil.disk_usage(TMPFS).free > needed:
                return Path(tempfile.mkdtemp(prefix="gobbler-bench-", dir=TMPFS)), True
    return Path(tempfile.mkdtemp(prefix="gobbler-bench-")), False


def small_tree(root: Path, count: int, *, seed: int, low: int = 1024, high: int = 4096) -> int:
    """Write ``count`` files of ``low``-``high`` random bytes in two levels of directories; return bytes."""
    generator = random.Random(seed)
    total = 0
    for index in range(count):
        directory = root / f"d{index % 10:02d}" / f"s{(index // 10) % 10:02d}"
        directory.mkdir(parents=True, exist_ok=True)
        size = generator.randint(low, high)
        (directory / f"f{index:05d}.bin").write_bytes(generator.randbytes(size))
        total += size
    return total


def big_file(path: Path, size: int) -> None:
    """Write ``size`` random bytes (fresh per MiB, so nothing compresses or repeats)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        remaining = size
        while remaining > 0:
            chunk = min(remaining, MIB)
            handle.write(os.urandom(chunk))
            remaining -= chunk


@dataclass
class Endpoint:
    """A running service with the admin client the benchmark uses for set-up and clean-up."""

    label: str
    service: GobblerService
    admin: GobblerClient
    #: The latency proxy's URL, when the clients reach the service through one.
    proxy_url: str | None = None

    @property
    def url(self) -> str:
        """The base URL the measured clients use (the latency proxy's, in latency mode)."""
        return self.proxy_url or self.service.url

    @property
    def host_port(self) -> tuple[str, int]:
        """Host and port for raw ``http.client`` connections."""
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or 80

    @property
    def staging(self) -> Path:
        """The service's staging directory."""
        return self.service.staging

    @property
    def registry(self) -> Path:
        """The service's registry directory."""
        return self.service.registry

    def client(self, cache: Path, **options: object) -> GobblerClient:
        """A new gobbler-sdk client of this service with its own cache directory."""
        return GobblerClient(
            self.url,
            staging=self.staging,
            registry=self.registry,
            cache=cache,
            **options,  # type: ignore[arg-type]
        )

    def remove_asset(self, asset: str) -> None:
        """Delete an asset the benchmark created (not timed)."""
        self.admin.project(PROJECT).asset(asset).remove(force=True)


class Workspace:
    """Scratch directories, generated data and the running services of one benchmark run.

    Args:
        needed: Bytes the run may need at once (to decide whether tmpfs has room).
    """

    def __init__(self, needed: int, latency: float | None = None, window: int = LINUX_WINDOW) -> None:
        self.root, self.on_tmpfs = choose_root(needed)
        self.data = self.root / "data"
        self.scratch_root = self.root / "scratch"
        self.data.mkdir()
        self.scratch_root.mkdir()
        self.endpoints: list[Endpoint] = []
        #: Services of their own for workloads that need a registry to themselves (``start_extra``).
        self.extras: list[Endpoint] = []
        self.binary = os.environ.get("GOBBLER_BINARY") or None
        #: Round trip added between the measured clients and the primary service (seconds), if any.
        self.latency = latency
        #: The proxy's bound on one connection's congestion window (see :mod:`.latency`; 0: none).
        self.window = window
        #: How it is added (``"netem"`` or ``"proxy"``) and the round trip measured through it.
        self.latency_method: str | None = None
        self.measured_rtt: float | None = None
        self._proxy: ProxyProcess | None = None
        self._netem: Netem | None = None

    def scratch(self, prefix: str) -> Path:
        """A fresh, empty directory for one measurement (caches, outputs)."""
        path = self.scratch_root / f"{prefix}-{secrets.token_hex(4)}"
        path.mkdir()
        return path

    def start(self) -> None:
        """Start the primary service (and the embedded one beside a binary) with project ``bench``."""
        if self.binary:
            self.endpoints.append(self._start("binary", binary=self.binary))
            self.endpoints.append(self._start("embedded"))
        else:
            self.endpoints.append(self._start("embedded"))
        if self.latency:
            self._delay(self.primary)

    def start_extra(self, label: str) -> Endpoint:
        """Another service of the primary's kind, with its own empty registry (and project ``bench``).

        For what the rest of the registry must not disturb, such as the list of every project.
        """
        endpoint = self._start(label, binary=self.binary)
        self.extras.append(endpoint)
        return endpoint

    def _delay(self, endpoint: Endpoint) -> None:
        """Put the configured round trip between the measured clients and ``endpoint``."""
        assert self.latency is not None
        parts = urlsplit(endpoint.service.url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        self._netem = Netem(port, self.latency)
        if self._netem.start():
            self.latency_method = "netem"
        else:
            self._netem = None
            self._proxy = ProxyProcess(host, port, self.latency, self.window).start()
            endpoint.proxy_url = self._proxy.url
            self.latency_method = "proxy"
        self.measured_rtt = ping_rtt(*endpoint.host_port)

    def _start(self, label: str, binary: str | None = None) -> Endpoint:
        base = self.root / f"service-{label}"
        staging = base / "staging"
        registry = base / "registry"
        staging.mkdir(parents=True)
        registry.mkdir()
        os.chmod(staging, 0o1777)
        if binary:
            service = GobblerService(staging, registry, binary=binary)
        else:
            service = GobblerService(staging, registry, backend="embedded")
        service.start()
        admin = GobblerClient(
            service.url, staging=staging, registry=registry, cache=self.scratch(f"admin-{label}")
        )
        admin.create_project(PROJECT)
        return Endpoint(label, service, admin)

    @property
    def primary(self) -> Endpoint:
        """The service every workload runs against."""
        return self.endpoints[0]

    @property
    def embedded_beside_binary(self) -> Endpoint | None:
        """The embedded service started next to ``GOBBLER_BINARY``, if any."""
        return self.endpoints[1] if len(self.endpoints) > 1 else None

    def close(self) -> None:
        """Stop the latency proxy (or netem), the services, and remove everything."""
        if self._proxy is not None:
            self._proxy.close()
        if self._netem is not None:
            self._netem.close()
        for endpoint in [*self.endpoints, *self.extras]:
            with contextlib.suppress(Exception):
                endpoint.admin.close()
            endpoint.service.stop()
        self.endpoints.clear()
        self.extras.clear()
        shutil.rmtree(self.root, ignore_errors=True)
