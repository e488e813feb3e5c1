"""The reading commands through both transports: --json parsed and compared with the Python API."""

from __future__ import annotations

import hashlib
from pathlib import Path

from gobbler_sdk import GobblerClient, Version
from gobbler_sdk.testing import GobblerService

from ..client.support import make_tree
from .conftest import TREE, Runner, World


def sizes(version: Version) -> tuple[int, int]:
    """A version's size (all its files, links included) and the bytes it stores itself (no links)."""
    entries = list(version.manifest().values())
    return sum(e.size for e in entries), sum(e.size for e in entries if e.link is None)


def _summary(version: Version) -> dict[str, object]:
    summary = version.summary()
    dumped = summary.model_dump(mode="json")
    return {
        "version": version.key,
        "upload_user_id": summary.upload_user_id,
        "upload_start": dumped["upload_start"],
        "upload_finish": dumped["upload_finish"],
        "on_probation": summary.on_probation,
    }


def test_ls_at_every_level(cli: Runner, world: World, transport: str, api: GobblerClient) -> None:
    projects = cli("--json", "ls", transport=transport).json()
    assert projects["path"] == ""
    assert [e["name"] for e in projects["entries"]] == [p.name for p in api.projects()]
    assert {"kind": "project", "name": world.project, "path": world.project} in projects["entries"]

    assets = cli("ls", world.project, "--json", transport=transport).json()
    assert assets == {
        "path": world.project,
        "entries": [{"kind": "asset", "name": "data", "path": world.asset}],
    }

    versions = cli("ls", "-l", world.asset, "--json", transport=transport).json()["entries"]
    asset = api.project(world.project).asset("data")
    assert [v["name"] for v in versions] == [v.name for v in asset.versions()] == ["v1", "v2"]
    for row, version in zip(versions, asset.versions(), strict=True):
        manifest = version.manifest()
        assert row == {
            "kind": "version",
            "name": version.name,
            "path": version.key,
            "latest": version == asset.latest(),
            "probation": version.summary().on_probation,
            "upload_user_id": version.summary().upload_user_id,
            "upload_finish": _summary(version)["upload_finish"],
            "files": len(manifest.files()),
            "size": sizes(version)[0],
            "stored_size": sizes(version)[1],
        }
    assert [(v["latest"], v["probation"]) for v in versions] == [(True, False), (False, True)]
    # v2 links the files it shares with v1: they count in its size, not in what it stores.
    assert versions[1]["size"] == versions[0]["size"] + len("again ") > versions[1]["stored_size"]

    files = cli("--json", "ls", "-lr", f"{world.asset}/v1", transport=transport).json()["entries"]
    manifest = api.project(world.project).asset("data").version("v1").manifest()
    assert [f["name"] for f in files] == sorted(
        p + ("/" if manifest[p].is_directory else "") for p in manifest
    )
    for row in files:
        entry = manifest[row["name"].rstrip("/")]
        if entry.is_directory:
            assert row == {"kind": "directory", "name": "empty/", "path": f"{world.asset}/v1/empty"}
        else:
            assert row["size"] == entry.size and row["md5sum"] == entry.md5sum and row["link"] is None


def test_documents_as_json(cli: Runner, world: World, transport: str, api: GobblerClient) -> None:
    version = api.project(world.project).asset("data").version("v1")
    manifest = cli("--json", "manifest", version.key, transport=transport).json()
    assert manifest == {
        "version": version.key,
        "size": sizes(version)[0],
        "stored_size": sizes(version)[1],
        "total_size": sizes(version)[0],
        "manifest": version.manifest().model_dump(mode="json"),
    }
    v2 = api.project(world.project).asset("data").version("v2")
    linked = cli("--json", "manifest", v2.key, transport=transport).json()
    assert (linked["size"], linked["stored_size"]) == sizes(v2)
    assert linked["total_size"] == linked["size"] == v2.manifest().total_size  # one name, one meaning
    assert linked["size"] > linked["stored_size"] == len("hello again\n")
    probational = api.project(world.project).asset("data").version("v2")
    assert cli("summary", probational.key, "--json", transport=transport).json() == _summary(probational)
    assert cli("--json", "latest", world.asset, transport=transport).json() == {
        "asset": world.asset,
        "latest": "v1",
    }
    project = api.project(world.project)
    assert cli("--json", "usage", world.project, transport=transport).json() == {
        "project": world.project,
        "usage": project.usage(),
    }
    permissions = project.permissions()
    assert cli("--json", "permissions", world.project, transport=transport).json() == {
        "project": world.project,
        "asset": None,
        "owners": list(permissions.owners),
        "uploaders": [],
        "global_write": permissions.global_write,
    }
    assert cli("--json", "permissions", "show", world.asset, transport=transport).json() == {
        "project": world.project,
        "asset": "data",
        "owners": [],
        "uploaders": [],
        "global_write": None,
    }


def test_cat_and_info(cli: Runner, world: World, transport: str, api: GobblerClient) -> None:
    assert (
        cli("cat", f"{world.asset}/v1/sub/deeper/c.csv", transport=transport).stdout
        == TREE["sub/deeper/c.csv"]
    )
    # An internal file, byte for byte as the API reads it.
    summary = cli("cat", f"{world.asset}/v2/..summary", transport=transport).stdout
    assert summary == api.project(world.project).asset("data").version("v2").fetch("..summary").read_text()
    info = cli("--json", "info", transport=transport).json()
    assert info["transport"] == transport
    assert (info["url"], info["staging"], info["registry"]) == (api.url, str(api.staging), api.registry)
    assert info["offline"] is False


def test_plain_output_for_people_and_pipes(cli: Runner, world: World) -> None:
    assert cli("ls", world.asset).stdout.splitlines() == ["v1 (latest)", "v2 (probation)"]
    assert cli("ls", f"{world.asset}/v1/").stdout.splitlines() == ["a.txt", "empty/", "sub/"]
    assert cli("latest", world.asset).stdout == "v1\n"
    table = cli("ls", "-l", f"{world.asset}/v1/sub").stdout.splitlines()
    md5 = hashlib.md5(b"bee\n").hexdigest()
    assert table[0].split() == ["name", "size", "md5sum", "link"]
    assert ["b.txt", "4", "B", md5] == table[1].split()
    assert table[2].split() == ["deeper/"]


def test_latest_in_every_path(cli: Runner, world: World, service: GobblerService, tmp_path: Path) -> None:
    # v1 is the latest (v2 is probational): "..latest" and a bare PROJECT/ASSET name it.
    assert cli("--json", "manifest", world.asset).json()["version"] == world.v1.key
    assert cli("--json", "manifest", f"{world.asset}/..latest").json()["version"] == world.v1.key
    assert cli("cat", f"{world.asset}/..latest/a.txt").stdout == TREE["a.txt"]
    assert cli("ls", f"{world.asset}/..latest/").stdout.splitlines() == ["a.txt", "empty/", "sub/"]
    assert cli("--json", "summary", f"{world.asset}/..latest").json()["version"] == world.v1.key
    whole = cli("--json", "download", world.asset, transport="remote").json()
    assert Path(whole["path"]).name == "v1" and whole["source"] == world.asset
    one = cli("--json", "download", f"{world.asset}/..latest/sub/b.txt", transport="remote").json()
    assert Path(one["path"]).read_text() == TREE["sub/b.txt"]

    # An asset with only a probational version has no latest; a misspelt one does not exist.
    with GobblerClient(service.url) as client:
        client.project(world.project).asset("trial").upload(
            "v1", make_tree(tmp_path / "src", {"x": "x"}), probation=True
        )
    none = cli("download", f"{world.project}/trial", expect=3)
    assert none.stderr == (
        f"gobbler-sdk: error: asset {world.project}/trial has no latest version (nothing approved yet)\n"
    )
    typo = cli("--json", "manifest", f"{world.project}/dtaa", expect=3).json()["error"]
    assert typo["message"] == f"asset {world.project}/dtaa does not exist"
