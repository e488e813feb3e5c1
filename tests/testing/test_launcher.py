"""start_gobbler / stop_gobbler: pygobbler's calling conventions, one process-wide service."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gobbler_sdk.testing import start_gobbler, stop_gobbler
from gobbler_sdk.testing.launcher import current_service

from ..conftest import GOBBLER_BINARY
from .support import process_gone


@pytest.fixture(autouse=True)
def _stop_afterwards() -> Iterator[None]:
    yield
    stop_gobbler()


def _pid() -> int:
    service = current_service()
    assert service is not None and service.process is not None
    return service.process.pid


def test_second_call_returns_the_running_service(tmp_path: Path) -> None:
    created, staging, registry, url = start_gobbler()
    assert created is True
    assert all(isinstance(value, str) for value in (staging, registry, url))
    assert url.startswith("http://127.0.0.1:")
    assert httpx.get(f"{url}/info").json() == {"registry": registry, "staging": staging}
    pid = _pid()

    # Arguments of later calls are ignored while the service runs.
    again = start_gobbler(staging=str(tmp_path), registry=str(tmp_path), port=1, backend="embedded")
    assert again == (False, staging, registry, url)
    assert _pid() == pid


def test_stop_then_start_again() -> None:
    _, _, first_registry, first_url = start_gobbler()
    first_pid = _pid()
    stop_gobbler()
    assert current_service() is None
    assert process_gone(first_pid)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{first_url}/info")
    assert not os.path.exists(first_registry)  # temporary directories go with the service

    created, _, registry, url = start_gobbler()
    assert created is True
    assert registry != first_registry
    assert httpx.get(f"{url}/info").json()["registry"] == registry
    assert _pid() != first_pid


def test_stop_without_a_service_is_a_no_op() -> None:
    stop_gobbler()
    stop_gobbler()
    assert current_service() is None


def test_given_directories_port_and_admins(tmp_path: Path) -> None:
    staging, registry = tmp_path / "staging", tmp_path / "registry"
    staging.mkdir()
    registry.mkdir()
    from gobbler_sdk.testing import free_port

    port = free_port()
    created, got_staging, got_registry, url = start_gobbler(
        str(staging), str(registry), port, admin=["someone-else"]
    )
    assert (created, got_staging, got_registry, url) == (
        True,
        str(staging),
        str(registry),
        f"http://127.0.0.1:{port}",
    )
    service = current_service()
    assert service is not None
    assert service.admin == ["someone-else"]
    assert service.request("health_check", {}) == {"status": "SUCCESS"}
    stop_gobbler()
    assert staging.is_dir() and registry.is_dir()  # the caller's directories are kept


def test_admin_defaults_to_the_current_user() -> None:
    import pwd

    start_gobbler()
    service = current_service()
    assert service is not None
    assert service.admin == [pwd.getpwuid(os.getuid()).pw_name]
    service.request("create_project", {"project": "mine"})


def test_default_backend() -> None:
    start_gobbler()
    service = current_service()
    assert service is not None
    assert service.backend == ("binary" if GOBBLER_BINARY else "embedded")
    assert service.binary == GOBBLER_BINARY


def test_explicit_embedded_backend() -> None:
    start_gobbler(backend="embedded")
    service = current_service()
    assert service is not None and service.backend == "embedded"


def test_wait_is_a_lower_bound_on_the_give_up_time() -> None:
    start_gobbler(wait=0)
    service = current_service()
    assert service is not None and service.startup_timeout == 30.0
    stop_gobbler()
    start_gobbler(wait=45)
    service = current_service()
    assert service is not None and service.startup_timeout == 45.0


def test_a_dead_service_is_replaced() -> None:
    _, _, registry, _ = start_gobbler()
    service = current_service()
    assert service is not None and service.process is not None
    os.kill(service.process.pid, signal.SIGKILL)
    service.process.wait(10)
    created, _, new_registry, url = start_gobbler()
    assert created is True
    assert new_registry != registry
    assert httpx.get(f"{url}/info").json()["registry"] == new_registry


@pytest.mark.parametrize("args", [["-prefix", "api/v1"], ["--prefix=api/v1"]])
def test_prefix_in_extra_args(args: list[str]) -> None:
    _, _, registry, url = start_gobbler(extra_args=args)
    # Readiness was checked under the prefix, and the URL includes it like GobblerService.url.
    assert url.endswith("/api/v1")
    assert httpx.get(f"{url}/info").json()["registry"] == registry


def test_stopped_at_interpreter_exit(tmp_path: Path) -> None:
    script = (
        "from gobbler_sdk.testing import start_gobbler\n"
        "from gobbler_sdk.testing.launcher import current_service\n"
        "created, staging, registry, url = start_gobbler()\n"
        "print(current_service().process.pid, registry, flush=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    pid, registry = done.stdout.split()
    assert process_gone(int(pid))
    assert not os.path.exists(registry)
