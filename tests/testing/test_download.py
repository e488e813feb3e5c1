"""Release download: platform names, URLs, the cache, streaming into a temporary file, atomic rename."""

from __future__ import annotations

import os
import platform
import stat
import threading
import time
from pathlib import Path

import httpx
import platformdirs
import pytest

from gobbler_sdk.testing import (
    DownloadError,
    GobblerService,
    UnsupportedPlatformError,
    asset_name,
    cache_directory,
    cached_binary,
    download_binary,
    release_url,
    select_backend,
    start_gobbler,
    stop_gobbler,
)
from gobbler_sdk.testing.launcher import current_service

from .support import ReleaseServer, fake_gobbler_script

try:
    ASSET = asset_name()
except UnsupportedPlatformError:  # pragma: no cover - only on platforms without releases
    ASSET = ""
needs_release_platform = pytest.mark.skipif(not ASSET, reason="no Gobbler release for this platform")
PAYLOAD = bytes(range(256)) * 1024  # 256 KiB, several read chunks


@pytest.mark.parametrize(
    ("system", "machine", "expected"),
    [
        ("Linux", "x86_64", "gobbler-linux-amd64"),
        ("Linux", "aarch64", "gobbler-linux-arm64"),
        ("Linux", "arm64", "gobbler-linux-arm64"),
        ("Darwin", "arm64", "gobbler-darwin-arm64"),
        ("Darwin", "x86_64", "gobbler-darwin-amd64"),
    ],
)
def test_asset_name(system: str, machine: str, expected: str) -> None:
    assert asset_name(system, machine) == expected


def test_unsupported_operating_system() -> None:
    with pytest.raises(UnsupportedPlatformError, match="operating system 'Windows'"):
        asset_name("Windows", "AMD64")


def test_unsupported_architecture() -> None:
    with pytest.raises(UnsupportedPlatformError, match="CPU architecture 'i686'"):
        asset_name("Linux", "i686")


def test_unsupported_platform_fails_before_any_request(
    release_server: ReleaseServer, monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    monkeypatch.setattr(platform, "machine", lambda: "riscv64")
    with pytest.raises(UnsupportedPlatformError, match="'riscv64'"):
        download_binary("0.5.0")
    assert release_server.requests == []
    assert not data_dir.exists()


def test_release_url(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (
        release_url("0.5.0", asset="gobbler-linux-amd64")
        == "https://github.com/ArtifactDB/gobbler/releases/download/0.5.0/gobbler-linux-amd64"
    )
    assert release_url("1.2.3", "http://127.0.0.1:9/r/", asset="a") == "http://127.0.0.1:9/r/1.2.3/a"
    monkeypatch.setenv("GOBBLER_RELEASE_URL", "http://mirror.invalid/x")
    assert release_url("0.5.0", asset="a") == "http://mirror.invalid/x/0.5.0/a"
    with pytest.raises(ValueError, match="invalid Gobbler version"):
        release_url("../0.5.0", asset="a")


def test_cache_directory(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cache_directory() == data_dir
    monkeypatch.delenv("GOBBLER_SDK_DATA_DIR")
    assert cache_directory() == Path(platformdirs.user_data_dir("gobbler-sdk", appauthor=False))


@needs_release_platform
def test_download_and_reuse(release_server: ReleaseServer, data_dir: Path) -> None:
    release_server.files[f"/0.5.0/{ASSET}"] = PAYLOAD
    path = download_binary("0.5.0")
    assert path == data_dir / f"{ASSET}-0.5.0" == cached_binary("0.5.0")
    assert path.read_bytes() == PAYLOAD
    assert stat.S_IMODE(path.stat().st_mode) == 0o755
    assert sorted(os.listdir(data_dir)) == [path.name]  # no temporary file left
    assert release_server.requests == [f"/0.5.0/{ASSET}"]

    # Cached: no second request, even if the release changed upstream.
    release_server.files[f"/0.5.0/{ASSET}"] = b"newer"
    assert download_binary("0.5.0") == path
    assert release_server.requests == [f"/0.5.0/{ASSET}"]
    assert path.read_bytes() == PAYLOAD

    assert download_binary("0.5.0", overwrite=True) == path
    assert len(release_server.requests) == 2
    assert path.read_bytes() == b"newer"
    assert stat.S_IMODE(path.stat().st_mode) == 0o755


@needs_release_platform
def test_versions_are_cached_separately(release_server: ReleaseServer, data_dir: Path) -> None:
    release_server.files[f"/0.5.0/{ASSET}"] = b"five"
    release_server.files[f"/0.4.0/{ASSET}"] = b"four"
    assert download_binary("0.4.0").read_bytes() == b"four"
    assert download_binary("0.5.0").read_bytes() == b"five"
    assert sorted(os.listdir(data_dir)) == [f"{ASSET}-0.4.0", f"{ASSET}-0.5.0"]


@needs_release_platform
def test_download_streams_into_a_temporary_file_then_renames(
    release_server: ReleaseServer, data_dir: Path
) -> None:
    release_server.files[f"/0.5.0/{ASSET}"] = PAYLOAD
    release_server.pause_after = len(PAYLOAD) // 2
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(download_binary("0.5.0")))
    thread.start()
    try:
        assert release_server.paused.wait(10)
        final = data_dir / f"{ASSET}-0.5.0"
        # Half the body has arrived: it sits in a temporary file, the final name does not exist yet.
        deadline = time.monotonic() + 10
        while True:
            partial = [name for name in os.listdir(data_dir) if name != final.name]
            if (partial and (data_dir / partial[0]).stat().st_size >= 65536) or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert not final.exists()
        assert len(partial) == 1 and partial[0].endswith(".part")
        size = (data_dir / partial[0]).stat().st_size
        assert 65536 <= size <= len(PAYLOAD) // 2
    finally:
        release_server.resume.set()
        thread.join(30)
    assert outcome == [final]
    assert os.listdir(data_dir) == [final.name]
    assert final.read_bytes() == PAYLOAD
    assert stat.S_IMODE(final.stat().st_mode) == 0o755


@needs_release_platform
def test_broken_transfer_leaves_nothing(release_server: ReleaseServer, data_dir: Path) -> None:
    release_server.files[f"/0.5.0/{ASSET}"] = PAYLOAD
    release_server.truncate_after = 100_000
    with pytest.raises(DownloadError, match="failed to download"):
        download_binary("0.5.0")
    assert os.listdir(data_dir) == []


@needs_release_platform
def test_http_error(release_server: ReleaseServer, data_dir: Path) -> None:
    with pytest.raises(DownloadError, match=rf"{release_server.url}/9\.9\.9/{ASSET}: HTTP 404"):
        download_binary("9.9.9")
    assert os.listdir(data_dir) == []


@needs_release_platform
def test_failed_overwrite_keeps_the_cached_binary(release_server: ReleaseServer, data_dir: Path) -> None:
    release_server.files[f"/0.5.0/{ASSET}"] = b"good"
    path = download_binary("0.5.0")
    release_server.files.clear()
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_binary("0.5.0", overwrite=True)
    assert path.read_bytes() == b"good"
    assert os.listdir(data_dir) == [path.name]


@needs_release_platform
def test_redirects_are_followed(release_server: ReleaseServer) -> None:
    # GitHub answers release downloads with a redirect to its storage host.
    release_server.redirects[f"/0.5.0/{ASSET}"] = "/storage/blob"
    release_server.files["/storage/blob"] = b"blob"
    assert download_binary("0.5.0").read_bytes() == b"blob"
    assert release_server.requests == [f"/0.5.0/{ASSET}", "/storage/blob"]


def test_connection_refused_is_a_download_error(data_dir: Path) -> None:
    with pytest.raises(DownloadError, match="failed to download"):
        download_binary("0.5.0", base_url="http://127.0.0.1:1")
    assert os.listdir(data_dir) == []


@needs_release_platform
@pytest.mark.usefixtures("no_gobbler_binary")
def test_downloaded_release_runs(release_server: ReleaseServer, data_dir: Path) -> None:
    release_server.files[f"/0.5.0/{ASSET}"] = fake_gobbler_script()
    assert select_backend("auto") == ("embedded", None)
    service = GobblerService(backend="binary")
    assert service.backend == "binary"
    assert release_server.requests == []  # nothing is downloaded before start()
    with service:
        assert service.binary == str(data_dir / f"{ASSET}-0.5.0")
        info = httpx.get(f"{service.url}/info").json()
        assert info["registry"] == str(service.registry)
        assert service.command()[0] == service.binary
    assert release_server.requests == [f"/0.5.0/{ASSET}"]

    # Now cached: "auto" prefers it, and start_gobbler runs it without downloading again.
    assert select_backend("auto") == ("binary", data_dir / f"{ASSET}-0.5.0")
    try:
        created, _, registry, url = start_gobbler()
        assert created
        running = current_service()
        assert running is not None and running.backend == "binary"
        assert running.binary == str(data_dir / f"{ASSET}-0.5.0")
        assert httpx.get(f"{url}/info").json()["registry"] == registry
    finally:
        stop_gobbler()
    assert release_server.requests == [f"/0.5.0/{ASSET}"]


@needs_release_platform
@pytest.mark.usefixtures("no_gobbler_binary")
def test_overwrite_downloads_again_at_start(release_server: ReleaseServer) -> None:
    release_server.files[f"/0.5.0/{ASSET}"] = fake_gobbler_script()
    download_binary("0.5.0")
    with GobblerService(backend="auto", overwrite=True) as service:
        assert service.backend == "binary"
    assert len(release_server.requests) == 2


@pytest.mark.usefixtures("no_gobbler_binary")
def test_binary_backend_on_unsupported_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "system", lambda: "Plan9")
    with pytest.raises(UnsupportedPlatformError, match="'Plan9'"):
        GobblerService(backend="binary")
    # "auto" simply falls back to the embedded service.
    service = GobblerService(backend="auto")
    assert service.backend == "embedded"
    service.stop()


@needs_release_platform
@pytest.mark.usefixtures("no_gobbler_binary")
def test_failed_download_at_start_cleans_up(release_server: ReleaseServer) -> None:
    service = GobblerService(backend="binary")
    registry = service.registry
    with pytest.raises(DownloadError, match="HTTP 404"):
        service.start()
    assert not registry.exists()
    assert service.process is None
