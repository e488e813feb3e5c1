"""Shared test configuration: which Gobbler implementation the suite runs against.

By default every test talks to the embedded service. With ``GOBBLER_BINARY`` naming a real Gobbler
executable, the same tests run against it, and tests marked ``embedded_only`` are skipped.
"""

from __future__ import annotations

import os

import pytest

GOBBLER_BINARY = os.environ.get("GOBBLER_BINARY") or None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_binary = pytest.mark.skip(
        reason="needs a hook only the embedded service has (GOBBLER_BINARY is set)"
    )
    skip_root = pytest.mark.skip(reason="needs root to chown files to other accounts")
    for item in items:
        if GOBBLER_BINARY and "embedded_only" in item.keywords:
            item.add_marker(skip_binary)
        if os.getuid() != 0 and "root_only" in item.keywords:
            item.add_marker(skip_root)
