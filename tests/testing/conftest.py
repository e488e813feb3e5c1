"""Fixtures for the tests of ``gobbler_sdk.testing``: an isolated download cache and a fake release server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .support import ReleaseServer

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep downloads and the ``auto`` backend's cache look-ups away from the real user data directory."""
    directory = tmp_path / "data"
    monkeypatch.setenv("GOBBLER_SDK_DATA_DIR", str(directory))
    monkeypatch.delenv("GOBBLER_RELEASE_URL", raising=False)
    return directory


@pytest.fixture
def release_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ReleaseServer]:
    """A fake release host on 127.0.0.1, made the default base URL."""
    with ReleaseServer() as server:
        monkeypatch.setenv("GOBBLER_RELEASE_URL", server.url)
        yield server


@pytest.fixture
def no_gobbler_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run as if ``GOBBLER_BINARY`` were not set."""
    monkeypatch.delenv("GOBBLER_BINARY", raising=False)
