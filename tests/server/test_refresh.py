"""``refresh_latest`` and ``refresh_usage`` (PROTOCOL.md 6.6, 6.7, 9.2, 10.3; edge cases 29 and 34)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import pytest

from .harness import Gobbler, me, unique


def set_finish(gobbler: Gobbler, project: str, asset: str, version: str, finish: str) -> None:
    """Rewrite a real upload's ``upload_finish`` to pin the ordering the test needs."""
    summary = gobbler.summary(project, asset, version)
    summary["upload_finish"] = finish
    gobbler.path(project, asset, version, "..summary").write_text(json.dumps(summary))


def latest_text(version: str) -> str:
    return json.dumps({"version": version}, indent=4)


# ---------------------------------------------------------------------------------------------- check order


@pytest.mark.parametrize("action", ["refresh_latest", "refresh_usage"])
def test_non_admins_are_refused_before_parsing(
    start_gobbler_variant: Callable[..., Gobbler], action: str
) -> None:
    variant = start_gobbler_variant(admin=["someone-else"])
    reply = variant.request(action, raw="not json")
    assert reply.status == 403, reply
    # refresh_usage reuses the refresh_latest wording in the reference.
    assert f'user "{me()}" is not authorized to refresh the latest version' in reply.reason


@pytest.mark.parametrize(
    ("action", "payload", "status", "fragments"),
    [
        ("refresh_latest", "garbage", 400, ["failed to parse JSON"]),
        ("refresh_latest", {"project": 1}, 400, ["failed to parse JSON"]),
        ("refresh_latest", {}, 400, ["invalid 'project' property", "missing name"]),
        ("refresh_latest", {"project": "PROJECT"}, 400, ["invalid 'asset' property", "missing name"]),
        ("refresh_latest", {"project": "PROJECT", "asset": "x/y"}, 400, ["invalid 'asset' property"]),
        ("refresh_latest", {"project": "MISSING", "asset": "a"}, 404, ["project MISSING does not exist"]),
        (
            "refresh_latest",
            {"project": "PROJECT", "asset": "a"},
            404,
            ["asset a does not exist in project PROJECT"],
        ),
        ("refresh_usage", "[]", 400, ["failed to parse JSON"]),
        ("refresh_usage", {"project": ""}, 400, ["invalid 'project' property", "name cannot be empty"]),
        ("refresh_usage", {"project": "MISSING"}, 404, ["project MISSING does not exist"]),
    ],
)
def test_request_errors(
    gobbler: Gobbler, project: str, action: str, payload: object, status: int, fragments: list[str]
) -> None:
    missing = unique("missing")

    def fill(text: str) -> str:
        return text.replace("PROJECT", project).replace("MISSING", missing)

    if isinstance(payload, str):
        reply = gobbler.request(action, raw=payload)
    else:
        assert isinstance(payload, dict)
        reply = gobbler.request(action, {k: fill(v) if isinstance(v, str) else v for k, v in payload.items()})
    assert reply.status == status, reply
    for fragment in fragments:
        assert fill(fragment) in reply.reason


# ---------------------------------------------------------------------------------------------- refresh_usage


def test_refresh_usage_of_an_empty_project(gobbler: Gobbler, project: str) -> None:
    reply = gobbler.request("refresh_usage", {"project": project})
    assert reply.status == 200, reply
    assert reply.body == {"status": "SUCCESS", "total": 0}
    # Rewritten pretty-printed, unlike the verbatim file of create_project.
    assert gobbler.read_text(project, "..usage") == '{\n    "total": 0\n}'


def test_refresh_usage_counts_probational_versions_and_skips_links(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"x.txt": "hello", "sub/y": "abc"})
    # x.txt is deduplicated against v1 and counts nothing.
    gobbler.ok_upload(project, "a", "v2", {"x.txt": "hello", "z": "12345678"}, on_probation=True)
    gobbler.ok_upload(project, "b", "v1", {"empty": None, "w": "1234"})
    # An asset without versions contributes nothing.
    assert (
        gobbler.request("set_permissions", {"project": project, "asset": "c", "permissions": {}}).status
        == 200
    )
    assert gobbler.usage(project) == 5 + 3 + 8 + 4

    gobbler.path(project, "..usage").write_text('{"total": 999}')
    reply = gobbler.request("refresh_usage", {"project": project})
    assert reply.status == 200, reply
    assert reply.body == {"status": "SUCCESS", "total": 20}
    assert gobbler.read_text(project, "..usage") == '{\n    "total": 20\n}'


@pytest.mark.parametrize("stray", ["stray", "..stray"])
def test_refresh_usage_fails_on_a_version_without_manifest(
    gobbler: Gobbler, project: str, stray: str
) -> None:
    gobbler.ok_upload(project, "a", "v1", {"x.txt": "hello"})
    gobbler.path(project, "..usage").write_text('{"total": 999}')
    # Names are not filtered: even a "..stray" directory is taken for a version.
    os.mkdir(gobbler.path(project, "a", stray))
    reply = gobbler.request("refresh_usage", {"project": project})
    assert reply.status == 500, reply
    assert "manifest" in reply.reason
    assert gobbler.read_text(project, "..usage") == '{"total": 999}'


def test_refresh_usage_fails_on_a_deleted_manifest(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"x.txt": "hello"})
    gobbler.path(project, "a", "v1", "..manifest").unlink()
    reply = gobbler.request("refresh_usage", {"project": project})
    assert reply.status == 500, reply
    assert "manifest" in reply.reason
    assert gobbler.usage(project) == 5


# ------------------------------------------------------------------------------------------ refresh_latest


def test_refresh_latest_picks_the_latest_non_probational_finish(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "1"})
    gobbler.ok_upload(project, "a", "v2", {"f": "2"})
    gobbler.ok_upload(project, "a", "v3", {"f": "3"}, on_probation=True)
    set_finish(gobbler, project, "a", "v1", "2021-06-01T00:00:00Z")
    set_finish(gobbler, project, "a", "v2", "2021-01-01T00:00:00Z")
    set_finish(gobbler, project, "a", "v3", "2030-01-01T00:00:00Z")
    assert gobbler.latest(project, "a") == "v2"

    reply = gobbler.request("refresh_latest", {"project": project, "asset": "a"})
    assert reply.status == 200, reply
    assert reply.body == {"status": "SUCCESS", "version": "v1"}
    assert gobbler.read_text(project, "a", "..latest") == latest_text("v1")
    assert [e for e in gobbler.logs_for(project) if e["type"] != "add-version"] == []


def test_refresh_latest_compares_instants(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "1"})
    gobbler.ok_upload(project, "a", "v2", {"f": "2"})
    # 01:30+02:00 is 23:30Z of the previous day, so v1 is later despite its smaller wall-clock reading.
    set_finish(gobbler, project, "a", "v1", "2021-01-01T00:00:00.5Z")
    set_finish(gobbler, project, "a", "v2", "2021-01-01T01:30:00+02:00")
    reply = gobbler.request("refresh_latest", {"project": project, "asset": "a"})
    assert reply.body == {"status": "SUCCESS", "version": "v1"}
    assert gobbler.latest(project, "a") == "v1"


def test_refresh_latest_breaks_ties_by_smallest_name(gobbler: Gobbler, project: str) -> None:
    for version in ("c", "b", "d"):
        gobbler.ok_upload(project, "a", version, {"f": version})
    set_finish(gobbler, project, "a", "c", "2021-01-01T00:00:00Z")
    set_finish(gobbler, project, "a", "b", "2021-01-01T01:00:00+01:00")
    set_finish(gobbler, project, "a", "d", "2021-01-01T00:00:00Z")
    assert gobbler.latest(project, "a") == "d"
    reply = gobbler.request("refresh_latest", {"project": project, "asset": "a"})
    assert reply.body == {"status": "SUCCESS", "version": "b"}
    assert gobbler.read_text(project, "a", "..latest") == latest_text("b")


def test_refresh_latest_without_candidates_removes_latest(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "1"}, on_probation=True)
    gobbler.path(project, "a", "..latest").write_text(json.dumps({"version": "gone"}))
    # Directories with ".." names are not versions.
    os.mkdir(gobbler.path(project, "a", "..junk"))
    reply = gobbler.request("refresh_latest", {"project": project, "asset": "a"})
    assert reply.status == 200, reply
    assert reply.body == {"status": "SUCCESS"}
    assert not gobbler.path(project, "a", "..latest").exists()
    # Again, with nothing to remove.
    reply = gobbler.request("refresh_latest", {"project": project, "asset": "a"})
    assert reply.body == {"status": "SUCCESS"}


def test_refresh_latest_of_an_asset_without_versions(gobbler: Gobbler, project: str) -> None:
    assert (
        gobbler.request("set_permissions", {"project": project, "asset": "a", "permissions": {}}).status
        == 200
    )
    gobbler.path(project, "a", "..latest").write_text(json.dumps({"version": "stale"}))
    reply = gobbler.request("refresh_latest", {"project": project, "asset": "a"})
    assert reply.status == 200, reply
    assert reply.body == {"status": "SUCCESS"}
    assert sorted(os.listdir(gobbler.path(project, "a"))) == ["..LOCK", "..permissions"]


@pytest.mark.parametrize("breakage", ["no-summary", "bad-finish"])
def test_refresh_latest_fails_on_a_broken_summary(gobbler: Gobbler, project: str, breakage: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "1"})
    gobbler.ok_upload(project, "a", "v2", {"f": "2"})
    if breakage == "no-summary":
        gobbler.path(project, "a", "v1", "..summary").unlink()
    else:
        set_finish(gobbler, project, "a", "v1", "2021-01-01")
    reply = gobbler.request("refresh_latest", {"project": project, "asset": "a"})
    assert reply.status == 500, reply
    assert ("summary" if breakage == "no-summary" else "could not parse 'upload_finish'") in reply.reason
    assert gobbler.read_text(project, "a", "..latest") == latest_text("v2")
