"""A session at a real pseudo-terminal: progress bars, drawn tables, and the confirmation prompt of rm."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

from gobbler_sdk import GobblerClient
from gobbler_sdk.testing import GobblerService

from ..client.support import make_tree, unique
from .conftest import SCRIPT, environment

_DEADLINE = 60.0


def in_terminal(args: list[str], env: dict[str, str], *, answer: str | None = None) -> tuple[int, str]:
    """Run the script with stdin, stdout and stderr on a pty; type ``answer`` at the first prompt."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    env = {**env, "TERM": "xterm-256color"}
    env.pop("COLUMNS", None)
    process = subprocess.Popen(
        [str(SCRIPT), *args], stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + _DEADLINE
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed its side
                    break
                if not chunk:
                    break
                seen += chunk
                if answer is not None and b"[y/N]" in seen:
                    os.write(master, answer.encode())
                    answer = None
            elif process.poll() is not None:
                break
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    return code, seen.decode("utf-8", errors="replace")


def test_progress_bar_table_and_prompt(service: GobblerService, tmp_path: Path) -> None:
    env = environment(service.url, tmp_path / "cache")
    name = unique("tty")
    service.request("create_project", {"project": name})
    source = make_tree(tmp_path / "src", {f"f{i}.txt": "x" * (i + 1) for i in range(3)})

    code, shown = in_terminal(["upload", f"{name}/a/v1", str(source)], env)
    assert code == 0, shown
    # A bar on the terminal: the SDK's own ("[#####...]") or tqdm's ("100%").
    assert re.search(r"100%|\[#{30}\]", shown), shown
    assert f"uploaded {name}/a/v1" in shown

    code, shown = in_terminal(["--transport", "remote", "ls", "-l", f"{name}/a"], env)
    assert code == 0, shown
    assert "\x1b[" in shown  # styled for a terminal
    assert re.search("[─━]{10}", shown), shown  # box lines under the header
    assert re.search(r"v1 \(latest\)", shown)

    code, shown = in_terminal(["rm", f"{name}/a/v1"], env, answer="n\n")
    assert (code, "Remove version" in shown) == (1, True), shown
    with GobblerClient(service.url, transport="local") as client:
        assert client.project(name).asset("a").version("v1").exists()
        code, shown = in_terminal(["rm", f"{name}/a/v1"], env, answer="y\n")
        assert code == 0, shown
        assert not client.project(name).asset("a").version("v1").exists()
