"""JSON the way the Go reference reads and writes it.

Decoding (PROTOCOL.md 4.6): the top level must be an object or ``null``; keys match fields
case-insensitively with an exact match preferred and the last duplicate winning; ``null`` means absent;
types are strict (a boolean is not a number and vice versa); ``NaN``/``Infinity`` and trailing data are
errors. Callers describe the fields they accept with a small schema and get back a plain dict holding only
the fields that were present and non-null.

Encoding: compact for HTTP responses, 4-space indented for registry files, with ``<``, ``>``, ``&``,
U+2028 and U+2029 escaped as Go's encoder does, and no trailing newline.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
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


class JSONShapeError(ValueError):
    """The document is valid JSON but does not fit the schema."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON literal {name}")


class _Obj(list):  # type: ignore[type-arg]
    """A decoded JSON object kept as its ordered list of pairs, duplicates included (Go's last one wins)."""


def _object_hook(pairs: list[tuple[str, Any]]) -> _Obj:
    return _Obj(pairs)


def _convert(value: Any, spec: Spec, where: str) -> Any:
    if value is None:
        return None
    if spec == "string":
        if not isinstance(value, str):
            raise JSONShapeError(f"cannot unmarshal {_kind(value)} into field {where} of type string")
        return value
    if spec == "bool":
        if not isinstance(value, bool):
            raise JSONShapeError(f"cannot unmarshal {_kind(value)} into field {where} of type bool")
        return value
    if spec == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise JSONShapeError(f"cannot unmarshal {_kind(value)} into field {where} of type int64")
        return value
    if isinstance(spec, ListOf):
        if not isinstance(value, list) or isinstance(value, _Obj):
            raise JSONShapeError(f"cannot unmarshal {_kind(value)} into field {where} of type array")
        out = []
        for item in value:
            converted = _convert(item, spec.item, where)
            if converted is None:
                # Go decodes null into a zero value inside arrays.
                zeros: dict[str, Any] = {"string": "", "bool": False, "int": 0}
                # Schema objects hold mappings and are unhashable: only scalar names index the table.
                converted = zeros[spec.item] if isinstance(spec.item, str) else {}
            out.append(converted)
        return out
    if isinstance(spec, MapOf):
        if not isinstance(value, _Obj):
            raise JSONShapeError(f"cannot unmarshal {_kind(value)} into field {where} of type map")
        mapping: dict[str, Any] = {}
        for key, item in value:
            mapping[key] = _convert(item, spec.item, f"{where}[{key}]")
        return mapping
    if isinstance(spec, Struct):
        if not isinstance(value, _Obj):
            raise JSONShapeError(f"cannot unmarshal {_kind(value)} into field {where} of type object")
        return _fill(value, spec.fields, where)
    raise AssertionError(f"unknown schema kind {spec!r}")


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


def _fill(pairs: _Obj, fields: Mapping[str, Spec], where: str) -> dict[str, Any]:
    folded = {name.lower(): name for name in fields}
    result: dict[str, Any] = {}
    for key, value in pairs:
        name = key if key in fields else folded.get(key.lower())
        if name is None:
            continue
        path = f"{where}.{name}" if where else name
        converted = _convert(value, fields[name], path)
        if converted is None:
            result.pop(name, None)
        else:
            result[name] = converted
    return result


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
    text = data.decode("utf-8", errors="replace")
    parsed = json.loads(text, object_pairs_hook=_object_hook, parse_constant=_reject_constant)
    if parsed is None:
        return {}
    if not isinstance(parsed, _Obj):
        raise JSONShapeError(f"cannot unmarshal {_kind(parsed)} into a request object")
    return _fill(parsed, schema, "")


def decode_document(data: bytes, spec: Spec) -> Any:
    """Decode a whole document against ``spec`` (used for registry files such as manifests).

    Returns:
        The converted value; ``None`` when the document is the literal ``null``.

    Raises:
        ValueError: When the document is not JSON or does not fit ``spec``.
    """
    text = data.decode("utf-8", errors="replace")
    parsed = json.loads(text, object_pairs_hook=_object_hook, parse_constant=_reject_constant)
    return _convert(parsed, spec, "")


def _go_escape(text: str) -> str:
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def dumps_compact(value: Any) -> bytes:
    """Serialise an HTTP response body: compact, sorted keys, Go escaping."""
    return _go_escape(json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)).encode(
        "utf-8", errors="surrogateescape"
    )


def dumps_pretty(value: Any) -> bytes:
    """Serialise a registry file: 4-space indentation, insertion-ordered keys, Go escaping.

    Callers order record-like objects themselves and sort map-like ones before calling.
    """
    return _go_escape(json.dumps(value, indent=4, ensure_ascii=False)).encode(
        "utf-8", errors="surrogateescape"
    )
