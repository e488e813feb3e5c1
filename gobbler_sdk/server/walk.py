"""The directory walk shared by upload, reindex and validate.

One :class:`Walk` examines a tree and builds its manifest. In *transfer* mode the tree is an upload's
source directory and the version directory is filled as a side effect (directories, copies or moves,
deduplicated and linked symlinks); in *reindex* mode the tree is the version directory itself and its
registry and local symlinks are re-created; in *validate* mode nothing is written.

The walk runs in phases rather than strictly entry by entry, which changes nothing observable: the tree
is listed first, regular files are then hashed (and, when uploading, deduplicated) on the worker pool,
symlinks are classified, remaining files are copied or moved, local links are resolved last, and empty
directories are added.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import os
import stat
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from . import paths
from .accounting import read_latest
from .documents import LINKS, Link, Manifest, ManifestEntry, read_links, read_manifest, write_links
from .errors import RequestError
from .filedata import (
    ChangedEntry,
    Identity,
    NotRegularFile,
    Placement,
    Source,
    UnsafeEntry,
    describe_os_error,
    file_kind,
    hash_batch,
    md5_file,
    open_directory,
    place_batch,
)
from .goerrors import go_quote, os_error_text
from .linkresolve import RegistryTargets, VersionRef, make_link, resolve_local_links, symlink_text

if TYPE_CHECKING:
    from .service import Service

__all__ = ["Mode", "Walk", "WalkResult", "dedup_index", "group_links", "write_link_files"]

# A pool task gets files until it holds this many bytes or this many files, whichever comes first.
_BATCH_BYTES = 8 << 20
_BATCH_FILES = 128

_T = TypeVar("_T")
_R = TypeVar("_R")


class Mode(enum.Enum):
    """What the walk is for."""

    TRANSFER = "transfer"
    REINDEX = "reindex"
    VALIDATE = "validate"


@dataclass
class WalkResult:
    """What a walk observed.

    Attributes:
        manifest: Every user file, link and deepest empty directory, by relative path.
        linkfiles: For reindex/validate, the existing ``..links`` contents by relative directory
            (``""`` for the version root).
    """

    manifest: Manifest
    linkfiles: dict[str, dict[str, Link]] = field(default_factory=dict)


class Walk:
    """One walk over a tree.

    Args:
        service: The running service (configuration and worker pool).
        root: Directory walked: the upload source, or the version directory.
        current: The version being written or checked.
        mode: Transfer, reindex or validate.
        ignore_dot: Skip names starting with ``.`` (transfer only).
        consume: Allow moving source files into the registry (transfer only).
    """

    def __init__(
        self,
        service: Service,
        root: str,
        current: VersionRef,
        mode: Mode,
        *,
        ignore_dot: bool = False,
        consume: bool = False,
    ) -> None:
        self._registry = service.config.registry
        self._whitelist = service.config.whitelist
        self._pool = service.pool
        self._window = max(1, min(service.config.concurrency, 2 * (os.cpu_count() or 1) + 2))
        self._root = paths.clean(root)
        self._current = current
        self._mode = mode
        self._ignore_dot = ignore_dot and mode is Mode.TRANSFER
        self._consume = consume and mode is Mode.TRANSFER
        self._dest = paths.clean(current.directory(self._registry))
        self._targets = RegistryTargets(self._registry, current)

        self._scanned = False
        self._files: list[Source] = []
        self._symlinks: list[tuple[str, str]] = []
        self._candidates: list[str] = []
        self._linkfile_dirs: list[str] = []
        self._manifest: Manifest = {}
        self._local: dict[str, str] = {}
        self._recorded: dict[str, Link] = {}
        self._to_link: list[str] = []

    # ------------------------------------------------------------------ driver

    def run(self) -> WalkResult:
        """Walk the tree and return what was observed.

        Raises:
            RequestError: 500 on the first problem (unreadable files, forbidden or dangling links, ...).
        """
        index = dedup_index(self._registry, self._current) if self._mode is Mode.TRANSFER else {}
        if not self._scanned:
            self.scan()
        linkfiles = self._read_linkfiles()
        moves = self._hash_files(index)
        for rel, path in self._symlinks:
            self._classify_symlink(rel, path)
        if moves:
            placement = Placement(self._dest, frozenset(), True)
            self._run_batches(
                self._guarded(lambda batch: place_batch(batch, placement)),
                _batched(moves, lambda m: m[0].size),
            )
        for rel, entry in resolve_local_links(self._local, self._manifest, self._current).items():
            self._manifest[rel] = entry
            self._to_link.append(rel)
        if self._mode is not Mode.VALIDATE:
            self._create_symlinks()
        self._add_empty_directories()
        return WalkResult(self._manifest, linkfiles)

    # ------------------------------------------------------------------ listing (8.1)

    def scan(self) -> None:
        """List the tree: the first phase of :meth:`run`, which calls it unless it was called already.

        Everything read later is checked against what this listing saw (the same inodes, sizes and
        kinds), so a tree changed in between makes :meth:`run` fail instead of reading the change.

        Raises:
            RequestError: 500 for unreadable entries, 400 for FIFOs, sockets and devices.
        """
        self._scanned = True
        self._list_tree()

    def _list_tree(self) -> None:
        # Each directory is opened without following a symlink and must be the inode its parent listed,
        # so a directory swapped for a link after the parent was read is never walked into.
        pending: list[tuple[str, str, Identity | None]] = [("", self._root, None)]
        while pending:
            rel_dir, directory, expected = pending.pop()
            try:
                fd = open_directory(directory, expected)
            except UnsafeEntry as exc:
                raise self._unsafe(exc) from exc
            except OSError as exc:
                if isinstance(exc, NotADirectoryError) and not rel_dir:
                    # A version "directory" that is a regular file holds nothing, as the reference finds;
                    # the action then fails on the version's own files.
                    continue
                if self._mode is not Mode.TRANSFER:
                    # The reference's first pass over a version looks for its ..links files, so a
                    # directory it cannot open (one beyond the path length limit, say) fails there.
                    raise RequestError(
                        500,
                        f"failed to parse existing linkfiles in {go_quote(self._root)}; failed to walk into "
                        f"'{directory}'; {os_error_text('open', directory, exc)}",
                    ) from exc
                raise RequestError(500, f"failed to list a directory; {describe_os_error(exc)}") from exc
            try:
                subdirs = self._list_directory(fd, rel_dir, directory)
            finally:
                os.close(fd)
            pending.extend(reversed(subdirs))

    def _list_directory(
        self, fd: int, rel_dir: str, directory: str
    ) -> list[tuple[str, str, Identity | None]]:
        try:
            parent = Identity.of(os.fstat(fd))
            with os.scandir(fd) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            exc.filename = directory
            raise RequestError(500, f"failed to list a directory; {describe_os_error(exc)}") from exc
        subdirs: list[tuple[str, str, Identity | None]] = []
        for entry in entries:
            name = entry.name
            if name.startswith(".."):
                # A directory of that name is skipped like any internal directory, not read as a file.
                is_file = not entry.is_dir(follow_symlinks=False)
                if name == LINKS and self._mode is not Mode.TRANSFER and is_file:
                    self._linkfile_dirs.append(rel_dir)
                continue
            if self._ignore_dot and name.startswith("."):
                continue
            rel = f"{rel_dir}/{name}" if rel_dir else name
            path = os.path.join(directory, name)
            try:
                if entry.is_dir(follow_symlinks=False):
                    self._candidates.append(rel)
                    subdirs.append((rel, path, Identity.of(entry.stat(follow_symlinks=False))))
                    if self._mode is Mode.TRANSFER:
                        self._make_directory(rel, path)
                elif entry.is_symlink():
                    self._symlinks.append((rel, path))
                elif entry.is_file(follow_symlinks=False):
                    info = entry.stat(follow_symlinks=False)
                    self._files.append(
                        Source(rel, path, info.st_size, Identity.of(info), parent, info.st_ctime_ns)
                    )
                else:
                    kind = file_kind(entry.stat(follow_symlinks=False).st_mode)
                    raise RequestError(400, f'"{rel}" is {kind}, not a regular file')
            except OSError as exc:
                if exc.filename is None or not os.path.isabs(os.fsdecode(exc.filename)):
                    exc.filename = path
                raise RequestError(500, f'failed to process "{rel}"; {describe_os_error(exc)}') from exc
        return subdirs

    def _make_directory(self, rel: str, path: str) -> None:
        """Create the version's copy of the source directory ``path``, worded like the reference on failure.

        A tree deeper than the system's path length limit fails here (``file name too long``), as it
        does in the reference, and the upload removes the partial version.
        """
        destination = os.path.join(self._dest, rel)
        try:
            os.mkdir(destination, 0o755)
        except OSError as exc:
            detail = os_error_text("mkdir", destination, exc)
            raise RequestError(500, f"failed to create a directory at {go_quote(path)}; {detail}") from exc

    def _unsafe(self, exc: UnsafeEntry) -> RequestError:
        """The error for a user file that is special (400) or was swapped after the listing (500).

        A file swapped for a symlink to somewhere the upload could not have linked to fails with the
        reference's message for such a link, which is what it answers when it sees the swap.
        """
        rel = paths.rel(self._root, paths.clean(exc.path)) or exc.path
        if isinstance(exc, NotRegularFile):
            return RequestError(400, f'"{rel}" {exc.detail}')
        if isinstance(exc, ChangedEntry) and os.path.islink(exc.path):
            with contextlib.suppress(OSError):
                raw = os.readlink(exc.path)
                target = raw if raw.startswith("/") else paths.join(os.path.dirname(exc.path), raw)
                if not paths.is_inside(target, self._registry) and not any(
                    paths.is_inside(target, allowed) for allowed in self._whitelist
                ):
                    return _outside_registry(rel, target)
        return RequestError(500, f'"{rel}" {exc.detail}')

    def _read_linkfiles(self) -> dict[str, dict[str, Link]]:
        linkfiles: dict[str, dict[str, Link]] = {}
        for rel_dir in self._linkfile_dirs:
            try:
                content = read_links(os.path.join(self._root, rel_dir) if rel_dir else self._root)
            except RequestError as exc:
                raise exc.wrap(f"failed to parse existing linkfiles in {go_quote(self._root)}") from None
            linkfiles[rel_dir] = content
            for name, link in content.items():
                self._recorded[f"{rel_dir}/{name}" if rel_dir else name] = link
        return linkfiles

    # ------------------------------------------------------------------ regular files (8.2, 8.8)

    def _guarded(self, task: Callable[[_T], _R]) -> Callable[[_T], _R]:
        """``task`` with the typed errors of swapped or special files turned into request errors."""

        def run(batch: _T) -> _R:
            try:
                return task(batch)
            except UnsafeEntry as exc:
                raise self._unsafe(exc) from exc

        return run

    def _hash_files(self, index: dict[str, Link]) -> list[tuple[Source, str]]:
        """Hash every file (and copy it, when uploading without consume); return the files still to move."""
        placement = None
        if self._mode is Mode.TRANSFER:
            placement = Placement(self._dest, frozenset(index), self._consume)
        batches = _batched(self._files, lambda f: f.size)
        digests = self._run_batches(self._guarded(lambda batch: hash_batch(batch, placement)), batches)
        moves = []
        for batch, md5s in zip(batches, digests, strict=True):
            for item, md5sum in zip(batch, md5s, strict=True):
                entry: ManifestEntry = {"size": item.size, "md5sum": md5sum}
                self._manifest[item.rel] = entry
                link = index.get(f"{item.size}-{md5sum}") if self._mode is Mode.TRANSFER else None
                if link is not None:
                    entry["link"] = link
                    self._to_link.append(item.rel)
                elif self._consume:
                    moves.append((item, md5sum))
        return moves

    def _run_batches(self, task: Callable[[_T], _R], batches: Sequence[_T]) -> list[_R]:
        """Run ``task`` on every batch with a bounded number in flight; results in order.

        Every submitted task is waited for before an error propagates, so nothing keeps writing into a
        version directory that the caller is about to remove.
        """
        if len(batches) == 1:
            return [task(batches[0])]
        futures: list[Future[_R]] = []
        for number, batch in enumerate(batches):
            if number >= self._window:
                futures[number - self._window].exception()
            futures.append(self._pool.submit(task, batch))
        results = []
        error: BaseException | None = None
        for future in futures:
            problem = future.exception()
            if problem is not None:
                error = error or problem
            else:
                results.append(future.result())
        if error is not None:
            raise error
        return results

    # ------------------------------------------------------------------ symlinks (8.3)

    def _classify_symlink(self, rel: str, path: str) -> None:
        try:
            raw = os.readlink(path)
        except OSError as exc:
            raise RequestError(
                500, f'failed to read the symbolic link "{rel}"; {describe_os_error(exc)}'
            ) from exc
        link_path = paths.join(self._root, rel)
        directory = os.path.dirname(link_path)
        # An absolute text is used as written (not cleaned): the reference keeps it verbatim for whitelisted
        # links, while every containment test below is lexical and cleans anyway.
        target = raw if raw.startswith("/") else paths.join(directory, raw)

        recorded = self._recorded.get(rel)
        if recorded is not None:
            parent = _registry_path(self._registry, recorded)
            ancestor = recorded.get("ancestor")
            if ancestor is not None and paths.clean(target) == _registry_path(self._registry, ancestor):
                target = parent
            elif paths.clean(target) != parent:
                raise RequestError(
                    500,
                    "unexpected symbolic link to non-ancestor, non-parent file "
                    f"{go_quote(paths.clean(target))} from {go_quote(link_path)}",
                )

        try:
            if (
                self._mode is Mode.TRANSFER
                and paths.is_inside(target, self._dest)
                and not os.path.isdir(target)
            ):
                # The reference examines links before it has copied any file into the new version, so a
                # link to one of that version's files finds nothing there.
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), target)
            info = os.stat(target)
        except (OSError, ValueError) as exc:
            raise RequestError(
                500,
                f"failed to stat target of link {go_quote(link_path)}; {os_error_text('stat', target, exc)}",
            ) from exc
        if stat.S_ISDIR(info.st_mode):
            raise RequestError(500, f"target of link {go_quote(link_path)} is a directory")

        if paths.is_inside(target, self._root):
            if self._mode is Mode.VALIDATE:
                _check_relative(raw, link_path, os.path.dirname(rel), self._root)
            self._local[rel] = paths.rel(self._root, target) or ""
        elif paths.is_inside(target, self._registry):
            try:
                entry, link = self._targets.resolve(target)
            except RequestError as exc:
                context = f"failed to resolve symlink for {go_quote(link_path)} to registry path"
                raise exc.wrap(f"{context} {go_quote(paths.clean(target))}") from exc
            if self._mode is Mode.VALIDATE:
                base = paths.rel(self._registry, directory) or ""
                _check_relative(raw, link_path, base, self._registry)
            self._manifest[rel] = {
                "size": entry.get("size", 0),
                "md5sum": entry.get("md5sum", ""),
                "link": link,
            }
            self._to_link.append(rel)
        elif any(paths.is_inside(target, allowed) for allowed in self._whitelist):
            try:
                md5sum, size = md5_file(target)
            except UnsafeEntry as exc:
                raise RequestError(400, f'target "{target}" of link "{rel}" {exc.detail}') from exc
            except OSError as exc:
                raise RequestError(
                    500, f'failed to compute the MD5 checksum of "{target}"; {describe_os_error(exc)}'
                ) from exc
            self._manifest[rel] = {"size": size, "md5sum": md5sum}
            if self._mode is Mode.TRANSFER:
                _make_symlink(target, os.path.join(self._dest, rel), replace=False)
        else:
            raise _outside_registry(rel, target)

    def _create_symlinks(self) -> None:
        jobs = []
        for rel in self._to_link:
            destination = paths.join(self._dest, rel)
            jobs.append((symlink_text(self._registry, self._manifest[rel]["link"], destination), destination))
        task = _replace_symlinks if self._mode is Mode.REINDEX else _make_symlinks
        self._run_batches(task, _batched(jobs, lambda job: 0))

    # ------------------------------------------------------------------ empty directories (8.7)

    def _add_empty_directories(self) -> None:
        occupied: set[str] = set()
        for rel in _chain(self._manifest, self._candidates):
            parent = os.path.dirname(rel)
            while parent and parent not in occupied:
                occupied.add(parent)
                parent = os.path.dirname(parent)
        for rel in self._candidates:
            if rel not in occupied and rel not in self._manifest:
                self._manifest[rel] = {"size": 0, "md5sum": ""}


def _chain(*groups: Iterable[str]) -> Iterable[str]:
    for group in groups:
        yield from group


def _batched(items: Sequence[_T], size_of: Callable[[_T], int]) -> list[list[_T]]:
    batches: list[list[_T]] = []
    current: list[_T] = []
    total = 0
    for item in items:
        current.append(item)
        total += size_of(item)
        if total >= _BATCH_BYTES or len(current) >= _BATCH_FILES:
            batches.append(current)
            current, total = [], 0
    if current:
        batches.append(current)
    return batches


def _registry_path(registry: str, link: Link) -> str:
    return paths.join(
        registry,
        link.get("project", ""),
        link.get("asset", ""),
        link.get("version", ""),
        link.get("path", ""),
    )


def _outside_registry(rel: str, target: str) -> RequestError:
    return RequestError(
        500, f'symbolic link "{rel}" to file "{target}" outside the registry directory is not allowed'
    )


def _check_relative(raw: str, link_path: str, base: str, top: str) -> None:
    """Validate mode: a link's text must be relative and, from ``base`` inside ``top``, stay inside (8.10)."""
    if raw.startswith("/"):
        # The reference does not quote this path.
        raise RequestError(500, f"expected a relative path for the link target of {link_path}")
    if not paths.is_local(paths.join(base, raw)):
        raise RequestError(
            500, f"symlink target {go_quote(raw)} at {go_quote(link_path)} is not local to {go_quote(top)}"
        )


def _make_symlink(text: str, destination: str, *, replace: bool) -> None:
    try:
        if replace:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(destination)
        os.symlink(text, destination)
    except OSError as exc:
        raise RequestError(500, f"failed to create a symbolic link; {describe_os_error(exc)}") from exc


def _make_symlinks(jobs: Sequence[tuple[str, str]]) -> None:
    """Create ``(text, destination)`` symlinks (a pool task)."""
    for text, destination in jobs:
        _make_symlink(text, destination, replace=False)


def _replace_symlinks(jobs: Sequence[tuple[str, str]]) -> None:
    """Re-create ``(text, destination)`` symlinks over whatever is there (a pool task)."""
    for text, destination in jobs:
        _make_symlink(text, destination, replace=True)


# ---------------------------------------------------------------------- deduplication and ..links


def dedup_index(registry: str, current: VersionRef) -> dict[str, Link]:
    """Map ``"<size>-<md5sum>"`` to a link into the asset's latest version (8.8 step 1).

    Among identical entries a plain file is preferred over a link, then the smallest path.

    Raises:
        RequestError: 500 when ``..latest`` or the manifest it points to cannot be read.
    """
    asset_dir = os.path.join(registry, current.project, current.asset)
    try:
        latest = read_latest(asset_dir)
    except RequestError as exc:
        raise exc.wrap("failed to identify the latest version") from exc
    if latest is None:
        return {}
    version = VersionRef(current.project, current.asset, latest)
    try:
        manifest = read_manifest(version.directory(registry))
    except RequestError as exc:
        raise exc.wrap("failed to read the latest version's manifest") from exc
    index: dict[str, Link] = {}
    plain: set[str] = set()
    for path in sorted(manifest):
        entry = manifest[path]
        key = f"{entry.get('size', 0)}-{entry.get('md5sum', '')}"
        is_plain = entry.get("link") is None
        if key not in index or (is_plain and key not in plain):
            index[key] = make_link(version, path, entry)
            if is_plain:
                plain.add(key)
    return index


def group_links(manifest: Manifest) -> dict[str, dict[str, Link]]:
    """Linked entries of a manifest grouped by directory (``""`` for the root), keyed by base name."""
    groups: dict[str, dict[str, Link]] = {}
    for rel, entry in manifest.items():
        link: Any = entry.get("link")
        if link is not None:
            directory, _, name = rel.rpartition("/")
            groups.setdefault(directory, {})[name] = link
    return groups


def write_link_files(version_dir: str, groups: dict[str, dict[str, Link]]) -> None:
    """Write one ``..links`` per directory that holds links.

    Raises:
        RequestError: 500 naming the directory (``"."`` for the root) whose file could not be written.
    """
    for directory, links in groups.items():
        try:
            write_links(os.path.join(version_dir, directory) if directory else version_dir, links)
        except RequestError as exc:
            raise exc.wrap(f"failed to save links for {go_quote(directory or '.')}") from None
