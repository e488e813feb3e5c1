"""The app over HTTP, through both transports: safety headers, downloads, refused paths, bounded previews."""

from __future__ import annotations

import asyncio
import http.client
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gobbler_sdk import GobblerClient, Manifest
from gobbler_sdk.browser._compare import compare_manifests
from gobbler_sdk.browser._preview import LIMITS, Preview, preview
from gobbler_sdk.browser._source import RegistrySource
from gobbler_sdk.testing import GobblerService

from .conftest import HOSTILE, LONG, World


@pytest.fixture(params=["remote", "local"])
def base(request: pytest.FixtureRequest, app_url: str, local_app_url: str) -> str:
    return app_url if request.param == "remote" else local_app_url


def _q(name: str) -> str:
    return urllib.parse.quote(name, safe="")


class _Raw:
    def __init__(self, status: int, text: str) -> None:
        self.status_code = status
        self.text = text


def _raw_get(base: str, raw_path: str) -> _Raw:
    # httpx removes dot segments before sending; a hostile client sends them as they are.
    url = httpx.URL(base)
    connection = http.client.HTTPConnection(url.host, url.port, timeout=30)
    try:
        connection.request("GET", raw_path)
        response = connection.getresponse()
        return _Raw(response.status, response.read().decode(errors="replace"))
    finally:
        connection.close()


def test_pages_carry_the_safety_headers(base: str, world: World) -> None:
    for path in ("", f"p/{_q(world.project)}", f"f/{_q(world.project)}/tables/v1/page.html", "nowhere"):
        response = httpx.get(base + path, timeout=30)
        assert response.status_code == (404 if path == "nowhere" else 200)
        assert response.headers["x-content-type-options"] == "nosniff"
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy
        assert "unsafe-inline" not in policy


def test_downloads_are_attachments_of_a_neutral_type(base: str, world: World) -> None:
    for name, content in (("page.html", b"<script>"), ("figure.svg", b"onload=")):
        for query in ("", "?inline=1"):
            response = httpx.get(f"{base}raw/{_q(world.project)}/tables/v1/{name}{query}", timeout=30)
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/octet-stream"
            assert response.headers["content-disposition"].startswith(f'attachment; filename="{name}"')
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"
            assert content in response.content
    image = httpx.get(f"{base}raw/{_q(world.project)}/tables/v1/plot.png?inline=1", timeout=30)
    assert image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"].startswith("inline;")
    assert image.content.startswith(b"\x89PNG")
    hostile = httpx.get(
        f"{base}raw/{_q(world.hostile_project)}/{_q(HOSTILE['asset'])}/{_q(HOSTILE['version'])}/"
        f"{_q(HOSTILE['file'])}",
        timeout=30,
    )
    assert hostile.status_code == 200
    assert hostile.headers["content-disposition"] == (
        f"attachment; filename=\"<img src=x onerror=alert(4)>.csv\"; filename*=UTF-8''{_q(HOSTILE['file'])}"
    )
    split_name = "two\nlines\r.txt"
    split = httpx.get(
        f"{base}raw/{_q(world.hostile_project)}/{_q(HOSTILE['asset'])}/{_q(HOSTILE['version'])}/"
        f"{_q(split_name)}",
        timeout=30,
    )
    assert split.status_code == 200 and split.content == b"split\n"
    assert split.headers["content-disposition"] == (
        "attachment; filename=\"two_lines_.txt\"; filename*=UTF-8''two%0Alines%0D.txt"
    )


def test_a_download_of_several_chunks_is_exact(base: str, world: World, service: GobblerService) -> None:
    response = httpx.get(f"{base}raw/{_q(world.project)}/tables/v1/long.txt", timeout=60)
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content) == len(LONG)
    assert response.content == LONG


def test_paths_that_leave_the_registry_are_refused(base: str, world: World) -> None:
    version = f"/f/{_q(world.project)}/tables/v1"
    for raw, status in (
        (f"{version}/notes/%2e%2e/%2e%2e/v2/counts.csv", 400),
        (f"{version}/../v2/counts.csv", 400),
        (f"/raw/{_q(world.project)}/tables/v1/..summary", 400),
        (f"/raw/{_q(world.project)}/tables/v1/..manifest", 400),
        (f"/p/{_q(world.project)}/%2e%2e", 400),
        ("/p/..permissions", 400),
        (f"/raw/{_q(world.project)}/tables/v1/%2Fetc%2Fpasswd", 400),
        (f"/raw/{_q(world.project)}/tables/v1/no-such-file", 404),
        (f"/raw/{_q(world.project)}/tables/v1/empty", 404),
        ("/p/no-such-project", 404),
    ):
        response = _raw_get(base, raw)
        assert response.status_code == status, (raw, response.text[:300])
        assert "root:" not in response.text


def test_nothing_writes_and_other_hosts_are_refused(base: str, world: World) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert httpx.request(method, f"{base}p/{_q(world.project)}", timeout=30).status_code == 405
    # A page of another site that resolves its own name to 127.0.0.1 (DNS rebinding) gets nothing.
    for host, status in (
        ("evil.example", 400),
        ("evil.example:80", 400),
        ("[::1]:1", 200),
        ("LOCALHOST", 200),
    ):
        assert httpx.get(base, headers={"host": host}, timeout=30).status_code == status, host
    assert httpx.head(f"{base}raw/{_q(world.project)}/tables/v1/counts.csv", timeout=30).status_code == 200


def test_error_pages_escape_names(base: str) -> None:
    response = httpx.get(f"{base}p/{_q('<script>alert(1)</script>x')}", timeout=30)
    assert response.status_code in (400, 404)
    assert "<script>alert" not in response.text
    assert "&lt;script&gt;" in response.text


@pytest.fixture(params=["remote", "local"])
def source(
    request: pytest.FixtureRequest, service: GobblerService, tmp_path: Path
) -> Iterator[RegistrySource]:
    with GobblerClient(service.url, transport=request.param, cache=tmp_path / "cache") as client:
        made = RegistrySource(client)
        yield made
        made.close()


def _preview_of(
    source: RegistrySource,
    world: World,
    path: str,
    *,
    budget: int = LIMITS.parquet_bytes,
    seconds: float = LIMITS.seconds,
) -> tuple[Preview, int, int]:
    """The preview of a file of ``tables/v1``, the bytes it read, and the file's size."""

    async def run() -> tuple[Preview, int, int]:
        files = await source.files(world.project, "tables", "v1")
        entry = files.get(path)
        assert entry is not None
        reader = source.range_reader(f"{world.tables}/v1/{path}", entry, budget=budget, seconds=seconds)
        shown = await source.run(lambda: preview(reader, path))
        return shown, reader.read_bytes, entry.size

    return asyncio.run(run())


def test_previews_read_only_what_they_show(source: RegistrySource, world: World) -> None:
    shown, read, size = _preview_of(source, world, "long.txt")
    assert read == LIMITS.text_bytes < size
    assert shown.kind == "text"
    assert shown.note == "first 400 lines of 2.8 MiB"
    assert shown.text.splitlines()[0] == "line 0000000 of a long text file"

    shown, read, size = _preview_of(source, world, "big.parquet")
    assert shown.kind == "parquet"
    assert shown.rows[0] == ["S0", "0", "0.0"]
    assert read < size / 2, (read, size)  # the footer and one row group's columns, not the file

    shown, read, size = _preview_of(source, world, "long.txt.gz")
    assert shown.kind == "text"
    assert shown.note.startswith("first 400 lines of a ") and shown.note.endswith(" gzip file, decompressed")
    assert read < size

    shown, _, _ = _preview_of(source, world, "counts.tsv.gz")
    assert (shown.kind, shown.columns, shown.rows[0]) == (
        "table",
        ["gene", "count", "note"],
        ["G001", "7", "row 1"],
    )
    assert shown.note.startswith("first 50 rows of a ") and shown.note.endswith(" gzip file, decompressed")

    shown, read, _ = _preview_of(source, world, "blob.bin")
    assert (shown.kind, shown.note) == ("none", "binary file: no preview; download it")
    assert read <= LIMITS.text_bytes


def test_previews_stop_at_their_bounds(source: RegistrySource, world: World) -> None:
    shown, read, _ = _preview_of(source, world, "counts.csv", seconds=0)
    assert (shown.kind, shown.note, read) == ("none", "no preview: the preview took too long", 0)
    shown, read, _ = _preview_of(source, world, "big.parquet", budget=200_000)
    assert shown.kind == "parquet"
    assert shown.note.startswith("schema only (the preview would read too many bytes)")
    assert [name for name, _ in shown.schema] == ["sample", "depth", "ratio"]
    assert shown.rows == [] and read <= 200_000


def test_a_broken_parquet_file_says_so(source: RegistrySource, world: World) -> None:
    shown, _, _ = _preview_of(source, world, "broken.parquet")
    assert shown.kind == "none"
    assert shown.note.startswith("not a readable Parquet file")


def test_compare_shows_the_sdks_diff_by_path() -> None:
    def manifest(**files: str) -> Manifest:
        body = ",".join(f'"{path}": {{"size": {len(md5)}, "md5sum": "{md5}"}}' for path, md5 in files.items())
        return Manifest.from_json("{" + body.replace("__", "/") + "}")

    old = manifest(a="aa", b="bb", c="cc", d="dd", e="dd")
    new = manifest(a="aa", b="b2", x__c="cc", f="dd", g="dd", h="hh")
    result = compare_manifests(old, new)
    # Renames as Version.diff pairs them (same bytes, paired in path order), each row at its new path.
    assert [(c.kind, c.old_path, c.new_path) for c in result.changes] == [
        ("changed", "b", "b"),
        ("renamed", "d", "f"),
        ("renamed", "e", "g"),
        ("added", None, "h"),
        ("renamed", "c", "x/c"),
    ]
    assert result.unchanged == 1
