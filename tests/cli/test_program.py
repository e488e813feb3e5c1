"""The program itself: fast start-up without the client's dependencies, ``python -m``, and ``serve``."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from gobbler_sdk import __version__
from gobbler_sdk.testing import free_port

from .conftest import SCRIPT, environment, run_script

CLIENT_DEPENDENCIES = ("pydantic", "httpx", "tenacity", "platformdirs", "pandas")


def test_help_loads_none_of_the_client_dependencies() -> None:
    code = f"""
import contextlib, io, json, sys
from gobbler_sdk.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    status = main(["--help"])
loaded = [m for m in {CLIENT_DEPENDENCIES!r} if m in sys.modules]
print(json.dumps([status, "upload" in out.getvalue(), loaded]))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(done.stdout.splitlines()[-1]) == [0, True, []]


def test_version_from_the_script_and_python_m(tmp_path: Path) -> None:
    env = environment("http://127.0.0.1:9", tmp_path / "cache")
    assert run_script(["--version"], env).stdout == f"gobbler-sdk {__version__}\n"
    done = subprocess.run(
        [sys.executable, "-m", "gobbler_sdk", "--version"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (0, f"gobbler-sdk {__version__}\n")


def test_serve_runs_a_service_in_the_foreground_until_interrupted(tmp_path: Path) -> None:
    port = free_port()
    staging, registry = tmp_path / "staging", tmp_path / "registry"
    staging.mkdir(mode=0o1777)
    registry.mkdir()
    env = environment("http://127.0.0.1:9", tmp_path / "cache")
    process = subprocess.Popen(
        [str(SCRIPT), "serve", "--port", str(port), "--staging", str(staging), "--registry", str(registry)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("URL:" in line for line in lines):
            lines.append(process.stdout.readline())
        url = next(line.split()[-1] for line in lines if "URL:" in line)
        assert url == f"http://127.0.0.1:{port}"
        info = run_script(["--url", url, "--json", "info"], env).json()
        assert (info["staging"], info["registry"]) == (str(staging), str(registry))
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
        assert process.returncode == 0
        assert "Stopping" in rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_that_cannot_start_says_so_in_one_line(tmp_path: Path) -> None:
    env = environment("http://127.0.0.1:9", tmp_path / "cache")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_script(["serve", "--port", str(port)], env, expect=1)
    assert result.stdout == ""
    assert result.stderr.startswith("gobbler-sdk: error: the service did not start: ")
    assert result.stderr.count("\n") == 1 and "Address already in use" in result.stderr
