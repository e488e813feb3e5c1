"""Terminal safety: what people read shows control characters escaped; --json keeps the exact names.

Names of files (and the service's reasons and /info values) are chosen by whoever can write to the
registry or answer as the service; none may move the cursor, retitle the window or fake a line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from gobbler_sdk import GobblerClient, Version
from gobbler_sdk.testing import GobblerService

from ..client.conftest import new_project
from ..client.support import Answer, LyingServer, make_tree
from .conftest import Runner

# Names with an escape sequence (window title), a newline (a fake entry), a bell, C1 CSI, DEL, U+2028,
# a bidirectional override, and shell metacharacters (harmless on a terminal).
HOSTILE = {
    "title\x1b]0;pwned\x07.txt": "t",
    "fake\nentry.txt": "f",
    "csi\x9b2J\x7f.txt": "c",
    "line\u2028sep\u202etxt.exe": "l",
    "data;id": "d",
}
SHOWN = [
    "csi\\x9b2J\\x7f.txt",
    "data;id",
    "fake\\nentry.txt",
    "line\\u2028sep\\u202etxt.exe",
    "title\\x1b]0;pwned\\x07.txt",
]
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]")


@pytest.fixture(scope="module")
def hostile(service: GobblerService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Version]:
    source = make_tree(tmp_path_factory.mktemp("hostile") / "src", HOSTILE)
    with GobblerClient(service.url, cache=tmp_path_factory.mktemp("hostile-cache")) as client:
        yield client.project(new_project(service)).asset("names").upload("v1", source)


def test_names_are_escaped_for_people_and_exact_in_json(cli: Runner, hostile: Version) -> None:
    listed = cli("ls", hostile.key)
    assert listed.stdout.splitlines() == SHOWN
    table = cli("ls", "-l", hostile.key).stdout
    assert not UNSAFE.search(table)
    assert [line.split()[0] for line in table.splitlines()[1:]] == SHOWN
    manifest = cli("manifest", hostile.key).stdout
    assert not UNSAFE.search(manifest) and "fake\\nentry.txt" in manifest
    assert {row["name"] for row in cli("--json", "ls", hostile.key).json()["entries"]} == set(HOSTILE)

    # A name in an error message, and in the confirmation of a command.
    missing = cli("cat", f"{hostile.key}/nope\x1b[2J\nfake", expect=3)
    assert missing.stderr.count("\n") == 1 and not UNSAFE.search(missing.stderr)
    assert "nope\\x1b[2J" in missing.stderr


def test_service_reasons_and_info_values_are_escaped(
    cli: Runner, service: GobblerService, proxy: LyingServer
) -> None:
    name = new_project(service)
    reason = "disk \x1b[31mon fire\x1b[0m\nfake: line\u2029\x85end"
    proxy.answer(f"/list?path={name}", Answer(500, {"status": "ERROR", "reason": reason}))
    failed = cli("ls", name, transport="remote", url=proxy.url, expect=8)
    assert failed.stdout == ""
    assert failed.stderr.count("\n") == 1 and not UNSAFE.search(failed.stderr)
    # Line breaks (U+2029 and NEL too) become spaces in the one line; other controls are escaped.
    assert "disk \\x1b[31mon fire\\x1b[0m fake: line end (HTTP 500)" in failed.stderr
    # With -v the traceback comes first, as safe as the rest.
    verbose = cli("-v", "ls", name, transport="remote", url=proxy.url, expect=8).stderr
    assert "Traceback" in verbose and "\\x1b[31mon fire" in verbose and not UNSAFE.search(verbose)
    # --json keeps the service's reason exactly (JSON escapes it).
    document = cli("--json", "ls", name, transport="remote", url=proxy.url, expect=8).json()
    assert document["error"]["reason"] == reason

    registry = f"{service.registry}\x1b]0;owned\x07"
    proxy.json("/info", {"registry": registry, "staging": str(service.staging)})
    shown = cli("info", transport="remote", url=proxy.url).stdout
    assert not UNSAFE.search(shown)
    assert f"{service.registry}\\x1b]0;owned\\x07" in shown
    assert cli("--json", "info", transport="remote", url=proxy.url).json()["registry"] == registry


def test_log_records_are_escaped(cli: Runner, hostile: Version) -> None:
    # -vv logs what the SDK does, the names of the files it downloads included.
    name = "title\x1b]0;pwned\x07.txt"
    logged = cli("-vv", "--transport", "remote", "cat", f"{hostile.key}/{name}").stderr
    shown = f"{hostile.key}/title\\x1b]0;pwned\\x07.txt"
    assert f"gobbler-sdk: DEBUG: cache miss: downloading {shown}\n" in logged
    assert not UNSAFE.search(logged)
