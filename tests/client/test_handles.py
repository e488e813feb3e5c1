"""Handles: lazy (no I/O), immutable, hashable, ordered, readable; names checked before anything happens."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest

from gobbler_sdk import (
    Asset,
    GobblerClient,
    InvalidNameError,
    InvalidRequestError,
    Project,
    ServiceUnavailableError,
    UnsafePathError,
    Version,
)
from gobbler_sdk.testing import free_port


@pytest.fixture
def offline(make_client: Callable[..., GobblerClient]) -> GobblerClient:
    """A client whose URL points at a closed port: any I/O fails with ServiceUnavailableError."""
    return make_client(f"http://127.0.0.1:{free_port()}", retries=0)


def test_handles_do_no_io(offline: GobblerClient) -> None:
    project = offline.project("p")
    asset = project.asset("a")
    version = asset.version("v1")
    also, path = offline.unpack_path("p/a/v1/dir/file.txt")

    assert (project.name, asset.name, version.name) == ("p", "a", "v1")
    assert (project.path, asset.path, version.path) == ("p", "p/a", "p/a/v1")
    assert (version.asset, version.project, asset.project) == (asset, project, project)
    assert (also, path) == (version, "dir/file.txt")
    assert repr(version) == "Version('p/a/v1')"
    assert hash(version) == hash(also)
    # Only now does anything touch the network, and the closed port says so.
    with pytest.raises(ServiceUnavailableError):
        version.manifest()
    with pytest.raises(ServiceUnavailableError):
        version.manifest(force_remote=True)


def test_repr_path_and_key(offline: GobblerClient) -> None:
    version = offline.project("proj").asset("asset").version("v 1")
    assert [repr(h) for h in (version.project, version.asset, version)] == [
        "Project('proj')",
        "Asset('proj/asset')",
        "Version('proj/asset/v 1')",
    ]
    assert type(version.path) is str  # a key only: nothing to call, nothing read
    assert str(version.path) == version.key == "proj/asset/v 1"
    assert f"{version.path}/x" == "proj/asset/v 1/x"
    assert version.client is offline


def test_equality_hashing_and_ordering(
    offline: GobblerClient, make_client: Callable[..., GobblerClient]
) -> None:
    project = offline.project("p")
    v2, v10, v1 = (project.asset("a").version(n) for n in ("v2", "v10", "v1"))
    assert v1 == offline.project("p").asset("a").version("v1")
    assert v1 != v2
    assert len({v1, v2, v10, offline.project("p").asset("a").version("v1")}) == 3
    assert {v1: "one"}[project.asset("a").version("v1")] == "one"
    assert sorted([v2, v10, v1]) == [v1, v10, v2]
    assert v1 < v2 and v2 > v1 and v1 <= v1 and v2 >= v1
    # Different kinds and different clients are different things.
    assert project != project.asset("p")
    assert project != "p"
    other = make_client("http://127.0.0.1:1")
    assert other.project("p") != project
    assert sorted([project.asset("b"), project.asset("a")]) == [project.asset("a"), project.asset("b")]


def test_handles_are_immutable(offline: GobblerClient) -> None:
    version = offline.project("p").asset("a").version("v")
    with pytest.raises(AttributeError):
        version.name = "w"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        version._parts = ("x", "y", "z")
    with pytest.raises(AttributeError):
        del version._parts
    with pytest.raises(AttributeError):
        version.anything = 1  # type: ignore[attr-defined]
    assert version.key == "p/a/v"


def test_handles_survive_copying(offline: GobblerClient) -> None:
    version = offline.project("p").asset("a").version("v")
    assert copy.copy(version) == version
    assert copy.deepcopy(version) == version
    assert copy.deepcopy({"k": [version]}) == {"k": [version]}


@pytest.mark.parametrize("bad", ["", "a/b", "a\\b", "..", "..hidden", "../x"])
def test_invalid_names_are_rejected_without_io(offline: GobblerClient, bad: str) -> None:
    with pytest.raises(InvalidNameError) as caught:
        offline.project(bad)
    assert isinstance(caught.value, ValueError)
    assert caught.value.status is None
    with pytest.raises(InvalidNameError):
        offline.project("p").asset(bad)
    with pytest.raises(InvalidNameError):
        offline.project("p").asset("a").version(bad)
    with pytest.raises(InvalidNameError):
        offline.create_project(bad)


def test_unusual_but_valid_names(offline: GobblerClient) -> None:
    for name in (".hidden", "a b", "x+y%z", "ünï", "a..b", "tab\there", "x" * 255):
        assert offline.project(name).asset(name).version(name).key == f"{name}/{name}/{name}"


def test_non_string_names(offline: GobblerClient) -> None:
    with pytest.raises(InvalidNameError):
        offline.project(1)  # type: ignore[arg-type]


def test_unpack_path(offline: GobblerClient) -> None:
    version = offline.project("p").asset("a").version("v")
    assert offline.unpack_path("p/a/v") == (version, None)
    assert offline.unpack_path("/p/a/v/") == (version, None)
    assert offline.unpack_path("p/a/v/sub/x.txt") == (version, "sub/x.txt")
    with pytest.raises(InvalidRequestError):
        offline.unpack_path("p/a")
    with pytest.raises(UnsafePathError):
        offline.unpack_path("p/../a/v")
    with pytest.raises(UnsafePathError):
        offline.unpack_path("p//a/v")
    with pytest.raises(InvalidNameError):
        offline.unpack_path("p/..a/v")


def test_version_file_paths_are_checked_before_io(offline: GobblerClient) -> None:
    version = offline.project("p").asset("a").version("v")
    for bad in ("../x", "/etc/passwd", "a\\b", "a//b", ""):
        with pytest.raises(UnsafePathError):
            version.fetch(bad)


def test_handles_can_be_built_directly(offline: GobblerClient) -> None:
    project = Project(offline, "p")
    asset = Asset(project, "a")
    assert Version(asset, "v") == offline.project("p").asset("a").version("v")


def test_the_local_directory_is_a_method_not_the_path(offline: GobblerClient, tmp_path: Path) -> None:
    version = offline.project("p").asset("a").version("v")
    with pytest.raises(ServiceUnavailableError):
        version.fetch_directory()
