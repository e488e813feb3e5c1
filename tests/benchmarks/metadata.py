"""Workloads e, e2 and f: reading versions' metadata, remotely many times and locally in bulk.

e reads, ``repeats`` times, the asset's version list, then the manifest and summary of one listed version
(cycling through them), over the REST API with no cache reuse; e2 does the same with caching allowed. The
gobbler-sdk client's HTTP requests are counted, so a cache that starts answering in e (or fails to in e2)
shows up in the report instead of silently changing what is measured.

f reads the typed manifest of a version with many entries straight from the mounted registry.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from typing import Any

from gobbler_sdk import GobblerClient
from gobbler_sdk._http import fetch_url, list_query

from .base import Row, Times, Workload, at_least, at_most, client_cost, median, per_round, pyg_text, timed
from .floors import FloorError, KeepAlive
from .settings import Sizes
from .workspace import PROJECT, Workspace, small_tree

try:
    import pygobbler  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - the dev extra installs it
    pygobbler = None

ASSET = "meta"


def sdk_uncached_options() -> dict[str, Any]:
    """Keyword arguments making ``Version.manifest``/``summary`` skip the metadata cache (workload e).

    The request count in the report tells whether e still makes three requests per repetition.
    """
    return {"overwrite": True}


class Metadata(Workload):
    """Workloads e (no cache reuse) and e2 (cache allowed)."""

    key = "e"

    def __init__(self, workspace: Workspace, sizes: Sizes) -> None:
        super().__init__()
        self.workspace = workspace
        self.repeats = sizes.metadata_repeats
        self.versions = sizes.metadata_versions
        self.title = f"{self.repeats} x (list versions + manifest + summary), remote, no cache reuse"
        self.contenders = ["floor", "floor-list", "sdk", "sdk-cached"]
        if pygobbler is not None:
            self.contenders += ["pygobbler", "pygobbler-cached"]

    def setup(self) -> None:
        """Upload ``versions`` small versions (non-probational, so their metadata never changes)."""
        asset = self.workspace.primary.admin.project(PROJECT).asset(ASSET)
        for index in range(self.versions):
            source = self.workspace.data / f"meta-{index}"
            source.mkdir()
            small_tree(source, 10, seed=100 + index)
            asset.upload(f"v{index:03d}", source)
            shutil.rmtree(source)

    def measure(self, contender: str, round_index: int) -> float:
        """Run the repetitions once with one contender (cache directories are fresh every round)."""
        work = self.workspace.scratch(f"e-{contender}")
        try:
            if contender.startswith("floor"):
                return self._floor(with_documents=contender == "floor")
            if contender.startswith("sdk"):
                return self._sdk(contender, round_index, work)
            return self._pygobbler(contender == "pygobbler-cached", str(work))
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _floor(self, *, with_documents: bool) -> float:
        endpoint = self.workspace.primary
        names = [v.name for v in endpoint.admin.project(PROJECT).asset(ASSET).versions()]
        connection = KeepAlive(*endpoint.host_port)
        listing = list_query(f"{PROJECT}/{ASSET}", False)

        def run() -> None:
            for index in range(self.repeats):
                connection.get(listing)
                if with_documents:
                    key = f"{PROJECT}/{ASSET}/{names[index % len(names)]}"
                    connection.get(fetch_url(f"{key}/..manifest"))
                    connection.get(fetch_url(f"{key}/..summary"))

        try:
            return timed(run)
        finally:
            connection.close()

    def _sdk(self, contender: str, round_index: int, work: Any) -> float:
        client = self.workspace.primary.client(work)
        options = {} if contender == "sdk-cached" else sdk_uncached_options()
        try:
            asset = client.project(PROJECT).asset(ASSET)

            def run() -> None:
                for index in range(self.repeats):
                    versions = asset.versions(force_remote=True)
                    version = versions[index % len(versions)]
                    version.manifest(force_remote=True, **options)
                    version.summary(force_remote=True, **options)

            with client_cost() as cost:
                seconds = timed(run)
            self.note_cost(round_index, contender, cost)
            return seconds
        finally:
            client.close()

    def _pygobbler(self, cached: bool, cache: str) -> float:
        endpoint = self.workspace.primary
        registry, url = str(endpoint.registry), endpoint.url

        def run() -> None:
            for index in range(self.repeats):
                versions = pygobbler.list_versions(PROJECT, ASSET, registry, url, force_remote=True)
                name = versions[index % len(versions)]
                for read in (pygobbler.fetch_manifest, pygobbler.fetch_summary):
                    read(
                        PROJECT,
                        ASSET,
                        name,
                        registry,
                        url,
                        cache=cache,
                        force_remote=True,
                        overwrite=not cached,
                    )

        return timed(run)

    def _requests(self, contender: str) -> str:
        found = (e.get(f"{contender} requests") for e in self.extras.values())
        counts = sorted({int(c) for c in found if c is not None})
        per = ", ".join(f"{c / self.repeats:.2f}" for c in counts)
        text = f"gobbler-sdk requests per repetition: {per or 'n/a'}"
        if contender == "sdk" and counts and counts[0] < 3 * self.repeats:
            text += " (WARNING: fewer than 3, so e reused a cache; update sdk_uncached_options())"
        return text

    def rows(self, rounds: Sequence[Times]) -> list[Row]:
        """Rows e and e2."""

        def get(name: str) -> Callable[[Times], float | None]:
            return lambda t: t.get(name)

        e_ratio = per_round(rounds, get("sdk"), get("floor"))
        e_check = at_most(e_ratio, 1.6, "x floor")
        speedup = per_round(rounds, get("sdk"), get("sdk-cached"))
        e2_check = at_least(speedup, 10.0, "x = e / e2")
        list_bound = per_round(rounds, get("sdk"), get("floor-list"))
        return [
            Row(
                key="e",
                title=self.title,
                floor=median([t.get("floor") for t in rounds]),
                sdk=median([t.get("sdk") for t in rounds]),
                pyg=median([t.get("pygobbler") for t in rounds]),
                sdk_ratio=e_ratio,
                pyg_ratio=per_round(rounds, get("pygobbler"), get("floor")),
                target="<= 1.6x floor",
                measured=e_check[0],
                met=e_check[1],
                verdict=e_check[2],
                floor_label="same GETs, one keep-alive http.client connection",
                pyg_label=pyg_text("list_versions + fetch_manifest/summary(overwrite=True)"),
                notes=[self._requests("sdk"), self.cost_note("sdk")],
                cpu_per_request=self.cpu_per_request("sdk"),
            ),
            Row(
                key="e2",
                title=f"the same {self.repeats} x, cache allowed",
                floor=median([t.get("floor-list") for t in rounds]),
                sdk=median([t.get("sdk-cached") for t in rounds]),
                pyg=median([t.get("pygobbler-cached") for t in rounds]),
                sdk_ratio=per_round(rounds, get("sdk-cached"), get("floor-list")),
                pyg_ratio=per_round(rounds, get("pygobbler-cached"), get("floor-list")),
                target=">= 10x faster than e (gobbler-sdk)",
                measured=e2_check[0],
                met=e2_check[1],
                verdict=e2_check[2],
                floor_label="the list GETs alone (keep-alive), which no cache removes",
                pyg_label=pyg_text("as e with overwrite=False"),
                cpu_per_request=self.cpu_per_request("sdk-cached"),
                notes=[
                    self._requests("sdk-cached"),
                    self.cost_note("sdk-cached"),
                    f"speed-up possible while listings are still requested: e(sdk) / list floor = "
                    f"{list_bound or 0:.1f}x",
                ],
            ),
        ]


class TypedManifest(Workload):
    """Workload f: the typed manifest of a large version, read from the mounted registry."""

    key = "f"

    def __init__(self, workspace: Workspace, sizes: Sizes) -> None:
        super().__init__()
        self.workspace = workspace
        self.entries = sizes.manifest_entries
        self.repeats = sizes.manifest_repeats
        self.title = f"typed manifest of {self.entries:,} entries from the local registry, {self.repeats} x"
        self.contenders = ["floor", "sdk"] + (["pygobbler"] if pygobbler is not None else [])
        self.client: GobblerClient | None = None

    def setup(self) -> None:
        """Upload the wide version once; open one client that reads the registry directly."""
        source = self.workspace.data / "wide"
        source.mkdir()
        small_tree(source, self.entries, seed=11, low=16, high=64)
        self.workspace.primary.admin.project(PROJECT).asset("wide").upload("v1", source)
        shutil.rmtree(source)
        self.client = self.workspace.primary.client(self.workspace.scratch("f-cache"), transport="local")

    def teardown(self) -> None:
        """Close the client."""
        if self.client is not None:
            self.client.close()

    def measure(self, contender: str, round_index: int) -> float:
        """Read the manifest ``repeats`` times; check the last result's size."""
        endpoint = self.workspace.primary
        path = endpoint.registry / PROJECT / "wide" / "v1" / "..manifest"
        results: list[Any] = []
        if contender == "floor":

            def run() -> None:
                for _ in range(self.repeats):
                    with open(path, "rb") as handle:
                        results.append(json.loads(handle.read()))

        elif contender == "sdk":
            assert self.client is not None
            version = self.client.project(PROJECT).asset("wide").version("v1")

            def run() -> None:
                for _ in range(self.repeats):
                    results.append(version.manifest())

        else:
            registry, url = str(endpoint.registry), endpoint.url

            def run() -> None:
                for _ in range(self.repeats):
                    results.append(pygobbler.fetch_manifest(PROJECT, "wide", "v1", registry, url))

        seconds = timed(run)
        if len(results) != self.repeats or len(results[-1]) != self.entries:
            raise FloorError(f"{contender} read {len(results[-1])} entries instead of {self.entries}")
        return seconds

    def rows(self, rounds: Sequence[Times]) -> list[Row]:
        """One row: typed models against ``read()`` + ``json.loads``."""
        ratio = per_round(rounds, lambda t: t.get("sdk"), lambda t: t.get("floor"))
        measured, met, verdict = at_most(ratio, 1.5, "x floor")
        return [
            Row(
                key="f",
                title=self.title,
                floor=median([t.get("floor") for t in rounds]),
                sdk=median([t.get("sdk") for t in rounds]),
                pyg=median([t.get("pygobbler") for t in rounds]),
                sdk_ratio=ratio,
                pyg_ratio=per_round(rounds, lambda t: t.get("pygobbler"), lambda t: t.get("floor")),
                target="<= 1.5x floor, as typed models",
                measured=measured,
                met=met,
                verdict=verdict,
                floor_label="read() + json.loads",
                pyg_label=pyg_text("fetch_manifest (raw dicts)"),
            )
        ]


class LatestOfMany(Workload):
    """Workload h: ``latest()`` + ``manifest()`` of many different assets, each read for the first time."""

    key = "h"

    def __init__(self, workspace: Workspace, sizes: Sizes) -> None:
        super().__init__()
        self.workspace = workspace
        self.assets = [f"many-{index:03d}" for index in range(sizes.latest_assets)]
        self.title = f"latest() + manifest() of {len(self.assets)} different assets, remote, fresh cache"
        self.contenders = ["floor", "sdk"] + (["pygobbler"] if pygobbler is not None else [])

    def setup(self) -> None:
        """One small settled version per asset."""
        project = self.workspace.primary.admin.project(PROJECT)
        source = self.workspace.data / "many"
        source.mkdir()
        small_tree(source, 3, seed=300)
        for asset in self.assets:
            project.asset(asset).upload("v1", source)
        shutil.rmtree(source)

    def measure(self, contender: str, round_index: int) -> float:
        """Read every asset's latest version and its manifest once."""
        work = self.workspace.scratch(f"h-{contender}")
        endpoint = self.workspace.primary
        try:
            if contender == "floor":
                connection = KeepAlive(*endpoint.host_port)

                def floor() -> None:
                    for asset in self.assets:
                        latest = json.loads(connection.get(fetch_url(f"{PROJECT}/{asset}/..latest")))
                        connection.get(fetch_url(f"{PROJECT}/{asset}/{latest['version']}/..manifest"))

                try:
                    return timed(floor)
                finally:
                    connection.close()
            if contender == "sdk":
                client = endpoint.client(work)
                try:
                    project = client.project(PROJECT)

                    def sdk() -> None:
                        for asset in self.assets:
                            latest = project.asset(asset).latest(force_remote=True)
                            assert latest is not None
                            latest.manifest(force_remote=True)

                    with client_cost() as cost:
                        seconds = timed(sdk)
                    self.note_cost(round_index, "sdk", cost)
                    return seconds
                finally:
                    client.close()
            registry, url = str(endpoint.registry), endpoint.url

            def pyg() -> None:
                for asset in self.assets:
                    name = pygobbler.fetch_latest(PROJECT, asset, registry, url, force_remote=True)
                    pygobbler.fetch_manifest(
                        PROJECT, asset, name, registry, url, cache=str(work), force_remote=True
                    )

            return timed(pyg)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def rows(self, rounds: Sequence[Times]) -> list[Row]:
        """One row: against the two GETs per asset on one keep-alive connection."""
        ratio = per_round(rounds, lambda t: t.get("sdk"), lambda t: t.get("floor"))
        measured, met, verdict = at_most(ratio, 1.1, "x floor")
        counts = sorted({int(c) for e in self.extras.values() if (c := e.get("sdk requests")) is not None})
        rtt = self.workspace.measured_rtt
        per_asset = ", ".join(f"{c / len(self.assets):.2f}" for c in counts)
        notes = [f"gobbler-sdk requests per asset: {per_asset or 'n/a'}", self.cost_note("sdk")]
        if rtt:
            sdk = median([t.get("sdk") for t in rounds]) or 0
            notes.append(f"gobbler-sdk round trips per asset: {sdk / rtt / len(self.assets):.2f}")
        return [
            Row(
                key=self.key,
                title=self.title,
                floor=median([t.get("floor") for t in rounds]),
                sdk=median([t.get("sdk") for t in rounds]),
                pyg=median([t.get("pygobbler") for t in rounds]),
                sdk_ratio=ratio,
                pyg_ratio=per_round(rounds, lambda t: t.get("pygobbler"), lambda t: t.get("floor")),
                target="<= 1.1x floor (2 round trips per asset)",
                measured=measured,
                met=met,
                verdict=verdict,
                floor_label="GET ..latest + GET ..manifest per asset, one keep-alive http.client connection",
                pyg_label=pyg_text("fetch_latest + fetch_manifest"),
                notes=notes,
                cpu_per_request=self.cpu_per_request("sdk"),
            )
        ]
