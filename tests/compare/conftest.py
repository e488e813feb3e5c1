"""Fixtures for the comparison tests (issue 21): the client tests' services, and the CLI as a subprocess.

- ``service``: the embedded service, or ``GOBBLER_BINARY`` unchanged (``tests/client/conftest.py``).
- ``client``: a client of it through each transport; ``mounted`` / ``remote``: one of each, side by side.
- ``cli``: the installed ``gobbler-sdk`` run as a real subprocess against ``service``.
- ``project``: a fresh project as a handle of ``client``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gobbler_sdk import GobblerClient
from gobbler_sdk.testing import GobblerService

from ..cli.conftest import cli
from ..client.conftest import client, new_project, project, proxy, service

__all__ = ["cli", "client", "new_project", "project", "proxy", "service"]


@pytest.fixture
def mounted(service: GobblerService, tmp_path: Path) -> Iterator[GobblerClient]:
    with GobblerClient(service.url, transport="local", cache=tmp_path / "mounted-cache") as made:
        yield made


@pytest.fixture
def remote(service: GobblerService, tmp_path: Path) -> Iterator[GobblerClient]:
    with GobblerClient(service.url, transport="remote", cache=tmp_path / "remote-cache") as made:
        yield made
