"""The HTTP surface (PROTOCOL.md 3.1-3.3, 3.7-3.9; edge cases 48-49): routes, methods, redirects, headers."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from gobbler_sdk.testing import GobblerService

from ..conftest import GOBBLER_BINARY
from .harness import Gobbler, raw_request, send_raw, unique

BANNER = {"name": "gobbler API", "url": "https://github.com/ArtifactDB/gobbler"}
BANNER_BYTES = b'{"name":"gobbler API","url":"https://github.com/ArtifactDB/gobbler"}'
JSON_HEADERS = {"content-type": "application/json", "access-control-allow-origin": "*"}


def _health_check(gobbler: Gobbler) -> str:
    """A fresh request-health_check file in staging; returns its name."""
    name = f"request-health_check-{unique()}"
    (gobbler.staging / name).write_text("")
    return name


# ------------------------------------------------------------------------------ banner and info


def test_banner_at_the_root(gobbler: Gobbler) -> None:
    reply = raw_request(gobbler.url, "GET", "/")
    assert reply.status == 200
    assert reply.body == BANNER_BYTES
    assert reply.header("Content-Type") == "application/json"
    assert reply.header("Access-Control-Allow-Origin") == "*"
    assert reply.header("Content-Length") == str(len(BANNER_BYTES))


@pytest.mark.parametrize(
    "path",
    [
        "/does/not/exist",
        "/new/request-x",
        "/new",
        "/list/",
        "/info/",
        "/listx",
        "/FETCH/x",
        "/x%2Fy",
        "/%2e%2e/info",
    ],
)
def test_any_other_get_gets_the_banner(gobbler: Gobbler, path: str) -> None:
    reply = raw_request(gobbler.url, "GET", path)
    assert (reply.status, reply.body) == (200, BANNER_BYTES)
    assert reply.header("Content-Type") == "application/json"


def test_info_reports_the_configured_directories(gobbler: Gobbler) -> None:
    response = gobbler.http.get("/info")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.json() == {"registry": str(gobbler.registry), "staging": str(gobbler.staging)}
    # Compact, sorted keys.
    assert response.content == json.dumps(response.json(), separators=(",", ":"), sort_keys=True).encode()


def test_segments_are_compared_after_percent_decoding(gobbler: Gobbler) -> None:
    reply = raw_request(gobbler.url, "GET", "/%69nfo")
    assert reply.status == 200
    assert json.loads(reply.body) == {"registry": str(gobbler.registry), "staging": str(gobbler.staging)}


@pytest.mark.parametrize("path", ["/", "/info", "/list", "/somewhere/else"])
def test_head_answers_like_get_without_a_body(gobbler: Gobbler, path: str) -> None:
    get = raw_request(gobbler.url, "GET", path)
    head = raw_request(gobbler.url, "HEAD", path)
    assert head.status == get.status == 200
    assert head.body == b""
    assert head.header("Content-Type") == "application/json"
    assert head.header("Content-Length") == str(len(get.body))
    assert head.header("Access-Control-Allow-Origin") == "*"


def test_no_server_header(gobbler: Gobbler) -> None:
    reply = raw_request(gobbler.url, "GET", "/")
    assert not reply.has("Server")
    assert reply.has("Date")


# ------------------------------------------------------------------------------ methods


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/whatever", "GET, HEAD, OPTIONS"),
        ("POST", "/", "GET, HEAD, OPTIONS"),
        ("PUT", "/list", "GET, HEAD, OPTIONS"),
        ("POST", "/info", "GET, HEAD, OPTIONS"),
        ("POST", "/fetch/x", "GET, HEAD, OPTIONS"),
        ("POST", "/fetch", "GET, HEAD, OPTIONS"),
        ("POST", "/new", "GET, HEAD, OPTIONS"),
        ("POST", "/new/", "GET, HEAD, OPTIONS"),
        ("POST", "/new/a/b", "GET, HEAD, OPTIONS"),
        ("POST", "/new/request-x/", "GET, HEAD, OPTIONS"),
        ("DELETE", "/new/request-x", "GET, HEAD, OPTIONS, POST"),
        ("PUT", "/new/request-x", "GET, HEAD, OPTIONS, POST"),
        ("PATCH", "/", "GET, HEAD, OPTIONS"),
        ("BREW", "/info", "GET, HEAD, OPTIONS"),
    ],
)
def test_unrouted_methods_get_405(gobbler: Gobbler, method: str, path: str, allow: str) -> None:
    reply = raw_request(gobbler.url, method, path)
    assert reply.status == 405
    assert reply.body == b"Method Not Allowed\n"
    assert reply.header("Content-Type") == "text/plain; charset=utf-8"
    assert reply.header("X-Content-Type-Options") == "nosniff"
    assert reply.header("Allow") == allow
    assert not reply.has("Access-Control-Allow-Origin")


@pytest.mark.parametrize(
    "path", ["/", "/info", "/new/request-x", "/anything/at/all", "/fetch/x", "/api/v2/list"]
)
def test_options_anywhere_is_a_cors_preflight(gobbler: Gobbler, path: str) -> None:
    reply = raw_request(gobbler.url, "OPTIONS", path)
    assert reply.status == 204
    assert reply.body == b""
    assert reply.header("Access-Control-Allow-Origin") == "*"
    assert reply.header("Access-Control-Allow-Methods") == "GET, OPTIONS"
    assert reply.header("Access-Control-Allow-Headers") == "*"
    assert not reply.has("Content-Length")
    assert not reply.has("Content-Type")


def test_post_body_is_ignored_and_the_connection_reused(gobbler: Gobbler) -> None:
    first, second = _health_check(gobbler), _health_check(gobbler)
    body = b'{"this": "is ignored"}'
    data = b""
    for name in (first, second):
        data += f"POST /new/{name} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
    data += b"GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", urlsplit(gobbler.url).port or 80), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.count(b'{"status":"SUCCESS"}') == 2
    assert received.count(b"HTTP/1.1 200 OK") == 3


# ------------------------------------------------------------------------------ request targets


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/a/../b", "/b"),
        ("//x", "/x"),
        ("/a/./b", "/a/b"),
        ("/a/..", "/"),
        ("/.", "/"),
        ("/a/../b?x=1&y=%20", "/b?x=1&y=%20"),
        ("/fetch/dir/f/../f", "/fetch/dir/f"),
        ("/fetch/../../etc/passwd", "/etc/passwd"),
        ("/info/..", "/"),
    ],
)
def test_unclean_paths_redirect(gobbler: Gobbler, target: str, location: str) -> None:
    reply = raw_request(gobbler.url, "GET", target)
    assert reply.status == 301
    assert reply.header("Location") == location
    assert reply.header("Content-Type") == "text/html; charset=utf-8"
    assert reply.body == f'<a href="{location.replace("&", "&amp;")}">Moved Permanently</a>.\n\n'.encode()


def test_redirect_location_escapes_the_escaped_path_again(gobbler: Gobbler) -> None:
    # Quirk of the reference's router: the cleaned, still-escaped path is escaped once more.
    reply = raw_request(gobbler.url, "GET", "/a/../b%20c(d)")
    assert reply.status == 301
    assert reply.header("Location") == "/b%2520c%28d%29"


def test_unclean_post_is_redirected_not_processed(gobbler: Gobbler) -> None:
    name = _health_check(gobbler)
    reply = raw_request(gobbler.url, "POST", f"/new//{name}")
    assert reply.status == 301
    assert reply.header("Location") == f"/new/{name}"
    assert reply.body == b""
    assert not reply.has("Content-Type")
    # Not processed, so not in the replay table either.
    assert gobbler.post(name).status == 200


def test_options_is_redirected_too(gobbler: Gobbler) -> None:
    reply = raw_request(gobbler.url, "OPTIONS", "/a/../b")
    assert (reply.status, reply.header("Location")) == (301, "/b")


def test_head_redirect_has_no_body(gobbler: Gobbler) -> None:
    reply = raw_request(gobbler.url, "HEAD", "/a/../b")
    assert reply.status == 301
    assert reply.header("Location") == "/b"
    assert reply.header("Content-Type") == "text/html; charset=utf-8"
    assert reply.body == b""


@pytest.mark.parametrize(("target", "location"), [("/fetch", "/fetch/"), ("/fetch?x=1", "/fetch/?x=1")])
def test_subtree_root_without_slash_redirects(gobbler: Gobbler, target: str, location: str) -> None:
    reply = raw_request(gobbler.url, "GET", target)
    assert reply.status == 301
    assert reply.header("Location") == location
    assert not reply.has("Access-Control-Allow-Origin")


@pytest.mark.parametrize("target", ["/x%zz", "/fetch/%zz", "/new/request-%2", "x", "/a\x01b"])
def test_malformed_request_targets_are_a_plain_400(gobbler: Gobbler, target: str) -> None:
    method = "POST" if target.startswith("/new/") else "GET"
    reply = raw_request(gobbler.url, method, target)
    assert reply.status == 400
    assert reply.body == b"400 Bad Request"
    assert reply.header("Content-Type") == "text/plain; charset=utf-8"
    assert reply.header("Connection") == "close"


def test_http11_request_without_host_is_rejected(gobbler: Gobbler) -> None:
    reply = send_raw(gobbler.url, b"GET /info HTTP/1.1\r\n\r\n")
    assert reply is not None
    assert reply.status == 400
    assert reply.body == b"400 Bad Request: missing required Host header"


def test_http10_request_is_answered_in_http10(gobbler: Gobbler) -> None:
    reply = send_raw(gobbler.url, b"GET / HTTP/1.0\r\n\r\n")
    assert reply is not None
    assert (reply.status, reply.body) == (200, BANNER_BYTES)


def test_absolute_form_target(gobbler: Gobbler) -> None:
    reply = raw_request(gobbler.url, "GET", "http://elsewhere.example/info")
    assert reply.status == 200
    assert json.loads(reply.body)["registry"] == str(gobbler.registry)


# ------------------------------------------------------------------------------ /new names


def test_encoded_slash_in_the_name_is_rejected(gobbler: Gobbler) -> None:
    target = f"request-health_check-{unique()}"
    (gobbler.staging / target).write_text("")
    reply = raw_request(gobbler.url, "POST", f"/new/request-x%2F..%2F{target}")
    assert reply.status == 400
    assert json.loads(reply.body) == {
        "reason": "path should be the name of a file in the staging directory",
        "status": "ERROR",
    }
    assert reply.header("Content-Type") == "application/json"
    assert reply.header("Access-Control-Allow-Origin") == "*"
    assert gobbler.post(target).status == 200


def test_encoded_characters_in_the_name_are_decoded(gobbler: Gobbler) -> None:
    name = f"request-health_check-a b+c%{unique()}"
    (gobbler.staging / name).write_text("")
    escaped = name.replace("%", "%25").replace(" ", "%20")
    reply = raw_request(gobbler.url, "POST", f"/new/{escaped}")
    assert (reply.status, json.loads(reply.body)) == (200, {"status": "SUCCESS"})


def test_success_body_is_exact(gobbler: Gobbler) -> None:
    reply = raw_request(gobbler.url, "POST", f"/new/{_health_check(gobbler)}")
    assert reply.status == 200
    assert reply.body == b'{"status":"SUCCESS"}'
    assert reply.header("Content-Type") == "application/json"
    assert reply.header("Access-Control-Allow-Origin") == "*"


def test_error_body_is_compact_and_sorted(gobbler: Gobbler) -> None:
    reply = raw_request(gobbler.url, "POST", "/new/nope")
    assert reply.status == 400
    assert reply.body == b'{"reason":"file name should start with \\"request-\\"","status":"ERROR"}'
    assert reply.header("Content-Type") == "application/json"


# ------------------------------------------------------------------------------ prefix


@pytest.fixture(scope="module")
def prefixed() -> Iterator[Gobbler]:
    """One service with ``-prefix api/v2`` for the whole module (these tests only read)."""
    with GobblerService(prefix="api/v2", binary=GOBBLER_BINARY) as service:
        driver = Gobbler(service)
        yield driver
        driver.close()


def test_prefix_moves_every_route(prefixed: Gobbler) -> None:
    url = prefixed.url
    assert url.endswith("/api/v2")
    info = raw_request(url, "GET", "/api/v2/info")
    assert info.status == 200
    assert json.loads(info.body) == {"registry": str(prefixed.registry), "staging": str(prefixed.staging)}
    assert raw_request(url, "GET", "/api/v2/").body == BANNER_BYTES
    assert raw_request(url, "GET", "/api/v2/whatever").body == BANNER_BYTES
    assert json.loads(raw_request(url, "GET", "/api/v2/list").body) == ["..logs/"]
    fetched = raw_request(url, "GET", "/api/v2/fetch/..logs")
    assert (fetched.status, fetched.header("Location")) == (301, "..logs/")
    name = f"request-health_check-{unique()}"
    (prefixed.staging / name).write_text("")
    created = raw_request(url, "POST", f"/api/v2/new/{name}")
    assert (created.status, created.body) == (200, b'{"status":"SUCCESS"}')


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/info", "OPTIONS"),
        ("GET", "/", "OPTIONS"),
        ("GET", "/api", "OPTIONS"),
        ("GET", "/api/", "OPTIONS"),
        ("GET", "/api%2Fv2/info", "OPTIONS"),
        ("POST", "/new/request-x", "OPTIONS"),
        ("POST", "/api/v2", "GET, HEAD, OPTIONS"),
        ("DELETE", "/api/v2/new/x", "GET, HEAD, OPTIONS, POST"),
    ],
)
def test_prefix_paths_outside_are_405(prefixed: Gobbler, method: str, path: str, allow: str) -> None:
    reply = raw_request(prefixed.url, method, path)
    assert reply.status == 405
    assert reply.header("Allow") == allow
    assert reply.body == b"Method Not Allowed\n"


@pytest.mark.parametrize(
    ("target", "location"),
    [("/api/v2", "/api/v2/"), ("/api/v2?x=1", "/api/v2/?x=1"), ("/api/v2/fetch", "/api/v2/fetch/")],
)
def test_prefix_root_without_slash_redirects(prefixed: Gobbler, target: str, location: str) -> None:
    reply = raw_request(prefixed.url, "GET", target)
    assert (reply.status, reply.header("Location")) == (301, location)


def test_options_ignores_the_prefix(prefixed: Gobbler) -> None:
    for path in ("/info", "/api/v2/info", "/"):
        reply = raw_request(prefixed.url, "OPTIONS", path)
        assert reply.status == 204
        assert reply.header("Access-Control-Allow-Methods") == "GET, OPTIONS"
