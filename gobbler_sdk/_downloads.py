"""Reads of files and directories: one file, a byte range, a whole directory, all through the transport.

The read options are declared once, as typed dictionaries that every surface (the client, the handles, the
functional API) takes with ``**options`` (``typing.Unpack``), so a new option is one edit here.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from ._cache import integrity_problem
from ._config import DEFAULT_WINDOW, MAX_WINDOW
from ._connections import Connections
from ._directory import check_listing, copy_into, is_internal
from ._documents import Documents, version_of_file
from ._globs import path_filter
from ._pathsafety import checked_relative
from ._progress import ProgressCallback, TqdmClass, Tracker
from ._ranges import Slice
from ._records import Entry, FileRecord
from .errors import IntegrityError, InvalidArgumentError, NotCachedError, NotFoundError
from .transports import RemoteTransport, Transport

if sys.version_info >= (3, 11):
    from typing import TypedDict, Unpack
else:
    from typing_extensions import TypedDict, Unpack

__all__ = ["DirectoryOptions", "Downloads", "FileOptions", "RangeOptions"]


class RangeOptions(TypedDict, total=False):
    """Options of every read of bytes.

    Attributes:
        force_remote: Read through the REST API even when the registry is mounted.
        verify: Check size and MD5 against the manifest (a download, a cached copy before it is reused, a
            read that covers a whole file). Turning it off saves the hashing for callers that check
            content themselves; a download is still stopped, and nothing kept, when the server sends
            more bytes than the manifest records.
    """

    force_remote: bool
    verify: bool


class FileOptions(RangeOptions, total=False):
    """Options of reads that place files on this machine.

    See :meth:`GobblerClient.fetch_file <gobbler_sdk.GobblerClient.fetch_file>`.

    Attributes:
        overwrite: Download again even when a verified copy is cached.
        progress: ``None`` or ``True`` (a bar when standard error is a terminal or in Jupyter, unless
            ``GOBBLER_DISABLE_PROGRESS=1``), ``False`` (nothing), or a callable receiving a
            :class:`~gobbler_sdk.ProgressEvent` as each file is in place.
        tqdm_class: Draw the bar with this ``tqdm`` class (even without a terminal).
    """

    overwrite: bool
    progress: bool | ProgressCallback | None
    tqdm_class: TqdmClass | None


class DirectoryOptions(FileOptions, total=False):
    """Options of directory reads.

    See :meth:`GobblerClient.fetch_directory <gobbler_sdk.GobblerClient.fetch_directory>`.

    Attributes:
        concurrency: Parallel downloads; the client's setting when ``None``.
        allow_patterns: Fetch only the files matching one of these glob patterns, matched against paths
            relative to the directory (``*`` stays within a directory, ``**`` crosses directories, a
            pattern without ``/`` matches a name at any depth).
        ignore_patterns: Skip the files matching one of these.
        local_dir: Also place a copy of every selected file (and empty directory) here, and return it: a
            copy-on-write clone where the filesystem supports it, else a plain copy, never a link into the
            cache; the registry's internal ``..`` files are not copied.
    """

    concurrency: int | None
    allow_patterns: str | Sequence[str] | None
    ignore_patterns: str | Sequence[str] | None
    local_dir: str | os.PathLike[str] | None


class Downloads:
    """Brings registry files to this machine for one client.

    Args:
        connections: The client's resources (its transports and settings).
        documents: Its document store (manifests to verify against).
    """

    def __init__(self, connections: Connections, documents: Documents) -> None:
        self._connections = connections
        self._documents = documents

    # ------------------------------------------------------------------ one file

    def fetch_file(self, path: str, **options: Unpack[FileOptions]) -> Path:
        """See :meth:`GobblerClient.fetch_file <gobbler_sdk.GobblerClient.fetch_file>`."""
        force_remote = options.get("force_remote", False)
        path = self._documents.resolved(checked_relative(path), force_remote)
        try:
            return self._fetch_file(path, **options)
        except NotFoundError as exc:
            raise self._documents.explained(path, force_remote, exc) or exc from None

    def _fetch_file(self, path: str, **options: Unpack[FileOptions]) -> Path:
        force_remote = options.get("force_remote", False)
        reader = self._documents.reader(force_remote)
        in_place = reader.local_path(path)
        if in_place is not None:
            if not in_place.is_file():
                raise NotFoundError(f"no file at {path!r} in the registry")
            return in_place
        verify = options.get("verify", True)
        # One request for the manifest, one for the file: whether the version is settled (so that its
        # manifest may be reused) is not worth a third round trip before the download. The entry is read
        # without verification too: its size bounds what a lying server may write into the cache.
        entry = self._documents.entry_for(path, force_remote=force_remote, learn=False)
        if entry is not None and entry.is_directory:
            # The file server would answer with a redirect to a listing; locally it is simply no file.
            raise NotFoundError(f"{path!r} is an empty directory, not a file")
        size = entry.size if entry is not None else 0
        tracker = Tracker(
            options.get("progress"),
            "download",
            1,
            size,
            tqdm_class=options.get("tqdm_class"),
            label=path.rpartition("/")[2],
        )
        with tracker:
            local = reader.fetch(
                path,
                entry=entry,
                overwrite=options.get("overwrite", False),
                verify=verify,
                on_bytes=tracker.on_bytes,
            )
            tracker.streamed(path, size)
        return local

    def open(self, path: str, *, force_remote: bool = False) -> BinaryIO:
        """Open a registry file for binary reading, through the transport."""
        path = self._documents.resolved(checked_relative(path), force_remote)
        try:
            return self._documents.reader(force_remote).open(path)
        except NotFoundError as exc:
            raise self._documents.explained(path, force_remote, exc) or exc from None

    # ------------------------------------------------------------------ a byte range

    def read_range(
        self,
        path: str,
        start: int = 0,
        end: int | None = None,
        *,
        entry: Entry | None = None,
        **options: Unpack[RangeOptions],
    ) -> bytes:
        """See :meth:`GobblerClient.read_range <gobbler_sdk.GobblerClient.read_range>`."""
        if start < 0 or (end is not None and end < start):
            raise InvalidArgumentError(f"invalid byte range {start}..{end} (need 0 <= start <= end)")
        checked_relative(path)
        if end == start:
            return b""
        force_remote, verify = options.get("force_remote", False), options.get("verify", True)
        path = self._documents.resolved(path, force_remote)
        reader = self._documents.reader(force_remote)
        if isinstance(reader, RemoteTransport):
            piece = self._read_remote_range(reader, path, start, end, entry, verify, force_remote)
        else:
            # Read in place (or by a transport of the caller's own): the file's real size bounds the read.
            piece = reader.read_range(path, start, end, md5=verify)
        data, total = piece.data, piece.total
        if entry is not None and total != entry.size:
            raise IntegrityError(
                f"read {path}: the manifest records {entry.size} bytes, the file has {total}"
            )
        if verify and start == 0 and len(data) == total:
            if entry is None:
                entry = self._documents.entry_for(path, force_remote=force_remote)
            if entry is not None:
                found = piece.md5 if piece.md5 is not None else hashlib.md5(data).hexdigest()
                problem = integrity_problem(entry, len(data), found)
                if problem is not None:
                    raise IntegrityError(f"read {path}: {problem}")
        return data

    def _read_remote_range(
        self,
        reader: RemoteTransport,
        path: str,
        start: int,
        end: int | None,
        entry: Entry | None,
        verify: bool,
        force_remote: bool,
    ) -> Slice:
        """A ranged read over HTTP, bounded before its body is read (see :mod:`gobbler_sdk._ranges`).

        The asked range bounds what is read when it is smaller than ``max_response_size``; a read to the
        end of the file (or a larger range) is bounded by the file's manifest entry, looked up first when
        verifying (a settled version's manifest is kept, so that costs a request only once a version), and
        otherwise capped at ``max_response_size``.
        """
        cap = reader.service.limits.max_response_size
        if entry is None and verify and (end is None or end - start > cap):
            try:
                entry = self._documents.entry_for(path, force_remote=force_remote)
            except NotCachedError:
                # Offline without the manifest: the read is of a cached copy, verified when downloaded.
                entry = None
        size = entry.size if entry is not None else None
        return reader.read_range(path, start, end, md5=verify, size=size)

    # ------------------------------------------------------------------ a directory

    def fetch_directory(self, path: str, **options: Unpack[DirectoryOptions]) -> Path:
        """See :meth:`GobblerClient.fetch_directory <gobbler_sdk.GobblerClient.fetch_directory>`.

        The steps: find where the directory is read from (in place, when the transport has it here); list
        it once and check the listing; look up every selected file's manifest entry; have the transport
        place the files (verified); copy them into ``local_dir`` when one is given.
        """
        force_remote = options.get("force_remote", False)
        # Resolved once: a directory read never straddles a new upload.
        relative = self._documents.resolved(checked_relative(path.strip("/")), force_remote)
        local_dir = options.get("local_dir")
        reader = self._documents.reader(force_remote)
        try:
            in_place = reader.local_path(relative)
            if in_place is not None and not in_place.is_dir():
                raise NotFoundError(f"no directory at {path!r} in the registry")
            if in_place is not None and local_dir is None:
                return in_place
            items, entries, received = self._select(reader, relative, **options)
            root = (
                in_place
                if in_place is not None
                else self._transfer(reader, relative, entries, received, **options)
            )
        except NotCachedError:
            raise
        except NotFoundError as exc:
            raise self._documents.explained(relative, force_remote, exc) or exc from None
        if local_dir is None:
            return root
        verify = options.get("verify", True)
        # Bytes read in place were not verified on the way: they are hashed while copied.
        return copy_into(
            Path(local_dir),
            items,
            reader.open,
            overwrite=options.get("overwrite", False),
            check_md5=verify and in_place is not None,
            verify=verify,
        )

    def _select(
        self, reader: Transport, relative: str, **options: Unpack[DirectoryOptions]
    ) -> tuple[list[tuple[str, str, Entry | None]], list[tuple[str, Entry | None]], set[str]]:
        """List the directory, choose what the patterns select, and find each chosen file's entry.

        Returns:
            The selected user files and empty directories (directories with a trailing ``/``) as
            ``(path below relative, registry path, entry)`` when they are to be copied into ``local_dir``
            (else none); every registry path to place (the selected
            files, the empty directories and the registry's internal files, which are always kept) with its
            entry; and the documents already read on the way (the transport holds them as read).
        """
        listing = self._listing(reader, relative)
        select = path_filter(options.get("allow_patterns"), options.get("ignore_patterns"))
        force_remote = options.get("force_remote", False)
        # Each version's manifest is read once, as records (see Documents.records).
        manifests: dict[str, dict[str, FileRecord]] = {}
        received: set[str] = set()
        items: list[tuple[str, str, Entry | None]] = []
        # The user's files are listed again only to be copied into local_dir (held per file otherwise).
        copying = options.get("local_dir") is not None
        entries: list[tuple[str, Entry | None]] = [(relative + "/", None)]
        # Consumed as it is read, as are the manifests' records below: a listing of 100,000 paths and the
        # records' own keys are freed while the entries are built, not held beside them.
        listing.reverse()
        while listing:
            item = listing.pop()
            internal = is_internal(item)
            if not internal and select is not None and not select(item):
                continue
            full = f"{relative}/{item}"
            entry = None
            if not item.endswith("/"):
                entry = self._record(full, manifests, force_remote, received)
            if not internal and copying:
                items.append((item, full.rstrip("/"), entry))
            entries.append((full, entry))
        return items, entries, received

    def _record(
        self,
        path: str,
        manifests: dict[str, dict[str, FileRecord]],
        force_remote: bool,
        received: set[str],
    ) -> FileRecord | None:
        """The record of a file's manifest entry (``None`` for the registry's own files and above a version).

        Each record is taken out of ``manifests`` as it is found (a listing names each file once).

        Raises:
            NotFoundError: When the file is not in its version's manifest.
        """
        parts = version_of_file(path)
        if parts is None:
            return None
        key = "/".join(parts)
        records = manifests.get(key)
        if records is None:
            records = manifests[key] = self._documents.records(parts, force_remote, received=received)
        entry = records.pop(path[len(key) + 1 :], None)
        if entry is None:
            raise NotFoundError(f"{path!r} is not in the manifest of {key}")
        return entry

    def _transfer(
        self,
        reader: Transport,
        relative: str,
        entries: list[tuple[str, Entry | None]],
        received: set[str],
        **options: Unpack[DirectoryOptions],
    ) -> Path:
        """Have the transport place every entry but the documents read on the way; return the directory."""
        # The same tuples, not copies of them (a 100,000-file download holds each list at once).
        files = [item for item in entries if not item[0].endswith("/")]
        concurrency = options.get("concurrency")
        config = self._connections.config
        adaptive = concurrency is None and config.adaptive_window
        with Tracker(
            options.get("progress"),
            "download",
            len(files),
            sum(entry.size for _, entry in files if entry is not None),
            tqdm_class=options.get("tqdm_class"),
            label=relative,
        ) as tracker:
            for path in sorted(received & {path for path, _ in files}):
                # Already where the transport keeps them: counted without a second transfer.
                tracker.advance(path, 0)

            def done(path: str, size: int, streamed: bool) -> None:
                (tracker.streamed if streamed else tracker.advance)(path, size)

            root = reader.fetch_many(
                [item for item in entries if item[0] not in received] if received else entries,
                overwrite=options.get("overwrite", False),
                verify=options.get("verify", True),
                # An explicit concurrency fixes the window; the default starts wider and grows while
                # throughput rises.
                concurrency=concurrency or (DEFAULT_WINDOW if adaptive else config.concurrency),
                grow_to=MAX_WINDOW if adaptive else None,
                on_done=done,
                on_bytes=tracker.on_bytes,
            )
        return root / relative

    @staticmethod
    def _listing(reader: Transport, relative: str) -> list[str]:
        listing = reader.list(relative, recursive=True)
        if not listing:
            # The service lists a regular file as an empty directory: its parent's listing tells them apart.
            parent, _, name = relative.rpartition("/")
            if f"{name}/" not in reader.list(parent):
                raise NotFoundError(f"no directory at {relative!r} in the registry")
        check_listing(listing, f"fetch {relative}")
        return listing
