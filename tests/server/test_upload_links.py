"""Upload content rules (PROTOCOL.md 8.1-8.8, 12.1): skipping, empty directories, deduplication, symlinks,
the whitelist and ``consume``. Edge cases 18-25 of section 18.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from .conftest import other_users
from .harness import EMPTY_DIR, Gobbler, Link, entry, md5, ref, unique


def links_file(gobbler: Gobbler, *parts: str) -> dict[str, Any]:
    return dict(gobbler.read_json(*parts, "..links"))


def readlink(gobbler: Gobbler, *parts: str) -> str:
    return os.readlink(gobbler.path(*parts))


def registry_link(gobbler: Gobbler, *parts: str) -> Link:
    """An absolute symlink to a registry path, as a user would create it."""
    return Link(str(gobbler.path(*parts)))


def all_names(root: Path) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            found.append(os.path.relpath(os.path.join(dirpath, name), root))
    return sorted(found)


# ------------------------------------------------------------------------------------ skipping (18)


def test_dotfiles_are_uploaded_but_internal_names_never(gobbler: Gobbler, project: str) -> None:
    tree = {
        ".hidden": "h",
        ".config/settings": "s",
        "..internal": "i",
        "..dir/inside": "x",
        "sub/..links": "{}",
        "sub/f": "f",
    }
    gobbler.ok_upload(project, "a", "v1", tree)
    assert gobbler.manifest(project, "a", "v1") == {
        ".config/settings": entry("s"),
        ".hidden": entry("h"),
        "sub/f": entry("f"),
    }
    assert all_names(gobbler.path(project, "a", "v1")) == [
        "..manifest",
        "..summary",
        ".config",
        ".config/settings",
        ".hidden",
        "sub",
        "sub/f",
    ]
    assert gobbler.usage(project) == 3


def test_ignore_dot_skips_dotfiles_and_dot_directories(gobbler: Gobbler, project: str) -> None:
    tree = {".hidden": "h", ".git/objects/x": "x", "keep": "k", "sub/.env": "e", "sub/y": "y"}
    gobbler.ok_upload(project, "a", "v1", tree, ignore_dot=True)
    assert gobbler.manifest(project, "a", "v1") == {"keep": entry("k"), "sub/y": entry("y")}
    assert all_names(gobbler.path(project, "a", "v1")) == ["..manifest", "..summary", "keep", "sub", "sub/y"]
    assert gobbler.usage(project) == 2


# ------------------------------------------------------------------------------------ empty directories (19)


def test_only_the_deepest_empty_directories_are_recorded(gobbler: Gobbler, project: str) -> None:
    tree = {"a/b/c": None, "a/d": None, "e": None, "f/g": "1", "f/h": None}
    gobbler.ok_upload(project, "a", "v1", tree)
    assert gobbler.manifest(project, "a", "v1") == {
        "a/b/c": EMPTY_DIR,
        "a/d": EMPTY_DIR,
        "e": EMPTY_DIR,
        "f/g": entry("1"),
        "f/h": EMPTY_DIR,
    }
    for relative in ("a/b/c", "a/d", "e", "f/h"):
        path = gobbler.path(project, "a", "v1", relative)
        assert path.is_dir() and os.listdir(path) == []
    assert gobbler.usage(project) == 1


def test_directories_holding_only_skipped_files_count_as_empty(gobbler: Gobbler, project: str) -> None:
    tree = {"internal/..x": "1", "dotted/.x": "2", "parent/.gitdir/file": "3", "kept": "k"}
    gobbler.ok_upload(project, "a", "v1", tree, ignore_dot=True)
    # A skipped dot-directory is not a candidate itself, so its parent becomes the empty one.
    assert gobbler.manifest(project, "a", "v1") == {
        "dotted": EMPTY_DIR,
        "internal": EMPTY_DIR,
        "kept": entry("k"),
        "parent": EMPTY_DIR,
    }
    assert os.listdir(gobbler.path(project, "a", "v1", "parent")) == []
    # Without ignore_dot only the '..' file is skipped.
    gobbler.ok_upload(project, "a", "v2", tree)
    assert gobbler.manifest(project, "a", "v2") == {
        "dotted/.x": entry("2"),
        "internal": EMPTY_DIR,
        "kept": {"size": 1, "md5sum": md5("k"), "link": ref(project, "a", "v1", "kept")},
        "parent/.gitdir/file": entry("3"),
    }


def test_empty_directory_entries_never_deduplicate(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"e": None})
    gobbler.ok_upload(project, "a", "v2", {"e": None, "z": ""})
    assert gobbler.manifest(project, "a", "v2") == {"e": EMPTY_DIR, "z": entry("")}
    assert gobbler.path(project, "a", "v2", "e").is_dir()
    assert not gobbler.path(project, "a", "v2", "z").is_symlink()


# ------------------------------------------------------------------------------------ deduplication (20)


def test_identical_files_become_links_to_the_latest_version(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"a.txt": "hello", "sub/b.txt": "world"})
    gobbler.ok_upload(project, "a", "v2", {"renamed": "hello", "deep/er/b": "world", "new": "fresh"})
    assert gobbler.manifest(project, "a", "v2") == {
        "deep/er/b": entry("world", ref(project, "a", "v1", "sub/b.txt")),
        "new": entry("fresh"),
        "renamed": entry("hello", ref(project, "a", "v1", "a.txt")),
    }
    assert readlink(gobbler, project, "a", "v2", "renamed") == "../v1/a.txt"
    assert readlink(gobbler, project, "a", "v2", "deep/er/b") == "../../../v1/sub/b.txt"
    assert gobbler.path(project, "a", "v2", "renamed").read_text() == "hello"
    assert links_file(gobbler, project, "a", "v2") == {"renamed": ref(project, "a", "v1", "a.txt")}
    assert links_file(gobbler, project, "a", "v2", "deep/er") == {"b": ref(project, "a", "v1", "sub/b.txt")}
    assert not gobbler.path(project, "a", "v2", "deep", "..links").exists()
    # Deduplicated files add nothing to usage.
    assert gobbler.usage(project) == 10 + 5


def test_deduplicating_against_a_link_records_its_ancestor(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "data"})
    gobbler.ok_upload(project, "a", "v2", {"g": "data"})
    gobbler.ok_upload(project, "a", "v3", {"h": "data"})
    first = ref(project, "a", "v1", "f")
    assert gobbler.manifest(project, "a", "v3") == {"h": entry("data", ref(project, "a", "v2", "g", first))}
    assert readlink(gobbler, project, "a", "v3", "h") == "../v1/f"
    assert links_file(gobbler, project, "a", "v3") == {"h": ref(project, "a", "v2", "g", first)}
    assert gobbler.usage(project) == 4


def test_only_the_latest_version_serves_for_deduplication(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "one"})
    gobbler.ok_upload(project, "a", "v2", {"g": "two"})
    gobbler.ok_upload(project, "a", "v3", {"f": "one", "g": "two"})
    assert gobbler.manifest(project, "a", "v3") == {
        "f": entry("one"),
        "g": entry("two", ref(project, "a", "v2", "g")),
    }


def test_probational_versions_never_serve_for_deduplication(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"f": "one"}, on_probation=True)
    gobbler.ok_upload(project, "a", "v2", {"f": "one"})
    assert gobbler.manifest(project, "a", "v2") == {"f": entry("one")}
    gobbler.ok_upload(project, "a", "v3", {"f": "one"}, on_probation=True)
    assert gobbler.manifest(project, "a", "v3") == {"f": entry("one", ref(project, "a", "v2", "f"))}
    assert gobbler.usage(project) == 6


def test_duplicates_inside_one_upload_are_all_copied(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"x": "same", "y": "same"})
    assert gobbler.manifest(project, "a", "v1") == {"x": entry("same"), "y": entry("same")}
    assert gobbler.usage(project) == 8


def test_deduplicated_winner_is_one_of_the_identical_entries(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"p": "dup", "q": "dup"})
    gobbler.ok_upload(project, "a", "v2", {"r": "dup"})
    link = gobbler.manifest(project, "a", "v2")["r"]["link"]
    # Which identical entry wins is unspecified.
    assert link in (ref(project, "a", "v1", "p"), ref(project, "a", "v1", "q"))
    assert readlink(gobbler, project, "a", "v2", "r") == f"../v1/{link['path']}"


# ------------------------------------------------------------------------------------ local links (21)


def test_local_link_chains_record_parent_and_ancestor(gobbler: Gobbler, project: str) -> None:
    tree = {"a.txt": "hello", "loc": Link("a.txt"), "sub/loc2": Link("../loc"), "sub/c": Link("loc2")}
    gobbler.ok_upload(project, "a", "v1", tree)
    base = ref(project, "a", "v1", "a.txt")
    assert gobbler.manifest(project, "a", "v1") == {
        "a.txt": entry("hello"),
        "loc": entry("hello", base),
        "sub/c": entry("hello", ref(project, "a", "v1", "sub/loc2", base)),
        "sub/loc2": entry("hello", ref(project, "a", "v1", "loc", base)),
    }
    assert readlink(gobbler, project, "a", "v1", "loc") == "a.txt"
    assert readlink(gobbler, project, "a", "v1", "sub/loc2") == "../a.txt"
    assert readlink(gobbler, project, "a", "v1", "sub/c") == "../a.txt"
    assert gobbler.read_text(project, "a", "v1", "..links") == json.dumps({"loc": base}, indent=4)
    assert links_file(gobbler, project, "a", "v1", "sub") == {
        "c": ref(project, "a", "v1", "sub/loc2", base),
        "loc2": ref(project, "a", "v1", "loc", base),
    }
    assert gobbler.usage(project) == 5


def test_absolute_local_links_are_relative_in_the_registry(gobbler: Gobbler, project: str) -> None:
    name = unique("src")
    source_root = gobbler.staging / name
    gobbler.source({"d/file": "content", "d/abs": Link(str(source_root / "d" / "file"))}, name=name)
    gobbler.ok_upload(project, "a", "v1", name)
    assert gobbler.manifest(project, "a", "v1")["d/abs"] == entry(
        "content", ref(project, "a", "v1", "d/file")
    )
    assert readlink(gobbler, project, "a", "v1", "d/abs") == "file"


def test_local_link_to_a_deduplicated_file_records_the_older_version(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v0", {"a.txt": "hello"})
    gobbler.ok_upload(project, "a", "v1", {"a.txt": "hello", "x": Link("a.txt")})
    old = ref(project, "a", "v0", "a.txt")
    assert gobbler.manifest(project, "a", "v1") == {
        "a.txt": entry("hello", old),
        "x": entry("hello", ref(project, "a", "v1", "a.txt", old)),
    }
    assert readlink(gobbler, project, "a", "v1", "x") == "../v0/a.txt"
    assert readlink(gobbler, project, "a", "v1", "a.txt") == "../v0/a.txt"
    assert gobbler.usage(project) == 5


# ------------------------------------------------------------------------------------ registry links (22)


def test_links_into_other_versions_are_resolved_through_their_manifests(
    gobbler: Gobbler, project: str
) -> None:
    other = gobbler.create_project()
    gobbler.ok_upload(other, "o", "v1", {"base": "shared", "sub/chain": Link("../base")})
    base = ref(other, "o", "v1", "base")
    tree = {
        "direct": registry_link(gobbler, other, "o", "v1", "base"),
        "d/via": registry_link(gobbler, other, "o", "v1", "sub/chain"),
        "d/local": Link("via"),
        "rel": Link(os.path.relpath(gobbler.path(other, "o", "v1", "base"), gobbler.staging / "x")),
    }
    gobbler.ok_upload(project, "a", "v1", tree)
    via = ref(other, "o", "v1", "sub/chain", base)
    assert gobbler.manifest(project, "a", "v1") == {
        "d/local": entry("shared", ref(project, "a", "v1", "d/via", base)),
        "d/via": entry("shared", via),
        "direct": entry("shared", base),
        "rel": entry("shared", base),
    }
    assert readlink(gobbler, project, "a", "v1", "direct") == f"../../../{other}/o/v1/base"
    assert readlink(gobbler, project, "a", "v1", "rel") == f"../../../{other}/o/v1/base"
    assert readlink(gobbler, project, "a", "v1", "d/via") == f"../../../../{other}/o/v1/base"
    assert readlink(gobbler, project, "a", "v1", "d/local") == f"../../../../{other}/o/v1/base"
    assert links_file(gobbler, project, "a", "v1") == {"direct": base, "rel": base}
    assert links_file(gobbler, project, "a", "v1", "d") == {
        "local": ref(project, "a", "v1", "d/via", base),
        "via": via,
    }
    assert gobbler.usage(project) == 0


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        (("OTHER", "..usage"), "unexpected link to file outside of a project asset version directory"),
        (("OTHER", "o", "..latest"), "unexpected link to file outside of a project asset version directory"),
        (("OTHER", "o", "v1", "..manifest"), "link components cannot refer to internal '..' files"),
        (("OTHER", "o", "v1", "..summary"), "link components cannot refer to internal '..' files"),
        (("OTHER", "o", "stray", "file"), "cannot read the version summary"),
        (
            ("OTHER", "o", "probational", "f"),
            "cannot link to file inside a probational project version asset",
        ),
        (("OTHER", "o", "v1", "unlisted"), "could not find link target 'unlisted' in the manifest of"),
        (("OTHER", "o", "v1"), "is a directory"),
        (("OTHER", "o", "v1", "missing"), "failed to stat target of link"),
    ],
)
def test_forbidden_registry_links_fail_and_remove_the_version(
    gobbler: Gobbler, project: str, target: tuple[str, ...], fragment: str
) -> None:
    other = gobbler.create_project()
    gobbler.ok_upload(other, "o", "v1", {"f": "1"})
    gobbler.ok_upload(other, "o", "probational", {"f": "1"}, on_probation=True)
    gobbler.path(other, "o", "v1", "unlisted").write_text("not in the manifest")
    stray = gobbler.path(other, "o", "stray")
    stray.mkdir()
    (stray / "file").write_text("x")
    parts = [other if part == "OTHER" else part for part in target]
    reply = gobbler.upload(project, "a", "v1", {"ok": "fine", "sub/bad": registry_link(gobbler, *parts)})
    assert reply.status == 500, reply
    assert fragment in reply.reason
    assert not gobbler.path(project, "a", "v1").exists()
    assert gobbler.usage(project) == 0


def test_link_into_the_version_being_uploaded_is_refused(gobbler: Gobbler, project: str) -> None:
    # The version directory exists while the source is walked, so the target resolves on disk.
    target = gobbler.path(project, "a", "v1", "f")
    reply = gobbler.upload(project, "a", "v1", {"f": "1", "g": Link(str(target))})
    assert reply.status == 500, reply
    assert not gobbler.path(project, "a", "v1").exists()


# ------------------------------------------------------------------------------------ bad symlinks (23)


@pytest.mark.parametrize(
    ("tree", "fields", "fragment"),
    [
        ({"d/f": "1", "l": Link("d")}, {}, "is a directory"),
        ({"l": Link("nothing-here")}, {}, "failed to stat target of link"),
        ({"a": Link("b"), "b": Link("a")}, {}, "too many levels of symbolic links"),
        (
            {"..secret": "1", "l": Link("..secret")},
            {},
            "should point to a file in the manifest or another symlink",
        ),
        ({".dot": "1", "l": Link(".dot")}, {"ignore_dot": True}, "should point to a file in the manifest"),
        ({".d/f": "1", "l": Link(".d/f")}, {"ignore_dot": True}, "should point to a file in the manifest"),
        ({"l": Link("/etc/hostname")}, {}, "outside the registry directory is not allowed"),
        (
            {"l": Link("../../../../../../../../etc/hostname")},
            {},
            "outside the registry directory is not allowed",
        ),
    ],
)
def test_bad_symlinks_fail_the_upload(
    gobbler: Gobbler, project: str, tree: dict[str, Any], fields: dict[str, Any], fragment: str
) -> None:
    reply = gobbler.upload(project, "a", "v1", {"keep": "k", **tree}, **fields)
    assert reply.status == 500, reply
    assert fragment in reply.reason
    assert not gobbler.path(project, "a", "v1").exists()
    assert gobbler.latest(project, "a") is None
    assert gobbler.usage(project) == 0


def test_dotfile_links_work_without_ignore_dot(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {".dot": "1", "l": Link(".dot")})
    assert gobbler.manifest(project, "a", "v1")["l"] == entry("1", ref(project, "a", "v1", ".dot"))


# ------------------------------------------------------------------------------------ whitelist (24)


def test_whitelisted_links_keep_their_absolute_target(
    gobbler: Gobbler, project: str, whitelisted_dir: Path
) -> None:
    name = unique("ext")
    external = whitelisted_dir / name / "data.bin"
    external.parent.mkdir()
    external.write_text("external content")
    spelled = f"{whitelisted_dir}//{name}/./data.bin"
    gobbler.ok_upload(project, "a", "v1", {"ext": Link(spelled), "sub/rel": Link("../ext")})
    manifest = gobbler.manifest(project, "a", "v1")
    assert manifest == {
        "ext": entry("external content"),
        "sub/rel": entry("external content", ref(project, "a", "v1", "ext")),
    }
    # The absolute text is kept as written, not cleaned.
    assert readlink(gobbler, project, "a", "v1", "ext") == spelled
    assert readlink(gobbler, project, "a", "v1", "sub/rel") == "../ext"
    # Never in ..links, but counted in usage.
    assert not gobbler.path(project, "a", "v1", "..links").exists()
    assert links_file(gobbler, project, "a", "v1", "sub") == {"rel": ref(project, "a", "v1", "ext")}
    assert gobbler.usage(project) == len("external content")


def test_whitelisted_directory_itself_cannot_be_linked(
    gobbler: Gobbler, project: str, whitelisted_dir: Path
) -> None:
    reply = gobbler.upload(project, "a", "v1", {"l": Link(str(whitelisted_dir))})
    assert reply.status == 500, reply
    assert "is a directory" in reply.reason


def test_non_whitelisted_external_links_fail(gobbler: Gobbler, project: str, whitelisted_dir: Path) -> None:
    # A sibling whose name merely starts like the whitelisted directory is not inside it.
    sibling = Path(f"{whitelisted_dir}-sibling")
    sibling.mkdir(exist_ok=True)
    (sibling / "f").write_text("x")
    reply = gobbler.upload(project, "a", "v1", {"l": Link(str(sibling / "f"))})
    assert reply.status == 500, reply
    assert "outside the registry directory is not allowed" in reply.reason
    assert not gobbler.path(project, "a", "v1").exists()


# ------------------------------------------------------------------------------------ consume (25)


def test_consume_moves_transferred_files_only(gobbler: Gobbler, project: str) -> None:
    gobbler.ok_upload(project, "a", "v1", {"old": "existing"})
    tree = {"dup": "existing", "new": "brand new", "sub/deep": "deeper", "lnk": Link("new"), "empty": None}
    source = gobbler.source(tree)
    root = gobbler.staging / source
    inode = (root / "new").stat().st_ino
    os.chmod(root / "new", 0o600)
    gobbler.ok_upload(project, "a", "v2", source, consume=True)

    # Deduplicated files, symlinks and directories stay; transferred files are gone from the source.
    assert all_names(root) == ["dup", "empty", "lnk", "sub"]
    assert os.readlink(root / "lnk") == "new"
    moved = gobbler.path(project, "a", "v2", "new")
    assert moved.read_text() == "brand new"
    assert moved.stat().st_ino == inode  # renamed, not copied
    assert moved.stat().st_mode & 0o777 == 0o644
    assert gobbler.manifest(project, "a", "v2") == {
        "dup": entry("existing", ref(project, "a", "v1", "old")),
        "empty": EMPTY_DIR,
        "lnk": entry("brand new", ref(project, "a", "v2", "new")),
        "new": entry("brand new"),
        "sub/deep": entry("deeper"),
    }
    assert gobbler.usage(project) == 8 + 9 + 6


def test_without_consume_the_source_is_untouched(gobbler: Gobbler, project: str) -> None:
    source = gobbler.source({"f": "1", "sub/g": "2", "l": Link("f")})
    root = gobbler.staging / source
    inode = (root / "f").stat().st_ino
    gobbler.ok_upload(project, "a", "v1", source)
    assert all_names(root) == ["f", "l", "sub", "sub/g"]
    assert (root / "f").stat().st_ino == inode
    assert gobbler.path(project, "a", "v1", "f").stat().st_ino != inode


@pytest.mark.root_only
def test_consume_copies_and_deletes_files_owned_by_others(gobbler: Gobbler, project: str) -> None:
    users = other_users()
    if not users:
        pytest.skip("no other account")
    _, uid, gid = users[0]
    source = gobbler.source({"f": "content"})
    root = gobbler.staging / source
    os.lchown(root / "f", uid, gid)
    inode = (root / "f").stat().st_ino
    gobbler.ok_upload(project, "a", "v1", source, consume=True)
    assert os.listdir(root) == []
    copied = gobbler.path(project, "a", "v1", "f")
    assert copied.read_text() == "content"
    assert copied.stat().st_uid == os.getuid()
    assert copied.stat().st_ino != inode
    assert gobbler.manifest(project, "a", "v1") == {"f": entry("content")}
