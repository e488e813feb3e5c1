"""What an upload sends: file names that are not UTF-8 are refused first, and what it leaves out is reported.

Issue 19 ("Two file names become one"): the service records file names in a JSON manifest, where bytes that
are not UTF-8 become U+FFFD, so ``r\\xe9sum\\xe9.txt`` and ``r\\xe8sum\\xe8.txt`` become one key and the
version never validates. Issue 18 §2 ("Files dropped on upload"): the plan of an upload lists what it leaves
out, and that list is exactly the difference between the tree and the stored manifest, on both services.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from gobbler_sdk import GobblerClient, InvalidNameError, InvalidRequestError, Project
from gobbler_sdk._staging import check_tree, warn_left_out
from gobbler_sdk.testing import GobblerService

from .support import Link, make_tree, snapshot, unique


def test_file_names_that_are_not_utf8_are_refused_before_copying(
    project: Project, service: GobblerService, tmp_path: Path
) -> None:
    source = make_tree(tmp_path / "src", {"fine.txt": "ok", "sub/also-fine.txt": "ok"})
    for name in (b"r\xe9sum\xe9.txt", b"r\xe8sum\xe8.txt", b"sub/caf\xe9"):
        with open(os.fsencode(source) + b"/" + name, "wb") as out:
            out.write(b"latin-1")
    os.mkdir(os.fsencode(source) + b"/d\xff")
    with open(os.fsencode(source) + b"/d\xff/inside.txt", "wb") as out:
        out.write(b"x")
    before = snapshot(service.staging)

    with pytest.raises(InvalidNameError) as caught:
        project.asset("a").upload("v1", source)

    message = str(caught.value)
    assert "4 entries with a name that is not valid UTF-8" in message
    for shown in (r"r\xe9sum\xe9.txt", r"r\xe8sum\xe8.txt", r"sub/caf\xe9", r"d\xff"):
        assert f"{source}/{shown}" in message
    assert "inside.txt" not in message and "fine.txt" not in message
    assert isinstance(caught.value, InvalidRequestError)
    assert snapshot(service.staging) == before
    assert not project.asset("a").version("v1").exists()


def test_an_in_place_tree_is_checked_for_names_only(tmp_path: Path) -> None:
    source = make_tree(tmp_path / "in-place", {"ok.txt": "ok", "dangling": Link("missing")})
    assert check_tree(source, ignore_dot=False, names_only=True).problems  # left to the service's walk
    with open(os.fsencode(source) + b"/caf\xe9", "wb") as out:
        out.write(b"x")
    with pytest.raises(InvalidNameError, match="1 entry with a name that is not valid UTF-8") as caught:
        check_tree(source, ignore_dot=False, names_only=True)
    assert "dangling" not in str(caught.value)
    with pytest.raises(InvalidNameError, match="dangling"):
        check_tree(source, ignore_dot=False)


ZARR = {
    ".zgroup": '{"zarr_format": 2}',
    ".zattrs": "{}",
    "0/.zarray": "{}",
    "0/0.0": "chunk",
    ".git/config": "[core]",
    "..meta": "never stored",
    "sub/..x/y": "never stored either",
    "sub/kept.txt": "kept",
}


@pytest.mark.parametrize(
    ("ignore_dot", "left_out"),
    [
        (True, [".git", ".zattrs", ".zgroup", "..meta", "0/.zarray", "sub/..x"]),
        (False, ["..meta", "sub/..x"]),
    ],
)
def test_the_plan_names_what_the_upload_leaves_out_as_the_service_does(
    project: Project, tmp_path: Path, ignore_dot: bool, left_out: list[str]
) -> None:
    source = make_tree(tmp_path / unique("zarr"), ZARR)
    plan = check_tree(source, ignore_dot=ignore_dot)
    assert sorted(plan.left_out) == sorted(left_out)

    version = project.asset("a").upload("v1", source, ignore_dot=ignore_dot)

    stored = set(version.manifest())
    everything = {path for path, content in ZARR.items() if content is not None}
    dropped = {path for path in everything if any(path == p or path.startswith(p + "/") for p in left_out)}
    assert stored == everything - dropped
    assert sorted(path for path, _ in plan.files) == sorted(stored)


def test_what_is_left_out_is_logged_at_warning_by_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = make_tree(tmp_path / "zarr", ZARR)
    plan = check_tree(source, ignore_dot=True)
    with caplog.at_level(logging.WARNING, logger="gobbler_sdk"):
        warn_left_out(source, plan.left_out, what="upload p/a/v1")
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert message.startswith(f"upload p/a/v1: 6 entries of {str(source)!r} not uploaded")
    assert "'..' are never stored by the service" in message and "ignore_dot=True" in message
    assert message.endswith(": '..meta', '.git', '.zattrs', '.zgroup', '0/.zarray', 'sub/..x'")
    assert "\n" not in message
    caplog.clear()
    warn_left_out(source, [".evil\n\x1b]0;title\x07"], what="upload p/a/v1")
    assert caplog.records[0].getMessage().endswith(r"'.evil\n\x1b]0;title\x07'")
    caplog.clear()
    warn_left_out(source, [], what="upload p/a/v1")
    assert caplog.records == []


def test_an_upload_warns_itself_of_what_it_leaves_out(
    client: GobblerClient, project: Project, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = make_tree(tmp_path / "zarr", {".zgroup": "{}", "0/.zarray": "{}", "0/0": "data"})
    with caplog.at_level(logging.WARNING, logger="gobbler_sdk"):
        version = project.asset("a").upload("v1", source, ignore_dot=True)
    assert sorted(version.manifest()) == ["0/0"]
    (record,) = [r for r in caplog.records if "not uploaded" in r.getMessage()]
    assert record.getMessage().endswith(": '.zgroup', '0/.zarray'")
