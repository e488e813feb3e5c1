"""Reasons pinned byte for byte to the reference's, per category (ISSUE-13).

Each test passes against the embedded service and, unchanged, against the reference binary: the run's
paths (staging, registry, request file) are substituted into the expected text.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from .harness import Gobbler, Link

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
        ("2020-01-01T1:00:00Z", True),
        ("2020-01-01T1:0:00Z", False),
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


# ---------------------------------------------------------------- damaged registries: link resolution


def _linked(gobbler: Gobbler, project: str, *, probation: bool = False) -> str:
    """``a/v1`` with files ``f`` and ``g``, ``b/v1`` with ``l`` linking to ``a/v1/f``; ``b/v1``'s path."""
    gobbler.ok_upload(project, "a", "v1", {"f": "x", "g": "y"}, on_probation=probation)
    gobbler.ok_upload(project, "b", "v1", {"l": Link(str(gobbler.path(project, "a", "v1", "f")))})
    return str(gobbler.path(project, "b", "v1"))


def _damage(path: Path, how: str) -> None:
    if how == "delete":
        path.unlink()
    elif how == "garbage":
        path.write_text("{not json")
    else:
        path.unlink()
        path.mkdir()


_BAD_KEY = "invalid character 'n' looking for beginning of object key string"


@pytest.mark.parametrize(
    ("target", "damage", "detail"),
    [
        (
            "{p}/..usage",
            None,
            "unexpected link to file outside of a project asset version directory ('{p}/..usage')",
        ),
        (
            "{p}/a/g2",
            None,
            "unexpected link to file outside of a project asset version directory ('{p}/a/g2')",
        ),
        (
            "{p}/a/v1/..summary",
            None,
            "link components cannot refer to internal '..' files (\"{p}/a/v1/..summary\")",
        ),
        ("{p}/a/v1/extra", None, "could not find link target 'extra' in the manifest of '{p}/a/v1'"),
        (
            "{p}/a/v1/f",
            ("..summary", "delete"),
            "cannot read the version summary for '{p}/a/v1'; cannot read '{R}/{p}/a/v1/..summary'; "
            "open {R}/{p}/a/v1/..summary: no such file or directory",
        ),
        (
            "{p}/a/v1/f",
            ("..summary", "directory"),
            "cannot read the version summary for '{p}/a/v1'; cannot read '{R}/{p}/a/v1/..summary'; "
            "read {R}/{p}/a/v1/..summary: is a directory",
        ),
        (
            "{p}/a/v1/f",
            ("..manifest", "garbage"),
            "cannot read the manifest for '{p}/a/v1'; "
            f"cannot parse JSON in '{{R}}/{{p}}/a/v1/..manifest'; {_BAD_KEY}",
        ),
    ],
)
def test_upload_link_resolution_chain(
    gobbler: Gobbler, project: str, target: str, damage: tuple[str, str] | None, detail: str
) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "x"})
    gobbler.path(project, "a", "g2").write_text("x")
    gobbler.path(project, "a", "v1", "extra").write_text("x")
    if damage is not None:
        _damage(gobbler.path(project, "a", "v1", damage[0]), damage[1])
    registry = str(gobbler.registry)
    absolute = f"{registry}/{target.format(p=project)}"
    source = gobbler.source({"d/l": Link(absolute)})
    reply = gobbler.upload(project, "b", "v1", source)
    staged = f"{gobbler.staging}/{source}"
    assert (reply.status, reply.reason) == (
        500,
        f'failed to transfer files from "{staged}"; failed to resolve symlink for "{staged}/d/l" '
        f'to registry path "{absolute}"; {detail.format(p=project, R=registry)}',
    )


def test_upload_link_to_a_probational_version(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "x"}, on_probation=True)
    target = gobbler.path(project, "a", "v1", "f")
    # A relative text, not clean: the reasons show the cleaned path.
    source = gobbler.source({"d/l": Link("placeholder")})
    link = gobbler.staging / source / "d" / "l"
    link.unlink()
    link.symlink_to(os.path.relpath(target, link.parent).replace("/", "//", 1))
    reply = gobbler.upload(project, "b", "v1", source)
    staged = f"{gobbler.staging}/{source}"
    assert (reply.status, reply.reason) == (
        500,
        f'failed to transfer files from "{staged}"; failed to resolve symlink for "{staged}/d/l" '
        f'to registry path "{target}"; cannot link to file inside a probational project version asset '
        f"directory ('{project}/a/v1')",
    )


@pytest.mark.parametrize(
    ("tree", "detail"),
    [
        (
            {"d/l": Link("../x/../nothing/")},
            'failed to stat target of link "{src}/d/l"; stat {src}/nothing: no such file or directory',
        ),
        ({"d/f": "x", "l": Link("d")}, 'target of link "{src}/l" is a directory'),
    ],
)
def test_upload_link_target_errors_name_the_link(
    gobbler: Gobbler, project: str, tree: dict[str, Any], detail: str
) -> None:
    source = gobbler.source(tree)
    staged = f"{gobbler.staging}/{source}"
    reply = gobbler.upload(project, "b", "v1", source)
    assert (reply.status, reply.reason) == (
        500,
        f'failed to transfer files from "{staged}"; {detail.format(src=staged)}',
    )


@pytest.mark.parametrize(
    ("damage", "context", "detail"),
    [
        (
            ("..latest", "garbage"),
            "failed to identify the latest version",
            f"failed to parse JSON in '{{a}}/..latest'; {_BAD_KEY}",
        ),
        (
            ("v1/..manifest", "delete"),
            "failed to read the latest version's manifest",
            "cannot read '{a}/v1/..manifest'; open {a}/v1/..manifest: no such file or directory",
        ),
    ],
)
def test_upload_dedup_chains(
    gobbler: Gobbler, project: str, damage: tuple[str, str], context: str, detail: str
) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "x"})
    asset_dir = str(gobbler.path(project, "a"))
    _damage(gobbler.path(project, "a", damage[0]), damage[1])
    source = gobbler.source({"f": "y"})
    reply = gobbler.upload(project, "a", "v2", source)
    assert (reply.status, reply.reason) == (
        500,
        f'failed to transfer files from "{gobbler.staging}/{source}"; '
        f"{context}; {detail.format(a=asset_dir)}",
    )


@pytest.mark.parametrize("action", ["reindex_version", "validate_version"])
def test_link_disagreeing_with_links_file(gobbler: Gobbler, project: str, action: str) -> None:
    version_dir = _linked(gobbler, project)
    link = Path(version_dir, "l")
    link.unlink()
    link.symlink_to("../../a/v1/g")
    reply = gobbler.request(action, {"project": project, "asset": "b", "version": "v1"})
    verb = action.split("_")[0]
    assert (reply.status, reply.reason) == (
        500,
        f"failed to {verb} project; unexpected symbolic link to non-ancestor, non-parent file "
        f'"{gobbler.path(project, "a", "v1", "g")}" from "{version_dir}/l"',
    )


def test_reindex_resolution_chain(gobbler: Gobbler, project: str) -> None:
    version_dir = _linked(gobbler, project)
    manifest = gobbler.path(project, "a", "v1", "..manifest")
    manifest.unlink()
    reply = gobbler.request("reindex_version", {"project": project, "asset": "b", "version": "v1"})
    assert (reply.status, reply.reason) == (
        500,
        f'failed to reindex project; failed to resolve symlink for "{version_dir}/l" to registry path '
        f"\"{gobbler.path(project, 'a', 'v1', 'f')}\"; cannot read the manifest for '{project}/a/v1'; "
        f"cannot read '{manifest}'; open {manifest}: no such file or directory",
    )


# ---------------------------------------------------------------- damaged registries: validate_version


def _validate(gobbler: Gobbler, project: str) -> Any:
    return gobbler.request("validate_version", {"project": project, "asset": "b", "version": "v1"})


def _rewrite(path: Path, change: Any) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("damage", "detail"),
    [
        (
            lambda v: (v / "..manifest").unlink(),
            "failed to read the manifest at \"{v}\"; cannot read '{v}/..manifest'; "
            "open {v}/..manifest: no such file or directory",
        ),
        (lambda v: (v / "g").write_text("zz"), 'incorrect size in manifest for "g" in directory "{v}"'),
        (
            lambda v: _rewrite(v / "..manifest", lambda m: m["g"].__setitem__("md5sum", "0")),
            'incorrect MD5 checksum in manifest for "g" in directory "{v}"',
        ),
        (
            lambda v: _rewrite(v / "..manifest", lambda m: m.__setitem__("zz", m["g"])),
            '"zz" listed in manifest cannot be found in directory "{v}"',
        ),
        (
            lambda v: (v / "h").write_text("zz"),
            'extra file "h" is not present in manifest for directory "{v}"',
        ),
        (
            lambda v: _rewrite(v / "..manifest", lambda m: m["l"]["link"].__setitem__("path", "q")),
            'mismatching link information for "l" in directory "{v}"; mismatching link path in manifest',
        ),
        (
            lambda v: (v / "..links").unlink(),
            'expected a linkfile at "." in directory "{v}"',
        ),
        (
            lambda v: _damage(v / "..links", "directory"),
            'expected a linkfile at "." in directory "{v}"',
        ),
        (
            lambda v: (v / "..links").write_text("{}"),
            'missing path "l" from linkfile "." in directory "{v}"',
        ),
        (
            lambda v: _rewrite(v / "..links", lambda m: m.__setitem__("zz", m["l"])),
            'extra path "zz" in linkfile "." in directory "{v}"',
        ),
        (
            lambda v: (v / "d" / "..links").write_text("{}"),
            'extra linkfile "d" in directory "{v}"',
        ),
        (
            lambda v: (v / "..links").write_text("{not json"),
            'failed to parse existing linkfiles in "{v}"; failed to read linkfile at "{v}/..links"; '
            + _BAD_KEY,
        ),
        (
            lambda v: (v / "x").symlink_to("../../../" + v.parts[-3] + "/b/v1/g"),
            'symlink target "../../../{p}/b/v1/g" at "{v}/x" is not local to "{v}"',
        ),
        (
            lambda v: (v / "x").symlink_to(v / "g"),
            "expected a relative path for the link target of {v}/x",
        ),
    ],
)
def test_validate_chains(gobbler: Gobbler, project: str, damage: Any, detail: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "x"})
    link = Link(str(gobbler.path(project, "a", "v1", "f")))
    gobbler.ok_upload(project, "b", "v1", {"g": "y", "d/h": "z", "l": link})
    version_dir = gobbler.path(project, "b", "v1")
    damage(version_dir)
    reply = _validate(gobbler, project)
    assert (reply.status, reply.reason) == (
        500,
        "failed to validate project; " + detail.format(v=version_dir, p=project),
    )


@pytest.mark.parametrize("action", ["validate_version", "reindex_version"])
def test_summary_file_chain(gobbler: Gobbler, project: str, action: str) -> None:
    gobbler.ok_upload(project, "b", "v1", {"g": "y"})
    version_dir = gobbler.path(project, "b", "v1")
    _damage(version_dir / "..summary", "directory")
    reply = gobbler.request(action, {"project": project, "asset": "b", "version": "v1"})
    assert (reply.status, reply.reason) == (
        500,
        f"failed to read the summary file at \"{version_dir}\"; cannot read '{version_dir}/..summary'; "
        f"read {version_dir}/..summary: is a directory",
    )


@pytest.mark.parametrize(
    ("field", "value", "detail"),
    [
        ("upload_user_id", "", None),
        ("upload_start", "bad", 'parsing time "bad" as "{L}": cannot parse "bad" as "2006"'),
        ("upload_finish", "2020-13-01T00:00:00Z", 'parsing time "2020-13-01T00:00:00Z": month out of range'),
    ],
)
def test_validate_summary_fields(
    gobbler: Gobbler, project: str, field: str, value: str, detail: str | None
) -> None:
    gobbler.ok_upload(project, "b", "v1", {"g": "y"})
    version_dir = gobbler.path(project, "b", "v1")
    _rewrite(version_dir / "..summary", lambda s: s.__setitem__(field, value))
    reply = _validate(gobbler, project)
    where = f'the summary file at "{version_dir}"'
    expected = (
        f"invalid 'upload_user_id' in {where}"
        if detail is None
        else f"could not parse '{field}' from {where}; " + detail.format(L="2006-01-02T15:04:05Z07:00")
    )
    assert (reply.status, reply.reason) == (500, expected)


# ---------------------------------------------------------------- Go's time.Parse errors


@pytest.mark.parametrize(
    ("finish", "detail"),
    [
        ("bad", 'as "{L}": cannot parse "bad" as "2006"'),
        ("", 'as "{L}": cannot parse "" as "2006"'),
        ("+020-01-01T00:00:00Z", 'as "{L}": cannot parse "+020-01-01T00:00:00Z" as "2006"'),
        ("2020-1-01T00:00:00Z", 'as "{L}": cannot parse "1-01T00:00:00Z" as "01"'),
        ("2020-01-01 00:00:00Z", 'as "{L}": cannot parse " 00:00:00Z" as "T"'),
        ("2020-01-01T123:00:00Z", 'as "{L}": cannot parse "3:00:00Z" as ":"'),
        ("2020-01-01T00:00:00", 'as "{L}": cannot parse "" as "Z07:00"'),
        ("2020-01-01T00:00:00.Z", 'as "{L}": cannot parse ".Z" as "Z07:00"'),
        ("2020-01-01T00:00:00+0100", 'as "{L}": cannot parse "+0100" as "Z07:00"'),
        ("2020-01-01T00:00:00+9x:99", 'as "{L}": cannot parse "+9x:99" as "Z07:00"'),
        ("é2020", 'as "{L}": cannot parse "\\xc3\\xa92020" as "2006"'),
        ("2020-00-01T00:00:00Z", ": month out of range"),
        ("2020-01-00T00:00:00Z", ": day out of range"),
        ("2021-02-29T00:00:00Z", ": day out of range"),
        ("2020-01-32T25:00:00Z", ": hour out of range"),
        ("2020-01-01T00:60:00Z", ": minute out of range"),
        ("2020-01-01T00:00:60Z", ": second out of range"),
        ("2020-01-01T00:00:00x99:00", ": time zone offset hour out of range"),
        ("2020-01-01T00:00:00+99:99", ": time zone offset minute out of range"),
        ("2020-01-32T00:00:00Zx", ': extra text: "x"'),
        ("2020-01-01T00:00:00Z\n", ': extra text: "\\x0a"'),
    ],
)
def test_finish_time_errors_in_go_words(gobbler: Gobbler, project: str, finish: str, detail: str) -> None:
    gobbler.ok_upload(project, "b", "v1", {"g": "y"})
    version_dir = gobbler.path(project, "b", "v1")
    _rewrite(version_dir / "..summary", lambda s: s.__setitem__("upload_finish", finish))
    reply = gobbler.request("refresh_latest", {"project": project, "asset": "b"})
    quoted = json.dumps(finish, ensure_ascii=False).replace("\\n", "\\x0a").replace("é", "\\xc3\\xa9")
    expected = f"could not parse 'upload_finish' from \"{version_dir}\"; parsing time {quoted}"
    separator = " " if detail.startswith("as") else ""
    assert (reply.status, reply.reason) == (
        500,
        expected + separator + detail.format(L="2006-01-02T15:04:05Z07:00"),
    )


@pytest.mark.parametrize("which", ["latest", "approved"])
def test_approve_finish_time_chains(gobbler: Gobbler, project: str, which: str) -> None:
    gobbler.ok_upload(project, "b", "v0", {"g": "x"})
    gobbler.ok_upload(project, "b", "v1", {"g": "y"}, on_probation=True)
    broken = gobbler.path(project, "b", "v0" if which == "latest" else "v1")
    _rewrite(broken / "..summary", lambda s: s.__setitem__("upload_finish", "bad"))
    reply = gobbler.request("approve_probation", {"project": project, "asset": "b", "version": "v1"})
    context = (
        f'failed to read the latest version\'s upload finish time from "{broken}"'
        if which == "latest"
        else f'failed to parse the upload finish time at "{broken}/..summary"'
    )
    assert (reply.status, reply.reason) == (
        500,
        f'{context}; parsing time "bad" as "2006-01-02T15:04:05Z07:00": cannot parse "bad" as "2006"',
    )


def test_approve_latest_chain(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "b", "v0", {"g": "x"})
    gobbler.ok_upload(project, "b", "v1", {"g": "y"}, on_probation=True)
    asset_dir = gobbler.path(project, "b")
    (asset_dir / "..latest").write_text("{")
    reply = gobbler.request("approve_probation", {"project": project, "asset": "b", "version": "v1"})
    assert (reply.status, reply.reason) == (
        500,
        f"failed to read the latest version for {asset_dir}; failed to parse JSON in "
        f"'{asset_dir}/..latest'; unexpected end of JSON input",
    )


# ---------------------------------------------------------------- damaged registries: usage


@pytest.mark.parametrize("how", ["delete", "directory"])
def test_refresh_usage_chain(gobbler: Gobbler, project: str, how: str) -> None:
    gobbler.ok_upload(project, "b", "v1", {"g": "y"})
    manifest = gobbler.path(project, "b", "v1", "..manifest")
    _damage(manifest, how)
    reply = gobbler.request("refresh_usage", {"project": project})
    detail = (
        f"open {manifest}: no such file or directory"
        if how == "delete"
        else f"read {manifest}: is a directory"
    )
    assert (reply.status, reply.reason) == (
        500,
        f'failed to compute usage for "{project}"; failed to get usage for asset "b"; '
        'failed to get usage for version "v1"; failed to open manifest; '
        f"cannot read '{manifest}'; {detail}",
    )


def test_reject_usage_chain(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "b", "v1", {"g": "y"}, on_probation=True)
    version_dir = gobbler.path(project, "b", "v1")
    (version_dir / "..manifest").write_text("{not json")
    reply = gobbler.request("reject_probation", {"project": project, "asset": "b", "version": "v1"})
    assert (reply.status, reply.reason) == (
        500,
        f'failed to compute usage for "{version_dir}"; failed to open manifest; '
        f"cannot parse JSON in '{version_dir}/..manifest'; {_BAD_KEY}",
    )


@pytest.mark.parametrize(
    ("action", "fields", "context"),
    [
        (
            "set_permissions",
            {"permissions": {}},
            'failed to read permissions for "{p}"; failed to read "{P}"',
        ),
        (
            "approve_probation",
            {"asset": "b", "version": "v1"},
            'failed to read permissions for "{P}"; failed to read "{P}"',
        ),
    ],
)
def test_reading_a_directory_where_a_file_should_be(
    gobbler: Gobbler, project: str, action: str, fields: dict[str, Any], context: str
) -> None:
    gobbler.ok_upload(project, "b", "v1", {"g": "y"}, on_probation=True)
    project_dir = gobbler.path(project)
    _damage(project_dir / "..permissions", "directory")
    reply = gobbler.request(action, {"project": project, **fields})
    assert (reply.status, reply.reason) == (
        500,
        context.format(p=project, P=project_dir) + f"; read {project_dir}/..permissions: is a directory",
    )


# ---------------------------------------------------------------- a regular file where a version should be


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (
            "validate_version",
            'failed to validate project; failed to read the manifest at "{v}"; '
            "cannot read '{v}/..manifest'; open {v}/..manifest: not a directory",
        ),
        (
            "approve_probation",
            "failed to read the version summary at \"{v}\"; cannot read '{v}/..summary'; "
            "open {v}/..summary: not a directory",
        ),
        (
            "delete_version",
            "failed to compute usage for {v}; failed to open manifest; cannot read '{v}/..manifest'; "
            "open {v}/..manifest: not a directory",
        ),
    ],
)
def test_version_that_is_a_regular_file(gobbler: Gobbler, project: str, action: str, expected: str) -> None:
    # The reference's existence check is stat's: it goes on and fails on the version's files.
    gobbler.ok_upload(project, "b", "v0", {"g": "x"})
    version_dir = gobbler.path(project, "b", "v1")
    version_dir.write_text("x")
    reply = gobbler.request(action, {"project": project, "asset": "b", "version": "v1"})
    assert (reply.status, reply.reason) == (500, expected.format(v=version_dir))


def test_delete_asset_that_is_a_regular_file(gobbler: Gobbler, project: str) -> None:
    asset_dir = gobbler.path(project, "b")
    asset_dir.write_text("x")
    reply = gobbler.request("delete_asset", {"project": project, "asset": "b"})
    assert (reply.status, reply.reason) == (
        500,
        f"failed to compute usage for {asset_dir}; failed to list versions; "
        f"readdirent {asset_dir}: not a directory",
    )


def test_upload_link_into_the_version_being_created(gobbler: Gobbler, project: str) -> None:
    # The reference examines links before copying files into the new version: the target is not there.
    target = gobbler.path(project, "a", "v1", "d", "g")
    source = gobbler.source({"d/g": "x", "l": Link(str(target))})
    staged = f"{gobbler.staging}/{source}"
    reply = gobbler.upload(project, "a", "v1", source)
    assert (reply.status, reply.reason) == (
        500,
        f'failed to transfer files from "{staged}"; failed to stat target of link "{staged}/l"; '
        f"stat {target}: no such file or directory",
    )


# ---------------------------------------------------------------- failed writes of internal files


@pytest.mark.parametrize(
    ("document", "action", "expected"),
    [
        (
            "b/v1/..manifest",
            "reindex_version",
            'failed to reindex project; failed to save manifest for "{v}"; failed to rename temporary file '
            'to "{v}/..manifest"; rename {v}/TEMP {v}/..manifest: file exists',
        ),
        (
            "b/v1/..links",
            "reindex_version",
            'failed to reindex project; failed to create linkfiles; failed to save links for "."; failed to '
            'rename temporary file to "{v}/..links"; rename {v}/TEMP {v}/..links: file exists',
        ),
        (
            "b/..latest",
            "refresh_latest",
            'failed to update latest version in "{a}"; failed to rename temporary file to "{a}/..latest"; '
            "rename {a}/TEMP {a}/..latest: file exists",
        ),
        (
            "..usage",
            "refresh_usage",
            'failed to write new usage for "{p}"; failed to rename temporary file to "{P}/..usage"; '
            "rename {P}/TEMP {P}/..usage: file exists",
        ),
    ],
)
def test_a_directory_where_an_internal_file_is_written(
    gobbler: Gobbler, project: str, document: str, action: str, expected: str
) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "x"})
    gobbler.ok_upload(project, "b", "v1", {"l": Link(str(gobbler.path(project, "a", "v1", "f")))})
    _damage(gobbler.path(project, document), "directory")
    reply = gobbler.request(action, {"project": project, "asset": "b", "version": "v1"})
    project_dir = gobbler.path(project)
    text = expected.format(p=project, P=project_dir, a=project_dir / "b", v=project_dir / "b" / "v1")
    # The temporary file's name is random (Go's os.CreateTemp: ".temp<digits>.json").
    pattern = re.escape(text).replace("TEMP", r"\.temp\d+\.json")
    assert reply.status == 500
    assert re.fullmatch(pattern, reply.reason), reply.reason


@pytest.mark.parametrize("latest", ['{"version":""}', "{}", "null"])
def test_approve_with_an_empty_latest_names_the_asset_directory(
    gobbler: Gobbler, project: str, latest: str
) -> None:
    # An empty latest version names the asset directory itself, whose ..summary does not exist; the
    # reference cleans the joined path, so the directory is quoted without a trailing slash.
    gobbler.ok_upload(project, "b", "v1", {"g": "y"}, on_probation=True)
    asset_dir = gobbler.path(project, "b")
    (asset_dir / "..latest").write_text(latest)
    reply = gobbler.request("approve_probation", {"project": project, "asset": "b", "version": "v1"})
    assert (reply.status, reply.reason) == (
        500,
        f'failed to read the latest version summary for "{asset_dir}"; cannot read '
        f"'{asset_dir}/..summary'; open {asset_dir}/..summary: no such file or directory",
    )
