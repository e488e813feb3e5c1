"""``new.diff(old)``: what changed between two versions, from their manifests alone (issue 21, part 1)."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gobbler_sdk import GobblerClient, LinkChange, Manifest, NotFoundError, Project, TableChange
from gobbler_sdk.comparison import diff_manifests
from gobbler_sdk.testing import GobblerService

from ..client.support import Link, LyingServer, make_tree
from .conftest import new_project

OLD = {
    "same.txt": "same\n",
    "edit.txt": "before\n",
    "gone.txt": "bye\n",
    "dir/moved.txt": "moving bytes\n",
    "twin-a.txt": "twin\n",
    "twin-b.txt": "twin\n",
    "old-empty": None,
    "kept-empty": None,
}
NEW = {
    "same.txt": "same\n",
    "edit.txt": "after, longer\n",
    "fresh.txt": "new file\n",
    "elsewhere/moved.txt": "moving bytes\n",
    "twin-c.txt": "twin\n",
    "twin-d.txt": "twin\n",
    "new-empty": None,
    "kept-empty": None,
}


def upload(project: Project, asset: str, version: str, tree: dict[str, str | None], root: Path) -> None:
    source = make_tree(root / f"{asset}-{version}", tree)
    project.asset(asset).upload(version, source)


def test_diff_of_two_versions_lists_every_kind_of_change(
    client: GobblerClient, project: Project, tmp_path: Path
) -> None:
    upload(project, "data", "v1", OLD, tmp_path)
    upload(project, "data", "v2", NEW, tmp_path)
    v1, v2 = project.asset("data").version("v1"), project.asset("data").version("v2")

    diff = v2.diff(v1)

    assert diff.old == v1.key and diff.new == v2.key
    assert diff.added == ("fresh.txt",)
    assert diff.removed == ("gone.txt",)
    assert diff.changed == ("edit.txt",)
    # Two removed twins and two added twins with the same bytes pair up in path order.
    assert diff.renamed == (
        ("dir/moved.txt", "elsewhere/moved.txt"),
        ("twin-a.txt", "twin-c.txt"),
        ("twin-b.txt", "twin-d.txt"),
    )
    assert diff.unchanged == ("same.txt",)
    assert diff.directories_added == ("new-empty",)
    assert diff.directories_removed == ("old-empty",)
    assert diff.bytes_added == len("new file\n") + len("after, longer\n")
    assert diff.bytes_removed == len("before\n") + len("bye\n")
    assert diff.links_changed == ()  # v2's same.txt is a link to v1's, where the bytes already were
    assert diff and v1.diff(v2)
    # The other way round, everything mirrors.
    back = v1.diff(v2)
    assert back.added == ("gone.txt",) and back.removed == ("fresh.txt",)
    assert back.renamed == tuple((new, old) for old, new in diff.renamed)
    assert back.directories_added == ("old-empty",) and back.directories_removed == ("new-empty",)
    assert (back.bytes_added, back.bytes_removed) == (diff.bytes_removed, diff.bytes_added)


def test_identical_versions_make_a_falsy_diff(
    client: GobblerClient, project: Project, tmp_path: Path
) -> None:
    upload(project, "data", "v1", OLD, tmp_path)
    upload(project, "data", "v2", OLD, tmp_path)
    asset = project.asset("data")

    diff = asset.version("v2").diff(asset.version("v1"))

    assert not diff
    assert diff.unchanged == ("dir/moved.txt", "edit.txt", "gone.txt", "same.txt", "twin-a.txt", "twin-b.txt")
    assert (diff.added, diff.removed, diff.changed, diff.renamed) == ((), (), (), ())
    assert diff.to_json()["identical"] is True and diff.to_json()["unchanged"] == 6


def test_diff_across_projects_and_assets(
    service: GobblerService, client: GobblerClient, tmp_path: Path
) -> None:
    first = client.project(new_project(service))
    second = client.project(new_project(service))
    upload(first, "one", "v1", OLD, tmp_path)
    upload(second, "two", "x", NEW, tmp_path)

    diff = second.asset("two").version("x").diff(first.asset("one").version("v1"))

    assert diff.old == f"{first.name}/one/v1" and diff.new == f"{second.name}/two/x"
    assert diff.changed == ("edit.txt",) and diff.added == ("fresh.txt",)
    assert len(diff.renamed) == 3


def test_diff_between_a_mounted_and_a_remote_registry(
    service: GobblerService, mounted: GobblerClient, remote: GobblerClient, tmp_path: Path
) -> None:
    name = new_project(service)
    upload(mounted.project(name), "data", "v1", OLD, tmp_path)
    upload(mounted.project(name), "data", "v2", NEW, tmp_path)
    local_v1 = mounted.project(name).asset("data").version("v1")
    remote_v2 = remote.project(name).asset("data").version("v2")

    across = remote_v2.diff(local_v1)
    same_client = mounted.project(name).asset("data").version("v2").diff(local_v1)

    assert across == same_client
    assert not remote.project(name).asset("data").version("v1").diff(local_v1)


def test_links_whose_target_changed(client: GobblerClient, project: Project, tmp_path: Path) -> None:
    """A retargeted registry link with the same bytes is listed; the versions still hold the same files."""
    upload(project, "base", "a", {"x.txt": "shared\n"}, tmp_path)
    upload(project, "other", "b", {"y.txt": "shared\n"}, tmp_path)  # another asset: not deduplicated
    registry = Path(client.registry)
    asset = project.asset("links")
    first = make_tree(tmp_path / "l1", {"l.txt": Link(str(registry / project.name / "base" / "a" / "x.txt"))})
    asset.upload("v1", first)
    second = make_tree(
        tmp_path / "l2", {"l.txt": Link(str(registry / project.name / "other" / "b" / "y.txt"))}
    )
    asset.upload("v2", second)

    diff = asset.version("v2").diff(asset.version("v1"))

    assert diff.links_changed == (
        LinkChange("l.txt", f"{project.name}/base/a/x.txt", f"{project.name}/other/b/y.txt"),
    )
    assert diff.unchanged == ("l.txt",) and not diff


def test_diff_of_a_missing_version_names_it(client: GobblerClient, project: Project, tmp_path: Path) -> None:
    upload(project, "data", "v1", OLD, tmp_path)
    with pytest.raises(NotFoundError, match=f"version {project.name}/data/nope does not exist"):
        project.asset("data").version("nope").diff(project.asset("data").version("v1"))


def test_a_path_that_turns_from_empty_directory_into_a_file() -> None:
    old = Manifest.from_json(b'{"x": {"size": 0, "md5sum": ""}, "y": {"size": 1, "md5sum": "aa"}}')
    new = Manifest.from_json(b'{"x": {"size": 1, "md5sum": "aa"}, "y": {"size": 0, "md5sum": ""}}')

    diff = diff_manifests(new, old)

    # x is new as a file and y gone as one, with the same bytes: a rename; the directories swap too.
    assert diff.renamed == (("y", "x"),)
    assert (diff.directories_added, diff.directories_removed) == (("y",), ("x",))
    assert diff.added == diff.removed == ()


# ------------------------------------------------------------------------------------------ tables


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=1000)
    return buffer.getvalue()


def test_tables_report_schema_changes_and_row_counts(
    client: GobblerClient, project: Project, tmp_path: Path
) -> None:
    big_old = pa.table({"id": list(range(5000)), "name": [f"n{i}" for i in range(5000)]})
    big_new = pa.table({"id": [float(i) for i in range(5200)], "score": list(range(5200))})
    old = {
        "t.csv": "a,b\n1,x\n2,y\n",
        "t.tsv": "a\tb\n1\tx\n",
        "p.parquet": parquet_bytes(big_old),
        "notes.txt": "one\n",
        "same.csv": "k\n1\n",
    }
    new = {
        "t.csv": "a,b,c\n1,x,true\n2,y,false\n3,z,true\n",
        "t.tsv": "a\tb\n1.5\tx\n",
        "p.parquet": parquet_bytes(big_new),
        "notes.txt": "two\n",
        "same.csv": "k\n1\n",
    }
    asset = project.asset("tables")
    asset.upload("v1", make_tree(tmp_path / "t1", old))
    asset.upload("v2", make_tree(tmp_path / "t2", new))
    v1, v2 = asset.version("v1"), asset.version("v2")
    # Spoil the Parquet files' data pages in the registry: their footers stay intact, so the comparison
    # can only succeed if it reads the footers alone (by range) rather than whole, verified files.
    for version in (v1, v2):
        path = Path(client.registry) / version.key / "p.parquet"
        with open(path, "r+b") as handle:
            handle.seek(100)
            handle.write(b"\xff" * 64)

    diff = v2.diff(v1, tables=True)

    assert diff.changed == ("notes.txt", "p.parquet", "t.csv", "t.tsv")
    assert diff.tables == (
        TableChange(
            "p.parquet",
            "parquet",
            columns_added=("score",),
            columns_removed=("name",),
            columns_retyped=(("id", "int64", "double"),),
            rows_old=5000,
            rows_new=5200,
        ),
        TableChange("t.csv", "csv", columns_added=("c",), rows_old=2, rows_new=3),
        TableChange("t.tsv", "tsv", columns_retyped=(("a", "int64", "double"),), rows_old=1, rows_new=1),
    )
    assert not diff.tables[1].error and diff.tables[0].schema_changed
    assert v2.diff(v1).tables == ()


def test_a_table_that_cannot_be_read_is_reported_not_raised(
    client: GobblerClient, project: Project, tmp_path: Path
) -> None:
    asset = project.asset("broken")
    asset.upload("v1", make_tree(tmp_path / "b1", {"x.parquet": "not parquet at all"}))
    asset.upload("v2", make_tree(tmp_path / "b2", {"x.parquet": "still not parquet, longer"}))

    (table,) = asset.version("v2").diff(asset.version("v1"), tables=True).tables

    assert table.path == "x.parquet" and table.rows_old is None
    assert table.error == "ValueError: not a Parquet file (no PAR1 magic at its end)"


def test_a_remote_diff_reads_the_two_manifests_and_no_file(
    service: GobblerService, proxy: LyingServer, tmp_path: Path
) -> None:
    name = new_project(service)
    with GobblerClient(service.url, cache=tmp_path / "setup") as setup:
        upload(setup.project(name), "data", "v1", OLD, tmp_path)
        upload(setup.project(name), "data", "v2", NEW, tmp_path)
    with GobblerClient(proxy.url, transport="remote", cache=tmp_path / "cache") as client:
        asset = client.project(name).asset("data")
        proxy.reset()

        assert asset.version("v2").diff(asset.version("v1")).changed == ("edit.txt",)

    fetched = proxy.paths("/fetch/")
    assert sorted(set(fetched)) == [
        f"/fetch/{name}/data/{v}/{doc}" for v in ("v1", "v2") for doc in ("..manifest", "..summary")
    ]
