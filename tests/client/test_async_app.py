"""The example web app (examples/async_app.py) serves registry files through AsyncGobblerClient.

Driven by a real HTTP client over a real socket, with many requests at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import httpx

from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import make_tree, run_async, unique


def _example() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "examples" / "async_app.py"
    spec = importlib.util.spec_from_file_location("async_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("async_app", module)
    spec.loader.exec_module(module)
    return module


def test_the_app_serves_files_concurrently(service: GobblerService, tmp_path: Path) -> None:
    name = new_project(service)
    files = {f"f{i:02d}.bin": bytes([i]) * (1000 + i * 997) for i in range(30)}
    source = make_tree(service.staging / unique("src"), {k: v.decode("latin-1") for k, v in files.items()})
    service.request("upload", {"source": source.name, "project": name, "asset": "a", "version": "v1"})
    example = _example()
    app = example.create_app(service.url, cache=str(tmp_path / "cache"))

    async def fetch_all(base: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base) as http:
            return await asyncio.gather(*(http.get(f"/files/{name}/a/..latest/{f}") for f in files))

    with example.serving(app) as base:
        answers = run_async(fetch_all(base))
        listed = httpx.get(f"{base}/versions/{name}/a").json()
        missing = httpx.get(f"{base}/files/{name}/a/v1/absent.bin")
        no_asset = httpx.get(f"{base}/versions/{name}/nope")
    assert [a.status_code for a in answers] == [200] * len(files)
    assert {f: hashlib.md5(a.content).hexdigest() for f, a in zip(files, answers, strict=True)} == {
        f: hashlib.md5(content).hexdigest() for f, content in files.items()
    }
    assert listed == {"versions": ["v1"], "latest": "v1"}
    assert missing.status_code == 404 and "absent.bin" in missing.json()["error"]
    assert no_asset.status_code == 404
