"""``reindex_version`` and ``validate_version`` (PROTOCOL.md 6.11, 6.12, 8.9, 8.10; edge cases 40-44).

Reindexing is only exercised on versions whose links go to regular files or to other versions: the
reference re-creates registry symlinks while it is still examining the version, so a local link whose
parent is itself a registry link (or a deduplicated file) of the same version is racy there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gobbler_sdk.testing import GobblerService

from ..conftest import GOBBLER_BINARY
from .harness import EMPTY_DIR, Gobbler, Link, entry, me, ref, unique


def act(gobbler: Gobbler, action: str, project: str, asset: str, version: str) -> Any:
    return gobbler.request(action, {"project": project, "asset": asset, "version": version})


def snapshot(root: Path) -> dict[str, str]:
    """Every entry below ``root``: symlink texts, file contents, ``<dir>`` for directories."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            relative = os.path.relpath(path, root)
            if os.path.islink(path):
                out[relative] = "-> " + os.readlink(path)
            elif os.path.isdir(path):
                out[relative] = "<dir>"
            else:
                out[relative] = Path(path).read_text()
    return out


def relink(path: Path, text: str) -> None:
    path.unlink()
    os.symlink(text, path)


class Fixture:
    """A version with local chains, a registry chain, an empty directory and a whitelisted link.

    ``P/A/v1`` links into ``P/other/v1`` (whose ``sub/chain`` → ``base``) and holds::

        a.txt, b.txt, c.txt, sub/loc -> ../a.txt, sub/chain -> loc, plain/l -> ../b.txt, empty/dir/,
        reg -> other/v1/sub/chain
    """

    def __init__(self, gobbler: Gobbler, whitelisted: Path | None = None) -> None:
        self.gobbler = gobbler
        self.project = gobbler.create_project()
        p = self.project
        gobbler.ok_upload(p, "other", "v1", {"base": "shared", "sub/chain": Link("../base")})
        tree: dict[str, Any] = {
            "a.txt": "hello",
            "b.txt": "bye",
            "c.txt": "see",
            "sub/loc": Link("../a.txt"),
            "sub/chain": Link("loc"),
            "empty/dir": None,
            "plain/l": Link("../b.txt"),
            "reg": Link(str(gobbler.path(p, "other", "v1", "sub", "chain"))),
        }
        if whitelisted is not None:
            external = whitelisted / unique("ext")
            external.write_text("outside")
            tree["ext"] = Link(str(external))
        gobbler.ok_upload(p, "A", "v1", tree)
        self.dir = gobbler.path(p, "A", "v1")
        a = ref(p, "A", "v1", "a.txt")
        base = ref(p, "other", "v1", "base")
        self.expected = {
            "a.txt": entry("hello"),
            "b.txt": entry("bye"),
            "c.txt": entry("see"),
            "empty/dir": EMPTY_DIR,
            "plain/l": entry("bye", ref(p, "A", "v1", "b.txt")),
            "reg": entry("shared", ref(p, "other", "v1", "sub/chain", base)),
            "sub/chain": entry("hello", ref(p, "A", "v1", "sub/loc", a)),
            "sub/loc": entry("hello", a),
        }
        if whitelisted is not None:
            self.expected["ext"] = entry("outside")

    def reindex(self) -> Any:
        return act(self.gobbler, "reindex_version", self.project, "A", "v1")

    def validate(self) -> Any:
        return act(self.gobbler, "validate_version", self.project, "A", "v1")

    def manifest(self) -> dict[str, Any]:
        return self.gobbler.manifest(self.project, "A", "v1")

    def edit_json(self, name: str, change: Callable[[Any], None]) -> None:
        path = self.dir / name
        value = json.loads(path.read_text())
        change(value)
        path.write_text(json.dumps(value))


@pytest.fixture
def fixture(gobbler: Gobbler) -> Fixture:
    return Fixture(gobbler)


@pytest.fixture(scope="module")
def non_admin() -> Iterator[Gobbler]:
    """A service for which the current user is not an administrator (shared by the check-order tests)."""
    with GobblerService(admin=["someone-else"], binary=GOBBLER_BINARY) as service:
        driver = Gobbler(service)
        yield driver
        driver.close()


# ------------------------------------------------------------------------------------ check order


@pytest.mark.parametrize("action", ["reindex_version", "validate_version"])
@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ("{broken", "failed to parse JSON"),
        ({"project": 1, "asset": "a", "version": "v"}, "failed to parse JSON"),
        ({"asset": "a", "version": "v"}, "expected a 'project' property"),
        ({"project": "..p", "asset": "a", "version": "v"}, "invalid project name"),
        ({"project": "p", "version": "v"}, "expected an 'asset' property"),
        ({"project": "p", "asset": "a/b", "version": "v"}, "invalid asset name"),
        ({"project": "p", "asset": "a"}, "expected a 'version' property"),
        ({"project": "p", "asset": "a", "version": ""}, "invalid version name"),
    ],
)
def test_fields_are_checked_before_the_caller(
    non_admin: Gobbler, action: str, payload: Any, fragment: str
) -> None:
    if isinstance(payload, str):
        reply = non_admin.request(action, raw=payload)
    else:
        reply = non_admin.request(action, payload)
    assert reply.status == 400, reply
    assert fragment in reply.reason


@pytest.mark.parametrize(
    ("action", "verb"), [("reindex_version", "reindex"), ("validate_version", "validate")]
)
def test_non_admins_are_refused_after_the_fields(non_admin: Gobbler, action: str, verb: str) -> None:
    # Refused before the project is even looked up.
    reply = non_admin.request(
        action, {"project": "nowhere", "asset": "a", "version": "v", "spoof": "someone-else"}
    )
    assert reply.status == 403, reply
    assert f"user '{me()}' is not authorized to {verb} 'nowhere'" in reply.reason


@pytest.mark.parametrize("action", ["reindex_version", "validate_version"])
def test_missing_project_asset_or_version_is_404(gobbler: Gobbler, project: str, action: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "1"})
    missing = unique("missing")
    reply = act(gobbler, action, missing, "a", "v1")
    assert reply.status == 404, reply
    assert reply.reason == f"project {missing} does not exist"
    reply = act(gobbler, action, project, "b", "v1")
    assert reply.status == 404, reply
    assert reply.reason == f"asset b does not exist in project {project}"
    reply = act(gobbler, action, project, "a", "v2")
    assert reply.status == 404, reply
    assert reply.reason == f"version v2 does not exist for asset a of project {project}"


# ------------------------------------------------------------------------------------ reindex (40-43)


def test_reindex_of_an_intact_version_changes_nothing(gobbler: Gobbler, whitelisted_dir: Path) -> None:
    fixture = Fixture(gobbler, whitelisted_dir)
    before = snapshot(fixture.dir)
    reply = fixture.reindex()
    assert reply.status == 200, reply
    assert reply.body == {"status": "SUCCESS"}
    assert snapshot(fixture.dir) == before
    assert fixture.manifest() == fixture.expected
    assert [e for e in gobbler.logs_for(fixture.project) if e["type"] == "reindex-version"] == [
        {"asset": "A", "latest": True, "project": fixture.project, "type": "reindex-version", "version": "v1"}
    ]


def test_reindex_without_link_files_loses_the_parent_level(fixture: Fixture, gobbler: Gobbler) -> None:
    before = snapshot(fixture.dir)
    for name in ("..manifest", "..links", "sub/..links"):
        (fixture.dir / name).unlink()
    reply = fixture.reindex()
    assert reply.status == 200, reply
    p = fixture.project
    a = ref(p, "A", "v1", "a.txt")
    base = ref(p, "other", "v1", "base")
    # Links now point directly at their former ancestors, with no ancestor recorded.
    assert fixture.manifest() == {
        **fixture.expected,
        "reg": entry("shared", base),
        "sub/chain": entry("hello", a),
    }
    assert gobbler.read_json(p, "A", "v1", "..links") == {"reg": base}
    assert gobbler.read_json(p, "A", "v1", "sub", "..links") == {"chain": a, "loc": a}
    # The files and symlinks themselves are the same as before.
    after = snapshot(fixture.dir)
    internal = ("..manifest", "..links", "sub/..links")
    assert {k: v for k, v in after.items() if k not in internal} == {
        k: v for k, v in before.items() if k not in internal
    }


def test_reindex_with_link_files_keeps_parents_and_recreates_symlinks(fixture: Fixture) -> None:
    # Pointing a symlink at its recorded parent instead of the ancestor is accepted...
    relink(fixture.dir / "sub" / "chain", "loc")
    relink(fixture.dir / "reg", "../../other/v1/sub/chain")
    (fixture.dir / "..manifest").unlink()
    reply = fixture.reindex()
    assert reply.status == 200, reply
    assert fixture.manifest() == fixture.expected
    # ...and the symlinks are re-created pointing at the ancestor.
    assert os.readlink(fixture.dir / "sub" / "chain") == "../a.txt"
    assert os.readlink(fixture.dir / "reg") == "../../other/v1/base"


def test_reindex_rejects_symlinks_to_neither_parent_nor_ancestor(fixture: Fixture) -> None:
    relink(fixture.dir / "sub" / "chain", "../b.txt")
    reply = fixture.reindex()
    assert reply.status == 500, reply
    assert "failed to reindex project" in reply.reason
    assert "non-ancestor, non-parent" in reply.reason


def test_reindex_drops_recorded_links_of_regular_files(fixture: Fixture, gobbler: Gobbler) -> None:
    loc = fixture.dir / "sub" / "loc"
    loc.unlink()
    loc.write_text("now a file")
    reply = fixture.reindex()
    assert reply.status == 200, reply
    p = fixture.project
    # sub/chain still pointed at the recorded ancestor, so it is re-resolved through its parent sub/loc.
    assert fixture.manifest() == {
        **fixture.expected,
        "sub/loc": entry("now a file"),
        "sub/chain": entry("now a file", ref(p, "A", "v1", "sub/loc")),
    }
    assert os.readlink(fixture.dir / "sub" / "chain") == "loc"
    assert gobbler.read_json(p, "A", "v1", "sub", "..links") == {"chain": ref(p, "A", "v1", "sub/loc")}


def test_reindex_deletes_stale_link_files_but_keeps_directories(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(
        project, "a", "v1", {"f": "1", "sub/l": Link("../f"), "keep/g": "2", "keep/m": Link("g")}
    )
    version = gobbler.path(project, "a", "v1")
    (version / "sub" / "l").unlink()
    (version / "keep" / "m").unlink()
    reply = act(gobbler, "reindex_version", project, "a", "v1")
    assert reply.status == 200, reply
    assert gobbler.manifest(project, "a", "v1") == {"f": entry("1"), "keep/g": entry("2"), "sub": EMPTY_DIR}
    assert os.listdir(version / "sub") == []
    assert os.listdir(version / "keep") == ["g"]
    assert sorted(os.listdir(version)) == ["..manifest", "..summary", "f", "keep", "sub"]


def test_reindex_records_new_files_without_touching_usage_or_latest(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "1"})
    version = gobbler.path(project, "a", "v1")
    (version / "added").write_text("12345")
    (version / "f").write_text("changed")
    (version / "newdir").mkdir()
    (version / "..internal").write_text("ignored")
    reply = act(gobbler, "reindex_version", project, "a", "v1")
    assert reply.status == 200, reply
    assert gobbler.manifest(project, "a", "v1") == {
        "added": entry("12345"),
        "f": entry("changed"),
        "newdir": EMPTY_DIR,
    }
    assert gobbler.usage(project) == 1
    assert gobbler.latest(project, "a") == "v1"


def test_reindex_logs_latest_from_the_latest_file(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "1"})
    gobbler.ok_upload(project, "a", "v2", {"f": "2"})
    gobbler.ok_upload(project, "a", "v3", {"f": "3"}, on_probation=True)
    before = len(gobbler.logs_for(project))
    for version in ("v1", "v2", "v3"):
        reply = act(gobbler, "reindex_version", project, "a", version)
        assert reply.status == 200, reply
    new = [e for e in gobbler.logs_for(project) if e["type"] == "reindex-version"]
    assert len(gobbler.logs_for(project)) == before + 2
    assert sorted(new, key=lambda e: str(e["version"])) == [
        {"asset": "a", "latest": False, "project": project, "type": "reindex-version", "version": "v1"},
        {"asset": "a", "latest": True, "project": project, "type": "reindex-version", "version": "v2"},
    ]
    # Without ..latest, no version is the latest.
    gobbler.path(project, "a", "..latest").unlink()
    reply = act(gobbler, "reindex_version", project, "a", "v2")
    assert reply.status == 200, reply
    for_v2 = [e for e in gobbler.logs_for(project) if e["type"] == "reindex-version" and e["version"] == "v2"]
    assert sorted(e["latest"] for e in for_v2) == [False, True]


def test_reindex_without_summary_writes_the_manifest_then_fails(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "1"})
    version = gobbler.path(project, "a", "v1")
    (version / "..summary").unlink()
    (version / "late").write_text("late")
    before = len(gobbler.logs_for(project))
    reply = act(gobbler, "reindex_version", project, "a", "v1")
    assert reply.status == 500, reply
    assert gobbler.manifest(project, "a", "v1") == {"f": entry("1"), "late": entry("late")}
    assert len(gobbler.logs_for(project)) == before


BROKEN_LINK_FILES = {
    # A null entry fails even for a name that is not a file of the directory.
    '{"l": null}': 'unexpected nil value for "l" in linkfile at "{links}"',
    '{"a": null}': 'unexpected nil value for "a" in linkfile at "{links}"',
    # Duplicate keys: the last one wins.
    '{"l": {"project": "p"}, "l": null}': 'unexpected nil value for "l" in linkfile at "{links}"',
    "not json": (
        "failed to read linkfile at \"{links}\"; invalid character 'o' in literal null (expecting 'u')"
    ),
    "": 'failed to read linkfile at "{links}"; unexpected end of JSON input',
    "[]": (
        'failed to read linkfile at "{links}"; '
        "json: cannot unmarshal array into Go value of type map[string]*main.linkMetadata"
    ),
    "5": (
        'failed to read linkfile at "{links}"; '
        "json: cannot unmarshal number into Go value of type map[string]*main.linkMetadata"
    ),
    '{"l": "x"}': (
        'failed to read linkfile at "{links}"; '
        "json: cannot unmarshal string into Go value of type main.linkMetadata"
    ),
    '{"l": {"project": 1}}': (
        'failed to read linkfile at "{links}"; '
        "json: cannot unmarshal number into Go struct field linkMetadata.project of type string"
    ),
    '{"l": {"ancestor": []}}': (
        'failed to read linkfile at "{links}"; '
        "json: cannot unmarshal array into Go struct field linkMetadata.ancestor of type main.linkMetadata"
    ),
}


@pytest.mark.parametrize("text", list(BROKEN_LINK_FILES))
def test_reindex_and_validate_fail_on_broken_link_files(gobbler: Gobbler, project: str, text: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "1", "l": Link("f")})
    version = gobbler.path(project, "a", "v1")
    links = version / "..links"
    links.write_text(text)
    before = snapshot(version)
    detail = BROKEN_LINK_FILES[text].replace("{links}", str(links))
    for action, verb in (("reindex_version", "reindex"), ("validate_version", "validate")):
        reply = act(gobbler, action, project, "a", "v1")
        assert (reply.status, reply.reason) == (
            500,
            f'failed to {verb} project; failed to parse existing linkfiles in "{version}"; {detail}',
        )
        assert snapshot(version) == before


def test_reindex_cannot_replace_a_link_file_that_is_a_directory(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "1", "l": Link("f")})
    version = gobbler.path(project, "a", "v1")
    links = version / "..links"
    links.unlink()
    links.mkdir()
    reply = act(gobbler, "reindex_version", project, "a", "v1")
    # The reference writes the new content aside, fails to rename it over the directory and leaves it.
    [temporary] = [name for name in os.listdir(version) if name.startswith(".temp")]
    assert (reply.status, reply.reason) == (
        500,
        'failed to reindex project; failed to create linkfiles; failed to save links for "."; '
        f'failed to rename temporary file to "{links}"; rename {version / temporary} {links}: file exists',
    )
    assert json.loads((version / temporary).read_text()) == {"l": ref(project, "a", "v1", "f")}


def test_reindex_reads_a_null_link_file_as_empty(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "1", "l": Link("f")})
    links = gobbler.path(project, "a", "v1", "..links")
    expected = links.read_text()
    links.write_text("null")
    reply = act(gobbler, "reindex_version", project, "a", "v1")
    assert reply.status == 200, reply
    assert links.read_text() == expected


def test_reindex_fails_on_dangling_links(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "1", "l": Link("f")})
    version = gobbler.path(project, "a", "v1")
    relink(version / "l", "gone")
    (version / "..links").unlink()
    reply = act(gobbler, "reindex_version", project, "a", "v1")
    assert reply.status == 500, reply
    assert "failed to reindex project" in reply.reason
    assert "failed to stat target of link" in reply.reason


# ------------------------------------------------------------------------------------ validate (44)


def test_validate_accepts_an_untouched_upload(gobbler: Gobbler, whitelisted_dir: Path) -> None:
    fixture = Fixture(gobbler, whitelisted_dir)
    before = snapshot(fixture.dir)
    logs = len(gobbler.logs())
    reply = fixture.validate()
    assert reply.status == 200, reply
    assert reply.body == {"status": "SUCCESS"}
    assert snapshot(fixture.dir) == before
    assert len(gobbler.logs()) == logs


def test_validate_accepts_fractional_seconds_and_offsets(fixture: Fixture) -> None:
    def change(summary: dict[str, Any]) -> None:
        summary["upload_start"] = "2025-01-26T11:28:10.123456+01:00"
        summary["upload_finish"] = "2025-01-26T05:58:10.5-05:30"

    fixture.edit_json("..summary", change)
    reply = fixture.validate()
    assert reply.status == 200, reply


def _rewrite(path: Path, text: str) -> None:
    path.write_text(text)


def _set_link(name: str, key: str, value: Any) -> Callable[[Fixture], None]:
    def mutate(f: Fixture) -> None:
        def change(manifest: dict[str, Any]) -> None:
            link = manifest[name]["link"]
            if value is None:
                link.pop(key, None)
            else:
                link[key] = value

        f.edit_json("..manifest", change)

    return mutate


def _edit_linkfile(directory: str, change: Callable[[dict[str, Any]], None]) -> Callable[[Fixture], None]:
    return lambda f: f.edit_json(f"{directory}/..links", change)


def _summary(key: str, value: Any) -> Callable[[Fixture], None]:
    def mutate(f: Fixture) -> None:
        def change(summary: dict[str, Any]) -> None:
            summary[key] = value

        f.edit_json("..summary", change)

    return mutate


def _climb_out_of_registry(f: Fixture) -> None:
    registry = f.gobbler.registry
    relink(f.dir / "reg", f"../../../../{registry.name}/{f.project}/other/v1/base")


MUTATIONS: dict[str, tuple[Callable[[Fixture], None], list[str]]] = {
    "extra file": (lambda f: _rewrite(f.dir / "extra.txt", "x"), ["extra.txt", "not present in manifest"]),
    "missing file": (lambda f: (f.dir / "c.txt").unlink(), ["c.txt", "cannot be found"]),
    "wrong size": (lambda f: _rewrite(f.dir / "c.txt", "goodbye"), ["c.txt", "incorrect size"]),
    "wrong md5, same size": (lambda f: _rewrite(f.dir / "c.txt", "SEE"), ["c.txt", "incorrect MD5 checksum"]),
    "extra empty directory": (lambda f: (f.dir / "newdir").mkdir(), ["newdir", "not present in manifest"]),
    "missing empty directory": (lambda f: (f.dir / "empty" / "dir").rmdir(), ["cannot be found"]),
    # Without recorded parents the chain in sub/ would resolve differently, so plain/ is used for these.
    "missing link file": (lambda f: (f.dir / "plain" / "..links").unlink(), ["expected a linkfile"]),
    "extra link file": (
        lambda f: _rewrite(f.dir / "empty" / "dir" / "..links", "{}"),
        ["extra linkfile"],
    ),
    "missing entry in link file": (_edit_linkfile("plain", lambda d: d.pop("l")), ['"l"', "from linkfile"]),
    "extra entry in link file": (
        _edit_linkfile("sub", lambda d: d.__setitem__("ghost", d["loc"])),
        ["ghost", "linkfile"],
    ),
    "wrong entry in link file": (
        _edit_linkfile("plain", lambda d: d["l"].__setitem__("ancestor", dict(d["l"], path="a.txt"))),
        ['mismatching link information for "l"', "unexpected link ancestor"],
    ),
    "link file naming another parent": (
        _edit_linkfile("sub", lambda d: d["loc"].__setitem__("path", "b.txt")),
        ["non-ancestor, non-parent"],
    ),
    "wrong ancestor in manifest": (
        _set_link("sub/chain", "ancestor", {"project": "x", "asset": "A", "version": "v1", "path": "a.txt"}),
        ["mismatching link information", "ancestor"],
    ),
    "missing ancestor in manifest": (
        _set_link("sub/chain", "ancestor", None),
        ["mismatching link information", "expected link ancestor"],
    ),
    "extra ancestor in manifest": (
        _set_link("sub/loc", "ancestor", {"project": "x", "asset": "A", "version": "v1", "path": "a.txt"}),
        ["mismatching link information", "unexpected link ancestor"],
    ),
    "wrong link path in manifest": (
        _set_link("sub/loc", "path", "b.txt"),
        ["mismatching link information", "mismatching link path"],
    ),
    "absolute symlink": (
        lambda f: relink(f.dir / "sub" / "loc", str(f.dir / "a.txt")),
        ["expected a relative path for the link target"],
    ),
    "relative symlink climbing out of the version": (
        lambda f: relink(f.dir / "sub" / "loc", "../../v1/a.txt"),
        ["is not local to"],
    ),
    "relative symlink climbing out of the registry": (_climb_out_of_registry, ["is not local to"]),
    "empty upload_user_id": (_summary("upload_user_id", ""), ["invalid 'upload_user_id'"]),
    "unparsable upload_start": (_summary("upload_start", "2025-01-26"), ["could not parse 'upload_start'"]),
    "unparsable upload_finish": (
        _summary("upload_finish", "2025-01-26t11:28:10z"),
        ["could not parse 'upload_finish'"],
    ),
    "missing summary": (lambda f: (f.dir / "..summary").unlink(), []),
    "missing manifest": (lambda f: (f.dir / "..manifest").unlink(), []),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_validate_detects(fixture: Fixture, name: str) -> None:
    mutate, fragments = MUTATIONS[name]
    mutate(fixture)
    before = snapshot(fixture.dir)
    reply = fixture.validate()
    assert reply.status == 500, reply
    for fragment in fragments:
        assert fragment in reply.reason
    # Validation writes nothing.
    assert snapshot(fixture.dir) == before


def test_validate_reports_manifest_problems_as_validation_failures(fixture: Fixture) -> None:
    (fixture.dir / "c.txt").unlink()
    reply = fixture.validate()
    assert reply.status == 500, reply
    assert reply.reason.startswith("failed to validate project; ")


def test_validate_after_reindex_of_a_changed_version(fixture: Fixture) -> None:
    (fixture.dir / "b.txt").write_text("changed content")
    (fixture.dir / "c.txt").write_text("new")
    assert fixture.validate().status == 500
    assert fixture.reindex().status == 200
    reply = fixture.validate()
    assert reply.status == 200, reply


def test_validate_accepts_deduplicated_files(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "same", "d/g": "other"})
    gobbler.ok_upload(project, "a", "v2", {"f": "same", "deeper/x/g": "other", "new": "n"})
    assert os.readlink(gobbler.path(project, "a", "v2", "deeper", "x", "g")) == "../../../v1/d/g"
    reply = act(gobbler, "validate_version", project, "a", "v2")
    assert reply.status == 200, reply


def test_validate_rejects_local_links_through_deduplicated_files(gobbler: Gobbler, project: str) -> None:
    # Quirk of the reference: the local link's symlink points at the older version's file, so its text
    # leaves the version directory and fails the relative-link check, although upload wrote it that way.
    gobbler.ok_upload(project, "a", "v1", {"f": "same"})
    gobbler.ok_upload(project, "a", "v2", {"f": "same", "l": Link("f")})
    assert os.readlink(gobbler.path(project, "a", "v2", "l")) == "../v1/f"
    reply = act(gobbler, "validate_version", project, "a", "v2")
    assert reply.status == 500, reply
    assert "is not local to" in reply.reason
