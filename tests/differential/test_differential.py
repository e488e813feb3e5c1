"""Differential test: every step applied to the embedded service AND the reference binary, answers compared.

A hypothesis state machine drives two services, each with its own staging and registry, through the
same sequence of actions (projects, uploads whose trees link to other versions or clone them whole,
probation, permissions, deletions, refreshes, reindex, validate, reroute) and of hand-made damage to
registry files (``..manifest``, ``..links``, ``..summary``, ``..latest`` deleted or corrupted). After each
step it compares the statuses, the JSON bodies, the reasons (with each run's paths substituted) and a
snapshot of the whole project tree (paths, file contents with timestamps normalised, symlink targets).

Reasons are compared by default: ``GOBBLER_DIFF_REASONS=0`` switches that off, and reroute_links
reasons are left out unless ``GOBBLER_DIFF_REASONS=all`` (docs/service.md lists why). Skipped without
``GOBBLER_BINARY``. ``GOBBLER_DIFF_EXAMPLES`` / ``GOBBLER_DIFF_STEPS`` size the run: ``make test`` runs
a few short examples, ``make fuzz`` many long ones.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from gobbler_sdk.testing import GobblerService

from ..conftest import GOBBLER_BINARY
from ..server.harness import Gobbler, Link, Reply, me

pytestmark = pytest.mark.skipif(
    not GOBBLER_BINARY, reason="needs GOBBLER_BINARY (the reference to compare with)"
)

EXAMPLES = int(os.environ.get("GOBBLER_DIFF_EXAMPLES", "4"))
STEPS = int(os.environ.get("GOBBLER_DIFF_STEPS", "12"))
# Reasons are compared by default; GOBBLER_DIFF_REASONS=0 switches that off. reroute_links reasons are
# left out unless GOBBLER_DIFF_REASONS=all: the reference's order of work varies from run to run, so with
# several damaged versions the one its reason names does too (docs/service.md, "Order of work").
_REASONS = os.environ.get("GOBBLER_DIFF_REASONS", "1")
COMPARE_REASONS = _REASONS != "0"
UNCOMPARED_REASONS = frozenset() if _REASONS == "all" else frozenset({"reroute_links"})


PROJECTS = ["p0", "p1"]
ASSETS = ["a0", "a1"]
VERSIONS = ["v0", "v1", "v2"]
CONTENTS = ["alpha\n", "beta\n", "gamma\n", ""]
FILES = ["f", "d/g", "d/e/h"]
DOCUMENTS = ["..manifest", "..links", "..summary", "..latest", "..permissions", "..usage"]
TALLY: Counter[str] = Counter()
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")
_REQUEST = re.compile(r"request-[a-z_]+-[0-9a-f]{32}")
# Temporary files (named in reasons of failed writes) have random names on both sides.
_TEMP_FILE = re.compile(r"\.temp\d+\.json")


class Side:
    """One service and the text that stands for its paths in normalised output."""

    def __init__(self, service: GobblerService) -> None:
        self.driver = Gobbler(service)
        self.staging = str(service.staging)
        self.registry = str(service.registry)

    def normalise(self, text: str) -> str:
        text = text.replace(os.path.realpath(self.registry), "<REGISTRY>").replace(
            self.registry, "<REGISTRY>"
        )
        text = text.replace(os.path.realpath(self.staging), "<STAGING>").replace(self.staging, "<STAGING>")
        text = _TEMP_FILE.sub(".temp<N>.json", text)
        return _REQUEST.sub("<REQUEST>", _TIMESTAMP.sub("<TIME>", text))


@pytest.fixture(scope="module")
def sides() -> Iterator[tuple[Side, Side]]:
    with (
        GobblerService(admin=[me()]) as embedded,
        GobblerService(admin=[me()], binary=GOBBLER_BINARY) as reference,
    ):
        pair = (Side(embedded), Side(reference))
        yield pair
        for side in pair:
            side.driver.close()


def snapshot(side: Side, prefix: str) -> dict[str, Any]:
    """Every path under this example's projects: file contents (normalised) and symlink texts."""
    out: dict[str, Any] = {}
    root = Path(side.registry)
    for top in sorted(root.iterdir()):
        if not top.name.startswith(prefix):
            continue
        for directory, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                path = Path(directory, name)
                rel = str(path.relative_to(root))
                if path.is_symlink():
                    out[rel] = ("link", os.readlink(path))
                elif path.is_dir():
                    out[rel] = ("dir",)
                else:
                    out[rel] = ("file", side.normalise(path.read_bytes().decode("utf-8", "replace")))
    return out


class Differential(RuleBasedStateMachine):
    """The two services, stepped together."""

    pair: tuple[Side, Side]

    def __init__(self) -> None:
        super().__init__()
        self.prefix = f"x{uuid.uuid4().hex[:8]}-"
        self.steps: list[str] = []

    # ------------------------------------------------------------------ helpers

    def _name(self, project: str) -> str:
        return self.prefix + project

    def _both(self, action: str, payload: dict[str, Any], *, reasons: bool = True) -> None:
        self.steps.append(f"{action} {json.dumps(payload)}")
        replies = [side.driver.request(action, payload) for side in self.pair]
        TALLY[f"{action} {replies[1].status}"] += 1
        compared = reasons and COMPARE_REASONS and action not in UNCOMPARED_REASONS
        if compared and replies[1].status != 200:
            TALLY["reasons compared"] += 1
        self._compare(replies, reasons=compared)

    def _compare(self, replies: list[Reply], *, reasons: bool) -> None:
        ours, theirs = replies
        history = "\n  ".join(self.steps)
        assert ours.status == theirs.status, f"status differs after:\n  {history}\n{ours!r} vs {theirs!r}"
        bodies = [self._body(side, reply, reasons) for side, reply in zip(self.pair, replies, strict=True)]
        assert bodies[0] == bodies[1], f"body differs after:\n  {history}"
        snapshots = [snapshot(side, self.prefix) for side in self.pair]
        assert snapshots[0] == snapshots[1], f"registry differs after:\n  {history}\n{_diff(*snapshots)}"

    def _body(self, side: Side, reply: Reply, reasons: bool) -> Any:
        body = reply.body
        if isinstance(body, dict) and "reason" in body:
            body = {**body, "reason": side.normalise(body["reason"]) if reasons else "<REASON>"}
        return body

    # ------------------------------------------------------------------ actions

    @initialize()
    def populate(self) -> None:
        # Start from something to act on: both projects, a trusted and a probational version.
        for project in PROJECTS:
            self.create_project(project)
        self.upload("p0", "a0", "v0", {"f": "alpha\n", "d/g": "beta\n"}, [], "f", False, False)
        self.upload("p0", "a1", "v0", {"f": "alpha\n"}, [("p0", "a0", "v0")], "d/g", False, True)

    @rule(project=st.sampled_from(PROJECTS))
    def create_project(self, project: str) -> None:
        self._both("create_project", {"project": self._name(project)})

    @rule(
        project=st.sampled_from(PROJECTS),
        asset=st.sampled_from(ASSETS),
        version=st.sampled_from(VERSIONS),
        files=st.dictionaries(st.sampled_from(FILES), st.sampled_from(CONTENTS), max_size=3),
        links=st.lists(
            st.tuples(st.sampled_from(PROJECTS), st.sampled_from(ASSETS), st.sampled_from(VERSIONS)),
            max_size=2,
        ),
        link_file=st.sampled_from(FILES),
        clone=st.booleans(),
        probation=st.booleans(),
    )
    def upload(
        self,
        project: str,
        asset: str,
        version: str,
        files: dict[str, str],
        links: list[tuple[str, str, str]],
        link_file: str,
        clone: bool,
        probation: bool,
    ) -> None:
        source = f"src-{uuid.uuid4().hex[:12]}"
        for side in self.pair:
            tree: dict[str, str | Link] = dict(files)
            for number, (p, a, v) in enumerate(links):
                target = Path(side.registry, self._name(p), a, v)
                if clone and number == 0 and target.is_dir():
                    # A clone: every file of another version, as links into the registry.
                    for path in sorted(target.rglob("*")):
                        rel = str(path.relative_to(target))
                        if not path.name.startswith("..") and not path.is_dir():
                            tree[f"clone/{rel}"] = Link(str(path))
                else:
                    tree[f"link{number}"] = Link(str(target / link_file))
            side.driver.source(tree, name=source)
        payload: dict[str, Any] = {
            "source": source,
            "project": self._name(project),
            "asset": asset,
            "version": version,
        }
        if probation:
            payload["on_probation"] = True
        # The reference examines an upload's symlinks concurrently: when several fail, which one its
        # reason names is a race, so reasons are compared only for trees with at most one symlink.
        symlinks = sum(isinstance(content, Link) for content in tree.values())
        try:
            self._both("upload", payload, reasons=symlinks <= 1)
        finally:
            for side in self.pair:
                shutil.rmtree(Path(side.staging, source), ignore_errors=True)

    @rule(
        action=st.sampled_from(
            ["approve_probation", "reject_probation", "reindex_version", "validate_version"]
        ),
        project=st.sampled_from(PROJECTS),
        asset=st.sampled_from(ASSETS),
        version=st.sampled_from(VERSIONS),
    )
    def version_action(self, action: str, project: str, asset: str, version: str) -> None:
        self._both(action, {"project": self._name(project), "asset": asset, "version": version})

    @rule(
        project=st.sampled_from(PROJECTS),
        asset=st.one_of(st.none(), st.sampled_from(ASSETS)),
        owners=st.lists(st.sampled_from([me(), "someone"]), max_size=2, unique=True),
    )
    def set_permissions(self, project: str, asset: str | None, owners: list[str]) -> None:
        payload: dict[str, Any] = {"project": self._name(project), "permissions": {"owners": owners}}
        if asset is not None:
            payload["asset"] = asset
        self._both("set_permissions", payload)

    @rule(
        project=st.sampled_from(PROJECTS),
        asset=st.one_of(st.none(), st.sampled_from(ASSETS)),
        version=st.one_of(st.none(), st.sampled_from(VERSIONS)),
        force=st.booleans(),
    )
    def delete(self, project: str, asset: str | None, version: str | None, force: bool) -> None:
        if asset is None:
            self._both("delete_project", {"project": self._name(project)})
        elif version is None:
            self._both("delete_asset", {"project": self._name(project), "asset": asset, "force": force})
        else:
            payload = {"project": self._name(project), "asset": asset, "version": version, "force": force}
            self._both("delete_version", payload)

    @rule(project=st.sampled_from(PROJECTS), asset=st.one_of(st.none(), st.sampled_from(ASSETS)))
    def refresh(self, project: str, asset: str | None) -> None:
        if asset is None:
            self._both("refresh_usage", {"project": self._name(project)})
        else:
            self._both("refresh_latest", {"project": self._name(project), "asset": asset})

    @rule(
        project=st.sampled_from(PROJECTS),
        asset=st.one_of(st.none(), st.sampled_from(ASSETS)),
        version=st.one_of(st.none(), st.sampled_from(VERSIONS)),
        dry_run=st.booleans(),
    )
    def reroute_links(self, project: str, asset: str | None, version: str | None, dry_run: bool) -> None:
        target: dict[str, str] = {"project": self._name(project)}
        if asset is not None:
            target["asset"] = asset
            if version is not None:
                target["version"] = version
        self._both("reroute_links", {"to_delete": [target], "dry_run": dry_run})

    # ------------------------------------------------------------------ damage by hand

    @rule(
        project=st.sampled_from(PROJECTS),
        asset=st.sampled_from(ASSETS),
        version=st.sampled_from(VERSIONS),
        document=st.sampled_from(DOCUMENTS),
        damage=st.sampled_from(["delete", "garbage", "truncate", "null-value"]),
    )
    def tamper(self, project: str, asset: str, version: str, document: str, damage: str) -> None:
        places = {
            "..manifest": (asset, version),
            "..links": (asset, version),
            "..summary": (asset, version),
            "..latest": (asset,),
            "..permissions": (),
            "..usage": (),
        }
        self.steps.append(f"tamper {project}/{'/'.join(places[document])}/{document}: {damage}")
        for side in self.pair:
            path = Path(side.registry, self._name(project), *places[document], document)
            if not path.is_file() or path.is_symlink():
                continue
            if damage == "delete":
                path.unlink()
            elif damage == "garbage":
                path.write_text("{not json")
            elif damage == "truncate":
                path.write_bytes(b"")
            else:
                data = json.loads(path.read_text() or "{}")
                if isinstance(data, dict) and data:
                    data[sorted(data)[0]] = None
                path.write_text(json.dumps(data))
        snapshots = [snapshot(side, self.prefix) for side in self.pair]
        assert snapshots[0] == snapshots[1]


def _diff(ours: dict[str, Any], theirs: dict[str, Any]) -> str:
    lines = []
    for key in sorted(set(ours) | set(theirs)):
        if ours.get(key) != theirs.get(key):
            lines.append(f"  {key}: embedded={ours.get(key)!r} reference={theirs.get(key)!r}")
    return "\n".join(lines[:20])


def test_embedded_service_matches_the_reference(sides: tuple[Side, Side]) -> None:
    Differential.pair = sides
    run_state_machine_as_test(
        Differential,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=os.environ.get("GOBBLER_DIFF_SEED") is None,
            database=None,
        ),
    )
    print(f"\ndifferential: {sum(TALLY.values())} steps on both services: {dict(sorted(TALLY.items()))}")
