"""The commands that change the registry, end to end through both transports and checked with the API."""

from __future__ import annotations

import os
from pathlib import Path

from gobbler_sdk import GobblerClient
from gobbler_sdk.cli import exitcodes
from gobbler_sdk.testing import GobblerService

from ..client.conftest import new_project
from ..client.support import Link, make_tree, me, snapshot, unique
from .conftest import Runner


def test_a_project_from_creation_to_removal(
    cli: Runner, transport: str, api: GobblerClient, service: GobblerService, tmp_path: Path
) -> None:
    name = unique("cli")
    created = cli(
        "--json",
        "create",
        name,
        "--owner",
        me(),
        "--uploader",
        "bob:trusted:until=2030-01-02T03:04:05Z:asset=x",
        transport=transport,
    ).json()
    permissions = api.project(name).permissions()
    assert created == {
        "project": name,
        "asset": None,
        "owners": [me()],
        "uploaders": [u.to_json() for u in permissions.uploaders],
        "global_write": False,
    }
    assert created["uploaders"] == [
        {"id": "bob", "asset": "x", "until": "2030-01-02T03:04:05Z", "trusted": True}
    ]

    changed = cli(
        "--json", "permissions", "set", name, "--owner", "carol", "--global-write", transport=transport
    )
    assert changed.json() == {
        "project": name,
        "asset": None,
        "dry_run": False,
        "sent": changed.json()["sent"],
    }
    assert api.project(name).permissions().owners == (me(), "carol")
    assert api.project(name).permissions().global_write is True

    source = make_tree(tmp_path / "src", {"a.txt": "one\n", "d/b.txt": "two\n", ".hidden": "h\n"})
    uploaded = cli(
        "--json",
        "upload",
        f"{name}/asset/v1",
        str(source),
        "--probation",
        "--ignore-dot",
        transport=transport,
    )
    version = api.project(name).asset("asset").version("v1")
    assert uploaded.json() == {
        "version": version.key,
        "probation": True,
        "files": 2,
        "size": 8,
        "stored_size": 8,
    }
    assert version.summary().on_probation and sorted(version.manifest()) == ["a.txt", "d/b.txt"]
    assert cli("--json", "approve", version.key, transport=transport).json() == {
        "version": version.key,
        "approved": True,
    }
    assert not version.summary(overwrite=True).on_probation
    # Approving or rejecting a version that is not on probation is the caller's mistake: exit 5, nothing sent.
    for verb in ("approve", "reject"):
        refused = cli(verb, version.key, expect=5, transport=transport)
        assert f"cannot {verb} {version.key}: it is not on probation" in refused.stderr
        assert refused.stderr.count("\n") == 1

    # What --ignore-dot leaves out is named on stderr.
    skipped = cli("upload", f"{name}/asset/v3", str(source), "--ignore-dot", transport=transport)
    assert ".hidden" in skipped.stderr
    cli("-q", "rm", f"{name}/asset/v3", "--yes", transport=transport)

    # Dotfiles are uploaded unless --ignore-dot, as the service itself does.
    cli("-q", "upload", f"{name}/asset/v2", str(source), "--probation", transport=transport)
    assert sorted(api.project(name).asset("asset").version("v2").manifest()) == [
        ".hidden",
        "a.txt",
        "d/b.txt",
    ]
    assert cli("--json", "reject", f"{name}/asset/v2", transport=transport).json()["rejected"] is True
    assert [v.name for v in api.project(name).asset("asset").versions()] == ["v1"]

    assert cli("--json", "reindex", version.key, transport=transport).json() == {
        "version": version.key,
        "reindexed": True,
    }
    assert cli("validate", version.key, transport=transport).stderr == f"valid: {version.key}\n"
    rerouted = cli("--json", "reroute", version.key, "--dry-run", transport=transport).json()
    assert rerouted == {"dry_run": True, "changes": []}

    clone = tmp_path / "clone"
    assert cli("--json", "clone", version.key, str(clone), transport=transport).json() == {
        "version": version.key,
        "destination": str(clone),
        "files": 2,
    }
    assert os.readlink(clone / "d" / "b.txt") == str(Path(api.registry) / version.key / "d" / "b.txt")

    assert cli("--json", "rm", "--yes", f"{name}/asset", transport=transport).json() == {
        "removed": f"{name}/asset",
        "kind": "asset",
        "existed": True,
    }
    assert not api.project(name).asset("asset").exists()
    cli("rm", "-y", name, transport=transport)
    assert not api.project(name).exists()


def test_permissions_of_an_asset_dry_run_and_replace(cli: Runner, service: GobblerService) -> None:
    name = new_project(service)
    dry = cli(
        "--json", "permissions", "set", f"{name}/x", "--uploader", "dora:version=v9", "--dry-run"
    ).json()
    assert dry == {
        "project": name,
        "asset": "x",
        "dry_run": True,
        "sent": {"uploaders": [{"id": "dora", "version": "v9"}]},
    }
    cli("permissions", "set", name, "--owner", "erin", "--replace")
    with GobblerClient(service.url) as client:
        assert client.project(name).permissions().owners == ("erin",)


def test_bad_arguments_write_nothing(cli: Runner, service: GobblerService, tmp_path: Path) -> None:
    before = snapshot(service.staging)
    source = make_tree(tmp_path / "src", {"a.txt": "a"})
    name = unique("cli")
    cli("create", name)
    results = [
        cli("upload", f"{name}/asset/..v1", str(source), expect=5),  # invalid name
        cli("upload", f"{name}/asset/v1", str(tmp_path / "missing"), expect=2),  # no such directory
        cli("upload", f"{name}/asset", str(source), expect=5),  # not a version
        cli("create", unique("cli"), "--uploader", "bob:sometimes", expect=2),  # bad uploader field
        cli("permissions", "set", name, expect=2),  # nothing to change
    ]
    assert all(len(r.stderr.splitlines()) == 1 for r in results), [r.stderr for r in results]
    assert snapshot(service.staging) == before
    with GobblerClient(service.url) as client:
        assert client.project(name).assets() == []


def test_upload_refuses_a_symlinked_directory_unless_told_to_follow(
    cli: Runner, service: GobblerService, tmp_path: Path
) -> None:
    name = new_project(service)
    outside = make_tree(tmp_path / "outside", {"x.txt": "ex"})
    source = make_tree(tmp_path / "src", {"a.txt": "a", "linked": Link(str(outside))})
    before = snapshot(service.staging)
    refused = cli("upload", f"{name}/asset/v1", str(source), expect=exitcodes.INVALID)
    assert "linked" in refused.stderr and len(refused.stderr.splitlines()) == 1
    assert snapshot(service.staging) == before
    cli("-q", "upload", f"{name}/asset/v1", str(source), "--follow-symlinks")
    with GobblerClient(service.url) as client:
        manifest = client.project(name).asset("asset").version("v1").manifest()
        assert sorted(manifest) == ["a.txt", "linked/x.txt"]
        assert manifest["linked/x.txt"].size == 2


def test_rm_of_what_does_not_exist_is_not_found_unless_missing_ok(
    cli: Runner, service: GobblerService, tmp_path: Path
) -> None:
    name = new_project(service)
    typo = f"{name}/nonexistent-asset"
    missing = cli("rm", typo, "--yes", expect=exitcodes.NOT_FOUND)
    assert missing.stderr == f"gobbler-sdk: error: asset {typo} does not exist\n"
    assert cli("--json", "rm", typo, "--yes", "--missing-ok").json() == {
        "removed": typo,
        "kind": "asset",
        "existed": False,
    }
    ghost = unique("ghost")
    assert cli("--json", "rm", "-y", ghost, expect=3).json()["error"]["message"] == (
        f"project {ghost} does not exist"
    )

    # A version removed twice: the second time there is nothing to remove.
    source = make_tree(tmp_path / "src", {"a.txt": "a"})
    cli("-q", "upload", f"{name}/asset/v1", str(source))
    assert cli("rm", "-y", f"{name}/asset/v1").stderr == f"removed version {name}/asset/v1\n"
    again = cli("rm", "-y", f"{name}/asset/v1", expect=exitcodes.NOT_FOUND)
    assert again.stderr == f"gobbler-sdk: error: version {name}/asset/v1 does not exist\n"
    assert cli("rm", "-y", f"{name}/asset/v1", "--missing-ok").stderr == (
        f"version {name}/asset/v1 does not exist; nothing removed\n"
    )


def test_upload_sends_dotfiles_unless_told_to_ignore_them(
    cli: Runner, service: GobblerService, tmp_path: Path
) -> None:
    name = new_project(service)
    source = make_tree(tmp_path / "zarr", {".zgroup": "{}", "0/.zarray": "{}", "0/0.0": "chunk"})
    cli("-q", "upload", f"{name}/store/v1", str(source))
    cli("-q", "upload", f"{name}/store/v2", str(source), "--ignore-dot")
    with GobblerClient(service.url) as client:
        asset = client.project(name).asset("store")
        assert sorted(asset.version("v1").manifest()) == [".zgroup", "0/.zarray", "0/0.0"]
        assert sorted(asset.version("v2").manifest()) == ["0/0.0"]
    contradiction = cli("upload", f"{name}/store/v3", str(source), "--ignore-dot", "--include-dot", expect=2)
    assert "contradict" in contradiction.stderr
