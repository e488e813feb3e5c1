"""Each error type, triggered for real: a non-administrator, spoofing, missing things, a stopped service."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gobbler_sdk import (
    ConfigurationError,
    GobblerClient,
    GobblerError,
    IntegrityError,
    InvalidNameError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ServiceError,
    ServiceUnavailableError,
    UnsafePathError,
)
from gobbler_sdk.errors import error_from_status
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import make_tree, request_files, snapshot, unique


@pytest.fixture(params=["local", "remote"])
def outsider(
    request: pytest.FixtureRequest, restricted: GobblerService, make_client: Callable[..., GobblerClient]
) -> GobblerClient:
    """A client of the service on the same registry where the current user is no administrator."""
    return make_client(restricted.url, transport=request.param)


def test_permission_denied_for_non_administrators(
    outsider: GobblerClient, service: GobblerService, tmp_path: Path
) -> None:
    name = new_project(service, owners=["someone-else"])
    version = unique("v")
    source = make_tree(service.staging / unique("src"), {"x": "x"})
    service.request(
        "upload",
        {"source": source.name, "project": name, "asset": "a", "version": version, "on_probation": True},
    )
    project = outsider.project(name)
    before = snapshot(outsider.staging)

    with pytest.raises(PermissionDeniedError) as create:
        outsider.create_project(unique("proj"))
    assert create.value.status == 403
    assert create.value.reason is not None and "not authorized to create a project" in create.value.reason
    assert isinstance(create.value, PermissionError)
    assert str(create.value).endswith("(HTTP 403)")

    attempts = [
        lambda: project.set_permissions(owners=["me"], append=False),
        lambda: project.asset("a").set_permissions(owners=["me"], append=False),
        lambda: project.asset("a").upload("v9", make_tree(tmp_path / unique("s"), {"x": "x"})),
        lambda: project.asset("a").version(version).approve(),
        lambda: project.asset("a").version(version).reject(),
        lambda: project.asset("a").version(version).remove(),
        lambda: project.asset("a").version(version).reindex(),
        lambda: project.asset("a").version(version).validate(),
        lambda: project.asset("a").refresh_latest(),
        lambda: project.asset("a").remove(),
        project.refresh_usage,
        project.remove,
        lambda: outsider.reroute_links([project]),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDeniedError) as denied:
            attempt()
        assert denied.value.status == 403
    # Reads are still fine, and nothing was changed or left behind.
    assert project.asset("a").version(version).exists()
    assert project.permissions().owners == ("someone-else",)
    assert snapshot(outsider.staging) == before
    assert request_files(outsider.staging) == []


def test_not_found_errors(client: GobblerClient) -> None:
    missing = client.project(unique("missing"))
    with pytest.raises(NotFoundError) as caught:
        missing.asset("a").refresh_latest()
    assert caught.value.status == 404
    assert caught.value.reason is not None and "does not exist" in caught.value.reason
    assert isinstance(caught.value, LookupError)
    for read in (missing.permissions, missing.usage, missing.assets):
        with pytest.raises(NotFoundError):
            read()
    with pytest.raises(NotFoundError):
        missing.asset("a").version("v").reindex()


def test_invalid_request_errors(client: GobblerClient, service: GobblerService) -> None:
    name = new_project(service)
    with pytest.raises(InvalidRequestError) as caught:
        client.create_project(name)
    assert type(caught.value) is InvalidRequestError
    assert caught.value.status == 400
    with pytest.raises(InvalidRequestError) as uploaders:
        client.project(name).set_permissions(uploaders=[{"id": "x", "until": "soon"}])
    assert uploaders.value.status is None  # the client refuses the timestamp before sending


def test_service_errors(client: GobblerClient, service: GobblerService) -> None:
    name = new_project(service)
    source = make_tree(service.staging / unique("src"), {"x": "x"})
    service.request("upload", {"source": source.name, "project": name, "asset": "a", "version": "v"})
    # A file changed behind the service's back: validation fails on the service's side (HTTP 500).
    (service.registry / name / "a" / "v" / "x").write_text("y")
    with pytest.raises(ServiceError) as caught:
        client.project(name).asset("a").version("v").validate()
    assert caught.value.status == 500
    assert type(caught.value) is ServiceError


def test_approving_a_settled_version_is_the_callers_mistake(
    client: GobblerClient, service: GobblerService
) -> None:
    name = new_project(service)
    source = make_tree(service.staging / unique("src"), {"x": "x"})
    service.request("upload", {"source": source.name, "project": name, "asset": "a", "version": "v"})
    for action in ("approve", "reject"):
        with pytest.raises(InvalidRequestError, match="not on probation") as caught:
            getattr(client.project(name).asset("a").version("v"), action)()
        assert caught.value.status is None  # refused before anything was sent


def test_stopped_service(
    stopped: GobblerService, make_client: Callable[..., GobblerClient], tmp_path: Path
) -> None:
    bare = make_client(stopped.url, retries=1)
    with pytest.raises(ServiceUnavailableError) as caught:
        bare.service_info()
    assert isinstance(caught.value, ConnectionError)
    assert caught.value.status is None
    with pytest.raises(ServiceUnavailableError):
        bare.projects()
    with pytest.raises(ServiceUnavailableError):
        bare.project("p").asset("a").version("v").manifest(force_remote=True)

    configured = make_client(stopped.url, staging=stopped.staging, registry=stopped.registry, retries=1)
    before = snapshot(stopped.staging)
    with pytest.raises(ServiceUnavailableError):
        configured.create_project("p")
    with pytest.raises(ServiceUnavailableError):
        configured.project("p").asset("a").upload("v", make_tree(tmp_path / "src", {"x": "x"}))
    assert snapshot(stopped.staging) == before
    # The registry is still readable without the service.
    assert configured.projects() == []


def test_unusable_staging_and_cache(
    service: GobblerService, make_client: Callable[..., GobblerClient], tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    no_staging = make_client(service.url, staging=tmp_path / "missing")
    with pytest.raises(ConfigurationError):
        no_staging.create_project(unique("proj"))
    with pytest.raises(ConfigurationError):
        no_staging.project("p").asset("a").upload("v", make_tree(tmp_path / "src", {"x": "x"}))
    with pytest.raises(ConfigurationError):
        no_staging.allocate_upload_directory()
    name = new_project(service)
    no_cache = make_client(service.url, transport="remote", cache=tmp_path / "a-file")
    with pytest.raises(ConfigurationError):
        no_cache.fetch_file(f"{name}/..permissions")
    assert not (tmp_path / "missing").exists()


def test_errors_raised_before_sending(make_client: Callable[..., GobblerClient]) -> None:
    client = make_client("http://127.0.0.1:1")
    with pytest.raises(InvalidNameError):
        client.project("..p")
    with pytest.raises(UnsafePathError):
        client.fetch_file("p/a/v/../../../x")
    with pytest.raises(ConfigurationError):
        _ = GobblerClient().url


def test_exception_tree() -> None:
    for kind in (
        InvalidRequestError,
        InvalidNameError,
        PermissionDeniedError,
        NotFoundError,
        ServiceError,
        ServiceUnavailableError,
        IntegrityError,
        UnsafePathError,
        ConfigurationError,
    ):
        assert issubclass(kind, GobblerError)
    assert issubclass(InvalidNameError, InvalidRequestError) and issubclass(InvalidNameError, ValueError)
    assert issubclass(UnsafePathError, ValueError)
    cases = {400: InvalidRequestError, 403: PermissionDeniedError, 404: NotFoundError, 500: ServiceError}
    for status, kind in {**cases, 503: ServiceError, 418: GobblerError}.items():
        error = error_from_status(status, "why", context="do it")
        assert type(error) is kind
        assert (error.status, error.reason, str(error)) == (status, "why", f"do it: why (HTTP {status})")
