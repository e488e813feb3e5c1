"""Fixtures for the command-line tests: the installed ``gobbler-sdk`` script run as a real subprocess.

The services are those of the client tests (the embedded one, or ``GOBBLER_BINARY`` unchanged):

- ``service`` / ``restricted`` / ``stopped`` / ``proxy``: see ``tests/client/conftest.py``.
- ``cli``: runs ``gobbler-sdk`` with ``GOBBLER_URL`` set to ``service`` and a cache of the test's own, and
  checks its exit status.
- ``world`` (module): a project with asset ``data``: ``v1`` (approved, the latest) and ``v2`` (probational).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gobbler_sdk import GobblerClient, Version
from gobbler_sdk.testing import GobblerService

from ..client.conftest import new_project, proxy, restricted, service, stopped
from ..client.support import make_tree

__all__ = ["SCRIPT", "Result", "World", "proxy", "restricted", "service", "stopped"]

# The console script installed next to the interpreter running the tests (``.venv/bin/gobbler-sdk``).
SCRIPT = Path(sys.executable).parent / "gobbler-sdk"

TREE = {"a.txt": "hello\n", "sub/b.txt": "bee\n", "sub/deeper/c.csv": "x,y\n1,2\n", "empty": None}


@dataclass
class Result:
    """What one run of the script produced."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """The single JSON document on standard output."""
        return json.loads(self.stdout)


def environment(url: str, cache: Path, **extra: str) -> dict[str, str]:
    """The script's environment: no GOBBLER_* variable of ours leaks in, a wide terminal for tables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOBBLER_")}
    env.update(GOBBLER_URL=url, GOBBLER_CACHE=str(cache), COLUMNS="200", **extra)
    return env


def run_script(
    args: list[str], env: dict[str, str], *, expect: int | None = 0, input: str = "", timeout: float = 60
) -> Result:
    """Run ``gobbler-sdk args`` with standard input a pipe (never a terminal)."""
    done = subprocess.run(
        [str(SCRIPT), *args],
        input=input,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    result = Result(done.returncode, done.stdout, done.stderr)
    if expect is not None:
        assert result.code == expect, (
            f"exit {result.code}, expected {expect}\n{result.stdout}\n{result.stderr}"
        )
    return result


Runner = Callable[..., Result]


@pytest.fixture
def cli(service: GobblerService, tmp_path: Path) -> Runner:
    """``cli("ls", "-l", expect=0, transport="remote", url=..., input=...)``."""

    def run(
        *args: str,
        expect: int | None = 0,
        transport: str | None = None,
        url: str | None = None,
        input: str = "",
        env: dict[str, str] | None = None,
    ) -> Result:
        prefix = ["--transport", transport] if transport else []
        variables = environment(url or service.url, tmp_path / "cache", **(env or {}))
        return run_script([*prefix, *args], variables, expect=expect, input=input)

    return run


@dataclass(frozen=True)
class World:
    """The module's project: asset ``data`` with ``v1`` (latest) and ``v2`` (probation)."""

    project: str
    v1: Version
    v2: Version

    @property
    def asset(self) -> str:
        return f"{self.project}/data"


@pytest.fixture(scope="module")
def world(service: GobblerService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    source = make_tree(tmp_path_factory.mktemp("world") / "src", TREE)
    with GobblerClient(service.url, cache=tmp_path_factory.mktemp("world-cache")) as client:
        project = client.project(new_project(service))
        asset = project.asset("data")
        v1 = asset.upload("v1", source)
        (source / "a.txt").write_text("hello again\n")
        v2 = asset.upload("v2", source, probation=True)
        yield World(project.name, v1, v2)


@pytest.fixture(params=["local", "remote"])
def transport(request: pytest.FixtureRequest) -> str:
    """Both transports, for commands whose reads differ between them."""
    return str(request.param)


@pytest.fixture
def api(service: GobblerService, transport: str, tmp_path: Path) -> Iterator[GobblerClient]:
    """The Python API through the same transport, to compare the command line's answers with."""
    with GobblerClient(service.url, transport=transport, cache=tmp_path / "api-cache") as client:  # type: ignore[arg-type]
        yield client
