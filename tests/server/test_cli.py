"""The command line and start-up sequence (PROTOCOL.md 2.1, 2.2, 12).

These run ``python -m gobbler_sdk.server`` as a subprocess, or the reference binary when ``GOBBLER_BINARY``
is set: both must accept the same arguments and fail the same way.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from gobbler_sdk.testing import free_port

from ..conftest import GOBBLER_BINARY
from .conftest import other_users
from .harness import Gobbler, Link, unique
from .harness import me as harness_me

COMMAND = [GOBBLER_BINARY] if GOBBLER_BINARY else [sys.executable, "-m", "gobbler_sdk.server"]


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    staging, registry = tmp_path / "staging", tmp_path / "registry"
    staging.mkdir()
    registry.mkdir()
    return staging, registry


def _run(args: Sequence[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command line that is expected to exit on its own."""
    return subprocess.run(
        [*COMMAND, *args], cwd=cwd, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL
    )


@contextlib.contextmanager
def _serving(
    args: Sequence[str], port: int, cwd: Path | None = None, umask: int = -1
) -> Iterator[httpx.Client]:
    """Start a service that is expected to come up; yield a client for it; stop it."""
    process = subprocess.Popen(
        [*COMMAND, *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        umask=umask,
        start_new_session=True,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            deadline = time.monotonic() + 20
            while True:
                if process.poll() is not None:
                    stderr = process.stderr.read().decode() if process.stderr else ""
                    pytest.fail(f"exited with {process.returncode}: {stderr}")
                with contextlib.suppress(httpx.TransportError):
                    client.get("/")
                    break
                assert time.monotonic() < deadline, "the service did not come up"
                time.sleep(0.02)
            yield client
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()


def _base(dirs: tuple[Path, Path]) -> list[str]:
    staging, registry = dirs
    return ["-staging", str(staging), "-registry", str(registry)]


# ------------------------------------------------------------------------------ exit statuses


@pytest.mark.parametrize(
    "args", [[], ["-staging", "S"], ["-registry", "R"], ["-staging", "", "-registry", "R"]]
)
def test_missing_staging_or_registry_exits_1(dirs: tuple[Path, Path], args: list[str]) -> None:
    staging, registry = dirs
    args = [a.replace("S", str(staging)).replace("R", str(registry)) for a in args]
    result = _run(args)
    assert result.returncode == 1
    assert "Usage" in result.stderr


@pytest.mark.parametrize("flag", ["-bogus", "--Port"])
def test_unknown_flag_exits_2(dirs: tuple[Path, Path], flag: str) -> None:
    result = _run([*_base(dirs), flag, "1"])
    assert result.returncode == 2
    assert f"flag provided but not defined: -{flag.lstrip('-')}" in result.stderr
    assert "Usage" in result.stderr


@pytest.mark.parametrize(
    ("flag", "value", "problem"),
    [
        ("port", "x", "parse error"),
        ("port", "1.5", "parse error"),
        ("port", "1_0_", "parse error"),
        ("port", "99999999999999999999", "value out of range"),
        ("probation", "0b2", "parse error"),
        ("concurrency", "", "parse error"),
    ],
)
def test_bad_integer_exits_2(dirs: tuple[Path, Path], flag: str, value: str, problem: str) -> None:
    result = _run([*_base(dirs), f"-{flag}", value])
    assert result.returncode == 2
    assert f'invalid value "{value}" for flag -{flag}: {problem}' in result.stderr


def test_flag_without_its_value_exits_2(dirs: tuple[Path, Path]) -> None:
    result = _run([*_base(dirs), "-port"])
    assert result.returncode == 2
    assert "flag needs an argument: -port" in result.stderr


@pytest.mark.parametrize("arg", ["---staging", "-=x", "--=x"])
def test_bad_flag_syntax_exits_2(dirs: tuple[Path, Path], arg: str) -> None:
    result = _run([*_base(dirs), arg, "x"])
    assert result.returncode == 2
    assert f"bad flag syntax: {arg}" in result.stderr


@pytest.mark.parametrize("arg", ["-h", "--help"])
def test_help_exits_0(dirs: tuple[Path, Path], arg: str) -> None:
    result = _run([*_base(dirs), arg])
    assert result.returncode == 0
    assert "-staging" in result.stderr


def test_missing_registry_directory_exits_1(dirs: tuple[Path, Path]) -> None:
    staging, registry = dirs
    result = _run(["-staging", str(staging), "-registry", str(registry / "nope"), "-port", str(free_port())])
    assert result.returncode == 1


def test_missing_staging_directory_exits_1_after_creating_logs(dirs: tuple[Path, Path]) -> None:
    staging, registry = dirs
    result = _run(["-staging", str(staging / "nope"), "-registry", str(registry), "-port", str(free_port())])
    assert result.returncode == 1
    # ..logs is step 4 of the start-up sequence, listing staging step 5.
    assert (registry / "..logs").is_dir()


def test_staging_that_is_a_file_exits_1(dirs: tuple[Path, Path]) -> None:
    staging, registry = dirs
    (staging / "file").write_text("")
    result = _run(["-staging", str(staging / "file"), "-registry", str(registry), "-port", str(free_port())])
    assert result.returncode == 1


@pytest.mark.parametrize("port", ["65536", "-1"])
def test_port_out_of_range_exits_1(dirs: tuple[Path, Path], port: str) -> None:
    assert _run([*_base(dirs), "-port", port]).returncode == 1


def test_port_in_use_exits_1(dirs: tuple[Path, Path]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert _run([*_base(dirs), "-port", str(port)]).returncode == 1


# ------------------------------------------------------------------------------ whitelist and spoof files


@pytest.mark.parametrize(
    "content",
    [b"/a\n\n/b\n", b"\n", b"relative/dir\n", b" /a\n"],
)
def test_bad_whitelist_exits_1(dirs: tuple[Path, Path], tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "whitelist.txt"
    path.write_bytes(content)
    result = _run([*_base(dirs), "-port", str(free_port()), "-whitelist", str(path)])
    assert result.returncode == 1
    assert "Usage" not in result.stderr


@pytest.mark.parametrize(
    "content",
    [b"\n", b"a:b\n\n", b"a:b:c\n", b"a\n", b"a:b\rc:d\n"],
)
def test_bad_spoof_file_exits_1(dirs: tuple[Path, Path], tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "spoof.txt"
    path.write_bytes(content)
    result = _run([*_base(dirs), "-port", str(free_port()), "-spoof", str(path)])
    assert result.returncode == 1
    assert "Usage" not in result.stderr


@pytest.mark.parametrize("flag", ["-whitelist", "-spoof"])
def test_missing_configuration_file_exits_1(dirs: tuple[Path, Path], tmp_path: Path, flag: str) -> None:
    result = _run([*_base(dirs), "-port", str(free_port()), flag, str(tmp_path / "nope.txt")])
    assert result.returncode == 1


@pytest.mark.parametrize(
    ("whitelist", "spoof"),
    [(b"", b""), (b"/a\r\n/b/./c//\r\n/", b"a:b\r\nc:*,-d\r\na:\n:\nb:,")],
)
def test_acceptable_configuration_files(
    dirs: tuple[Path, Path], tmp_path: Path, whitelist: bytes, spoof: bytes
) -> None:
    (tmp_path / "w.txt").write_bytes(whitelist)
    (tmp_path / "s.txt").write_bytes(spoof)
    port = free_port()
    args = [
        *_base(dirs),
        "-port",
        str(port),
        "-whitelist",
        str(tmp_path / "w.txt"),
        "-spoof",
        str(tmp_path / "s.txt"),
    ]
    with _serving(args, port) as client:
        assert client.get("/").status_code == 200


# ------------------------------------------------------------------------------ spellings and values


@pytest.mark.parametrize(
    "style",
    [
        lambda n, v: [f"-{n}", v],
        lambda n, v: [f"--{n}", v],
        lambda n, v: [f"-{n}={v}"],
        lambda n, v: [f"--{n}={v}"],
    ],
    ids=["-name value", "--name value", "-name=value", "--name=value"],
)
def test_flag_spellings(dirs: tuple[Path, Path], style: Callable[[str, str], list[str]]) -> None:
    staging, registry = dirs
    port = free_port()
    args = [*style("staging", str(staging)), *style("registry", str(registry)), *style("port", str(port))]
    args += (
        style("prefix", "pre/fix")
        + style("admin", "a,b")
        + style("probation", "3")
        + style("concurrency", "2")
    )
    with _serving(args, port) as client:
        assert client.get("/pre/fix/info").json() == {"registry": str(registry), "staging": str(staging)}


def test_paths_are_cleaned_not_made_absolute(tmp_path: Path) -> None:
    (tmp_path / "st").mkdir()
    (tmp_path / "reg").mkdir()
    port = free_port()
    with _serving(
        ["-staging", "st//", "-registry", "./reg/.", "-port", str(port)], port, cwd=tmp_path
    ) as client:
        assert client.get("/info").json() == {"registry": "reg", "staging": "st"}
    assert (tmp_path / "reg" / "..logs").is_dir()


def test_integer_flags_use_go_syntax(dirs: tuple[Path, Path]) -> None:
    port = free_port()
    with _serving(
        [*_base(dirs), "-port", hex(port), "-concurrency", "0o17", "-probation", "-0_1"], port
    ) as client:
        assert client.get("/").status_code == 200
    octal = free_port()
    with _serving([*_base(dirs), "-port", "0" + oct(octal)[2:]], octal) as client:
        assert client.get("/").status_code == 200


def test_last_repetition_of_a_flag_wins(dirs: tuple[Path, Path]) -> None:
    port = free_port()
    with _serving([*_base(dirs), "-port", "1", "-port", str(port)], port) as client:
        assert client.get("/").status_code == 200


@pytest.mark.parametrize("tail", [["extra", "-bogus", "1"], ["--", "-bogus"]])
def test_parsing_stops_at_the_first_non_flag(dirs: tuple[Path, Path], tail: list[str]) -> None:
    port = free_port()
    with _serving([*_base(dirs), "-port", str(port), *tail], port) as client:
        assert client.get("/").status_code == 200


# ------------------------------------------------------------------------------ start-up effects


def test_logs_directory_is_created_with_mode_0755(dirs: tuple[Path, Path]) -> None:
    staging, registry = dirs
    port = free_port()
    with _serving([*_base(dirs), "-port", str(port)], port, umask=0):
        pass
    assert sorted(os.listdir(registry)) == ["..logs"]
    assert stat.S_IMODE((registry / "..logs").stat().st_mode) == 0o755
    assert os.listdir(registry / "..logs") == []
    assert os.listdir(staging) == []


def test_existing_logs_directory_is_left_alone(dirs: tuple[Path, Path]) -> None:
    _, registry = dirs
    (registry / "..logs").mkdir(mode=0o700)
    os.chmod(registry / "..logs", 0o700)
    (registry / "..logs" / "old").write_text("{}")
    port = free_port()
    with _serving([*_base(dirs), "-port", str(port)], port):
        pass
    assert stat.S_IMODE((registry / "..logs").stat().st_mode) == 0o700
    assert os.listdir(registry / "..logs") == ["old"]


def test_logs_that_is_a_file_is_tolerated(dirs: tuple[Path, Path]) -> None:
    _, registry = dirs
    (registry / "..logs").write_text("not a directory")
    port = free_port()
    with _serving([*_base(dirs), "-port", str(port)], port) as client:
        assert client.get("/").status_code == 200


# ------------------------------------------------------------------------------ embedded extras


@pytest.mark.embedded_only
def test_host_flag(dirs: tuple[Path, Path]) -> None:
    port = free_port()
    with _serving([*_base(dirs), "-port", str(port), "-host", "127.0.0.1"], port) as client:
        assert client.get("/").status_code == 200


@pytest.mark.embedded_only
def test_zero_concurrency_is_refused(dirs: tuple[Path, Path]) -> None:
    # The reference would accept it and then hang on the first file.
    result = _run([*_base(dirs), "-port", str(free_port()), "-concurrency", "0"])
    assert result.returncode == 1
    assert "concurrency" in result.stderr


# ------------------------------------------------------------------------------ administrators (root only)


@pytest.mark.root_only
@pytest.mark.parametrize(
    ("admins", "allowed"), [("someone,{u}", True), ("someone, {u}", False), ("{u},", True)]
)
def test_admin_list_is_split_on_commas_without_trimming(
    start_gobbler_variant: Callable[..., Gobbler], admins: str, allowed: bool
) -> None:
    users = other_users()
    if not users:
        pytest.skip("no other account to chown to")
    name, uid, gid = users[0]
    service = start_gobbler_variant(admin=admins.format(u=name))
    reply = service.request("create_project", {"project": unique()}, owner=(uid, gid))
    assert reply.status == (200 if allowed else 403), reply


# ------------------------------------------------------------------------------ spoof file semantics


def _spoofing_outcome(service: Gobbler, project: str, target: str) -> str:
    reply = service.request(
        "set_permissions", {"project": project, "spoof": target, "permissions": {"owners": [service.user]}}
    )
    if reply.status == 403 and "is not authorized to spoof" in reply.reason:
        return "denied"
    assert reply.status == 403, reply  # acting as the target, who owns nothing
    assert f'user "{target}" is not authorized' in reply.reason
    return "allowed"


@pytest.mark.parametrize(
    ("entries", "outcomes"),
    [
        # Without "*", only explicit names count and exclusions are irrelevant.
        ("alice,-alice,-bob,bob", {"alice": "allowed", "bob": "allowed", "carol": "denied"}),
        # With "*", the exclusions alone decide, even against an explicit name.
        ("*,alice,-alice,-bob,bob", {"alice": "denied", "bob": "denied", "carol": "allowed"}),
        ("-alice,dave,*", {"alice": "denied", "dave": "allowed", "carol": "allowed"}),
        ("-alice", {"alice": "denied", "carol": "denied"}),
    ],
)
def test_spoof_entries(
    start_gobbler_variant: Callable[..., Gobbler], tmp_path: Path, entries: str, outcomes: dict[str, str]
) -> None:
    spoof = tmp_path / "spoof.txt"
    spoof.write_text(f"{harness_me()}:{entries}\n")
    service = start_gobbler_variant(spoof=spoof)
    project = service.create_project()
    assert {target: _spoofing_outcome(service, project, target) for target in outcomes} == outcomes


def test_later_spoof_line_replaces_the_earlier_one(
    start_gobbler_variant: Callable[..., Gobbler], tmp_path: Path
) -> None:
    me = harness_me()
    spoof = tmp_path / "spoof.txt"
    spoof.write_text(f"{me}:alice\n{me}:bob\nother:alice\n{me}:\n")
    service = start_gobbler_variant(spoof=spoof)
    project = service.create_project()
    assert _spoofing_outcome(service, project, "alice") == "denied"
    # A line with nothing after the colon is ignored rather than clearing the rights.
    assert _spoofing_outcome(service, project, "bob") == "allowed"


def test_spoof_lines_may_end_with_crlf(start_gobbler_variant: Callable[..., Gobbler], tmp_path: Path) -> None:
    spoof = tmp_path / "spoof.txt"
    spoof.write_bytes(f"{harness_me()}:*\r\n".encode())
    service = start_gobbler_variant(spoof=spoof)
    project = service.create_project()
    assert _spoofing_outcome(service, project, "alice") == "allowed"


@pytest.mark.parametrize("line", ["{d}\r\n", "{d}/./\n", "{d}//\n", "/nowhere\n{d}/sub/..\n"])
def test_whitelist_lines_are_cleaned(
    start_gobbler_variant: Callable[..., Gobbler], tmp_path: Path, line: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "data.txt").write_text("linked")
    whitelist = tmp_path / "whitelist.txt"
    whitelist.write_bytes(line.format(d=outside).encode())
    service = start_gobbler_variant(whitelist=whitelist)
    project = service.create_project()
    reply = service.upload(project, "asset", "v1", {"link": Link(str(outside / "data.txt"))})
    assert reply.status == 200, reply
    assert os.readlink(service.registry / project / "asset" / "v1" / "link") == str(outside / "data.txt")
