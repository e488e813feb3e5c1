"""Reprs that fit a REPL line and a notebook cell."""

from __future__ import annotations

import json
from pathlib import Path

from gobbler_sdk import GobblerClient, LocalTransport, Manifest, Permissions, Summary, Uploader
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import make_tree


def big_manifest(count: int) -> Manifest:
    entries = {f"dir/file-{i:05}.txt": {"size": 10, "md5sum": "0" * 32} for i in range(count)}
    entries["<script>alert(1)</script>"] = {"size": 0, "md5sum": ""}
    return Manifest.from_json(json.dumps(entries))


def test_a_manifest_shows_its_count_and_size_not_its_contents() -> None:
    manifest = big_manifest(5000)
    assert repr(manifest) == "Manifest(5001 entries, total_size=50000)"
    assert str(manifest) == repr(manifest)


def test_manifest_html_is_a_small_escaped_table() -> None:
    page = big_manifest(30)._repr_html_()
    assert page.startswith(
        "<table><caption>Manifest: 31 entries, 300 B (300 B stored), first 20 shown</caption>"
    )
    assert "<td>dir/file-00019.txt</td><td>10 B</td>" in page
    assert page.count("<tr>") == 21
    small = big_manifest(0)._repr_html_()
    assert "<script>" not in small and "&lt;script&gt;alert(1)&lt;/script&gt;" in small
    assert "<td>(empty directory)</td>" in small


def test_summary_and_permissions(service: GobblerService, tmp_path: Path) -> None:
    name = new_project(service, owners=["alice"], uploaders=[{"id": "<bob>", "trusted": True}])
    with GobblerClient(service.url, cache=tmp_path / "cache") as client:
        version = client.project(name).asset("a").upload("v1", make_tree(tmp_path / "src", {"x": "x"}))
        summary = version.summary()
        start = json.loads((service.registry / version.key / "..summary").read_text())["upload_start"]
        assert repr(summary).startswith(f"Summary(upload_user_id={summary.upload_user_id!r}, ")
        assert f"<tr><td>started</td><td>{start}</td></tr>" in summary._repr_html_()
        permissions = client.project(name).permissions()
        assert (
            repr(permissions) == "Permissions(owners=['alice'], uploaders=[{'id': '<bob>', 'trusted': True}])"
        )
        page = permissions._repr_html_()
        assert page.startswith("<table><caption>Permissions (global write: no)</caption>")
        assert "<td>uploader</td><td>&lt;bob&gt;</td><td></td><td></td><td></td><td>True</td>" in page
        assert repr(client.transport) == f"LocalTransport({str(service.registry)!r})"
        assert repr(client._connections.remote()) == f"RemoteTransport(cache={str(tmp_path / 'cache')!r})"


def test_long_model_fields_are_cut_short() -> None:
    permissions = Permissions(owners=tuple(f"user{i}" for i in range(50)), uploaders=(Uploader(id="x"),))
    assert repr(permissions) == "Permissions(owners=[50 items], uploaders=[{'id': 'x'}])"
    assert isinstance(Summary, type) and isinstance(LocalTransport("/r"), LocalTransport)
