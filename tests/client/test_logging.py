"""The library logger records transport choices, requests, retries, cache hits and misses, submissions."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gobbler_sdk import GobblerClient
from gobbler_sdk._log import logger
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import Answer, LyingServer, make_tree


def messages(caplog: pytest.LogCaptureFixture, level: int | None = None) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "gobbler_sdk" and (level is None or r.levelno == level)
    ]


def test_the_library_installs_no_handlers() -> None:
    assert logger.name == "gobbler_sdk"
    assert logger.handlers == []


def test_remote_reads_are_recorded(
    service: GobblerService, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    name = new_project(service)
    source = make_tree(tmp_path / "src", {"a.txt": "a", "b.txt": "b"})
    caplog.set_level(logging.DEBUG, logger="gobbler_sdk")
    with GobblerClient(service.url, cache=tmp_path / "cache", transport="remote") as client:
        version = client.project(name).asset("x").upload("v1", source)
        assert messages(caplog, logging.INFO) == [f"submitting upload (upload {name}/x/v1)"]
        caplog.clear()
        version.fetch("a.txt")
        version.fetch("a.txt")
        assert f"cache miss: {name}/x/v1/..manifest" in messages(caplog, logging.DEBUG)
        assert f"GET /fetch/{name}/x/v1/..manifest" in messages(caplog, logging.DEBUG)
        assert messages(caplog, logging.DEBUG).count(f"cache miss: downloading {name}/x/v1/a.txt") == 1
        assert messages(caplog, logging.DEBUG).count(f"cache hit: {name}/x/v1/a.txt") == 1
        # Not known to be settled (no summary was asked for), so the manifest is asked for again.
        assert messages(caplog, logging.DEBUG).count(f"GET /fetch/{name}/x/v1/..manifest") == 2
        caplog.clear()
        version.fetch_directory()
        # The manifest and the summary read for the entries are stored as read, so only b.txt is
        # downloaded (a.txt is cached).
        assert [m for m in messages(caplog, logging.DEBUG) if m.startswith("downloading")] == [
            "downloading 1 files, up to 32 at a time",  # the starting window (DEFAULT_WINDOW)
        ]


def test_the_transport_choice_is_recorded(
    service: GobblerService, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gobbler_sdk")
    with GobblerClient(service.url, cache=tmp_path) as client:
        client.projects()
    assert messages(caplog) == [f"reading the registry directly at {service.registry}"]
    caplog.clear()
    with GobblerClient(service.url, registry=tmp_path / "elsewhere", cache=tmp_path) as client:
        client.projects()
    assert messages(caplog) == [
        f"the registry {tmp_path / 'elsewhere'} is not readable here; reading through {service.url}"
    ]


def test_retries_are_recorded(lying: LyingServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    lying.answer("/list", Answer(503, "busy"), Answer(503, "busy"), Answer(200, ["p/"]))
    caplog.set_level(logging.INFO, logger="gobbler_sdk")
    with GobblerClient(lying.url, cache=tmp_path, transport="remote") as client:
        assert [p.name for p in client.projects()] == ["p"]
    assert messages(caplog, logging.INFO) == [
        "list the registry failed (HTTP 503); retrying",
        "list the registry failed again (HTTP 503); retrying",
    ]


def test_nothing_is_formatted_when_debug_is_off(
    service: GobblerService, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gobbler_sdk")
    with GobblerClient(service.url, cache=tmp_path, transport="remote") as client:
        client.projects()
    assert messages(caplog) == []
