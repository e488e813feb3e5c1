"""Workloads a and b: uploading a directory that lies outside staging.

Every upload goes to a fresh asset, so the service never deduplicates against an earlier round (it only
deduplicates against the asset's latest version); the asset is deleted afterwards, outside the timing. Each
result is checked (the new manifest has every file) so a broken upload cannot pass for a fast one.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from gobbler_sdk import GobblerClient

from .base import Row, ServiceRow, Times, Workload, at_most, median, per_round, pyg_text, timed
from .floors import FloorError, upload_floor
from .workspace import PROJECT, Endpoint, Workspace, big_file, small_tree

try:
    import pygobbler  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - the dev extra installs it
    pygobbler = None

EMBEDDED = "@embedded"


class Upload(Workload):
    """Upload one prepared directory from outside staging, by floor, gobbler-sdk and pygobbler.

    Args:
        workspace: The run's workspace.
        key: ``"a"`` or ``"b"``.
        title: Table description.
        limit: Target ratio of gobbler-sdk to the floor.
        make_source: Fills the source directory (not timed); returns the number of files.
    """

    def __init__(
        self, workspace: Workspace, key: str, title: str, limit: float, make_source: Callable[[Path], int]
    ) -> None:
        super().__init__()
        self.workspace = workspace
        self.key = key
        self.title = title
        self.limit = limit
        self.make_source = make_source
        self.source = workspace.data / f"upload-{key}"
        self.files = 0
        self.contenders = ["floor", "sdk"]
        if pygobbler is not None:
            self.contenders.append("pygobbler")
        if workspace.embedded_beside_binary is not None:
            self.contenders += ["floor" + EMBEDDED, "sdk" + EMBEDDED]
        self.clients: dict[str, GobblerClient] = {}

    def setup(self) -> None:
        """Generate the source directory and one long-lived client per service."""
        self.source.mkdir()
        self.files = self.make_source(self.source)
        for endpoint in self.workspace.endpoints:
            self.clients[endpoint.label] = endpoint.client(self.workspace.scratch(f"cache-{self.key}"))

    def teardown(self) -> None:
        """Close the clients and drop the source."""
        for client in self.clients.values():
            client.close()
        shutil.rmtree(self.source, ignore_errors=True)

    def settle(self, round_index: int) -> None:
        """One untimed floor upload, whose time is thrown away.

        Measured: in every round of b, whichever contender ran first took about 0.6 s longer than the
        same contender later in the round (floor 1.6 s against 0.9 s), so the first upload of a round is
        no longer charged to anyone.
        """
        self.measure("floor", round_index)

    def measure(self, contender: str, round_index: int) -> float:
        """Upload the source as ``v1`` of a fresh asset, check the manifest, delete the asset."""
        name, _, where = contender.partition("@")
        endpoint = self.workspace.embedded_beside_binary if where else self.workspace.primary
        assert endpoint is not None
        asset = f"{self.key}-r{round_index}-{name}-{secrets.token_hex(3)}"
        staged: list[Path] = []
        try:
            if name == "floor":
                host, port = endpoint.host_port

                def run() -> None:
                    staged.append(
                        upload_floor(host, port, endpoint.staging, self.source, PROJECT, asset, "v1")
                    )

            elif name == "sdk":
                client = self.clients[endpoint.label]

                def run() -> None:
                    client.project(PROJECT).asset(asset).upload("v1", self.source)

            else:

                def run() -> None:
                    pygobbler.upload_directory(
                        PROJECT,
                        asset,
                        "v1",
                        str(self.source),
                        staging=str(endpoint.staging),
                        url=endpoint.url,
                    )

            seconds = timed(run)
            self._check(endpoint, asset)
            return seconds
        finally:
            for path in staged:
                shutil.rmtree(path, ignore_errors=True)
            endpoint.remove_asset(asset)

    def _check(self, endpoint: Endpoint, asset: str) -> None:
        manifest = endpoint.admin.project(PROJECT).asset(asset).version("v1").manifest()
        if len(manifest.files()) != self.files:
            raise FloorError(f"{asset}: {len(manifest.files())} files uploaded instead of {self.files}")

    def rows(self, rounds: Sequence[Times]) -> list[Row]:
        """One row: gobbler-sdk and pygobbler against the end-to-end floor."""
        sdk_ratio = per_round(rounds, lambda t: t.get("sdk"), lambda t: t.get("floor"))
        measured, met, verdict = at_most(sdk_ratio, self.limit)
        return [
            Row(
                key=self.key,
                title=self.title,
                floor=median([t.get("floor") for t in rounds]),
                sdk=median([t.get("sdk") for t in rounds]),
                pyg=median([t.get("pygobbler") for t in rounds]),
                sdk_ratio=sdk_ratio,
                pyg_ratio=per_round(rounds, lambda t: t.get("pygobbler"), lambda t: t.get("floor")),
                target=f"<= {self.limit:g}x floor",
                measured=measured,
                met=met,
                verdict=verdict,
                floor_label="cp -r + raw upload (consume)",
                pyg_label=pyg_text("upload_directory(concurrent=1)"),
            )
        ]

    def service_rows(self, rounds: Sequence[Times]) -> list[ServiceRow]:
        """Embedded against binary, for the floor and for gobbler-sdk (only with ``GOBBLER_BINARY``)."""
        if self.workspace.embedded_beside_binary is None:
            return []
        return [
            ServiceRow(
                key=self.key,
                title=self.title,
                floor_binary=median([t.get("floor") for t in rounds]),
                floor_embedded=median([t.get("floor" + EMBEDDED) for t in rounds]),
                sdk_binary=median([t.get("sdk") for t in rounds]),
                sdk_embedded=median([t.get("sdk" + EMBEDDED) for t in rounds]),
                floor_ratio=per_round(rounds, lambda t: t.get("floor" + EMBEDDED), lambda t: t.get("floor")),
                sdk_ratio=per_round(rounds, lambda t: t.get("sdk" + EMBEDDED), lambda t: t.get("sdk")),
            )
        ]


def small_files(workspace: Workspace, count: int) -> Upload:
    """Workload a: ``count`` files of 1-4 KiB in nested directories."""

    def make(root: Path) -> int:
        small_tree(root, count, seed=5)
        return count

    return Upload(workspace, "a", f"upload {count:,} files of 1-4 KiB (nested, outside staging)", 1.25, make)


def one_big_file(workspace: Workspace, size: int) -> Upload:
    """Workload b: one file of ``size`` bytes."""

    def make(root: Path) -> int:
        big_file(root / "big.bin", size)
        return 1

    return Upload(workspace, "b", f"upload one {size >> 20} MiB file (outside staging)", 1.15, make)
