"""pytest plugin, registered through the ``pytest11`` entry point: fixtures for tests that need Gobbler.

Fixtures:

- ``gobbler_service`` (session): a running :class:`~gobbler_sdk.testing.service.GobblerService` with
  ``staging``, ``registry``, ``url`` and ``admin`` (the current user) attributes. The backend is chosen
  by ``--gobbler-backend`` (or the ``gobbler_backend`` ini option), ``auto`` by default: the binary in
  ``GOBBLER_BINARY`` or a cached release, else the embedded service.
- ``gobbler_project`` (function): the name of a fresh project, owned by the current user, deleted after
  the test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from .service import BACKENDS, GobblerService

__all__ = ["gobbler_project", "gobbler_service", "pytest_addoption"]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``--gobbler-backend`` option and the ``gobbler_backend`` ini setting."""
    group = parser.getgroup("gobbler", "Gobbler test service")
    group.addoption(
        "--gobbler-backend",
        choices=BACKENDS,
        default=None,
        help="implementation run by the gobbler_service fixture (default: the gobbler_backend ini "
        "setting, else auto)",
    )
    parser.addini("gobbler_backend", "implementation run by the gobbler_service fixture", default="auto")


def _backend(config: pytest.Config) -> str:
    option = config.getoption("gobbler_backend")
    if option:
        return str(option)
    return str(config.getini("gobbler_backend")) or "auto"


@pytest.fixture(scope="session")
def gobbler_service(pytestconfig: pytest.Config) -> Iterator[GobblerService]:
    """A Gobbler service for the whole session, on temporary staging and registry directories."""
    with GobblerService(backend=_backend(pytestconfig)) as service:
        yield service


@pytest.fixture
def gobbler_project(gobbler_service: GobblerService) -> Iterator[str]:
    """A fresh project on ``gobbler_service``, removed after the test."""
    project = f"test-{uuid.uuid4().hex[:12]}"
    gobbler_service.request("create_project", {"project": project})
    try:
        yield project
    finally:
        gobbler_service.request("delete_project", {"project": project})
