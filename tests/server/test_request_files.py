"""The ``/new/{name}`` pipeline (PROTOCOL.md 3.4, 4.1-4.4, 6.14; edge cases 1-6 and 50).

Every check of 3.4 in order, the replay table, dispatch on the action name, caller identity and which
actions check the administrator list before reading the request.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import other_users
from .harness import Gobbler, Reply, me, raw_request, unique

ACTIONS = [
    "upload",
    "refresh_latest",
    "refresh_usage",
    "set_permissions",
    "approve_probation",
    "reject_probation",
    "create_project",
    "delete_project",
    "delete_asset",
    "delete_version",
    "reroute_links",
    "reindex_version",
    "validate_version",
    "health_check",
]


def _write(gobbler: Gobbler, name: str, content: str = "") -> Path:
    path = gobbler.staging / name
    path.write_text(content)
    return path


def _backdate(path: Path, seconds: float) -> None:
    when = time.time() - seconds
    os.utime(path, (when, when), follow_symlinks=False)


def _error(reply: Reply, status: int, reason: str) -> None:
    assert reply.status == status, reply
    assert reply.body["status"] == "ERROR"
    assert reason in reply.reason, reply


def _health(gobbler: Gobbler) -> str:
    name = f"request-health_check-{unique()}"
    _write(gobbler, name)
    return name


# ------------------------------------------------------------------------------ file checks, in order


def test_name_must_start_with_request(gobbler: Gobbler) -> None:
    name = f"health_check-{unique()}"
    _write(gobbler, name)
    _error(gobbler.post(name), 400, 'file name should start with "request-"')
    _error(gobbler.post("Request-health_check-x"), 400, 'file name should start with "request-"')


def test_prefix_is_checked_before_the_slash(gobbler: Gobbler) -> None:
    reply = raw_request(gobbler.url, "POST", "/new/x%2Frequest-y")
    assert reply.status == 400
    assert b'file name should start with \\"request-\\"' in reply.body


@pytest.mark.parametrize("name", ["request-a%2Fb", "request-x%2F..%2F..%2Fetc%2Fpasswd", "request-%2F"])
def test_name_with_an_encoded_slash(gobbler: Gobbler, name: str) -> None:
    reply = raw_request(gobbler.url, "POST", f"/new/{name}")
    assert reply.status == 400
    assert b"path should be the name of a file in the staging directory" in reply.body


def test_missing_file(gobbler: Gobbler) -> None:
    _error(gobbler.post(f"request-health_check-{unique()}"), 400, "failed to access path")


def test_nul_in_the_name(gobbler: Gobbler) -> None:
    reply = raw_request(gobbler.url, "POST", "/new/request-health_check-a%00b")
    assert reply.status == 400
    assert b"failed to access path" in reply.body


def test_directory(gobbler: Gobbler) -> None:
    name = f"request-health_check-{unique()}"
    (gobbler.staging / name).mkdir()
    _error(gobbler.post(name), 400, "path is a directory")


def test_symlink_to_a_file(gobbler: Gobbler) -> None:
    target = _health(gobbler)
    name = f"request-health_check-{unique()}"
    os.symlink(target, gobbler.staging / name)
    _error(gobbler.post(name), 400, "path is a symbolic link")


def test_symlink_to_a_directory_is_a_symlink(gobbler: Gobbler) -> None:
    directory = gobbler.staging / unique("dir")
    directory.mkdir()
    name = f"request-health_check-{unique()}"
    os.symlink(directory, gobbler.staging / name)
    _error(gobbler.post(name), 400, "path is a symbolic link")


def test_hard_link(gobbler: Gobbler) -> None:
    first = _health(gobbler)
    second = f"request-health_check-{unique()}"
    os.link(gobbler.staging / first, gobbler.staging / second)
    _error(gobbler.post(first), 400, "path seems to have multiple hard links")
    _error(gobbler.post(second), 400, "path seems to have multiple hard links")
    # Rejected before the replay table: once the extra link is gone the name works.
    (gobbler.staging / second).unlink()
    assert gobbler.post(first).status == 200


def test_hard_link_is_checked_before_age(gobbler: Gobbler) -> None:
    first = _health(gobbler)
    os.link(gobbler.staging / first, gobbler.staging / f"request-health_check-{unique()}")
    _backdate(gobbler.staging / first, 120)
    _error(gobbler.post(first), 400, "path seems to have multiple hard links")


def test_symlink_is_checked_before_age(gobbler: Gobbler) -> None:
    name = f"request-health_check-{unique()}"
    os.symlink(_health(gobbler), gobbler.staging / name)
    _backdate(gobbler.staging / name, 120)
    _error(gobbler.post(name), 400, "path is a symbolic link")


@pytest.mark.parametrize("age", [60.5, 61, 3600])
def test_expired(gobbler: Gobbler, age: float) -> None:
    name = _health(gobbler)
    _backdate(gobbler.staging / name, age)
    _error(gobbler.post(name), 400, "request file is expired")


@pytest.mark.parametrize("age", [0, 30, 55, -5])
def test_recent_files_are_fine(gobbler: Gobbler, age: float) -> None:
    # A few seconds ahead is clock skew (a file server's clock), not an attack.
    name = _health(gobbler)
    _backdate(gobbler.staging / name, age)
    reply = gobbler.post(name)
    assert (reply.status, reply.body) == (200, {"status": "SUCCESS"})


@pytest.mark.embedded_only  # the reference accepts them: docs/service.md
@pytest.mark.parametrize("age", [-12, -3600, -10 * 365 * 86400])
def test_files_dated_in_the_future_are_refused(gobbler: Gobbler, age: float) -> None:
    # Issue 19: a request file dated in the future never expired, so a leftover administrator request
    # could be posted again by anyone until its date came (both services). It is not claimed either.
    name = _health(gobbler)
    _backdate(gobbler.staging / name, age)
    _error(gobbler.post(name), 400, "request file is dated more than 10 seconds in the future")
    os.utime(gobbler.staging / name)
    assert gobbler.post(name).status == 200


def test_expired_file_is_not_claimed(gobbler: Gobbler) -> None:
    name = _health(gobbler)
    _backdate(gobbler.staging / name, 61)
    _error(gobbler.post(name), 400, "expired")
    os.utime(gobbler.staging / name)
    assert gobbler.post(name).status == 200


def test_age_is_checked_before_the_replay_table(gobbler: Gobbler) -> None:
    name = _health(gobbler)
    assert gobbler.post(name).status == 200
    _backdate(gobbler.staging / name, 61)
    _error(gobbler.post(name), 400, "request file is expired")


def test_missing_file_is_not_claimed(gobbler: Gobbler) -> None:
    name = f"request-health_check-{unique()}"
    _error(gobbler.post(name), 400, "failed to access path")
    _write(gobbler, name)
    assert gobbler.post(name).status == 200


def test_directory_is_not_claimed(gobbler: Gobbler) -> None:
    name = f"request-health_check-{unique()}"
    (gobbler.staging / name).mkdir()
    _error(gobbler.post(name), 400, "path is a directory")
    (gobbler.staging / name).rmdir()
    _write(gobbler, name)
    assert gobbler.post(name).status == 200


def test_the_file_is_left_in_place(gobbler: Gobbler) -> None:
    name = _health(gobbler)
    _write(gobbler, name, "some content")
    before = (gobbler.staging / name).stat()
    assert gobbler.post(name).status == 200
    after = (gobbler.staging / name).stat()
    assert (gobbler.staging / name).read_text() == "some content"
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


# ------------------------------------------------------------------------------ dispatch


@pytest.mark.parametrize(
    "name",
    [
        "request-upload",
        "request-health_check",
        "request-",
        "request-foo-x",
        "request-uploadx-1",
        "request-Upload-1",
    ],
)
def test_unknown_request_types(gobbler: Gobbler, name: str) -> None:
    # Fixed names: the session's staging directory is fresh, so none of them has been seen yet.
    path = _write(gobbler, name, "{}")
    try:
        _error(gobbler.post(name), 400, "invalid request type")
        # The name passed the file checks, so it stays in the replay table.
        _error(gobbler.post(name), 400, "path is already being processed")
    finally:
        path.unlink()


def test_unknown_type_is_reported_after_the_file_checks(gobbler: Gobbler) -> None:
    name = f"request-nonsense-{unique()}"
    (gobbler.staging / name).mkdir()
    _error(gobbler.post(name), 400, "path is a directory")


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_is_dispatched(gobbler: Gobbler, action: str) -> None:
    reply = gobbler.request(action, raw=b"[")
    if action == "health_check":
        assert (reply.status, reply.body) == (200, {"status": "SUCCESS"})
    else:
        _error(reply, 400, "failed to parse JSON")


def test_trailing_dash_alone_is_enough(gobbler: Gobbler) -> None:
    path = _write(gobbler, "request-health_check-")
    try:
        reply = gobbler.post("request-health_check-")
        assert (reply.status, reply.body) == (200, {"status": "SUCCESS"})
    finally:
        path.unlink()


@pytest.mark.parametrize("content", [b"", b"not json at all", b"[1, 2", b"\xff\xfe", b'{"project": 1}'])
def test_health_check_never_reads_the_file(gobbler: Gobbler, content: bytes) -> None:
    reply = gobbler.request("health_check", raw=content)
    assert (reply.status, reply.body) == (200, {"status": "SUCCESS"})


def test_health_check_of_an_unreadable_file(gobbler: Gobbler) -> None:
    name = _health(gobbler)
    os.chmod(gobbler.staging / name, 0)
    assert gobbler.post(name).status == 200


# ------------------------------------------------------------------------------ replay table


def test_second_post_of_a_success_is_rejected(gobbler: Gobbler) -> None:
    name = _health(gobbler)
    assert gobbler.post(name).status == 200
    _error(gobbler.post(name), 400, "path is already being processed")
    _error(gobbler.post(name), 400, "path is already being processed")


def test_second_post_after_a_400_is_rejected(gobbler: Gobbler) -> None:
    name = f"request-create_project-{unique()}"
    _write(gobbler, name, "{")
    _error(gobbler.post(name), 400, "failed to parse JSON")
    _write(gobbler, name, f'{{"project": "{unique()}"}}')
    _error(gobbler.post(name), 400, "path is already being processed")


def test_second_post_after_a_404_is_rejected(gobbler: Gobbler) -> None:
    name = f"request-refresh_usage-{unique()}"
    _write(gobbler, name, f'{{"project": "{unique("missing")}"}}')
    _error(gobbler.post(name), 404, "does not exist")
    _error(gobbler.post(name), 400, "path is already being processed")


def test_second_post_after_a_500_is_rejected(gobbler: Gobbler, project: str) -> None:
    # A version directory without a manifest makes refresh_usage fail with 500.
    (gobbler.registry / project / "asset" / "version").mkdir(parents=True)
    name = f"request-refresh_usage-{unique()}"
    _write(gobbler, name, f'{{"project": "{project}"}}')
    _error(gobbler.post(name), 500, "")
    _error(gobbler.post(name), 400, "path is already being processed")


def test_second_post_after_a_403_is_rejected(start_gobbler_variant: Callable[..., Gobbler]) -> None:
    outsider = start_gobbler_variant(admin=["someone-else"])
    name = f"request-create_project-{unique()}"
    _write(outsider, name, f'{{"project": "{unique()}"}}')
    _error(outsider.post(name), 403, "is not authorized to create a project")
    _error(outsider.post(name), 400, "path is already being processed")


def test_names_are_per_service(start_gobbler_variant: Callable[..., Gobbler]) -> None:
    first = start_gobbler_variant()
    name = _health(first)
    second = start_gobbler_variant(staging=first.staging)
    # The second service started after the file existed, so it blocks the name; the first does not.
    _error(second.post(name), 400, "path is already being processed")
    assert first.post(name).status == 200


@pytest.fixture
def prefilled_staging() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="gobbler-prefilled-") as directory:
        root = Path(directory)
        os.chmod(root, 0o1777)
        (root / "request-health_check-file").write_text("")
        (root / "request-health_check-dir").mkdir()
        (root / "request-unknown-file").write_text("")
        yield root


def test_names_in_staging_at_startup_are_blocked(
    start_gobbler_variant: Callable[..., Gobbler], prefilled_staging: Path
) -> None:
    service = start_gobbler_variant(staging=prefilled_staging)
    os.utime(prefilled_staging / "request-health_check-file")
    _error(service.post("request-health_check-file"), 400, "path is already being processed")
    _error(service.post("request-unknown-file"), 400, "path is already being processed")
    # A directory's name is blocked too: replaced by a file, it is still refused.
    (prefilled_staging / "request-health_check-dir").rmdir()
    (prefilled_staging / "request-health_check-dir").write_text("")
    _error(service.post("request-health_check-dir"), 400, "path is already being processed")
    # File checks still come first.
    (prefilled_staging / "request-health_check-file").unlink()
    _error(service.post("request-health_check-file"), 400, "failed to access path")
    # Names that appear later are fine.
    assert service.post(_health(service)).status == 200


# ------------------------------------------------------------------------------ who checks what first


ADMIN_FIRST = {
    "create_project": "create a project",
    "delete_project": "delete a project",
    "delete_asset": "delete a project",
    "delete_version": "delete a project",
    "refresh_latest": "refresh the latest version",
    "refresh_usage": "refresh the latest version",
    "reroute_links": "delete a project",
}
FIELDS_FIRST = [
    "reindex_version",
    "validate_version",
    "upload",
    "set_permissions",
    "approve_probation",
    "reject_probation",
]


@pytest.fixture(scope="module")
def outsider() -> Iterator[Gobbler]:
    """A service whose only administrator is someone else."""
    from gobbler_sdk.testing import GobblerService

    from ..conftest import GOBBLER_BINARY

    with GobblerService(admin=["someone-else"], binary=GOBBLER_BINARY) as service:
        driver = Gobbler(service)
        yield driver
        driver.close()


@pytest.mark.parametrize("action", sorted(ADMIN_FIRST))
@pytest.mark.parametrize("content", [b"{", b"[]", b'{"project": 1}', b"{}"])
def test_admin_first_actions_refuse_before_parsing(outsider: Gobbler, action: str, content: bytes) -> None:
    reply = outsider.request(action, raw=content)
    assert reply.status == 403, reply
    assert reply.reason.startswith(f'user "{me()}" is not authorized to ')


@pytest.mark.parametrize("action", FIELDS_FIRST)
def test_other_actions_parse_first(outsider: Gobbler, action: str) -> None:
    _error(outsider.request(action, raw=b"{"), 400, "failed to parse JSON")


@pytest.mark.parametrize("action", ["reindex_version", "validate_version"])
def test_reindex_and_validate_check_fields_then_admin(outsider: Gobbler, action: str) -> None:
    _error(outsider.request(action, {}), 400, "expected a 'project' property")
    _error(outsider.request(action, {"project": "p", "asset": "a"}), 400, "expected a 'version' property")
    reply = outsider.request(action, {"project": "p", "asset": "a", "version": "v"})
    assert reply.status == 403, reply
    assert "is not authorized to" in reply.reason


def test_health_check_needs_no_rights(outsider: Gobbler) -> None:
    reply = outsider.request("health_check", {})
    assert (reply.status, reply.body) == (200, {"status": "SUCCESS"})


# ------------------------------------------------------------------------------ identity (root only)


def _other() -> tuple[str, int, int]:
    users = other_users()
    if not users:
        pytest.skip("no other account to chown to")
    return users[0]


@pytest.mark.root_only
def test_caller_is_the_file_owner(gobbler: Gobbler) -> None:
    name, uid, gid = _other()
    reply = gobbler.request("create_project", {"project": unique()}, owner=(uid, gid))
    assert reply.status == 403
    assert reply.reason == f'user "{name}" is not authorized to create a project'


@pytest.mark.root_only
def test_health_check_for_anyone(gobbler: Gobbler) -> None:
    _, uid, gid = _other()
    reply = gobbler.request("health_check", {}, owner=(uid, gid))
    assert reply.status == 200


@pytest.mark.root_only
def test_admin_names_are_compared_with_the_owner_name(start_gobbler_variant: Callable[..., Gobbler]) -> None:
    name, uid, gid = _other()
    service = start_gobbler_variant(admin=["someone-else", name])
    project = unique()
    reply = service.request("create_project", {"project": project}, owner=(uid, gid))
    assert reply.status == 200, reply
    assert service.read_json(project, "..permissions") == {"owners": [name], "uploaders": []}
    # The current user is not an administrator of this service.
    refused = service.request("create_project", {"project": unique()})
    assert refused.status == 403
    assert refused.reason == f'user "{me()}" is not authorized to create a project'


def _unnamed_uid() -> int:
    import pwd

    for uid in range(54321, 60000):
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
    pytest.skip("no free UID")


@pytest.mark.root_only
def test_owner_without_a_user_name(gobbler: Gobbler) -> None:
    """The reference drops the connection; the embedded service answers 500. Either way the name is used."""
    name = f"request-create_project-{unique()}"
    path = _write(gobbler, name, f'{{"project": "{unique()}"}}')
    os.chown(path, _unnamed_uid(), _unnamed_uid())
    try:
        reply = gobbler.post(name)
    except httpx.HTTPError:
        pass  # connection closed without a response
    else:
        assert reply.status == 500, reply
    _error(gobbler.post(name), 400, "path is already being processed")
    assert gobbler.http.get("/info").status_code == 200


def test_name_that_is_not_utf8(gobbler: Gobbler) -> None:
    suffix = unique()
    path = os.fsencode(gobbler.staging) + b"/request-health_check-\xff" + suffix.encode()
    with open(path, "wb"):
        pass
    reply = raw_request(gobbler.url, "POST", f"/new/request-health_check-%FF{suffix}")
    assert (reply.status, reply.body) == (200, b'{"status":"SUCCESS"}')
    missing = raw_request(gobbler.url, "POST", f"/new/request-health_check-%FE{suffix}")
    assert missing.status == 400
    assert b"failed to access path; lstat " in missing.body
    assert b"\\ufffd" in missing.body


# ------------------------------------------------------------------------------ replay window (embedded)


@pytest.mark.embedded_only
def test_replay_window_expires() -> None:
    from gobbler_sdk.server.request_files import REPLAY_SECONDS, ReplayTable

    assert REPLAY_SECONDS == 60
    table = ReplayTable(window=0.2)
    assert table.claim("request-a")
    assert not table.claim("request-a")
    assert table.claim("request-b")
    time.sleep(0.25)
    # Freed 60 s (here 0.2 s) after insertion, whether or not processing has finished.
    assert table.claim("request-a")
    assert not table.claim("request-a")


@pytest.mark.embedded_only
def test_replay_prefill_expires() -> None:
    from gobbler_sdk.server.request_files import ReplayTable

    table = ReplayTable(window=0.2)
    table.prefill(["request-x", "some-directory"])
    assert not table.claim("request-x")
    assert not table.claim("some-directory")
    time.sleep(0.25)
    assert table.claim("request-x")
