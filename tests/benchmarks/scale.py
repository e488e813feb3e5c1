"""Workload s: how the cost of each operation grows with the size of a version (issue 12).

Every level N (``--scale-sizes``; 1,000, 10,000 and 100,000 files with ``--scale``) has a version of N files
of 1-4 KiB in nested directories, uploaded once, a complete cached copy of it, an asset with N / 100
versions, and a service of its own whose registry holds N / 10 projects (a listing of every project must not
see the other levels'). At every level the same operations run, each beside a floor built from the plainest
tools, in the rounds of the main benchmark:

- upload from outside staging (floor: ``cp -r`` + one raw upload with ``consume``, as in a), and a remote
  ``fetch_directory`` into an empty cache (floor: ``curl --parallel``, best ``--parallel-max``, as in c);
- a remote ``fetch_directory`` of the completely cached copy, which hashes every file again, and
  ``client.cache.verify()`` of it (floor: ``read()`` + ``hashlib.md5`` of every file);
- ``client.cache.scan()`` (floor: ``os.walk`` + ``lstat`` of every entry);
- the typed manifest from the mounted registry (floor: ``read()`` + ``json.loads``);
- ``files()``, locally (floor: ``os.walk``) and remotely (floor: the same recursive ``GET /list``);
- ``versions()``, ``latest()`` and ``projects()``, locally (``os.listdir``, reading ``..latest``) and
  remotely (the same GET on a keep-alive connection).

What is judged is growth: the time per item (file, version or project; per call for ``latest()``, which
should not grow at all) at the largest N over the time per item at the smallest. Cheap operations repeat
within one measurement so that each takes long enough to time. After the rounds, the peak RSS of an upload
and of a fetch at every level is measured in a fresh process, as in g.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gobbler_sdk import GobblerClient
from gobbler_sdk._http import fetch_url, list_query

from .base import Row, Times, Workload, at_most, best, combine, median, per_round, rotated, timed
from .floors import CURL, FloorError, KeepAlive, count_files, curl_config, curl_parallel
from .memory import peak_rss
from .settings import Sizes
from .uploads import Upload
from .workspace import PROJECT, Endpoint, Workspace, small_tree

#: Time per item at the largest N may be at most this multiple of the time per item at the smallest.
GROWTH_LIMIT = 1.3
#: Peak RSS (MiB) an upload or a fetch may reach at any N.
RSS_LIMIT = 300.0
#: Cheap operations repeat at most this often in one measurement (``Sizes.scale_repeat_items`` says how).
MAX_REPEATS = 100


@dataclass(frozen=True)
class Operation:
    """One scale operation.

    Attributes:
        name: Identifier in contender names and the JSON report.
        title: Description for the table.
        unit: What is counted per level: ``"file"``, ``"version"``, ``"project"`` or ``"call"``.
        floor_label: What the floor is.
        limit: Target of gobbler-sdk's time over the floor's, at every N (``None``: reported only).
        repeat: Whether the operation is cheap enough to repeat within one measurement.
    """

    name: str
    title: str
    unit: str
    floor_label: str
    limit: float | None = None
    repeat: bool = True


OPERATIONS = (
    Operation(
        "upload",
        "upload from outside staging",
        "file",
        "cp -r + raw upload (consume), as a",
        1.2,
        repeat=False,
    ),
    Operation(
        "fetch",
        "remote fetch_directory into an empty cache, verified",
        "file",
        "curl --parallel, best --parallel-max, as c",
        2.5,
        repeat=False,
    ),
    Operation(
        "reverify",
        "remote fetch_directory of a complete cached copy (re-hashed)",
        "file",
        "read() + hashlib.md5 of every file",
        repeat=False,
    ),
    Operation(
        "verify", "client.cache.verify() of the cached copy", "file", "read() + hashlib.md5 of every file"
    ),
    Operation("scan", "client.cache.scan()", "file", "os.walk + lstat of every entry"),
    Operation("manifest", "typed manifest, local registry, fresh client", "file", "read() + json.loads"),
    Operation("files-local", "files(), local registry", "file", "os.walk of the version"),
    Operation("files-remote", "files(force_remote=True)", "file", "GET /list?recursive=true + json.loads"),
    Operation("versions-local", "versions() of an asset of N / 100 versions, local", "version", "os.listdir"),
    Operation("versions-remote", "versions() of the same asset, remote", "version", "GET /list + json.loads"),
    Operation("latest-local", "latest() of that asset, local", "call", "read ..latest + json.loads"),
    Operation("latest-remote", "latest() of that asset, remote", "call", "GET ..latest + json.loads"),
    Operation(
        "projects-local", "projects() of a registry of N / 10 projects, local", "project", "os.listdir"
    ),
    Operation(
        "projects-remote", "projects() of the same registry, remote", "project", "GET /list + json.loads"
    ),
)
BY_NAME = {operation.name: operation for operation in OPERATIONS}
#: Operations whose peak RSS is measured at every level, and the child-process mode measuring it.
MEMORY_MODES = {"upload": "sdk-upload", "fetch": "sdk-fetch-directory"}


@dataclass
class ScaleRow:
    """One operation at one level: medians, ratio to the floor, time per item and its growth."""

    operation: str
    title: str
    unit: str
    files: int
    items: int
    repeats: int
    floor: float | None
    sdk: float | None
    sdk_ratio: float | None
    floor_per_item: float | None
    sdk_per_item: float | None
    growth: float | None
    #: The floor's own growth: when it matches ``growth``, the machine (caches, page cache), not the
    #: client, grew.
    floor_growth: float | None
    peak_mib: float | None
    target: str
    measured: str
    met: bool | None
    verdict: str
    floor_label: str = ""
    #: The measured values of the checks that failed, e.g. ``["2.91x floor"]``.
    missed: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Plain-data form for the JSON report."""
        return asdict(self)


@dataclass
class Level:
    """What one N needs: the source tree, the version, its complete cached copy, the asset and registry."""

    files: int
    upload: Upload
    asset: str
    paths: list[str] = field(default_factory=list)
    cache: Path | None = None
    version_count: int = 0
    project_count: int = 0
    projects: Endpoint | None = None

    @property
    def key(self) -> str:
        """``project/asset/version`` of the fetched version."""
        return f"{PROJECT}/{self.asset}/v1"

    @property
    def versions_asset(self) -> str:
        """The asset with many versions."""
        return f"{self.asset}-versions"

    def items(self, unit: str) -> int:
        """How many of ``unit`` an operation at this level handles."""
        return {"file": self.files, "version": self.version_count, "project": self.project_count}.get(unit, 1)


def repeats_for(operation: Operation, items: int, target: int) -> int:
    """How often a measurement runs ``operation``: cheap ones until about ``target`` items are covered."""
    if not operation.repeat:
        return 1
    return max(1, min(MAX_REPEATS, target // max(items, 1)))


def hash_files(root: Path, relative: Sequence[str]) -> None:
    """``read()`` + ``hashlib.md5`` of every file (the floor of re-verifying a cached copy)."""
    for path in relative:
        with open(root / path, "rb") as handle:
            hashlib.md5(handle.read()).hexdigest()


def walk_lstat(root: Path) -> int:
    """``os.walk`` + ``lstat`` of every entry below ``root``; returns the regular files seen."""
    count = 0
    for directory, directories, files in os.walk(root):
        for name in [*directories, *files]:
            os.lstat(os.path.join(directory, name))
        count += len(files)
    return count


class Scale(Workload):
    """Workload s: every operation of :data:`OPERATIONS` at every level of ``sizes.scale_files``."""

    key = "s"
    title = "scale"

    def __init__(self, workspace: Workspace, sizes: Sizes) -> None:
        super().__init__()
        self.workspace = workspace
        self.curls = [f"curl-p{n}" for n in sizes.curl_parallel] if CURL else []
        self.repeat_items = sizes.scale_repeat_items
        self.memory_everywhere = sizes.scale_memory_everywhere
        self.levels = [
            Level(
                files=n,
                upload=Upload(
                    workspace,
                    f"s{n}",
                    f"upload {n:,} files",
                    BY_NAME["upload"].limit or 0,
                    functools.partial(self._tree, count=n),
                ),
                asset=f"scale-{n}",
                version_count=max(2, n // 100),
                project_count=max(2, n // 10),
            )
            for n in sorted(set(sizes.scale_files))
        ]
        self.groups = [
            [f"{op.name}/{who}@{level.files}" for who in [*self._floors(op), "sdk"]]
            for level in self.levels
            for op in OPERATIONS
        ]
        self.contenders = [name for group in self.groups for name in group]
        self.memory: dict[str, dict[str, float]] = {}

    @staticmethod
    def _tree(root: Path, *, count: int) -> int:
        small_tree(root, count, seed=17)
        return count

    def _floors(self, operation: Operation) -> list[str]:
        return self.curls if operation.name == "fetch" else ["floor"]

    def order(self, round_index: int) -> list[str]:
        """Each operation's contenders stay together, started at a different one each round."""
        return [name for group in self.groups for name in rotated(group, round_index)]

    # ------------------------------------------------------------------ set-up

    def setup(self) -> None:
        """Every level's tree, version, complete cached copy, many-version asset and registry of projects."""
        admin = self.workspace.primary.admin
        for level in self.levels:
            started = time.perf_counter()
            level.upload.setup()
            version = admin.project(PROJECT).asset(level.asset).upload("v1", level.upload.source)
            level.paths = [f"{level.key}/{p}" for p in version.files(force_remote=True)]
            level.cache = self.workspace.scratch(f"s-cache-{level.files}")
            with self.workspace.primary.client(level.cache) as client:
                client.fetch_directory(level.key, force_remote=True)
            self._versions(level)
            level.projects = self.workspace.start_extra(f"projects-{level.files}")
            # The service made project ``bench``; the rest make up the count.
            for index in range(level.project_count - 1):
                level.projects.admin.create_project(f"p{index:05d}")
            seconds = time.perf_counter() - started
            print(f"  s: level {level.files:,} set up in {seconds:.1f} s", file=sys.stderr, flush=True)

    def _versions(self, level: Level) -> None:
        source = self.workspace.data / f"s-one-{level.files}"
        source.mkdir()
        (source / "one.txt").write_text("one\n")
        asset = self.workspace.primary.admin.project(PROJECT).asset(level.versions_asset)
        for index in range(level.version_count):
            asset.upload(f"v{index:05d}", source)
        shutil.rmtree(source)

    def settle(self, round_index: int) -> None:
        """An untimed floor upload at every level first, as a does (see :meth:`Upload.settle`)."""
        for level in self.levels:
            level.upload.settle(round_index)

    def teardown(self) -> None:
        """Close the upload clients and drop the trees (the workspace removes the rest)."""
        for level in self.levels:
            level.upload.teardown()

    # ------------------------------------------------------------------ measuring

    def _level(self, files: int) -> Level:
        return next(level for level in self.levels if level.files == files)

    def measure(self, contender: str, round_index: int) -> float:
        """Run one contender (``operation/who@N``) once; check what it produced."""
        head, _, files = contender.partition("@")
        name, _, who = head.partition("/")
        level = self._level(int(files))
        operation = BY_NAME[name]
        if name == "upload":
            return level.upload.measure(who, round_index)
        if name == "fetch":
            return self._fetch(level, who)
        repeats = repeats_for(operation, level.items(operation.unit), self.repeat_items)
        with contextlib.ExitStack() as stack:
            run, check = self._operation(level, name, who, stack)
            results: list[Any] = []
            seconds = timed(lambda: results.extend(run() for _ in range(repeats)))
        check(results[-1])
        return seconds

    def _fetch(self, level: Level, who: str) -> float:
        endpoint = self.workspace.primary
        work = self.workspace.scratch(f"s-fetch-{who}")
        try:
            if who.startswith("curl-p"):
                config = work / "curl.cfg"
                config.write_text(curl_config(endpoint.url, level.paths, work / "out"))
                seconds = timed(lambda: curl_parallel(config, int(who.removeprefix("curl-p"))))
                root = work / "out" / level.key
            else:
                found: list[Path] = []
                with endpoint.client(work) as client:
                    seconds = timed(
                        lambda: found.append(client.fetch_directory(level.key, force_remote=True))
                    )
                root = found[0]
            fetched = count_files(root)
            if fetched != len(level.paths):
                raise FloorError(f"fetch/{who}: {fetched} files instead of {len(level.paths)}")
            return seconds
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _operation(
        self, level: Level, name: str, who: str, stack: contextlib.ExitStack
    ) -> tuple[Callable[[], Any], Callable[[Any], None]]:
        """The repeated call of one contender and the check of its last result.

        Clients and connections are made here, outside the timing, and closed by ``stack``. A fresh client
        for each measurement, so nothing one measurement parsed or listed serves the next.
        """
        assert level.cache is not None and level.projects is not None
        primary = self.workspace.primary
        registry = primary.registry
        floor = who == "floor"
        remote = name.endswith("-remote")

        def expect(count: int, what: str) -> Callable[[Any], None]:
            def check(result: Any) -> None:
                if len(result) != count:
                    raise FloorError(f"{name}/{who}@{level.files}: {len(result)} {what} instead of {count}")

            return check

        def client(endpoint: Endpoint, cache: Path | None = None, **options: object) -> GobblerClient:
            # Nothing is read from a scratch cache: the registry is mounted, or the read is forced remote.
            made = endpoint.client(cache or self.workspace.scratch("s-client"), **options)
            stack.callback(made.close)
            return made

        def get_json(endpoint: Endpoint, url: str) -> Callable[[], Any]:
            connection = KeepAlive(*endpoint.host_port)
            stack.callback(connection.close)
            return lambda: json.loads(connection.get(url))

        def names(listing: Callable[[], list[str]]) -> Callable[[], list[str]]:
            return lambda: [entry for entry in listing() if not entry.startswith("..")]

        every_file = expect(len(level.paths), "files")
        if name in ("reverify", "verify"):
            cached = level.cache / "REGISTRY" / level.key
            relative = [p.removeprefix(level.key + "/") for p in level.paths]
            contents = [p for p in relative if not any(part.startswith("..") for part in p.split("/"))]
            if floor:

                def hashed() -> list[str]:
                    hash_files(cached, contents)
                    return contents

                return hashed, expect(len(contents), "files")
            reader = client(primary, level.cache)
            if name == "verify":
                return reader.cache.verify, expect(0, "corrupt files")
            return (
                lambda: reader.fetch_directory(level.key, force_remote=True),
                lambda path: every_file(range(count_files(path))),
            )
        if name == "scan":
            if floor:
                return lambda: range(walk_lstat(level.cache / "REGISTRY")), every_file
            scanner = client(primary, level.cache)
            return lambda: range(scanner.cache.scan().total_files), every_file
        if name == "manifest":
            if floor:
                path = registry / level.key / "..manifest"
                return lambda: json.loads(path.read_bytes()), expect(level.files, "entries")
            version = client(primary, transport="local").project(PROJECT).asset(level.asset).version("v1")
            return version.manifest, expect(level.files, "entries")
        if name.startswith("files"):
            if floor and remote:
                return get_json(primary, list_query(level.key, True)), every_file
            if floor:
                root = registry / level.key
                return lambda: [f for _, _, found in os.walk(root) for f in found], every_file
            version = client(primary).project(PROJECT).asset(level.asset).version("v1")
            return lambda: version.files(force_remote=remote), every_file
        if name.startswith("versions"):
            asset_key = f"{PROJECT}/{level.versions_asset}"
            count = expect(level.version_count, "versions")
            if floor and remote:
                return names(get_json(primary, list_query(asset_key, False))), count
            if floor:
                return names(lambda: os.listdir(registry / asset_key)), count
            asset = client(primary).project(PROJECT).asset(level.versions_asset)
            return lambda: asset.versions(force_remote=remote), count
        if name.startswith("latest"):
            latest_key = f"{PROJECT}/{level.versions_asset}/..latest"
            newest = f"v{level.version_count - 1:05d}"

            def named(result: Any) -> None:
                found = result["version"] if isinstance(result, dict) else getattr(result, "name", None)
                if found != newest:
                    raise FloorError(f"{name}/{who}@{level.files}: latest is {found}, not {newest}")

            if floor and remote:
                return get_json(primary, fetch_url(latest_key)), named
            if floor:
                path = registry / latest_key
                return lambda: json.loads(path.read_bytes()), named
            asset = client(primary).project(PROJECT).asset(level.versions_asset)
            return lambda: asset.latest(force_remote=remote), named
        # projects-local and projects-remote, on the level's own service.
        own = level.projects
        count = expect(level.project_count, "projects")
        if floor and remote:
            return names(get_json(own, list_query("", False))), count
        if floor:
            return names(lambda: os.listdir(own.registry)), count
        lister = client(own)
        return lambda: lister.projects(force_remote=remote), count

    # ------------------------------------------------------------------ memory and rows

    def measure_memory(self) -> None:
        """Peak RSS of an upload and of a fetch at every level (or the largest), each in a fresh process."""
        endpoint = self.workspace.primary
        levels = self.levels if self.memory_everywhere else self.levels[-1:]
        for mode, directory in [("sdk-baseline", 0)] + [
            (mode, level.files) for level in levels for mode in MEMORY_MODES.values()
        ]:
            level = self._level(directory) if directory else self.levels[0]
            cache = self.workspace.scratch(f"s-memory-{mode}")
            asset = f"s-memory-{level.files}-{secrets.token_hex(3)}"
            args = {
                "url": endpoint.url,
                "staging": str(endpoint.staging),
                "registry": str(endpoint.registry),
                "cache": str(cache),
                "directory": level.key,
                "project": PROJECT,
                "asset": asset,
                "source": str(level.upload.source),
            }
            try:
                peak, seconds = peak_rss(mode, args)
            finally:
                shutil.rmtree(cache, ignore_errors=True)
                if mode == "sdk-upload":
                    endpoint.remove_asset(asset)
            label = mode if mode == "sdk-baseline" else f"{mode}@{level.files}"
            self.memory[label] = {"peak_mib": peak, "seconds": seconds}

    def rows(self, rounds: Sequence[Times]) -> list[Row]:
        """Nothing in the main table: the scale rows have their own (:meth:`scale_rows`)."""
        return []

    def scale_rows(self, rounds: Sequence[Times]) -> list[ScaleRow]:
        """One row per operation and level, judged against the floor, growth and memory targets."""
        rows: list[ScaleRow] = []
        smallest, largest = self.levels[0], self.levels[-1]
        for operation in OPERATIONS:
            first: float | None = None
            first_floor: float | None = None
            for level in self.levels:
                suffix = f"@{level.files}"
                floors = [f"{operation.name}/{who}{suffix}" for who in self._floors(operation)]
                sdk_name = f"{operation.name}/sdk{suffix}"

                def floor_of(times: Times, floors: list[str] = floors) -> float | None:
                    return best(times, floors)

                def sdk_of(times: Times, sdk_name: str = sdk_name) -> float | None:
                    return times.get(sdk_name)

                items = level.items(operation.unit)
                repeats = repeats_for(operation, items, self.repeat_items)
                floor = median([floor_of(t) for t in rounds])
                sdk = median([sdk_of(t) for t in rounds])
                per_item = None if sdk is None else sdk / (items * repeats)
                floor_per_item = None if floor is None else floor / (items * repeats)
                if level is smallest:
                    first, first_floor = per_item, floor_per_item
                growth = None if per_item is None or not first else per_item / first
                floor_growth = (
                    None if floor_per_item is None or not first_floor else floor_per_item / first_floor
                )
                sdk_ratio = per_round(rounds, sdk_of, floor_of)
                checks, targets = [], []
                if operation.limit is not None:
                    checks.append(at_most(sdk_ratio, operation.limit, "x floor"))
                    targets.append(f"<= {operation.limit:g}x floor")
                if level is largest and level is not smallest:
                    checks.append(at_most(growth, GROWTH_LIMIT, f"x per {operation.unit} growth"))
                    targets.append(
                        f"per-{operation.unit} time <= {GROWTH_LIMIT:g}x that at {smallest.files:,}"
                    )
                peak = None
                if operation.name in MEMORY_MODES:
                    measured_peak = self.memory.get(f"{MEMORY_MODES[operation.name]}@{level.files}")
                    if measured_peak is not None:
                        peak = measured_peak["peak_mib"]
                        checks.append(at_most(peak, RSS_LIMIT, " MiB peak"))
                        targets.append(f"<= {RSS_LIMIT:g} MiB RSS")
                measured, met, verdict = combine(*checks) if checks else ("", None, "reported")
                rows.append(
                    ScaleRow(
                        operation=operation.name,
                        title=operation.title,
                        unit=operation.unit,
                        files=level.files,
                        items=items,
                        repeats=repeats,
                        floor=floor,
                        sdk=sdk,
                        sdk_ratio=sdk_ratio,
                        floor_per_item=floor_per_item,
                        sdk_per_item=per_item,
                        growth=growth,
                        floor_growth=floor_growth,
                        peak_mib=peak,
                        target="; ".join(targets) or "reported",
                        measured=measured,
                        met=met,
                        verdict=verdict,
                        floor_label=operation.floor_label,
                        missed=[check[0] for check in checks if check[1] is False],
                    )
                )
        return rows
