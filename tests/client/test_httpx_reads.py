"""Reads through httpx alone: the path used when a proxy is configured (no fast ``http.client`` path).

The same remote operations as elsewhere, with a :class:`RemoteTransport` built without a fetcher and
handed to the client, so that the fallback stays as correct as the fast path.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gobbler_sdk import GobblerClient, IntegrityError, NotFoundError, RemoteTransport, ServiceUnavailableError
from gobbler_sdk._cache import Cache
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import Answer, Link, LyingServer, make_tree, unique
from .test_hostile import BODY, serve_version


def httpx_only(client: GobblerClient, cache: Path) -> GobblerClient:
    transport = RemoteTransport(client._connections.http(), Cache(cache), retries=1)
    assert transport.fetcher is None
    return GobblerClient(client.url, transport=transport, cache=cache)


def test_reads_and_downloads(
    service: GobblerService, make_client: Callable[..., GobblerClient], tmp_path: Path
) -> None:
    name = new_project(service)
    big = os.urandom(5 * 1024 * 1024)
    source = make_tree(
        service.staging / unique("src"),
        {"a.txt": "alpha", "sub/big.bin": big, "alias": Link("a.txt"), "empty": None},
    )
    service.request("upload", {"source": source.name, "project": name, "asset": "a", "version": "v1"})
    client = httpx_only(make_client(service.url), tmp_path / "cache")
    assert client.project(name).assets() == [client.project(name).asset("a")]
    version = client.project(name).asset("a").version("v1")
    assert version.summary().upload_user_id
    assert sorted(version.manifest()) == ["a.txt", "alias", "empty", "sub/big.bin"]
    assert version.fetch("sub/big.bin").read_bytes() == big
    copy = version.fetch_directory()
    assert (copy / "alias").read_text() == "alpha"
    assert (copy / "empty").is_dir()
    with pytest.raises(NotFoundError):
        client.project(name).asset("a").version("missing").manifest()


def test_bad_downloads_and_retries(
    lying: LyingServer, make_client: Callable[..., GobblerClient], tmp_path: Path
) -> None:
    serve_version(lying, {"f.txt": BODY})
    client = httpx_only(make_client(lying.url, registry="/nowhere"), tmp_path / "cache")
    version = client.project("p").asset("a").version("v")
    lying.answer("/fetch/p/a/v/f.txt", Answer(body=BODY[::-1]))
    with pytest.raises(IntegrityError):
        version.fetch("f.txt")
    lying.answer("/fetch/p/a/v/f.txt", Answer(status=503, body=b"busy"), Answer(body=BODY))
    assert version.fetch("f.txt").read_bytes() == BODY
    lying.answer("/fetch/p/a/v/f.txt", Answer(body=BODY[:5], length=len(BODY)))
    with pytest.raises(ServiceUnavailableError):
        version.fetch("f.txt", overwrite=True)
