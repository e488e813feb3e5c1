"""Exit statuses, one per error family, with a one-line message (a traceback only with -v)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gobbler_sdk import GobblerClient
from gobbler_sdk.cli import exitcodes
from gobbler_sdk.testing import GobblerService

from ..client.support import Answer, LyingServer, unique
from .conftest import Runner, World


def one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("gobbler-sdk: error: ")
    return lines[0]


def test_not_found_invalid_usage_and_configuration(cli: Runner, world: World) -> None:
    missing = cli("--json", "manifest", f"{world.asset}/nope", expect=exitcodes.NOT_FOUND)
    error = missing.json()["error"]
    assert error["type"] == "NotFoundError" and error["exit_code"] == 3
    assert error["message"] in one_line(missing.stderr)
    one_line(cli("ls", f"{world.project}/..data", expect=exitcodes.INVALID).stderr)
    one_line(cli("cat", f"{world.asset}/v1/../../x", expect=exitcodes.INVALID).stderr)
    assert "No such option" in cli("ls", "--no-such-option", expect=exitcodes.USAGE).stderr
    one_line(cli("--transport", "local", "--registry", "/nonexistent/registry", "ls", expect=9).stderr)


def test_verbose_adds_the_traceback(cli: Runner, world: World) -> None:
    result = cli("ls", "-v", f"{world.asset}/nope", expect=exitcodes.NOT_FOUND)
    assert "Traceback (most recent call last)" in result.stderr
    assert "NotFoundError" in result.stderr


def test_permission_denied(cli: Runner, restricted: GobblerService) -> None:
    # The restricted service's only administrator is someone else.
    one_line(cli("create", unique("cli"), url=restricted.url, expect=exitcodes.PERMISSION_DENIED).stderr)


def test_service_unavailable(cli: Runner, stopped: GobblerService) -> None:
    result = cli("--json", "ls", url=stopped.url, expect=exitcodes.SERVICE_UNAVAILABLE)
    assert result.json()["error"]["type"] == "ServiceUnavailableError"


def test_integrity_and_service_errors_from_a_lying_server(
    cli: Runner, world: World, proxy: LyingServer
) -> None:
    path = f"{world.asset}/v1/a.txt"
    proxy.answer(f"/fetch/{path}", Answer(body=b"HELLO\n", content_type="text/plain"))
    result = cli("cat", path, transport="remote", url=proxy.url, expect=exitcodes.INTEGRITY)
    assert result.stdout == ""  # nothing unverified reaches standard output
    one_line(result.stderr)
    proxy.answer(f"/list?path={world.project}", Answer(500, {"status": "ERROR", "reason": "disk on fire"}))
    error = cli("--json", "ls", world.project, transport="remote", url=proxy.url, expect=8)
    assert "disk on fire" in error.json()["error"]["message"]


@pytest.mark.parametrize("stdin", ["", "y\n"])
def test_rm_refuses_without_a_terminal_or_yes(
    cli: Runner, world: World, service: GobblerService, stdin: str
) -> None:
    result = cli("rm", world.asset, input=stdin, expect=exitcodes.USAGE)
    assert "without --yes" in one_line(result.stderr)
    with GobblerClient(service.url, transport="local") as client:
        assert client.project(world.project).asset("data").exists()


COMMANDS = [
    *["info", "ls", "cat", "manifest", "summary", "latest", "usage", "download", "create", "upload"],
    *["approve", "reject", "reindex", "validate", "rm", "reroute", "clone", "serve"],
    *["permissions show", "permissions set", "cache ls", "cache verify", "cache prune", "cache rm"],
]


def test_usage_errors_are_one_line_and_a_json_document_with_json(cli: Runner) -> None:
    plain = cli("ls", "--no-such-option", expect=exitcodes.USAGE)
    assert plain.stdout == ""
    assert one_line(plain.stderr) == (
        "gobbler-sdk: error: No such option: --no-such-option (see 'gobbler-sdk ls --help')"
    )
    for args in (
        ["--json", "ls", "--no-such-option"],
        ["ls", "--no-such-option", "--json"],  # --json after the mistake: never parsed
        ["download", "--json"],  # a missing argument
        ["--json", "no-such-command"],
        ["--json", "download", "x/y/z", "--concurrency", "0"],  # a value out of range
        ["--json", "cache"],  # a group without its command: no help on standard output
    ):
        result = cli(*args, expect=exitcodes.USAGE)
        error = result.json()["error"]
        assert (error["type"], error["exit_code"]) == ("UsageError", 2), args
        assert one_line(result.stderr) == f"gobbler-sdk: error: {error['message']}"


def test_help_shows_no_type_after_flags(tmp_path: Path) -> None:
    # One interpreter for every command's help: the program's own entry point, as the script calls it.
    code = f"""
import contextlib, io, json
from gobbler_sdk.cli import main
pages = {{}}
for words in {[c.split() for c in COMMANDS]!r}:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        main([*words, "--help"])
    pages[" ".join(words)] = out.getvalue()
with contextlib.redirect_stdout(io.StringIO()) as out:
    main(["--help"])
pages[""] = out.getvalue()
print(json.dumps(pages))
"""
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True, env=env
    )
    pages = json.loads(done.stdout)
    assert set(pages) == {*COMMANDS, ""}
    for name, page in pages.items():
        assert "Usage: gobbler-sdk" in page, name
        assert "<bool>" not in page and "<int>" not in page, (name, page)
    assert re.search(r"--concurrency +N \[x>=1\] +Parallel downloads", pages["download"])
    assert re.search(r"--overwrite +Download again", pages["download"])
