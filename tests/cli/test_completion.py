"""Shell completion through typer's machinery (the variables bash and zsh set), names from the registry."""

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

from ..client.conftest import new_project
from ..client.support import make_tree
from .conftest import SCRIPT, World, environment, run_script


def bash_candidates(url: str, cache: Path, words: str) -> list[str]:
    """What ``gobbler-sdk`` offers bash for the last of ``words`` (COMP_WORDS / COMP_CWORD)."""
    env = environment(
        url,
        cache,
        _GOBBLER_SDK_COMPLETE="complete_bash",
        COMP_WORDS=words,
        COMP_CWORD=str(len(words.split()) - (0 if words.endswith(" ") else 1)),
    )
    return [line for line in run_script([], env).stdout.splitlines() if line]


def test_names_are_completed_level_by_level(service: GobblerService, world: World, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    prefix = world.project[:-3]
    assert world.project + "/" in bash_candidates(service.url, cache, f"gobbler-sdk ls {prefix}")
    assert bash_candidates(service.url, cache, f"gobbler-sdk rm {world.project}/d") == [f"{world.asset}/"]
    # "permissions PATH" completes both its sub-commands and, as "permissions show" would, the names.
    assert bash_candidates(service.url, cache, f"gobbler-sdk permissions {world.project}/") == [world.asset]
    assert bash_candidates(service.url, cache, f"gobbler-sdk --transport remote approve {world.asset}/") == [
        f"{world.asset}/v1",
        f"{world.asset}/v2",
    ]
    assert bash_candidates(service.url, cache, f"gobbler-sdk cat {world.asset}/v1/") == [
        f"{world.asset}/v1/a.txt",
        f"{world.asset}/v1/empty",
        f"{world.asset}/v1/sub/",
    ]


def test_nothing_is_offered_when_the_service_is_unreachable(stopped: GobblerService, tmp_path: Path) -> None:
    assert bash_candidates(stopped.url, tmp_path / "cache", "gobbler-sdk ls x") == []


# What typing a line, pressing Tab, then adding "printf" in front makes bash run: one <word> per line.
_WORD = re.compile(r"^<(.*)>\r?$", re.MULTILINE)
_DONE = "DONE-42"


def completed_words(script: Path, env: dict[str, str], typed: list[str]) -> list[list[str]]:
    """Type each of ``typed`` (with its Tabs) at an interactive bash that sourced ``script``.

    After the completion, the line is turned into ``printf '<%s>\\n' LINE; echo DONE-42`` (Ctrl-A,
    Ctrl-E), so the words bash would have passed to the command come back one per line, unexpanded
    names and all; a name that escaped its quoting would run a command of its own instead.
    """
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    shell_env = {**env, "TERM": "dumb", "PS1": "$ ", "INPUTRC": "/dev/null", "HISTFILE": "/dev/null"}
    shell = subprocess.Popen(
        ["bash", "--norc", "--noprofile", "-i"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=shell_env,
        start_new_session=True,
    )
    os.close(slave)
    seen = b""

    def read_until(token: bytes) -> bytes:
        nonlocal seen
        deadline = time.monotonic() + 60
        while token not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                seen += os.read(master, 65536)
        assert token in seen, seen.decode(errors="replace")
        before, _, seen = seen.partition(token)
        return before

    try:
        os.write(master, f"source '{script}'; echo READY-$((1+1))\n".encode())
        read_until(b"READY-2")
        answers = []
        for line in typed:
            # Readline runs the completion before it reads what was typed after the Tab.
            os.write(master, (line + "\x01printf '<%s>\\n' \x05; echo DONE-$((6*7))\n").encode())
            answers.append(_WORD.findall(read_until(_DONE.encode()).decode(errors="replace")))
        return answers
    finally:
        os.write(master, b"exit\n")
        try:
            shell.wait(timeout=10)
        except subprocess.TimeoutExpired:
            shell.kill()
            shell.wait()
        os.close(master)


def test_bash_inserts_hostile_names_safely_and_no_space_after_a_directory(
    service: GobblerService, tmp_path: Path
) -> None:
    project = new_project(service)
    tree = {"data;id": "d", "evil\nname": "e", "sp ace": "s", "dir;x/in": "i", "a.txt": "a"}
    with GobblerClient(service.url, cache=tmp_path / "api-cache") as client:
        client.project(project).asset("things").upload("v1", make_tree(tmp_path / "src", tree))
    env = environment(service.url, tmp_path / "cache", PATH=f"{SCRIPT.parent}:{os.environ['PATH']}")
    script = tmp_path / "completion.bash"
    # --show-completion prints the script of the shell it runs under (typer detects it from the parent
    # process), so it is run from bash: under a test runner the parent may be no shell at all.
    shown = subprocess.run(
        ["bash", "-c", '"$0" --show-completion; exit $?', str(SCRIPT)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    script.write_text(shown.stdout)

    key = f"{project}/things/v1"
    words = completed_words(
        script,
        env,
        [
            f"gobbler-sdk cat {key}/da\t",  # data;id, escaped: no "id" command runs
            f"gobbler-sdk ls {project}/th\tZ",  # things/ and no space: Z continues the word
            f"gobbler-sdk cat {key}/sp\t",
            f"gobbler-sdk ls {key}/di\tZ",
            f"gobbler-sdk cat {key}/ev\t",  # a name with a newline is never offered
        ],
    )
    assert words == [
        ["gobbler-sdk", "cat", f"{key}/data;id"],
        ["gobbler-sdk", "ls", f"{project}/things/Z"],
        ["gobbler-sdk", "cat", f"{key}/sp ace"],
        ["gobbler-sdk", "ls", f"{key}/dir;x/Z"],
        ["gobbler-sdk", "cat", f"{key}/ev"],
    ]
    # The candidates as bash receives them: escaped, one per line, the newline name left out.
    assert bash_candidates(service.url, tmp_path / "cache", f"gobbler-sdk cat {key}/") == [
        f"{key}/a.txt",
        f"{key}/data\\;id",
        f"{key}/dir\\;x/",
        f"{key}/sp\\ ace",
    ]
