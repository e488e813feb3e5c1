"""The staging copy on its own: what it recreates, what it refuses, and how it copies bytes.

These call ``stage_copy`` directly (no service): the end-to-end upload tests in ``test_writes.py`` show the
service accepts the result.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from gobbler_sdk import IntegrityError, InvalidRequestError, ProgressEvent, _staging
from gobbler_sdk._staging import stage_copy

from .support import Link, make_tree, snapshot

LARGE = _staging._LARGE_FILE


@pytest.fixture
def destination(tmp_path: Path) -> Path:
    made = tmp_path / "staged"
    made.mkdir()
    return made


def contents(root: Path) -> dict[str, bytes | str | None]:
    """Every entry below ``root``: file bytes, ``"-> text"`` for links, ``None`` for directories."""
    found: dict[str, bytes | str | None] = {}
    for relative in snapshot(root):
        path = root / relative
        if path.is_symlink():
            found[relative] = f"-> {os.readlink(path)}"
        elif path.is_dir():
            found[relative] = None
        else:
            found[relative] = path.read_bytes()
    return found


def copied_tree(destination: Path) -> dict[str, bytes]:
    """The files below ``destination`` and their bytes."""
    return {path: data for path, data in contents(destination).items() if isinstance(data, bytes)}


def as_bytes(tree: dict[str, str | bytes]) -> dict[str, bytes]:
    return {path: data.encode() if isinstance(data, str) else data for path, data in tree.items()}


def big(size: int, seed: int) -> bytes:
    return bytes((index * seed) % 251 for index in range(size))


@pytest.mark.parametrize("concurrency", [1, 8])
@pytest.mark.parametrize("ignore_dot", [True, False])
def test_the_tree_is_recreated(tmp_path: Path, destination: Path, concurrency: int, ignore_dot: bool) -> None:
    source = make_tree(
        tmp_path / "source",
        {
            "top.txt": "top",
            "empty.txt": "",
            "nested/deeper/file.bin": big(3000, 7),
            "nested/also-empty": None,
            "empty-dir": None,
            ".hidden": "dot",
            ".dotdir/inside.txt": "dot",
            "..dotdot": "never",
            "nested/..dotdotdir/x": "never",
            "local": Link("top.txt"),
            "nested/up": Link("../top.txt"),
            "nested/out": Link("../../outside.txt"),
            "elsewhere": Link(str(tmp_path / "registry" / "p" / "a" / "v" / "x")),
        },
    )
    os.symlink(source / "nested" / "deeper" / "file.bin", source / "nested" / "inside-absolute")

    # Links into the registry are kept as they are, even when the registry is not visible here.
    stage_copy(source, destination, ignore_dot=ignore_dot, concurrency=concurrency, registry=str(tmp_path))

    expected: dict[str, bytes | str | None] = {
        "top.txt": b"top",
        "empty.txt": b"",
        "nested": None,
        "nested/deeper": None,
        "nested/deeper/file.bin": big(3000, 7),
        "nested/also-empty": None,
        "empty-dir": None,
        "local": "-> top.txt",
        "nested/up": "-> ../top.txt",
        "nested/out": f"-> {tmp_path / 'outside.txt'}",
        "elsewhere": f"-> {tmp_path / 'registry' / 'p' / 'a' / 'v' / 'x'}",
        "nested/inside-absolute": "-> deeper/file.bin",
    }
    if not ignore_dot:
        expected.update({".hidden": b"dot", ".dotdir": None, ".dotdir/inside.txt": b"dot"})
    assert contents(destination) == expected


@pytest.mark.parametrize("mask", [0o000, 0o077])
def test_modes_are_exact_whatever_the_umask(tmp_path: Path, destination: Path, mask: int) -> None:
    source = make_tree(tmp_path / "source", {"private.txt": "p", "dir/large.bin": big(LARGE, 3), "e/f": None})
    (source / "private.txt").chmod(0o600)
    (source / "dir").chmod(0o700)
    previous = os.umask(mask)
    try:
        stage_copy(source, destination, ignore_dot=True, concurrency=8)
        allocated = _staging.allocate_directory(tmp_path)
        copy = _staging.StagingCopy(tmp_path)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((destination / "private.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((destination / "dir" / "large.bin").stat().st_mode) == 0o644
    for directory in (destination / "dir", destination / "e", destination / "e" / "f", allocated, copy.path):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o755
    copy.remove()
    assert not copy.path.exists()


def test_special_files_are_refused_before_anything_is_copied(tmp_path: Path, destination: Path) -> None:
    source = make_tree(tmp_path / "source", {"a.txt": "a", "sub/b.txt": "b"})
    os.mkfifo(source / "sub" / "pipe")
    with pytest.raises(InvalidRequestError, match="pipe: not a file, directory or symlink"):
        stage_copy(source, destination, ignore_dot=True, concurrency=8)
    assert snapshot(destination) == set()


@pytest.mark.parametrize("concurrency", [1, 3, 8])
def test_small_and_large_files_on_threads(
    tmp_path: Path, destination: Path, monkeypatch: pytest.MonkeyPatch, concurrency: int
) -> None:
    tree: dict[str, bytes] = {f"d{index % 7}/small-{index}": big(index % 50, index) for index in range(500)}
    tree.update({f"large-{index}": big(LARGE + index * 4099, index + 1) for index in range(3)})
    source = make_tree(tmp_path / "source", tree)
    events: list[ProgressEvent] = []
    # Every small file counts as slow, so all but the first few are copied on the threads too.
    monkeypatch.setattr(_staging, "_SLOW_FILE_SECONDS", 0.0)

    stage_copy(source, destination, ignore_dot=True, concurrency=concurrency, progress=events.append)

    assert copied_tree(destination) == tree
    assert sorted(event.path for event in events) == sorted(tree)
    assert sorted(event.files_done for event in events) == list(range(1, len(tree) + 1))
    total = sum(len(data) for data in tree.values())
    assert {(event.files_total, event.bytes_total) for event in events} == {(len(tree), total)}
    assert max(event.bytes_done for event in events) == total


def test_runs_keep_neighbours_together() -> None:
    files = [(f"s{index}", 10) for index in range(1000)]
    assert _staging._runs(files, 4) == [files[0:250], files[250:500], files[500:750], files[750:1000]]
    assert _staging._runs(files[:10], 3) == [files[0:4], files[4:8], files[8:10]]
    assert _staging._runs(files[:2], 8) == [files[0:1], files[1:2]]
    assert _staging._runs([], 8) == []


def copying_threads(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Record which thread copies each file (by its name in the tree)."""
    threads: dict[str, str] = {}
    copy = _staging._Copier.copy

    def recorded(self: _staging._Copier, source: str, target: str) -> int:
        threads[Path(source).name] = threading.current_thread().name
        return copy(self, source, target)

    monkeypatch.setattr(_staging._Copier, "copy", recorded)
    return threads


@pytest.mark.parametrize("slow", [False, True])
def test_small_files_go_to_threads_only_when_they_wait(
    tmp_path: Path, destination: Path, monkeypatch: pytest.MonkeyPatch, slow: bool
) -> None:
    tree: dict[str, str | bytes] = {f"small-{index:03d}": f"{index}" for index in range(300)}
    tree.update({f"large-{index}": big(LARGE, index + 1) for index in range(2)})
    source = make_tree(tmp_path / "source", tree)
    monkeypatch.setattr(_staging, "_SLOW_FILE_SECONDS", 0.0 if slow else 3600.0)
    threads = copying_threads(monkeypatch)

    stage_copy(source, destination, ignore_dot=True, concurrency=4)

    assert copied_tree(destination) == as_bytes(tree)
    main = threading.current_thread().name
    on_main = {name for name, thread in threads.items() if thread == main}
    workers = {thread for name, thread in threads.items() if thread != main}
    assert all(thread.startswith("gobbler-copy") for thread in workers)
    # Large files always go to the threads; small ones stay here unless the first probes were all slow.
    assert not on_main & {"large-0", "large-1"}
    assert len(on_main) == (_staging._PROBE_FILES * _staging._SLOW_PROBES if slow else 300)
    assert 1 <= len(workers) <= 4


def test_slow_probes_apart_keep_small_files_here(
    tmp_path: Path, destination: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A probe is slow when another process has the CPU; only slow probes in a row mean a slow file system.
    probe = _staging._PROBE_FILES
    tree: dict[str, str | bytes] = {
        f"small-{index:04d}": f"{index}" for index in range(probe * 2 * _staging._SLOW_PROBES)
    }
    source = make_tree(tmp_path / "source", tree)
    # The probes' clock moves only on the first copy of every other probe (in copy order, which is the
    # scan's), so the real machine's load cannot make the probes between slow: those take no time at all.
    clock = [0.0]
    monkeypatch.setattr(_staging, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    copies = [0]
    threads = copying_threads(monkeypatch)
    record = _staging._Copier.copy

    def sometimes_slow(self: _staging._Copier, source: str, target: str) -> int:
        if copies[0] % (2 * probe) == 0:
            clock[0] += 3600.0
        copies[0] += 1
        return record(self, source, target)

    monkeypatch.setattr(_staging._Copier, "copy", sometimes_slow)

    stage_copy(source, destination, ignore_dot=True, concurrency=4)

    assert copied_tree(destination) == as_bytes(tree)
    assert len(threads) == len(tree)
    assert set(threads.values()) == {threading.current_thread().name}


# ---------------------------------------------------------------------- size checks


def changing_after_the_scan(monkeypatch: pytest.MonkeyPatch, change: Callable[[], Any]) -> None:
    """Run ``change`` between the scan of the source and the copy."""
    scan = _staging._Scanner.scan

    def scan_then_change(self: Any) -> Any:
        plan = scan(self)
        change()
        return plan

    monkeypatch.setattr(_staging._Scanner, "scan", scan_then_change)


@pytest.mark.parametrize("size", [10, LARGE])
@pytest.mark.parametrize("grow", [True, False])
def test_a_file_that_changes_size_is_refused(
    tmp_path: Path, destination: Path, monkeypatch: pytest.MonkeyPatch, size: int, grow: bool
) -> None:
    source = make_tree(tmp_path / "source", {"a.txt": "a", "changing": b"x" * size})
    changed = size + 5 if grow else size - 3

    def change() -> None:
        (source / "changing").write_bytes(b"y" * changed)

    changing_after_the_scan(monkeypatch, change)
    with pytest.raises(IntegrityError, match=rf"changing has {changed} bytes instead of {size}$"):
        stage_copy(source, destination, ignore_dot=True, concurrency=8)


def test_a_file_emptied_after_the_scan_is_refused(
    tmp_path: Path, destination: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_tree(tmp_path / "source", {"emptied": "content"})
    changing_after_the_scan(monkeypatch, lambda: (source / "emptied").write_bytes(b""))
    with pytest.raises(IntegrityError, match=r"emptied has 0 bytes instead of 7$"):
        stage_copy(source, destination, ignore_dot=True, concurrency=1)


# ---------------------------------------------------------------------- copy methods


class Calls:
    """Counts calls of the copy system calls, optionally making them fail or lie."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.counts = {"copy_file_range": 0, "sendfile": 0, "read": 0}
        self.monkeypatch = monkeypatch
        for name in self.counts:
            self.wrap(name)

    def wrap(self, name: str, replacement: Callable[..., int] | None = None) -> None:
        real = getattr(os, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.counts[name] += 1
            return (replacement or real)(*args, **kwargs)

        self.monkeypatch.setattr(os, name, counted)


def refuse(code: int) -> Callable[..., int]:
    def refused(*_: Any, **__: Any) -> int:
        raise OSError(code, os.strerror(code))

    return refused


TREE: dict[str, str | bytes] = {
    "a.txt": "alpha",
    "b/c.txt": "charlie" * 100,
    "empty": "",
    "large.bin": big(3 * 4096 + 5, 11),
}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "source", TREE)


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Copy at most 4096 bytes per call, so a file takes several."""
    monkeypatch.setattr(_staging, "_KERNEL_CHUNK", 4096)
    monkeypatch.setattr(_staging, "_READ_CHUNK", 4096)


@pytest.mark.usefixtures("small_chunks")
def test_the_kernel_copies_when_it_can(
    tree: Path, destination: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = Calls(monkeypatch)
    stage_copy(tree, destination, ignore_dot=True, concurrency=1)
    assert copied_tree(destination) == as_bytes(TREE)
    # One call per 4096 bytes plus one at the end of each file; an empty file does not put it off.
    assert calls.counts == {"copy_file_range": 2 + 2 + 1 + 5, "sendfile": 0, "read": 0}


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("code", [errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM])
def test_a_refused_copy_file_range_falls_back_to_sendfile_once(
    tree: Path, destination: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    calls = Calls(monkeypatch)
    calls.wrap("copy_file_range", refuse(code))
    stage_copy(tree, destination, ignore_dot=True, concurrency=1)
    assert copied_tree(destination) == as_bytes(TREE)
    assert calls.counts == {"copy_file_range": 1, "sendfile": 2 + 2 + 1 + 5, "read": 0}


@pytest.mark.usefixtures("small_chunks")
def test_a_silent_copy_file_range_falls_back(
    tree: Path, destination: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = Calls(monkeypatch)
    calls.wrap("copy_file_range", lambda *_, **__: 0)
    stage_copy(tree, destination, ignore_dot=True, concurrency=1)
    assert copied_tree(destination) == as_bytes(TREE)
    # Until the first non-empty file, an empty answer is believed (the file may be empty).
    assert calls.counts["copy_file_range"] <= 2
    assert calls.counts["sendfile"] >= 2 + 2 + 5


@pytest.mark.usefixtures("small_chunks")
def test_plain_reads_and_writes_when_the_kernel_refuses_both(
    tree: Path, destination: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = Calls(monkeypatch)
    calls.wrap("copy_file_range", refuse(errno.EXDEV))
    calls.wrap("sendfile", refuse(errno.EINVAL))
    real_write = os.write
    # Short writes must be finished, not lost.
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data[:1000])))
    stage_copy(tree, destination, ignore_dot=True, concurrency=8)
    assert copied_tree(destination) == as_bytes(TREE)
    assert calls.counts == {"copy_file_range": 1, "sendfile": 1, "read": 2 + 2 + 1 + 5}


def test_a_failure_after_the_copy_started_is_an_error(
    tree: Path, destination: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.copy_file_range
    started: set[int] = set()

    def failing_midway(source_fd: int, target_fd: int, count: int) -> int:
        if target_fd in started:
            raise OSError(errno.EIO, "disk on fire")
        started.add(target_fd)
        return real(source_fd, target_fd, 1)

    monkeypatch.setattr(os, "copy_file_range", failing_midway)
    with pytest.raises(OSError, match="disk on fire"):
        stage_copy(tree, destination, ignore_dot=True, concurrency=1)
