"""``python -m gobbler_sdk.testing serve``: foreground service, details printed, clean stop on signals."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .support import process_gone


class Serve:
    """A running ``serve`` command and what it printed."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.log = tmp_path / "serve.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gobbler_sdk.testing", "serve", *args],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.process.stdout is not None
        self.lines: list[str] = []
        for line in self.process.stdout:
            self.lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        text = "".join(self.lines)
        found = {key: re.search(rf"{key}:\s+(\S+)", text) for key in ("URL", "staging", "registry")}
        pid = re.search(r"PID (\d+)", text)
        assert pid is not None and all(found.values()), text + self.log.read_text()
        self.pid = int(pid.group(1))
        self.url, self.staging, self.registry = (match.group(1) for match in found.values() if match)

    def finish(self, timeout: float = 30) -> tuple[int, str]:
        out, _ = self.process.communicate(timeout=timeout)
        return self.process.returncode, "".join(self.lines) + out


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for item in started:
        if item.process.poll() is None:
            item.process.kill()
            item.process.wait()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_and_stop(signum: int, tmp_path: Path, serve: list[Serve]) -> None:
    run = Serve(tmp_path)
    serve.append(run)
    assert "embedded backend" in run.lines[0]
    assert run.url.startswith("http://127.0.0.1:")
    assert httpx.get(f"{run.url}/info").json() == {"registry": run.registry, "staging": run.staging}

    run.process.send_signal(signum)
    status, output = run.finish()
    assert status == 0
    assert "Stopping the Gobbler service." in output
    assert process_gone(run.pid)
    assert not os.path.exists(run.registry) and not os.path.exists(run.staging)
    # The service's own log was forwarded to stderr.
    assert "listening on" in run.log.read_text()


def test_serve_with_given_directories(tmp_path: Path, serve: list[Serve]) -> None:
    staging, registry = tmp_path / "staging", tmp_path / "registry"
    staging.mkdir()
    registry.mkdir()
    run = Serve(tmp_path, "--staging", str(staging), "--registry", str(registry), "--prefix", "api")
    serve.append(run)
    assert (run.staging, run.registry) == (str(staging), str(registry))
    assert run.url.endswith("/api")
    assert httpx.get(f"{run.url}/info").status_code == 200
    run.process.terminate()
    assert run.finish()[0] == 0
    assert process_gone(run.pid)
    assert staging.is_dir() and (registry / "..logs").is_dir()


def test_serve_start_failure(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gobbler_sdk.testing", "serve", "--staging", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: the service exited with status 1")
    assert str(tmp_path / "missing") in done.stderr


def test_serve_exits_when_the_service_dies(tmp_path: Path, serve: list[Serve]) -> None:
    run = Serve(tmp_path)
    serve.append(run)
    os.kill(run.pid, signal.SIGKILL)
    status, _ = run.finish()
    assert status == 1
    assert "the service exited with status -9" in run.log.read_text()
    assert not os.path.exists(run.registry)
