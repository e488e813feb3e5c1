"""Client configuration: arguments, environment variables, discovery through /info, transport choice."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from gobbler_sdk import (
    ConfigurationError,
    GobblerClient,
    LocalTransport,
    RemoteTransport,
    ServiceInfo,
    Transport,
)
from gobbler_sdk.testing import GobblerService

from .support import LyingServer

ENV = ("GOBBLER_URL", "GOBBLER_STAGING", "GOBBLER_REGISTRY", "GOBBLER_CACHE")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ENV:
        monkeypatch.delenv(variable, raising=False)


def test_service_info(service: GobblerService, make_client: Callable[..., GobblerClient]) -> None:
    client = make_client(service.url)
    info = client.service_info()
    assert info == ServiceInfo(staging=str(service.staging), registry=str(service.registry))
    assert client.service_info() is info


def test_discovery_from_info(service: GobblerService, make_client: Callable[..., GobblerClient]) -> None:
    client = make_client(service.url + "/")
    assert client.url == service.url
    assert client.staging == Path(service.staging)
    assert client.registry == str(service.registry)


def test_environment_variables(
    service: GobblerService, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOBBLER_URL", service.url)
    monkeypatch.setenv("GOBBLER_STAGING", str(tmp_path / "staging"))
    monkeypatch.setenv("GOBBLER_REGISTRY", str(tmp_path / "registry"))
    monkeypatch.setenv("GOBBLER_CACHE", str(tmp_path / "cache"))
    with GobblerClient() as client:
        assert client.url == service.url
        assert client.staging == tmp_path / "staging"
        assert client.registry == str(tmp_path / "registry")
        assert client.cache_dir == tmp_path / "cache"
    # Arguments win over the environment.
    with GobblerClient("http://elsewhere:1", staging=tmp_path / "s2", cache=tmp_path / "c2") as client:
        assert client.url == "http://elsewhere:1"
        assert client.staging == tmp_path / "s2"
        assert client.cache_dir == tmp_path / "c2"


def test_environment_url_is_enough(service: GobblerService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOBBLER_URL", service.url)
    with GobblerClient(transport="remote", cache="unused") as client:
        assert client.staging == Path(service.staging)
        assert "..logs" not in [p.name for p in client.projects()]


def test_no_url_is_a_configuration_error(tmp_path: Path) -> None:
    client = GobblerClient(cache=tmp_path)
    with pytest.raises(ConfigurationError):
        _ = client.url
    with pytest.raises(ConfigurationError):
        client.projects()
    with pytest.raises(ConfigurationError):
        client.project("p").asset("a").version("v").manifest(force_remote=True)


def test_registry_without_url_reads_locally(service: GobblerService, tmp_path: Path) -> None:
    name = service.request("create_project", {"project": "cfg-local-only"}) and "cfg-local-only"
    with GobblerClient(registry=service.registry, cache=tmp_path) as client:
        assert isinstance(client.transport, LocalTransport)
        assert client.project(name).permissions().owners
        with pytest.raises(ConfigurationError):
            client.project(name).permissions(force_remote=True)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        GobblerClient("http://x", concurrency=0)
    with pytest.raises(ValueError):
        GobblerClient("http://x", transport="Remote")  # type: ignore[arg-type]


def test_auto_picks_local_when_the_registry_is_readable(
    service: GobblerService, make_client: Callable[..., GobblerClient]
) -> None:
    client = make_client(service.url)
    assert isinstance(client.transport, LocalTransport)
    assert client.transport.kind == "local"


def test_auto_picks_remote_when_the_registry_is_not_readable(
    service: GobblerService, make_client: Callable[..., GobblerClient], tmp_path: Path
) -> None:
    client = make_client(service.url, registry=tmp_path / "not-mounted")
    assert isinstance(client.transport, RemoteTransport)
    assert client.transport.kind == "remote"
    assert "..logs" not in [p.name for p in client.projects()]


def test_explicit_transports(service: GobblerService, make_client: Callable[..., GobblerClient]) -> None:
    assert isinstance(make_client(service.url, transport="local").transport, LocalTransport)
    assert isinstance(make_client(service.url, transport="remote").transport, RemoteTransport)


def test_local_transport_needs_a_registry(
    service: GobblerService, make_client: Callable[..., GobblerClient], tmp_path: Path
) -> None:
    client = make_client(service.url, transport="local", registry=tmp_path / "missing")
    with pytest.raises(ConfigurationError):
        client.projects()


def test_a_transport_instance_can_be_passed(
    service: GobblerService, make_client: Callable[..., GobblerClient], tmp_path: Path
) -> None:
    # The registry "mounted" at another path than the service's own: the handed-in transport decides.
    mirror = tmp_path / "mirror"
    (mirror / "only-here" / "a" / "v1").mkdir(parents=True)
    (mirror / "only-here" / "a" / "v1" / "file.txt").write_text("mirror")
    transport = LocalTransport(mirror)
    assert isinstance(transport, Transport)
    client = make_client(service.url, transport=transport)
    assert client.transport is transport
    assert [p.name for p in client.projects()] == ["only-here"]
    version = client.project("only-here").asset("a").version("v1")
    assert version.fetch("file.txt") == mirror / "only-here" / "a" / "v1" / "file.txt"
    assert version.fetch_directory() == mirror / "only-here" / "a" / "v1"
    assert client.fetch_directory("only-here/a") == mirror / "only-here" / "a"
    assert "only-here" not in [p.name for p in client.projects(force_remote=True)]


def test_context_manager_closes_the_pool(service: GobblerService, tmp_path: Path) -> None:
    with GobblerClient(service.url, transport="remote", cache=tmp_path) as client:
        client.projects()  # a read: the lean keep-alive connection, no httpx pool yet
        assert client._connections._http is None
        fetcher = client._connections.remote().fetcher
        assert fetcher is not None and len(fetcher._open) == 1
        client.service_info()  # /info goes through httpx
        pool = client._connections._http
        assert isinstance(pool, httpx.Client) and not pool.is_closed
    assert pool.is_closed
    assert fetcher._open == set()
    assert client._connections._http is None
    # A closed client opens a new pool when used again.
    assert isinstance(client.projects(), list)
    client.close()
    client.close()


def test_repr(tmp_path: Path) -> None:
    client = GobblerClient("http://host:1/", staging=tmp_path / "s", registry="/r", cache=tmp_path)
    assert repr(client) == f"GobblerClient(url='http://host:1', registry='/r', staging='{tmp_path / 's'}')"


def test_info_is_fetched_once(lying: LyingServer, make_client: Callable[..., GobblerClient]) -> None:
    lying.json("/info", {"staging": "/s", "registry": "/r", "extra": 1})
    client = make_client(lying.url)
    assert client.staging == Path("/s")
    assert client.registry == "/r"
    assert client.service_info() == ServiceInfo(staging="/s", registry="/r")
    assert lying.count("/info") == 1


def test_a_client_left_open_exits_without_noise(service: GobblerService, tmp_path: Path) -> None:
    # Directory descriptors kept by the cache are closed by a finalizer, which also runs at interpreter
    # exit; a __del__ there used to print an ignored AttributeError.
    script = (
        "import sys\n"
        "from gobbler_sdk import GobblerClient\n"
        "client = GobblerClient(sys.argv[1], transport='remote', cache=sys.argv[2])\n"
        "print(len(client.projects()) >= 0, client.cache.scan().versions == [])\n"
        "keep = [client, client.cache]\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, service.url, str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "True True\n", "")
