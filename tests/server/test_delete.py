"""``delete_project``, ``delete_asset`` and ``delete_version`` (PROTOCOL.md 6.8-6.10; edge cases 31-33)."""

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


def deletion_logs(gobbler: Gobbler, project: str) -> list[dict[str, object]]:
    """The project's log entries other than uploads, in a fixed order (file names only order by second)."""
    entries = [e for e in gobbler.logs_for(project) if e["type"] != "add-version"]
    return sorted(entries, key=lambda e: json.dumps(e, sort_keys=True))


def delete_version(gobbler: Gobbler, project: str, asset: str, version: str, **extra: object) -> object:
    return gobbler.request(
        "delete_version", {"project": project, "asset": asset, "version": version, **extra}
    )


# ---------------------------------------------------------------------------------------------- check order


@pytest.mark.parametrize("action", ["delete_project", "delete_asset", "delete_version"])
def test_non_admins_are_refused_before_parsing(
    start_gobbler_variant: Callable[..., Gobbler], action: str
) -> None:
    variant = start_gobbler_variant(admin=["someone-else"])
    reply = variant.request(action, raw="{broken")
    assert reply.status == 403, reply
    # All three deletions use the delete_project wording in the reference.
    assert reply.reason == f'user "{me()}" is not authorized to delete a project'


@pytest.mark.parametrize(
    ("action", "payload", "fragments"),
    [
        ("delete_project", "{broken", ["failed to parse JSON"]),
        ("delete_project", {}, ["invalid 'project' property", "missing name"]),
        ("delete_project", {"project": "..x"}, ["invalid 'project' property", "cannot start with '..'"]),
        ("delete_asset", {"project": "p"}, ["invalid 'asset' property", "missing name"]),
        ("delete_asset", {"project": "p", "asset": ""}, ["invalid 'asset' property", "name cannot be empty"]),
        ("delete_asset", {"project": "p", "asset": "a", "force": "true"}, ["failed to parse JSON"]),
        ("delete_version", {"project": "p", "asset": "a"}, ["invalid 'version' property", "missing name"]),
        ("delete_version", {"project": "p", "asset": "a", "version": "a\\b"}, ["invalid 'version' property"]),
        ("delete_version", {"project": "", "asset": "a", "version": "v"}, ["invalid 'project' property"]),
        (
            "delete_version",
            {"project": "p", "asset": "a", "version": "v", "force": 1},
            ["failed to parse JSON"],
        ),
    ],
)
def test_request_errors_are_400(gobbler: Gobbler, action: str, payload: object, fragments: list[str]) -> None:
    if isinstance(payload, str):
        reply = gobbler.request(action, raw=payload)
    else:
        reply = gobbler.request(action, payload)
    assert reply.status == 400, reply
    for fragment in fragments:
        assert fragment in reply.reason


def test_deleting_missing_things_succeeds_without_a_log(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "1"})
    missing = unique("missing")
    before = gobbler.logs()
    for action, payload in [
        ("delete_project", {"project": missing}),
        ("delete_asset", {"project": missing, "asset": "a"}),
        ("delete_asset", {"project": project, "asset": "b"}),
        ("delete_version", {"project": missing, "asset": "a", "version": "v1"}),
        ("delete_version", {"project": project, "asset": "b", "version": "v1"}),
        ("delete_version", {"project": project, "asset": "a", "version": "v2"}),
        ("delete_version", {"project": project, "asset": "a", "version": "v2", "force": True}),
    ]:
        reply = gobbler.request(action, payload)
        assert reply.status == 200, (action, payload, reply)
        assert reply.body == {"status": "SUCCESS"}
    assert gobbler.logs() == before
    assert not gobbler.path(missing).exists()
    assert not gobbler.path(project, "b").exists()
    assert gobbler.latest(project, "a") == "v1"
    assert gobbler.usage(project) == 1


# ------------------------------------------------------------------------------------------ delete_project


def test_delete_project_removes_everything_and_logs(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "1", "d/g": "22"})
    gobbler.ok_upload(project, "b", "v1", {"f": "1"}, on_probation=True)
    reply = gobbler.request("delete_project", {"project": project})
    assert reply.status == 200, reply
    assert reply.body == {"status": "SUCCESS"}
    assert not gobbler.path(project).exists()
    assert deletion_logs(gobbler, project) == [{"project": project, "type": "delete-project"}]


# ---------------------------------------------------------------------------------------------- delete_asset


def test_delete_asset_subtracts_every_version_and_logs_without_latest(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "12345"})
    gobbler.ok_upload(project, "a", "v2", {"g": "123"}, on_probation=True)
    gobbler.ok_upload(project, "keep", "v1", {"h": "1234567"})
    assert gobbler.usage(project) == 15

    reply = gobbler.request("delete_asset", {"project": project, "asset": "a"})
    assert reply.status == 200, reply
    assert not gobbler.path(project, "a").exists()
    assert gobbler.usage(project) == 7
    assert gobbler.read_text(project, "..usage") == '{\n    "total": 7\n}'
    assert deletion_logs(gobbler, project) == [{"asset": "a", "project": project, "type": "delete-asset"}]
    assert gobbler.latest(project, "keep") == "v1"


@pytest.mark.parametrize("stray", ["stray", "..stray"])
def test_delete_asset_needs_every_manifest_unless_forced(gobbler: Gobbler, project: str, stray: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "12345"})
    os.mkdir(gobbler.path(project, "a", stray))
    before = gobbler.logs_for(project)

    reply = gobbler.request("delete_asset", {"project": project, "asset": "a"})
    assert reply.status == 500, reply
    assert "manifest" in reply.reason
    assert gobbler.path(project, "a", "v1", "f").exists()
    assert gobbler.logs_for(project) == before

    reply = gobbler.request("delete_asset", {"project": project, "asset": "a", "force": True})
    assert reply.status == 200, reply
    assert not gobbler.path(project, "a").exists()
    # The usage could not be computed, so it is left alone.
    assert gobbler.usage(project) == 5
    assert deletion_logs(gobbler, project) == [{"asset": "a", "project": project, "type": "delete-asset"}]


def test_delete_asset_of_an_asset_without_versions(gobbler: Gobbler, project: str) -> None:
    assert (
        gobbler.request("set_permissions", {"project": project, "asset": "a", "permissions": {}}).status
        == 200
    )
    reply = gobbler.request("delete_asset", {"project": project, "asset": "a"})
    assert reply.status == 200, reply
    assert not gobbler.path(project, "a").exists()
    assert gobbler.read_text(project, "..usage") == '{\n    "total": 0\n}'
    assert gobbler.logs_for(project) == [{"asset": "a", "project": project, "type": "delete-asset"}]


# ------------------------------------------------------------------------------------------ delete_version


def test_deleting_the_latest_version_logs_and_recomputes(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "1"})
    gobbler.ok_upload(project, "a", "v2", {"g": "22"})
    gobbler.ok_upload(project, "a", "v3", {"h": "333"}, on_probation=True)
    set_finish(gobbler, project, "a", "v1", "2021-01-01T00:00:00Z")
    set_finish(gobbler, project, "a", "v3", "2030-01-01T00:00:00Z")
    assert gobbler.latest(project, "a") == "v2"

    reply = delete_version(gobbler, project, "a", "v2")
    assert reply.status == 200, reply
    assert reply.body == {"status": "SUCCESS"}
    assert not gobbler.path(project, "a", "v2").exists()
    assert gobbler.usage(project) == 4
    assert deletion_logs(gobbler, project) == [
        {"asset": "a", "latest": True, "project": project, "type": "delete-version", "version": "v2"}
    ]
    # The probational v3 never becomes latest.
    assert gobbler.read_text(project, "a", "..latest") == json.dumps({"version": "v1"}, indent=4)

    # Only a probational version remains: ..latest goes away, the asset directory stays.
    assert delete_version(gobbler, project, "a", "v1").status == 200
    assert deletion_logs(gobbler, project) == [
        {"asset": "a", "latest": True, "project": project, "type": "delete-version", "version": "v1"},
        {"asset": "a", "latest": True, "project": project, "type": "delete-version", "version": "v2"},
    ]
    assert not gobbler.path(project, "a", "..latest").exists()
    assert gobbler.path(project, "a", "v3").is_dir()
    assert gobbler.usage(project) == 3


def test_deleting_an_older_version_logs_latest_false(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "1"})
    gobbler.ok_upload(project, "a", "v2", {"g": "22"})
    assert delete_version(gobbler, project, "a", "v1").status == 200
    assert deletion_logs(gobbler, project) == [
        {"asset": "a", "latest": False, "project": project, "type": "delete-version", "version": "v1"}
    ]
    assert gobbler.latest(project, "a") == "v2"
    assert gobbler.usage(project) == 2

    # Deleting the last version leaves an empty asset directory behind.
    assert delete_version(gobbler, project, "a", "v2").status == 200
    assert not gobbler.path(project, "a", "..latest").exists()
    assert gobbler.path(project, "a").is_dir()
    assert gobbler.usage(project) == 0


def test_deleting_a_probational_version_writes_no_log(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "1"})
    gobbler.ok_upload(project, "a", "v2", {"g": "22"}, on_probation=True)
    before = gobbler.logs_for(project)
    # Even a stale ..latest is left alone: no recomputation happens.
    gobbler.path(project, "a", "..latest").write_text(json.dumps({"version": "v2"}))
    assert delete_version(gobbler, project, "a", "v2").status == 200
    assert not gobbler.path(project, "a", "v2").exists()
    assert gobbler.logs_for(project) == before
    assert gobbler.read_text(project, "a", "..latest") == json.dumps({"version": "v2"})
    assert gobbler.usage(project) == 1


def test_delete_version_without_manifest_needs_force(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "1"})
    gobbler.ok_upload(project, "a", "v2", {"g": "22"})
    gobbler.path(project, "a", "v2", "..manifest").unlink()
    before = gobbler.logs_for(project)

    reply = delete_version(gobbler, project, "a", "v2")
    assert reply.status == 500, reply
    assert "manifest" in reply.reason
    assert gobbler.path(project, "a", "v2", "g").exists()
    assert gobbler.logs_for(project) == before

    reply = delete_version(gobbler, project, "a", "v2", force=True)
    assert reply.status == 200, reply
    assert not gobbler.path(project, "a", "v2").exists()
    assert gobbler.usage(project) == 3
    # The summary was readable: logged and recomputed as usual.
    assert deletion_logs(gobbler, project) == [
        {"asset": "a", "latest": True, "project": project, "type": "delete-version", "version": "v2"}
    ]
    assert gobbler.latest(project, "a") == "v1"


def test_delete_version_without_summary_needs_force(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "1"})
    gobbler.ok_upload(project, "a", "v2", {"g": "22"})
    gobbler.path(project, "a", "v2", "..summary").unlink()
    before = gobbler.logs_for(project)

    reply = delete_version(gobbler, project, "a", "v2")
    assert reply.status == 500, reply
    assert "summary" in reply.reason
    assert gobbler.path(project, "a", "v2", "g").exists()
    assert gobbler.usage(project) == 3

    reply = delete_version(gobbler, project, "a", "v2", force=True)
    assert reply.status == 200, reply
    assert not gobbler.path(project, "a", "v2").exists()
    # The manifest was readable, so usage is updated; without a summary there is no log or recomputation.
    assert gobbler.usage(project) == 1
    assert gobbler.logs_for(project) == before
    assert gobbler.latest(project, "a") == "v2"


@pytest.mark.parametrize("force", [False, True])
def test_latest_recomputation_failure_comes_after_the_deletion(
    gobbler: Gobbler, project: str, force: bool
) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "1"})
    gobbler.ok_upload(project, "a", "v2", {"g": "22"})
    # v1 cannot take part in the recomputation of the latest version.
    gobbler.path(project, "a", "v1", "..summary").unlink()

    reply = delete_version(gobbler, project, "a", "v2", force=force)
    assert reply.status == (200 if force else 500), reply
    # Either way the deletion, the usage update and the log have already happened.
    assert not gobbler.path(project, "a", "v2").exists()
    assert gobbler.usage(project) == 1
    assert deletion_logs(gobbler, project) == [
        {"asset": "a", "latest": True, "project": project, "type": "delete-version", "version": "v2"}
    ]
    assert gobbler.latest(project, "a") == "v2"


def test_delete_version_with_an_unreadable_latest_is_500(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "1"})
    gobbler.ok_upload(project, "a", "v2", {"g": "22"})
    gobbler.path(project, "a", "..latest").write_text("{")
    reply = delete_version(gobbler, project, "a", "v1")
    assert reply.status == 500, reply
    assert not gobbler.path(project, "a", "v1").exists()
    assert gobbler.usage(project) == 2
