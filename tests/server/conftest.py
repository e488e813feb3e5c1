"""Fixtures for the protocol-level server tests.

``gobbler`` is one service for the whole session (administrator: the current user; the current user may
spoof anyone but ``excluded-user``; one whitelisted directory). ``start_gobbler_variant`` starts extra
services with other flags for a single test. Each test works in projects of its own, so sharing is safe.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gobbler_sdk.testing import GobblerService

from ..conftest import GOBBLER_BINARY
from .harness import Gobbler, me


@pytest.fixture(scope="session")
def whitelisted_dir() -> Iterator[Path]:
    """A directory outside the registry whose files uploads may link to."""
    with tempfile.TemporaryDirectory(prefix="gobbler-whitelisted-") as directory:
        yield Path(directory)


@pytest.fixture(scope="session")
def gobbler(whitelisted_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gobbler]:
    config = tmp_path_factory.mktemp("config")
    spoof = config / "spoof.txt"
    spoof.write_text(f"{me()}:*,-excluded-user\n")
    whitelist = config / "whitelist.txt"
    whitelist.write_text(f"{whitelisted_dir}\n")
    service = GobblerService(admin=[me()], spoof=spoof, whitelist=whitelist, binary=GOBBLER_BINARY)
    with service:
        driver = Gobbler(service)
        yield driver
        driver.close()


@pytest.fixture
def start_gobbler_variant() -> Iterator[Callable[..., Gobbler]]:
    """Start a service with other flags (``GobblerService`` keyword arguments); stopped after the test."""
    started: list[tuple[GobblerService, Gobbler]] = []

    def start(**kwargs: Any) -> Gobbler:
        kwargs.setdefault("binary", GOBBLER_BINARY)
        service = GobblerService(**kwargs).start()
        driver = Gobbler(service)
        started.append((service, driver))
        return driver

    yield start
    for service, driver in started:
        driver.close()
        service.stop()


@pytest.fixture
def project(gobbler: Gobbler) -> str:
    """A fresh project owned by the current user (the administrator)."""
    return gobbler.create_project()


def other_users() -> list[tuple[str, int, int]]:
    """Accounts other than the current one, for chown-based identity tests (root only)."""
    import pwd

    found = []
    for name in ("nobody", "daemon", "bin"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid != os.getuid():
            found.append((name, entry.pw_uid, entry.pw_gid))
    return found
