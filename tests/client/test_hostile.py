"""A lying server: hostile listings, bad downloads, transient failures; what is retried, what is written."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gobbler_sdk import (
    GobblerClient,
    GobblerError,
    IntegrityError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ServiceError,
    ServiceUnavailableError,
    UnsafePathError,
)

from .support import Answer, LyingServer, request_files, snapshot

BODY = b"0123456789"
LISTING = "/list?path=p%252Fa%252Fv&recursive=true"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def box(tmp_path: Path) -> Path:
    """Everything a test may write lives in here; the cache is box/cache."""
    (tmp_path / "box").mkdir()
    return tmp_path / "box"


@pytest.fixture
def liar(lying: LyingServer, make_client: Callable[..., GobblerClient], box: Path) -> GobblerClient:
    staging = box / "staging"
    staging.mkdir()
    lying.staging = staging
    return make_client(
        lying.url, transport="remote", cache=box / "cache", staging=staging, registry="/nowhere", retries=2
    )


def written_files(root: Path) -> list[str]:
    """Files and symlinks below ``root`` (directories do not count), except the cache's records of which
    service each version came from (``cache/ORIGINS/...``, checked by test_origins_are_recorded)."""
    return sorted(
        p
        for p in snapshot(root)
        if (not (root / p).is_dir() or (root / p).is_symlink()) and "cache/ORIGINS/" not in p
    )


def test_origins_are_recorded(lying: LyingServer, liar: GobblerClient, box: Path) -> None:
    serve_version(lying, {"f.txt": BODY})
    liar.fetch_file("p/a/v/f.txt")
    assert (box / "cache" / "ORIGINS" / "p" / "a" / "v").read_text() == lying.url


def serve_version(lying: LyingServer, files: dict[str, bytes], listing: list[str] | None = None) -> None:
    lying.json(
        "/fetch/p/a/v/..manifest", {name: {"size": len(b), "md5sum": md5(b)} for name, b in files.items()}
    )
    lying.json(LISTING, listing if listing is not None else ["..manifest", *files])
    for name, body in files.items():
        lying.answer(f"/fetch/p/a/v/{name}", Answer(body=body, content_type="text/plain"))


# ---------------------------------------------------------------------- hostile listings

HOSTILE = [
    "../../../../../../escape.txt",
    "sub/../../../../../../../escape.txt",
    "sub\\..\\..\\escape.txt",
    "a//b",
    "./x",
    "x\x00y",
    "../../../../../../evil-dir/",
    "",
]


@pytest.mark.parametrize("item", HOSTILE)
def test_hostile_recursive_listing(lying: LyingServer, liar: GobblerClient, box: Path, item: str) -> None:
    serve_version(lying, {"ok.txt": BODY}, listing=["ok.txt", item])
    with pytest.raises(UnsafePathError):
        liar.fetch_directory("p/a/v")
    with pytest.raises(UnsafePathError):
        liar.project("p").asset("a").version("v").files()
    assert written_files(box.parent) == []


def test_absolute_path_in_listing(lying: LyingServer, liar: GobblerClient, box: Path) -> None:
    outside = box.parent / "absolute-escape.txt"
    serve_version(lying, {"ok.txt": BODY}, listing=["ok.txt", str(outside)])
    with pytest.raises(UnsafePathError):
        liar.fetch_directory("p/a/v")
    assert not outside.exists()
    assert written_files(box.parent) == []


@pytest.mark.parametrize("item", ["../evil/", "/etc/", "a\\b/", ".../../x/"])
def test_hostile_root_listing(lying: LyingServer, liar: GobblerClient, item: str) -> None:
    lying.json("/list", ["good/", item])
    with pytest.raises(UnsafePathError):
        liar.projects()


@pytest.mark.parametrize("body", [{"not": "a list"}, [1, 2], "not json at all", ["ok", None]])
def test_listing_that_is_not_a_list_of_paths(lying: LyingServer, liar: GobblerClient, body: Any) -> None:
    if isinstance(body, str):
        lying.answer("/list?path=p", Answer(body=body, content_type="application/json"))
    else:
        lying.json("/list?path=p", body)
    with pytest.raises(GobblerError):
        liar.project("p").assets()


def test_a_planted_symlink_in_the_cache_is_not_followed(
    lying: LyingServer, liar: GobblerClient, box: Path
) -> None:
    serve_version(lying, {"f.txt": BODY})
    outside = box.parent / "outside"
    outside.mkdir()
    (box / "cache" / "REGISTRY").mkdir(parents=True)
    os.symlink(outside, box / "cache" / "REGISTRY" / "p")
    with pytest.raises(UnsafePathError):
        liar.fetch_file("p/a/v/f.txt")
    with pytest.raises(UnsafePathError):
        liar.fetch_directory("p/a/v")
    assert os.listdir(outside) == []


def test_hostile_link_targets_in_a_manifest_change_nothing(
    lying: LyingServer, liar: GobblerClient, box: Path
) -> None:
    evil_link = {"project": "..", "asset": "..", "version": "..", "path": "../../escape.txt"}
    lying.json(
        "/fetch/p/a/v/..manifest",
        {
            "f.txt": {"size": 10, "md5sum": md5(BODY), "link": {**evil_link, "ancestor": evil_link}},
            "g.txt": {"size": 10, "md5sum": md5(BODY)},
        },
    )
    lying.json(LISTING, ["f.txt", "g.txt"])
    lying.answer("/fetch/p/a/v/f.txt", Answer(body=BODY))
    lying.answer("/fetch/p/a/v/g.txt", Answer(body=BODY))
    directory = liar.fetch_directory("p/a/v")
    assert (directory / "f.txt").read_bytes() == BODY == (directory / "g.txt").read_bytes()
    # The manifest read is kept as read (for offline use); the hostile links made nothing outside the cache.
    assert written_files(box.parent) == [
        "box/cache/REGISTRY/p/a/v/..manifest",
        "box/cache/REGISTRY/p/a/v/f.txt",
        "box/cache/REGISTRY/p/a/v/g.txt",
    ]


def test_clone_refuses_hostile_manifest_paths(
    make_client: Callable[..., GobblerClient], tmp_path: Path
) -> None:
    registry = tmp_path / "registry"
    (registry / "p" / "a" / "v").mkdir(parents=True)
    (registry / "p" / "a" / "v" / "..manifest").write_text(
        json.dumps({"good.txt": {"size": 1, "md5sum": "x"}, "../../escape": {"size": 1, "md5sum": "y"}})
    )
    client = make_client("http://127.0.0.1:1", registry=registry, transport="local")
    with pytest.raises(UnsafePathError):
        client.project("p").asset("a").version("v").clone(tmp_path / "work" / "clone")
    assert not (tmp_path / "work" / "clone").exists()
    assert not (tmp_path / "escape").exists()


# ---------------------------------------------------------------------- bad downloads


def test_truncated_download_with_a_lying_length(lying: LyingServer, liar: GobblerClient, box: Path) -> None:
    serve_version(lying, {"f.txt": BODY})
    lying.answer("/fetch/p/a/v/f.txt", Answer(body=BODY[:5], length=len(BODY)))
    with pytest.raises(ServiceUnavailableError):
        liar.fetch_file("p/a/v/f.txt")
    assert lying.count("/fetch/p/a/v/f.txt") == 3  # a broken transfer is retried, then reported
    assert written_files(box) == ["cache/REGISTRY/p/a/v/..manifest"]  # the document, not the bad file


@pytest.mark.parametrize(
    "answer",
    [
        Answer(body=BODY[:5], no_length=True),
        Answer(body=BODY + b"more", no_length=True),
        Answer(body=BODY[::-1]),
        Answer(body=b""),
    ],
    ids=["short", "long", "wrong-bytes", "empty"],
)
def test_wrong_downloads_are_rejected(
    lying: LyingServer, liar: GobblerClient, box: Path, answer: Answer
) -> None:
    serve_version(lying, {"f.txt": BODY})
    lying.answer("/fetch/p/a/v/f.txt", answer)
    with pytest.raises(IntegrityError):
        liar.fetch_file("p/a/v/f.txt")
    assert lying.count("/fetch/p/a/v/f.txt") == 1
    assert written_files(box) == ["cache/REGISTRY/p/a/v/..manifest"]  # the document, not the bad file
    with pytest.raises(IntegrityError):
        liar.fetch_directory("p/a/v")
    assert set(written_files(box)) <= {"cache/REGISTRY/p/a/v/..manifest"}


def test_one_bad_file_in_a_directory(lying: LyingServer, liar: GobblerClient, box: Path) -> None:
    serve_version(lying, {"good.txt": b"good", "bad.txt": BODY})
    lying.answer("/fetch/p/a/v/bad.txt", Answer(body=b"x" * len(BODY)))
    with pytest.raises(IntegrityError):
        liar.fetch_directory("p/a/v", concurrency=1)
    assert set(written_files(box)) <= {"cache/REGISTRY/p/a/v/..manifest", "cache/REGISTRY/p/a/v/good.txt"}


# ---------------------------------------------------------------------- retries


@pytest.mark.parametrize(
    "first",
    [
        Answer(503, "busy"),
        Answer(502, "bad gateway", content_type="text/html"),
        Answer(drop=True),
    ],
    ids=["503", "502", "dropped"],
)
def test_transient_failures_are_retried(lying: LyingServer, liar: GobblerClient, first: Answer) -> None:
    serve_version(lying, {"f.txt": BODY})
    lying.answer("/list?path=p", first, Answer(body=["a/", "..permissions"]))
    lying.answer("/fetch/p/a/v/f.txt", first, Answer(body=BODY))
    lying.answer("/info", first, Answer(body={"staging": "/s", "registry": "/r"}))
    assert liar.project("p").assets() == [liar.project("p").asset("a")]
    assert liar.fetch_file("p/a/v/f.txt").read_bytes() == BODY
    assert liar.service_info().registry == "/r"
    assert lying.count("/list?path=p") == 2
    assert lying.count("/fetch/p/a/v/f.txt") == 2
    assert lying.count("/info") == 2


def test_time_outs_are_retried(lying: LyingServer, make_client: Callable[..., GobblerClient]) -> None:
    client = make_client(lying.url, transport="remote", timeout=0.3, retries=1)
    lying.answer("/list?path=p", Answer(body=[], delay=1.0), Answer(body=["a/"]))
    started = time.monotonic()
    assert client.project("p").assets() == [client.project("p").asset("a")]
    assert time.monotonic() - started < 1.0
    assert lying.count("/list?path=p") == 2


def test_persistent_failures_give_up(lying: LyingServer, liar: GobblerClient) -> None:
    lying.answer("/list?path=p", Answer(503, "still busy"))
    with pytest.raises(ServiceError) as caught:
        liar.project("p").assets()
    assert caught.value.status == 503
    assert lying.count("/list?path=p") == 3
    lying.answer("/list?path=q", Answer(drop=True))
    with pytest.raises(ServiceUnavailableError):
        liar.project("q").assets()
    assert lying.count("/list?path=q") == 3


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (Answer(404, "404 page not found\n"), NotFoundError),
        (Answer(400, {"reason": "invalid 'path'", "status": "ERROR"}), InvalidRequestError),
        (Answer(403, "forbidden"), PermissionDeniedError),
        (Answer(500, {"reason": "the service's own error", "status": "ERROR"}), ServiceError),
        (Answer(503, {"reason": "deterministic", "status": "ERROR"}), ServiceError),
    ],
    ids=["404", "400", "403", "500-json", "503-json"],
)
def test_errors_that_are_not_retried(
    lying: LyingServer, liar: GobblerClient, answer: Answer, kind: type[GobblerError]
) -> None:
    serve_version(lying, {"f.txt": BODY})
    lying.answer("/list?path=p", answer)
    lying.answer("/fetch/p/a/v/f.txt", answer)
    with pytest.raises(kind) as listing:
        liar.project("p").assets()
    assert listing.value.status == answer.status
    with pytest.raises(kind):
        liar.fetch_file("p/a/v/f.txt")
    assert lying.count("/list?path=p") == 1
    assert lying.count("/fetch/p/a/v/f.txt") == 1
    if isinstance(answer.body, dict):
        assert listing.value.reason == answer.body["reason"]


def test_a_missing_internal_file_is_absent_not_an_error(lying: LyingServer, liar: GobblerClient) -> None:
    # The project and the asset exist (a missing one is a NotFoundError).
    lying.json("/list", ["p/"])
    lying.json("/list?path=p", ["a/"])
    assert liar.project("p").asset("a").latest() is None
    assert liar.project("p").asset("a").permissions().owners == ()
    assert lying.count("/fetch/p/a/..latest") == 1


def test_garbage_info(lying: LyingServer, liar: GobblerClient) -> None:
    lying.answer("/info", Answer(body="<html>hello</html>", content_type="text/html"))
    with pytest.raises(GobblerError):
        liar.service_info()


def test_garbage_documents(lying: LyingServer, liar: GobblerClient) -> None:
    version = liar.project("p").asset("a").version("v")
    lying.answer("/fetch/p/a/v/..manifest", Answer(body="{not json"))
    lying.answer("/fetch/p/a/v/..summary", Answer(body={"upload_user_id": 1}))
    lying.answer("/fetch/p/..permissions", Answer(body=[1, 2]))
    lying.answer("/fetch/p/..usage", Answer(body={"nothing": 0}))
    lying.answer("/fetch/p/a/..latest", Answer(body={"version": "../x"}))
    for read in (
        version.manifest,
        version.summary,
        liar.project("p").permissions,
        liar.project("p").usage,
        liar.project("p").asset("a").latest,
    ):
        with pytest.raises(GobblerError):
            read()


# ---------------------------------------------------------------------- submissions are never resent


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (Answer(drop=True), ServiceUnavailableError),
        (Answer(503, "busy"), ServiceError),
        (Answer(200, "not json", content_type="text/plain"), GobblerError),
    ],
    ids=["dropped", "503", "garbage"],
)
def test_submissions_are_sent_once(
    lying: LyingServer, liar: GobblerClient, box: Path, answer: Answer, kind: type[GobblerError]
) -> None:
    lying.answer_prefix("/new/", answer, method="POST")
    with pytest.raises(kind):
        liar.create_project("p")
    [posted] = lying.paths("/new/", method="POST")
    name = posted[len("/new/") :]
    assert name.startswith("request-create_project-")
    assert lying.posted == [(name, {"project": "p"})]
    assert request_files(box / "staging") == []


def test_a_huge_error_answer_is_cut_in_the_message(lying: LyingServer, liar: GobblerClient) -> None:
    lying.answer("/list?path=p", Answer(status=400, body=b"x" * (8 << 20), content_type="text/plain"))
    with pytest.raises(GobblerError) as caught:
        liar.project("p").assets()
    message = str(caught.value)
    assert len(message) < 8192
    assert f"... ({(8 << 20) - 4096} more characters left out)" in message
