"""Fixtures for the end-to-end client tests.

- ``service`` (session): the Gobbler service every test talks to (the embedded one, or ``GOBBLER_BINARY``).
  Administrator: the current user, who may spoof anyone except ``excluded-user``.
- ``restricted`` (session): a second service on the *same* staging and registry whose only administrator is
  someone else, so the current user is an ordinary user there (permission denials).
- ``stopped`` (session): a service that was started and then stopped (its URL refuses connections).
- ``client``: a :class:`GobblerClient` on ``service``, parametrised over the ``local`` and ``remote``
  transports, with a cache of its own.
- ``project``: a fresh project (owned by the current user) as a handle of ``client``.
- ``lying`` / ``proxy``: a scripted HTTP server, alone or forwarding to ``service`` while counting requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gobbler_sdk import GobblerClient, Project
from gobbler_sdk.testing import GobblerService

from ..conftest import GOBBLER_BINARY
from .support import EXCLUDED_USER, LyingServer, me, unique


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GobblerService]:
    config = tmp_path_factory.mktemp("client-config")
    spoof = config / "spoof.txt"
    spoof.write_text(f"{me()}:*,-{EXCLUDED_USER}\n")
    with GobblerService(admin=[me()], spoof=spoof, binary=GOBBLER_BINARY) as running:
        yield running


@pytest.fixture(scope="session")
def restricted(service: GobblerService) -> Iterator[GobblerService]:
    with GobblerService(
        service.staging, service.registry, admin=["someone-else"], binary=GOBBLER_BINARY
    ) as running:
        yield running


@pytest.fixture(scope="session")
def stopped() -> Iterator[GobblerService]:
    gone = GobblerService(binary=GOBBLER_BINARY).start()
    gone.stop(remove_directories=False)
    yield gone
    gone.stop()


@pytest.fixture(params=["local", "remote"])
def client(
    request: pytest.FixtureRequest, service: GobblerService, tmp_path: Path
) -> Iterator[GobblerClient]:
    with GobblerClient(service.url, transport=request.param, cache=tmp_path / "cache") as made:
        yield made


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., GobblerClient]]:
    """Build extra clients (closed after the test); the cache defaults to ``tmp_path/cache``."""
    made: list[GobblerClient] = []

    def build(url: str | None = None, **kwargs: Any) -> GobblerClient:
        kwargs.setdefault("cache", tmp_path / "cache")
        made.append(GobblerClient(url, **kwargs))
        return made[-1]

    yield build
    for each in made:
        each.close()


def new_project(service: GobblerService, **permissions: Any) -> str:
    """Create a project as the administrator; return its name."""
    name = unique("proj")
    payload: dict[str, Any] = {"project": name}
    if permissions:
        payload["permissions"] = permissions
    service.request("create_project", payload)
    return name


@pytest.fixture
def project(client: GobblerClient, service: GobblerService) -> Project:
    return client.project(new_project(service))


@pytest.fixture
def lying() -> Iterator[LyingServer]:
    with LyingServer() as server:
        yield server


@pytest.fixture
def proxy(service: GobblerService) -> Iterator[LyingServer]:
    with LyingServer(upstream=service.url, staging=service.staging) as server:
        yield server
