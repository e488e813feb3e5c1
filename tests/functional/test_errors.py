"""Errors: what pygobbler reports as ``requests.HTTPError(status, reason)``, gobbler_sdk.functional reports as
the matching :class:`~gobbler_sdk.GobblerError` subclass carrying the same HTTP status."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pygobbler
import pytest
import requests

import gobbler_sdk.functional as sdk
from gobbler_sdk import (
    GobblerError,
    InvalidNameError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ServiceError,
)

from .conftest import Env, http_status, make_tree, unique

KIND = {400: InvalidRequestError, 403: PermissionDeniedError, 404: NotFoundError, 500: ServiceError}


def failure(call: Callable[[], Any]) -> BaseException:
    try:
        call()
    except Exception as exc:
        return exc
    raise AssertionError("expected an error")


@pytest.fixture(scope="module")
def project(env: Env, tmp_path_factory: pytest.TempPathFactory) -> str:
    name = unique("errors")
    pygobbler.create_project(name, env.staging, env.url)
    work = tmp_path_factory.mktemp("errors")
    for version, probation in (("v1", False), ("v2", True)):
        source = make_tree(work / version, {"f.txt": version})
        pygobbler.upload_directory(name, "a", version, str(source), env.staging, env.url, probation=probation)
    return name


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_tree(tmp_path_factory.mktemp("errors-source") / "src", {"g.txt": "golf"}))


# (function, arguments given the environment, the test project and a source directory, expected status)
CASES: list[tuple[str, Callable[[Env, str, str], tuple[Any, ...]], dict[str, Any], int]] = [
    ("create_project", lambda e, p, s: (p, e.staging, e.url), {}, 400),
    ("upload_directory", lambda e, p, s: ("no-such-project", "a", "v", s, e.staging, e.url), {}, 404),
    ("upload_directory", lambda e, p, s: (p, "a", "v1", s, e.staging, e.url), {}, 400),
    ("upload_directory", lambda e, p, s: (p, "a", "v9", s, e.staging, e.url), {"spoof": "mallory"}, 403),
    (
        "set_permissions",
        lambda e, p, s: ("no-such-project", e.registry, e.staging, e.url),
        {"owners": ["x"], "append": False},
        404,
    ),
    (
        "set_permissions",
        lambda e, p, s: (p, e.registry, e.staging, e.url),
        {"owners": ["mallory"], "append": False, "spoof": "mallory"},
        403,
    ),
    ("approve_probation", lambda e, p, s: (p, "a", "v1", e.staging, e.url), {}, 500),
    ("approve_probation", lambda e, p, s: (p, "a", "v9", e.staging, e.url), {}, 404),
    ("approve_probation", lambda e, p, s: (p, "a", "v2", e.staging, e.url), {"spoof": "mallory"}, 403),
    ("reject_probation", lambda e, p, s: (p, "no-such-asset", "v2", e.staging, e.url), {}, 404),
    ("refresh_latest", lambda e, p, s: (p, "no-such-asset", e.staging, e.url), {}, 404),
    ("refresh_usage", lambda e, p, s: ("no-such-project", e.staging, e.url), {}, 404),
    ("reindex_version", lambda e, p, s: (p, "a", "v9", e.staging, e.url), {}, 404),
    ("validate_version", lambda e, p, s: (p, "no-such-asset", "v1", e.staging, e.url), {}, 404),
    ("reroute_links", lambda e, p, s: ([{"project": "no-such-project"}], e.staging, e.url), {}, 500),
    ("list_assets", lambda e, p, s: ("no-such-project", e.registry, e.url), {"force_remote": True}, 500),
    ("list_versions", lambda e, p, s: (p, "no-such-asset", e.registry, e.url), {"force_remote": True}, 500),
]


@pytest.mark.parametrize(
    ("function", "arguments", "options", "status"),
    CASES,
    ids=[f"{case[0]}-{case[3]}-{i}" for i, case in enumerate(CASES)],
)
def test_same_status_from_the_service(
    env: Env,
    project: str,
    source: str,
    function: str,
    arguments: Callable[[Env, str, str], tuple[Any, ...]],
    options: dict[str, Any],
    status: int,
) -> None:
    args = arguments(env, project, source)
    theirs = failure(lambda: getattr(pygobbler, function)(*args, **options))
    ours = failure(lambda: getattr(sdk, function)(*args, **options))
    assert isinstance(theirs, requests.HTTPError)
    assert http_status(theirs) == status
    # A listing of a missing directory is a 500 from the service; ours says what it means, keeping the status.
    assert isinstance(ours, NotFoundError if function.startswith("list_") else KIND[status])
    assert ours.status == status
    assert ours.reason and ours.reason == theirs.args[1]


def test_validation_failure_is_a_service_error(env: Env, project: str, tmp_path: Path) -> None:
    name = unique("invalid")
    pygobbler.create_project(name, env.staging, env.url)
    pygobbler.upload_directory(
        name, "a", "v1", str(make_tree(tmp_path / "v1", {"f": "ff"})), env.staging, env.url
    )
    (Path(env.registry) / name / "a" / "v1" / "f").write_text("changed")
    theirs = failure(lambda: pygobbler.validate_version(name, "a", "v1", env.staging, env.url))
    ours = failure(lambda: sdk.validate_version(name, "a", "v1", env.staging, env.url))
    assert http_status(theirs) == 500
    assert isinstance(ours, ServiceError) and ours.status == 500


@pytest.mark.parametrize(
    ("function", "arguments"),
    [
        ("fetch_summary", lambda e, p: (p, "a", "v9", e.registry, e.url)),
        ("fetch_manifest", lambda e, p: (p, "a", "v9", e.registry, e.url)),
        ("fetch_permissions", lambda e, p: ("no-such-project", e.registry, e.url)),
        ("fetch_usage", lambda e, p: ("no-such-project", e.registry, e.url)),
        ("fetch_file", lambda e, p: (f"{p}/a/v1/missing.txt", e.registry, e.url)),
    ],
)
def test_missing_documents_remotely(
    env: Env, project: str, function: str, arguments: Callable[[Env, str], tuple[Any, ...]], tmp_path: Path
) -> None:
    args = arguments(env, project)
    theirs = failure(lambda: getattr(pygobbler, function)(*args, force_remote=True))
    ours = failure(lambda: getattr(sdk, function)(*args, force_remote=True))
    assert http_status(theirs) == 404
    assert isinstance(ours, NotFoundError)
    # Reads that find nothing may not have asked the service for that exact path (a file is looked up in its
    # version's manifest first), so their status is 404 when they did and None otherwise.
    assert ours.status in (404, None)
    # Locally pygobbler lets FileNotFoundError escape; ours is the same NotFoundError (a LookupError).
    local = failure(lambda: getattr(sdk, function)(*args))
    assert isinstance(local, NotFoundError) and isinstance(local, LookupError)


@pytest.mark.parametrize(
    ("function", "arguments"),
    [
        ("create_project", lambda e: ("bad/name", e.staging, e.url)),
        ("create_project", lambda e: ("..dots", e.staging, e.url)),
        ("upload_directory", lambda e: ("p", "a", "", "/nonexistent", e.staging, e.url)),
        ("remove_version", lambda e: ("p", "a/b", "v", e.staging, e.url)),
    ],
)
def test_invalid_names_are_refused_before_sending(
    env: Env, function: str, arguments: Callable[[Env], tuple[Any, ...]]
) -> None:
    args = arguments(env)
    theirs = failure(lambda: getattr(pygobbler, function)(*args))
    ours = failure(lambda: getattr(sdk, function)(*args))
    assert http_status(theirs) == 400
    # A 400-class error raised without a round trip, so it carries no HTTP status; it is also a ValueError.
    assert isinstance(ours, InvalidNameError) and isinstance(ours, ValueError)
    assert ours.status is None


@pytest.mark.parametrize(
    "uploaders",
    [[{"until": "2030-01-01T00:00:00Z"}], [{"id": "bob", "until": "next week"}]],
    ids=["id", "until"],
)
def test_malformed_uploader_is_refused_before_sending(env: Env, uploaders: list[dict[str, str]]) -> None:
    theirs_name, ours_name = unique("uploaders"), unique("uploaders")
    theirs = failure(lambda: pygobbler.create_project(theirs_name, env.staging, env.url, uploaders=uploaders))
    ours = failure(lambda: sdk.create_project(ours_name, env.staging, env.url, uploaders=uploaders))
    assert http_status(theirs) == 400
    assert isinstance(ours, InvalidRequestError) and ours.status is None
    assert "uploader" in str(ours)
    # Nothing was sent, so unlike pygobbler's attempt no empty project directory is left behind.
    assert (Path(env.registry) / theirs_name).is_dir()
    assert not (Path(env.registry) / ours_name).exists()


def test_unpack_path_needs_three_components() -> None:
    theirs = failure(lambda: pygobbler.unpack_path("p/a"))
    ours = failure(lambda: sdk.unpack_path("p/a"))
    assert isinstance(theirs, ValueError)
    assert isinstance(ours, InvalidRequestError) and isinstance(ours, GobblerError)


@pytest.mark.parametrize("force_remote", [False, True], ids=["local", "remote"])
def test_malformed_documents(env: Env, tmp_path: Path, force_remote: bool) -> None:
    name = unique("garbage")
    sdk.create_project(name, env.staging, env.url)
    sdk.upload_directory(name, "a", "v1", str(make_tree(tmp_path / "v1", {"f": "ff"})), env.staging, env.url)
    (Path(env.registry) / name / "a" / "v1" / "..summary").write_text("{not json")
    args = (name, "a", "v1", env.registry, env.url)
    theirs = failure(lambda: pygobbler.fetch_summary(*args, cache=str(tmp_path), force_remote=force_remote))
    assert isinstance(theirs, ValueError)  # json.JSONDecodeError escapes from pygobbler
    ours = failure(lambda: sdk.fetch_summary(*args, force_remote=force_remote))
    assert isinstance(ours, ServiceError) and "..summary" in str(ours)
