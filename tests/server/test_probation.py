"""``approve_probation`` and ``reject_probation`` (PROTOCOL.md 6.4, 6.5, 10.2; edge cases 27, 28, 30, 39)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .harness import Gobbler, Reply, me, unique

ACTIONS = ["approve_probation", "reject_probation"]


def pretty(value: Any) -> str:
    """The exact text the service writes for an internal JSON file."""
    return json.dumps(value, indent=4)


def decide(gobbler: Gobbler, action: str, project: str, asset: str, version: str, **extra: Any) -> Reply:
    return gobbler.request(action, {"project": project, "asset": asset, "version": version, **extra})


def set_finish(gobbler: Gobbler, project: str, asset: str, version: str, finish: str) -> None:
    """Rewrite a real upload's ``upload_finish`` to pin the ordering the test needs."""
    summary = gobbler.summary(project, asset, version)
    summary["upload_finish"] = finish
    gobbler.path(project, asset, version, "..summary").write_text(json.dumps(summary))


def version_text(gobbler: Gobbler, project: str, asset: str, version: str) -> dict[str, str]:
    """Every file of a version directory (``..`` files included), to check that nothing changed."""
    root = gobbler.path(project, asset, version)
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def team(gobbler: Gobbler) -> str:
    """A project owned by alice (not an administrator) with bob as an untrusted uploader and carol owning
    asset ``a``; bob has uploaded ``a/v1`` (probational) and the administrator ``a/v0`` (not probational).
    """
    project = gobbler.create_project(permissions={"owners": ["alice"], "uploaders": [{"id": "bob"}]})
    reply = gobbler.request(
        "set_permissions", {"project": project, "asset": "a", "permissions": {"owners": ["carol"]}}
    )
    assert reply.status == 200, reply
    gobbler.ok_upload(project, "a", "v0", {"f": "0"})
    gobbler.ok_upload(project, "a", "v1", {"g": "11"}, spoof="bob")
    return project


# ---------------------------------------------------------------------------------------------- check order


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize(
    ("payload", "fragments"),
    [
        ({}, ["invalid 'project' property", "missing name"]),
        ({"asset": "a", "version": "v"}, ["invalid 'project' property", "missing name"]),
        ({"project": "PROJECT"}, ["invalid 'asset' property", "missing name"]),
        ({"project": "PROJECT", "asset": "a"}, ["invalid 'version' property", "missing name"]),
        ({"project": "..p", "asset": "a", "version": "v"}, ["invalid 'project' property"]),
        (
            {"project": "PROJECT", "asset": "", "version": "v"},
            ["invalid 'asset' property", "cannot be empty"],
        ),
        ({"project": "PROJECT", "asset": "a", "version": "x/y"}, ["invalid 'version' property"]),
        ({"project": "PROJECT", "asset": "a", "version": "v", "force": "true"}, ["failed to parse JSON"]),
        ({"project": "PROJECT", "asset": "a", "version": "v", "spoof": 1}, ["failed to parse JSON"]),
        # Names are checked before spoofing.
        ({"project": "PROJECT", "asset": "a", "spoof": "excluded-user"}, ["invalid 'version' property"]),
    ],
)
def test_bad_requests_are_400(
    gobbler: Gobbler, team: str, action: str, payload: dict[str, Any], fragments: list[str]
) -> None:
    payload = {k: team if v == "PROJECT" else v for k, v in payload.items()}
    reply = gobbler.request(action, payload)
    assert reply.status == 400, reply
    for fragment in fragments:
        assert fragment in reply.reason
    assert gobbler.summary(team, "a", "v1")["on_probation"] is True


@pytest.mark.parametrize("action", ACTIONS)
def test_spoofing_is_checked_before_the_project(gobbler: Gobbler, action: str) -> None:
    reply = decide(gobbler, action, unique("missing"), "a", "v", spoof="excluded-user")
    assert reply.status == 403, reply
    assert f'user "{me()}" is not authorized to spoof "excluded-user"' in reply.reason


@pytest.mark.parametrize("action", ACTIONS)
def test_unknown_project_is_404_even_for_an_unauthorized_caller(gobbler: Gobbler, action: str) -> None:
    missing = unique("missing")
    reply = decide(gobbler, action, missing, "a", "v", spoof="mallory")
    assert reply.status == 404, reply
    assert reply.reason == f"project {missing} does not exist"


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("user", ["mallory", "bob", "carol"])
def test_only_admins_and_project_owners_decide(gobbler: Gobbler, team: str, action: str, user: str) -> None:
    # bob uploaded the version and carol owns the asset: neither qualifies.
    before = version_text(gobbler, team, "a", "v1")
    for asset, version in (("a", "v1"), ("missing-asset", "v1"), ("a", "missing-version")):
        reply = decide(gobbler, action, team, asset, version, spoof=user)
        assert reply.status == 403, reply
        assert reply.reason == (
            f'user "{user}" is not authorized to modify probation status in "{gobbler.path(team)}"'
        )
    assert version_text(gobbler, team, "a", "v1") == before
    assert gobbler.usage(team) == 3


@pytest.mark.parametrize("action", ACTIONS)
def test_missing_asset_or_version_is_404(gobbler: Gobbler, team: str, action: str) -> None:
    reply = decide(gobbler, action, team, "b", "v1", spoof="alice")
    assert reply.status == 404, reply
    assert reply.reason == f"asset b does not exist in project {team}"
    reply = decide(gobbler, action, team, "a", "v9")
    assert reply.status == 404, reply
    assert reply.reason == f"version v9 does not exist for asset a of project {team}"


@pytest.mark.parametrize("action", ACTIONS)
def test_a_version_not_on_probation_is_500(gobbler: Gobbler, team: str, action: str) -> None:
    before = version_text(gobbler, team, "a", "v0")
    for force in (False, True):
        reply = decide(gobbler, action, team, "a", "v0", force=force)
        assert reply.status == 500, reply
        assert reply.reason == f'version directory at "{gobbler.path(team, "a", "v0")}" is not on probation'
    assert version_text(gobbler, team, "a", "v0") == before
    assert gobbler.usage(team) == 3


@pytest.mark.parametrize("action", ACTIONS)
def test_a_missing_summary_is_500_even_with_force(gobbler: Gobbler, team: str, action: str) -> None:
    gobbler.path(team, "a", "v1", "..summary").unlink()
    reply = decide(gobbler, action, team, "a", "v1", force=True)
    assert reply.status == 500, reply
    assert "summary" in reply.reason
    assert gobbler.path(team, "a", "v1", "g").exists()
    assert gobbler.usage(team) == 3


# ---------------------------------------------------------------------------------------------- approval


def test_spoofed_uploads_record_the_spoofed_user(gobbler: Gobbler, team: str) -> None:
    summary = gobbler.summary(team, "a", "v1")
    assert summary["upload_user_id"] == "bob"
    assert summary["on_probation"] is True


def test_approval_without_a_latest_version(gobbler: Gobbler) -> None:
    project = gobbler.create_project()
    gobbler.ok_upload(project, "a", "v1", {"f": "12345"}, on_probation=True)
    summary = gobbler.summary(project, "a", "v1")
    assert gobbler.latest(project, "a") is None
    assert gobbler.logs_for(project) == []

    reply = decide(gobbler, "approve_probation", project, "a", "v1")
    assert reply.status == 200, reply
    assert reply.body == {"status": "SUCCESS"}
    assert gobbler.read_text(project, "a", "v1", "..summary") == pretty(
        {
            "upload_user_id": summary["upload_user_id"],
            "upload_start": summary["upload_start"],
            "upload_finish": summary["upload_finish"],
        }
    )
    assert gobbler.read_text(project, "a", "..latest") == pretty({"version": "v1"})
    assert gobbler.logs_for(project) == [
        {"asset": "a", "latest": True, "project": project, "type": "add-version", "version": "v1"}
    ]
    assert gobbler.usage(project) == 5

    reply = decide(gobbler, "approve_probation", project, "a", "v1")
    assert reply.status == 500, reply
    assert "is not on probation" in reply.reason


def test_a_project_owner_may_approve(gobbler: Gobbler, team: str) -> None:
    reply = decide(gobbler, "approve_probation", team, "a", "v1", spoof="alice")
    assert reply.status == 200, reply
    assert "on_probation" not in gobbler.summary(team, "a", "v1")
    assert gobbler.summary(team, "a", "v1")["upload_user_id"] == "bob"


@pytest.mark.parametrize(
    ("current_finish", "approved_finish", "becomes_latest"),
    [
        ("2021-01-01T00:00:00Z", "2021-01-01T00:00:01Z", True),
        # Same instant, whatever the notation: the existing latest stays.
        ("2021-01-01T00:00:00Z", "2021-01-01T00:00:00Z", False),
        ("2021-01-01T00:00:00Z", "2021-01-01T01:00:00+01:00", False),
        ("2021-01-01T00:00:00Z", "2021-01-01T00:00:00.25Z", True),
        ("2021-01-01T00:00:00Z", "2020-12-31T23:59:59Z", False),
        ("2021-01-01T00:00:00+02:00", "2020-12-31T23:00:00Z", True),
    ],
)
def test_approval_replaces_latest_only_when_strictly_later(
    gobbler: Gobbler, team: str, current_finish: str, approved_finish: str, becomes_latest: bool
) -> None:
    set_finish(gobbler, team, "a", "v0", current_finish)
    set_finish(gobbler, team, "a", "v1", approved_finish)
    assert gobbler.latest(team, "a") == "v0"

    reply = decide(gobbler, "approve_probation", team, "a", "v1", spoof="alice")
    assert reply.status == 200, reply
    assert gobbler.latest(team, "a") == ("v1" if becomes_latest else "v0")
    approvals = [e for e in gobbler.logs_for(team) if e["version"] == "v1"]
    assert approvals == [
        {"asset": "a", "latest": becomes_latest, "project": team, "type": "add-version", "version": "v1"}
    ]
    assert gobbler.summary(team, "a", "v1")["upload_finish"] == approved_finish
    assert gobbler.usage(team) == 3


@pytest.mark.parametrize("breakage", ["stale-latest", "broken-current-summary"])
def test_a_failed_approval_is_half_applied(gobbler: Gobbler, team: str, breakage: str) -> None:
    if breakage == "stale-latest":
        gobbler.path(team, "a", "..latest").write_text(json.dumps({"version": "gone"}))
    else:
        set_finish(gobbler, team, "a", "v0", "yesterday")
    latest_before = gobbler.read_text(team, "a", "..latest")
    logs_before = gobbler.logs_for(team)

    reply = decide(gobbler, "approve_probation", team, "a", "v1")
    assert reply.status == 500, reply
    # The summary was rewritten before the failure: the version is approved all the same.
    assert "on_probation" not in gobbler.summary(team, "a", "v1")
    assert gobbler.read_text(team, "a", "..latest") == latest_before
    assert gobbler.logs_for(team) == logs_before
    reply = decide(gobbler, "approve_probation", team, "a", "v1")
    assert reply.status == 500, reply
    assert "is not on probation" in reply.reason


# ---------------------------------------------------------------------------------------------- rejection


def test_rejection_deletes_and_subtracts_usage_only(gobbler: Gobbler, team: str) -> None:
    latest_before = gobbler.read_text(team, "a", "..latest")
    logs_before = gobbler.logs_for(team)
    reply = decide(gobbler, "reject_probation", team, "a", "v1", spoof="alice")
    assert reply.status == 200, reply
    assert reply.body == {"status": "SUCCESS"}
    assert not gobbler.path(team, "a", "v1").exists()
    assert gobbler.usage(team) == 1
    assert gobbler.read_text(team, "..usage") == '{\n    "total": 1\n}'
    assert gobbler.read_text(team, "a", "..latest") == latest_before
    assert gobbler.logs_for(team) == logs_before


def test_rejecting_the_only_version_keeps_the_asset(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "12345"}, on_probation=True)
    assert decide(gobbler, "reject_probation", project, "a", "v1").status == 200
    assert gobbler.path(project, "a").is_dir()
    assert not gobbler.path(project, "a", "..latest").exists()
    assert gobbler.usage(project) == 0
    assert gobbler.logs_for(project) == []


def test_rejection_without_manifest_needs_force(gobbler: Gobbler, team: str) -> None:
    gobbler.path(team, "a", "v1", "..manifest").unlink()
    reply = decide(gobbler, "reject_probation", team, "a", "v1")
    assert reply.status == 500, reply
    assert "manifest" in reply.reason
    assert gobbler.path(team, "a", "v1", "g").exists()

    reply = decide(gobbler, "reject_probation", team, "a", "v1", force=True)
    assert reply.status == 200, reply
    assert not gobbler.path(team, "a", "v1").exists()
    # Without a manifest the usage cannot be computed and is left as it was.
    assert gobbler.usage(team) == 3
