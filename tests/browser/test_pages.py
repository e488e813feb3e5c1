"""The pages in headless Chromium: navigation, previews, comparison, search, hostile names, 20,000 files."""

from __future__ import annotations

import contextlib
import time
import urllib.parse
from pathlib import Path

import httpx
from playwright.sync_api import expect

from gobbler_sdk import GobblerClient
from gobbler_sdk.testing import GobblerService

from ..client.support import me
from .conftest import BIG_FILES, HOSTILE, Big, Tab, World, served


def _q(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def test_project_asset_version_file(tab: Tab, world: World, service: GobblerService) -> None:
    page = tab.page
    tab.open("/")
    page.get_by_role("link", name=world.project, exact=True).click()
    expect(page.locator("h1")).to_have_text(f"project {world.project}")
    expect(page.locator("#permissions")).to_contain_text(me())
    expect(page.locator("#usage")).to_contain_text("bytes, as last recorded by the service")

    page.get_by_role("link", name="tables", exact=True).click()
    rows = page.locator("#versions tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0).locator(".badge")).to_have_count(0)
    expect(rows.nth(1).locator(".badge")).to_have_text(["latest"])
    expect(rows.nth(2).locator(".badge")).to_have_text(["probational"])
    with GobblerClient(service.url, transport="remote") as client:
        manifest = client.project(world.project).asset("tables").version("v2").manifest()
    files = manifest.files()
    total = sum(manifest[path].size for path in files)
    cells = rows.nth(1).locator("td")
    expect(cells.nth(2)).to_have_text(me())
    expect(cells.nth(3)).to_have_text(str(len(files)))
    expect(cells.nth(4)).to_have_attribute("title", f"{total} bytes")
    tab.shoot("versions")

    page.get_by_role("link", name="v2", exact=True).click()
    summary = page.locator("#summary")
    expect(summary).to_contain_text(f"Uploaded by{me()}")
    links = len(manifest.linked())
    expect(summary).to_contain_text(f"Files{len(files)}" + (f" ({links} links)" if links else ""))
    expect(summary).to_contain_text(f"({total} bytes;")
    alias = page.locator("#files tr", has=page.get_by_role("link", name="alias.csv", exact=True))
    target = manifest["alias.csv"].link
    assert target is not None
    expect(alias.locator("a.target")).to_have_text(target.registry_path)
    tab.shoot("version")

    page.get_by_role("link", name="counts.csv", exact=True).click()
    expect(page.locator("#entry")).to_contain_text(manifest["counts.csv"].md5sum)
    expect(page.locator("#preview-note")).to_have_text("first 50 rows of 1.2 KiB")
    table = page.locator("#preview-table")
    expect(table.locator("thead th")).to_have_text(["gene", "count", "note"])
    expect(table.locator("tbody tr")).to_have_count(50)
    expect(table.locator("tbody tr").first.locator("td")).to_have_text(["G001", "8", "row 1"])
    tab.shoot("csv")
    # The download link hands over the file's exact bytes.
    with page.expect_download() as download:
        page.locator("#download").click()
    saved = download.value.path()
    assert download.value.suggested_filename == "counts.csv"
    assert saved.read_bytes().decode() == manifest_text(service, world, "v2", "counts.csv")


def manifest_text(service: GobblerService, world: World, version: str, path: str) -> str:
    with GobblerClient(service.url, transport="remote") as client:
        return client.read_range(f"{world.tables}/{version}/{path}").decode()


def test_link_target_opens_the_target_file(tab: Tab, world: World) -> None:
    page = tab.page
    tab.open(f"/p/{_q(world.project)}/tables/v1")
    page.locator("#files tr", has=page.get_by_role("link", name="alias.csv", exact=True)).locator(
        "a.target"
    ).click()
    expect(page.locator("h1")).to_have_text("file counts.csv")
    expect(page.locator(".crumbs")).to_contain_text("v1")


def test_parquet_preview(tab: Tab, world: World) -> None:
    page = tab.page
    tab.open(f"/f/{_q(world.project)}/tables/v1/table.parquet")
    expect(page.locator("#schema tbody tr")).to_have_count(3)
    expect(page.locator("#schema tbody td")).to_have_text(
        ["sample", "string", "depth", "int64", "ratio", "double"]
    )
    expect(page.locator("#preview-note")).to_have_text(
        "schema and first 50 rows; 100 rows, 4 row group(s), 4.1 KiB"
    )
    expect(page.locator("#preview-table tbody tr")).to_have_count(50)
    first = page.locator("#preview-table tbody tr").first.locator("td")
    expect(first).to_have_text(["S0", "0", "0.0"])
    expect(page.locator("#preview-table tbody tr").nth(3).locator("td")).to_have_text(["S3", "3", "0.75"])
    tab.shoot("parquet")


def test_text_gzip_and_image_previews(tab: Tab, world: World) -> None:
    page = tab.page
    tab.open(f"/f/{_q(world.project)}/tables/v1/reads.fastq.gz")
    expect(page.locator("#preview-text")).to_have_text("@read1\nACGTACGT\n+\nIIIIIIII\n@read2\nTTTT\n+\nIIII")
    tab.open(f"/f/{_q(world.project)}/tables/v1/meta.json")
    expect(page.locator("#preview-text")).to_have_text('{\n  "organism": "mouse",\n  "samples": 2\n}')
    tab.open(f"/f/{_q(world.project)}/tables/v1/plot.png")
    image = page.locator("img.preview")
    expect(image).to_be_visible()
    page.wait_for_function("() => document.querySelector('img.preview').complete")
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [64, 40]


def test_compare_two_versions(tab: Tab, world: World) -> None:
    page = tab.page
    tab.open(f"/p/{_q(world.project)}/tables")
    page.get_by_label("Older version").select_option("v1")
    page.get_by_label("Newer version").select_option("v2")
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("h1")).to_have_text("compare v1 → v2")
    expect(page.locator("#counts")).to_have_text("2 added 1 removed 2 changed 1 renamed 12 unchanged")
    rows = page.locator("#changes tbody tr")
    expect(rows.locator("td:first-child")).to_have_text(
        ["changed", "changed", "renamed", "removed", "added", "added"]
    )
    renamed = page.locator("#changes tr.renamed")
    expect(renamed.locator("a.old")).to_have_text("notes/readme.md")
    expect(renamed.locator("a.new")).to_have_text("docs/readme.md")
    tab.shoot("compare")
    renamed.locator("a.old").click()
    expect(page.locator("h1")).to_have_text("file notes/readme.md")
    expect(page.locator("#preview-text")).to_have_text("# Notes\n\nThese tables are test data.")
    page.go_back()
    page.locator("#changes tr.renamed a.new").click()
    expect(page.locator(".crumbs")).to_contain_text("v2")
    expect(page.locator("h1")).to_have_text("file docs/readme.md")


def test_search_names(tab: Tab, world: World) -> None:
    page = tab.page
    tab.open("/")
    box = page.get_by_label("Search names")
    box.fill("tabl")
    box.press("Enter")
    results = page.locator("#results tbody tr")
    expect(results.filter(has_text=world.tables)).to_have_count(1)
    page.get_by_role("link", name=world.tables, exact=True).click()
    expect(page.locator("h1")).to_have_text("asset tables")

    # From a version's page, the same box finds that version's file paths first.
    tab.open(f"/p/{_q(world.project)}/tables/v2")
    box = page.get_by_label("Search names")
    box.fill("README")
    box.press("Enter")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    page.get_by_role("link", name="docs/readme.md", exact=True).click()
    expect(page.locator("h1")).to_have_text("file docs/readme.md")
    expect(page.locator(".crumbs")).to_contain_text("v2")


def test_hostile_names_render_as_text(tab: Tab, world: World) -> None:
    page = tab.page
    tab.open("/")
    page.get_by_role("link", name=world.hostile_project, exact=True).click()
    expect(page.locator("h1")).to_have_text(f"project {world.hostile_project}")
    page.get_by_role("link", name=HOSTILE["asset"], exact=True).click()
    expect(page.locator("h1")).to_have_text(f"asset {HOSTILE['asset']}")
    page.get_by_role("link", name=HOSTILE["version"], exact=True).click()
    expect(page.locator("h1")).to_have_text(f"version {HOSTILE['version']} latest")
    page.get_by_role("link", name=HOSTILE["file"], exact=True).click()
    expect(page.locator("h1")).to_have_text(f"file {HOSTILE['file']}")
    expect(page.locator("#preview-table tbody td").first).to_have_text("<script>alert(5)</script>")
    assert page.locator("img, svg, script:not([src])").count() == 0
    tab.open(f"/search?q={_q(HOSTILE['project'])}")
    expect(page.locator("#results")).to_contain_text(world.hostile_project)
    # HTML and SVG files: their source, shown as text, never rendered.
    for name in ("page.html", "figure.svg"):
        tab.open(f"/f/{_q(world.project)}/tables/v1/{name}")
        expect(page.locator("#preview-text")).to_contain_text("window.__pwned")
        assert page.locator("iframe, object, embed, svg").count() == 0
    assert not tab.pwned()
    assert tab.dialogs == []


def test_version_of_20000_files(tab: Tab, big: Big, tmp_path: Path) -> None:
    page = tab.page
    path = f"/p/{_q(big.project)}/files/v1"
    variants = ("", "?sort=size&desc=1", "?page=200", "?q=part0199")

    def answered(query: str) -> float:
        started = time.perf_counter()
        response = httpx.get(big.url + path.lstrip("/") + query, timeout=30)
        assert response.status_code == 200
        return time.perf_counter() - started

    def shown(query: str) -> float:
        started = time.perf_counter()
        tab.open(path + query, base=big.url)
        expect(page.locator("#files tbody tr")).to_have_count(100)
        return time.perf_counter() - started

    def first(attempt: int) -> float:
        # A new client with an empty cache and a new app: nothing of the version is known yet.
        with contextlib.closing(served(big.service_url, tmp_path / f"cold{attempt}", "remote")) as urls:
            fresh = next(urls)
            started = time.perf_counter()
            response = httpx.get(fresh + path.lstrip("/"), timeout=30)
            assert response.status_code == 200
            return time.perf_counter() - started

    # The first request reads and parses the manifest; it too must answer within a second. All times
    # are the best of three, as the machine running the tests is shared: the page must answer in under
    # a second from the server, and be on screen in under a second in Chromium.
    cold = min(first(attempt) for attempt in range(3))
    server = [min(answered(query) for _ in range(3)) for query in variants]
    browser = [min(shown(query) for _ in range(3)) for query in variants]

    def ms(times: list[float]) -> str:
        return ", ".join(f"{t * 1000:.0f} ms" for t in times)

    print(
        f"\n20,000-file version (upload {big.upload_seconds:.1f} s): first request (new client)"
        f" {cold * 1000:.0f} ms; plain, sorted by size, last page, filtered:"
        f" server {ms(server)}; in Chromium {ms(browser)}"
    )
    assert cold < 1.0 and max(server) < 1.0 and max(browser) < 1.0, (cold, server, browser)

    tab.open(path, base=big.url)
    expect(page.locator("nav.pager")).to_contain_text("page 1 of 200")
    page.get_by_role("link", name="last »").click()
    expect(page.locator("nav.pager")).to_contain_text("page 200 of 200")
    expect(page.locator("#files tbody tr").last.locator("td").first).to_have_text("batch099/part0199.txt")
    page.get_by_role("link", name="« first").click()
    page.get_by_role("link", name="size", exact=True).click()
    page.get_by_role("link", name="size ▲").click()
    expect(page.locator("#files tbody tr").first.locator("td").nth(1)).to_have_attribute("title", "35 bytes")
    page.locator("a[rel=next]").click()
    expect(page.locator("nav.pager")).to_contain_text("page 2 of 200")

    # Typing in the filter submits it after a pause; the server filters all 20,000 paths.
    tab.open(path, base=big.url)
    page.get_by_label("Filter file paths").press_sequentially("part0199", delay=20)
    expect(page.locator("#matched")).to_have_text(f"100 of {BIG_FILES} paths match")
    expect(page.locator("#files tbody tr")).to_have_count(100)
    expect(page.locator("#files tbody tr").first.locator("td").first).to_have_text("batch000/part0199.txt")
    tab.shoot("filter")
