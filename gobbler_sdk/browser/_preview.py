"""Previews of registry files, bounded in bytes and time: every byte comes from ranged reads.

:func:`preview` picks a kind from the file name and reads only what that kind shows: the head of a text
file, the first rows of a CSV/TSV file, the footer and first rows of a Parquet file (through pyarrow, which
seeks in a file object whose reads are ranged requests), the decompressed head of a ``.gz`` file. Images
are shown by the page from the download endpoint; SVG and HTML are shown as escaped source text, never
rendered. All of it runs in a worker thread, with a :class:`~._source.RangeReader` enforcing the bounds.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import zlib
from dataclasses import dataclass, field
from typing import Any, Literal

from ..cli.output import human_size
from ._source import PreviewLimitError, RangeReader

__all__ = ["IMAGE_TYPES", "LIMITS", "Preview", "image_type", "preview"]


@dataclass(frozen=True)
class _Limits:
    text_bytes: int = 64 * 1024
    text_lines: int = 400
    table_rows: int = 50
    table_columns: int = 60
    cell_chars: int = 200
    json_bytes: int = 256 * 1024
    gzip_input: int = 1024 * 1024
    parquet_bytes: int = 8 * 1024 * 1024
    image_bytes: int = 16 * 1024 * 1024
    seconds: float = 5.0


#: The bounds every preview keeps to.
LIMITS = _Limits()

#: Raster image types shown inline (by extension); never SVG, which is a document that can hold scripts.
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
}

# Text formats shown as their first lines: genomics formats, markup and code (shown as source, escaped).
_TEXT = {
    ".txt", ".md", ".rst", ".log", ".json", ".jsonl", ".ndjson", ".yaml", ".yml", ".toml", ".ini", ".cfg",
    ".xml", ".svg", ".html", ".htm", ".py", ".r", ".sh", ".js", ".css", ".tex",
    ".fa", ".fasta", ".fna", ".faa", ".ffn", ".fq", ".fastq", ".vcf", ".bed", ".gff", ".gff3", ".gtf",
    ".sam", ".mtx",
}  # fmt: skip
_DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
_PARQUET = {".parquet", ".pq"}
_GZIP = {".gz", ".bgz"}


@dataclass
class Preview:
    """What the file page shows of a file's content.

    Attributes:
        kind: ``"text"``, ``"table"``, ``"parquet"``, ``"image"`` or ``"none"``.
        note: One line saying what is shown (how much of the file, or why nothing).
        text: The text shown (``"text"``).
        columns: Column names (``"table"``, ``"parquet"``).
        rows: Cells as text (``"table"``, ``"parquet"``).
        schema: ``(column, type)`` pairs (``"parquet"``).
        read_bytes: Bytes read from the registry for this preview.
    """

    kind: Literal["text", "table", "parquet", "image", "none"]
    note: str
    text: str | None = None
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    schema: list[tuple[str, str]] = field(default_factory=list)
    read_bytes: int = 0


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def image_type(name: str) -> str | None:
    """The content type of a raster image shown inline, by file name; ``None`` for anything else."""
    return IMAGE_TYPES.get(_suffix(name))


def preview(reader: RangeReader, name: str) -> Preview:
    """The preview of the file ``reader`` reads, chosen by its ``name`` (call in a worker thread).

    Never raises for a file's content: a preview that hits its bounds or cannot parse says so in its note.
    """
    suffix = _suffix(name)
    try:
        if suffix in IMAGE_TYPES:
            if reader.size > LIMITS.image_bytes:
                return Preview("none", f"image of {human_size(reader.size)}: too large to show; download it")
            return Preview("image", f"image, {human_size(reader.size)}")
        if suffix in _PARQUET:
            return _parquet(reader)
        if suffix in _GZIP:
            inner = name[: -len(suffix)]
            data, complete = _gunzip_head(reader)
            return _from_bytes(data, complete, inner, f"a {human_size(reader.size)} gzip file, decompressed")
        if suffix in _DELIMITERS or suffix in _TEXT:
            wanted = LIMITS.json_bytes if suffix == ".json" else LIMITS.text_bytes
            data = reader(0, wanted)
            return _from_bytes(data, len(data) == reader.size, name, f"{human_size(reader.size)}")
        head = reader(0, min(LIMITS.text_bytes, reader.size))
        if _looks_binary(head):
            return Preview("none", "binary file: no preview; download it", read_bytes=reader.read_bytes)
        return _from_bytes(head, len(head) == reader.size, name, human_size(reader.size))
    except PreviewLimitError as exc:
        return Preview("none", f"no preview: {exc}", read_bytes=reader.read_bytes)


def _looks_binary(head: bytes) -> bool:
    if b"\x00" in head[:8192]:
        return True
    try:
        head[:8192].decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the end of the sample is still text.
        return exc.start < len(head[:8192]) - 4
    return False


def _from_bytes(data: bytes, complete: bool, name: str, whole: str) -> Preview:
    """A text or table preview of ``data``, the first bytes (all when ``complete``) of the file ``name``."""
    suffix = _suffix(name)
    if _looks_binary(data):
        return Preview("none", "binary content: no preview; download it", read_bytes=len(data))
    text = data.decode("utf-8", errors="replace")
    delimiter = _DELIMITERS.get(suffix)
    if delimiter is not None:
        return _table(text, complete, delimiter, whole)
    if suffix == ".json" and complete:
        # Not valid JSON after all: shown as it is, since a preview never fails on content.
        with contextlib.suppress(ValueError):
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    lines = text.splitlines()
    if not complete and len(lines) > 1:
        lines = lines[:-1]  # the last line was cut by the byte bound
    shown = lines[: LIMITS.text_lines]
    cut = len(shown) < len(lines) or not complete
    note = f"first {len(shown)} lines of {whole}" if cut else f"all {len(shown)} lines ({whole})"
    return Preview("text", note, text="\n".join(shown))


def _table(text: str, complete: bool, delimiter: str, whole: str) -> Preview:
    lines = text.splitlines()
    if not complete and len(lines) > 1:
        lines = lines[:-1]
    rows: list[list[str]] = []
    try:
        for row in csv.reader(lines[: LIMITS.table_rows + 1], delimiter=delimiter):
            rows.append([_cell(cell) for cell in row[: LIMITS.table_columns]])
    except csv.Error as exc:
        return Preview(
            "text", f"not a well-formed table ({exc}); first lines shown", text="\n".join(lines[:50])
        )
    if not rows:
        return Preview("text", f"empty table ({whole})", text="")
    columns, body = rows[0], rows[1:]
    more = not complete or len(lines) > LIMITS.table_rows + 1
    note = f"first {len(body)} rows of {whole}" if more else f"all {len(body)} rows ({whole})"
    return Preview("table", note, columns=columns, rows=body)


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value) if isinstance(value, bytes) else str(value)
    return text if len(text) <= LIMITS.cell_chars else text[: LIMITS.cell_chars] + "…"


def _gunzip_head(reader: RangeReader) -> tuple[bytes, bool]:
    """The first decompressed bytes of a gzip file (members after the first too, as bgzip writes them)."""
    out = bytearray()
    position = 0
    decompressor = zlib.decompressobj(wbits=31)
    step = 64 * 1024
    while len(out) < LIMITS.text_bytes and position < reader.size:
        if position >= LIMITS.gzip_input:
            break
        chunk = reader(position, position + step)
        position += len(chunk)
        pending = chunk
        while pending and len(out) < LIMITS.text_bytes:
            try:
                out += decompressor.decompress(pending, LIMITS.text_bytes - len(out))
            except zlib.error as exc:
                raise PreviewLimitError(f"not valid gzip data ({exc})") from None
            if decompressor.eof:
                pending = decompressor.unused_data
                decompressor = zlib.decompressobj(wbits=31)
            else:
                pending = decompressor.unconsumed_tail
    complete = position >= reader.size and len(out) < LIMITS.text_bytes
    return bytes(out), complete


class _RangedFile(io.RawIOBase):
    """A seekable read-only file whose every read is a ranged read (what pyarrow needs for footers)."""

    def __init__(self, reader: RangeReader) -> None:
        super().__init__()
        self._reader = reader
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._reader.size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        data = self._reader(self._position, self._position + len(view))
        view[: len(data)] = data
        self._position += len(data)
        return len(data)


def _parquet(reader: RangeReader) -> Preview:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return Preview("none", "Parquet previews need pyarrow (pip install pyarrow)")
    try:
        # No pre-buffering: it would coalesce the column chunks of every row group into one large read.
        parquet = pq.ParquetFile(_RangedFile(reader), pre_buffer=False)
    except PreviewLimitError:
        raise  # reported by preview() like every bound
    except Exception as exc:  # pyarrow raises its own error types for files that are not Parquet
        return Preview("none", f"not a readable Parquet file: {exc}", read_bytes=reader.read_bytes)
    schema = [(f.name, str(f.type)) for f in parquet.schema_arrow]
    metadata = parquet.metadata
    whole = f"{metadata.num_rows} rows, {metadata.num_row_groups} row group(s), {human_size(reader.size)}"
    names = [name for name, _ in schema[: LIMITS.table_columns]]
    rows: list[list[str]] = []
    stopped = ""
    try:
        # Row groups are read one after the other, as the batches are taken: the first rows read the
        # column chunks of the first row group (or the first few), never the rest of the file.
        for batch in parquet.iter_batches(
            batch_size=LIMITS.table_rows, row_groups=range(metadata.num_row_groups), columns=names
        ):
            columns = batch.to_pydict()
            rows += [[_cell(columns[name][i]) for name in names] for i in range(batch.num_rows)]
            if len(rows) >= LIMITS.table_rows:
                break
    except Exception as exc:  # a bound, or a corrupt column chunk: the schema is still worth showing
        stopped = f" ({exc})"
    rows = rows[: LIMITS.table_rows]
    shown = f"schema and first {len(rows)} rows" if rows else "schema only"
    note = f"{shown}{stopped}; {whole}"
    return Preview("parquet", note, columns=names, rows=rows, schema=schema, read_bytes=reader.read_bytes)
