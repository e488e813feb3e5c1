"""Clear diagnoses: a URL that is not a Gobbler service, and a missing project, asset or version."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gobbler_sdk import ConfigurationError, GobblerClient, NotFoundError
from gobbler_sdk.testing import GobblerService

from ..conftest import GOBBLER_BINARY
from .conftest import new_project
from .support import Answer, LyingServer, make_tree, unique

# ---------------------------------------------------------------------- not a Gobbler service

HTML = b"<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"

READS: dict[str, Callable[[GobblerClient], object]] = {
    "service_info": lambda c: c.service_info(),
    "staging": lambda c: c.staging,
    "projects": lambda c: c.projects(),
    "versions": lambda c: c.project("p").asset("a").versions(),
    "latest": lambda c: c.project("p").asset("a").latest(),
    "manifest": lambda c: c.project("p").asset("a").version("v").manifest(),
    "summary": lambda c: c.project("p").asset("a").version("v").summary(),
    "fetch": lambda c: c.project("p").asset("a").version("v").fetch("x.txt"),
    "fetch_unverified": lambda c: c.project("p").asset("a").version("v").fetch("x.txt", verify=False),
    "permissions": lambda c: c.project("p").permissions(),
    "fetch_directory": lambda c: c.project("p").asset("a").version("v").fetch_directory(),
}


@pytest.fixture(scope="module")
def prefixed() -> Iterator[GobblerService]:
    with GobblerService(prefix="api", binary=GOBBLER_BINARY) as running:
        yield running


def check_diagnosis(client: GobblerClient, read: str, url: str, answered: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        READS[read](client)
    message = str(caught.value)
    assert message == (
        f"{url} is not a Gobbler service: GET {url}/info answered {answered}. Check the URL, including the "
        "path prefix the service was started with (-prefix)"
    )
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("read", sorted(READS))
def test_an_html_404_page(lying: LyingServer, tmp_path: Path, read: str) -> None:
    lying.answer_prefix("/", Answer(404, HTML, content_type="text/html; charset=utf-8"))
    with GobblerClient(lying.url, transport="remote", cache=tmp_path) as client:
        check_diagnosis(client, read, lying.url, "HTTP 404")


# Without verification, a 200 answer to /fetch is taken as the file: nothing says it is not.
TRUSTING_200 = sorted(set(READS) - {"fetch_unverified"})


@pytest.mark.parametrize("read", TRUSTING_200)
def test_json_of_another_shape(lying: LyingServer, tmp_path: Path, read: str) -> None:
    lying.answer_prefix("/", Answer(200, {"status": "ok", "items": [1, 2]}))
    with GobblerClient(lying.url, transport="remote", cache=tmp_path) as client:
        check_diagnosis(client, read, lying.url, "a JSON document without the service's registry and staging")


@pytest.mark.parametrize("read", TRUSTING_200)
def test_an_html_page_that_answers_200(lying: LyingServer, tmp_path: Path, read: str) -> None:
    lying.answer_prefix("/", Answer(200, HTML, content_type="text/html"))
    with GobblerClient(lying.url, transport="remote", cache=tmp_path) as client:
        check_diagnosis(client, read, lying.url, "a text/html document")


@pytest.mark.parametrize("read", sorted(READS))
def test_a_gobbler_service_without_its_prefix(prefixed: GobblerService, tmp_path: Path, read: str) -> None:
    wrong = prefixed.url.removesuffix("/api")
    with GobblerClient(wrong, transport="remote", cache=tmp_path) as client:
        check_diagnosis(client, read, wrong, "HTTP 405")


def test_a_gobbler_service_with_its_prefix_reads_fine(prefixed: GobblerService, tmp_path: Path) -> None:
    name = new_project(prefixed)
    with GobblerClient(prefixed.url, transport="remote", cache=tmp_path) as client:
        assert client.project(name).assets() == []
        with pytest.raises(NotFoundError, match="does not exist"):
            client.project(name).asset("a").latest()


# ---------------------------------------------------------------------- missing project, asset or version


@pytest.fixture(scope="module")
def existing(service: GobblerService, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A project with asset ``a`` holding version ``v1`` (one file, ``x.txt``)."""
    name = new_project(service)
    source = make_tree(tmp_path_factory.mktemp("src"), {"x.txt": "x"})
    with GobblerClient(service.url, cache=tmp_path_factory.mktemp("cache")) as client:
        client.project(name).asset("a").upload("v1", source)
    return name


MISSING_READS: dict[str, tuple[str, Callable[[Any], object]]] = {
    # read name: (handle level it applies to, the read)
    "assets": ("project", lambda h: h.assets()),
    "project.permissions": ("project", lambda h: h.permissions()),
    "usage": ("project", lambda h: h.usage()),
    "versions": ("asset", lambda h: h.versions()),
    "versions_by_time": ("asset", lambda h: h.versions(order="upload_time")),
    "asset.permissions": ("asset", lambda h: h.permissions()),
    "manifest": ("version", lambda h: h.manifest()),
    "summary": ("version", lambda h: h.summary()),
    "on_probation": ("version", lambda h: h.summary().on_probation),
    "files": ("version", lambda h: h.files()),
    "fetch": ("version", lambda h: h.fetch("x.txt")),
    "fetch_unverified": ("version", lambda h: h.fetch("x.txt", verify=False)),
    "fetch_internal": ("version", lambda h: h.fetch("..summary")),
    "fetch_directory": ("version", lambda h: h.fetch_directory()),
    "client.fetch_file": ("version", lambda h: h.client.fetch_file(f"{h.key}/x.txt")),
}
LEVELS = ("project", "asset", "version")


def handle_with_missing(client: GobblerClient, existing: str, level: str, missing: str) -> tuple[Any, str]:
    """The handle of ``level`` whose ``missing`` level does not exist, and the expected message."""
    names = {"project": existing, "asset": "a", "version": "v1"}
    names[missing] = unique("gone")
    depth = LEVELS.index(level) + 1
    handle: Any = client.project(names["project"])
    if depth > 1:
        handle = handle.asset(names["asset"])
    if depth > 2:
        handle = handle.version(names["version"])
    key = "/".join(names[each] for each in LEVELS[: LEVELS.index(missing) + 1])
    return handle, f"{missing} {key} does not exist"


CASES = [
    (read, missing)
    for read, (level, _) in MISSING_READS.items()
    for missing in LEVELS[: LEVELS.index(level) + 1]
    # An asset's permissions can be read (and set) before its first upload: empty, not missing.
    if (read, missing) != ("asset.permissions", "asset")
]


@pytest.mark.parametrize(("read", "missing"), CASES)
def test_a_missing_level_is_reported_alike(
    client: GobblerClient, service: GobblerService, existing: str, read: str, missing: str
) -> None:
    level, call = MISSING_READS[read]
    handle, message = handle_with_missing(client, existing, level, missing)
    with pytest.raises(NotFoundError) as caught:
        call(handle)
    assert str(caught.value) == message
    assert str(service.registry) not in str(caught.value)
    assert handle.exists() is False


@pytest.mark.parametrize("missing", LEVELS[:2])
def test_latest_of_a_missing_asset_is_not_found(client: GobblerClient, existing: str, missing: str) -> None:
    # None would read as "exists, nothing approved yet"; a misspelt name is an error instead.
    handle, message = handle_with_missing(client, existing, "asset", missing)
    with pytest.raises(NotFoundError) as caught:
        handle.latest()
    assert message in str(caught.value)


def test_latest_of_an_asset_without_one_is_none(client: GobblerClient, service: GobblerService) -> None:
    name = new_project(service)
    source = make_tree(service.staging / unique("src"), {"x": "x"})
    service.request(
        "upload",
        {"source": source.name, "project": name, "asset": "a", "version": "p", "on_probation": True},
    )
    assert client.project(name).asset("a").latest() is None


def test_permissions_of_an_asset_not_uploaded_yet_are_empty(client: GobblerClient, existing: str) -> None:
    assert client.project(existing).asset(unique("fresh")).permissions().owners == ()


def test_the_reads_succeed_when_nothing_is_missing(client: GobblerClient, existing: str) -> None:
    version = client.project(existing).asset("a").version("v1")
    for read, (level, call) in MISSING_READS.items():
        handle = {"project": version.project, "asset": version.asset, "version": version}[level]
        assert call(handle) is not None, read
