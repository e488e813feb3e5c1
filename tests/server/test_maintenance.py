"""Daily maintenance (PROTOCOL.md section 14): staging, log and probation purges.

The reference only runs these every 24 hours, so the tests drive an in-process embedded service and trigger
the maintenance directly, with a chosen "now" where the boundary matters.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest

from gobbler_sdk._rfc3339 import parse_rfc3339
from gobbler_sdk.server import EmbeddedServer, ServerConfig
from gobbler_sdk.testing import GobblerService

from .deep_trees import chain, remove, scratch
from .harness import Gobbler, me

pytestmark = pytest.mark.embedded_only

DAY = 24 * 60 * 60


@dataclass
class _Endpoint:
    """What the harness driver needs from a service: where it listens and its two directories."""

    url: str
    staging: str
    registry: str


@dataclass
class Running:
    server: EmbeddedServer
    gobbler: Gobbler


@pytest.fixture
def start_embedded(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """Start in-process services (``probation_days``, optionally a ``root`` directory); stopped after."""
    started: list[Running] = []

    def start(probation_days: int = 0, *, root: Path | None = None) -> Running:
        root = root or tmp_path / f"service{len(started)}"
        staging, registry = root / "staging", root / "registry"
        staging.mkdir(parents=True)
        registry.mkdir()
        config = ServerConfig(
            staging=str(staging),
            registry=str(registry),
            admins=(me(),),
            port=0,
            probation_days=probation_days,
        )
        server = EmbeddedServer(config).start()
        endpoint = _Endpoint(server.url, str(staging), str(registry))
        running = Running(server, Gobbler(cast(GobblerService, endpoint)))
        started.append(running)
        return running

    yield start
    for running in started:
        running.gobbler.close()
        running.server.close()


def age(path: Path, seconds: float, *, now: float | None = None) -> None:
    """Set the entry's own mtime (not a symlink's target's) ``seconds`` before ``now``."""
    moment = (time.time() if now is None else now) - seconds
    os.utime(path, (moment, moment), follow_symlinks=False)


def finish_of(gobbler: Gobbler, project: str, asset: str, version: str) -> datetime:
    finished = parse_rfc3339(gobbler.summary(project, asset, version)["upload_finish"])
    assert finished is not None
    return finished


# ---------------------------------------------------------------------------------------------- staging


def test_staging_purge_removes_old_top_level_entries(
    start_embedded: Callable[..., Running], tmp_path: Path
) -> None:
    running = start_embedded()
    staging = running.gobbler.staging
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target.txt").write_text("keep me")
    (outside / "dir").mkdir()
    (outside / "dir" / "inner.txt").write_text("keep me too")

    (staging / "old-file").write_text("x")
    (staging / "new-file").write_text("x")
    # A directory's age is its own mtime, not that of its contents.
    (staging / "old-dir" / "deep").mkdir(parents=True)
    (staging / "old-dir" / "deep" / "fresh.txt").write_text("x")
    (staging / "new-dir").mkdir()
    (staging / "new-dir" / "ancient.txt").write_text("x")
    age(staging / "new-dir" / "ancient.txt", 30 * DAY)
    # Old symlinks are removed without touching what they point to.
    os.symlink(outside / "target.txt", staging / "old-link")
    os.symlink(outside / "dir", staging / "old-dir-link")
    os.symlink(staging / "missing", staging / "old-dangling")
    os.symlink(outside / "target.txt", staging / "new-link")
    age(outside / "target.txt", 30 * DAY)
    age(outside / "dir", 30 * DAY)
    for name in ("old-file", "old-dir/deep", "old-dir", "old-link", "old-dir-link", "old-dangling"):
        age(staging / name, 8 * DAY)

    running.server.run_maintenance()

    assert sorted(os.listdir(staging)) == ["new-dir", "new-file", "new-link"]
    assert (staging / "new-dir" / "ancient.txt").exists()
    assert (outside / "target.txt").read_text() == "keep me"
    assert (outside / "dir" / "inner.txt").read_text() == "keep me too"


def test_staging_purge_boundary_is_strictly_more_than_seven_days(
    start_embedded: Callable[..., Running],
) -> None:
    running = start_embedded()
    staging = running.gobbler.staging
    # Whole seconds keep the comparison exact through datetime's microsecond resolution.
    now = float(int(time.time()))
    for name, seconds in (("just-over", 7 * DAY + 2), ("exactly", 7 * DAY), ("just-under", 7 * DAY - 2)):
        (staging / name).write_text("x")
        age(staging / name, seconds, now=now)
    running.server.run_maintenance(datetime.fromtimestamp(now, timezone.utc))
    assert sorted(os.listdir(staging)) == ["exactly", "just-under"]


def test_staging_purge_leaves_requests_working(start_embedded: Callable[..., Running]) -> None:
    running = start_embedded()
    (running.gobbler.staging / "stale").mkdir()
    age(running.gobbler.staging / "stale", 10 * DAY)
    running.server.run_maintenance()
    assert os.listdir(running.gobbler.staging) == []
    project = running.gobbler.create_project()
    assert running.gobbler.path(project, "..permissions").exists()


def test_purges_remove_deep_trees_and_carry_on(
    start_embedded: Callable[..., Running], tmp_path: Path
) -> None:
    # Issue 19: one old staging directory ~2,000 levels deep (beyond PATH_MAX) raised RecursionError in
    # the staging purge, which skipped the log and probation purges, every day again.
    root = Path(scratch("gobbler-deep-purge-"))
    running = start_embedded(probation_days=0, root=root / "service")
    gobbler = running.gobbler
    staging, logs = gobbler.staging, gobbler.path("..logs")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep me")
    try:
        project = gobbler.create_project()
        gobbler.ok_upload(project, "a", "v1", {"f": "1"}, on_probation=True)
        chain(gobbler.path(project, "a", "v1"), "extra", 2000, "dd")
        chain(staging, "old-deep", 2000, "dd", link_to=outside)
        (staging / "old-file").write_text("x")
        (logs / "old-entry").write_text("{}")
        for path in (staging / "old-deep", staging / "old-file", logs / "old-entry"):
            age(path, 8 * DAY)

        running.server.run_maintenance(datetime.now(timezone.utc) + timedelta(seconds=1))

        assert not {"old-deep", "old-file"} & set(os.listdir(staging))
        assert "old-entry" not in os.listdir(logs)
        assert not gobbler.path(project, "a", "v1").exists()
        assert gobbler.usage(project) == 0
        assert (outside / "keep.txt").read_text() == "keep me"
    finally:
        remove(root)


# ---------------------------------------------------------------------------------------------- logs


def test_log_purge_removes_old_entries(start_embedded: Callable[..., Running]) -> None:
    running = start_embedded()
    gobbler = running.gobbler
    project = gobbler.create_project()
    gobbler.ok_upload(project, "a", "v1", {"f": "1"})
    logs = gobbler.path("..logs")
    (current,) = os.listdir(logs)

    (logs / "2020-01-01T00:00:00Z_123456").write_text(json.dumps({"type": "delete-project", "project": "x"}))
    age(logs / "2020-01-01T00:00:00Z_123456", 9 * DAY)
    (logs / "old-dir" / "sub").mkdir(parents=True)
    (logs / "old-dir" / "sub" / "file").write_text("x")
    age(logs / "old-dir", 9 * DAY)
    # Only the mtime counts, not the name.
    (logs / "2000-01-01T00:00:00Z_654321").write_text("{}")

    running.server.run_maintenance()

    assert sorted(os.listdir(logs)) == sorted([current, "2000-01-01T00:00:00Z_654321"])
    assert gobbler.logs_for(project) == [
        {"asset": "a", "latest": True, "project": project, "type": "add-version", "version": "v1"}
    ]


# ---------------------------------------------------------------------------------------------- probation


def test_expired_probational_versions_are_rejected(start_embedded: Callable[..., Running]) -> None:
    running = start_embedded(probation_days=1)
    gobbler = running.gobbler
    project = gobbler.create_project()
    other = gobbler.create_project()
    gobbler.ok_upload(project, "a", "v0", {"f": "1"})
    gobbler.ok_upload(project, "a", "v1", {"g": "22"}, on_probation=True)
    gobbler.ok_upload(project, "b", "v1", {"h": "333"}, on_probation=True)
    gobbler.ok_upload(other, "c", "v1", {"i": "4444"}, on_probation=True)
    assert gobbler.usage(project) == 6
    latest_before = gobbler.read_text(project, "a", "..latest")
    logs_before = gobbler.logs()
    finishes = [
        finish_of(gobbler, project, "a", "v1"),
        finish_of(gobbler, project, "b", "v1"),
        finish_of(gobbler, other, "c", "v1"),
    ]

    # Exactly one day is not more than one day.
    running.server.run_maintenance(min(finishes) + timedelta(days=1))
    assert gobbler.path(project, "a", "v1").is_dir()
    assert gobbler.path(project, "b", "v1").is_dir()
    assert gobbler.path(other, "c", "v1").is_dir()

    running.server.run_maintenance(max(finishes) + timedelta(days=1, seconds=1))
    assert sorted(os.listdir(gobbler.path(project, "a"))) == ["..LOCK", "..latest", "v0"]
    assert not gobbler.path(project, "b", "v1").exists()
    assert gobbler.path(project, "b").is_dir()
    assert not gobbler.path(other, "c", "v1").exists()
    assert gobbler.usage(project) == 1
    assert gobbler.read_text(project, "..usage") == '{\n    "total": 1\n}'
    assert gobbler.usage(other) == 0
    assert gobbler.read_text(project, "a", "..latest") == latest_before
    assert gobbler.logs() == logs_before


def test_probation_zero_days_purges_at_the_next_run(start_embedded: Callable[..., Running]) -> None:
    running = start_embedded(probation_days=0)
    gobbler = running.gobbler
    project = gobbler.create_project()
    gobbler.ok_upload(project, "a", "v1", {"g": "22"}, on_probation=True)
    gobbler.ok_upload(project, "a", "v2", {"f": "1"})
    finished = finish_of(gobbler, project, "a", "v1")
    running.server.run_maintenance(finished + timedelta(seconds=1))
    assert not gobbler.path(project, "a", "v1").exists()
    assert gobbler.path(project, "a", "v2").is_dir()
    assert gobbler.usage(project) == 1


def test_negative_probation_disables_the_purge(start_embedded: Callable[..., Running]) -> None:
    running = start_embedded(probation_days=-1)
    gobbler = running.gobbler
    project = gobbler.create_project()
    gobbler.ok_upload(project, "a", "v1", {"g": "22"}, on_probation=True)
    running.server.run_maintenance(finish_of(gobbler, project, "a", "v1") + timedelta(days=3650))
    assert gobbler.summary(project, "a", "v1")["on_probation"] is True
    assert gobbler.usage(project) == 2


def test_probation_purge_skips_broken_versions_and_carries_on(start_embedded: Callable[..., Running]) -> None:
    running = start_embedded(probation_days=0)
    gobbler = running.gobbler
    project = gobbler.create_project()
    for version in ("v1", "v2", "v3", "v4"):
        gobbler.ok_upload(project, "a", version, {version: version * 3}, on_probation=True)
    # No summary: skipped. No manifest: the rejection fails (no force) and the version stays.
    gobbler.path(project, "a", "v1", "..summary").unlink()
    gobbler.path(project, "a", "v2", "..manifest").unlink()
    summary: dict[str, Any] = gobbler.summary(project, "a", "v3")
    summary["upload_finish"] = "not a time"
    gobbler.path(project, "a", "v3", "..summary").write_text(json.dumps(summary))
    # A stray directory in the registry and in a project are no obstacle either.
    os.mkdir(gobbler.path("stray"))
    os.mkdir(gobbler.path(project, "a", "stray"))

    running.server.run_maintenance(datetime.now(timezone.utc) + timedelta(days=1))

    assert sorted(os.listdir(gobbler.path(project, "a"))) == ["..LOCK", "stray", "v1", "v2", "v3"]
    assert gobbler.usage(project) == 4 * 6 - 6
