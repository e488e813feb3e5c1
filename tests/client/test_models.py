"""Models read the service's documents and write them back byte for byte; unknown fields; frozen."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from gobbler_sdk import (
    LinkTarget,
    Manifest,
    ManifestEntry,
    Permissions,
    RerouteChange,
    ServiceInfo,
    Summary,
    Uploader,
)
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import Link, make_tree, unique


def upload(service: GobblerService, project: str, asset: str, version: str, tree: Any, **fields: Any) -> None:
    source = make_tree(service.staging / unique("src"), tree)
    service.request(
        "upload", {"source": source.name, "project": project, "asset": asset, "version": version, **fields}
    )


def written_like_the_service(model: BaseModel | Any) -> str:
    data = model.model_dump(mode="json") if isinstance(model, BaseModel) else model
    return json.dumps(data, indent=4, ensure_ascii=False)


@pytest.fixture(scope="module")
def documents(service: GobblerService) -> dict[str, str]:
    """Raw internal files written by the service, by a short label."""
    project = new_project(
        service,
        owners=["alice", "bob"],
        uploaders=[
            {"id": "carol", "asset": "a", "version": "v9", "until": "2030-01-01T00:00:00Z", "trusted": False},
            {"id": "dan", "trusted": True},
            {"id": "erin"},
        ],
        global_write=True,
    )
    upload(service, project, "a", "v1", {"f.txt": "one", "e": None})
    upload(service, project, "a", "v2", {"f.txt": "one", "loc": Link("f.txt"), "sub/loc2": Link("../loc")})
    upload(service, project, "a", "v3", {"g.txt": "three"}, on_probation=True)
    service.request(
        "set_permissions",
        {
            "project": project,
            "asset": "a",
            "permissions": {"owners": ["frank"], "uploaders": [{"id": "gina"}]},
        },
    )
    root = service.registry / project
    read = lambda *parts: root.joinpath(*parts).read_text()  # noqa: E731
    return {
        "permissions": read("..permissions"),
        "asset permissions": read("a", "..permissions"),
        "manifest v1": read("a", "v1", "..manifest"),
        "manifest v2": read("a", "v2", "..manifest"),
        "summary v1": read("a", "v1", "..summary"),
        "summary v3": read("a", "v3", "..summary"),
        "links v2": read("a", "v2", "..links"),
        "links v2/sub": read("a", "v2", "sub", "..links"),
    }


MODELS: dict[str, Any] = {
    "permissions": Permissions,
    "asset permissions": Permissions,
    "manifest v1": Manifest,
    "manifest v2": Manifest,
    "summary v1": Summary,
    "summary v3": Summary,
    "links v2": TypeAdapter(dict[str, LinkTarget]),
    "links v2/sub": TypeAdapter(dict[str, LinkTarget]),
}


@pytest.mark.parametrize("label", list(MODELS))
def test_round_trip_is_exact(documents: dict[str, str], label: str) -> None:
    raw = documents[label]
    kind = MODELS[label]
    if isinstance(kind, TypeAdapter):
        parsed = kind.validate_json(raw)
        assert written_like_the_service(kind.dump_python(parsed, mode="json")) == raw
        assert json.loads(kind.dump_json(parsed)) == json.loads(raw)
        return
    model = kind.model_validate_json(raw)
    assert written_like_the_service(model) == raw
    assert json.loads(model.model_dump_json()) == json.loads(raw)
    assert kind.model_validate_json(model.model_dump_json()) == model


def test_the_documents_hold_what_the_round_trip_claims(documents: dict[str, str]) -> None:
    # Guard the round-trip test: the files really contain optional fields, timestamps and links.
    permissions = Permissions.model_validate_json(documents["permissions"])
    assert permissions.global_write is True
    carol, dan, erin = permissions.uploaders
    assert carol.until == datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert (carol.asset, carol.version, carol.trusted) == ("a", "v9", False)
    assert (dan.trusted, erin.trusted, erin.until) == (True, None, None)
    assert '"2030-01-01T00:00:00Z"' in written_like_the_service(permissions)
    v2 = Manifest.model_validate_json(documents["manifest v2"])
    loc2 = v2["sub/loc2"].link
    assert loc2 is not None and loc2.ancestor is not None
    assert (loc2.path, loc2.final.path, loc2.final.version) == ("loc", "f.txt", "v1")
    assert Summary.model_validate_json(documents["summary v3"]).on_probation is True
    assert "on_probation" not in documents["summary v1"]
    assert "global_write" not in documents["asset permissions"]


def test_unknown_fields_are_ignored() -> None:
    summary = Summary.model_validate(
        {
            "upload_user_id": "u",
            "upload_start": "2024-02-29T10:00:00Z",
            "upload_finish": "2024-02-29T11:00:00+01:00",
            "from_the_future": {"x": 1},
        }
    )
    assert summary.model_dump(mode="json") == {
        "upload_user_id": "u",
        "upload_start": "2024-02-29T10:00:00Z",
        "upload_finish": "2024-02-29T11:00:00+01:00",
    }
    assert not hasattr(summary, "from_the_future")
    assert summary.upload_finish == summary.upload_start
    entry = ManifestEntry.model_validate({"size": 1, "md5sum": "x", "new": True})
    assert entry.model_dump() == {"size": 1, "md5sum": "x"}
    info = ServiceInfo.model_validate_json(b'{"registry":"/r","staging":"/s","version":"9"}')
    assert info == ServiceInfo(staging="/s", registry="/r")
    uploader = Uploader.model_validate({"id": "x", "colour": "red"})
    assert uploader.to_json() == {"id": "x"}


def test_models_are_frozen() -> None:
    entry = ManifestEntry(size=1, md5sum="x")
    with pytest.raises(ValidationError):
        entry.size = 2  # type: ignore[misc]
    manifest = Manifest.model_validate({"a": {"size": 1, "md5sum": "x"}})
    with pytest.raises(ValidationError):
        manifest.root = {}  # type: ignore[misc]
    permissions = Permissions(owners=("a",))
    with pytest.raises(ValidationError):
        permissions.owners = ("b",)  # type: ignore[misc]
    assert isinstance(permissions.owners, tuple)
    assert hash(entry) == hash(ManifestEntry(size=1, md5sum="x"))


def test_null_lists_in_permissions() -> None:
    # The service writes null after some rewrites (PROTOCOL 6.3): read as empty, written back as [].
    permissions = Permissions.model_validate_json('{"owners": ["a"], "uploaders": null}')
    assert permissions.uploaders == ()
    assert permissions.model_dump(mode="json") == {"owners": ["a"], "uploaders": []}


@pytest.mark.parametrize(
    "text", ["2024-01-01", "2024-01-01T00:00:00", "2024-02-30T00:00:00Z", "2024-01-01t00:00:00z", "yesterday"]
)
def test_timestamps_are_strict(text: str) -> None:
    with pytest.raises(ValidationError):
        Summary.model_validate({"upload_user_id": "u", "upload_start": text, "upload_finish": text})


def test_timestamps_must_be_aware() -> None:
    with pytest.raises(ValidationError):
        Uploader(id="x", until=datetime(2030, 1, 1))
    aware = Uploader(id="x", until=datetime(2030, 1, 1, tzinfo=timezone(timedelta(hours=-5))))
    assert aware.to_json() == {"id": "x", "until": "2030-01-01T00:00:00-05:00"}
    utc = Uploader(id="x", until=datetime(2030, 1, 1, tzinfo=timezone.utc), trusted=False)
    assert utc.to_json() == {"id": "x", "until": "2030-01-01T00:00:00Z", "trusted": False}


def test_reroute_change_uses_the_service_key() -> None:
    change = RerouteChange.model_validate({"copy": True, "path": "p/a/v/x", "source": "q/b/w/x", "usage": 5})
    assert change.is_copy is True
    assert change.model_dump() == {"copy": True, "path": "p/a/v/x", "source": "q/b/w/x", "usage": 5}
    assert RerouteChange(is_copy=False, path="a", source="b", usage=0).model_dump()["copy"] is False


def test_manifest_helpers_on_a_built_manifest() -> None:
    manifest = Manifest.model_validate(
        {
            "d": {"size": 0, "md5sum": ""},
            "f": {"size": 3, "md5sum": "m"},
            "l": {
                "size": 3,
                "md5sum": "m",
                "link": {"project": "p", "asset": "a", "version": "v", "path": "f"},
            },
        }
    )
    assert manifest.files() == ["f", "l"]
    assert manifest.empty_directories() == ["d"]
    assert (manifest.total_size, manifest.stored_size) == (6, 3)
    assert manifest.linked() == {"l": LinkTarget(project="p", asset="a", version="v", path="f")}
    assert [path for path, _ in manifest.items()] == ["d", "f", "l"]
