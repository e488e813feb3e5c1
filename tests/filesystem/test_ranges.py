"""GobblerClient.read_range against a service that lies (only the asked bytes are accepted or read), and
through httpx, the read path when a proxy is configured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gobbler_sdk import GobblerClient, NotFoundError, ServiceError, ServiceUnavailableError
from gobbler_sdk._cache import Cache
from gobbler_sdk._http import make_http_client
from gobbler_sdk._ranges import RangeError
from gobbler_sdk.testing import GobblerService
from gobbler_sdk.transports import RemoteTransport

from ..client.support import Answer, LyingServer
from .conftest import Dataset

PATH = "p/a/v/f.bin"
BODY = bytes(range(256)) * 40


@pytest.fixture
def lying() -> Iterator[LyingServer]:
    with LyingServer() as server:
        yield server


@pytest.fixture
def client(lying: LyingServer, tmp_path: Path) -> Iterator[GobblerClient]:
    with GobblerClient(lying.url, transport="remote", cache=tmp_path / "cache", retries=1) as made:
        yield made


def test_a_whole_file_answer_to_a_range_inside_it_is_refused(
    lying: LyingServer, client: GobblerClient
) -> None:
    lying.answer(f"/fetch/{PATH}", Answer(200, BODY, content_type="application/octet-stream"))
    with pytest.raises(RangeError, match="ignored"):
        client.read_range(PATH, 100, 200, verify=False)
    assert isinstance(RangeError("x"), ServiceError)
    # From the start, the first bytes of a whole-file answer are what was asked: only those are read.
    assert client.read_range(PATH, 0, 10, verify=False) == BODY[:10]
    # An empty file is answered 200 whatever the range.
    lying.answer(f"/fetch/{PATH}", Answer(200, b"", content_type="application/octet-stream"))
    assert client.read_range(PATH, 5, 10, verify=False) == b""


def test_a_partial_answer_without_its_range_is_refused(lying: LyingServer, client: GobblerClient) -> None:
    lying.answer(f"/fetch/{PATH}", Answer(206, BODY[:10], content_type="application/octet-stream"))
    with pytest.raises(RangeError, match="Content-Range"):
        client.read_range(PATH, 0, 10, verify=False)


def test_a_truncated_body_is_an_error_not_short_data(lying: LyingServer, client: GobblerClient) -> None:
    lying.answer(
        f"/fetch/{PATH}", Answer(200, BODY[:10], content_type="application/octet-stream", length=100)
    )
    with pytest.raises(ServiceUnavailableError):
        client.read_range(PATH, 0, 50, verify=False)
    assert lying.count(f"/fetch/{PATH}") == 2  # a GET, so retried once (retries=1)


def test_errors_keep_their_types(lying: LyingServer, client: GobblerClient) -> None:
    lying.answer(f"/fetch/{PATH}", Answer(404, "404 page not found"))
    with pytest.raises(NotFoundError):
        client.read_range(PATH, 0, 10, verify=False)
    lying.answer(f"/fetch/{PATH}", Answer(503, "busy"))
    with pytest.raises(ServiceError):
        client.read_range(PATH, 0, 10, verify=False)
    with pytest.raises(ValueError):
        client.read_range(PATH, 10, 5)
    assert client.read_range(PATH, 7, 7) == b""  # nothing asked, nothing sent


def test_ranged_reads_through_httpx_when_there_is_no_fast_path(tmp_path: Path) -> None:
    # With a proxy configured the transport reads through httpx; the same answers are accepted and refused.
    with LyingServer() as lying:
        http = make_http_client(lying.url, timeout=10, concurrency=1)
        transport = RemoteTransport(http, Cache(tmp_path / "cache"), retries=0, fetcher=None)
        with GobblerClient(lying.url, transport=transport, cache=tmp_path / "cache") as client:
            lying.answer(f"/fetch/{PATH}", Answer(200, BODY, content_type="application/octet-stream"))
            assert client.read_range(PATH, 0, 10, verify=False) == BODY[:10]
            with pytest.raises(RangeError, match="ignored"):
                client.read_range(PATH, 100, 200, verify=False)
            lying.answer(f"/fetch/{PATH}", Answer(404, "404 page not found"))
            with pytest.raises(NotFoundError):
                client.read_range(PATH, 0, 10, verify=False)
        http.close()


def test_ranged_reads_through_httpx_against_the_service(
    service: GobblerService, dataset: Dataset, tmp_path: Path
) -> None:
    url = service.url
    content = dataset.files["v1"]["many/file-007.bin"]
    path = dataset.path("v1", "many/file-007.bin")
    http = make_http_client(url, timeout=10, concurrency=1)
    transport = RemoteTransport(http, Cache(tmp_path / "cache"), fetcher=None)
    with GobblerClient(url, transport=transport, cache=tmp_path / "cache") as client:
        assert client.read_range(path, 100, 300) == content[100:300]
        assert client.read_range(path) == content  # whole: verified against the manifest
        assert client.read_range(path, len(content) + 5) == b""
    http.close()
