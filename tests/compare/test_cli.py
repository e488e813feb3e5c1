"""``gobbler-sdk diff``, ``verify``, ``changes`` and ``upload --dry-run``, run as real subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gobbler_sdk import GobblerClient
from gobbler_sdk.cli.compare import parse_since
from gobbler_sdk.testing import GobblerService

from ..cli.conftest import SCRIPT, Runner, environment
from ..client.support import Link, make_tree
from .conftest import new_project

V1 = {"a.txt": "alpha\n", "b.txt": "beta\n", "old/c.txt": "gamma\n", "e1": None}
V2 = {"a.txt": "alpha\n", "b.txt": "beta, edited\n", "new/c.txt": "gamma\n", "d.txt": "delta\n", "e2": None}


@dataclass(frozen=True)
class Pair:
    project: str
    source: Path

    @property
    def asset(self) -> str:
        return f"{self.project}/data"


@pytest.fixture(scope="module")
def pair(service: GobblerService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("pair")
    with GobblerClient(service.url, cache=root / "cache") as client:
        project = client.project(new_project(service))
        asset = project.asset("data")
        asset.upload("v1", make_tree(root / "v1", V1))
        asset.upload("v2", make_tree(root / "v2", V2))
        yield Pair(project.name, root)


@pytest.mark.parametrize("transport", ["local", "remote"])
def test_diff_prints_a_table_and_exits_1_when_versions_differ(
    cli: Runner, pair: Pair, transport: str
) -> None:
    result = cli("diff", f"{pair.asset}/v1", f"{pair.asset}/v2", expect=1, transport=transport)

    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"{pair.asset}/v1 -> {pair.asset}/v2: 1 added, 0 removed, 1 changed, 1 renamed, 1 unchanged, "
        "empty directories 1 added, 1 removed; +19 B -5 B"
    )
    rows = [line.split() for line in lines[2:]]
    assert rows == [
        ["added", "d.txt"],
        ["changed", "b.txt"],
        ["renamed", "new/c.txt", "from", "old/c.txt"],
        ["directory", "added", "e2"],
        ["directory", "removed", "e1"],
    ]
    assert result.stderr == ""


def test_diff_against_the_latest_and_identical_versions(cli: Runner, pair: Pair) -> None:
    same = cli("diff", f"{pair.asset}/v2", pair.asset, expect=0)
    assert same.stdout == f"{pair.asset}/v2 and {pair.asset}/v2 hold the same files (4)\n"

    stat = cli("diff", f"{pair.asset}/v1", pair.asset, "--stat", expect=1)
    assert stat.stdout.count("\n") == 1 and "1 added, 0 removed, 1 changed, 1 renamed" in stat.stdout


def test_diff_json_and_stat_json(cli: Runner, pair: Pair) -> None:
    document = cli("diff", f"{pair.asset}/v1", f"{pair.asset}/v2", "--json", expect=1).json()
    assert document == {
        "old": f"{pair.asset}/v1",
        "new": f"{pair.asset}/v2",
        "identical": False,
        "added": ["d.txt"],
        "removed": [],
        "changed": ["b.txt"],
        "renamed": [["old/c.txt", "new/c.txt"]],
        "unchanged": 1,
        "links_changed": [],
        "directories_added": ["e2"],
        "directories_removed": ["e1"],
        "bytes_added": 19,
        "bytes_removed": 5,
        "tables": [],
    }
    counts = cli("--json", "diff", f"{pair.asset}/v1", f"{pair.asset}/v1", "--stat", expect=0).json()
    assert counts["identical"] is True and counts["unchanged"] == 3 and counts["added"] == 0


def test_diff_errors_have_their_family_exit_status(cli: Runner, pair: Pair, service: GobblerService) -> None:
    missing = cli("diff", f"{pair.asset}/v1", f"{pair.asset}/nope", expect=3)
    assert missing.stderr == f"gobbler-sdk: error: version {pair.asset}/nope does not exist\n"
    no_latest = new_project(service)
    cli("diff", f"{pair.asset}/v1", f"{no_latest}/none", expect=3)
    bad = cli("diff", f"{pair.asset}/v1", f"{pair.asset}/v2/a.txt", expect=5)
    assert "names a path inside a version" in bad.stderr


def test_verify_exits_0_for_an_intact_copy_and_1_otherwise(cli: Runner, pair: Pair, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    cli("download", f"{pair.asset}/v2", "--to", str(copy), expect=0)

    intact = cli("verify", f"{pair.asset}/v2", str(copy), expect=0)
    assert intact.stdout == f"{copy} holds exactly {pair.asset}/v2 (4 files checked)\n"

    (copy / "b.txt").write_text("tampered\n")
    (copy / "extra").write_text("x")
    os.remove(copy / "d.txt")
    differs = cli("verify", f"{pair.asset}/v2", str(copy), "--json", expect=1).json()
    assert differs == {
        "version": f"{pair.asset}/v2",
        "directory": str(copy),
        "ok": False,
        "missing": ["d.txt"],
        "extra": ["extra"],
        "changed": ["b.txt"],
        "checked": 3,
    }
    table = cli("verify", f"{pair.asset}/v2", str(copy), expect=1)
    assert [line.split() for line in table.stdout.splitlines()[2:]] == [
        ["missing", "d.txt"],
        ["extra", "extra"],
        ["changed", "b.txt"],
    ]
    cli("verify", f"{pair.asset}/v2", str(tmp_path / "nope"), expect=2)


def test_upload_dry_run_prints_the_plan_and_uploads_nothing(
    cli: Runner, pair: Pair, service: GobblerService, tmp_path: Path
) -> None:
    source = make_tree(
        tmp_path / "v3",
        {"a.txt": "alpha\n", "fresh.txt": "fresh\n", "l": Link("fresh.txt"), ".git/config": "x", "e": None},
    )

    result = cli("upload", f"{pair.asset}/v3", str(source), "--dry-run", "--ignore-dot", expect=0)

    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"dry run: {pair.asset}/v3 would store 1 files (6 B), link 1 (6 B) (deduplicated against "
        f"{pair.asset}/v2), keep 1 local links, record 1 empty directories, skip 1"
    )
    assert [line.split() for line in lines[2:]] == [
        ["store", "fresh.txt", "6", "B"],
        ["link", "a.txt", "6", "B", f"{pair.asset}/v2/a.txt"],
        ["local", "link", "l", "fresh.txt"],
        ["empty", "directory", "e"],
        ["skip", ".git"],
    ]
    assert "nothing was copied or submitted" in result.stderr
    plan = cli("upload", f"{pair.asset}/v3", str(source), "--dry-run", "--json").json()  # dotfiles are sent
    assert plan["transferred"] == [".git/config", "fresh.txt"] and plan["skipped"] == []
    assert [v["name"] for v in cli("ls", pair.asset, "--json").json()["entries"]] == ["v1", "v2"]


def test_changes_lists_events_since_a_date(cli: Runner, service: GobblerService, tmp_path: Path) -> None:
    since = datetime.now(timezone.utc).replace(microsecond=0)
    project = new_project(service)
    with GobblerClient(service.url, cache=tmp_path / "c") as client:
        client.project(project).asset("x").upload("v1", make_tree(tmp_path / "s", {"a": "a"}))

    document = cli("changes", "--since", since.isoformat(), "--json").json()
    mine = [event for event in document["events"] if event["project"] == project]
    assert mine == [
        {
            "type": "add-version",
            "project": project,
            "asset": "x",
            "version": "v1",
            "latest": True,
            "time": mine[0]["time"],
        }
    ]
    assert document["complete"] is True
    table = cli("changes", "--since", "1h").stdout.splitlines()
    assert [mine[0]["time"], "add-version", f"{project}/x/v1", "latest"] in [line.split() for line in table]

    only = cli("changes", "--since", since.isoformat(), "--path", f"{project}/x", "--json").json()["events"]
    assert only == mine
    assert (
        cli("changes", "--since", since.isoformat(), "--path", "elsewhere", "--json").json()["events"] == []
    )
    cli("changes", "--path", "a/b/c", expect=5)

    old = cli("changes", "--since", "2026-01-01", "--json")
    assert old.json()["complete"] is False
    assert "the journal keeps 7 days" in old.stderr
    cli("changes", "--since", "yesterday-ish", expect=2)


def test_changes_follow_prints_new_events_until_interrupted(
    service: GobblerService, pair: Pair, tmp_path: Path
) -> None:
    env = environment(service.url, tmp_path / "cache")
    process = subprocess.Popen(
        [str(SCRIPT), "changes", "--since", "1s", "--follow", "--interval", "0.2", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        time.sleep(1.5)
        with GobblerClient(service.url, cache=tmp_path / "c") as client:
            client.project(pair.project).asset("followed").upload("f1", make_tree(tmp_path / "s", {"a": "a"}))
        deadline = time.monotonic() + 30
        assert process.stdout is not None
        line = ""
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if '"asset": "followed"' in line:
                break
        assert '"version": "f1"' in line
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    assert code == 130


def test_parse_since() -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)
    assert parse_since("36h", now=now) == now - timedelta(hours=36)
    assert parse_since("2w", now=now) == now - timedelta(weeks=2)
    assert parse_since("2026-12-01") == datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert parse_since("2026-12-01T08:00:00Z") == datetime(2026, 12, 1, 8, tzinfo=timezone.utc)
    assert parse_since("2026-12-01T09:00:00+01:00") == datetime(2026, 12, 1, 8, tzinfo=timezone.utc)
