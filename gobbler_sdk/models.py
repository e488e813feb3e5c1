"""Typed, immutable views of the service's documents (pydantic v2).

Every model ignores unknown fields, so a newer service never breaks an older client, and serialises back to
exactly the JSON the service reads and writes (RFC 3339 timestamps, absent optional fields left out)::

    >>> Manifest.model_validate_json(path.read_bytes()).total_size
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    RootModel,
    SerializerFunctionWrapHandler,
    model_serializer,
)
from typing_extensions import NotRequired, TypedDict

from ._rfc3339 import parse_rfc3339

__all__ = [
    "LinkTarget",
    "Manifest",
    "ManifestEntry",
    "Permissions",
    "RerouteChange",
    "ServiceInfo",
    "Summary",
    "Uploader",
]


def _strict_timestamp(value: Any) -> Any:
    if isinstance(value, str):
        parsed = parse_rfc3339(value)
        if parsed is None:
            raise ValueError(f"{value!r} is not an RFC 3339 date-time")
        return parsed
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return value


def _format_timestamp(value: datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# An RFC 3339 timestamp, parsed as strictly as the service does and written back with "Z" for UTC.
Timestamp = Annotated[
    datetime, BeforeValidator(_strict_timestamp), PlainSerializer(_format_timestamp, return_type=str)
]

_CONFIG = ConfigDict(frozen=True, extra="ignore")


class _Document(BaseModel):
    """Shared behaviour of the document models: frozen, unknown fields ignored, written as the service does.

    The service leaves optional fields out rather than writing ``null`` or a default (``link``,
    ``ancestor``, ``on_probation``, ``global_write``, the uploader restrictions), and uses its own key
    names (``copy``), so a dump keeps only the fields that were given and are not ``None``, under their
    JSON names.
    """

    model_config = _CONFIG

    @model_serializer(mode="wrap")
    def _as_service_json(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if not isinstance(data, dict):
            return data
        written: dict[str, Any] = {}
        for name, field in type(self).model_fields.items():
            key = field.alias or name
            if key in data:
                value = data[key]
            elif name in data:
                value = data[name]
            else:
                continue
            if value is not None and name in self.model_fields_set:
                written[key] = value
        return written

    def __repr__(self) -> str:
        # Only what was given, each value cut short: a repr is for a REPL line, not for the whole document.
        shown = ", ".join(f"{key}={_short(value)}" for key, value in self.model_dump(mode="json").items())
        return f"{type(self).__name__}({shown})"


def _short(value: Any, limit: int = 48) -> str:
    if isinstance(value, list) and len(value) > 3:
        return f"[{len(value)} items]"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _html_table(caption: str, header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    """A small HTML table for notebooks, every cell escaped."""
    head = "".join(f"<th>{html.escape(str(cell))}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><caption>{html.escape(caption)}</caption><tr>{head}</tr>{body}</table>"


_HTML_ROWS = 20


class LinkTarget(_Document):
    """Where a linked file points: a file of another (or the same) version.

    Attributes:
        project (str): Project of the target.
        asset (str): Asset of the target.
        version (str): Version of the target.
        path (str): Path of the target inside its version.
        ancestor (LinkTarget | None): The final real file when the immediate target is itself a link.
    """

    model_config = _CONFIG

    project: str
    asset: str
    version: str
    path: str
    ancestor: LinkTarget | None = None

    @property
    def registry_path(self) -> str:
        """``project/asset/version/path`` of the immediate target."""
        return f"{self.project}/{self.asset}/{self.version}/{self.path}"

    @property
    def final(self) -> LinkTarget:
        """The file holding the bytes: the ancestor when there is one, else this target."""
        return self.ancestor if self.ancestor is not None else self


class ManifestEntry(_Document):
    """One path of a version's manifest.

    Attributes:
        size (int): Size in bytes (of the final target for links; 0 for empty directories).
        md5sum (str): Lower-case hex MD5; ``""`` for empty directories.
        link (LinkTarget | None): Set when the file is a link to another registry file.
    """

    model_config = _CONFIG

    size: int
    md5sum: str
    link: LinkTarget | None = None

    @property
    def is_directory(self) -> bool:
        """Whether this entry records an empty directory rather than a file."""
        return self.md5sum == ""


class _LinkData(TypedDict):
    project: str
    asset: str
    version: str
    path: str
    ancestor: NotRequired[_LinkData]


class _EntryData(TypedDict):
    size: int
    md5sum: str
    link: NotRequired[_LinkData]


def _link_model(data: _LinkData) -> LinkTarget:
    ancestor = data.get("ancestor")
    if ancestor is None:
        return LinkTarget.model_construct(
            project=data["project"], asset=data["asset"], version=data["version"], path=data["path"]
        )
    return LinkTarget.model_construct(
        project=data["project"],
        asset=data["asset"],
        version=data["version"],
        path=data["path"],
        ancestor=_link_model(ancestor),
    )


def _entry_model(data: _EntryData) -> ManifestEntry:
    # The data was validated when the manifest was parsed; building the model needs no second check.
    link = data.get("link")
    if link is None:
        return ManifestEntry.model_construct(size=data["size"], md5sum=data["md5sum"])
    return ManifestEntry.model_construct(size=data["size"], md5sum=data["md5sum"], link=_link_model(link))


class Manifest(RootModel[dict[str, _EntryData]]):
    """A version's manifest: relative path → :class:`ManifestEntry`, in the service's order.

    Behaves as a read-only mapping (``manifest["a.txt"]``, ``len``, iteration over paths, ``items()``).
    Every entry is validated when the manifest is parsed; the :class:`ManifestEntry` models are built when
    they are looked at, so parsing a 20,000-entry manifest costs about what ``json.loads`` does.
    """

    model_config = ConfigDict(frozen=True)

    @classmethod
    def from_json(cls, data: bytes | str) -> Manifest:
        """Parse and validate a manifest's JSON (the same as ``Manifest.model_validate_json``)."""
        return cls.model_validate_json(data)

    def __getitem__(self, path: str) -> ManifestEntry:
        return _entry_model(self.root[path])

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        return iter(self.root)

    def __len__(self) -> int:
        return len(self.root)

    def __contains__(self, path: object) -> bool:
        return path in self.root

    def get(self, path: str) -> ManifestEntry | None:
        """The entry for ``path``, or ``None``."""
        data = self.root.get(path)
        return None if data is None else _entry_model(data)

    def items(self) -> Iterator[tuple[str, ManifestEntry]]:
        """Iterate over ``(path, entry)`` pairs."""
        return ((path, _entry_model(data)) for path, data in self.root.items())

    def values(self) -> Iterator[ManifestEntry]:
        """Iterate over the entries."""
        return (_entry_model(data) for data in self.root.values())

    @property
    def total_size(self) -> int:
        """The size of the version: the bytes of all its files, links included (what a download holds)."""
        return sum(data["size"] for data in self.root.values())

    @property
    def stored_size(self) -> int:
        """The bytes the version stores itself (files that are not links).

        What it adds to its project's usage: a version whose files were deduplicated against the previous
        one may store 0 bytes.
        """
        return sum(data["size"] for data in self.root.values() if "link" not in data)

    def files(self) -> list[str]:
        """Paths of files (links included), without empty-directory entries."""
        return [path for path, data in self.root.items() if data["md5sum"] != ""]

    def linked(self) -> dict[str, LinkTarget]:
        """Paths that are links, with their targets."""
        return {path: _link_model(data["link"]) for path, data in self.root.items() if "link" in data}

    def empty_directories(self) -> list[str]:
        """Paths recorded as empty directories."""
        return [path for path, data in self.root.items() if data["md5sum"] == ""]

    def __repr__(self) -> str:
        return f"Manifest({len(self.root)} entries, total_size={self.total_size})"

    def __str__(self) -> str:
        return repr(self)

    def _repr_html_(self) -> str:
        """The first entries as a table, for notebooks."""
        rows = [
            (path, readable_size(data["size"]), data["md5sum"] or "(empty directory)", _link_text(data))
            for path, data in list(self.root.items())[:_HTML_ROWS]
        ]
        more = f", first {_HTML_ROWS} shown" if len(self.root) > _HTML_ROWS else ""
        caption = (
            f"Manifest: {len(self.root)} entries, {readable_size(self.total_size)}"
            f" ({readable_size(self.stored_size)} stored){more}"
        )
        return _html_table(caption, ("path", "size", "md5sum", "link"), rows)


def readable_size(size: int) -> str:
    """A byte count for people: ``512 B``, ``1.2 KiB``, ``16.0 MiB`` (powers of 1024)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _link_text(data: _EntryData) -> str:
    link = data.get("link")
    return "" if link is None else f"{link['project']}/{link['asset']}/{link['version']}/{link['path']}"


class Summary(_Document):
    """Facts about one upload (``..summary``).

    Attributes:
        upload_user_id (str): Who uploaded the version (the spoofed name when spoofing).
        upload_start (datetime): When the service started handling the upload (timezone-aware).
        upload_finish (datetime): When the transfer finished (timezone-aware).
        on_probation (bool): Whether the version awaits approval.
    """

    model_config = _CONFIG

    upload_user_id: str
    upload_start: Timestamp
    upload_finish: Timestamp
    on_probation: bool = False

    def _repr_html_(self) -> str:
        """The summary as a two-column table, for notebooks."""
        rows = [
            ("uploaded by", self.upload_user_id),
            ("started", _format_timestamp(self.upload_start)),
            ("finished", _format_timestamp(self.upload_finish)),
            ("on probation", self.on_probation),
        ]
        return _html_table("Summary", ("field", "value"), rows)


class Uploader(_Document):
    """Someone allowed to upload to a project or asset.

    Attributes:
        id (str): User name.
        asset (str | None): Restrict the permission to this asset.
        version (str | None): Restrict the permission to this version name.
        until (datetime | None): The permission lapses after this instant.
        trusted (bool | None): Uploads are not forced onto probation when ``True``.
    """

    model_config = _CONFIG

    id: str
    asset: str | None = None
    version: str | None = None
    until: Timestamp | None = None
    trusted: bool | None = None

    def to_json(self) -> dict[str, Any]:
        """The uploader as the service expects it, unset fields left out."""
        return self.model_dump(mode="json", exclude_none=True)


def _none_as_empty(value: Any) -> Any:
    # The service writes "owners": null / "uploaders": null after some rewrites.
    return () if value is None else value


class Permissions(_Document):
    """Owners, uploaders and the global-write flag of a project or asset (``..permissions``).

    Attributes:
        owners (tuple[str, ...]): User names of the owners.
        uploaders (tuple[Uploader, ...]): Uploader entries, in the order the service evaluates them.
        global_write (bool): Whether anyone may create new assets in the project.
    """

    model_config = _CONFIG

    owners: Annotated[tuple[str, ...], BeforeValidator(_none_as_empty)] = ()
    uploaders: Annotated[tuple[Uploader, ...], BeforeValidator(_none_as_empty)] = ()
    global_write: bool = False

    def _repr_html_(self) -> str:
        """Owners and uploaders as a table, for notebooks."""
        rows: list[tuple[object, ...]] = [("owner", owner, "", "", "", "") for owner in self.owners]
        rows += [
            (
                "uploader",
                u.id,
                u.asset or "",
                u.version or "",
                "" if u.until is None else _format_timestamp(u.until),
                "" if u.trusted is None else u.trusted,
            )
            for u in self.uploaders
        ]
        caption = f"Permissions (global write: {'yes' if self.global_write else 'no'})"
        return _html_table(caption, ("role", "user", "asset", "version", "until", "trusted"), rows)


class ServiceInfo(_Document):
    """Where the service keeps its staging directory and registry (``GET /info``).

    Attributes:
        staging (str): Staging directory, as the service was configured.
        registry (str): Registry directory, as the service was configured.
    """

    model_config = _CONFIG

    staging: str
    registry: str


class RerouteChange(_Document):
    """One link changed (or to be changed, in a dry run) by ``reroute_links``.

    Attributes:
        is_copy (bool): ``True`` (JSON key ``copy``) when the link is replaced by a copy of ``source``,
            ``False`` when it is retargeted.
        path (str): Registry path of the link that changes.
        source (str): The doomed file that caused the change.
        usage (int): Bytes added to the project's usage (the file size for copies, else 0).
    """

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    is_copy: bool = Field(alias="copy")
    path: str
    source: str
    usage: int


def manifest_from_mapping(data: Mapping[str, Any]) -> Manifest:
    """Build a :class:`Manifest` from already-decoded JSON."""
    return Manifest.model_validate(dict(data))
