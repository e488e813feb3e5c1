"""A session at a real pseudo-terminal: progress bars, drawn tables, and the confirmation prompt of rm."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable
from pathlib import Path

from gobbler_sdk import GobblerClient
from gobbler_sdk.testing import GobblerService

from ..client.conftest import new_project
from ..client.support import Answer, LyingServer, make_tree, unique
from .conftest import SCRIPT, environment

_DEADLINE = 60.0


def in_terminal(
    args: list[str],
    env: dict[str, str],
    *,
    answer: str | None = None,
    interrupt_when: Callable[[str], bool] | None = None,
) -> tuple[int, str]:
    """Run the script with stdin, stdout and stderr on a pty; type ``answer`` at the first prompt.

    With ``interrupt_when``, press Ctrl-C (SIGINT to the process) once what was shown satisfies it.
    """
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
                if interrupt_when is not None and interrupt_when(seen.decode("utf-8", errors="replace")):
                    os.killpg(process.pid, signal.SIGINT)
                    interrupt_when = None
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


_PERCENT = re.compile(r"(\d+)%\|")


def test_no_bar_for_a_read_that_cannot_start(service: GobblerService, tmp_path: Path) -> None:
    env = environment(service.url, tmp_path / "cache")
    name = new_project(service)
    source = make_tree(tmp_path / "src", {f"f{i}.bin": "x" * 1000 for i in range(3)})
    with GobblerClient(service.url) as client:
        key = client.project(name).asset("a").upload("v1", source).key
    # The manifest is cached, the files are not: offline, the download cannot start.
    code, shown = in_terminal(["--transport", "remote", "manifest", key], env)
    assert code == 0, shown
    code, shown = in_terminal(["--offline", "--transport", "remote", "download", key], env)
    assert code == 3, shown
    assert shown.startswith("gobbler-sdk: error: ") and shown.count("\n") == 1, shown
    assert "%|" not in shown


def shown_percents(text: str) -> list[int]:
    """The percentages the bars showed, in order."""
    return [int(p) for p in _PERCENT.findall(text)]


def _dripped_version(
    service: GobblerService, proxy: LyingServer, tmp_path: Path, size: int, *, every: float
) -> tuple[str, bytes]:
    """A version holding ``big.bin`` (``size`` random bytes), which ``proxy`` drips 512 KiB at a time."""
    name = new_project(service)
    data = os.urandom(size)
    with GobblerClient(service.url) as client:
        key = client.project(name).asset("a").upload("v1", make_tree(tmp_path / "src", {"big.bin": data})).key
    proxy.answer(
        f"/fetch/{key}/big.bin",
        Answer(body=data, content_type="application/octet-stream", drip=every, drip_size=512 << 10),
    )
    return key, data


def test_the_bar_keeps_its_value_after_ctrl_c(
    service: GobblerService, proxy: LyingServer, tmp_path: Path
) -> None:
    env = environment(proxy.url, tmp_path / "cache")
    # 512 KiB every 0.15 s (the SDK counts 1 MiB pieces): about 2.5 s, long enough to stop half-way.
    key, _ = _dripped_version(service, proxy, tmp_path, 8 << 20, every=0.15)

    def partway(text: str) -> bool:
        return any(25 <= p < 90 for p in shown_percents(text))

    code, shown = in_terminal(["--transport", "remote", "download", key], env, interrupt_when=partway)
    assert code == 130, shown
    assert shown.rstrip().endswith("gobbler-sdk: error: interrupted"), shown
    before = next(p for p in shown_percents(shown) if 25 <= p < 90)
    # The bar as it was left on the screen: never back below what it had reached.
    assert shown_percents(shown)[-1] >= before, shown


def test_a_resumed_download_starts_its_bar_from_the_kept_bytes(
    service: GobblerService, proxy: LyingServer, tmp_path: Path
) -> None:
    # Ctrl-C part-way through a large file keeps its bytes (issue 19, "Resume"); the next run asks only for
    # the rest, and its bar starts where the interrupted one stopped instead of at 0%.
    env = environment(proxy.url, tmp_path / "cache")
    size = 16 << 20
    # 512 KiB every 0.1 s: about 3 s for the whole file, so both runs draw the bar several times.
    key, data = _dripped_version(service, proxy, tmp_path, size, every=0.1)
    partial = tmp_path / "cache" / "REGISTRY" / key / ".gobbler-big.bin.incomplete"

    def partway(text: str) -> bool:
        return any(25 <= p < 75 for p in shown_percents(text))

    args = ["--transport", "remote", "download", key, "--to", str(tmp_path / "out")]
    code, shown = in_terminal(args, env, interrupt_when=partway)
    assert code == 130, shown
    kept = partial.stat().st_size
    assert size // 8 <= kept < size, kept
    # The rest only, as the service would send it for "Range: bytes=<kept>-": no other answer adds up.
    proxy.answer(
        f"/fetch/{key}/big.bin",
        Answer(
            206,
            data[kept:],
            content_type="application/octet-stream",
            headers={"Content-Range": f"bytes {kept}-{size - 1}/{size}"},
            drip=0.1,
            drip_size=512 << 10,
        ),
    )
    code, shown = in_terminal(args, env)
    assert code == 0, shown
    percents = shown_percents(shown)
    assert len(percents) >= 3, shown  # drawn while the rest arrived, not only at the end
    assert min(percents) >= kept * 100 // size, shown
    assert percents == sorted(percents) and percents[-1] == 100, shown
    assert (tmp_path / "out" / "big.bin").read_bytes() == data
    assert not partial.exists()
