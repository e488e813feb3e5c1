"""The pytest plugin: registered through pytest11, session service and per-test projects."""

from __future__ import annotations

import os
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from ..conftest import GOBBLER_BINARY
from .support import process_gone

INNER_TESTS = """
import os
import pwd

import httpx

EXPECTED_BACKEND = os.environ["EXPECTED_BACKEND"]
seen = []


def test_service(gobbler_service):
    info = httpx.get(f"{gobbler_service.url}/info").json()
    assert info == {"registry": str(gobbler_service.registry), "staging": str(gobbler_service.staging)}
    assert gobbler_service.admin == [pwd.getpwuid(os.getuid()).pw_name]
    assert gobbler_service.backend == EXPECTED_BACKEND
    with open(os.environ["REPORT_FILE"], "w") as handle:
        handle.write(f"{gobbler_service.process.pid} {gobbler_service.registry}")


def test_project(gobbler_service, gobbler_project):
    permissions = gobbler_service.registry / gobbler_project / "..permissions"
    assert permissions.is_file()
    seen.append(gobbler_project)


def test_project_is_fresh_and_the_previous_one_removed(gobbler_service, gobbler_project):
    assert gobbler_project != seen[0]
    assert not (gobbler_service.registry / seen[0]).exists()
    assert (gobbler_service.registry / gobbler_project).is_dir()
"""


def test_registered_as_pytest11_entry_point() -> None:
    found = {entry.name: entry.value for entry in entry_points(group="pytest11")}
    assert found.get("gobbler_sdk") == "gobbler_sdk.testing.plugin"


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, backend: str, *args: str) -> Path:
    report = pytester.path / "report.txt"
    monkeypatch.setenv("EXPECTED_BACKEND", backend)
    monkeypatch.setenv("REPORT_FILE", str(report))
    pytester.makepyfile(test_inner=INNER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    result.assert_outcomes(passed=3)
    return report


def test_fixtures(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    report = _run(pytester, monkeypatch, "binary" if GOBBLER_BINARY else "embedded")
    pid, registry = report.read_text().split()
    # After the session, the service is stopped and its temporary registry removed.
    assert process_gone(int(pid))
    assert not os.path.exists(registry)


def test_backend_option(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    _run(pytester, monkeypatch, "embedded", "--gobbler-backend=embedded")


def test_backend_ini_setting(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeini("[pytest]\ngobbler_backend = embedded\n")
    _run(pytester, monkeypatch, "embedded")


def test_project_fixture_reports_failures(pytester: pytest.Pytester) -> None:
    # A service without administrators cannot create projects: the fixture errors out instead of
    # handing out a project that does not exist.
    pytester.makeconftest(
        """
import pytest
from gobbler_sdk.testing import GobblerService

@pytest.fixture(scope="session")
def gobbler_service():
    with GobblerService(admin=[], backend="auto") as service:
        yield service
"""
    )
    pytester.makepyfile(test_inner="def test_needs_project(gobbler_project):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*GobblerRequestError: create_project failed with HTTP 403*"])
