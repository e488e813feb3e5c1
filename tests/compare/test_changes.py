"""``client.changes(since=...)`` (issue 21, part 4): the service's journal as typed events."""

from __future__ import annotations

import itertools
import time
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gobbler_sdk import (
    ChangeEvent,
    GobblerClient,
    IncompleteHistoryWarning,
    InvalidArgumentError,
    Project,
)
from gobbler_sdk.changes import JOURNAL_RETENTION, entry_time, follow_changes
from gobbler_sdk.testing import GobblerService

from ..client.support import make_tree
from .conftest import new_project


def ours(events: list[ChangeEvent], project: str) -> list[tuple[str, str | None, str | None, bool | None]]:
    return [(e.type, e.asset, e.version, e.latest) for e in events if e.project == project]


def started() -> datetime:
    # The journal's names carry whole seconds: start at the beginning of this one.
    return datetime.now(timezone.utc).replace(microsecond=0)


def test_every_kind_of_event_in_time_order(
    service: GobblerService, client: GobblerClient, tmp_path: Path
) -> None:
    since = started()
    project = client.project(new_project(service))
    source = make_tree(tmp_path / "src", {"a.txt": "a\n"})
    asset = project.asset("data")
    asset.upload("v1", source)
    time.sleep(1.1)  # the service compares whole seconds: v2 must finish later to become the latest
    asset.upload("v2", source, probation=True)  # probational: not journalled
    asset.version("v2").approve()  # approval: add-version, latest (v2 is newer)
    asset.version("v1").reindex()
    asset.version("v1").remove()
    project.asset("other").upload("o1", source)
    project.asset("other").remove()
    project.remove()

    events = list(client.changes(since))

    expected = [
        ("add-version", "data", "v1", True),
        ("add-version", "data", "v2", True),
        ("reindex-version", "data", "v1", False),
        ("delete-version", "data", "v1", False),
        ("add-version", "other", "o1", True),
        ("delete-asset", "other", None, None),
        ("delete-project", None, None, None),
    ]
    times = [event.time for event in events]
    assert times == sorted(times)
    assert all(event.time >= since and event.time.tzinfo is not None for event in events)
    got = ours(events, project.name)
    assert sorted(got, key=repr) == sorted(expected, key=repr)
    # The journal records whole seconds, and which of one second's entries was written first is not
    # something every service (nor every listing) tells: the order is checked across seconds only.
    seconds = [event.time for event in events if event.project == project.name]
    position = {event: index for index, event in enumerate(expected)}
    for (first, at), (second, later) in itertools.pairwise(zip(got, seconds, strict=True)):
        if at < later:
            assert position[first] < position[second], (first, second)
    first = next(event for event in events if event.project == project.name)
    assert first.key == f"{project.name}/data/v1"
    assert first.to_json() == {
        "type": "add-version",
        "project": project.name,
        "asset": "data",
        "version": "v1",
        "latest": True,
        "time": first.to_json()["time"],
    }
    assert entry_time(first.name) == first.time


def test_since_leaves_out_earlier_events(
    service: GobblerService, client: GobblerClient, tmp_path: Path
) -> None:
    project = client.project(new_project(service))
    source = make_tree(tmp_path / "src", {"a.txt": "a\n"})
    project.asset("data").upload("v1", source)
    later = started() + timedelta(seconds=2)

    assert ours(list(client.changes(later)), project.name) == []
    feed = client.changes(later - timedelta(seconds=30))
    assert feed.complete and ours(list(feed), project.name) == [("add-version", "data", "v1", True)]


def test_a_since_older_than_the_retention_says_the_list_may_be_incomplete(client: GobblerClient) -> None:
    with pytest.warns(IncompleteHistoryWarning, match="the journal keeps 7 days"):
        feed = client.changes(datetime.now(timezone.utc) - JOURNAL_RETENTION - timedelta(hours=1))
    assert not feed.complete
    assert feed.kept_since > feed.since
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert client.changes(datetime.now(timezone.utc) - timedelta(days=6)).complete


def test_since_must_be_a_timezone_aware_datetime(client: GobblerClient) -> None:
    with pytest.raises(InvalidArgumentError, match="timezone-aware"):
        client.changes(datetime(2026, 12, 1))
    with pytest.raises(InvalidArgumentError, match="must be a datetime"):
        client.changes("2026-12-01")  # type: ignore[arg-type]


def test_follow_gives_new_events_once_each(
    service: GobblerService, client: GobblerClient, project: Project, tmp_path: Path
) -> None:
    since = started()
    source = make_tree(tmp_path / "src", {"a.txt": "a\n"})
    project.asset("data").upload("v1", source)
    uploads = iter(["v2", "v3"])
    polls: list[float] = []

    def sleep(seconds: float) -> None:
        # Each wait, something happens in the registry; after two, the feed is told to stop.
        polls.append(seconds)
        name = next(uploads, None)
        if name is not None:
            project.asset("data").upload(name, source)

    stream = follow_changes(client, since, interval=0.5, sleep=sleep, stop=lambda: len(polls) >= 3)
    seen = [event.version for event in stream if event.project == project.name]

    assert seen == ["v1", "v2", "v3"]
    assert polls == [0.5, 0.5, 0.5]


def test_a_long_remote_feed_is_read_in_windows_and_stays_in_order(
    service: GobblerService, mounted: GobblerClient, remote: GobblerClient, tmp_path: Path
) -> None:
    since = started()
    project = mounted.project(new_project(service))
    version = project.asset("data").upload("v1", make_tree(tmp_path / "src", {"a.txt": "a\n"}))
    for _ in range(70):  # more than one window of journal reads
        version.reindex()

    over_http = [event for event in remote.changes(since) if event.project == project.name]
    on_disk = [event for event in mounted.changes(since) if event.project == project.name]

    assert len(over_http) == 71
    assert [(e.time, e.name) for e in over_http] == sorted((e.time, e.name) for e in over_http)
    assert sorted(over_http, key=lambda e: e.name) == sorted(on_disk, key=lambda e: e.name)
    assert [e.type for e in on_disk] == ["add-version"] + ["reindex-version"] * 70
