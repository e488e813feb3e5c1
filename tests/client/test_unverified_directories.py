"""Directory downloads with ``verify=False``: no MD5 of downloads or cached copies, links still shared.

Watched through the counting (and, where asked, lying) proxy, on the fast path and on httpx alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gobbler_sdk import GobblerClient, IntegrityError, RemoteTransport, Version
from gobbler_sdk._cache import Cache
from gobbler_sdk.testing import GobblerService

from .support import Answer, LyingServer, snapshot
from .test_cache import downloads, upload_version

TREE_TEXT = {"f.txt": "file contents", "sub/g.txt": "more", "alias": "file contents"}


@pytest.fixture(params=["fast", "httpx"])
def remote(
    request: pytest.FixtureRequest,
    proxy: LyingServer,
    make_client: Callable[..., GobblerClient],
    tmp_path: Path,
) -> GobblerClient:
    client = make_client(proxy.url, transport="remote")
    if request.param == "fast":
        return client
    transport = RemoteTransport(client._connections.http(), Cache(tmp_path / "cache"), retries=1)
    assert transport.fetcher is None
    return make_client(proxy.url, transport=transport)


@pytest.fixture
def version(service: GobblerService, remote: GobblerClient, proxy: LyingServer) -> Version:
    return upload_version(service, remote, proxy)


def test_unverified_download_gives_the_bytes_and_shares_links(
    version: Version, proxy: LyingServer, tmp_path: Path
) -> None:
    directory = version.fetch_directory(verify=False)
    assert {p for p in snapshot(directory) if ".." not in p} == {
        "f.txt",
        "sub",
        "sub/g.txt",
        "alias",
        "empty",
    }
    for path, text in TREE_TEXT.items():
        assert (directory / path).read_text() == text
    # The manifest is still read: the link's bytes are downloaded once and hard-linked.
    assert os.path.samefile(directory / "alias", directory / "f.txt")
    assert downloads(proxy, version, "f.txt") + downloads(proxy, version, "alias") == 1
    assert downloads(proxy, version, "..manifest") >= 1

    mine = version.fetch_directory(verify=False, local_dir=tmp_path / "mine")
    assert mine == tmp_path / "mine"
    assert snapshot(mine) == {"f.txt", "sub", "sub/g.txt", "alias", "empty"}
    assert {path: (mine / path).read_text() for path in TREE_TEXT} == TREE_TEXT
    assert downloads(proxy, version, "sub/g.txt") == 1  # the cached copies were reused


def test_unverified_download_does_not_hash_what_arrives(version: Version, proxy: LyingServer) -> None:
    # Same size, other bytes: only an MD5 tells them apart.
    lie = Answer(200, b"FILE CONTENTS", content_type="application/octet-stream")
    proxy.answer(f"/fetch/{version.key}/f.txt", lie)
    directory = version.fetch_directory(verify=False, allow_patterns="f.txt")
    assert (directory / "f.txt").read_bytes() == b"FILE CONTENTS"

    proxy.answer(f"/fetch/{version.key}/f.txt", lie, lie, lie)
    with pytest.raises(IntegrityError, match=r"f\.txt"):
        version.fetch_directory(overwrite=True, allow_patterns="f.txt")


def test_unverified_download_reuses_a_same_size_corrupt_cached_copy(
    version: Version, proxy: LyingServer
) -> None:
    directory = version.fetch_directory()
    assert downloads(proxy, version, "sub/g.txt") == 1
    (directory / "sub" / "g.txt").write_text("MORE")  # in place, same size

    again = version.fetch_directory(verify=False)
    assert again == directory
    assert (directory / "sub" / "g.txt").read_text() == "MORE"
    assert downloads(proxy, version, "sub/g.txt") == 1

    version.fetch_directory()
    assert (directory / "sub" / "g.txt").read_text() == "more"
    assert downloads(proxy, version, "sub/g.txt") == 2


def test_unverified_version_path_call(version: Version, proxy: LyingServer) -> None:
    directory = version.fetch_directory(verify=False)
    assert (directory / "sub" / "g.txt").read_text() == "more"
