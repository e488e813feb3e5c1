"""GobblerClient.read_range against a service that lies: only the asked bytes are accepted or read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gobbler_sdk import GobblerClient, NotFoundError, ServiceError, ServiceUnavailableError
from gobbler_sdk._ranges import RangeError

from ..client.support import Answer, LyingServer

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
