"""A bounded soak test: many clients doing mixed work against ONE running service, then a full audit.

Each client (a thread with its own :class:`GobblerClient` and cache) loops until the deadline over
uploads (trusted ones into shared assets, with contents shared between versions so deduplication links
them; probational ones it later approves or rejects; throw-away ones it later deletes), fetches of any
trusted version (through the mounted registry or over HTTP), listings and manifests. Afterwards every
surviving version is validated by the service and every file's MD5 is recomputed against its manifest
and against what was uploaded; staging must be empty and no cache may hold a temp file.

``GOBBLER_SOAK_SECONDS`` (default 10) and ``GOBBLER_SOAK_CLIENTS`` (default 6) size the run; ``make soak``
runs the long form (30 s, 32 clients); ``GOBBLER_SOAK_RATE`` paces each client to that many operations a
second (``SOAK_RATE`` in make). The figures are printed (``-s`` shows them): the operations done and
each operation's latency (p50 and p99). With ``GOBBLER_BINARY`` and ``GOBBLER_SOAK_BOTH=1`` (as ``make soak``
sets it) the same soak runs against the embedded service too, and the latencies are printed side by side.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gobbler_sdk import GobblerClient
from gobbler_sdk.testing import GobblerService

from .conftest import GOBBLER_BINARY
from .server.harness import me

SECONDS = float(os.environ.get("GOBBLER_SOAK_SECONDS", "10"))
CLIENTS = int(os.environ.get("GOBBLER_SOAK_CLIENTS", "6"))
# Operations each client starts per second (0: one after the other). A fixed rate offers two services the
# same load, where back-to-back operations give the faster one more work and its reads more company.
RATE = float(os.environ.get("GOBBLER_SOAK_RATE", "0"))
# The binary alone by default when GOBBLER_BINARY is set; both, one after the other, when asked.
BACKENDS = (
    ["embedded", "binary"]
    if GOBBLER_BINARY and os.environ.get("GOBBLER_SOAK_BOTH") == "1"
    else ["binary" if GOBBLER_BINARY else "embedded"]
)
SHARED_ASSETS = 4
REPOSITORY = Path(__file__).resolve().parent.parent
# Contents every trusted upload draws from, so that later versions deduplicate into links.
COMMON = [f"common content {k}\n".encode() * (k + 1) for k in range(6)]

Tree = dict[str, bytes]


@dataclass
class Ledger:
    """What the clients did and what the registry must hold afterwards."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    stable: list[tuple[str, str, Tree]] = field(default_factory=list)  # (asset, version, files)
    expected: dict[tuple[str, str], Tree] = field(default_factory=dict)
    operations: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def record(self, asset: str, version: str, tree: Tree, *, stable: bool) -> None:
        with self.lock:
            self.expected[(asset, version)] = tree
            if stable:
                self.stable.append((asset, version, tree))

    def forget(self, asset: str, version: str) -> None:
        with self.lock:
            del self.expected[(asset, version)]

    def count(self, operation: str, seconds: float) -> None:
        with self.lock:
            self.operations[operation] += 1
            self.latencies.setdefault(operation, []).append(seconds)


# backend -> operation -> (p50, p99, count), for the side-by-side table.
_SUMMARIES: dict[str, dict[str, tuple[float, float, int]]] = {}


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of a sorted list."""
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _summary(latencies: dict[str, list[float]]) -> dict[str, tuple[float, float, int]]:
    out = {}
    for operation, times in sorted(latencies.items()):
        ordered = sorted(times)
        out[operation] = (_percentile(ordered, 0.5), _percentile(ordered, 0.99), len(ordered))
    return out


@pytest.fixture(scope="module", autouse=True)
def _side_by_side() -> Iterator[None]:
    """After every backend has run, print their latencies next to each other."""
    yield
    if len(_SUMMARIES) < 2:
        return
    names = list(_SUMMARIES)
    print("\nsoak latency (ms), p50 / p99:")
    print(
        "| operation | "
        + " | ".join(names)
        + " | "
        + " | ".join(f"{n} / {names[-1]}" for n in names[:-1])
        + " |"
    )
    print("|---" * (2 * len(names)) + "|")
    for operation in sorted({op for summary in _SUMMARIES.values() for op in summary}):
        cells, ratios = [], []
        last = _SUMMARIES[names[-1]].get(operation)
        for name in names:
            found = _SUMMARIES[name].get(operation)
            cells.append(f"{found[0] * 1000:.1f} / {found[1] * 1000:.1f}" if found else "-")
            if name != names[-1]:
                ratio = f"{found[0] / last[0]:.1f}x / {found[1] / last[1]:.1f}x" if found and last else "-"
                ratios.append(ratio)
        print(f"| {operation} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")


@pytest.fixture(params=BACKENDS)
def soak_service(request: pytest.FixtureRequest) -> Iterator[GobblerService]:
    binary = GOBBLER_BINARY if request.param == "binary" else None
    with GobblerService(admin=[me()], binary=binary) as running:
        yield running


class Worker:
    """One client's loop until the deadline."""

    def __init__(self, number: int, client: GobblerClient, project: str, ledger: Ledger, root: Path) -> None:
        self.number = number
        self.client = client
        self.project = client.project(project)
        self.ledger = ledger
        self.root = root
        self.random = random.Random(number)
        self.serial = 0
        self.probational: list[tuple[str, str, Tree]] = []
        self.temporary: list[tuple[str, str]] = []

    def _tree(self, *, shared: bool) -> Tree:
        self.serial += 1
        tag = f"w{self.number}-{self.serial}"
        tree: Tree = {f"own/{tag}.txt": f"{tag}\n".encode() * self.random.randint(1, 200)}
        if shared:
            for k in self.random.sample(range(len(COMMON)), 2):
                tree[f"common/{k}.txt"] = COMMON[k]
        if self.random.random() < 0.3:
            tree["deep/er/data.bin"] = hashlib.sha256(tag.encode()).digest() * 64
        return tree

    def _upload(self, asset: str, tree: Tree, *, probation: bool) -> str:
        version = f"v{self.number}-{self.serial}"
        source = self.root / f"src-{self.number}-{self.serial}"
        for rel, data in tree.items():
            (source / rel).parent.mkdir(parents=True, exist_ok=True)
            (source / rel).write_bytes(data)
        self.project.asset(asset).upload(version, source, probation=probation)
        return version

    def step(self) -> None:
        started = time.perf_counter()
        operation = self._operation()
        if operation:
            self.ledger.count(operation, time.perf_counter() - started)

    def _operation(self) -> str | None:
        """Do one random operation; return its name (``None`` when there was nothing to do)."""
        choice = self.random.random()
        if choice < 0.25:
            tree = self._tree(shared=True)
            asset = f"shared{self.random.randrange(SHARED_ASSETS)}"
            version = self._upload(asset, tree, probation=False)
            self.ledger.record(asset, version, tree, stable=True)
            return "upload"
        if choice < 0.35:
            tree = self._tree(shared=True)
            asset = f"shared{self.random.randrange(SHARED_ASSETS)}"
            version = self._upload(asset, tree, probation=True)
            self.ledger.record(asset, version, tree, stable=False)
            self.probational.append((asset, version, tree))
            return "upload (probation)"
        if choice < 0.45:
            tree = self._tree(shared=False)
            asset = f"own{self.number}"
            version = self._upload(asset, tree, probation=False)
            self.ledger.record(asset, version, tree, stable=False)
            self.temporary.append((asset, version))
            return "upload (to delete)"
        if choice < 0.5 and self.probational:
            asset, version, tree = self.probational.pop(0)
            handle = self.project.asset(asset).version(version)
            if self.random.random() < 0.5:
                handle.approve()
                self.ledger.record(asset, version, tree, stable=True)
                return "approve"
            self.ledger.forget(asset, version)
            handle.reject()
            return "reject"
        if choice < 0.55 and self.temporary:
            asset, version = self.temporary.pop(0)
            self.ledger.forget(asset, version)
            self.project.asset(asset).version(version).remove()
            return "delete"
        if choice < 0.85:
            with self.ledger.lock:
                picked = self.random.choice(self.ledger.stable) if self.ledger.stable else None
            if picked is None:
                return None
            asset, version, tree = picked
            handle = self.project.asset(asset).version(version)
            if choice >= 0.78:
                # Every file again over HTTP: what the service's reads cost under load.
                directory = handle.fetch_directory(force_remote=True, overwrite=True)
                for rel, data in tree.items():
                    if (directory / rel).read_bytes() != data:
                        raise AssertionError(f"{asset}/{version}/{rel} fetched wrong content")
                return "fetch_directory (remote)"
            rel = self.random.choice(sorted(tree))
            remote = self.random.random() < 0.5
            path = handle.fetch(rel, force_remote=remote)
            if path.read_bytes() != tree[rel]:
                raise AssertionError(f"{asset}/{version}/{rel} fetched wrong content")
            return "fetch (remote)" if remote else "fetch (local)"
        remote = self.random.random() < 0.5
        assets = self.project.assets(force_remote=remote)
        if assets:
            self.random.choice(assets).versions()
        return "listing (remote)" if remote else "listing (local)"

    def run(self, deadline: float) -> None:
        due = time.monotonic() + self.random.random() / RATE if RATE else 0.0
        while time.monotonic() < deadline:
            if RATE:
                time.sleep(max(0.0, due - time.monotonic()))
                due += 1 / RATE
            try:
                self.step()
            except Exception:
                with self.ledger.lock:
                    self.ledger.errors.append(f"client {self.number}: {traceback.format_exc()}")


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_soak(soak_service: GobblerService, tmp_path: Path) -> None:
    admin = GobblerClient(soak_service.url, cache=tmp_path / "cache-admin")
    project = admin.create_project(f"soak-{os.getpid()}")
    ledger = Ledger()
    clients = [
        GobblerClient(
            soak_service.url,
            cache=tmp_path / f"cache-{n}",
            transport="remote" if n % 3 == 2 else "auto",
        )
        for n in range(CLIENTS)
    ]
    workers = []
    for n, client in enumerate(clients):
        (tmp_path / f"sources-{n}").mkdir()
        workers.append(Worker(n, client, project.name, ledger, tmp_path / f"sources-{n}"))
    # Reads timed by a process of their own (tests/benchmarks/probe.py): the service's latency alone.
    probe = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.benchmarks.probe",
            soak_service.url,
            f"{project.name}/..permissions",
            f"{project.name}/",
            str(SECONDS),
        ],
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
    )
    deadline = time.monotonic() + SECONDS
    threads = [threading.Thread(target=w.run, args=(deadline,), name=f"soak-{w.number}") for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(SECONDS + 300)
    assert not any(thread.is_alive() for thread in threads), "a client is stuck"
    probed, _ = probe.communicate(timeout=300)
    assert probe.returncode == 0
    for operation, times in json.loads(probed).items():
        ledger.latencies[f"probe: {operation} (separate process)"] = times
    assert ledger.errors == [], "\n".join(ledger.errors[:5])

    # The audit: exactly the expected versions exist, each validates, every MD5 matches.
    registry = Path(soak_service.registry) / project.name
    found = {
        (asset.name, version.name)
        for asset in registry.iterdir()
        if asset.is_dir()
        for version in asset.iterdir()
        if version.is_dir()
    }
    assert found == set(ledger.expected)
    checked = 0
    for (asset, version), tree in sorted(ledger.expected.items()):
        project.asset(asset).version(version).validate()
        manifest = project.asset(asset).version(version).manifest(force_remote=True)
        assert sorted(manifest) == sorted(tree)
        for rel, data in tree.items():
            on_disk = registry / asset / version / rel
            assert _md5(on_disk) == manifest[rel].md5sum == hashlib.md5(data).hexdigest(), rel
            checked += 1

    leftovers = sorted(os.listdir(soak_service.staging))
    assert leftovers == [], leftovers
    temp_files = [
        str(path)
        for n in [*range(CLIENTS), "admin"]
        for path in (tmp_path / f"cache-{n}").rglob("*")
        if path.name.endswith(".part") or path.name.startswith(".gobbler-")
    ]
    assert temp_files == []
    for client in [admin, *clients]:
        client.close()

    operations = sum(ledger.operations.values())
    summary = _summary(ledger.latencies)
    _SUMMARIES[soak_service.backend] = summary
    print(
        f"\nsoak latency against the {soak_service.backend} service (ms), p50 / p99: "
        + "; ".join(
            f"{op} {p50 * 1000:.1f} / {p99 * 1000:.1f} (n={n})" for op, (p50, p99, n) in summary.items()
        )
    )
    print(
        f"\nsoak: {CLIENTS} clients, {SECONDS:g} s, {operations} operations "
        f"({', '.join(f'{k}: {v}' for k, v in sorted(ledger.operations.items()))}); "
        f"{len(ledger.expected)} versions validated, {checked} files' MD5 recomputed; 0 errors"
    )
    assert operations > CLIENTS
