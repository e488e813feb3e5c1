"""JSON the way the Go reference reads and writes it.

Decoding (PROTOCOL.md 4.6): the top level must be an object or ``null``; keys match fields
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
]


@dataclass(frozen=True)
class ListOf:
    """Schema of a JSON array whose elements follow ``item``."""

    item: Spec


@dataclass(frozen=True)
class Struct:
    """Schema of a JSON object with the given fields (unknown keys are ignored)."""

    fields: Mapping[str, Spec]


@dataclass(frozen=True)
class MapOf:
    """Schema of a JSON object used as a map: any keys (matched exactly), values following ``item``."""

    item: Spec


# Scalars are "string", "bool" and "int" (a JSON number without fraction or exponent, as Go's int64).
Spec = str | ListOf | Struct | MapOf
Schema = Mapping[str, Spec]

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


def _mismatch(value: Any, where: str, go_type: str) -> JSONShapeError:
    field = f" into field {where}" if where else ""
    return JSONShapeError(f"json: cannot unmarshal {_kind(value)}{field} of type {go_type}")


def _convert(value: Any, spec: Spec, where: str, existing: Any = None) -> Any:
    """Decode ``value`` against ``spec``, into ``existing`` when a duplicate key already filled it."""
    if value is None:
        return None
    if spec == "string":
        if not isinstance(value, str):
            raise _mismatch(value, where, "string")
        return value
    if spec == "bool":
        if not isinstance(value, bool):
            raise _mismatch(value, where, "bool")
        return value
    if spec == "int":
        if isinstance(value, bool) or not isinstance(value, int) or not _INT64_MIN <= value <= _INT64_MAX:
            raise _mismatch(value, where, "int64")
        return value
    if isinstance(spec, ListOf):
        if not isinstance(value, list) or isinstance(value, _Obj):
            raise _mismatch(value, where, "array")
        previous = existing if isinstance(existing, list) else []
        out = []
        for index, item in enumerate(value):
            before = previous[index] if index < len(previous) else _zero(spec.item)
            # A null element is a no-op in Go: the element keeps what it held (or its zero value).
            out.append(before if item is None else _convert(item, spec.item, where, before))
        return out
    if isinstance(spec, MapOf):
        if not isinstance(value, _Obj):
            raise _mismatch(value, where, "map")
        # Go adds to an existing map; each value is decoded into a fresh zero value.
        mapping: dict[str, Any] = dict(existing) if isinstance(existing, dict) else {}
        for key, item in value:
            converted = _convert(item, spec.item, f"{where}[{key}]")
            mapping[key] = _zero(spec.item) if converted is None else converted
        return mapping
    if isinstance(spec, Struct):
        if not isinstance(value, _Obj):
            raise _mismatch(value, where, "object")
        return _fill(value, spec.fields, where, existing if isinstance(existing, dict) else None)
    raise AssertionError(f"unknown schema kind {spec!r}")


def _fill(
    pairs: _Obj, fields: Mapping[str, Spec], where: str, existing: dict[str, Any] | None
) -> dict[str, Any]:
    folded = _folded_names(tuple(fields))
    result: dict[str, Any] = dict(existing) if existing else {}
    for key, value in pairs:
        name = key if key in fields else folded.get(_fold(key))
        if name is None:
            continue
        path = f"{where}.{name}" if where else name
        converted = _convert(value, fields[name], path, result.get(name))
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


def _syntax_message(exc: json.JSONDecodeError) -> str:
    """Word a syntax error the way Go's decoder does."""
    if exc.pos >= len(exc.doc.rstrip(" \t\r\n")):
        return "unexpected end of JSON input"
    char = exc.doc[exc.pos]
    if exc.msg.startswith("Extra data"):
        return f"invalid character {char!r} after top-level value"
    if exc.msg.startswith("Expecting property name"):
        return f"invalid character {char!r} looking for beginning of object key string"
    if exc.msg.startswith("Expecting value"):
        return f"invalid character {char!r} looking for beginning of value"
    return f"invalid character {char!r} ({exc.msg.lower()})"


def _parse(data: bytes) -> Any:
    """Parse a whole document strictly; only whitespace may follow the value."""
    text = data.decode("utf-8", errors="replace")
    if text.strip(" \t\r\n") == "":
        raise ValueError("unexpected end of JSON input")
    try:
        parsed = json.loads(text, object_pairs_hook=_object_hook, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(_syntax_message(exc)) from None
    except RecursionError:
        raise ValueError("exceeded max depth") from None
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
        raise JSONShapeError(f"json: cannot unmarshal {_kind(parsed)} into a request object")
    return _fill(parsed, schema, "", None)


def decode_document(data: bytes, spec: Spec) -> Any:
    """Decode a whole document against ``spec`` (used for registry files such as manifests).

    Returns:
        The converted value; ``None`` when the document is the literal ``null``.

    Raises:
        ValueError: When the document is not JSON or does not fit ``spec``.
    """
    return _convert(_parse(data), spec, "")


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
