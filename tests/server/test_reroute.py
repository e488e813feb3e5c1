"""``reroute_links`` (PROTOCOL.md 6.13, section 11, section 18 items 45-46).

Rerouting scans every version of the registry, so these tests run on a service of their own: a stray
directory left by another module's test (a version without ``..manifest``) would otherwise make every
reroute fail with 500.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gobbler_sdk.testing import GobblerService

from ..conftest import GOBBLER_BINARY
from .harness import Gobbler, Link, Reply, entry, me

CONTENT = {"f": "hello", "d/g": "world!"}  # 5 + 6 bytes
VERSIONS = ("v1", "v2", "v3", "v4")


@pytest.fixture(scope="module")
def whitelisted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("reroute-whitelisted")
    (directory / "ext.txt").write_text("external")
    return directory


@pytest.fixture(scope="module")
def rr(whitelisted: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gobbler]:
    whitelist = tmp_path_factory.mktemp("reroute-config") / "whitelist.txt"
    whitelist.write_text(f"{whitelisted}\n")
    with GobblerService(admin=[me()], whitelist=whitelist, binary=GOBBLER_BINARY) as service:
        driver = Gobbler(service)
        yield driver
        driver.close()


# ---------------------------------------------------------------- helpers


def link(project: str, asset: str, version: str, path: str, ancestor: tuple[str, ...] | None = None) -> Any:
    out: dict[str, Any] = {"project": project, "asset": asset, "version": version, "path": path}
    if ancestor is not None:
        out["ancestor"] = dict(zip(("project", "asset", "version", "path"), ancestor, strict=True))
    return out


def reroute(g: Gobbler, *targets: dict[str, str], dry_run: bool | None = None) -> Reply:
    payload: dict[str, Any] = {"to_delete": list(targets)}
    if dry_run is not None:
        payload["dry_run"] = dry_run
    return g.request("reroute_links", payload)


def changes(reply: Reply) -> list[dict[str, Any]]:
    """The reported changes, sorted by path (their order is unspecified)."""
    assert reply.status == 200, reply
    assert set(reply.body) == {"changes", "status"}, reply
    return by_path(reply.body["changes"])


def by_path(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda c: str(c["path"]))


def change(path: str, source: str, usage: int = 0) -> dict[str, Any]:
    return {"copy": usage > 0, "path": path, "source": source, "usage": usage}


def on_disk(g: Gobbler, *parts: str) -> dict[str, Any]:
    """Every user file of a version: ``("link", text)`` for symlinks, ``("file", bytes)`` otherwise."""
    root = g.path(*parts)
    found: dict[str, Any] = {}
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith("..")]
        for name in filenames:
            if name.startswith(".."):
                continue
            path = os.path.join(directory, name)
            key = os.path.relpath(path, root)
            if os.path.islink(path):
                found[key] = ("link", os.readlink(path))
            else:
                found[key] = ("file", Path(path).read_bytes())
    return found


def link_files(g: Gobbler, *parts: str) -> dict[str, Any]:
    """Every ``..links`` file of a version, by directory (``""`` for the root)."""
    root = g.path(*parts)
    found: dict[str, Any] = {}
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith("..")]
        if "..links" in filenames:
            relative = os.path.relpath(directory, root)
            found["" if relative == "." else relative] = g.read_json(os.path.join(directory, "..links"))
    return found


def snapshot(g: Gobbler, project: str) -> dict[str, Any]:
    """Everything under a project: file bytes, symlink texts and directories, internal files included."""
    root = g.path(project)
    found: dict[str, Any] = {}
    for directory, _dirnames, filenames in os.walk(root):
        found[os.path.relpath(directory, root)] = "dir"
        for name in filenames:
            path = os.path.join(directory, name)
            if os.path.islink(path):
                found[os.path.relpath(path, root)] = ("link", os.readlink(path))
            else:
                found[os.path.relpath(path, root)] = ("file", Path(path).read_bytes())
    return found


def build_chain(g: Gobbler) -> str:
    """Upload identical content as v1..v4 of asset ``a``, each deduplicating against the previous one."""
    project = g.create_project()
    for version in VERSIONS:
        g.ok_upload(project, "a", version, CONTENT)
    assert g.manifest(project, "a", "v1") == {k: entry(c) for k, c in CONTENT.items()}
    assert g.manifest(project, "a", "v2") == {
        k: entry(c, link(project, "a", "v1", k)) for k, c in CONTENT.items()
    }
    for version, previous in (("v3", "v2"), ("v4", "v3")):
        assert g.manifest(project, "a", version) == {
            k: entry(c, link(project, "a", previous, k, (project, "a", "v1", k))) for k, c in CONTENT.items()
        }
    assert g.usage(project) == 11
    return project


def symlink_text(key: str, version: str) -> str:
    """Relative link text from ``<asset>/<some version>/<key>`` to ``<asset>/<version>/<key>``."""
    return "../" * (key.count("/") + 1) + f"{version}/{key}"


# ---------------------------------------------------------------- worked examples of 11.2

# For each doomed set: what each surviving version's files become. ("copy", source version) or
# ("link", parent, ancestor or None, source version), identically for every file of CONTENT.
Outcome = dict[str, tuple[Any, ...]]
WORKED_EXAMPLES: dict[tuple[str, ...], Outcome] = {
    ("v1",): {
        "v2": ("copy", "v1"),
        "v3": ("link", "v2", None, "v1"),
        "v4": ("link", "v3", "v2", "v1"),
    },
    ("v2", "v3"): {"v4": ("link", "v1", None, "v3")},
    ("v1", "v3"): {"v2": ("copy", "v1"), "v4": ("link", "v2", None, "v3")},
    ("v1", "v2"): {"v3": ("copy", "v2"), "v4": ("link", "v3", None, "v1")},
    ("v1", "v2", "v3"): {"v4": ("copy", "v3")},
    # Not in the table but following the same rules: a lost parent whose living replacement is the
    # ancestor drops the ancestor; a lost parent with a surviving ancestor keeps it.
    ("v2",): {"v3": ("link", "v1", None, "v2")},
    ("v3",): {"v4": ("link", "v2", "v1", "v3")},
}


@pytest.mark.parametrize("doomed", list(WORKED_EXAMPLES), ids=lambda d: "+".join(d))
def test_worked_examples(rr: Gobbler, doomed: tuple[str, ...]) -> None:
    project = build_chain(rr)
    outcome = WORKED_EXAMPLES[doomed]
    before = {v: rr.manifest(project, "a", v) for v in VERSIONS}

    reply = reroute(rr, *({"project": project, "asset": "a", "version": v} for v in doomed))

    expected_changes = []
    for version, result in outcome.items():
        for key, content in CONTENT.items():
            path = f"{project}/a/{version}/{key}"
            source = f"{project}/a/{result[-1]}/{key}"
            expected_changes.append(change(path, source, len(content) if result[0] == "copy" else 0))
    assert changes(reply) == by_path(expected_changes)

    copied = sum(len(c) for c in CONTENT.values()) * sum(1 for r in outcome.values() if r[0] == "copy")
    assert rr.usage(project) == 11 + copied

    for version in VERSIONS:
        if version not in outcome:
            # Doomed versions and unaffected survivors are left exactly as they were.
            assert rr.manifest(project, "a", version) == before[version]
            continue
        result = outcome[version]
        manifest = rr.manifest(project, "a", version)
        files = on_disk(rr, project, "a", version)
        if result[0] == "copy":
            assert manifest == {k: entry(c) for k, c in CONTENT.items()}
            assert files == {k: ("file", c.encode()) for k, c in CONTENT.items()}
            assert link_files(rr, project, "a", version) == {}
            assert oct(os.stat(rr.path(project, "a", version, "f")).st_mode & 0o777) == oct(0o644 & ~_umask())
            continue
        _, parent, ancestor, _ = result
        links = {
            k: link(project, "a", parent, k, None if ancestor is None else (project, "a", ancestor, k))
            for k in CONTENT
        }
        assert manifest == {k: entry(c, links[k]) for k, c in CONTENT.items()}
        final = ancestor or parent
        assert files == {k: ("link", symlink_text(k, final)) for k in CONTENT}
        assert link_files(rr, project, "a", version) == {"": {"f": links["f"]}, "d": {"g": links["d/g"]}}
        for key, content in CONTENT.items():
            assert rr.path(project, "a", version, key).read_text() == content


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def test_longer_chain_takes_the_last_living_file_as_ancestor(rr: Gobbler) -> None:
    project = rr.create_project()
    for version in ("v1", "v2", "v3", "v4", "v5"):
        rr.ok_upload(project, "a", version, {"f": "hello"})
    assert rr.manifest(project, "a", "v5") == {
        "f": entry("hello", link(project, "a", "v4", "f", (project, "a", "v1", "f")))
    }
    reply = reroute(rr, {"project": project, "asset": "a", "version": "v1"})
    source = f"{project}/a/v1/f"
    assert changes(reply) == by_path(
        [change(f"{project}/a/{v}/f", source, 5 if v == "v2" else 0) for v in ("v2", "v3", "v4", "v5")]
    )
    # The new ancestor is the file the chain ends at now (v2/f, the copy), not the first living one after
    # the parent.
    expected = {
        "v3": link(project, "a", "v2", "f"),
        "v4": link(project, "a", "v3", "f", (project, "a", "v2", "f")),
        "v5": link(project, "a", "v4", "f", (project, "a", "v2", "f")),
    }
    for version, linked in expected.items():
        assert rr.manifest(project, "a", version) == {"f": entry("hello", linked)}
        assert on_disk(rr, project, "a", version) == {"f": ("link", "../v2/f")}
    assert on_disk(rr, project, "a", "v2") == {"f": ("file", b"hello")}


def test_unlinked_version_has_no_changes(rr: Gobbler) -> None:
    project = build_chain(rr)
    before = snapshot(rr, project)
    assert changes(reroute(rr, {"project": project, "asset": "a", "version": "v4"})) == []
    assert snapshot(rr, project) == before


def test_whole_asset_expands_to_every_version(rr: Gobbler) -> None:
    project = build_chain(rr)
    rr.ok_upload(project, "b", "w", {"l": Link(str(rr.path(project, "a", "v3", "f")))})
    assert rr.manifest(project, "b", "w") == {
        "l": entry("hello", link(project, "a", "v3", "f", (project, "a", "v1", "f")))
    }
    reply = reroute(rr, {"project": project, "asset": "a"})
    # Every version of "a" is doomed, so only the outside link changes: its whole chain is lost.
    assert changes(reply) == [change(f"{project}/b/w/l", f"{project}/a/v3/f", 5)]
    assert rr.manifest(project, "b", "w") == {"l": entry("hello")}
    assert on_disk(rr, project, "b", "w") == {"l": ("file", b"hello")}
    assert link_files(rr, project, "b", "w") == {}
    assert rr.usage(project) == 16


# ---------------------------------------------------------------- dry run


def test_dry_run_reports_the_real_actions_and_changes_nothing(rr: Gobbler) -> None:
    project = build_chain(rr)
    before = snapshot(rr, project)
    usage_text = rr.read_text(project, "..usage")
    target = {"project": project, "asset": "a", "version": "v1"}

    dry = changes(reroute(rr, target, dry_run=True))
    assert snapshot(rr, project) == before
    assert rr.read_text(project, "..usage") == usage_text

    real = changes(reroute(rr, target, dry_run=False))
    assert dry == real
    assert len(real) == 6
    assert snapshot(rr, project) != before


# ---------------------------------------------------------------- links from other projects


def test_cross_project_links_are_rerouted_and_charged_to_their_project(
    rr: Gobbler, whitelisted: Path
) -> None:
    p = rr.create_project()
    q = rr.create_project()
    rr.ok_upload(p, "a", "v1", {"f": "hello", "x": "other"})
    rr.ok_upload(p, "a", "v2", {"f": "hello", "y": "yy"})
    # A probational version is examined too; whitelisted links have no link and are ignored.
    rr.ok_upload(
        q,
        "b",
        "w1",
        {
            "l": Link(str(rr.path(p, "a", "v2", "f"))),
            "m": Link(str(rr.path(p, "a", "v1", "x"))),
            "sub/n": Link("../l"),
            "ext": Link(str(whitelisted / "ext.txt")),
        },
        on_probation=True,
    )
    v1f = (p, "a", "v1", "f")
    assert rr.manifest(q, "b", "w1") == {
        "ext": entry("external"),
        "l": entry("hello", link(p, "a", "v2", "f", v1f)),
        "m": entry("other", link(p, "a", "v1", "x")),
        "sub/n": entry("hello", link(q, "b", "w1", "l", v1f)),
    }
    assert rr.usage(p) == 12
    assert rr.usage(q) == 8

    # Step 1: doom p/a/v1.
    reply = reroute(rr, {"project": p, "asset": "a", "version": "v1"})
    assert changes(reply) == by_path(
        [
            change(f"{p}/a/v2/f", f"{p}/a/v1/f", 5),
            change(f"{q}/b/w1/l", f"{p}/a/v1/f"),
            change(f"{q}/b/w1/m", f"{p}/a/v1/x", 5),
            change(f"{q}/b/w1/sub/n", f"{p}/a/v1/f"),
        ]
    )
    assert rr.usage(p) == 17
    assert rr.usage(q) == 13
    assert rr.manifest(p, "a", "v2") == {"f": entry("hello"), "y": entry("yy")}
    assert link_files(rr, p, "a", "v2") == {}
    new_l = link(p, "a", "v2", "f")
    new_n = link(q, "b", "w1", "l", (p, "a", "v2", "f"))
    assert rr.manifest(q, "b", "w1") == {
        "ext": entry("external"),
        "l": entry("hello", new_l),
        "m": entry("other"),
        "sub/n": entry("hello", new_n),
    }
    assert on_disk(rr, q, "b", "w1") == {
        "ext": ("link", str(whitelisted / "ext.txt")),
        "l": ("link", f"../../../{p}/a/v2/f"),
        "m": ("file", b"other"),
        "sub/n": ("link", f"../../../../{p}/a/v2/f"),
    }
    # The root keeps a ..links for the remaining link; the copy's entry is gone from it.
    assert link_files(rr, q, "b", "w1") == {"": {"l": new_l}, "sub": {"n": new_n}}

    # Step 2: doom the whole project p, which itself is left untouched (rerouting deletes nothing).
    doomed_before = snapshot(rr, p)
    reply = reroute(rr, {"project": p})
    assert snapshot(rr, p) == doomed_before
    assert changes(reply) == [
        change(f"{q}/b/w1/l", f"{p}/a/v2/f", 5),
        change(f"{q}/b/w1/sub/n", f"{p}/a/v2/f"),
    ]
    assert rr.usage(p) == 17
    assert rr.usage(q) == 18
    local = link(q, "b", "w1", "l")
    assert rr.manifest(q, "b", "w1") == {
        "ext": entry("external"),
        "l": entry("hello"),
        "m": entry("other"),
        "sub/n": entry("hello", local),
    }
    assert on_disk(rr, q, "b", "w1") == {
        "ext": ("link", str(whitelisted / "ext.txt")),
        "l": ("file", b"hello"),
        "m": ("file", b"other"),
        "sub/n": ("link", "../l"),
    }
    assert link_files(rr, q, "b", "w1") == {"sub": {"n": local}}


def test_usage_of_every_project_with_actions_is_rewritten(rr: Gobbler) -> None:
    p = rr.create_project()
    q = rr.create_project()
    rr.ok_upload(p, "a", "v1", {"f": "hello"})
    rr.ok_upload(p, "a", "v2", {"f": "hello"})
    rr.ok_upload(q, "b", "w", {"l": Link(str(rr.path(p, "a", "v2", "f")))})
    # q only gets a retarget (usage 0), yet its usage file is rewritten by the addition.
    (rr.path(q, "..usage")).write_text('{ "total": 0 }')
    reply = reroute(rr, {"project": p, "asset": "a", "version": "v1"})
    assert changes(reply) == by_path(
        [change(f"{p}/a/v2/f", f"{p}/a/v1/f", 5), change(f"{q}/b/w/l", f"{p}/a/v1/f")]
    )
    assert rr.read_text(q, "..usage") == '{\n    "total": 0\n}'
    assert rr.read_text(p, "..usage") == '{\n    "total": 10\n}'


# ---------------------------------------------------------------- request checks (item 45)


def test_empty_to_delete_succeeds_with_no_changes(rr: Gobbler) -> None:
    reply = rr.request("reroute_links", {"to_delete": []})
    assert (reply.status, reply.body) == (200, {"changes": [], "status": "SUCCESS"})


NAME_EMPTY = "property in {request}; name cannot be empty"
PARSE = "failed to parse JSON from {request}; "


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        # The reference wraps a nil error in these two, which Go prints as %!w(<nil>).
        ({}, "expected a 'to_delete' property in {request}; %!w(<nil>)"),
        ({"to_delete": None}, "expected a 'to_delete' property in {request}; %!w(<nil>)"),
        (
            {"to_delete": [{"project": "p", "version": "v"}]},
            "'version' requires the 'asset' to be specified in {request}; %!w(<nil>)",
        ),
        ({"to_delete": [{"project": "p", "asset": ""}]}, "invalid 'asset' " + NAME_EMPTY),
        (
            {"to_delete": [{"project": "p", "asset": "a", "version": "..v"}]},
            "invalid 'version' property in {request}; name cannot start with '..'",
        ),
        ({"to_delete": [{"asset": "a"}]}, "invalid 'project' " + NAME_EMPTY),
        ({"to_delete": [None]}, "invalid 'project' " + NAME_EMPTY),
        (
            {"to_delete": [{"project": "a/b"}]},
            "invalid 'project' property in {request}; name cannot contain '/' or '\\'",
        ),
        # Entries are checked in order; the project is checked before the version/asset pairing.
        (
            {"to_delete": [{"project": "p"}, {"project": "", "version": "v"}]},
            "invalid 'project' " + NAME_EMPTY,
        ),
        ({"to_delete": [{"project": "", "version": "v"}]}, "invalid 'project' " + NAME_EMPTY),
        ({"to_delete": [{"project": "p", "asset": "", "version": "v"}]}, "invalid 'asset' " + NAME_EMPTY),
        # The whole document is decoded before any field is checked.
        (
            {"dry_run": "yes"},
            PARSE + "json: cannot unmarshal string into Go struct field .dry_run of type bool",
        ),
        (
            {"to_delete": {}},
            PARSE + "json: cannot unmarshal object into Go struct field .to_delete of type []main.deleteTask",
        ),
        (
            {"to_delete": [1]},
            PARSE + "json: cannot unmarshal number into Go struct field .to_delete of type main.deleteTask",
        ),
        (
            {"to_delete": [{"project": 5}]},
            PARSE + "json: cannot unmarshal number into Go struct field deleteTask.to_delete.project "
            "of type string",
        ),
    ],
)
def test_invalid_requests_are_400(rr: Gobbler, payload: dict[str, Any], reason: str) -> None:
    reply = rr.request("reroute_links", payload)
    assert (reply.status, reply.reason) == (400, reason.format(request=f'"{reply.request_path}"'))


def test_invalid_json_is_400(rr: Gobbler) -> None:
    reply = rr.request("reroute_links", raw="{not json")
    assert (reply.status, reply.reason) == (
        400,
        f'failed to parse JSON from "{reply.request_path}"; '
        "invalid character 'n' looking for beginning of object key string",
    )


def _failure(reply: Reply) -> str:
    assert reply.status == 500, reply
    return reply.reason


@pytest.mark.parametrize("missing", ["project", "asset", "version"])
def test_missing_targets_are_500(rr: Gobbler, missing: str) -> None:
    project = build_chain(rr)
    before = snapshot(rr, project)
    target = {
        "project": {"project": "no-such-project"},
        "asset": {"project": project, "asset": "no-such-asset"},
        "version": {"project": project, "asset": "a", "version": "no-such-version"},
    }[missing]
    # The valid first entry would cause changes; the failing one stops everything.
    reply = reroute(rr, {"project": project, "asset": "a", "version": "v1"}, target)
    if missing == "version":
        version = rr.path(project, "a", "no-such-version")
        manifest = f"{version}/..manifest"
        expected = (
            f'failed to read manifest at "{version}"; '
            f"cannot read '{manifest}'; open {manifest}: no such file or directory"
        )
    else:
        directory = rr.path(*target.values())
        expected = f'failed to read contents of "{directory}"; open {directory}: no such file or directory'
    assert _failure(reply) == expected
    assert snapshot(rr, project) == before


def test_target_that_is_a_file_is_500(rr: Gobbler) -> None:
    project = rr.create_project()
    stray = rr.path(project, "file")
    stray.write_text("x")
    reply = reroute(rr, {"project": project, "asset": "file"})
    assert _failure(reply) == f'failed to read contents of "{stray}"; readdirent {stray}: not a directory'


@pytest.mark.parametrize("dry_run", [False, True])
def test_doomed_version_without_manifest_is_500(rr: Gobbler, dry_run: bool) -> None:
    project = build_chain(rr)
    v1 = rr.path(project, "a", "v1")
    manifest = v1 / "..manifest"
    saved = manifest.read_bytes()
    manifest.unlink()
    try:
        before = snapshot(rr, project)
        reply = reroute(rr, {"project": project, "asset": "a", "version": "v1"}, dry_run=dry_run)
        assert _failure(reply) == (
            f'failed to read manifest at "{v1}"; '
            f"cannot read '{manifest}'; open {manifest}: no such file or directory"
        )
        assert snapshot(rr, project) == before
    finally:
        # A surviving version without manifest would fail every later reroute of this registry.
        manifest.write_bytes(saved)


@pytest.mark.parametrize("dry_run", [False, True])
def test_surviving_version_without_manifest_is_500(rr: Gobbler, dry_run: bool) -> None:
    project = build_chain(rr)
    stray = rr.path(project, "stray", "not-a-version")
    stray.mkdir(parents=True)
    try:
        before = snapshot(rr, project)
        reply = reroute(rr, {"project": project, "asset": "a", "version": "v1"}, dry_run=dry_run)
        # A surviving version's own manifest is named by its path inside the registry.
        assert _failure(reply) == (
            f'failed to reroute links for version "not-a-version" of asset "stray" in project "{project}"; '
            f'failed to read manifest at "{project}/stray/not-a-version"; '
            f"cannot read '{stray}/..manifest'; open {stray}/..manifest: no such file or directory"
        )
        assert snapshot(rr, project) == before
    finally:
        # Every later reroute of this module's registry would fail otherwise.
        stray.rmdir()
        stray.parent.rmdir()


@pytest.mark.parametrize("dry_run", [False, True])
def test_surviving_version_with_a_damaged_manifest_is_500(rr: Gobbler, dry_run: bool) -> None:
    project = build_chain(rr)
    manifest = rr.path(project, "b", "w", "..manifest")
    manifest.parent.mkdir(parents=True)
    manifest.write_text("]")
    try:
        before = snapshot(rr, project)
        reply = reroute(rr, {"project": project, "asset": "a", "version": "v1"}, dry_run=dry_run)
        assert _failure(reply) == (
            f'failed to reroute links for version "w" of asset "b" in project "{project}"; '
            f'failed to read manifest at "{project}/b/w"; '
            f"cannot parse JSON in '{manifest}'; invalid character ']' looking for beginning of value"
        )
        assert snapshot(rr, project) == before
    finally:
        manifest.unlink()
        manifest.parent.rmdir()
        manifest.parent.parent.rmdir()


@pytest.mark.parametrize("dry_run", [False, True])
def test_chain_through_a_path_missing_from_a_manifest_is_500(rr: Gobbler, dry_run: bool) -> None:
    project = build_chain(rr)
    # v4/f's chain goes through v3/f; once v3's manifest no longer lists it, the trace cannot continue.
    v3 = rr.manifest(project, "a", "v3")
    del v3["f"]
    rr.path(project, "a", "v3", "..manifest").write_text(json.dumps(v3))
    before = snapshot(rr, project)
    reply = reroute(rr, {"project": project, "asset": "a", "version": "v1"}, dry_run=dry_run)
    assert _failure(reply) == (
        f'failed to reroute links for version "v4" of asset "a" in project "{project}"; '
        f'missing manifest entry for link to "{project}/a/v3/f" from "{project}/a/v4/f"'
    )
    assert snapshot(rr, project) == before


@pytest.mark.parametrize("dry_run", [False, True])
def test_chain_through_a_version_without_manifest_is_500(rr: Gobbler, dry_run: bool) -> None:
    project = build_chain(rr)
    # v4/f now claims v3/f comes from a version that does not exist; its manifest is named in full.
    v4 = rr.manifest(project, "a", "v4")
    v4["f"]["link"]["asset"] = "gone"
    rr.path(project, "a", "v4", "..manifest").write_text(json.dumps(v4))
    before = snapshot(rr, project)
    reply = reroute(rr, {"project": project, "asset": "a", "version": "v1"}, dry_run=dry_run)
    gone = rr.path(project, "gone", "v3")
    assert _failure(reply) == (
        f'failed to reroute links for version "v4" of asset "a" in project "{project}"; '
        f'failed to read manifest at "{gone}"; '
        f"cannot read '{gone}/..manifest'; open {gone}/..manifest: no such file or directory"
    )
    assert snapshot(rr, project) == before


# ---------------------------------------------------------------- damaged registries during execution


def two_versions(g: Gobbler) -> str:
    """``a/v1`` and ``a/v2`` holding ``f`` = "hello", v2 linking to v1: dooming v1 copies one file."""
    project = g.create_project()
    for version in ("v1", "v2"):
        g.ok_upload(project, "a", version, {"f": "hello"})
    assert g.manifest(project, "a", "v2") == {"f": entry("hello", link(project, "a", "v1", "f"))}
    return project


V1_TARGET = {"asset": "a", "version": "v1"}


@pytest.mark.parametrize(
    ("damage", "detail"),
    [
        ("missing", "failed to read '{usage}'; open {usage}: no such file or directory"),
        ("invalid", "failed to parse JSON in '{usage}'; unexpected end of JSON input"),
        ("directory", "failed to read '{usage}'; read {usage}: is a directory"),
    ],
)
def test_unreadable_usage_fails_before_anything_changes(rr: Gobbler, damage: str, detail: str) -> None:
    project = build_chain(rr)
    # The other project only gets a retarget (no bytes to charge), yet its usage is read first too.
    other = rr.create_project()
    rr.ok_upload(other, "b", "w", {"l": Link(str(rr.path(project, "a", "v3", "f")))})
    usage = rr.path(other, "..usage")
    usage.unlink()
    if damage == "invalid":
        usage.write_text("{")
    elif damage == "directory":
        usage.mkdir()
    before = (snapshot(rr, project), snapshot(rr, other))
    reply = reroute(rr, {"project": project, **V1_TARGET})
    assert _failure(reply) == f'failed to read usage for "{rr.path(other)}"; ' + detail.format(usage=usage)
    assert (snapshot(rr, project), snapshot(rr, other)) == before


def test_hand_deleted_link_file_fails_after_copying(rr: Gobbler) -> None:
    project = two_versions(rr)
    v2 = rr.path(project, "a", "v2")
    (v2 / "..links").unlink()
    target = {"project": project, **V1_TARGET}
    # A dry run does not touch the link files, so it does not notice.
    assert changes(reroute(rr, target, dry_run=True)) == [change(f"{project}/a/v2/f", f"{project}/a/v1/f", 5)]

    reply = reroute(rr, target)
    links = v2 / "..links"
    assert _failure(reply) == (
        f'failed to remove unnecessary linkfile "{links}"; remove {links}: no such file or directory'
    )
    # The copy and the manifest are already written; the usage is not.
    assert on_disk(rr, project, "a", "v2") == {"f": ("file", b"hello")}
    assert rr.manifest(project, "a", "v2") == {"f": entry("hello")}
    assert rr.usage(project) == 5


@pytest.mark.parametrize("full", [False, True])
def test_link_file_replaced_by_a_directory(rr: Gobbler, full: bool) -> None:
    project = two_versions(rr)
    links = rr.path(project, "a", "v2", "..links")
    links.unlink()
    links.mkdir()
    if full:
        (links / "x").write_text("x")
    reply = reroute(rr, {"project": project, **V1_TARGET})
    if full:
        assert _failure(reply) == (
            f'failed to remove unnecessary linkfile "{links}"; remove {links}: directory not empty'
        )
        assert rr.usage(project) == 5
    else:
        # Go's os.Remove takes an empty directory too.
        assert changes(reply) == [change(f"{project}/a/v2/f", f"{project}/a/v1/f", 5)]
        assert not os.path.lexists(links)
        assert rr.usage(project) == 10
    assert on_disk(rr, project, "a", "v2") == {"f": ("file", b"hello")}


def test_copy_over_a_hand_deleted_symlink_fails(rr: Gobbler) -> None:
    project = two_versions(rr)
    destination = rr.path(project, "a", "v2", "f")
    destination.unlink()
    before = snapshot(rr, project)
    reply = reroute(rr, {"project": project, **V1_TARGET})
    assert _failure(reply) == (
        f'failed to remove existing file at "{destination}"; remove {destination}: no such file or directory'
    )
    assert snapshot(rr, project) == before


def test_retarget_of_a_hand_deleted_symlink_recreates_it(rr: Gobbler) -> None:
    project = rr.create_project()
    for version in ("v1", "v2", "v3"):
        rr.ok_upload(project, "a", version, {"f": "hello"})
    rr.path(project, "a", "v3", "f").unlink()
    reply = reroute(rr, {"project": project, **V1_TARGET})
    source = f"{project}/a/v1/f"
    assert changes(reply) == [change(f"{project}/a/v2/f", source, 5), change(f"{project}/a/v3/f", source)]
    assert on_disk(rr, project, "a", "v3") == {"f": ("link", "../v2/f")}


def test_missing_copy_source_fails_after_removing_the_symlink(rr: Gobbler) -> None:
    project = two_versions(rr)
    source = rr.path(project, "a", "v1", "f")
    source.unlink()
    reply = reroute(rr, {"project": project, **V1_TARGET})
    assert _failure(reply) == (
        f"failed to open input file at '{source}'; open {source}: no such file or directory"
    )
    assert on_disk(rr, project, "a", "v2") == {}
    assert rr.manifest(project, "a", "v2") == {"f": entry("hello", link(project, "a", "v1", "f"))}
    assert rr.usage(project) == 5


def test_non_admin_is_403_before_parsing(start_gobbler_variant: Callable[..., Gobbler]) -> None:
    g = start_gobbler_variant(admin=["someone-else"])
    for raw in ('{"to_delete": []}', "{not json"):
        reply = g.request("reroute_links", raw=raw)
        assert reply.status == 403, reply
        assert f'user "{me()}" is not authorized' in reply.reason


def test_link_file_that_cannot_be_replaced_leaves_the_temporary_file(rr: Gobbler) -> None:
    project = rr.create_project()
    for version in ("v1", "v2", "v3"):
        rr.ok_upload(project, "a", version, {"f": "hello"})
    v3 = rr.path(project, "a", "v3")
    (v3 / "..links").unlink()
    (v3 / "..links").mkdir()
    reply = reroute(rr, {"project": project, **V1_TARGET})
    # Go's os.Rename refuses to replace a directory, after the new content was written aside.
    [temporary] = [name for name in os.listdir(v3) if name.startswith(".temp")]
    assert re.fullmatch(r"\.temp[0-9]+\.json", temporary)
    links = v3 / "..links"
    assert _failure(reply) == (
        f'failed to create linkfiles at "{v3}"; failed to save links for "."; '
        f'failed to rename temporary file to "{links}"; rename {v3 / temporary} {links}: file exists'
    )
    new_link = link(project, "a", "v2", "f")
    assert json.loads((v3 / temporary).read_text()) == {"f": new_link}
    assert rr.manifest(project, "a", "v3") == {"f": entry("hello", new_link)}


def test_names_in_reasons_are_quoted_as_go_does(rr: Gobbler) -> None:
    project = rr.create_project()
    asset = 'a"\tb é'
    for version in ("v1", "v2", "v3"):
        rr.ok_upload(project, asset, version, {"f": "hello"})
    manifest = rr.manifest(project, asset, "v2")
    del manifest["f"]
    rr.path(project, asset, "v2", "..manifest").write_text(json.dumps(manifest))
    reply = reroute(rr, {"project": project, "asset": asset, "version": "v1"}, dry_run=True)
    quoted = 'a\\"\\tb é'
    assert _failure(reply) == (
        f'failed to reroute links for version "v3" of asset "{quoted}" in project "{project}"; '
        f'missing manifest entry for link to "{project}/{quoted}/v2/f" from "{project}/{quoted}/v3/f"'
    )
