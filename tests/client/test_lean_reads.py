"""The lean read path: answer heads read as http.client reads them, manifests as records, many directories."""

from __future__ import annotations

import http.client
import os
import resource
import socket
from collections.abc import Callable

import pytest
from pydantic import ValidationError

from gobbler_sdk import GobblerClient
from gobbler_sdk._fetcher import _Response
from gobbler_sdk._records import FileRecord, parse_records
from gobbler_sdk.models import Manifest
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import make_tree, unique

HEADS = {
    "plain": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\nX-A:  spaced  \r\n\r\n",
    "repeated names": b"HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 5\r\n\r\n",
    "no reason": b"HTTP/1.1 200\r\nContent-Length: 5\r\n\r\n",
    "folded": b"HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 5\r\n\r\n",
    "bare line feeds": b"HTTP/1.1 200 OK\nContent-Length: 5\nX-A: 1\n\n",
    "stray carriage return": b"HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 5\r\n\r\n",
    "byte beyond ASCII": b"HTTP/1.1 200 OK\r\nX-A: caf\xe9\r\nContent-Length: 5\r\n\r\n",
    "continue first": b"HTTP/1.1 100 Continue\r\nX-B: 1\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
    "HTTP/1.0 kept alive": b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\n",
    "HTTP/1.0": b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n",
    "closing": b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\n",
    "no length": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n",
    "bad length": b"HTTP/1.1 200 OK\r\nContent-Length: five\r\n\r\n",
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "not found": b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n",
    "no content": b"HTTP/1.1 204 No Content\r\n\r\n",
    "no headers": b"HTTP/1.1 200 OK\r\n\r\n",
}


def _read(kind: type[http.client.HTTPResponse], head: bytes) -> dict[str, object]:
    """What a response class makes of ``head`` + ``hello`` arriving on a real socket."""
    ours, theirs = socket.socketpair()
    try:
        theirs.sendall(head + (b"" if b"chunked" in head else b"hello"))
        theirs.shutdown(socket.SHUT_WR)
        response = kind(ours, method="GET")  # type: ignore[arg-type]
        response.begin()
        return {
            "status": response.status,
            "reason": response.reason,
            "version": response.version,
            "headers": response.getheaders(),
            "looked up": [response.getheader(n) for n in ("x-a", "X-A", "content-length", "x-b", "missing")],
            "length": response.length,
            "chunked": response.chunked,
            "will_close": response.will_close,
            "body": response.read(),
        }
    finally:
        ours.close()
        theirs.close()


@pytest.mark.parametrize("name", list(HEADS))
def test_answer_heads_read_as_the_standard_library_reads_them(name: str) -> None:
    assert _read(_Response, HEADS[name]) == _read(http.client.HTTPResponse, HEADS[name])


def test_too_many_headers_are_refused_as_by_the_standard_library() -> None:
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(101)) + b"\r\n"
    for kind in (_Response, http.client.HTTPResponse):
        with pytest.raises(http.client.HTTPException, match="got more than 100 headers"):
            _read(kind, head)


MANIFESTS = {
    "plain": b'{"a": {"size": 1, "md5sum": "x"}, "d/b": {"size": 300, "md5sum": "y"}}',
    "unknown fields": b'{"a": {"size": 1, "md5sum": "x", "extra": [1]}}',
    "link": (
        b'{"a": {"size": 2, "md5sum": "z", "link": {"project": "p", "asset": "a", "version": "v", '
        b'"path": "f", "ancestor": {"project": "p", "asset": "a", "version": "u", "path": "g"}}}}'
    ),
    "null link": b'{"a": {"size": 1, "md5sum": "x", "link": null}}',
    "missing size": b'{"a": {"md5sum": "x"}}',
    "text size": b'{"a": {"size": "a lot", "md5sum": "x"}}',
    "not an object": b"[]",
    "broken": b'{"a": ',
}


@pytest.mark.parametrize("name", list(MANIFESTS))
def test_manifest_records_accept_and_refuse_what_the_model_does(name: str) -> None:
    data = MANIFESTS[name]
    try:
        model = Manifest.from_json(data)
    except ValueError:
        with pytest.raises(ValueError):
            parse_records(data)
        return
    records = parse_records(data)
    assert list(records) == list(model)
    for path, entry in model.items():
        assert records[path] == FileRecord(entry.size, entry.md5sum, entry.link)
        assert records[path].is_directory == entry.is_directory


def test_a_null_link_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="a link cannot be null"):
        parse_records(MANIFESTS["null link"])


def test_a_download_over_many_directories_holds_a_bounded_number_of_descriptors(
    service: GobblerService, make_client: Callable[..., GobblerClient]
) -> None:
    # 200 directories under a descriptor limit that holding one per directory would exceed: the batch
    # keeps at most 64 (and the cache its own 64), closing the oldest as it goes.
    files = {f"d{index:03d}/f.txt": f"file {index}".encode() for index in range(200)}
    name = new_project(service)
    source = make_tree(service.staging / unique("src"), files)
    service.request("upload", {"source": source.name, "project": name, "asset": "a", "version": "v1"})
    client = make_client(service.url, transport="remote", concurrency=1)
    version = client.project(name).asset("a").version("v1")
    version.manifest()  # the documents first, so that the limit applies to the download itself
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 160, hard))
    try:
        local = version.fetch_directory()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    for path, data in files.items():
        assert (local / path).read_bytes() == data
