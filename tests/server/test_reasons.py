"""Reasons pinned byte for byte to the reference's, per category (ISSUE-13).

Each test passes against the embedded service and, unchanged, against the reference binary: the run's
paths (staging, registry, request file) are substituted into the expected text.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from .harness import Gobbler

LONG = "x" * 300


# ---------------------------------------------------------------- the request file's path


@pytest.mark.parametrize(
    ("action", "payload", "template"),
    [
        ("create_project", {}, "expected a 'project' property in \"{req}\""),
        (
            "upload",
            {"source": "s"},
            'failed to stat "s" in the staging directory; lstat {staging}/s: no such file or directory',
        ),
        ("upload", {}, "expected a 'source' property in \"{req}\"; %!w(<nil>)"),
        ("upload", {"source": "a/b"}, "expected 'source' to be a name, not a path, in \"{req}\""),
        ("reindex_version", {"project": "p"}, "expected an 'asset' property in \"{req}\""),
        ("validate_version", {}, "expected a 'project' property in \"{req}\""),
        (
            "delete_version",
            {"project": "p", "asset": ""},
            "invalid 'asset' property in \"{req}\"; name cannot be empty",
        ),
        ("refresh_latest", {}, "invalid 'project' property in \"{req}\"; missing name"),
        (
            "set_permissions",
            {"project": "..p"},
            "missing or invalid 'project' property in \"{req}\"; name cannot start with '..'",
        ),
        ("set_permissions", {"project": "p"}, "expected a 'permissions' object in \"{req}\""),
        ("reroute_links", {}, "expected a 'to_delete' property in \"{req}\"; %!w(<nil>)"),
        (
            "reroute_links",
            {"to_delete": [{}]},
            "invalid 'project' property in \"{req}\"; name cannot be empty",
        ),
        (
            "reroute_links",
            {"to_delete": [{"project": "p", "version": "v"}]},
            "'version' requires the 'asset' to be specified in \"{req}\"; %!w(<nil>)",
        ),
    ],
)
def test_reason_names_the_request_file(gobbler: Gobbler, action: str, payload: Any, template: str) -> None:
    reply = gobbler.request(action, payload)
    assert reply.status == 400
    assert reply.reason == template.format(req=reply.request_path, staging=gobbler.staging)


@pytest.mark.parametrize(
    ("action", "name", "reason"),
    [
        ("upload", "a/b", "invalid version name \"a/b\"; name cannot contain '/' or '\\'"),
        ("reindex_version", "a\\b", "invalid version name \"a\\\\b\"; name cannot contain '/' or '\\'"),
        ("validate_version", "", 'invalid version name ""; name cannot be empty'),
    ],
)
def test_bad_names_are_quoted(gobbler: Gobbler, action: str, name: str, reason: str) -> None:
    payload: dict[str, Any] = {"project": "p", "asset": "a", "version": name}
    if action == "upload":
        payload["source"] = gobbler.source({"f": "x"})
    reply = gobbler.request(action, payload)
    assert (reply.status, reply.reason) == (400, reason)


def test_create_project_does_not_quote_the_name(gobbler: Gobbler) -> None:
    reply = gobbler.request("create_project", {"project": "a/b"})
    assert (reply.status, reply.reason) == (400, "invalid project name; name cannot contain '/' or '\\'")


# ---------------------------------------------------------------- Go's JSON decoder


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ("", "unexpected end of JSON input"),
        ("{", "unexpected end of JSON input"),
        ('{"a" 1}', "invalid character '1' after object key"),
        ('{"a": 1 "b": 2}', "invalid character '\"' after object key:value pair"),
        ('{"a": [1 2]}', "invalid character '2' after array element"),
        ('{"a": "\x01"}', "invalid character '\\x01' in string literal"),
        ('{"a": "\\q"}', "invalid character 'q' in string escape code"),
        ('{"a": "\\u12g4"}', "invalid character 'g' in \\u hexadecimal character escape"),
        ('{"a": tru}', "invalid character '}' in literal true (expecting 'e')"),
        ('{"a": -}', "invalid character '}' in numeric literal"),
        ('{"a": 1.}', "invalid character '}' after decimal point in numeric literal"),
        ('{"a": 1e}', "invalid character '}' in exponent of numeric literal"),
        ('{"a": 01}', "invalid character '1' after object key:value pair"),
        ("{'a': 1}", "invalid character '\\'' looking for beginning of object key string"),
        ("\ufeff{}", "invalid character 'ï' looking for beginning of value"),
        ("{} x", "invalid character 'x' after top-level value"),
    ],
)
def test_syntax_errors_in_go_words(gobbler: Gobbler, raw: str, detail: str) -> None:
    reply = gobbler.request("upload", raw=raw)
    assert reply.status == 400
    assert reply.reason == f'failed to parse JSON from "{reply.request_path}"; {detail}'


_PROJECT_ONLY = 'struct { Project *string "json:\\"project\\"" }'


@pytest.mark.parametrize(
    ("action", "payload", "detail"),
    [
        (
            "upload",
            {"on_probation": "x"},
            "string into Go struct field uploadRequest.on_probation of type bool",
        ),
        ("upload", [1], "array into Go value of type main.uploadRequest"),
        (
            "reindex_version",
            {"version": 1},
            "number into Go struct field reindexRequest.version of type string",
        ),
        ("delete_project", True, f"bool into Go value of type {_PROJECT_ONLY}"),
        ("delete_project", {"project": [1]}, "array into Go struct field .project of type string"),
        (
            "create_project",
            {"permissions": {"owners": [1]}},
            "number into Go struct field unsafePermissionsMetadata.permissions.owners of type string",
        ),
        (
            "set_permissions",
            {"permissions": {"uploaders": [{"until": 1}]}},
            "number into Go struct field unsafeUploaderEntry.permissions.uploaders.until of type string",
        ),
        (
            "set_permissions",
            {"permissions": 1},
            "number into Go struct field .permissions of type main.unsafePermissionsMetadata",
        ),
        (
            "reroute_links",
            {"to_delete": 1},
            "number into Go struct field .to_delete of type []main.deleteTask",
        ),
        (
            "reroute_links",
            {"to_delete": [{"asset": 1}]},
            "number into Go struct field deleteTask.to_delete.asset of type string",
        ),
        ("reroute_links", {"dry_run": "x"}, "string into Go struct field .dry_run of type bool"),
    ],
)
def test_type_errors_in_go_words(gobbler: Gobbler, action: str, payload: Any, detail: str) -> None:
    reply = gobbler.request(action, payload)
    assert reply.status == 400
    assert (
        reply.reason == f'failed to parse JSON from "{reply.request_path}"; json: cannot unmarshal {detail}'
    )


# ---------------------------------------------------------------- Go's OS error texts (and divergence 5)


@pytest.mark.parametrize(
    ("action", "fields"),
    [
        ("refresh_usage", ("project",)),
        ("refresh_latest", ("project", "asset")),
        ("approve_probation", ("project", "asset", "version")),
        ("reindex_version", ("project", "asset", "version")),
        ("set_permissions", ("project",)),
    ],
)
@pytest.mark.parametrize(("bad", "text"), [(LONG, "file name too long"), ("a\x00b", "invalid argument")])
def test_stat_failures_other_than_missing_are_500(
    gobbler: Gobbler, project: str, action: str, fields: tuple[str, ...], bad: str, text: str
) -> None:
    ok = gobbler.upload(project, "a", "v1", {"f": "x"}, on_probation=True)
    assert ok.status == 200, ok
    payload: dict[str, Any] = {"project": project, "asset": "a", "version": "v1"}
    payload = {key: payload[key] for key in fields}
    payload[fields[-1]] = bad
    if action == "set_permissions":
        payload["permissions"] = {}
    where = os.path.join(str(gobbler.registry), *(payload[key] for key in fields))
    reply = gobbler.request(action, payload)
    quoted = where.replace("\x00", "\\x00")
    assert (reply.status, reply.reason) == (500, f'failed to stat "{quoted}"; stat {where}: {text}')


@pytest.mark.parametrize(
    ("action", "fields", "kind"),
    [
        ("delete_project", ("project",), "project"),
        ("delete_asset", ("project", "asset"), "asset"),
        ("delete_version", ("project", "asset", "version"), "version"),
    ],
)
def test_deletions_fail_on_stat_errors(
    gobbler: Gobbler, project: str, action: str, fields: tuple[str, ...], kind: str
) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "x"})
    payload = {
        key: value
        for key, value in {"project": project, "asset": "a", "version": "v1"}.items()
        if key in fields
    }
    payload[fields[-1]] = LONG
    where = os.path.join(str(gobbler.registry), *(payload[key] for key in fields))
    reply = gobbler.request(action, payload)
    assert (reply.status, reply.reason) == (
        500,
        f'failed to stat {kind} directory "{where}"; stat {where}: file name too long',
    )


def test_upload_into_an_unstatable_asset(gobbler: Gobbler, project: str) -> None:
    where = os.path.join(str(gobbler.registry), project, LONG)
    reply = gobbler.upload(project, LONG, "v1", {"f": "x"})
    assert (reply.status, reply.reason) == (
        500,
        f'failed to stat asset directory "{where}"; stat {where}: file name too long',
    )


def test_existing_version_is_quoted(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "x"})
    reply = gobbler.upload(project, "a", "v1", {"f": "x"})
    assert (reply.status, reply.reason) == (
        400,
        f'version "v1" already exists in "{gobbler.path(project, "a")}"',
    )


# ---------------------------------------------------------------- divergence 1


def test_set_permissions_on_a_new_asset_only_creates_the_directory(gobbler: Gobbler, project: str) -> None:
    reply = gobbler.request(
        "set_permissions", {"project": project, "asset": "new", "permissions": {"owners": ["x"]}}
    )
    assert reply.status == 200, reply
    assert sorted(os.listdir(gobbler.path(project, "new"))) == ["..permissions"]


# ---------------------------------------------------------------- divergence 6


@pytest.mark.parametrize(
    ("until", "accepted"),
    [
        ("2020-01-01T00:00:00+24:00", True),
        ("2020-01-01T00:00:00+23:60", True),
        ("2020-01-01T00:00:00,5Z", True),
        ("0000-01-01T00:00:00Z", True),
        ("2020-01-01T24:00:00Z", False),
        ("2020-01-01T00:00:60Z", False),
        ("2021-02-29T00:00:00Z", False),
        ("2020-01-01T00:00:00+99:00", False),
        ("2020-01-01t00:00:00z", False),
    ],
)
def test_uploader_until_takes_what_go_takes(gobbler: Gobbler, until: str, accepted: bool) -> None:
    name = f"until-{os.urandom(5).hex()}"
    reply = gobbler.request(
        "create_project", {"project": name, "permissions": {"uploaders": [{"id": "x", "until": until}]}}
    )
    if accepted:
        assert reply.status == 200, reply
    else:
        assert (reply.status, reply.reason) == (
            400,
            "invalid 'permissions.uploaders' in the request details; "
            "any string in 'uploaders.until' should follow the Internet Date/Time format",
        )


# ---------------------------------------------------------------- chains of causes


def test_upload_spoof_refusal_names_the_request_file(gobbler: Gobbler, project: str) -> None:
    source = gobbler.source({"f": "x"})
    payload = {"source": source, "project": project, "asset": "a", "version": "v1", "spoof": "excluded-user"}
    reply = gobbler.request("upload", payload)
    assert (reply.status, reply.reason) == (
        403,
        f'failed to find owner of "{reply.request_path}"; '
        f'user "{gobbler.user}" is not authorized to spoof "excluded-user"',
    )


def test_delete_version_chain_for_a_missing_manifest(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "x"})
    version_dir = gobbler.path(project, "a", "v1")
    (version_dir / "..manifest").unlink()
    reply = gobbler.request("delete_version", {"project": project, "asset": "a", "version": "v1"})
    manifest = version_dir / "..manifest"
    assert (reply.status, reply.reason) == (
        500,
        f"failed to compute usage for {version_dir}; failed to open manifest; cannot read '{manifest}'; "
        f"open {manifest}: no such file or directory",
    )


def test_approve_chain_for_a_broken_summary(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "x"}, on_probation=True)
    version_dir = gobbler.path(project, "a", "v1")
    (version_dir / "..summary").write_text("{")
    reply = gobbler.request("approve_probation", {"project": project, "asset": "a", "version": "v1"})
    assert (reply.status, reply.reason) == (
        500,
        f'failed to read the version summary at "{version_dir}"; '
        f"cannot parse JSON in '{version_dir / '..summary'}'; unexpected end of JSON input",
    )


def test_upload_chain_for_missing_usage(gobbler: Gobbler, project: str) -> None:
    usage = gobbler.path(project, "..usage")
    usage.unlink()
    reply = gobbler.upload(project, "a", "v1", {"f": "x"})
    assert (reply.status, reply.reason) == (
        500,
        f"failed to read existing usage for \"{gobbler.path(project)}\"; failed to read '{usage}'; "
        f"open {usage}: no such file or directory",
    )
