"""``gobbler-sdk browse`` as a real subprocess: what it says at start, that it serves, that it stops."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from gobbler_sdk.browser.server import bind
from gobbler_sdk.testing import GobblerService

from ..cli.conftest import SCRIPT, environment
from .conftest import World


@contextmanager
def _browse(service: GobblerService, cache: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = subprocess.Popen(
        [str(SCRIPT), "browse", *args],
        env=environment(service.url, cache),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_browse_serves_on_loopback_and_says_so(
    service: GobblerService, world: World, tmp_path: Path, stop: signal.Signals
) -> None:
    with _browse(service, tmp_path / "cache", "--port", "0") as (process, url):
        assert url.startswith("http://127.0.0.1:"), url
        page = httpx.get(url, timeout=30)
        assert page.status_code == 200
        assert world.project in page.text
        assert "read-only" in page.text
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr
    assert f"read-only at {url} (bound to this machine only)" in stderr
    assert service.url in stderr


def test_browse_on_a_port_in_use_is_a_usage_error(service: GobblerService, tmp_path: Path) -> None:
    taken = bind("127.0.0.1", 0)
    try:
        port = taken.getsockname()[1]
        with _browse(service, tmp_path / "cache", "--port", str(port)) as (process, url):
            _, stderr = process.communicate(timeout=30)
            assert url == ""
            assert process.returncode == 2
            assert f"cannot listen on 127.0.0.1:{port}" in stderr
    finally:
        taken.close()
