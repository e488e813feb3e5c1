"""The document store: the registry's JSON documents read through the transport, parsed, and explained.

Version documents (``..summary``, ``..manifest``) are asked for with ``reuse``, so a transport that keeps
copies serves a settled version's documents without a request; the first manifest read of a version also
reads its summary ("learns" whether it is settled), so later reads cost nothing. Parsed manifests of
settled versions are kept (a few, bounded: a 2,000-entry manifest costs ~1 ms to parse). A read that finds
nothing is explained: the error names the first level (project, asset or version) that does not exist.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError

from ._connections import Connections
from ._records import FileRecord, parse_records, record
from .errors import NotCachedError, NotFoundError, ServiceError
from .models import Manifest, Permissions, Summary
from .transports import RemoteTransport, Transport

__all__ = ["Documents", "parsed", "version_of_file"]

_T = TypeVar("_T")

# Parsed manifests of settled versions kept per client: at most this many, and beyond the first, no more
# entries in all than _PARSED_ENTRIES (a 100,000-entry model takes about 35 MiB). Eight, not four: a loop
# over five versions (the benchmark's e2) evicted each model just before it was wanted again.
_PARSED_MANIFESTS = 8
_PARSED_ENTRIES = 200_000
# Parsed summaries of settled versions kept per client (small: a few hundred bytes each).
_KEPT_SUMMARIES = 64
_LEVELS = ("project", "asset", "version")


def parsed(what: str, parse: Callable[[], _T]) -> _T:
    """Run ``parse`` on a registry document, reporting a malformed one as the service would (an error).

    Raises:
        ServiceError: One line naming the first problem and how many there are.
    """
    try:
        return parse()
    except ValidationError as exc:
        # One line, not pydantic's multi-line dump: the first problem and how many there are.
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "the document"
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise ServiceError(
            f"{what} is not a valid registry document: {where}: {first['msg']}{more}"
        ) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise ServiceError(f"{what} is not a valid registry document: {exc}") from None


def version_of_file(path: str) -> tuple[str, str, str] | None:
    """Project, asset and version of a file inside a version (``None`` for internal files, or above one)."""
    parts = path.split("/")
    if len(parts) < 4 or any(part.startswith("..") for part in parts):
        return None
    return parts[0], parts[1], parts[2]


def _permissions(data: Any) -> Permissions:
    # The service always writes "owners" (sometimes null): a document without it is not a permissions file.
    if not isinstance(data, dict) or "owners" not in data:
        raise ValueError("no 'owners' field")
    return Permissions.model_validate(data)


class Documents:
    """Reads, parses and explains a registry's documents for one client.

    Args:
        connections: The client's resources (its transports).
    """

    def __init__(self, connections: Connections) -> None:
        self._connections = connections
        # Versions known to be non-probational: their documents never change.
        self._settled: set[str] = set()
        # Version key -> the MD5 of the manifest's bytes (not the bytes: 10 MiB for 100,000 entries), its
        # parsed model and the remote transport's confirmation stamp when it was read (``None`` for a
        # local read), most recently used last.
        self._parsed: OrderedDict[str, tuple[bytes, Manifest, float | None]] = OrderedDict()
        # Version key -> the remote transport's confirmation stamp and the summary parsed under it.
        self._summaries: dict[str, tuple[float, Summary]] = {}
        self._lock = threading.Lock()

    def reader(self, force_remote: bool) -> Transport:
        """The transport for one read."""
        return self._connections.reader(force_remote)

    # ------------------------------------------------------------------ listings

    def listing(self, path: str, *, recursive: bool, force_remote: bool) -> list[str]:
        """A directory's listing as ``GET /list`` gives it."""
        return self.reader(force_remote).list(path, recursive=recursive)

    def subdirectories(self, path: str, force_remote: bool) -> list[str]:
        """Names of the directories in ``path`` (registry internals left out)."""
        listing = self.reader(force_remote).list(path)
        return [item[:-1] for item in listing if item.endswith("/") and not item.startswith("..")]

    def exists(self, parts: tuple[str, ...], force_remote: bool) -> bool:
        """Whether the project, asset or version named by ``parts`` exists."""
        *parent, name = parts
        try:
            listing = self.reader(force_remote).list("/".join(parent))
        except NotFoundError:
            return False
        return name + "/" in listing

    def missing(
        self, parts: tuple[str, ...], force_remote: bool, cause: NotFoundError | None = None
    ) -> NotFoundError | None:
        """The error for a read that found nothing, naming the first level that does not exist.

        Every read reports a missing project, asset or version alike, on every transport; this costs a
        listing per level, and only when a read has already failed. The HTTP status and reason of
        ``cause`` (the original error) are kept. ``None`` when every level exists.
        """
        if isinstance(cause, NotCachedError):
            # Not cached says nothing of what exists (and finding out would need the service).
            return cause
        reader = self.reader(force_remote)
        for depth, kind in enumerate(_LEVELS[: len(parts)], start=1):
            try:
                found = parts[depth - 1] + "/" in reader.list("/".join(parts[: depth - 1]))
            except NotCachedError as exc:
                return exc
            except NotFoundError:
                found = False
            if not found:
                return NotFoundError(
                    f"{kind} {'/'.join(parts[:depth])} does not exist",
                    status=cause.status if cause is not None else None,
                    reason=cause.reason if cause is not None else None,
                )
        return None

    def not_found(
        self, parts: tuple[str, ...], force_remote: bool, what: str, cause: NotFoundError | None = None
    ) -> NotFoundError:
        """:meth:`missing`, or when every level exists, the error saying that ``what`` is missing."""
        kind = _LEVELS[len(parts) - 1]
        return self.missing(parts, force_remote, cause) or NotFoundError(
            f"{kind} {'/'.join(parts)} has no {what}"
        )

    def explained(
        self, path: str, force_remote: bool, cause: NotFoundError | None = None
    ) -> NotFoundError | None:
        """For a registry path that was not found, the error naming its missing level, if any."""
        if self._connections.config.offline or isinstance(cause, NotCachedError):
            # What is not cached says nothing of what exists; asking would send a request.
            return None
        parts = tuple(path.strip("/").split("/")[:3])
        return self.missing(parts, force_remote, cause)

    # ------------------------------------------------------------------ documents

    def parse(self, what: str, force_remote: bool, parse: Callable[[], _T]) -> _T:
        """Parse a registry document; when it is malformed, first make sure the URL is a Gobbler service.

        Raises:
            ServiceError: When the document is malformed.
            ConfigurationError: When the URL that answered is not a Gobbler service at all.
        """
        try:
            return parsed(what, parse)
        except ServiceError:
            config = self._connections.config
            if (
                config.url is not None
                and not config.offline
                and self.reader(force_remote).local_path(what) is None
            ):
                self._connections.service_info()
            raise

    def raw(self, path: str, force_remote: bool) -> bytes | None:
        """A small document's bytes as stored, read where it lives now, or ``None``."""
        return self.reader(force_remote).read(path)

    def json(self, path: str, force_remote: bool) -> Any | None:
        """A small document's JSON as stored, or ``None`` when it does not exist."""
        data = self.raw(path, force_remote)
        return None if data is None else self.parse(path, force_remote, lambda: json.loads(data))

    def version_document(
        self,
        parts: tuple[str, ...],
        name: str,
        force_remote: bool,
        overwrite: bool = False,
        *,
        learn: bool = True,
        received: set[str] | None = None,
    ) -> bytes:
        """Bytes of a version's ``..summary`` or ``..manifest``.

        Args:
            parts: Project, asset and version names.
            name: ``"..summary"`` or ``"..manifest"``.
            force_remote: Read through the REST API even when the registry is mounted.
            overwrite: Read it where it lives even when a kept copy could answer (after an administrator
                reindexed or rerouted the version, or it was deleted and uploaded again).
            learn: After a manifest of a version not known settled, also read its summary, so that later
                reads may be answered from kept copies (one request more now, none later).
            received: Collects the registry paths of every document read on the way.

        Raises:
            NotFoundError: Naming what is missing.
        """
        key = "/".join(parts)
        path = f"{key}/{name}"
        reader = self.reader(force_remote)
        data = reader.read(path, reuse=not overwrite)
        if data is None:
            raise self.not_found(parts, force_remote, name.lstrip("."))
        if received is not None:
            received.add(path)
        if name == "..summary":
            self._learn(key, data)
        elif learn and key not in self._settled:
            try:
                summary = reader.read(f"{key}/..summary", reuse=True)
            except NotCachedError:
                # Learning is only a saving for later reads; offline, what is not cached stays unknown.
                summary = None
            if summary is not None:
                if received is not None:
                    received.add(f"{key}/..summary")
                self._learn(key, summary)
        return data

    def _learn(self, key: str, summary: bytes) -> None:
        if key in self._settled:
            return  # approval is never undone: nothing to learn (and no second parse of the summary)
        try:
            settled = Summary.model_validate_json(summary).on_probation is False
        except ValueError:
            return
        if settled:
            self._settled.add(key)

    def mark_settled(self, key: str) -> None:
        """Record that a version is not probational (``..latest`` only ever names such a version)."""
        self._settled.add(key)

    def manifest(
        self,
        parts: tuple[str, ...],
        force_remote: bool,
        overwrite: bool = False,
        *,
        learn: bool = True,
        received: set[str] | None = None,
    ) -> Manifest:
        """A version's parsed manifest (kept, for a settled version, and reused until ``overwrite``)."""
        key = "/".join(parts)
        reader = self.reader(force_remote)
        remote = reader if isinstance(reader, RemoteTransport) else None
        stamp = remote.confirmation(key) if remote is not None else None
        if stamp is not None and not overwrite and received is None and key in self._settled:
            # Nothing can have changed while the remote transport's confirmation of the version stands:
            # it would serve the very cached bytes the kept model was parsed from (no read, no compare).
            with self._lock:
                kept = self._parsed.get(key)
                if kept is not None and kept[2] == stamp:
                    self._parsed.move_to_end(key)
                    return kept[1]
        data = self.version_document(
            parts, "..manifest", force_remote, overwrite, learn=learn, received=received
        )
        if remote is not None and remote.confirmation(key) != stamp:
            # Confirmed (or dropped) during the read: the bytes may be from before it; compare next time.
            stamp = None
        digest = hashlib.md5(data).digest()
        with self._lock:
            kept = None if overwrite else self._parsed.get(key)
            if kept is not None and kept[0] == digest:
                # The same bytes as last time (a cached copy, checked by the transport): the same model.
                self._parsed[key] = (digest, kept[1], stamp)
                self._parsed.move_to_end(key)
                return kept[1]
        manifest = self.parse(f"{key}/..manifest", force_remote, lambda: Manifest.from_json(data))
        if key in self._settled:
            with self._lock:
                self._parsed[key] = (digest, manifest, stamp)
                self._parsed.move_to_end(key)
                while len(self._parsed) > _PARSED_MANIFESTS or (
                    len(self._parsed) > 1
                    and sum(len(kept[1]) for kept in self._parsed.values()) > _PARSED_ENTRIES
                ):
                    self._parsed.popitem(last=False)
        return manifest

    def records(
        self, parts: tuple[str, ...], force_remote: bool, *, received: set[str] | None = None
    ) -> dict[str, FileRecord]:
        """A version's manifest as plain records (path below the version -> record), for a download.

        Validated as strictly as :meth:`manifest` validates, but into records directly: a directory
        download of 100,000 files holds neither the model's dictionary per entry nor the model itself.

        Raises:
            NotFoundError: Naming what is missing.
            ServiceError: When the manifest is malformed.
        """
        key = "/".join(parts)
        data = self.version_document(parts, "..manifest", force_remote, received=received)
        return self.parse(f"{key}/..manifest", force_remote, lambda: parse_records(data))

    def forget(self, key: str) -> None:
        """Forget what is known of the versions at or below ``key`` (this client changed them)."""
        below = key + "/"
        with self._lock:
            self._settled = {k for k in self._settled if k != key and not k.startswith(below)}
            for known in [k for k in self._parsed if k == key or k.startswith(below)]:
                del self._parsed[known]
            for known in [k for k in self._summaries if k == key or k.startswith(below)]:
                del self._summaries[known]

    @property
    def parsed_manifests(self) -> int:
        """How many parsed manifests are kept (bounded)."""
        return len(self._parsed)

    def summary(self, parts: tuple[str, ...], force_remote: bool, overwrite: bool = False) -> Summary:
        """A version's parsed summary (kept, as manifests are, while a settled version stands confirmed)."""
        key = "/".join(parts)
        reader = self.reader(force_remote)
        remote = reader if isinstance(reader, RemoteTransport) else None
        stamp = remote.confirmation(key) if remote is not None else None
        if stamp is not None and not overwrite and key in self._settled:
            with self._lock:
                kept = self._summaries.get(key)
            if kept is not None and kept[0] == stamp:
                return kept[1]
        data = self.version_document(parts, "..summary", force_remote, overwrite)
        summary = self.parse(f"{key}/..summary", force_remote, lambda: Summary.model_validate_json(data))
        if (
            remote is not None
            and stamp is not None
            and remote.confirmation(key) == stamp
            and key in self._settled
        ):
            with self._lock:
                self._summaries[key] = (stamp, summary)
                while len(self._summaries) > _KEPT_SUMMARIES:
                    del self._summaries[next(iter(self._summaries))]
        return summary

    def permissions(self, parts: tuple[str, ...], force_remote: bool) -> Permissions | None:
        """A project's or asset's parsed ``..permissions``, or ``None`` when there is none."""
        path = "/".join(parts) + "/..permissions"
        data = self.json(path, force_remote)
        return None if data is None else self.parse(path, force_remote, lambda: _permissions(data))

    def usage(self, project: str, force_remote: bool) -> int | None:
        """A project's recorded usage in bytes, or ``None`` when there is no record."""
        path = f"{project}/..usage"
        data = self.json(path, force_remote)
        return None if data is None else self.parse(path, force_remote, lambda: int(data["total"]))

    def latest(self, parts: tuple[str, str], force_remote: bool) -> str | None:
        """The name of an asset's latest version per its ``..latest``, or ``None`` when it has none."""
        path = "/".join(parts) + "/..latest"
        data = self.json(path, force_remote)
        if data is None:
            return None
        name: str = self.parse(path, force_remote, lambda: str(data["version"]))
        # ..latest only ever names a non-probational version, and approval is never undone: its documents
        # can be reused without asking for its summary first (one round trip less for latest().manifest()).
        self.mark_settled(f"{parts[0]}/{parts[1]}/{name}")
        return name

    def resolved(self, path: str, force_remote: bool) -> str:
        """``path`` with a ``..latest`` version resolved to the asset's latest version's name (read once).

        Args:
            path: ``project/asset/version[/...]``, where the version may be ``..latest``.
            force_remote: Read ``..latest`` through the REST API even when the registry is mounted.

        Raises:
            NotFoundError: When the project or asset does not exist, or the asset has no latest version.
        """
        parts = path.split("/")
        if len(parts) < 3 or parts[2] != "..latest":
            return path
        name = self.latest((parts[0], parts[1]), force_remote)
        if name is None:
            raise self.missing(tuple(parts[:2]), force_remote) or NotFoundError(
                f"asset {parts[0]}/{parts[1]} has no latest version (nothing approved yet)"
            )
        return "/".join([parts[0], parts[1], name, *parts[3:]])

    def entry_for(
        self,
        path: str,
        *,
        force_remote: bool = False,
        learn: bool = True,
        received: set[str] | None = None,
    ) -> FileRecord | None:
        """The manifest entry of a registry file (``None`` for internal files and paths above a version).

        Args:
            path: ``project/asset/version/file``.
            force_remote: Read through the REST API even when the registry is mounted.
            learn: As for :meth:`version_document`.
            received: As for :meth:`version_document`.

        Raises:
            NotFoundError: When the file is not in its version's manifest.
        """
        parts = version_of_file(path)
        if parts is None:
            return None
        key = "/".join(parts)
        manifest = self.manifest(parts, force_remote, learn=learn, received=received)
        entry = record(manifest, path[len(key) + 1 :])
        if entry is None:
            raise NotFoundError(f"{path!r} is not in the manifest of {key}")
        return entry
