"""Nothing silently misread: list-valued arguments, version order, and typed errors for bad options."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

import gobbler_sdk.functional as pyg
from gobbler_sdk import (
    ConfigurationError,
    GobblerClient,
    GobblerError,
    InvalidArgumentError,
    InvalidRequestError,
    Project,
    Uploader,
)
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import LyingServer, make_tree, me, unique

# ---------------------------------------------------------------------- list-valued arguments

BARE: list[tuple[str, Any, str]] = [
    ("owners", "alice", "owners must be a list of user names, not a str ('alice'); for one, write ['alice']"),
    ("owners", {"alice": 1}, "owners must be a list of user names, not a dict"),
    ("owners", 7, "owners must be a list of user names, not a int (7)"),
    ("owners", ["alice", 7], "owners[1] must be one of the user names, not a int (7)"),
    ("uploaders", {"id": "bob"}, "uploaders must be a list of uploader entries, not a dict ({'id': 'bob'})"),
    ("uploaders", Uploader(id="bob"), "uploaders must be a list of uploader entries, not a Uploader"),
    ("uploaders", "bob", "uploaders must be a list of uploader entries, not a str ('bob')"),
    ("uploaders", ["bob"], "uploaders[0] must be one of the uploader entries, not a str ('bob')"),
]


@pytest.fixture
def counted(proxy: LyingServer, service: GobblerService, tmp_path: Path) -> GobblerClient:
    """A client whose every request passes through the counting proxy."""
    return GobblerClient(proxy.url, staging=service.staging, cache=tmp_path / "cache", transport="remote")


def assert_refused(
    proxy: LyingServer, call: Callable[[], object], parameter: str, message: str
) -> InvalidArgumentError:
    proxy.reset()
    with pytest.raises(InvalidArgumentError) as caught:
        call()
    assert str(caught.value).startswith(message)
    assert parameter in str(caught.value)
    assert isinstance(caught.value, InvalidRequestError) and isinstance(caught.value, ValueError)
    assert proxy.paths(method="POST") == []  # nothing was submitted
    return caught.value


@pytest.mark.parametrize(("parameter", "value", "message"), BARE)
def test_create_project_refuses_a_bare_item(
    counted: GobblerClient, proxy: LyingServer, parameter: str, value: Any, message: str
) -> None:
    name = unique("proj")
    assert_refused(proxy, lambda: counted.create_project(name, **{parameter: value}), parameter, message)
    assert_refused(proxy, lambda: counted.project(name).create(**{parameter: value}), parameter, message)
    assert not counted.project(name).exists()


@pytest.mark.parametrize(("parameter", "value", "message"), BARE)
@pytest.mark.parametrize("append", [True, False])
def test_set_permissions_refuses_a_bare_item(
    counted: GobblerClient,
    proxy: LyingServer,
    service: GobblerService,
    parameter: str,
    value: Any,
    message: str,
    append: bool,
) -> None:
    project = counted.project(new_project(service, owners=[me()]))
    before = (service.registry / project.name / "..permissions").read_bytes()
    for dry_run in (True, False):
        kwargs = {parameter: value, "append": append, "dry_run": dry_run}
        assert_refused(proxy, partial(project.set_permissions, **kwargs), parameter, message)
        assert_refused(proxy, partial(project.asset("a").set_permissions, **kwargs), parameter, message)
    assert (service.registry / project.name / "..permissions").read_bytes() == before


@pytest.mark.parametrize(("parameter", "value", "message"), BARE)
def test_functional_refuses_a_bare_item(
    proxy: LyingServer, service: GobblerService, parameter: str, value: Any, message: str
) -> None:
    name = new_project(service, owners=[me()])
    staging, registry = str(service.staging), str(service.registry)
    assert_refused(
        proxy,
        lambda: pyg.create_project(unique("proj"), staging, proxy.url, **{parameter: value}),
        parameter,
        message,
    )
    for asset in (None, "a"):
        assert_refused(
            proxy,
            partial(pyg.set_permissions, name, registry, staging, proxy.url, asset, **{parameter: value}),
            parameter,
            message,
        )


def test_reroute_links_refuses_a_single_target(
    counted: GobblerClient, proxy: LyingServer, service: GobblerService
) -> None:
    name = new_project(service)
    message = "to_delete must be a list of projects, assets or versions, not a dict ({'project': "
    assert_refused(proxy, lambda: counted.reroute_links({"project": name}), "to_delete", message)  # type: ignore[arg-type]
    assert_refused(
        proxy,
        lambda: counted.reroute_links(counted.project(name)),  # type: ignore[arg-type]
        "to_delete",
        "to_delete must be a list of projects, assets or versions, not a Project",
    )
    assert_refused(
        proxy,
        lambda: counted.reroute_links(name),
        "to_delete",
        f"to_delete must be a list of projects, assets or versions, not a str ('{name}');"
        f" for one, write ['{name}']",
    )
    # What the message suggests works: paths name what will be deleted.
    assert counted.reroute_links([name], dry_run=True) == []
    assert_refused(
        proxy,
        lambda: counted.reroute_links([1]),  # type: ignore[list-item]
        "to_delete",
        "to_delete[0] must be one of the projects, assets or versions, not a int (1)",
    )
    assert_refused(
        proxy,
        lambda: pyg.reroute_links({"project": name}, str(service.staging), proxy.url),
        "to_delete",
        message,
    )


def test_the_test_service_refuses_a_bare_extra_argument() -> None:
    with pytest.raises(InvalidArgumentError, match=r"extra_args must be a list .*write \['-probation'\]"):
        GobblerService(extra_args="-probation")


def test_lists_tuples_and_models_are_accepted(counted: GobblerClient, service: GobblerService) -> None:
    name = unique("proj")
    counted.create_project(name, owners=(me(), "alice"), uploaders=(Uploader(id="bob"), {"id": "carol"}))
    stored = json.loads((service.registry / name / "..permissions").read_text())
    assert stored == {"owners": [me(), "alice"], "uploaders": [{"id": "bob"}, {"id": "carol"}]}
    sent = counted.project(name).set_permissions(owners=("dave",), uploaders=[], dry_run=True)
    assert sent == {"owners": [me(), "alice", "dave"], "uploaders": [{"id": "bob"}, {"id": "carol"}]}
    counted.project(name).set_permissions(owners=["alice"], append=False)
    assert counted.project(name).permissions().owners == ("alice",)


def test_a_bad_uploader_entry_names_its_field_without_a_pydantic_dump(
    counted: GobblerClient, proxy: LyingServer
) -> None:
    proxy.reset()
    with pytest.raises(InvalidRequestError) as caught:
        counted.create_project(unique("proj"), uploaders=[{"id": "bob", "trusted": "perhaps"}])
    assert str(caught.value) == (
        "invalid uploader entry {'id': 'bob', 'trusted': 'perhaps'}: "
        "trusted: Input should be a valid boolean, unable to interpret input"
    )
    assert proxy.paths(method="POST") == []


# ---------------------------------------------------------------------- version order


def next_second() -> None:
    """Wait until the wall clock enters a new second (the service records upload times in seconds)."""
    time.sleep(1.02 - time.time() % 1)


def test_versions_sort_naturally_or_by_upload_time(
    service: GobblerService, make_client: Callable[..., GobblerClient], tmp_path: Path
) -> None:
    name = new_project(service)
    source = make_tree(tmp_path / "src", {"a.txt": "a"})
    uploader = make_client(service.url)
    for batch in (["v10"], ["v2", "v2a"], ["v1"]):
        next_second()
        for version in batch:
            uploader.project(name).asset("a").upload(version, source)
    for transport in ("local", "remote"):
        asset = make_client(service.url, transport=transport).project(name).asset("a")
        assert [v.name for v in asset.versions()] == ["v1", "v2", "v2a", "v10"]
        assert [v.name for v in asset.versions(order="name")] == ["v1", "v2", "v2a", "v10"]
        assert [v.name for v in asset.versions(order="upload_time")] == ["v10", "v2", "v2a", "v1"]
    # The functional API keeps pygobbler's listing order (bytewise).
    assert pyg.list_versions(name, "a", str(service.registry), service.url) == ["v1", "v10", "v2", "v2a"]


def test_versions_refuses_an_unknown_order(project: Project) -> None:
    with pytest.raises(InvalidArgumentError, match="order must be 'name' or 'upload_time', not 'date'"):
        project.asset("a").versions(order="date")  # type: ignore[arg-type]


# ---------------------------------------------------------------------- client options


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"transport": "http"}, "transport must be 'auto', 'local', 'remote' or a Transport, not 'http'"),
        ({"transport": 3}, "transport must be 'auto', 'local', 'remote' or a Transport, not a int"),
        ({"concurrency": 0}, "concurrency must be an integer of at least 1, not 0"),
        ({"concurrency": 2.5}, "concurrency must be an integer of at least 1, not 2.5"),
        ({"timeout": -1}, "timeout must be a positive number of seconds, not -1"),
        ({"timeout": 0}, "timeout must be a positive number of seconds, not 0"),
        ({"timeout": "30"}, "timeout must be a positive number of seconds, not '30'"),
        ({"retries": -1}, "retries must be an integer of at least 0, not -1"),
        ({"url": "localhost:8080"}, "'localhost:8080' is not an http:// or https:// URL of a Gobbler"),
        ({"url": "ftp://host/"}, "'ftp://host' is not an http:// or https:// URL of a Gobbler"),
    ],
)
def test_bad_client_options_are_configuration_errors(
    kwargs: dict[str, Any], message: str, tmp_path: Path
) -> None:
    kwargs.setdefault("url", "http://127.0.0.1:1")
    url = kwargs.pop("url")
    with pytest.raises(ConfigurationError) as caught:
        GobblerClient(url, cache=tmp_path, **kwargs)
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, GobblerError)
