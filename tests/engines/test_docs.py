"""Each engine's example in docs/pydata.md runs, as written, against the service, mounted and remote.

The examples take their client from the environment, as ``gobbler://`` URLs do: ``GOBBLER_URL`` names the
service, and for the remote runs ``GOBBLER_REGISTRY`` names a directory that does not exist here (a registry
mounted elsewhere), so reads go over HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gobbler_sdk import GobblerFileSystem
from gobbler_sdk.testing import GobblerService

from .conftest import Tables, upload_tables

DOCS = Path(__file__).resolve().parents[2] / "docs" / "pydata.md"
EXAMPLE = re.compile(r"<!-- example: (\w+) -->\n```python\n(.*?)```", re.DOTALL)


def examples() -> dict[str, str]:
    return dict(EXAMPLE.findall(DOCS.read_text()))


@pytest.fixture(scope="session")
def documented(service: GobblerService, tmp_path_factory: pytest.TempPathFactory) -> Tables:
    """The project and asset the examples name."""
    return upload_tables(service, tmp_path_factory, "my-project", "my-asset")


@pytest.fixture
def environment(
    service: GobblerService, transport: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    monkeypatch.setenv("GOBBLER_URL", service.url)
    monkeypatch.setenv("GOBBLER_CACHE", str(tmp_path / "cache"))
    if transport == "remote":
        monkeypatch.setenv("GOBBLER_REGISTRY", str(tmp_path / "mounted-elsewhere"))
    else:
        monkeypatch.delenv("GOBBLER_REGISTRY", raising=False)
    # Filesystems made from the environment are shared by fsspec per set of options: start afresh.
    GobblerFileSystem.clear_instance_cache()
    yield transport
    GobblerFileSystem.clear_instance_cache()


def run(name: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": f"docs_example_{name}"}
    exec(compile(examples()[name], f"{DOCS}:{name}", "exec"), namespace)
    return namespace


def test_the_examples_are_all_here() -> None:
    assert sorted(examples()) == ["datasets", "duckdb", "polars"]


def test_polars_example(environment: str, documented: Tables) -> None:
    done = run("polars")
    latest = documented.parts["v2"].to_pylist()
    assert done["top"].rows() == [(r["gene"], r["count"]) for r in latest if r["count"] >= 900]
    v1 = documented.parts["v1"].to_pylist()
    assert done["per_gene"].rows() == [(r["gene"], r["count"]) for r in v1]


def test_duckdb_example(environment: str, documented: Tables) -> None:
    done = run("duckdb")
    old, new = (documented.parts[v].to_pylist() for v in ("v1", "v2"))
    pairs = zip(old, new, strict=True)
    assert done["changed"] == [(a["gene"], a["count"], b["count"]) for a, b in pairs if a != b]
    assert done["changed"]
    assert done["total"] == [(sum(r["count"] for r in old),)]
    local = environment == "local"
    assert all(
        f.startswith("/" if local else "gobbler://my-project/my-asset/v1/parts/") for f in done["files"]
    )


def test_datasets_example(environment: str, documented: Tables, hf_home: Path) -> None:
    done = run("datasets")
    assert done["parts"]["train"].to_dict() == documented.parts["v1"].to_pydict()
    assert done["first"] == documented.parts["v2"].slice(0, 1).to_pylist()[0]
