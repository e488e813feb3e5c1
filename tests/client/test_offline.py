"""Offline mode, and reads of fully cached settled versions while the service is unreachable.

No socket may be opened in offline mode: an audit hook (``socket.__new__`` and ``socket.connect`` events)
counts every socket the process creates while a block runs, and the offline clients point at a service
that was started and stopped (its port refuses connections), so a request would fail loudly as well.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gobbler_sdk import (
    ConfigurationError,
    GobblerClient,
    NotCachedError,
    NotFoundError,
    ServiceUnavailableError,
    Version,
)
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import Link, make_tree, unique

_sockets = {"active": False, "count": 0}


def _count_sockets(event: str, args: object) -> None:
    if _sockets["active"] and event in ("socket.__new__", "socket.connect"):
        _sockets["count"] += 1


sys.addaudithook(_count_sockets)


@contextmanager
def no_sockets() -> Iterator[None]:
    """Fail if anything in the block creates or connects a socket."""
    _sockets.update(active=True, count=0)
    try:
        yield
    finally:
        _sockets["active"] = False
    assert _sockets["count"] == 0, f"{_sockets['count']} socket events in offline mode"


def test_the_socket_counter_sees_a_request(service: GobblerService) -> None:
    # The check below would prove nothing if the hook missed the client's connections.
    with GobblerClient(service.url, transport="remote") as online:
        _sockets.update(active=True, count=0)
        try:
            online.projects()
        finally:
            _sockets["active"] = False
    assert _sockets["count"] >= 1


FILES = {"f.txt": "file contents", "sub/g.txt": "more", "alias": Link("f.txt"), "empty": None}


def upload(service: GobblerService, version: str = "v1", *, probation: bool = False) -> tuple[str, str]:
    name = new_project(service)
    source = make_tree(service.staging / unique("src"), {**FILES, "big.bin": b"x" * 300_000})
    payload = {"source": source.name, "project": name, "asset": "a", "version": version}
    if probation:
        payload["on_probation"] = True
    service.request("upload", payload)
    return name, version


@pytest.fixture
def cached(service: GobblerService, make_client: Callable[..., GobblerClient]) -> Version:
    """A settled version downloaded whole into ``tmp_path/cache`` by an online client."""
    name, _ = upload(service)
    online = make_client(service.url, transport="remote")
    version = online.project(name).asset("a").version("v1")
    version.fetch_directory()
    return version


def test_offline_reads_come_from_the_cache_without_a_socket(
    cached: Version, make_client: Callable[..., GobblerClient]
) -> None:
    offline = make_client(cached.client.url, offline=True)
    assert offline.offline is True
    version = offline.project(cached.project.name).asset("a").version("v1")
    with no_sockets():
        assert version.manifest() == cached.manifest()
        assert version.summary().on_probation is False
        assert version.fetch("f.txt").read_text() == "file contents"
        directory = version.fetch_directory()
        assert (directory / "sub" / "g.txt").read_text() == "more"
        assert (directory / "alias").read_text() == "file contents"
        assert (directory / "empty").is_dir()
        assert offline.fetch_file(f"{version.key}/..summary").is_file()
        assert [v.complete for v in offline.cache.scan().versions] == [True]


def test_offline_misses_are_typed_and_send_nothing(
    cached: Version, make_client: Callable[..., GobblerClient], tmp_path: Path
) -> None:
    offline = make_client(cached.client.url, offline=True)
    project = offline.project(cached.project.name)
    with no_sockets():
        for read in (
            lambda: project.asset("a").version("v2").manifest(),
            lambda: project.asset("a").version("v2").fetch("f.txt"),
            lambda: project.asset("a").versions(),
            lambda: project.asset("a").latest(),
            lambda: offline.projects(),
            lambda: project.asset("a").version("v1").fetch("f.txt", overwrite=True),
            lambda: offline.fetch_directory(f"{project.name}/a"),
        ):
            with pytest.raises(NotCachedError, match=r"not cached|needs the service") as caught:
                read()
            assert isinstance(caught.value, NotFoundError)
        with pytest.raises(NotCachedError):
            offline.service_info()
        source = make_tree(tmp_path / "src", {"x": "1"})
        with pytest.raises(ConfigurationError, match="offline"):
            project.asset("a").upload("v9", source)


def test_a_partly_cached_version_is_not_served_offline(
    service: GobblerService, make_client: Callable[..., GobblerClient]
) -> None:
    name, _ = upload(service)
    online = make_client(service.url, transport="remote")
    online.project(name).asset("a").version("v1").fetch("f.txt")
    offline = make_client(service.url, offline=True)
    version = offline.project(name).asset("a").version("v1")
    with no_sockets():
        assert version.fetch("f.txt").read_text() == "file contents"
        with pytest.raises(NotCachedError, match="not completely cached"):
            version.fetch_directory()
        assert [v.complete for v in offline.cache.scan().versions] == [False]


def test_offline_from_the_environment_without_a_url(
    cached: Version, make_client: Callable[..., GobblerClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOBBLER_URL", raising=False)
    monkeypatch.setenv("GOBBLER_OFFLINE", "yes")
    offline = make_client()
    assert offline.offline is True
    with no_sockets():
        version = offline.project(cached.project.name).asset("a").version("v1")
        assert version.fetch("sub/g.txt").read_text() == "more"
    monkeypatch.setenv("GOBBLER_OFFLINE", "0")
    assert make_client("http://127.0.0.1:1").offline is False
    assert make_client("http://127.0.0.1:1", offline=True).offline is True


def test_unreachable_service_serves_settled_cached_versions_with_a_warning(
    cached: Version,
    stopped: GobblerService,
    make_client: Callable[..., GobblerClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    cut_off = make_client(stopped.url, transport="remote", retries=0)
    version = cut_off.project(cached.project.name).asset("a").version("v1")
    with caplog.at_level(logging.INFO, logger="gobbler_sdk"):
        assert version.manifest() == cached.manifest()
    assert any(f"{version.key} could not be re-checked" in r.getMessage() for r in caplog.records)
    caplog.clear()
    assert version.summary().on_probation is False
    assert version.fetch("sub/g.txt").read_text() == "more"
    with caplog.at_level(logging.WARNING, logger="gobbler_sdk"):
        directory = version.fetch_directory()
        summary = cut_off.fetch_file(f"{version.key}/..summary")
    assert (directory / "alias").read_text() == "file contents"
    assert summary.is_file()
    warnings = [r for r in caplog.records if r.name == "gobbler_sdk" and r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert all("from the cache" in r.getMessage() for r in warnings)


def test_unreachable_service_does_not_hide_what_the_cache_lacks(
    service: GobblerService, stopped: GobblerService, make_client: Callable[..., GobblerClient]
) -> None:
    settled, _ = upload(service)
    trial, _ = upload(service, probation=True)
    online = make_client(service.url, transport="remote")
    online.project(settled).asset("a").version("v1").fetch("f.txt")  # partly cached
    online.project(trial).asset("a").version("v1").fetch_directory()  # cached, but probational
    cut_off = make_client(stopped.url, transport="remote", retries=0)
    for name in (settled, trial):
        with pytest.raises(ServiceUnavailableError):
            cut_off.project(name).asset("a").version("v1").fetch_directory()
    with pytest.raises(ServiceUnavailableError):
        cut_off.project(trial).asset("a").version("v1").summary()


def test_offline_entries_of_another_service_are_not_served(
    cached: Version, stopped: GobblerService, make_client: Callable[..., GobblerClient]
) -> None:
    # The same names under another service's URL are another registry's: never its cached bytes.
    offline = make_client(stopped.url, offline=True)
    version = offline.project(cached.project.name).asset("a").version("v1")
    with no_sockets():
        for read in (version.manifest, lambda: version.fetch("f.txt"), version.fetch_directory):
            with pytest.raises(NotCachedError, match="cached from another service"):
                read()
