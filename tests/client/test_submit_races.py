"""Request files and a neighbour who POSTs them first (issue 19, "Submissions misreport a race").

Staging is world-readable and the protocol lets anyone announce any request file, so a neighbour process can
POST this client's request file before the client does. Pinned here, against the running service:

- the file has its final ``request-*`` name only once complete: the kernel's own record of the staging
  directory (inotify) shows the name appear by a rename, never written to under it;
- the service then answers the client's own POST with "already being processed", which is reported as
  :class:`OutcomeUnknownError` (the action ran), or resolved by a registry check when there is one;
- with a real neighbour racing every request, every request is applied and none is reported as refused.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gobbler_sdk import GobblerClient, InvalidRequestError, NotFoundError, OutcomeUnknownError
from gobbler_sdk._fetcher import Answer
from gobbler_sdk._staging import WRITING_PREFIX
from gobbler_sdk._submit import (
    Submitter,
    expected_uploader,
    is_already_processing,
    removal_outcome,
    upload_outcome,
)
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import make_tree, me, unique

IN_MODIFY, IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE = 0x2, 0x8, 0x80, 0x100
_EVENT = struct.Struct("iIII")


class Watch:
    """The kernel's record (inotify) of what happens to names in one directory."""

    def __init__(self, directory: Path) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0, os.strerror(ctypes.get_errno())
        mask = IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE
        assert libc.inotify_add_watch(self.fd, os.fsencode(directory), mask) >= 0

    def events(self) -> list[tuple[str, int]]:
        """``(name, mask)`` of every event since the last call."""
        found: list[tuple[str, int]] = []
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return found
            offset = 0
            while offset < len(data):
                _, mask, _, length = _EVENT.unpack_from(data, offset)
                start = offset + _EVENT.size
                name = data[start : start + length].rstrip(b"\0").decode()
                found.append((name, mask))
                offset = start + length

    def close(self) -> None:
        os.close(self.fd)


def test_a_request_file_gets_its_name_only_when_complete(
    client: GobblerClient, service: GobblerService
) -> None:
    watch = Watch(service.staging)
    try:
        for _ in range(3):
            client.create_project(unique("race"))
        events = watch.events()
    finally:
        watch.close()
    final = [(name, mask) for name, mask in events if name.startswith("request-")]
    writing = [(name, mask) for name, mask in events if name.startswith(WRITING_PREFIX)]
    assert len({name for name, _ in final}) == 3
    # Under its final name the file appears by a rename, and is never created empty or written to (the
    # descriptor that wrote it, holding the lock, is closed after the answer: IN_CLOSE_WRITE).
    for name in {name for name, _ in final}:
        masks = [mask for each, mask in final if each == name]
        assert masks[0] == IN_MOVED_TO and set(masks[1:]) <= {IN_CLOSE_WRITE}, (name, masks)
    assert {mask for _, mask in writing} >= {IN_CREATE, IN_MODIFY}
    assert not [name for name in os.listdir(service.staging) if name.startswith(("request-", WRITING_PREFIX))]


# ---------------------------------------------------------------------- a neighbour posts first

NEIGHBOUR = textwrap.dedent(
    """
    import sys, httpx
    answer = httpx.post(sys.argv[1] + "/new/" + sys.argv[2], timeout=60)
    print(answer.status_code, answer.text)
    """
)


class PostedFirst(Submitter):
    """A submitter whose every request file is POSTed by another process (whose answer it awaits) first."""

    def __init__(self, service: GobblerService, http: httpx.Client) -> None:
        super().__init__(http, service.staging)
        self.url = service.url
        self.neighbour_answers: list[str] = []

    def _post(self, name: str) -> Answer:
        done = subprocess.run(
            [sys.executable, "-c", NEIGHBOUR, self.url, name], capture_output=True, text=True, check=True
        )
        self.neighbour_answers.append(done.stdout.strip())
        return super()._post(name)


@pytest.fixture
def http(service: GobblerService) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url) as made:
        yield made


@pytest.fixture(autouse=True)
def tidy(service: GobblerService) -> Iterator[None]:
    """Remove the request files a race leaves for the service's minute (later tests count leftovers)."""
    yield
    for name in os.listdir(service.staging):
        if name.startswith("request-"):
            (service.staging / name).unlink(missing_ok=True)


def test_already_being_processed_is_an_unknown_outcome(
    service: GobblerService, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gobbler_sdk._submit._REQUEST_LIFETIME", 2.0)
    submitter = PostedFirst(service, http)
    name = unique("race")
    with pytest.raises(OutcomeUnknownError, match="MAY HAVE BEEN APPLIED") as caught:
        submitter.submit("create_project", {"project": name}, context=f"create project {name}")
    assert is_already_processing(caught.value)
    # The run the neighbour started may not have read the file yet: it stays until the service would
    # refuse it anyway, then goes.
    (left,) = [entry for entry in os.listdir(service.staging) if entry.startswith("request-create_project-")]
    deadline = time.monotonic() + 10
    while (service.staging / left).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not (service.staging / left).exists()
    assert submitter.neighbour_answers[0].startswith("200")
    # It was applied indeed: the neighbour's POST ran this client's request, under this client's name.
    assert (service.registry / name / "..permissions").is_file()
    assert json.loads((service.registry / name / "..permissions").read_text())["owners"] == [me()]


def summary_reader(client: GobblerClient, key: str) -> Any:
    def read() -> bytes | None:
        try:
            return client.read_document(f"{key}/..summary", force_remote=True)
        except NotFoundError:
            return None

    return read


def upload_payload(service: GobblerService, project: str, version: str) -> dict[str, Any]:
    source = make_tree(service.staging / unique("src"), {"a.txt": "alpha"})
    return {"source": source.name, "project": project, "asset": "a", "version": version}


def test_an_upload_posted_first_is_confirmed_by_the_registry(
    service: GobblerService, http: httpx.Client, make_client: Any
) -> None:
    client = make_client(service.url)
    project, version = new_project(service), unique("v")
    submitter = PostedFirst(service, http)
    assert expected_uploader(None) == me() and expected_uploader("someone") == "someone"
    check = upload_outcome(summary_reader(client, f"{project}/a/{version}"), expected_uploader(None))

    answer = submitter.submit(
        "upload", upload_payload(service, project, version), context="upload", check=check
    )

    assert answer == {"status": "SUCCESS"}
    assert submitter.neighbour_answers[0].startswith("200")
    assert client.project(project).asset("a").version(version).manifest()["a.txt"].size == 5


def test_an_upload_the_registry_shows_refused_is_a_refusal(
    service: GobblerService, http: httpx.Client, make_client: Any
) -> None:
    client = make_client(service.url)
    project, version = new_project(service), unique("v")
    service.request("upload", upload_payload(service, project, version))
    time.sleep(1.1)  # the earlier upload_start (whole seconds) is then before the request file
    submitter = PostedFirst(service, http)
    check = upload_outcome(summary_reader(client, f"{project}/a/{version}"), me())

    with pytest.raises(InvalidRequestError, match="was not applied: the version already existed"):
        submitter.submit("upload", upload_payload(service, project, version), context="upload", check=check)
    assert submitter.neighbour_answers[0].startswith("400")


def test_a_deletion_posted_first_is_confirmed_by_the_registry(
    service: GobblerService, http: httpx.Client
) -> None:
    project = new_project(service)
    submitter = PostedFirst(service, http)
    check = removal_outcome(lambda: (service.registry / project).exists())
    answer = submitter.submit("delete_project", {"project": project}, context="remove", check=check)
    assert answer == {"status": "SUCCESS"}
    assert not (service.registry / project).exists()


def test_a_check_that_cannot_tell_ends_as_an_unknown_outcome(
    service: GobblerService, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gobbler_sdk._submit.SETTLE_WINDOW", 0.3)
    project = new_project(service)
    submitter = PostedFirst(service, http)
    with pytest.raises(OutcomeUnknownError, match="it still exists"):
        submitter.submit(
            "delete_asset",
            {"project": project, "asset": "never"},
            context="remove",
            check=removal_outcome(lambda: True),
        )


# ---------------------------------------------------------------------- an answer that never comes


class Swallower:
    """A proxy that forwards each request to the service, waits for its answer, and hangs up instead of it."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.forwarded: list[int] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # closed
            with connection:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    head += chunk
                method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
                self.forwarded.append(httpx.request(method, self.upstream + target, timeout=60).status_code)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def swallower(service: GobblerService) -> Iterator[Swallower]:
    made = Swallower(service.url)
    yield made
    made.close()


def test_a_broken_connection_is_resolved_by_the_registry(
    service: GobblerService, swallower: Swallower, make_client: Any
) -> None:
    client = make_client(service.url)
    project = new_project(service)
    with httpx.Client(base_url=swallower.url) as http:
        submitter = Submitter(http, service.staging, connect_retries=0)
        applied, refused, unknown = unique("v"), unique("v"), unique("v")
        service.request("upload", upload_payload(service, project, refused))
        time.sleep(1.1)  # that upload_start (whole seconds) is then before the request files below

        def check(version: str) -> Any:
            return upload_outcome(summary_reader(client, f"{project}/a/{version}"), me())

        payload = upload_payload(service, project, applied)
        assert submitter.submit("upload", payload, context="upload", check=check(applied)) == {
            "status": "SUCCESS"
        }
        with pytest.raises(InvalidRequestError, match="the connection broke, and the registry shows"):
            submitter.submit(
                "upload", upload_payload(service, project, refused), context="upload", check=check(refused)
            )
        with pytest.raises(OutcomeUnknownError, match="the connection broke after the request"):
            submitter.submit("upload", upload_payload(service, project, unknown), context="upload")
    assert swallower.forwarded == [200, 400, 200]
    assert client.project(project).asset("a").version(applied).manifest()["a.txt"].size == 5


# ---------------------------------------------------------------------- a live neighbour races every request

WATCHER = textwrap.dedent(
    """
    import ctypes, ctypes.util, http.client, os, struct, sys, urllib.parse
    staging, url = sys.argv[1], urllib.parse.urlsplit(sys.argv[2])
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    fd = libc.inotify_init1(os.O_CLOEXEC)
    libc.inotify_add_watch(fd, os.fsencode(staging), 0x80 | 0x100)  # IN_MOVED_TO | IN_CREATE
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    print("ready", flush=True)
    while True:
        data, offset = os.read(fd, 1 << 16), 0
        while offset < len(data):
            _, _, _, length = struct.unpack_from("iIII", data, offset)
            name = data[offset + 16 : offset + 16 + length].rstrip(b"\\0").decode()
            offset += 16 + length
            if name.startswith("request-"):
                connection.request("POST", "/new/" + name)
                answer = connection.getresponse()
                print(answer.status, name, answer.read().decode(), flush=True)
    """
)


def test_a_neighbour_racing_every_request_loses_nothing(
    client: GobblerClient, service: GobblerService
) -> None:
    watcher = subprocess.Popen(
        [sys.executable, "-c", WATCHER, str(service.staging), service.url], stdout=subprocess.PIPE, text=True
    )
    seen: list[str] = []
    try:
        assert watcher.stdout is not None and watcher.stdout.readline().strip() == "ready"
        reader = threading.Thread(target=lambda: seen.extend(iter(watcher.stdout.readline, "")), daemon=True)
        reader.start()
        names = [unique("race") for _ in range(20)]
        outcomes: dict[str, str] = {}
        for name in names:
            try:
                client.create_project(name)
                outcomes[name] = "answered"
            except OutcomeUnknownError:
                outcomes[name] = "unknown"
        deadline = time.monotonic() + 20
        while len(seen) < len(names) and time.monotonic() < deadline:
            time.sleep(0.05)  # the neighbour's last POST may still be on its way
    finally:
        watcher.kill()
        watcher.wait()
    # Every request was complete when the neighbour posted it, so every one was applied, whoever posted
    # it; none was reported as refused (InvalidRequestError would have escaped the loop above).
    for name in names:
        assert (service.registry / name / "..permissions").is_file(), (name, outcomes[name])
    assert len(seen) == len(names), seen
    neighbour_won = [line for line in seen if line.startswith("200 ")]
    assert len(neighbour_won) == list(outcomes.values()).count("unknown"), (seen, outcomes)
