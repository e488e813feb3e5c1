"""Content types of served files, decided the way Go's file server does.

First the extension: Go's small built-in table, then the system's shared-MIME ``globs2`` database (or,
without one, the ``mime.types`` files), with ``; charset=utf-8`` added to ``text/*`` types. Failing that,
the first 512 bytes are sniffed with the WHATWG rules (HTML and XML markers, binary signatures, then
plain text unless a control byte shows the data is binary).
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["SNIFF_LENGTH", "content_type", "sniff", "type_by_extension"]

SNIFF_LENGTH = 512

# Go's built-in extension table; it takes precedence over the system's MIME database.
_BUILTIN_TYPES = {
    ".avif": "image/avif",
    ".css": "text/css; charset=utf-8",
    ".gif": "image/gif",
    ".htm": "text/html; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".jpeg": "image/jpeg",
    ".jpg": "image/jpeg",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".mjs": "text/javascript; charset=utf-8",
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",
    ".webp": "image/webp",
    ".xml": "text/xml; charset=utf-8",
}
_GLOB_FILES = ("/usr/local/share/mime/globs2", "/usr/share/mime/globs2")
_TYPE_FILES = (
    "/etc/mime.types",
    "/etc/apache2/mime.types",
    "/etc/apache/mime.types",
    "/etc/httpd/conf/mime.types",
)


def _go_ext(name: str) -> str:
    """Go's ``filepath.Ext``: suffix from the last dot of the last element (``.usage`` for ``..usage``)."""
    for index in range(len(name) - 1, -1, -1):
        if name[index] == "/":
            return ""
        if name[index] == ".":
            return name[index:]
    return ""


def _with_charset(mime: str) -> str | None:
    """Normalise a MIME type from a system file as Go's ``setExtensionType`` does, or ``None`` if bad."""
    kind, _, params = mime.partition(";")
    kind = kind.strip().lower()
    if kind.count("/") != 1 or not all(kind.split("/")):
        return None
    if kind.startswith("text/") and "charset" not in params.lower():
        return f"{kind}; charset=utf-8" if not params.strip() else f"{kind};{params}; charset=utf-8"
    return kind if not params.strip() else f"{kind};{params}"


@lru_cache(maxsize=1)
def _type_tables() -> tuple[dict[str, str], dict[str, str]]:
    """Exact-case and lower-case extension tables, loaded once like Go's ``mime`` package."""
    exact = dict(_BUILTIN_TYPES)
    lower = dict(_BUILTIN_TYPES)

    def store(extension: str, mime: str) -> None:
        normalised = _with_charset(mime)
        if normalised is not None:
            exact[extension] = normalised
            lower[extension.lower()] = normalised

    for name in _GLOB_FILES:
        try:
            with open(name, encoding="utf-8", errors="replace") as handle:
                lines = handle.read().splitlines()
        except OSError:
            continue
        for line in lines:
            # weight:type:glob[:flags]; only bare "*.ext" globs, first (heaviest) one wins.
            parts = line.split(":")
            if len(parts) < 3 or not parts[0] or len(parts[2]) < 3:
                continue
            if parts[0].startswith("#") or not parts[2].startswith("*."):
                continue
            extension = parts[2][1:]
            if any(c in extension for c in "?*[") or extension in exact:
                continue
            store(extension, parts[1])
        return exact, lower

    for name in _TYPE_FILES:
        try:
            with open(name, encoding="utf-8", errors="replace") as handle:
                lines = handle.read().splitlines()
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) <= 1 or fields[0].startswith("#"):
                continue
            for extension in fields[1:]:
                if extension.startswith("#"):
                    break
                store("." + extension, fields[0])
    return exact, lower


def _lookup(extension: str) -> str:
    exact, lower = _type_tables()
    if extension in exact:
        return exact[extension]
    return lower.get(extension.lower(), "")


_HTML_TAGS = (
    b"<!DOCTYPE HTML",
    b"<HTML",
    b"<HEAD",
    b"<SCRIPT",
    b"<IFRAME",
    b"<H1",
    b"<DIV",
    b"<FONT",
    b"<TABLE",
    b"<A",
    b"<STYLE",
    b"<TITLE",
    b"<B",
    b"<BODY",
    b"<BR",
    b"<P",
    b"<!--",
)
_EXACT_SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"%!PS-Adobe-", "application/postscript"),
    (b"\xfe\xff", "text/plain; charset=utf-16be"),
    (b"\xff\xfe", "text/plain; charset=utf-16le"),
    (b"\xef\xbb\xbf", "text/plain; charset=utf-8"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
    (b"\x00\x00\x02\x00", "image/x-icon"),
    (b"BM", "image/bmp"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_LATER_SIGNATURES = (
    (b"\x89PNG\x0d\x0a\x1a\x0a", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)
_MEDIA_SIGNATURES = (
    (b"ID3", "audio/mpeg"),
    (b"OggS\x00", "application/ogg"),
    (b"MThd\x00\x00\x00\x06", "audio/midi"),
)
_FONT_AND_ARCHIVE_SIGNATURES = (
    (b"\x00\x01\x00\x00", "font/ttf"),
    (b"OTTO", "font/otf"),
    (b"ttcf", "font/collection"),
    (b"wOFF", "font/woff"),
    (b"wOF2", "font/woff2"),
    (b"\x1f\x8b\x08", "application/x-gzip"),
    (b"PK\x03\x04", "application/zip"),
    (b"Rar!\x1a\x07\x00", "application/x-rar-compressed"),
    (b"Rar!\x1a\x07\x01\x00", "application/x-rar-compressed"),
    (b"\x00\x61\x73\x6d", "application/wasm"),
)
_BINARY_BYTES = frozenset([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x1B), *range(0x1C, 0x20)])
_WHITESPACE = b"\t\n\x0c\r "


def _riff(head: bytes, kind: bytes) -> bool:
    return len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == kind


def _is_mp4(head: bytes) -> bool:
    if len(head) < 12:
        return False
    box = int.from_bytes(head[:4], "big")
    if len(head) < box or box % 4 != 0 or head[4:8] != b"ftyp":
        return False
    for start in range(8, box, 4):
        if start == 12:
            continue  # the minor version
        if head[start : start + 3] == b"mp4":
            return True
    return False


def sniff(head: bytes) -> str:
    """Guess a content type from the first bytes, following the WHATWG sniffing rules Go implements."""
    head = head[:SNIFF_LENGTH]
    trimmed = head.lstrip(_WHITESPACE)
    for tag in _HTML_TAGS:
        candidate = trimmed[: len(tag)]
        if len(trimmed) > len(tag) and candidate.upper() == tag and trimmed[len(tag)] in b" >":
            return "text/html; charset=utf-8"
    if trimmed.startswith(b"<?xml"):
        return "text/xml; charset=utf-8"
    for magic, kind in _EXACT_SIGNATURES:
        if head.startswith(magic):
            return kind
    if len(head) >= 14 and head[:4] == b"RIFF" and head[8:14] == b"WEBPVP":
        return "image/webp"
    for magic, kind in _LATER_SIGNATURES:
        if head.startswith(magic):
            return kind
    if len(head) >= 12 and head[:4] == b"FORM" and head[8:12] == b"AIFF":
        return "audio/aiff"
    for magic, kind in _MEDIA_SIGNATURES:
        if head.startswith(magic):
            return kind
    if _riff(head, b"AVI "):
        return "video/avi"
    if _riff(head, b"WAVE"):
        return "audio/wave"
    if _is_mp4(head):
        return "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    if len(head) >= 36 and head[34:36] == b"LP":
        return "application/vnd.ms-fontobject"
    for magic, kind in _FONT_AND_ARCHIVE_SIGNATURES:
        if head.startswith(magic):
            return kind
    if not any(byte in _BINARY_BYTES for byte in head):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


def type_by_extension(name: str) -> str:
    """Content type for a file name's extension (Go's ``mime.TypeByExtension``), ``""`` when unknown.

    The exact-case extension is tried first, then its lower-case form.
    """
    return _lookup(_go_ext(name))


def content_type(name: str, head: bytes) -> str:
    """Content type of a served file: by extension of ``name`` when known, else sniffed from ``head``."""
    return type_by_extension(name) or sniff(head)
