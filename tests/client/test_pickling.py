"""Sessions that travel: clients and handles pickle, and work in real process pools (spawn and fork)."""

from __future__ import annotations

import hashlib
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from gobbler_sdk import Asset, GobblerClient, Manifest, Project, Version
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import make_tree

TREE = {"a.txt": "alpha", "sub/b.bin": b"\x00\x01" * 5000, "sub/c.txt": "gamma"}


@pytest.fixture(scope="module")
def uploaded(service: GobblerService, tmp_path_factory: pytest.TempPathFactory) -> str:
    name = new_project(service)
    source = make_tree(tmp_path_factory.mktemp("src"), TREE)
    with GobblerClient(service.url, cache=tmp_path_factory.mktemp("cache")) as client:
        client.project(name).asset("a").upload("v1", source)
    return name


def read_version(version: Version) -> tuple[str, dict[str, str], list[str], str]:
    """What a worker sends back: the manifest's JSON, every file's MD5, the listing and the transport."""
    manifest = version.manifest()
    digests = {path: hashlib.md5(version.fetch(path).read_bytes()).hexdigest() for path in manifest}
    return manifest.model_dump_json(), digests, version.files(), version.client.transport.kind


def read_through_client(client: GobblerClient, key: str) -> tuple[str, dict[str, str], list[str], str]:
    version, _ = client.unpack_path(key)
    return read_version(version)


def test_a_client_round_trips(service: GobblerService, tmp_path: Path, uploaded: str) -> None:
    with GobblerClient(service.url, transport="remote", cache=tmp_path, timeout=12.5, retries=1) as client:
        client.project(uploaded).asset("a").version("v1").manifest()  # connections, cache, info in use
        copy = pickle.loads(pickle.dumps(client))
        assert (copy.url, copy.cache_dir, copy.timeout, copy.retries) == (client.url, tmp_path, 12.5, 1)
        assert copy._connections._http is None and copy._connections._remote is None
        assert read_through_client(copy, f"{uploaded}/a/v1") == read_through_client(
            client, f"{uploaded}/a/v1"
        )
        copy.close()


def test_handles_and_models_round_trip(client: GobblerClient, uploaded: str) -> None:
    project = client.project(uploaded)
    asset = project.asset("a")
    version = asset.version("v1")
    project2, asset2, version2, path2, manifest2 = pickle.loads(
        pickle.dumps((project, asset, version, version.path, version.manifest()))
    )
    assert (type(project2), type(asset2), type(version2)) == (Project, Asset, Version)
    assert (project2.key, asset2.key, version2.key) == (project.key, asset.key, version.key)
    # Pickled together, they share one client on the other side.
    assert project2.client is asset2.client is version2.client is not client
    assert path2 == version.key
    assert isinstance(manifest2, Manifest) and manifest2 == version.manifest()
    assert version2.manifest() == version.manifest()
    assert version2.fetch_directory() == version.fetch_directory()


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_process_pool_workers_read_the_same(client: GobblerClient, uploaded: str, method: str) -> None:
    version = client.project(uploaded).asset("a").version("v1")
    expected = read_version(version)
    assert expected[1] == {
        path: hashlib.md5(content.encode() if isinstance(content, str) else content).hexdigest()
        for path, content in TREE.items()
    }
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        by_handle = list(pool.map(read_version, [version, version]))
        by_client = pool.submit(read_through_client, client, version.key).result(timeout=120)
    assert by_handle == [expected, expected]
    assert by_client == expected
