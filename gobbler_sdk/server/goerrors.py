"""How the reference words the texts inside its reasons: Go's ``%q`` quoting and Go's OS errors.

The reference builds every reason with Go's ``fmt`` and standard library, so the embedded service writes
them here and nowhere else: :func:`go_quote` is ``strconv.Quote`` (``%q``), :func:`os_error_text` is the
``Error()`` of Go's ``*fs.PathError`` (``open /x: no such file or directory``), :func:`link_error_text`
that of ``*os.LinkError`` (``rename /a /b: file exists``) and :func:`time_parse_error_text` that of
``*time.ParseError`` for an RFC 3339 time.
"""

from __future__ import annotations

import errno as _errno
import os

from .._rfc3339 import LAYOUT, RFC3339Error

__all__ = [
    "go_quote",
    "go_remove",
    "link_error_text",
    "os_error_detail",
    "os_error_text",
    "read_dir_error_text",
    "read_file_error_text",
    "time_parse_error_text",
]

_SHORT_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_quote(text: str) -> str:
    r"""Quote ``text`` as Go's ``%q`` does (``strconv.Quote``).

    Printable characters stay as they are (Go's and Python's notions of printable agree: letters, marks,
    numbers, punctuation, symbols and the ASCII space); the others are escaped. Lone surrogates are bytes of
    a file name that were not UTF-8 (``surrogateescape``), which Go prints as ``\xHH``.
    """
    out = ['"']
    for char in text:
        code = ord(char)
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char.isprintable():
            out.append(char)
        elif char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def os_error_detail(exc: OSError | ValueError) -> str:
    """The system's error text in Go's spelling (its syscall table: lower-case glibc texts).

    A ``ValueError`` is what Python raises for a path with a NUL byte, which the kernel would reject as an
    invalid argument.
    """
    if isinstance(exc, OSError) and exc.errno is not None:
        if exc.errno == _errno.ENOENT:
            return "no such file or directory"
        detail = os.strerror(exc.errno)
        return detail[:1].lower() + detail[1:]
    if isinstance(exc, ValueError):
        return "invalid argument"
    return str(exc)


def os_error_text(operation: str, path: str, exc: OSError | ValueError) -> str:
    """Go's ``*PathError`` text: ``<operation> <path>: <error text>`` (``lstat /x: file name too long``)."""
    return f"{operation} {path}: {os_error_detail(exc)}"


def link_error_text(operation: str, old: str, new: str, exc: OSError | ValueError) -> str:
    """Go's ``*LinkError`` text for two-path calls: ``rename <old> <new>: <error text>``."""
    return f"{operation} {old} {new}: {os_error_detail(exc)}"


def read_file_error_text(path: str, exc: OSError | ValueError) -> str:
    """The error of Go's ``os.ReadFile``: a directory opens fine there and fails on ``read``."""
    is_directory = isinstance(exc, OSError) and exc.errno == _errno.EISDIR
    return os_error_text("read" if is_directory else "open", path, exc)


def read_dir_error_text(path: str, exc: OSError | ValueError) -> str:
    """The error of Go's ``os.ReadDir``: a regular file opens fine there and fails on ``readdirent``."""
    is_file = isinstance(exc, OSError) and exc.errno == _errno.ENOTDIR
    return os_error_text("readdirent" if is_file else "open", path, exc)


def go_remove(path: str) -> None:
    """Remove a file or an empty directory as Go's ``os.Remove`` does, raising the error it would report.

    Go tries ``unlink`` and then ``rmdir``, and reports the ``rmdir`` error unless that one only says the
    path is not a directory; format the raised error with ``os_error_text("remove", path, exc)``.

    Raises:
        OSError: When neither call removes ``path``.
    """
    try:
        os.unlink(path)
        return
    except OSError as unlink_error:
        try:
            os.rmdir(path)
            return
        except OSError as rmdir_error:
            if rmdir_error.errno != _errno.ENOTDIR:
                raise rmdir_error from None
            raise unlink_error from None


def _time_quote(text: str) -> str:
    r"""Quote as Go's ``time`` package does in its errors: non-ASCII and control bytes as ``\xHH``."""
    out = ['"']
    for char in text:
        if char < " " or char > "\x7f":
            data = char.encode("utf-8", "surrogateescape")
            out.extend(f"\\x{byte:02x}" for byte in data)
        elif char in ('"', "\\"):
            out.append("\\" + char)
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def time_parse_error_text(value: str, error: RFC3339Error) -> str:
    """Go's ``time.ParseError`` text for ``value`` read with the RFC 3339 layout.

    ``parsing time "bad" as "2006-01-02T15:04:05Z07:00": cannot parse "bad" as "2006"``, or for a value
    out of range or trailing text ``parsing time "2020-13-01T00:00:00Z": month out of range``.
    """
    head = f"parsing time {_time_quote(value)}"
    if error.message:
        tail = _time_quote(error.extra) if error.extra is not None else ""
        return f"{head}{error.message}{tail}"
    element, expected = _time_quote(error.element), _time_quote(error.expected)
    return f"{head} as {_time_quote(LAYOUT)}: cannot parse {element} as {expected}"
