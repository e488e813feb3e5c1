"""Preparing an upload: directories inside staging go as they are, others are copied in first.

The copy keeps nested and empty directories and symlinks (relative links that stay inside the tree stay
relative, so they become links between files of the new version; links that point elsewhere are made
absolute, so links into the registry still reach their target). Files are copied concurrently with the
kernel's copy fast path (``sendfile``/``copy_file_range`` through :func:`shutil.copyfile`), and each copy
is checked by size against its source. Copies are not re-hashed: that would read every byte twice more,
the largest cost of an upload, to second-guess the kernel's own copy — the same trust ``cp`` gets. The
service hashes the staged bytes it stores, so the manifest always describes what is in the registry.
"""

from __future__ import annotations

import os
import posixpath
import secrets
import shutil
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ._progress import ProgressCallback, Tracker
from .errors import ConfigurationError, IntegrityError, InvalidRequestError

__all__ = ["allocate_directory", "is_direct_child", "stage_copy"]


def allocate_directory(staging: Path, *, prefix: str = "upload-", create: bool = True) -> Path:
    """Reserve a fresh directory name directly inside staging.

    The directory is created with mode ``0777`` minus the umask, so the service account can read it and,
    with ``consume``, move files out of it.

    Args:
        staging: The staging directory.
        prefix: Start of the directory name.
        create: Create the directory (otherwise only a free name is returned).

    Raises:
        ConfigurationError: When the directory cannot be created in staging.
    """
    while True:
        path = staging / f"{prefix}{secrets.token_hex(8)}"
        if create:
            try:
                path.mkdir(mode=0o777)
            except FileExistsError:
                continue
            except OSError as exc:
                raise ConfigurationError(f"cannot create a directory in staging {staging}: {exc}") from exc
            return path
        if not os.path.lexists(path):
            return path


def is_direct_child(directory: Path, staging: Path) -> bool:
    """Whether ``directory`` is a real (non-symlink) directory directly inside ``staging``."""
    if directory.is_symlink() or not directory.is_dir():
        return False
    return os.path.realpath(directory.parent) == os.path.realpath(staging)


@dataclass
class _Plan:
    directories: list[str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)
    files: list[tuple[str, int]] = field(default_factory=list)


def _skip(name: str, ignore_dot: bool) -> bool:
    # ".." names are never uploaded by the service, and dotfiles are not when ignore_dot is set.
    return name.startswith("..") or (ignore_dot and name.startswith("."))


def _plan(source: Path, ignore_dot: bool) -> _Plan:
    plan = _Plan()
    pending = [""]
    while pending:
        relative = pending.pop()
        with os.scandir(source / relative if relative else source) as scan:
            for entry in scan:
                if _skip(entry.name, ignore_dot):
                    continue
                path = f"{relative}/{entry.name}" if relative else entry.name
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    plan.directories.append(path)
                    pending.append(path)
                elif stat.S_ISLNK(info.st_mode):
                    plan.links.append((path, _link_text(source, path, os.readlink(entry.path))))
                elif stat.S_ISREG(info.st_mode):
                    plan.files.append((path, info.st_size))
                else:
                    raise InvalidRequestError(
                        f"cannot upload {source / path}: not a file, directory or symlink"
                    )
    return plan


def _link_text(source: Path, path: str, text: str) -> str:
    """Make links inside the tree relative and every other link absolute.

    The service judges link targets lexically against the staged copy, so an absolute link into the
    original tree would point outside it (and be refused) unless it is made relative here.
    """
    if os.path.isabs(text):
        root = os.path.normpath(os.path.abspath(source))
        target = os.path.normpath(text)
        if target.startswith(root + os.sep):
            return os.path.relpath(target, os.path.join(root, os.path.dirname(path)))
        return text
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), text))
    if joined == ".." or joined.startswith("../"):
        return os.path.normpath(os.path.join(os.path.abspath(source), os.path.dirname(path), text))
    return text


def stage_copy(
    source: Path,
    destination: Path,
    *,
    ignore_dot: bool,
    concurrency: int,
    progress: bool | ProgressCallback | None = None,
) -> None:
    """Copy ``source`` into the (existing, empty) staging directory ``destination``.

    Raises:
        InvalidRequestError: For special files (FIFOs, devices, sockets) that cannot be uploaded.
        IntegrityError: When a copy's size or MD5 differs from what was read from its source.
        OSError: When a copy fails.
    """
    plan = _plan(source, ignore_dot)
    for directory in sorted(plan.directories):
        (destination / directory).mkdir(mode=0o777, exist_ok=True)
    for path, text in plan.links:
        os.symlink(text, destination / path)

    tracker = Tracker(progress, "copy", len(plan.files), sum(size for _, size in plan.files))

    def copy_one(item: tuple[str, int]) -> None:
        path, size = item
        _copy_checked(source / path, destination / path, size)
        tracker.advance(path, size)

    if len(plan.files) <= 1 or concurrency <= 1:
        for item in plan.files:
            copy_one(item)
        return
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="gobbler-copy") as pool:
        for _ in pool.map(copy_one, plan.files):
            pass


def _copy_checked(source: Path, target: Path, size: int) -> None:
    """Copy one file with the kernel's fast path and check the copy's size."""
    shutil.copyfile(source, target)
    copied = target.stat().st_size
    if copied != size:
        raise IntegrityError(f"copy of {source} has {copied} bytes instead of {size}")
