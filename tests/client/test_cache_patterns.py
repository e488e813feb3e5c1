"""``fetch_directory(allow_patterns=, ignore_patterns=, local_dir=)`` on both transports."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gobbler_sdk import GobblerClient, InvalidRequestError, UnsafePathError, Version
from gobbler_sdk._filecopy import copy_descriptor
from gobbler_sdk._globs import path_filter
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import Link, LyingServer, make_tree, snapshot, unique

TREE = {
    "README.txt": "read me",
    "tables/counts.csv": "place,count\nnorth,12\n",
    "tables/old/2019.csv": "place,count\n",
    "tables/notes.md": "notes",
    "img/a.png": "png",
    "alias": Link("tables/counts.csv"),
    "empty": None,
}
USER_FILES = {
    "README.txt",
    "tables/counts.csv",
    "tables/old/2019.csv",
    "tables/notes.md",
    "img/a.png",
    "alias",
}
PATHS = [*sorted(USER_FILES), "empty/"]


@pytest.mark.parametrize(
    ("allow", "ignore", "selected"),
    [
        ("*.csv", None, ["tables/counts.csv", "tables/old/2019.csv"]),
        ("tables/*.csv", None, ["tables/counts.csv"]),
        ("tables/**/*.csv", None, ["tables/counts.csv", "tables/old/2019.csv"]),
        ("/tables/**", None, ["tables/counts.csv", "tables/notes.md", "tables/old/2019.csv"]),
        ("tables", None, ["tables/counts.csv", "tables/notes.md", "tables/old/2019.csv"]),
        ("tables/old/", None, ["tables/old/2019.csv"]),
        ("*/", None, ["empty/", "img/a.png", "tables/counts.csv", "tables/notes.md", "tables/old/2019.csv"]),
        (["?EADME.*", "[ab]*"], None, ["README.txt", "alias", "img/a.png"]),  # a.png is a name too
        ("/[!t]*", "*.txt", ["alias", "empty/", "img/a.png"]),
        (None, ["old", "*.md", "img/"], ["README.txt", "alias", "empty/", "tables/counts.csv"]),
        # A name pattern matches directories too, and with them everything below.
        ("t*", None, ["tables/counts.csv", "tables/notes.md", "tables/old/2019.csv"]),
    ],
)
def test_glob_rules(
    allow: str | list[str] | None, ignore: str | list[str] | None, selected: list[str]
) -> None:
    select = path_filter(allow, ignore)
    assert select is not None
    assert sorted(p for p in PATHS if select(p)) == sorted(selected)


def test_no_patterns_select_everything_and_bad_ones_are_refused() -> None:
    assert path_filter(None, None) is None
    for bad in ("", "/", [""], [3], b"*.csv"):
        with pytest.raises(InvalidRequestError):
            path_filter(bad, None)  # type: ignore[arg-type]


@pytest.fixture
def version(service: GobblerService, client: GobblerClient) -> Version:
    name = new_project(service)
    source = make_tree(service.staging / unique("src"), TREE)
    service.request("upload", {"source": source.name, "project": name, "asset": "a", "version": "v1"})
    return client.project(name).asset("a").version("v1")


def user_files(directory: Path) -> set[str]:
    return {p for p in snapshot(directory) if not (directory / p).is_dir() and not p.startswith("..")}


def test_patterns_choose_what_is_downloaded(
    service: GobblerService, proxy: LyingServer, make_client: Callable[..., GobblerClient]
) -> None:
    name = new_project(service)
    source = make_tree(service.staging / unique("src"), TREE)
    service.request("upload", {"source": source.name, "project": name, "asset": "a", "version": "v1"})
    remote = make_client(proxy.url, transport="remote")
    version = remote.project(name).asset("a").version("v1")
    directory = version.fetch_directory(allow_patterns="*.csv", ignore_patterns="old/")
    assert directory == remote.cache_dir / "REGISTRY" / version.key
    assert user_files(directory) == {"tables/counts.csv"}
    fetched = {p.split(version.key + "/", 1)[1] for p in proxy.paths("/fetch/")}
    assert {p for p in fetched if not p.startswith("..")} == {"tables/counts.csv"}
    # A link selected without its target gets the target's bytes under its own name only.
    version.fetch_directory(allow_patterns="alias")
    assert user_files(directory) == {"tables/counts.csv", "alias"}
    assert (directory / "alias").read_text() == TREE["tables/counts.csv"]
    assert version.fetch_directory(ignore_patterns="*") == directory
    assert not (directory / "empty").exists()
    version.fetch_directory()
    assert user_files(directory) == USER_FILES and (directory / "empty").is_dir()


def test_local_dir_holds_independent_copies(client: GobblerClient, version: Version, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert version.fetch_directory(local_dir=out) == out
    assert user_files(out) == USER_FILES
    assert (out / "empty").is_dir()
    assert not any(p.startswith("..") for p in os.listdir(out))
    source_dir = version.fetch_directory()  # the registry's own directory, or the cache's
    for relative in USER_FILES:
        copy, original = out / relative, source_dir / relative
        assert not copy.is_symlink() and copy.stat().st_nlink == 1
        assert copy.stat().st_ino != original.stat().st_ino
        assert copy.read_bytes() == original.read_bytes()
    (out / "tables" / "counts.csv").write_text("edited")
    assert (source_dir / "tables" / "counts.csv").read_text() == TREE["tables/counts.csv"]
    # A copy that no longer matches the manifest is replaced; the rest are kept as they are.
    inode = (out / "README.txt").stat().st_ino
    version.fetch_directory(local_dir=out)
    assert (out / "tables" / "counts.csv").read_text() == TREE["tables/counts.csv"]
    assert (out / "README.txt").stat().st_ino == inode
    assert [p for p in snapshot(out) if os.path.basename(p).startswith(".gobbler-")] == []


def test_local_dir_with_patterns(client: GobblerClient, version: Version, tmp_path: Path) -> None:
    out = tmp_path / "some"
    client.fetch_directory(f"{version.key}/tables", local_dir=out, allow_patterns="*.csv")
    assert user_files(out) == {"counts.csv", "old/2019.csv"}


def test_local_dir_never_writes_through_a_planted_symlink(
    client: GobblerClient, version: Version, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(elsewhere, out / "tables")
    with pytest.raises(UnsafePathError):
        version.fetch_directory(local_dir=out)
    assert os.listdir(elsewhere) == []


def test_the_copy_is_done_by_the_kernel_where_it_can(tmp_path: Path) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    source.write_bytes(os.urandom(3 << 20))
    with open(source, "rb") as reader, open(target, "wb") as writer:
        how = copy_descriptor(reader.fileno(), writer.fileno(), 3 << 20)
    assert how in ("reflink", "copy_file_range")
    assert target.read_bytes() == source.read_bytes()
    assert os.stat(target).st_ino != os.stat(source).st_ino
