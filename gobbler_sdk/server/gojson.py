"""JSON the way the Go reference reads and writes it.

Decoding, as the reference service does: the top level must be an object or ``null``; keys match fields
case-insensitively (Go's simple case folding, so U+017F long s matches ``s``) with an exact match
preferred and the last duplicate winning; ``null`` means absent; types are strict (a boolean is not a
number and vice versa); ``NaN``/``Infinity`` and trailing data are errors. Callers describe the fields
they accept with a small schema and get back a plain dict holding only the fields that were present and
non-null.

Duplicate keys follow Go's decoder, which decodes the later value *into* the earlier one: a repeated object
keeps the fields the later copy does not mention, and a repeated array reuses the earlier elements (a
``null`` element leaves the earlier element in place). Lone UTF-16 surrogates become U+FFFD, as in Go.

Encoding: compact for HTTP responses, 4-space indented for registry files, with ``<``, ``>``, ``&``,
U+2028 and U+2029 escaped as Go's encoder does, and no trailing newline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .goerrors import go_quote

__all__ = [
    "JSONShapeError",
    "ListOf",
    "MapOf",
    "Schema",
    "Struct",
    "decode_document",
    "decode_request",
    "dumps_compact",
    "dumps_pretty",
    "go_struct_text",
]


@dataclass(frozen=True)
class ListOf:
    """Schema of a JSON array whose elements follow ``item``."""

    item: Spec


@dataclass(frozen=True)
class Struct:
    """Schema of a JSON object with the given fields (unknown keys are ignored).

    Attributes:
        fields: Accepted keys and their specs.
        name: The reference's Go type name for this object (``""`` for an anonymous struct); it appears
            in the decoder's type errors (``Go struct field uploadRequest.on_probation``).
        go_type: How the reference's errors spell the whole type (``main.uploadRequest``, or the
            literal ``struct { ... }`` of an anonymous one); defaults to ``main.<name>``.
    """

    fields: Mapping[str, Spec]
    name: str = ""
    go_type: str = ""

    def type_text(self) -> str:
        """The Go type as the reference's decoder errors print it."""
        return self.go_type or f"main.{self.name}"


@dataclass(frozen=True)
class MapOf:
    """Schema of a JSON object used as a map: any keys (matched exactly), values following ``item``.

    Attributes:
        item: Spec of the values.
        pointers: The reference's map holds pointers (``map[string]*main.linkMetadata``): a ``null``
            value stays ``None`` instead of becoming the zero value.
    """

    item: Spec
    pointers: bool = False


# Scalars are "string", "bool" and "int" (a JSON number without fraction or exponent, as Go's int64).
Spec = str | ListOf | Struct | MapOf
Schema = Struct

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1

# Only these two non-ASCII letters fold onto ASCII letters under Go's simple case folding.
_NON_ASCII_FOLDS = {"\u017f": "S", "\u212a": "K"}

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONShapeError(ValueError):
    """The document is valid JSON but does not fit the schema."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid character {name[0]!r} looking for beginning of value")


class _Obj(list):  # type: ignore[type-arg]
    """A decoded JSON object kept as its ordered list of pairs, duplicates included (Go's last one wins)."""


def _object_hook(pairs: list[tuple[str, Any]]) -> _Obj:
    return _Obj(pairs)


def _fold(name: str) -> str:
    """Go's ``foldName`` restricted to what can ever equal an ASCII field name."""
    if name.isascii():
        return name.upper()
    return "".join(_NON_ASCII_FOLDS.get(c, c.upper() if c.isascii() else c) for c in name)


@lru_cache(maxsize=256)
def _folded_names(names: tuple[str, ...]) -> dict[str, str]:
    return {_fold(name): name for name in names}


def _zero(spec: Spec) -> Any:
    """Go's zero value for an element that a ``null`` left untouched."""
    if spec == "string":
        return ""
    if spec == "bool":
        return False
    if spec == "int":
        return 0
    if isinstance(spec, Struct):
        return {}
    return None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, _Obj):
        return "object"
    if isinstance(value, list):
        return "array"
    return "null"


def go_struct_text(**go_types: str) -> str:
    r"""How Go prints an anonymous struct type whose fields are ``go_types`` (JSON name -> Go type).

    The reference decodes most requests into anonymous structs, and its decoder errors print their type
    literally: ``struct { Project *string "json:\"project\"" }``.
    """
    fields = []
    for json_name, go_type in go_types.items():
        field = "".join(part.capitalize() for part in json_name.split("_"))
        fields.append(f'{field} {go_type} "json:\\"{json_name}\\""')
    return "struct { " + "; ".join(fields) + " }"


def _type_text(spec: Spec) -> str:
    """The Go type the reference decodes ``spec`` into, as its errors name it."""
    if isinstance(spec, str):
        return "int64" if spec == "int" else spec
    if isinstance(spec, ListOf):
        return "[]" + _type_text(spec.item)
    if isinstance(spec, MapOf):
        return ("map[string]*" if spec.pointers else "map[string]") + _type_text(spec.item)
    return spec.type_text()


@dataclass(frozen=True)
class _Where:
    """Where a value sits, as Go's errors say it: the innermost struct's name and the dotted field path."""

    struct: str = ""
    path: str = ""
    top: bool = True


def _mismatch(value: Any, where: _Where, spec: Spec) -> JSONShapeError:
    kind = _kind(value)
    if spec == "int" and kind == "number":
        kind = f"number {value!r}"
    if where.top:
        return JSONShapeError(f"json: cannot unmarshal {kind} into Go value of type {_type_text(spec)}")
    field = f"{where.struct}.{where.path}"
    return JSONShapeError(
        f"json: cannot unmarshal {kind} into Go struct field {field} of type {_type_text(spec)}"
    )


def _convert(value: Any, spec: Spec, where: _Where, existing: Any = None) -> Any:
    """Decode ``value`` against ``spec``, into ``existing`` when a duplicate key already filled it."""
    if value is None:
        return None
    if spec == "string":
        if not isinstance(value, str):
            raise _mismatch(value, where, spec)
        return value
    if spec == "bool":
        if not isinstance(value, bool):
            raise _mismatch(value, where, spec)
        return value
    if spec == "int":
        if isinstance(value, bool) or not isinstance(value, int) or not _INT64_MIN <= value <= _INT64_MAX:
            raise _mismatch(value, where, spec)
        return value
    if isinstance(spec, ListOf):
        if not isinstance(value, list) or isinstance(value, _Obj):
            raise _mismatch(value, where, spec)
        previous = existing if isinstance(existing, list) else []
        out = []
        for index, item in enumerate(value):
            before = previous[index] if index < len(previous) else _zero(spec.item)
            # A null element is a no-op in Go: the element keeps what it held (or its zero value).
            out.append(before if item is None else _convert(item, spec.item, where, before))
        return out
    if isinstance(spec, MapOf):
        if not isinstance(value, _Obj):
            raise _mismatch(value, where, spec)
        # Go adds to an existing map; each value is decoded into a fresh zero value.
        mapping: dict[str, Any] = dict(existing) if isinstance(existing, dict) else {}
        for key, item in value:
            converted = _convert(item, spec.item, where)
            mapping[key] = _zero(spec.item) if converted is None and not spec.pointers else converted
        return mapping
    if isinstance(spec, Struct):
        if not isinstance(value, _Obj):
            raise _mismatch(value, where, spec)
        return _fill(value, spec, where, existing if isinstance(existing, dict) else None)
    raise AssertionError(f"unknown schema kind {spec!r}")


def _fill(pairs: _Obj, spec: Struct, where: _Where, existing: dict[str, Any] | None) -> dict[str, Any]:
    fields = spec.fields
    folded = _folded_names(tuple(fields))
    result: dict[str, Any] = dict(existing) if existing else {}
    for key, value in pairs:
        name = key if key in fields else folded.get(_fold(key))
        if name is None:
            continue
        inner = _Where(spec.name, f"{where.path}.{name}" if where.path else name, top=False)
        converted = _convert(value, fields[name], inner, result.get(name))
        if converted is None:
            result.pop(name, None)
        else:
            result[name] = converted
    return result


def _replace_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, _Obj):
        return _Obj((_replace_surrogates(k), _replace_surrogates(v)) for k, v in value)
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    return value


_WHITESPACE = frozenset(b" \t\r\n")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_DIGITS = frozenset(b"0123456789")
_ESCAPES = frozenset(b'"\\/bfnrtu')
_MAX_DEPTH = 10000


class _GoSyntaxError(ValueError):
    """A document Go's ``json.Unmarshal`` refuses before decoding, with its wording."""


def _quote_byte(byte: int) -> str:
    """Go's ``quoteChar``: the offending byte, read as a code point, in single quotes."""
    if byte == ord("'"):
        return "'\\''"
    if byte == ord('"'):
        return "'\"'"
    return "'" + go_quote(chr(byte))[1:-1] + "'"


class _Scanner:
    """Go's validity check of a whole document (run before decoding, as ``json.Unmarshal`` does)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.depth = 0

    def fail(self, context: str) -> _GoSyntaxError:
        if self.pos >= len(self.data):
            return _GoSyntaxError("unexpected end of JSON input")
        return _GoSyntaxError(f"invalid character {_quote_byte(self.data[self.pos])} {context}")

    def peek(self) -> int:
        return self.data[self.pos] if self.pos < len(self.data) else -1

    def skip_space(self) -> None:
        while self.pos < len(self.data) and self.data[self.pos] in _WHITESPACE:
            self.pos += 1

    def document(self) -> None:
        self.skip_space()
        try:
            self.value()
        except RecursionError:  # Python's stack ends before Go's limit of 10000 levels
            raise _GoSyntaxError("exceeded max depth") from None
        self.skip_space()
        if self.pos < len(self.data):
            raise self.fail("after top-level value")

    def value(self) -> None:
        char = self.peek()
        if char == ord("{"):
            self.container(ord("}"), self.member, "after object key:value pair")
        elif char == ord("["):
            self.container(ord("]"), self.value, "after array element")
        elif char == ord('"'):
            self.string()
        elif char == ord("-") or char in _DIGITS:
            self.number()
        elif char in (ord("t"), ord("f"), ord("n")):
            self.literal({ord("t"): b"true", ord("f"): b"false", ord("n"): b"null"}[char])
        else:
            raise self.fail("looking for beginning of value")

    def container(self, close: int, item: Any, after: str) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _GoSyntaxError("exceeded max depth")
        self.pos += 1
        self.skip_space()
        if self.peek() == close:
            self.pos += 1
            self.depth -= 1
            return
        while True:
            item()
            self.skip_space()
            char = self.peek()
            if char == close:
                self.pos += 1
                self.depth -= 1
                return
            if char != ord(","):
                raise self.fail(after)
            self.pos += 1
            self.skip_space()

    def member(self) -> None:
        if self.peek() != ord('"'):
            raise self.fail("looking for beginning of object key string")
        self.string()
        self.skip_space()
        if self.peek() != ord(":"):
            raise self.fail("after object key")
        self.pos += 1
        self.skip_space()
        self.value()

    def string(self) -> None:
        self.pos += 1
        while True:
            char = self.peek()
            if char == -1:
                raise self.fail("in string literal")
            if char == ord('"'):
                self.pos += 1
                return
            if char < 0x20:
                raise self.fail("in string literal")
            self.pos += 1
            if char == ord("\\"):
                if self.peek() not in _ESCAPES:
                    raise self.fail("in string escape code")
                if self.data[self.pos] == ord("u"):
                    for _ in range(4):
                        self.pos += 1
                        if self.peek() not in _HEX:
                            raise self.fail("in \\u hexadecimal character escape")
                self.pos += 1

    def digits(self, context: str) -> None:
        if self.peek() not in _DIGITS:
            raise self.fail(context)
        while self.peek() in _DIGITS:
            self.pos += 1

    def number(self) -> None:
        if self.peek() == ord("-"):
            self.pos += 1
        if self.peek() == ord("0"):
            self.pos += 1
        else:
            self.digits("in numeric literal")
        if self.peek() == ord("."):
            self.pos += 1
            self.digits("after decimal point in numeric literal")
        if self.peek() in (ord("e"), ord("E")):
            self.pos += 1
            if self.peek() in (ord("+"), ord("-")):
                self.pos += 1
            self.digits("in exponent of numeric literal")

    def literal(self, word: bytes) -> None:
        self.pos += 1
        for expected in word[1:]:
            if self.peek() != expected:
                name = word.decode()
                raise self.fail(f"in literal {name} (expecting {_quote_byte(expected)})")
            self.pos += 1


def _parse(data: bytes) -> Any:
    """Parse a whole document strictly; only whitespace may follow the value."""
    _Scanner(data).document()
    text = data.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text, object_pairs_hook=_object_hook, parse_constant=_reject_constant)
    except (json.JSONDecodeError, RecursionError) as exc:  # only what the scanner let through
        raise ValueError(f"cannot parse JSON; {exc}") from None
    if _SURROGATE_ESCAPE.search(text):
        parsed = _replace_surrogates(parsed)
    return parsed


def decode_request(data: bytes, schema: Schema) -> dict[str, Any]:
    """Decode a request document with Go's semantics.

    Args:
        data: Raw bytes of the request file.
        schema: Accepted fields; nested objects use :class:`Struct`, arrays :class:`ListOf`.

    Returns:
        The fields that were present and not ``null``, under their canonical names.

    Raises:
        ValueError: When the document is not JSON, is not an object, or has a field of the wrong type.
    """
    parsed = _parse(data)
    if parsed is None:
        return {}
    if not isinstance(parsed, _Obj):
        raise _mismatch(parsed, _Where(), schema)
    return _fill(parsed, schema, _Where(), None)


def decode_document(data: bytes, spec: Spec) -> Any:
    """Decode a whole document against ``spec`` (used for registry files such as manifests).

    Returns:
        The converted value; ``None`` when the document is the literal ``null``.

    Raises:
        ValueError: When the document is not JSON or does not fit ``spec``.
    """
    return _convert(_parse(data), spec, _Where())


def _go_escape(text: str) -> str:
    # Lone surrogates are bytes that were not UTF-8 (file names read with surrogateescape): Go's encoder
    # writes each such byte as the escape \ufffd.
    if _SURROGATE.search(text):
        text = _SURROGATE.sub(lambda _: "\\ufffd", text)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def dumps_compact(value: Any) -> bytes:
    """Serialise an HTTP response body: compact, sorted keys, Go escaping."""
    return _go_escape(json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)).encode()


def dumps_pretty(value: Any) -> bytes:
    """Serialise a registry file: 4-space indentation, insertion-ordered keys, Go escaping.

    Callers order record-like objects themselves and sort map-like ones before calling.
    """
    return _go_escape(json.dumps(value, indent=4, ensure_ascii=False)).encode()
