"""Plain records of manifest entries for the download path: a tuple per file instead of a model.

A directory download holds every selected file's entry until its file is placed; a pydantic
:class:`~gobbler_sdk.models.ManifestEntry` per entry cost about 0.6 KiB each (its ``__dict__`` and its set
of fields), 60 MiB for 100,000 files. The download path reads only ``size``, ``md5sum`` and ``link``, which
a named tuple sharing the parsed manifest's own strings holds for 64 bytes. Users still get models: a
:class:`~gobbler_sdk.models.Manifest` builds its entries when they are looked at.
"""

from __future__ import annotations

from typing import Annotated, Any, NamedTuple, TypeAlias

from pydantic import BeforeValidator, TypeAdapter, ValidationError

from .models import LinkTarget, Manifest, ManifestEntry, _link_model

__all__ = ["Entry", "FileRecord", "parse_records", "record"]


def _not_null(value: Any) -> Any:
    # A manifest leaves ``link`` out for a plain file; ``null`` is no valid link (as for the model).
    if value is None:
        raise ValueError("a link cannot be null")
    return value


class FileRecord(NamedTuple):
    """What the download path needs of a manifest entry.

    Attributes:
        size: Size in bytes (of the final target for links).
        md5sum: Lower-case hex MD5 (``""`` for an empty directory).
        link: The link's target, when the file is a link.
    """

    size: int
    md5sum: str
    link: Annotated[LinkTarget | None, BeforeValidator(_not_null)] = None

    @property
    def is_directory(self) -> bool:
        """Whether this entry records an empty directory rather than a file."""
        return self.md5sum == ""


#: An entry as the download path takes it: a user's model or a plain record (the same three attributes).
Entry: TypeAlias = "ManifestEntry | FileRecord"


def record(manifest: Manifest, path: str) -> FileRecord | None:
    """The record of ``path``'s entry in ``manifest``, or ``None`` when it has none."""
    data = manifest.root.get(path)
    if data is None:
        return None
    link = data.get("link")
    return FileRecord(data["size"], data["md5sum"], None if link is None else _link_model(link))


_RECORDS: TypeAdapter[dict[str, FileRecord]] = TypeAdapter(dict[str, FileRecord])


def parse_records(data: bytes) -> dict[str, FileRecord]:
    """A manifest's JSON as records, validated by the rules of :class:`~gobbler_sdk.models.Manifest`.

    The records are validated straight from the JSON; an entry with fields the records do not know (which
    the model ignores) takes the model's way, so both accept and refuse the same documents.

    Raises:
        pydantic.ValidationError, ValueError: When the manifest is malformed.
    """
    try:
        return _RECORDS.validate_json(data)
    except ValidationError as exc:
        if not any(error["type"] == "extra_forbidden" for error in exc.errors()):
            raise
    manifest = Manifest.from_json(data)
    return {path: found for path in manifest if (found := record(manifest, path)) is not None}
