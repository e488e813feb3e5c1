"""``download`` (a version, a directory, one file; patterns; --to) and the ``cache`` commands."""

from __future__ import annotations

from pathlib import Path

from gobbler_sdk import GobblerClient
from gobbler_sdk.testing import GobblerService

from ..client.support import snapshot
from .conftest import TREE, Runner, World


def test_download_where_it_lands(
    cli: Runner, world: World, transport: str, api: GobblerClient, tmp_path: Path
) -> None:
    key = world.v1.key
    whole = cli("--json", "download", key, transport=transport).json()
    assert whole["kind"] == "directory" and whole["source"] == key
    landed = Path(whole["path"])
    if transport == "local":
        assert landed == Path(api.registry) / key
    else:
        assert landed == tmp_path / "cache" / "REGISTRY" / key
    assert {p for p in snapshot(landed) if not p.startswith("..")} >= set(TREE) | {"sub", "sub/deeper"}

    chosen = tmp_path / "chosen"
    picked = cli("download", f"{key}/sub", "--to", str(chosen), "--include", "*.csv", transport=transport)
    assert picked.stdout == f"{chosen}\n"
    assert snapshot(chosen) == {"deeper", "deeper/c.csv"}
    assert (chosen / "deeper" / "c.csv").read_text() == TREE["sub/deeper/c.csv"]
    assert not (chosen / "deeper" / "c.csv").is_symlink()

    skipped = tmp_path / "skipped"
    cli("-q", "download", key, "--to", str(skipped), "--exclude", "sub/**", transport=transport)
    assert snapshot(skipped) == {"a.txt", "empty"}

    one = cli("--json", "download", f"{key}/a.txt", "--no-verify", transport=transport).json()
    assert one["kind"] == "file"
    assert Path(one["path"]).read_text() == TREE["a.txt"]


def test_download_a_directory_without_verifying(
    cli: Runner, world: World, transport: str, tmp_path: Path
) -> None:
    key = world.v1.key
    into = tmp_path / "unverified"
    done = cli("--json", "download", key, "--no-verify", "--to", str(into), transport=transport)
    assert done.code == 0
    row = {"source": key, "path": str(into), "kind": "directory"}
    assert done.json() == {**row, "downloads": [row]}
    assert snapshot(into) == {"a.txt", "empty", "sub", "sub/b.txt", "sub/deeper", "sub/deeper/c.csv"}
    for path, text in TREE.items():
        if text is not None:
            assert (into / path).read_text() == text

    # A sub-directory, printed without --json; a cached copy is reused as it is.
    sub = cli("download", f"{key}/sub", "--no-verify", transport=transport)
    assert sub.code == 0
    assert (Path(sub.stdout.strip()) / "deeper" / "c.csv").read_text() == TREE["sub/deeper/c.csv"]

    help_text = cli("download", "--help").stdout
    assert "--no-verify" in help_text and "directories are always verified" not in help_text


def test_the_cache_commands(cli: Runner, world: World, service: GobblerService, tmp_path: Path) -> None:
    key = world.v1.key
    cli("-q", "download", key, transport="remote")
    with GobblerClient(service.url, transport="remote", cache=tmp_path / "cache") as client:
        scanned = client.cache.scan()
        listing = cli("--json", "cache", "ls").json()
        assert listing["total_size"] == scanned.total_size and listing["total_files"] == scanned.total_files
        [row] = listing["versions"]
        [cached] = scanned.versions
        assert (row["project"], row["asset"], row["version"], row["files"], row["size"], row["complete"]) == (
            cached.project,
            cached.asset,
            cached.version,
            cached.files,
            cached.size,
            True,
        )

        # Offline, what is cached is read and what is not is a typed "not found".
        info = cli("--offline", "--json", "info", transport="remote").json()
        assert (info["offline"], info["staging"], info["cache"]) == (True, None, str(tmp_path / "cache"))
        assert cli("--offline", "cat", f"{key}/a.txt", transport="remote").stdout == TREE["a.txt"]
        missing = cli("--offline", "--json", "manifest", world.v2.key, transport="remote", expect=3)
        assert missing.json()["error"]["type"] == "NotCachedError"

        pruned = cli("--json", "cache", "prune", "--max-size", "0").json()
        assert pruned["removed"] == [key] and pruned["freed"] > 0
        assert client.cache.scan().versions == []

        cli("-q", "download", key, transport="remote")
        freed = cli("--json", "cache", "rm", world.project).json()
        assert freed == {"path": world.project, "freed": freed["freed"]} and freed["freed"] > 0
        assert client.cache.scan().versions == []
    cli("cache", "prune", "--max-size", "lots", expect=2)


def test_cache_verify_finds_and_deletes_corrupt_files(cli: Runner, world: World, tmp_path: Path) -> None:
    key = world.v1.key
    cli("-q", "download", key, transport="remote")
    cached_file = tmp_path / "cache" / "REGISTRY" / key / "sub" / "b.txt"
    cached_file.write_text("BEE\n")  # same size, other bytes
    corrupt = cli("--json", "cache", "verify", expect=6).json()
    assert [c["path"] for c in corrupt["corrupt"]] == [f"{key}/sub/b.txt"]
    assert corrupt["deleted"] is False and cached_file.exists()
    cli("cache", "verify", world.project, "--delete")
    assert not cached_file.exists()
    assert cli("--json", "cache", "verify").json() == {"corrupt": [], "deleted": False}


def test_download_several_paths(cli: Runner, world: World, tmp_path: Path) -> None:
    into = tmp_path / "into"
    files = [f"{world.v1.key}/a.txt", f"{world.v2.key}/sub/b.txt", f"{world.asset}/..latest/sub/deeper/c.csv"]
    done = cli("--json", "download", *files, "--to", str(into)).json()
    assert done["downloads"] == [
        {"source": source, "path": str(into / Path(source).name), "kind": "file"} for source in files
    ]
    assert {k: done[k] for k in ("source", "path", "kind")} == done["downloads"][0]
    assert (into / "a.txt").read_text() == TREE["a.txt"]
    assert (into / "c.csv").read_text() == TREE["sub/deeper/c.csv"]

    # Without --to, one line per PATH: a directory and a file, each where it is.
    plain = cli("download", f"{world.v1.key}/sub", f"{world.v2.key}/a.txt", transport="remote").stdout
    directory, file = plain.splitlines()
    assert (Path(directory) / "b.txt").read_text() == TREE["sub/b.txt"]
    assert Path(file).read_text() == "hello again\n"

    # Two PATHs that would land on each other are refused before anything is written.
    clash = tmp_path / "clash"
    twice = [f"{world.v1.key}/a.txt", f"{world.v2.key}/a.txt"]
    same_name = cli("download", *twice, "--to", str(clash), expect=2)
    assert same_name.stderr == "gobbler-sdk: error: --to would write a.txt more than once\n"
    cli("download", world.v1.key, world.v2.key, "--to", str(clash), expect=2)
    assert not clash.exists()


def test_cache_prune_says_what_to_pass(cli: Runner) -> None:
    result = cli("cache", "prune")
    assert result.stderr.splitlines() == [
        "removed 0 versions and 0 temporary files, 0 B freed",
        "cached versions are removed only with --older-than DAYS (unused for that long) or --max-size SIZE "
        "(least recently used first, until the cache fits; e.g. 20GiB)",
    ]
    assert "--older-than DAYS" not in cli("cache", "prune", "--older-than", "30").stderr
