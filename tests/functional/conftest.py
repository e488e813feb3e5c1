"""Fixtures for the side-by-side tests of ``gobbler_sdk.functional`` against pygobbler 0.1.11.

One service serves the whole session (administrator: the current user, who may spoof anyone). pygobbler
and gobbler-sdk run the same scenario on two fresh projects of the same service; :func:`snapshot` reduces
a project's registry contents to a comparable form with the project name replaced by ``<P>``.
"""

from __future__ import annotations

import datetime
import json
import os
import pwd
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from gobbler_sdk import GobblerError
from gobbler_sdk.testing import GobblerService

from ..conftest import GOBBLER_BINARY

RFC3339_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")


def me() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Env:
    """The running service as both libraries are given it."""

    service: GobblerService
    url: str
    staging: str
    registry: str


@pytest.fixture(scope="session")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    spoof = tmp_path_factory.mktemp("functional-config") / "spoof.txt"
    spoof.write_text(f"{me()}:*\n")
    with GobblerService(admin=[me()], spoof=spoof, binary=GOBBLER_BINARY) as service:
        yield Env(service, service.url, str(service.staging), str(service.registry))


@pytest.fixture
def names() -> tuple[str, str]:
    """Fresh project names: one for pygobbler, one for gobbler_sdk.functional."""
    return unique("pyg"), unique("sdk")


# A source tree: relative path -> text content, ("link", text) for a symlink, None for an empty directory.
Tree = Mapping[str, str | tuple[str, str] | None]


def make_tree(root: Path, tree: Tree) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for relative, content in tree.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            path.mkdir()
        elif isinstance(content, tuple):
            os.symlink(content[1], path)
        else:
            path.write_text(content)
    return root


def _normalise_text(text: str, project: str) -> str:
    return text.replace(project, "<P>")


def _document(path: Path, project: str) -> Any:
    data = json.loads(_normalise_text(path.read_text(), project))
    if path.name == "..summary":
        for key in ("upload_start", "upload_finish"):
            assert RFC3339_SECONDS.match(data[key]), data
            data[key] = "<time>"
    return data


def _latest_by_rule(asset: Path) -> str | None:
    """The version PROTOCOL.md 10.3 makes latest: greatest ``upload_finish``, ties to the smallest name."""
    best: tuple[datetime.datetime, str] | None = None
    for version in sorted(entry.name for entry in asset.iterdir() if not entry.name.startswith("..")):
        summary = json.loads((asset / version / "..summary").read_text())
        if summary.get("on_probation"):
            continue
        finished = datetime.datetime.fromisoformat(summary["upload_finish"].replace("Z", "+00:00"))
        if best is None or finished > best[0]:
            best = (finished, version)
    return None if best is None else best[1]


def snapshot(env: Env, project: str, recomputed: Sequence[str] = ()) -> dict[str, Any]:
    """Everything stored for ``project``: its tree (files, links, internal documents) and its log entries.

    ``recomputed`` names assets whose ``..latest`` was last recomputed (PROTOCOL.md 10.3) rather than set
    by an upload: it is checked against their summaries and then left out of the comparison.
    """
    root = Path(env.registry) / project
    found: dict[str, Any] = {}
    for directory, subdirectories, files in os.walk(root):
        for name in subdirectories + files:
            path = Path(directory) / name
            relative = path.relative_to(root).as_posix()
            if name.startswith("..LOCK"):
                continue  # lock files appear on first use of a scope, not as part of the contents
            if path.is_symlink():
                found[relative] = ("link", _normalise_text(os.readlink(path), project))
            elif path.is_dir():
                found[relative] = "dir"
            elif name.startswith(".."):
                found[relative] = _document(path, project)
            else:
                found[relative] = ("file", path.read_bytes())
    for asset in recomputed:
        # Which version a recomputation makes latest depends on whether uploads shared a second (ties go
        # to the smallest name), so two runs of one scenario may differ; check the rule instead.
        key = f"{asset}/..latest"
        assert found.get(key) == {"version": _latest_by_rule(root / asset)}, key
        found[key] = {"version": "<latest by rule>"}
    logs = []
    for entry in (Path(env.registry) / "..logs").iterdir():
        data = json.loads(entry.read_text())
        if data.get("project") == project:
            logs.append(json.dumps({**data, "project": "<P>"}, sort_keys=True))
    found["<logs>"] = sorted(logs)
    return found


def replace_project(value: Any, project: str) -> Any:
    """``value`` (JSON-like) with ``project`` replaced by ``<P>`` in every string."""
    return json.loads(_normalise_text(json.dumps(value), project))


def http_status(error: BaseException) -> int | None:
    """The HTTP status an error reports: pygobbler's ``HTTPError(status, reason)`` or ours ``.status``."""
    if isinstance(error, requests.HTTPError):
        return int(error.args[0])
    assert isinstance(error, GobblerError), repr(error)
    return error.status
