"""GobblerService: several services at once, readiness, start-up errors, stopping without orphans."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

import gobbler_sdk.testing.service as service_module
from gobbler_sdk.testing import (
    GobblerRequestError,
    GobblerService,
    ServiceStartError,
    free_port,
    select_backend,
)

from ..conftest import GOBBLER_BINARY
from .support import process_gone, write_script


def test_several_services_at_once() -> None:
    with ExitStack() as stack:
        services = [stack.enter_context(GobblerService(backend="auto")) for _ in range(3)]
        assert len({service.port for service in services}) == 3
        assert len({service.registry for service in services}) == 3
        for service in services:
            info = httpx.get(f"{service.url}/info").json()
            assert info == {"registry": str(service.registry), "staging": str(service.staging)}
        pids = [service.process.pid for service in services if service.process is not None]
        assert len(pids) == 3

        services[0].stop()
        assert process_gone(pids[0])
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{services[0].url}/info")
        for service in services[1:]:
            assert httpx.get(f"{service.url}/info").status_code == 200
    assert all(process_gone(pid) for pid in pids)


def test_context_manager_cleans_up(tmp_path: Path) -> None:
    given = tmp_path / "registry"
    given.mkdir()
    with GobblerService(registry=given, backend="auto") as service:
        assert service.running
        assert service.process is not None
        pid = service.process.pid
        staging = service.staging
        assert staging.is_dir()
        assert service.staging.stat().st_mode & 0o7777 == 0o1777
    assert service.process is None and not service.running
    assert process_gone(pid)
    assert not staging.exists()  # created by the object
    assert given.is_dir()  # given by the caller
    service.stop()  # a second stop is harmless


def test_backend_selection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    fake = tmp_path / "gobbler"
    monkeypatch.setenv("GOBBLER_BINARY", str(fake))
    assert select_backend("auto") == ("binary", fake)
    assert select_backend("binary") == ("binary", fake)
    assert select_backend("embedded") == ("embedded", None)

    monkeypatch.delenv("GOBBLER_BINARY")
    assert select_backend("auto") == ("embedded", None)
    kind, path = select_backend("binary")
    assert kind == "binary" and path is not None and path.parent == data_dir and not path.exists()
    data_dir.mkdir()
    path.write_bytes(b"")
    assert select_backend("auto") == ("binary", path)
    assert select_backend("auto", version="0.4.0") == ("embedded", None)

    with pytest.raises(ValueError, match="unknown backend 'java'"):
        select_backend("java")


def test_constructor_backends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOBBLER_BINARY", str(tmp_path / "from-env"))
    given = dict(staging=tmp_path, registry=tmp_path)
    # Without backend=, the class keeps running the embedded service unless binary= is given.
    assert GobblerService(**given).backend == "embedded"
    explicit = GobblerService(**given, binary="/opt/x/gobbler")
    assert (explicit.backend, explicit.binary) == ("binary", "/opt/x/gobbler")
    assert explicit.command()[:3] == ["/opt/x/gobbler", "-staging", str(tmp_path)]
    auto = GobblerService(**given, backend="auto")
    assert (auto.backend, auto.binary) == ("binary", str(tmp_path / "from-env"))
    with pytest.raises(ValueError, match="binary= runs the binary backend"):
        GobblerService(**given, binary="/opt/x/gobbler", backend="embedded")


def test_command_line(tmp_path: Path) -> None:
    service = GobblerService(
        tmp_path / "s",
        tmp_path / "r",
        port=1234,
        admin="a,b",
        prefix="api",
        spoof="/s.txt",
        probation=3,
        extra_args=["-concurrency", "7"],
    )
    expected = ["-staging", f"{tmp_path}/s", "-registry", f"{tmp_path}/r", "-port", "1234", "-admin", "a,b"]
    expected += ["-prefix", "api", "-spoof", "/s.txt", "-probation", "3", "-concurrency", "7"]
    assert service.args == expected
    # The embedded service is told to bind loopback only.
    assert service.command() == [sys.executable, "-m", "gobbler_sdk.server", "-host", "127.0.0.1", *expected]
    assert service.url == "http://127.0.0.1:1234/api"
    assert service.admin == ["a", "b"]


@pytest.mark.parametrize(
    ("extra", "url_tail"),
    [
        (["-prefix", "a/b"], "/a/b"),
        (["--prefix=a/b"], "/a/b"),
        (["-prefix=x", "-prefix", "y"], "/y"),
        (["-concurrency", "3"], ""),
    ],
)
def test_prefix_in_extra_args(tmp_path: Path, extra: list[str], url_tail: str) -> None:
    service = GobblerService(tmp_path, tmp_path, port=99, extra_args=extra)
    assert service.url == f"http://127.0.0.1:99{url_tail}"


def test_prefix_is_used_for_readiness() -> None:
    with GobblerService(prefix="api/v2", backend="auto") as service:
        assert service.url.endswith("/api/v2")
        assert httpx.get(f"{service.url}/info").status_code == 200


def test_error_includes_stderr_when_the_process_exits(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-staging"
    service = GobblerService(staging=missing, backend="auto")
    registry = service.registry
    with pytest.raises(ServiceStartError, match="exited with status 1") as caught:
        service.start()
    # Both implementations name the staging directory they could not list.
    assert str(missing) in str(caught.value)
    assert service.process is None
    assert not registry.exists()  # a failed start cleans up like stop()


def test_error_on_timeout_includes_stderr_and_kills_everything(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = write_script(
        tmp_path / "slow-gobbler",
        # The grandchild ignores SIGTERM, so only the final sweep of the process group can stop it.
        f"echo 'fake gobbler warming up' >&2\n(trap '' TERM; exec sleep 60) &\necho $! > {pidfile}\n"
        "echo $$ >> " + str(pidfile) + "\nwait\n",
    )
    service = GobblerService(binary=script, startup_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(ServiceStartError, match=r"did not answer within 0\.5 s") as caught:
        service.start()
    assert time.monotonic() - started < 10
    assert "fake gobbler warming up" in str(caught.value)
    grandchild, child = (int(line) for line in pidfile.read_text().split())
    assert process_gone(child)
    assert process_gone(grandchild)


def test_explicit_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        service = GobblerService(port=port, backend="auto")
        with pytest.raises(ServiceStartError, match=r"(?i)address already in use"):
            service.start()


def test_automatic_port_is_chosen_again_when_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        ports = iter([taken, free_port()])
        monkeypatch.setattr(service_module, "free_port", lambda: next(ports))
        with GobblerService(backend="auto") as service:
            assert service.port != taken
            assert httpx.get(f"{service.url}/info").json()["registry"] == str(service.registry)


def test_another_service_on_the_port_is_not_mistaken_for_ours() -> None:
    with GobblerService(backend="auto") as first:
        second = GobblerService(port=first.port, backend="auto")
        # /info on that port answers at once, but for another registry: the start must still fail.
        with pytest.raises(ServiceStartError, match=r"(?i)address already in use"):
            second.start()
        assert httpx.get(f"{first.url}/info").status_code == 200


def test_stop_after_the_process_died_on_its_own() -> None:
    service = GobblerService(backend="auto").start()
    assert service.process is not None
    pid = service.process.pid
    os.kill(pid, signal.SIGKILL)
    service.process.wait()
    assert not service.running
    service.stop()
    assert process_gone(pid)


def test_running_services_are_stopped_at_exit(tmp_path: Path) -> None:
    import subprocess

    script = (
        "from gobbler_sdk.testing import GobblerService\n"
        f"service = GobblerService(backend='auto', registry={str(tmp_path)!r}).start()\n"
        "print(service.process.pid, flush=True)\n"
        "del service\n"  # dropped by its owner: still stopped at exit
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert process_gone(int(done.stdout))


def test_request_helper() -> None:
    with GobblerService(backend="auto") as service:
        assert service.request("create_project", {"project": "alpha"}) == {"status": "SUCCESS"}
        assert (service.registry / "alpha" / "..permissions").is_file()
        with pytest.raises(GobblerRequestError, match="HTTP 400") as caught:
            service.request("create_project", {"project": "alpha"})
        assert caught.value.status == 400
        assert "already exists" in caught.value.reason
        assert [name for name in os.listdir(service.staging) if name.startswith("request-")] == []


def test_reference_binary_is_used_when_configured() -> None:
    service = GobblerService(backend="auto")
    try:
        if GOBBLER_BINARY:
            assert (service.backend, service.binary) == ("binary", GOBBLER_BINARY)
        else:
            assert (service.backend, service.binary) == ("embedded", None)
    finally:
        service.stop()
