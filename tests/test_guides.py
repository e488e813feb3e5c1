"""The guides in docs/guides run as written, and the user docs keep to what a user needs.

Each guide's Python blocks run in order, as one script, against a fresh service (the embedded one, or
``GOBBLER_BINARY`` when set), with only the example URL (and the cache guide's example cache directory)
replaced. ``GOBBLER_REGISTRY`` names a directory that does not exist here, so reads go over HTTP and through
the cache, as they do for a user whose registry is mounted elsewhere.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from gobbler_sdk import GobblerClient, GobblerFileSystem, UploadPlan
from gobbler_sdk.testing import GobblerService

from .client.support import in_thread

REPOSITORY = Path(__file__).resolve().parent.parent
GUIDES = REPOSITORY / "docs" / "guides"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
SHELL = re.compile(r"```sh\n(.*?)```", re.DOTALL)
EXAMPLE_URL = "http://gobbler.example:8080"


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GobblerService]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GOBBLER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GOBBLER_REGISTRY", str(tmp_path / "mounted-elsewhere"))
    monkeypatch.delenv("GOBBLER_OFFLINE", raising=False)
    GobblerFileSystem.clear_instance_cache()
    with GobblerService() as running:
        yield running
    GobblerFileSystem.clear_instance_cache()


def run(guide: str, service: GobblerService, **replacements: str) -> dict[str, Any]:
    text = (GUIDES / guide).read_text().replace(EXAMPLE_URL, service.url)
    for old, new in replacements.items():
        text = text.replace(old, new)
    namespace: dict[str, Any] = {"__name__": f"guide_{guide}"}
    exec(compile("\n".join(BLOCK.findall(text)), str(GUIDES / guide), "exec"), namespace)
    return namespace


def publish(service: GobblerService, source: Path) -> None:
    """``my-project/my-asset/v1``: the files the download, cache and filesystem guides read."""
    (source / "tables").mkdir(parents=True)
    (source / "tables" / "counts.csv").write_text("gene,count\nA,1\n")
    (source / "counts.csv").write_text("gene,count\nB,2\n")
    (source / "README.md").write_text("first line\nsecond line\n")
    (source / "big.bin").write_bytes(bytes(range(256)) * 16)
    pd.DataFrame({"gene": ["C"], "count": [3]}).to_parquet(source / "table.parquet")
    client = GobblerClient(service.url)
    client.create_project("my-project")
    client.project("my-project").asset("my-asset").upload("v1", source)


def test_download_guide(service: GobblerService, tmp_path: Path) -> None:
    publish(service, tmp_path / "source")
    done = run("download.md", service)
    assert done["path"].read_text() == "gene,count\nA,1\n"
    assert sorted(p.name for p in done["directory"].iterdir()) == [
        "..manifest",
        "..summary",
        "README.md",
        "big.bin",
        "counts.csv",
        "table.parquet",
        "tables",
    ]
    assert done["out"] == Path("data/v1")
    assert sorted(str(p) for p in Path("data/v1").rglob("*")) == [
        "data/v1/counts.csv",
        "data/v1/tables",
        "data/v1/tables/counts.csv",
    ]
    assert done["latest"].name == "v1"
    assert done["head"] == (bytes(range(256)) * 4)
    assert done["first_line"] == b"first line\n"
    assert done["manifest"].total_size == sum(e.size for e in done["manifest"].values())


def test_upload_guide(service: GobblerService, tmp_path: Path) -> None:
    (tmp_path / "results" / "tables").mkdir(parents=True)
    (tmp_path / "results" / "tables" / "counts.csv").write_text("gene,count\nA,1\n")
    (tmp_path / "results" / ".zattrs").write_text("{}")
    done = run("upload.md", service)
    assert sorted(done["v1"].manifest()) == [".zattrs", "tables/counts.csv"]  # dotfiles by default
    plan = done["plan"]
    assert isinstance(plan, UploadPlan)
    assert (plan.transferred, plan.stored_bytes) == ((), 0)
    assert plan.linked == {
        ".zattrs": "my-project/counts/v1/.zattrs",
        "tables/counts.csv": "my-project/counts/v1/tables/counts.csv",
    }
    v2 = done["v2"]
    assert v2.summary().on_probation is False  # approved at the end of the section
    assert (v2.manifest().total_size, v2.manifest().stored_size) == (17, 0)  # all links to v1
    assert [u.id for u in done["project"].permissions().uploaders] == ["bob"]


def test_cache_guide(service: GobblerService, tmp_path: Path) -> None:
    publish(service, tmp_path / "source")
    GobblerClient(service.url).project("my-project").asset("my-asset").version("v1").fetch_directory()
    cache = tmp_path / "cache"  # where the version was just cached
    done = run("cache.md", service, **{"/scratch/gobbler-cache": str(cache)})
    assert done["client"].cache_dir == cache
    assert done["report"].total_files == 7  # five files and two documents, before the removal
    assert done["client"].cache.scan().total_files == 0
    assert done["offline"].offline is True


def test_filesystem_guide(service: GobblerService, tmp_path: Path) -> None:
    publish(service, tmp_path / "source")
    done = run("filesystem.md", service)
    assert done["counts"].to_dict("records") == [{"gene": "B", "count": 2}]
    assert done["latest"].to_dict("records") == [{"gene": "C", "count": 3}]
    assert done["header"] == b"gene,count\n"


def test_async_guide(service: GobblerService, tmp_path: Path) -> None:
    publish(service, tmp_path / "source")
    # The guide calls asyncio.run, which needs a thread whose loop is not already running.
    done = in_thread(lambda: run("async.md", service))
    assert done["sizes"] == {
        "v1": GobblerClient(service.url)
        .project("my-project")
        .asset("my-asset")
        .version("v1")
        .manifest()
        .total_size
    }
    assert done["table"].read_text() == "gene,count\nA,1\n"
    assert sorted(str(p.relative_to(done["copied"])) for p in done["copied"].rglob("*.csv")) == [
        "counts.csv",
        "tables/counts.csv",
    ]
    assert done["uploaded_text"] == "gene,count\nA,1\n"
    assert "no-such-asset" in done["missing"]
    assert (
        done["cached_files"] == 9
    )  # v1: five files and two documents; my-results/v1: a file and its manifest


def test_testing_guide(service: GobblerService, tmp_path: Path) -> None:
    done = run("testing.md", service)
    project = "guide-test"
    service.request("create_project", {"project": project})
    (tmp_path / "upload").mkdir()
    done["test_upload_round_trip"](service, project, tmp_path / "upload")
    assert not done["service"].running  # the second example stopped its own service


def test_cli_guide(service: GobblerService, tmp_path: Path) -> None:
    # Every command of the guide, in order, in a real shell: all but the export (done through the
    # environment) and `serve`, which runs until Ctrl-C.
    source = tmp_path / "source"
    source.mkdir()
    (source / "table.csv").write_text("gene,count\nA,1\n")
    client = GobblerClient(service.url)
    client.create_project("my-project")
    client.project("my-project").asset("counts").upload("v1", source)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "table.csv").write_text("gene,count\nA,2\n")
    # The installed command, from the environment running the tests.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    environment = {**os.environ, "PATH": path, "GOBBLER_URL": service.url, "COLUMNS": "120"}
    outputs: dict[str, str] = {}
    for block in SHELL.findall((GUIDES / "cli.md").read_text()):
        for line in block.splitlines():
            command = line.split("  #")[0].strip()
            if not command.startswith("gobbler-sdk") or " serve" in command:
                continue
            done = subprocess.run(
                ["bash", "-o", "pipefail", "-c", command],
                cwd=tmp_path,
                env=environment,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, (command, done.stderr)
            outputs[command] = done.stdout
    assert len(outputs) == 12
    assert outputs["gobbler-sdk cat my-project/counts/..latest/table.csv | head"] == "gene,count\nA,1\n"
    assert (tmp_path / "counts" / "table.csv").read_text() == "gene,count\nA,1\n"
    assert outputs["gobbler-sdk --json manifest my-project/counts/v1 | jq '.size'"] == "15\n"
    assert client.project("my-project").asset("counts").versions() == [
        client.project("my-project").asset("counts").version("v2")
    ]


# What points outside the repository: the protocol notes kept beside it, a sibling folder, this machine's
# working directories.
OUTSIDE = re.compile(r"PROTOCOL\.md|\.\./shared|\.\./\.\./|/work/|/opt/gobbler")


def test_user_docs_cite_no_file_outside_the_repository() -> None:
    cited = [
        f"{path.relative_to(REPOSITORY)}: {match.group(0)}"
        for path in [
            REPOSITORY / "README.md",
            *sorted((REPOSITORY / "docs").rglob("*.md")),
            *sorted((REPOSITORY / "gobbler_sdk").rglob("*.py")),
        ]
        if "_build" not in path.parts
        for match in OUTSIDE.finditer(path.read_text())
    ]
    assert cited == []


def test_performance_page_is_a_summary() -> None:
    text = (REPOSITORY / "docs" / "performance.md").read_text()
    assert len(text.splitlines()) < 100
    assert "load average" not in text
    assert not re.search(r"`[0-9a-f]{7}`", text)  # no commit hashes: those live in the journal
    for image in re.findall(r"\]\((images/[^)]+)\)", text):
        assert (REPOSITORY / "docs" / image).is_file()
    assert (REPOSITORY / "tests" / "benchmarks" / "JOURNAL.md").is_file()
