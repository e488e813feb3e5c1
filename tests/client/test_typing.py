"""The public API type-checks under ``mypy --strict`` in real use, and that use runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gobbler_sdk import AsyncGobblerClient, GobblerClient
from gobbler_sdk.testing import GobblerService

from .support import make_tree, run_async, unique
from .typed_async_usage import exercise as exercise_async
from .typed_usage import exercise, sizes_of_everything

ROOT = Path(__file__).resolve().parents[2]


def test_typed_usage_passes_mypy_strict() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "tests/client/typed_usage.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_typed_usage_runs(client: GobblerClient, service: GobblerService, tmp_path: Path) -> None:
    name = unique("typed")
    source = make_tree(tmp_path / "src", {"file.txt": "typed", "other.txt": "x"})
    facts = exercise(client, name, source, tmp_path / "clone")
    key = f"{name}/data/v1"
    assert facts == [
        str(service.registry),
        client.transport.kind,
        f"Version('{key}')",
        "True",
        "None",
        "file.txt",
        "v1",
        f"{key}/file.txt",
        "typed",
        "file.txt,other.txt",
        "",
        "{'owners': ['extra']}",
        "6",
        f"Version('{name}/data/v1')",
        "True",
        "[]",
        "file.txt",
        "None",  # a missing manifest is found missing by the client, not reported by the service
        "2",
    ]
    assert not client.project(name).exists()
    assert isinstance(sizes_of_everything(client), dict)


def test_typed_async_usage_passes_mypy_strict() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "tests/client/typed_async_usage.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_typed_async_usage_runs(service: GobblerService, tmp_path: Path) -> None:
    name = unique("typed")
    source = make_tree(tmp_path / "src", {"file.txt": "typed async"})

    async def main() -> list[str]:
        async with AsyncGobblerClient(service.url, cache=tmp_path / "cache") as client:
            return await exercise_async(client, name, source)

    assert run_async(main()) == [f"{name}/data/v1", "file.txt", "typed async"]
