"""Workload j (issue 21): the diff of two 20,000-file versions against parsing their two manifests.

The versions are real uploads: v2 is v1 with 1% of the files edited, 1% removed, 1% renamed and 1% added,
so most of its entries are links. The floor reads both ``..manifest`` files from the mounted registry and
parses them into typed :class:`~gobbler_sdk.Manifest` models; gobbler-sdk runs ``v2.diff(v1)`` through a
client reading the mounted registry, which does the same reads and parses and then the comparison. The
target is that the comparison adds at most half again: ``diff <= 1.5x`` the floor.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from typing import Any

from gobbler_sdk import GobblerClient, Manifest

from .base import Row, Times, Workload, at_most, median, per_round, timed
from .floors import FloorError
from .settings import Sizes
from .workspace import PROJECT, Workspace, small_tree

ASSET = "diff"


class VersionDiffs(Workload):
    """Workload j: ``new.diff(old)`` of two large versions from the local registry."""

    key = "k"

    def __init__(self, workspace: Workspace, sizes: Sizes) -> None:
        super().__init__()
        self.workspace = workspace
        self.entries = sizes.manifest_entries
        self.repeats = sizes.manifest_repeats
        self.title = f"diff of two {self.entries:,}-file versions from the local registry, {self.repeats} x"
        self.contenders = ["floor", "sdk"]
        self.client: GobblerClient | None = None
        self.expected: dict[str, int] = {}

    def setup(self) -> None:
        """Upload v1, then v2 with a percent of the files edited, removed, renamed and added."""
        source = self.workspace.data / "diff"
        source.mkdir()
        small_tree(source, self.entries, seed=13, low=16, high=64)
        asset = self.workspace.primary.admin.project(PROJECT).asset(ASSET)
        asset.upload("v1", source)
        files = sorted(str(path.relative_to(source)) for path in source.rglob("*.bin"))
        step = max(1, len(files) // max(1, self.entries // 100))
        edited, removed, renamed = files[0::step], files[1::step], files[2::step]
        for path in edited:
            (source / path).write_bytes(b"edited " + path.encode())
        for path in removed:
            os.remove(source / path)
        for path in renamed:
            os.rename(source / path, source / (path + ".moved"))
        for index in range(len(edited)):
            (source / f"added-{index:05d}.bin").write_bytes(b"added %d" % index)
        asset.upload("v2", source)
        shutil.rmtree(source)
        self.expected = {
            "changed": len(edited),
            "removed": len(removed),
            "renamed": len(renamed),
            "added": len(edited),
        }
        self.client = self.workspace.primary.client(self.workspace.scratch("j-cache"), transport="local")

    def teardown(self) -> None:
        """Close the client."""
        if self.client is not None:
            self.client.close()

    def measure(self, contender: str, round_index: int) -> float:
        """Parse both manifests (floor) or diff the versions, ``repeats`` times; check the last result."""
        base = self.workspace.primary.registry / PROJECT / ASSET
        results: list[Any] = []
        if contender == "floor":

            def run() -> None:
                for _ in range(self.repeats):
                    pair = []
                    for name in ("v2", "v1"):
                        with open(base / name / "..manifest", "rb") as handle:
                            pair.append(Manifest.from_json(handle.read()))
                    results.append(pair)

            seconds = timed(run)
            if len(results[-1][1]) != self.entries:
                raise FloorError(f"the floor parsed {len(results[-1][1])} entries instead of {self.entries}")
            return seconds
        assert self.client is not None
        asset = self.client.project(PROJECT).asset(ASSET)
        new, old = asset.version("v2"), asset.version("v1")

        def diff() -> None:
            for _ in range(self.repeats):
                results.append(new.diff(old))

        seconds = timed(diff)
        found = {name: len(getattr(results[-1], name)) for name in self.expected}
        if found != self.expected:
            raise FloorError(f"the diff found {found} instead of {self.expected}")
        return seconds

    def rows(self, rounds: Sequence[Times]) -> list[Row]:
        """One row: the diff against parsing the two manifests."""
        ratio = per_round(rounds, lambda t: t.get("sdk"), lambda t: t.get("floor"))
        measured, met, verdict = at_most(ratio, 1.5, "x floor")
        return [
            Row(
                key="k",
                title=self.title,
                floor=median([t.get("floor") for t in rounds]),
                sdk=median([t.get("sdk") for t in rounds]),
                pyg=None,
                sdk_ratio=ratio,
                pyg_ratio=None,
                target="<= 1.5x parsing the two manifests",
                measured=measured,
                met=met,
                verdict=verdict,
                floor_label="read + Manifest.from_json, both versions",
                pyg_label="n/a (pygobbler has no diff)",
            )
        ]
