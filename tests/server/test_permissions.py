"""``set_permissions`` (PROTOCOL.md 6.3), spoofing (4.5) and edge cases 35-39 of section 18."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .harness import Gobbler, me, unique


def pretty(value: Any) -> str:
    """The exact text the service writes for an internal JSON file."""
    return json.dumps(value, indent=4)


def set_permissions(gobbler: Gobbler, project: str, permissions: Any, **fields: Any) -> Any:
    return gobbler.request("set_permissions", {"project": project, "permissions": permissions, **fields})


def project_text(gobbler: Gobbler, project: str) -> str:
    return gobbler.read_text(project, "..permissions")


# ---------------------------------------------------------------------------------------------- check order


@pytest.mark.parametrize(
    ("payload", "fragments"),
    [
        ({"permissions": {}}, ["invalid 'project' property", "missing name"]),
        ({"project": None, "permissions": {}}, ["invalid 'project' property", "missing name"]),
        ({"project": "", "permissions": {}}, ["invalid 'project' property", "name cannot be empty"]),
        ({"project": "a/b", "permissions": {}}, ["invalid 'project' property", "cannot contain"]),
        ({"project": "..x", "permissions": {}}, ["invalid 'project' property", "cannot start with '..'"]),
        # The project is checked before the asset and before the permissions.
        ({"project": "", "asset": ""}, ["invalid 'project' property", "name cannot be empty"]),
        ({"project": "PROJECT", "asset": ""}, ["invalid 'asset' property", "name cannot be empty"]),
        ({"project": "PROJECT", "asset": "..a", "permissions": {}}, ["invalid 'asset' property"]),
        ({"project": "PROJECT"}, ["expected a 'permissions' object"]),
        ({"project": "PROJECT", "permissions": None}, ["expected a 'permissions' object"]),
        ({"project": "PROJECT", "permissions": []}, ["failed to parse JSON"]),
        ({"project": "PROJECT", "permissions": {"owners": [1]}}, ["failed to parse JSON"]),
        ({"project": "PROJECT", "permissions": {"global_write": "yes"}}, ["failed to parse JSON"]),
        ({"project": "PROJECT", "permissions": {"uploaders": {}}}, ["failed to parse JSON"]),
        # Names and fields come before the spoofing check.
        ({"project": "", "permissions": {}, "spoof": "excluded-user"}, ["invalid 'project' property"]),
        ({"project": "PROJECT", "spoof": "excluded-user"}, ["expected a 'permissions' object"]),
    ],
)
def test_bad_requests_are_400(
    gobbler: Gobbler, project: str, payload: dict[str, Any], fragments: list[str]
) -> None:
    if payload.get("project") == "PROJECT":
        payload = {**payload, "project": project}
    before = project_text(gobbler, project)
    reply = gobbler.request("set_permissions", payload)
    assert reply.status == 400, reply
    for fragment in fragments:
        assert fragment in reply.reason
    assert project_text(gobbler, project) == before
    assert os.listdir(gobbler.path(project)).count("a") == 0


def test_unknown_project_is_404_even_for_an_unauthorized_caller(gobbler: Gobbler) -> None:
    missing = unique("missing")
    for extra in ({}, {"spoof": "someone"}, {"asset": "a", "spoof": "someone"}):
        reply = set_permissions(gobbler, missing, {"owners": ["x"]}, **extra)
        assert reply.status == 404, reply
        assert reply.reason == f"project {missing} does not exist"
    assert not gobbler.path(missing).exists()


def test_spoofing_is_checked_before_the_project_exists(gobbler: Gobbler) -> None:
    reply = set_permissions(gobbler, unique("missing"), {}, spoof="excluded-user")
    assert reply.status == 403, reply
    assert f'user "{me()}" is not authorized to spoof "excluded-user"' in reply.reason


def test_excluded_spoof_target_is_403(gobbler: Gobbler, project: str) -> None:
    before = project_text(gobbler, project)
    reply = set_permissions(gobbler, project, {"owners": []}, spoof="excluded-user")
    assert reply.status == 403, reply
    assert f'user "{me()}" is not authorized to spoof "excluded-user"' in reply.reason
    assert project_text(gobbler, project) == before


def test_caller_absent_from_the_spoof_table_is_403(
    start_gobbler_variant: Callable[..., Gobbler], tmp_path: Path
) -> None:
    spoof = tmp_path / "spoof.txt"
    spoof.write_text("someone-else:*\n")
    variant = start_gobbler_variant(admin=[me()], spoof=spoof)
    project = variant.create_project()
    before = project_text(variant, project)
    reply = set_permissions(variant, project, {"owners": ["bob"]}, spoof="bob")
    assert reply.status == 403, reply
    assert f'user "{me()}" is not authorized to spoof "bob"' in reply.reason
    assert project_text(variant, project) == before


def test_spoof_field_is_ignored_by_other_actions(gobbler: Gobbler) -> None:
    name = unique("proj")
    reply = gobbler.request("create_project", {"project": name, "spoof": "excluded-user"})
    assert reply.status == 200, reply
    # The project is owned by the real caller, not by the would-be spoofed user.
    assert gobbler.read_json(name, "..permissions") == {"owners": [me()], "uploaders": []}
    reply = gobbler.request("refresh_usage", {"project": name, "spoof": "excluded-user"})
    assert reply.status == 200, reply
    assert reply.body == {"status": "SUCCESS", "total": 0}
    reply = gobbler.request("delete_project", {"project": name, "spoof": "excluded-user"})
    assert reply.status == 200, reply
    assert not gobbler.path(name).exists()


# ---------------------------------------------------------------------------------------------- project level


def test_non_owner_is_403_and_nothing_changes(gobbler: Gobbler, project: str) -> None:
    before = project_text(gobbler, project)
    reply = set_permissions(gobbler, project, {"owners": ["mallory"]}, spoof="mallory")
    assert reply.status == 403, reply
    assert reply.reason == f'user "mallory" is not authorized to modify permissions for "{project}"'
    assert project_text(gobbler, project) == before


def test_authorization_comes_before_uploader_sanitization(gobbler: Gobbler, project: str) -> None:
    reply = set_permissions(gobbler, project, {"uploaders": [{}]}, spoof="mallory")
    assert reply.status == 403, reply


def test_lists_are_replaced_not_merged(gobbler: Gobbler) -> None:
    project = gobbler.create_project(
        permissions={"owners": [me(), "alice"], "uploaders": [{"id": "bob", "trusted": True}]}
    )
    assert set_permissions(gobbler, project, {"owners": [me(), "carol"]}).status == 200
    assert project_text(gobbler, project) == pretty(
        {"owners": [me(), "carol"], "uploaders": [{"id": "bob", "trusted": True}]}
    )

    # Absent and null keep the stored value.
    assert set_permissions(gobbler, project, {"owners": None, "uploaders": None}).status == 200
    assert set_permissions(gobbler, project, {}).status == 200
    assert project_text(gobbler, project) == pretty(
        {"owners": [me(), "carol"], "uploaders": [{"id": "bob", "trusted": True}]}
    )

    assert set_permissions(gobbler, project, {"uploaders": [{"id": "dave"}]}).status == 200
    assert project_text(gobbler, project) == pretty(
        {"owners": [me(), "carol"], "uploaders": [{"id": "dave"}]}
    )

    # An explicit empty list clears.
    assert set_permissions(gobbler, project, {"owners": [], "uploaders": []}).status == 200
    assert project_text(gobbler, project) == pretty({"owners": [], "uploaders": []})


def test_global_write_true_and_false_are_both_stored(gobbler: Gobbler, project: str) -> None:
    assert set_permissions(gobbler, project, {"global_write": True}).status == 200
    assert project_text(gobbler, project) == pretty({"owners": [me()], "uploaders": [], "global_write": True})
    assert set_permissions(gobbler, project, {"owners": ["x"]}).status == 200
    assert project_text(gobbler, project) == pretty({"owners": ["x"], "uploaders": [], "global_write": True})
    assert set_permissions(gobbler, project, {"global_write": False}).status == 200
    assert project_text(gobbler, project) == pretty({"owners": ["x"], "uploaders": [], "global_write": False})


def test_uploaders_are_sanitized(gobbler: Gobbler, project: str) -> None:
    uploaders = [
        {"id": "bob", "asset": "a1", "version": "v1", "until": "2030-01-01T00:00:00+01:00", "trusted": False},
        {"trusted": True, "color": "red", "id": "carol", "until": "2031-05-06T07:08:09.5Z"},
        {"id": "*"},
    ]
    assert set_permissions(gobbler, project, {"uploaders": uploaders}).status == 200
    assert project_text(gobbler, project) == pretty(
        {
            "owners": [me()],
            "uploaders": [
                {
                    "id": "bob",
                    "asset": "a1",
                    "version": "v1",
                    "until": "2030-01-01T00:00:00+01:00",
                    "trusted": False,
                },
                {"id": "carol", "until": "2031-05-06T07:08:09.5Z", "trusted": True},
                {"id": "*"},
            ],
        }
    )


@pytest.mark.parametrize(
    ("uploaders", "fragment"),
    [
        ([{}], "all entries of 'uploaders' should have an 'id' property"),
        ([{"id": None, "trusted": True}], "all entries of 'uploaders' should have an 'id' property"),
        ([None], "all entries of 'uploaders' should have an 'id' property"),
        ([{"id": "bob"}, {"id": "x", "until": "2020-01-01"}], "should follow the Internet Date/Time format"),
        ([{"id": "x", "until": "2030-01-01t00:00:00z"}], "should follow the Internet Date/Time format"),
    ],
)
def test_invalid_uploaders_are_400(
    gobbler: Gobbler, project: str, uploaders: list[Any], fragment: str
) -> None:
    before = project_text(gobbler, project)
    reply = set_permissions(gobbler, project, {"owners": ["x"], "uploaders": uploaders})
    assert reply.status == 400, reply
    assert "invalid 'permissions.uploaders' in request" in reply.reason
    assert fragment in reply.reason
    assert project_text(gobbler, project) == before


def test_a_non_admin_owner_may_change_permissions_until_no_longer_an_owner(gobbler: Gobbler) -> None:
    project = gobbler.create_project(permissions={"owners": ["alice"]})
    assert set_permissions(gobbler, project, {"owners": ["bob"]}, spoof="alice").status == 200
    assert project_text(gobbler, project) == pretty({"owners": ["bob"], "uploaders": []})
    reply = set_permissions(gobbler, project, {"owners": ["alice"]}, spoof="alice")
    assert reply.status == 403, reply
    # Uploaders cannot change permissions.
    assert set_permissions(gobbler, project, {"uploaders": [{"id": "carol", "trusted": True}]}).status == 200
    reply = set_permissions(gobbler, project, {"owners": ["carol"]}, spoof="carol")
    assert reply.status == 403, reply
    assert project_text(gobbler, project) == pretty(
        {"owners": ["bob"], "uploaders": [{"id": "carol", "trusted": True}]}
    )


def test_rewrite_emits_null_for_missing_lists_and_drops_unknown_keys(gobbler: Gobbler, project: str) -> None:
    gobbler.path(project, "..permissions").write_text(
        json.dumps({"owners": [me()], "extra": 1, "global_write": None})
    )
    assert set_permissions(gobbler, project, {}).status == 200
    assert project_text(gobbler, project) == pretty({"owners": [me()], "uploaders": None})

    gobbler.path(project, "..permissions").write_text(json.dumps({"uploaders": [{"id": "u", "x": 1}]}))
    assert set_permissions(gobbler, project, {"global_write": True}).status == 200
    assert project_text(gobbler, project) == pretty(
        {"owners": None, "uploaders": [{"id": "u"}], "global_write": True}
    )


def test_unreadable_project_permissions_are_500(gobbler: Gobbler, project: str) -> None:
    gobbler.path(project, "..permissions").write_text("garbage")
    for extra in ({}, {"asset": "a"}):
        reply = set_permissions(gobbler, project, {"owners": [me()]}, **extra)
        assert reply.status == 500, reply
        assert "failed to read permissions" in reply.reason
    assert gobbler.read_text(project, "..permissions") == "garbage"
    assert not gobbler.path(project, "a").exists()


# ---------------------------------------------------------------------------------------------- asset level


def test_asset_level_creates_the_asset_and_strips_asset_and_global_write(
    gobbler: Gobbler, project: str
) -> None:
    reply = set_permissions(
        gobbler,
        project,
        {
            "uploaders": [{"id": "bob", "asset": "other", "version": "v1", "trusted": True}],
            "global_write": True,
        },
        asset="a",
    )
    assert reply.status == 200, reply
    assert reply.body == {"status": "SUCCESS"}
    assert gobbler.path(project, "a").is_dir()
    assert gobbler.read_text(project, "a", "..permissions") == pretty(
        {"owners": [], "uploaders": [{"id": "bob", "version": "v1", "trusted": True}]}
    )
    # The project file is untouched.
    assert project_text(gobbler, project) == pretty({"owners": [me()], "uploaders": []})
    assert gobbler.logs_for(project) == []


def test_asset_level_replaces_lists_and_keeps_absent_ones(gobbler: Gobbler, project: str) -> None:
    assert set_permissions(gobbler, project, {"owners": ["alice"]}, asset="a").status == 200
    assert gobbler.read_text(project, "a", "..permissions") == pretty({"owners": ["alice"], "uploaders": []})
    assert set_permissions(gobbler, project, {"uploaders": [{"id": "u"}]}, asset="a").status == 200
    assert gobbler.read_text(project, "a", "..permissions") == pretty(
        {"owners": ["alice"], "uploaders": [{"id": "u"}]}
    )
    assert set_permissions(gobbler, project, {"owners": [], "uploaders": None}, asset="a").status == 200
    assert gobbler.read_text(project, "a", "..permissions") == pretty(
        {"owners": [], "uploaders": [{"id": "u"}]}
    )


def test_only_admins_and_project_owners_may_create_an_asset(gobbler: Gobbler) -> None:
    project = gobbler.create_project(permissions={"owners": ["alice"], "uploaders": [{"id": "bob"}]})
    for user in ("bob", "mallory"):
        reply = set_permissions(gobbler, project, {"owners": [user]}, asset="a", spoof=user)
        assert reply.status == 403, reply
        assert reply.reason == (
            f'user "{user}" is not authorized to modify permissions for asset "a" in "{project}"'
        )
        assert not gobbler.path(project, "a").exists()
    # A (non-admin) project owner may.
    assert set_permissions(gobbler, project, {"owners": ["carol"]}, asset="a", spoof="alice").status == 200
    assert gobbler.read_text(project, "a", "..permissions") == pretty({"owners": ["carol"], "uploaders": []})


def test_asset_owners_may_edit_their_existing_asset_only(gobbler: Gobbler) -> None:
    project = gobbler.create_project(permissions={"owners": ["alice"]})
    assert set_permissions(gobbler, project, {"owners": ["carol"]}, asset="a", spoof="alice").status == 200

    reply = set_permissions(gobbler, project, {"uploaders": [{"id": "dave"}]}, asset="a", spoof="carol")
    assert reply.status == 200, reply
    assert gobbler.read_text(project, "a", "..permissions") == pretty(
        {"owners": ["carol"], "uploaders": [{"id": "dave"}]}
    )
    # Not another asset, and not the project.
    reply = set_permissions(gobbler, project, {"owners": ["carol"]}, asset="b", spoof="carol")
    assert reply.status == 403, reply
    assert not gobbler.path(project, "b").exists()
    reply = set_permissions(gobbler, project, {"owners": ["carol"]}, spoof="carol")
    assert reply.status == 403, reply
    # An asset owner may even remove themselves; afterwards they are refused.
    assert set_permissions(gobbler, project, {"owners": []}, asset="a", spoof="carol").status == 200
    reply = set_permissions(gobbler, project, {"owners": ["carol"]}, asset="a", spoof="carol")
    assert reply.status == 403, reply
    assert (
        reply.reason == f'user "carol" is not authorized to modify permissions for asset "a" in "{project}"'
    )
    assert gobbler.read_text(project, "a", "..permissions") == pretty(
        {"owners": [], "uploaders": [{"id": "dave"}]}
    )


def test_asset_level_sanitization_failure_leaves_the_new_directory(gobbler: Gobbler, project: str) -> None:
    reply = set_permissions(gobbler, project, {"uploaders": [{"id": "x", "until": "tomorrow"}]}, asset="a")
    assert reply.status == 400, reply
    assert "invalid 'permissions.uploaders' in request" in reply.reason
    assert "should follow the Internet Date/Time format" in reply.reason
    assert gobbler.path(project, "a").is_dir()
    assert not gobbler.path(project, "a", "..permissions").exists()


def test_existing_asset_without_permissions_file_starts_empty(gobbler: Gobbler, project: str) -> None:
    assert set_permissions(gobbler, project, {"owners": ["x"]}, asset="a").status == 200
    gobbler.path(project, "a", "..permissions").unlink()
    reply = set_permissions(gobbler, project, {"owners": ["y"]}, asset="a", spoof="x")
    assert reply.status == 403, reply
    assert set_permissions(gobbler, project, {"uploaders": [{"id": "y"}]}, asset="a").status == 200
    assert gobbler.read_text(project, "a", "..permissions") == pretty(
        {"owners": [], "uploaders": [{"id": "y"}]}
    )


def test_asset_rewrite_keeps_a_stored_global_write_and_emits_nulls(gobbler: Gobbler, project: str) -> None:
    assert set_permissions(gobbler, project, {}, asset="a").status == 200
    gobbler.path(project, "a", "..permissions").write_text(
        json.dumps({"owners": ["zed"], "global_write": True, "extra": [1]})
    )
    reply = set_permissions(gobbler, project, {"global_write": False}, asset="a", spoof="zed")
    assert reply.status == 200, reply
    assert gobbler.read_text(project, "a", "..permissions") == pretty(
        {"owners": ["zed"], "uploaders": None, "global_write": True}
    )


def test_unreadable_asset_permissions_are_500(gobbler: Gobbler, project: str) -> None:
    assert set_permissions(gobbler, project, {}, asset="a").status == 200
    gobbler.path(project, "a", "..permissions").write_text("{")
    for extra in ({}, {"spoof": "mallory"}):
        reply = set_permissions(gobbler, project, {"owners": []}, asset="a", **extra)
        assert reply.status == 500, reply
        assert 'failed to read permissions for asset "a"' in reply.reason
    assert gobbler.read_text(project, "a", "..permissions") == "{"
