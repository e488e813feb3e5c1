"""``GET /fetch/{path}`` (PROTOCOL.md 3.6; edge case 48): a static file server over the registry.

Required by clients: 200 with the bytes (symlinks followed), a text/plain 404, the CORS header, HEAD.
Also pinned, because both implementations agree on them: Content-Type, Last-Modified, ranges, conditional
requests and directory redirects.
"""

from __future__ import annotations

import email.utils
import os
import re
from pathlib import Path

import pytest

from .harness import Gobbler, RawReply, raw_request, send_raw, unique

MTIME = 1_704_067_200  # 2024-01-01T00:00:00Z
MTIME_HTTP = "Mon, 01 Jan 2024 00:00:00 GMT"


def _fetch(gobbler: Gobbler, path: str, method: str = "GET", **headers: str) -> RawReply:
    return raw_request(
        gobbler.url, method, f"/fetch/{path}", {k.replace("_", "-"): v for k, v in headers.items()}
    )


@pytest.fixture
def files(gobbler: Gobbler, whitelisted_dir: Path) -> str:
    """A registry directory with assorted files, all with a fixed mtime; returns its name."""
    name = unique("fetch")
    root = gobbler.registry / name
    (root / "dir").mkdir(parents=True)
    (root / "idx").mkdir()
    contents: dict[str, bytes] = {
        "a.txt": b"hello world\n",
        "x.json": b'{"a":1}',
        "..usage": b'{\n    "total": 0\n}',
        "t.csv": b"a,b\n",
        "t.md": b"# x",
        "noext": b"plain words",
        "img": b"\x89PNG\r\n\x1a\n0000",
        "page": b"<html><body>hi</body></html>",
        "bin": b"abc\x00def",
        "empty": b"",
        "dir/f": b"x",
        "idx/index.html": b"<p>index</p>",
        "sp ace": b"spaced",
        "q?x": b"question",
    }
    for relative, data in contents.items():
        (root / relative).write_bytes(data)
    os.symlink("a.txt", root / "link")
    os.symlink("nowhere", root / "dangling")
    outside = whitelisted_dir / unique("outside")
    outside.write_bytes(b"from outside\n")
    os.symlink(outside, root / "external")
    for dirpath, dirnames, filenames in os.walk(root):
        for entry in [*dirnames, *filenames]:
            os.utime(os.path.join(dirpath, entry), (MTIME, MTIME), follow_symlinks=False)
    os.utime(outside, (MTIME, MTIME))
    return name


# ------------------------------------------------------------------------------ files


def test_file_bytes_and_headers(gobbler: Gobbler, files: str) -> None:
    reply = _fetch(gobbler, f"{files}/a.txt")
    assert reply.status == 200
    assert reply.body == b"hello world\n"
    assert reply.header("Content-Type") == "text/plain; charset=utf-8"
    assert reply.header("Content-Length") == "12"
    assert reply.header("Last-Modified") == MTIME_HTTP
    assert reply.header("Accept-Ranges") == "bytes"
    assert reply.header("Access-Control-Allow-Origin") == "*"


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("x.json", "application/json"),
        ("..usage", "text/plain; charset=utf-8"),
        ("noext", "text/plain; charset=utf-8"),
        ("empty", "text/plain; charset=utf-8"),
        ("img", "image/png"),
        ("page", "text/html; charset=utf-8"),
        ("bin", "application/octet-stream"),
        ("idx/index.html", None),  # redirected, see below
    ],
)
def test_content_type(gobbler: Gobbler, files: str, name: str, content_type: str | None) -> None:
    reply = _fetch(gobbler, f"{files}/{name}")
    if content_type is None:
        assert reply.status == 301
        return
    assert reply.status == 200
    assert reply.header("Content-Type") == content_type
    assert reply.body == (gobbler.registry / files / name).read_bytes()


def test_symlinks_are_followed(gobbler: Gobbler, files: str) -> None:
    reply = _fetch(gobbler, f"{files}/link")
    assert (reply.status, reply.body) == (200, b"hello world\n")
    outside = _fetch(gobbler, f"{files}/external")
    assert (outside.status, outside.body) == (200, b"from outside\n")
    assert outside.header("Last-Modified") == MTIME_HTTP


@pytest.mark.parametrize("name", ["missing", "dangling", "a.txt/x", "missing/", "nope/deeper/still"])
def test_missing_paths_are_a_text_404(gobbler: Gobbler, files: str, name: str) -> None:
    reply = _fetch(gobbler, f"{files}/{name}")
    assert reply.status == 404
    assert reply.body == b"404 page not found\n"
    assert reply.header("Content-Type") == "text/plain; charset=utf-8"
    assert reply.header("X-Content-Type-Options") == "nosniff"
    assert reply.header("Access-Control-Allow-Origin") == "*"


def test_nul_byte_is_a_500(gobbler: Gobbler, files: str) -> None:
    reply = _fetch(gobbler, f"{files}/a%00b")
    assert reply.status == 500
    assert reply.body == b"500 Internal Server Error\n"


def test_escaped_names(gobbler: Gobbler, files: str) -> None:
    assert _fetch(gobbler, f"{files}/sp%20ace").body == b"spaced"
    assert _fetch(gobbler, f"{files}/q%3Fx").body == b"question"
    # An encoded slash is just a slash once decoded.
    assert _fetch(gobbler, f"{files}%2Fa.txt").body == b"hello world\n"


def test_head(gobbler: Gobbler, files: str) -> None:
    reply = _fetch(gobbler, f"{files}/a.txt", "HEAD")
    assert reply.status == 200
    assert reply.body == b""
    assert reply.header("Content-Length") == "12"
    assert reply.header("Content-Type") == "text/plain; charset=utf-8"
    assert reply.header("Access-Control-Allow-Origin") == "*"


def test_large_file(gobbler: Gobbler) -> None:
    name = unique("large")
    data = os.urandom(3 * 1024 * 1024 + 17)
    (gobbler.registry / name).write_bytes(data)
    reply = _fetch(gobbler, name)
    assert reply.status == 200
    assert reply.header("Content-Length") == str(len(data))
    assert reply.body == data


def test_cannot_escape_the_registry(gobbler: Gobbler, files: str) -> None:
    reply = _fetch(gobbler, "%2e%2e/%2e%2e/%2e%2e/etc/passwd")
    assert reply.status == 404
    redirected = _fetch(gobbler, "../../etc/passwd")
    assert (redirected.status, redirected.header("Location")) == (301, "/etc/passwd")


# ------------------------------------------------------------------------------ ranges


@pytest.mark.parametrize(
    ("spec", "content_range", "body"),
    [
        ("bytes=0-4", "bytes 0-4/12", b"hello"),
        ("bytes=6-", "bytes 6-11/12", b"world\n"),
        ("bytes=-3", "bytes 9-11/12", b"ld\n"),
        ("bytes=-30", "bytes 0-11/12", b"hello world\n"),
        ("bytes=0-100", "bytes 0-11/12", b"hello world\n"),
        ("bytes= 2 - 3 ,", "bytes 2-3/12", b"ll"),
    ],
)
def test_single_range(gobbler: Gobbler, files: str, spec: str, content_range: str, body: bytes) -> None:
    reply = _fetch(gobbler, f"{files}/a.txt", Range=spec)
    assert reply.status == 206
    assert reply.header("Content-Range") == content_range
    assert reply.header("Content-Length") == str(len(body))
    assert reply.header("Content-Type") == "text/plain; charset=utf-8"
    assert reply.body == body


def test_several_ranges_are_multipart(gobbler: Gobbler, files: str) -> None:
    reply = _fetch(gobbler, f"{files}/a.txt", Range="bytes=0-1,3-4")
    assert reply.status == 206
    content_type = reply.header("Content-Type") or ""
    match = re.fullmatch(r"multipart/byteranges; boundary=([0-9a-f]+)", content_type)
    assert match is not None
    boundary = match.group(1)
    kind = "Content-Type: text/plain; charset=utf-8"
    expected = (
        f"--{boundary}\r\nContent-Range: bytes 0-1/12\r\n{kind}\r\n\r\nhe"
        f"\r\n--{boundary}\r\nContent-Range: bytes 3-4/12\r\n{kind}\r\n\r\nlo"
        f"\r\n--{boundary}--\r\n"
    ).encode()
    assert reply.body == expected
    assert reply.header("Content-Length") == str(len(expected))


def test_ranges_larger_than_the_file_serve_it_whole(gobbler: Gobbler, files: str) -> None:
    reply = _fetch(gobbler, f"{files}/a.txt", Range="bytes=0-8,3-9")
    assert (reply.status, reply.body) == (200, b"hello world\n")


@pytest.mark.parametrize(
    ("spec", "message", "content_range"),
    [
        ("bytes=20-30", "invalid range: failed to overlap", "bytes */12"),
        ("bytes=x", "invalid range", None),
        ("bytes=5-2", "invalid range", None),
        ("items=1-2", "invalid range", None),
    ],
)
def test_unsatisfiable_ranges(
    gobbler: Gobbler, files: str, spec: str, message: str, content_range: str | None
) -> None:
    reply = _fetch(gobbler, f"{files}/a.txt", Range=spec)
    assert reply.status == 416
    assert reply.body == (message + "\n").encode()
    assert reply.header("Content-Type") == "text/plain; charset=utf-8"
    assert reply.header("Content-Range") == content_range
    assert reply.header("Last-Modified") == MTIME_HTTP


def test_range_on_an_empty_file_is_ignored(gobbler: Gobbler, files: str) -> None:
    reply = _fetch(gobbler, f"{files}/empty", Range="bytes=0-4")
    assert (reply.status, reply.body) == (200, b"")


def test_head_with_range(gobbler: Gobbler, files: str) -> None:
    reply = _fetch(gobbler, f"{files}/a.txt", "HEAD", Range="bytes=1-2")
    assert reply.status == 206
    assert reply.header("Content-Range") == "bytes 1-2/12"
    assert reply.header("Content-Length") == "2"
    assert reply.body == b""


@pytest.mark.parametrize(
    ("if_range", "partial"), [(MTIME_HTTP, True), ("Mon, 01 Jan 2024 00:00:01 GMT", False)]
)
def test_if_range(gobbler: Gobbler, files: str, if_range: str, partial: bool) -> None:
    reply = _fetch(gobbler, f"{files}/a.txt", Range="bytes=1-2", If_Range=if_range)
    assert reply.status == (206 if partial else 200)


# ------------------------------------------------------------------------------ conditional requests


@pytest.mark.parametrize(
    ("header", "value", "status"),
    [
        ("If-Modified-Since", MTIME_HTTP, 304),
        ("If-Modified-Since", "Sun, 31 Dec 2023 23:59:59 GMT", 200),
        ("If-Modified-Since", "Monday, 01-Jan-24 00:00:00 GMT", 304),
        ("If-Modified-Since", "Mon Jan  1 00:00:00 2024", 304),
        ("If-Modified-Since", "garbage", 200),
        ("If-Unmodified-Since", "Sun, 31 Dec 2023 00:00:00 GMT", 412),
        ("If-Unmodified-Since", MTIME_HTTP, 200),
        ("If-None-Match", "*", 304),
        ("If-None-Match", '"x"', 200),
        ("If-Match", '"x"', 412),
        ("If-Match", "*", 200),
    ],
)
def test_conditional_requests(gobbler: Gobbler, files: str, header: str, value: str, status: int) -> None:
    reply = raw_request(gobbler.url, "GET", f"/fetch/{files}/a.txt", {header: value})
    assert reply.status == status
    if status == 304:
        assert reply.body == b""
        assert not reply.has("Content-Type")
        assert reply.header("Last-Modified") == MTIME_HTTP
    elif status == 412:
        assert reply.body == b""
    else:
        assert reply.body == b"hello world\n"


def test_if_none_match_beats_if_modified_since(gobbler: Gobbler, files: str) -> None:
    headers = {"If-None-Match": '"x"', "If-Modified-Since": MTIME_HTTP}
    assert raw_request(gobbler.url, "GET", f"/fetch/{files}/a.txt", headers).status == 200


# ------------------------------------------------------------------------------ directories


def test_directory_without_slash_redirects(gobbler: Gobbler, files: str) -> None:
    reply = _fetch(gobbler, f"{files}/dir")
    assert reply.status == 301
    assert reply.header("Location") == "dir/"
    assert reply.header("Access-Control-Allow-Origin") == "*"
    assert reply.body == b""
    with_query = raw_request(gobbler.url, "GET", f"/fetch/{files}/dir?x=1")
    assert with_query.header("Location") == "dir/?x=1"


def test_directory_listing(gobbler: Gobbler, files: str) -> None:
    reply = _fetch(gobbler, f"{files}/")
    assert reply.status == 200
    assert reply.header("Content-Type") == "text/html; charset=utf-8"
    assert reply.header("Access-Control-Allow-Origin") == "*"
    root = gobbler.registry / files
    assert reply.header("Last-Modified") == email.utils.formatdate(int(root.stat().st_mtime), usegmt=True)
    text = reply.body.decode()
    assert text.startswith('<!doctype html>\n<meta name="viewport" content="width=device-width">\n<pre>\n')
    assert text.endswith("</pre>\n")
    assert '<a href="dir/">dir/</a>\n<a href="empty">empty</a>\n' in text
    assert '<a href="sp%20ace">sp ace</a>' in text
    assert '<a href="q%3Fx">q?x</a>' in text


def test_directory_listing_escapes(gobbler: Gobbler) -> None:
    name = unique("html")
    (gobbler.registry / name).mkdir()
    (gobbler.registry / name / "a&<>\"'b").write_text("x")
    (gobbler.registry / name / "c:x").write_text("x")
    text = _fetch(gobbler, f"{name}/").body.decode()
    assert '<a href="a&%3C%3E%22%27b">a&amp;&lt;&gt;&#34;&#39;b</a>\n<a href="./c:x">c:x</a>\n' in text


def test_directory_index_is_served(gobbler: Gobbler, files: str) -> None:
    reply = _fetch(gobbler, f"{files}/idx/")
    assert (reply.status, reply.body) == (200, b"<p>index</p>")
    assert reply.header("Content-Type") == "text/html; charset=utf-8"
    assert reply.header("Last-Modified") == MTIME_HTTP


def test_index_html_redirects_to_its_directory(gobbler: Gobbler, files: str) -> None:
    reply = _fetch(gobbler, f"{files}/idx/index.html")
    assert (reply.status, reply.header("Location")) == (301, "./")


def test_file_with_trailing_slash_redirects(gobbler: Gobbler, files: str) -> None:
    reply = _fetch(gobbler, f"{files}/a.txt/")
    assert (reply.status, reply.header("Location")) == (301, "../a.txt")


def test_directory_if_modified_since(gobbler: Gobbler, files: str) -> None:
    reply = _fetch(gobbler, f"{files}/dir/", If_Modified_Since=MTIME_HTTP)
    assert (reply.status, reply.body) == (304, b"")


def test_fetch_root_lists_the_registry(gobbler: Gobbler) -> None:
    reply = _fetch(gobbler, "")
    assert reply.status == 200
    assert '<a href="..logs/">..logs/</a>' in reply.body.decode()


@pytest.mark.parametrize(
    ("header_lines", "body"),
    [
        (b"range: bytes=0-4\r\n", b"hello"),  # names are case-insensitive
        (b"Range:\t  bytes=6-\r\n", b"world\n"),  # blanks after the colon are not part of the value
        (b"Range: bytes=0-1\r\nRange: bytes=6-7\r\n", b"he"),  # the first of repeated headers counts
        (b"Range: bytes=0-1\nX-Note: caf\xc3\xa9\r\n", b"he"),  # a bare LF, bytes beyond ASCII elsewhere
    ],
    ids=["lower-case", "blanks", "repeated", "mixed-lines"],
)
def test_request_headers_are_read_whatever_their_spelling(
    gobbler: Gobbler, files: str, header_lines: bytes, body: bytes
) -> None:
    request = f"GET /fetch/{files}/a.txt HTTP/1.1\r\nHost: gobbler\r\nConnection: close\r\n".encode()
    reply = send_raw(gobbler.url, request + header_lines + b"\r\n")
    assert reply is not None
    assert (reply.status, reply.body) == (206, body)
