"""``GET /list`` (PROTOCOL.md 3.5; edge case 47): ordering, recursion, double decoding, path checks.

Listings do not care how files got into the registry, so most trees here are written straight to disk.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from .harness import Gobbler, RawReply, raw_request, unique


def _make(root: Path, tree: dict[str, str | None]) -> None:
    """Files (str content), empty directories (None) and symlinks ("-> target")."""
    for relative, content in tree.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            path.mkdir(exist_ok=True)
        elif content.startswith("-> "):
            os.symlink(content[3:], path)
        else:
            path.write_text(content)


def _list(gobbler: Gobbler, query: str) -> RawReply:
    return raw_request(gobbler.url, "GET", f"/list?{query}" if query else "/list")


def _ok(gobbler: Gobbler, query: str) -> list[str]:
    reply = _list(gobbler, query)
    assert reply.status == 200, reply.body
    assert reply.header("Content-Type") == "application/json"
    assert reply.header("Access-Control-Allow-Origin") == "*"
    listing = json.loads(reply.body)
    assert isinstance(listing, list)
    return listing


def _error(gobbler: Gobbler, query: str, status: int, reason: str) -> None:
    reply = _list(gobbler, query)
    assert reply.status == status, reply.body
    assert reply.header("Content-Type") == "application/json"
    body = json.loads(reply.body)
    assert body["status"] == "ERROR"
    assert reason in body["reason"]


@pytest.fixture
def tree(gobbler: Gobbler) -> str:
    """A directory in the registry with a bit of everything; returns its registry-relative name."""
    name = unique("list")
    _make(
        gobbler.registry / name,
        {
            "a.txt": "1",
            "a/x": "2",
            "a/l": "-> ../sub",
            "a-/z": "3",
            "B": "4",
            "_u": "5",
            "é": "6",
            "sub/b.txt": "7",
            "..manifest": "{}",
            "linkdir": "-> sub",
            "dangling": "-> nowhere",
            "deep/er": None,
            "emptyparent/x/y": None,
            "e2/file": "8",
            "e2/f": None,
            "e2/g": None,
        },
    )
    return name


# ------------------------------------------------------------------------------ ordering


def test_non_recursive_lists_children_bytewise_with_dir_slashes(gobbler: Gobbler, tree: str) -> None:
    assert _ok(gobbler, f"path={tree}") == [
        "..manifest",
        "B",
        "_u",
        "a/",
        "a-/",
        "a.txt",
        "dangling",
        "deep/",
        "e2/",
        "emptyparent/",
        "linkdir",
        "sub/",
        "é",
    ]


def test_recursive_is_preorder_with_empty_directories_last(gobbler: Gobbler, tree: str) -> None:
    listing = _ok(gobbler, f"path={tree}&recursive=true")
    files = [
        "..manifest",
        "B",
        "_u",
        "a/l",
        "a/x",
        "a-/z",
        "a.txt",
        "dangling",
        "e2/file",
        "linkdir",
        "sub/b.txt",
        "é",
    ]
    assert listing[: len(files)] == files
    # Only the deepest empty directories, in an unspecified order.
    assert sorted(listing[len(files) :]) == ["deep/er/", "e2/f/", "e2/g/", "emptyparent/x/y/"]


def test_recursive_listing_of_the_fresh_registry_root(start_gobbler_variant: Callable[..., Gobbler]) -> None:
    fresh = start_gobbler_variant()
    assert _ok(fresh, "") == ["..logs/"]
    assert _ok(fresh, "recursive=true") == ["..logs/"]


@pytest.mark.parametrize("value", ["True", "1", "yes", "TRUE", "", "true "])
def test_only_the_exact_word_true_recurses(gobbler: Gobbler, tree: str, value: str) -> None:
    query = f"path={tree}/e2&recursive={value.replace(' ', '+')}"
    assert _ok(gobbler, query) == ["f/", "file", "g/"]


def test_first_value_of_a_repeated_parameter_wins(gobbler: Gobbler, tree: str) -> None:
    assert _ok(gobbler, f"path={tree}/sub&path={tree}/e2&recursive=true&recursive=false") == ["b.txt"]


def test_empty_directory_lists_nothing(gobbler: Gobbler, tree: str) -> None:
    assert _ok(gobbler, f"path={tree}/deep/er") == []
    assert _ok(gobbler, f"path={tree}/deep/er&recursive=true") == []


def test_json_escaping_of_html_characters(gobbler: Gobbler) -> None:
    name = unique("esc")
    _make(gobbler.registry / name, {"a<b>&c": "x"})
    reply = _list(gobbler, f"path={name}")
    assert reply.body == b'["a\\u003cb\\u003e\\u0026c"]'


# ------------------------------------------------------------------------------ targets


def test_file_target_lists_nothing(gobbler: Gobbler, tree: str) -> None:
    assert _ok(gobbler, f"path={tree}/a.txt") == []
    assert _ok(gobbler, f"path={tree}/a.txt&recursive=true") == []
    assert _ok(gobbler, f"path={tree}/a.txt/") == []


def test_symlink_targets_are_not_followed(gobbler: Gobbler, tree: str) -> None:
    assert _ok(gobbler, f"path={tree}/linkdir") == []
    assert _ok(gobbler, f"path={tree}/linkdir/") == []
    assert _ok(gobbler, f"path={tree}/dangling") == []


def test_missing_target_is_a_500(gobbler: Gobbler, tree: str) -> None:
    _error(gobbler, f"path={tree}/nothing", 500, "failed to obtain a directory listing")
    _error(gobbler, f"path={tree}/a.txt/x", 500, "failed to obtain a directory listing")
    _error(gobbler, f"path={unique('missing')}&recursive=true", 500, "failed to obtain a directory listing")


def test_nul_byte_in_the_path_is_a_500(gobbler: Gobbler) -> None:
    _error(gobbler, "path=a%2500b", 500, "failed to obtain a directory listing")


@pytest.mark.parametrize("query", ["", "path=", "path=.", "path=./", "recursive=false"])
def test_root_listing(gobbler: Gobbler, tree: str, query: str) -> None:
    listing = _ok(gobbler, query)
    assert "..logs/" in listing
    assert f"{tree}/" in listing


@pytest.mark.parametrize(
    "path_template",
    ["{t}/a/../a", "./{t}/a", "{t}/./a/", "{t}//a", "{t}%2Fa", "{t}/sub/../a"],
)
def test_local_paths_with_dots_are_fine(gobbler: Gobbler, tree: str, path_template: str) -> None:
    assert _ok(gobbler, "path=" + path_template.format(t=tree)) == ["l", "x"]


@pytest.mark.parametrize(
    "path", ["..", "../x", "/etc", "//", "/", "a/../..", "%2e%2e", "%252e%252e", "..%2F"]
)
def test_non_local_paths_are_400(gobbler: Gobbler, path: str) -> None:
    _error(gobbler, f"path={path}", 400, "'path' is not local to the registry")


# ------------------------------------------------------------------------------ double decoding


@pytest.fixture
def odd_names(gobbler: Gobbler) -> str:
    name = unique("odd")
    _make(
        gobbler.registry / name,
        {"pc%t/in": "1", "pl+us/in": "2", "sp ace/in": "3", "pc%41/in": "4", "pcA/in": "5"},
    )
    return name


@pytest.mark.parametrize("encoded", ["sp%20ace", "sp+ace", "sp%2520ace", "sp%2Bace"])
def test_spaces(gobbler: Gobbler, odd_names: str, encoded: str) -> None:
    assert _ok(gobbler, f"path={odd_names}/{encoded}") == ["in"]


def test_plus_must_be_double_encoded(gobbler: Gobbler, odd_names: str) -> None:
    assert _ok(gobbler, f"path={odd_names}/pl%252Bus") == ["in"]
    # A single-encoded plus turns into "+" and then into a space.
    _error(gobbler, f"path={odd_names}/pl%2Bus", 500, "failed to obtain a directory listing")


def test_percent_must_be_double_encoded(gobbler: Gobbler, odd_names: str) -> None:
    assert _ok(gobbler, f"path={odd_names}/pc%2525t") == ["in"]
    assert _ok(gobbler, f"path={odd_names}/pc%252541") == ["in"]
    # Decoded twice, %2541 becomes %41 and then "A".
    assert _ok(gobbler, f"path={odd_names}/pc%2541") == ["in"]


@pytest.mark.parametrize("query_path", ["pc%25t", "pc%25zz", "%25", "a%252"])
def test_invalid_escape_after_the_first_decoding_is_400(
    gobbler: Gobbler, odd_names: str, query_path: str
) -> None:
    _error(gobbler, f"path={odd_names}/{query_path}", 400, "invalid 'path'")


def test_invalid_escape_in_the_query_itself_drops_the_parameter(gobbler: Gobbler) -> None:
    # The framework's own decoding fails, so "path" is simply absent: the root is listed.
    assert "..logs/" in _ok(gobbler, "path=%zz")


def test_semicolon_pairs_are_dropped(gobbler: Gobbler, tree: str) -> None:
    assert "..logs/" in _ok(gobbler, f"path={tree};x=1")


# ------------------------------------------------------------------------------ internal files


def test_internal_and_lock_files_are_listed(start_gobbler_variant: Callable[..., Gobbler]) -> None:
    fresh = start_gobbler_variant()
    project = fresh.create_project()
    assert _ok(fresh, "") == ["..LOCK", "..logs/", f"{project}/"]
    assert _ok(fresh, f"path={project}") == ["..permissions", "..quota", "..usage"]
    assert _ok(fresh, "recursive=true") == [
        "..LOCK",
        f"{project}/..permissions",
        f"{project}/..quota",
        f"{project}/..usage",
        "..logs/",
    ]


def test_names_that_are_not_utf8_are_escaped(gobbler: Gobbler) -> None:
    name = unique("bytes")
    root = os.fsencode(gobbler.registry / name)
    os.makedirs(os.path.join(root, b"x\xfe\xffy"))
    reply = _list(gobbler, f"path={name}")
    assert reply.status == 200
    assert reply.body == b'["x\\ufffd\\ufffdy/"]'


def test_very_deep_tree(gobbler: Gobbler) -> None:
    name = unique("deep")
    depth = 1200  # beyond Python's default recursion limit
    (gobbler.registry / name).mkdir()
    # Walk with one directory descriptor at a time: os.makedirs and shutil.rmtree would recurse too deeply.
    fd = os.open(gobbler.registry / name, os.O_RDONLY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    try:
        assert _ok(gobbler, f"path={name}&recursive=true") == ["d/" * depth + "f"]
    finally:
        os.unlink("f", dir_fd=fd)
        for _ in range(depth):
            parent = os.open("..", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            os.rmdir("d", dir_fd=parent)
            fd = parent
        os.close(fd)
