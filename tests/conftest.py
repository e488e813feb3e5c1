"""Shared test configuration: which Gobbler implementation the suite runs against.

By default every test talks to the embedded service. With ``GOBBLER_BINARY`` naming a real Gobbler
executable, the same tests run against it, and tests marked ``embedded_only`` are skipped.
"""

from __future__ import annotations

import os
import subprocess

import pytest

GOBBLER_BINARY = os.environ.get("GOBBLER_BINARY") or None
_BEFORE = pytest.StashKey["set[str] | None"]()


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


_REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _untracked() -> set[str] | None:
    """Files in the checkout that git neither tracks nor ignores (None outside a git checkout)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--others", "--exclude-standard", "-z"],
            cwd=_REPOSITORY,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {name for name in listed.decode(errors="replace").split("\0") if name}


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):  # the xdist controller, or a run without xdist
        session.config.stash[_BEFORE] = _untracked()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Tests run with the checkout as working directory, so a relative path written by mistake lands
    # here; fail the run rather than leave the file behind unnoticed.
    before = session.config.stash.get(_BEFORE, None)
    after = _untracked() if before is not None else None
    if before is None or after is None or hasattr(session.config, "workerinput"):
        return
    left = sorted(after - before)
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"tests left files in the checkout: {', '.join(left)}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
