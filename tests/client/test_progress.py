"""Progress bars: on by default on a real terminal, silent on a pipe, bytes counted within large files.

The terminal is a real pseudo-terminal: a child Python process, whose standard streams are the pty's
slave side, uploads to and downloads from the running service with the default settings, and the test reads
what it drew from the master side.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from tqdm import tqdm

from gobbler_sdk import GobblerClient, ProgressEvent
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import make_tree, unique

BIG = 4 * 1024 * 1024

CHILD = textwrap.dedent(
    """
    import sys
    from gobbler_sdk import GobblerClient

    url, cache, project, source, new = sys.argv[1:6]
    with GobblerClient(url, transport="remote", cache=cache) as client:
        asset = client.project(project).asset("a")
        asset.upload(new, source)
        asset.version("v1").fetch_directory()
        asset.version(new).fetch("big.bin")
    print("CHILD DONE", flush=True)
    """
)


@pytest.fixture
def uploaded(service: GobblerService, tmp_path: Path) -> tuple[str, Path]:
    name = new_project(service)
    tree = {"big.bin": b"b" * BIG, "small.txt": "small", "sub/c.txt": "c"}
    staged = make_tree(service.staging / unique("src"), tree)
    service.request("upload", {"source": staged.name, "project": name, "asset": "a", "version": "v1"})
    return name, make_tree(tmp_path / "source", {**tree, "big.bin": b"B" * BIG})


def run_child(args: list[str], env: dict[str, str], *, terminal: bool) -> tuple[int, str]:
    command = [sys.executable, "-c", CHILD, *args]
    if not terminal:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
        return done.returncode, done.stdout + done.stderr
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    process = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    output = b""
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer of the slave side has exited
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(master)
        code = process.wait(timeout=30)
    return code, output.decode(errors="replace")


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "GOBBLER_DISABLE_PROGRESS"}
    env.update(COLUMNS="120", TERM="xterm", **extra)
    return env


def test_bars_on_a_real_terminal(service: GobblerService, uploaded: tuple[str, Path], tmp_path: Path) -> None:
    name, source = uploaded
    code, text = run_child(
        [service.url, str(tmp_path / "cache"), name, str(source), "v2"], child_env(), terminal=True
    )
    assert code == 0, text
    assert "CHILD DONE" in text
    # The copy into staging, the whole version, then the single large file, each with bytes, rate and ETA.
    assert re.search(
        r"copy: 100%\|[^\n\r]*\| 4\.00M/4\.00M \[\d\d:\d\d<\d\d:\d\d, +[\d.]+[kMG]?B/s, 3/3 files\]", text
    )
    assert re.search(rf"{name}/a/v1: 100%\|[^\r\n]*4\.00M/4\.00M \[[^\]]*B/s, 5/5 files\]", text), text
    assert re.search(r"big\.bin: 100%\|[^\r\n]*4\.00M/4\.00M \[\d\d:\d\d<\d\d:\d\d, +[\d.]+[kMG]?B/s\]", text)


def test_no_bar_on_a_pipe_or_when_disabled(
    service: GobblerService, uploaded: tuple[str, Path], tmp_path: Path
) -> None:
    name, source = uploaded
    args = [service.url, str(tmp_path / "one"), name, str(source), "v2"]
    code, text = run_child(args, child_env(), terminal=False)
    assert (code, text) == (0, "CHILD DONE\n")
    args = [service.url, str(tmp_path / "two"), name, str(source), "v3"]
    code, text = run_child(args, child_env(GOBBLER_DISABLE_PROGRESS="1"), terminal=True)
    assert code == 0
    assert text.replace("\r", "").strip() == "CHILD DONE"


class Recorder(tqdm):  # type: ignore[type-arg]
    """A bar that remembers every update it was given."""

    seen: list[Recorder] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.updates: list[int] = []
        Recorder.seen.append(self)

    def update(self, n: float | None = 1) -> bool | None:
        self.updates.append(int(n or 0))
        return super().update(n)


def test_bytes_are_counted_within_a_large_file(
    service: GobblerService, uploaded: tuple[str, Path], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    name, _ = uploaded
    Recorder.seen = []
    events: list[ProgressEvent] = []
    with GobblerClient(service.url, transport="remote", cache=tmp_path / "cache") as client:
        version = client.project(name).asset("a").version("v1")
        version.fetch("big.bin", tqdm_class=Recorder)
        version.fetch_directory(tqdm_class=Recorder, progress=events.append)
    single, whole = Recorder.seen
    assert single.total == BIG and sum(single.updates) == BIG
    assert len([n for n in single.updates if 0 < n < BIG]) >= 4  # 1 MiB pieces as they arrived
    assert sum(whole.updates) == whole.total == BIG + len("small") + len("c")
    # The callback still gets one event per finished file, alongside the bar.
    assert sorted(e.files_done for e in events) == [1, 2, 3, 4, 5]  # with ..manifest and ..summary
    assert "big.bin: 100%" in capfd.readouterr().err


def test_false_turns_everything_off(
    service: GobblerService, uploaded: tuple[str, Path], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    name, _ = uploaded
    Recorder.seen = []
    with GobblerClient(service.url, transport="remote", cache=tmp_path / "cache") as client:
        client.project(name).asset("a").version("v1").fetch_directory(progress=False, tqdm_class=Recorder)
    assert Recorder.seen == []
    assert capfd.readouterr().err == ""


def test_an_upload_takes_a_tqdm_class_and_a_callback(
    service: GobblerService, uploaded: tuple[str, Path], tmp_path: Path
) -> None:
    name, source = uploaded
    Recorder.seen = []
    events: list[ProgressEvent] = []
    with GobblerClient(service.url, cache=tmp_path / "cache") as client:
        client.project(name).asset("a").upload("v9", source, tqdm_class=Recorder, progress=events.append)
    (bar,) = Recorder.seen
    assert bar.total == sum(e.stat().st_size for e in source.rglob("*") if e.is_file())
    assert sum(bar.updates) == bar.total
    assert sorted(e.files_done for e in events) == [1, 2, 3]
    assert {e.phase for e in events} == {"copy"}
