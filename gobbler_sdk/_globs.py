"""Glob patterns choosing which files of a directory to fetch (``allow_patterns`` / ``ignore_patterns``).

Patterns are matched against ``/``-separated paths relative to the directory being fetched (for a version,
the paths of its manifest), with the rules of ``.gitignore`` files, which is what people write without
thinking:

- ``*`` matches any run of characters except ``/``, ``?`` one character except ``/``, ``[abc]`` /
  ``[!abc]`` one character of (not of) a set, and ``**`` as a whole component any number of directories
  (``data/**/*.csv``).
- A pattern without a ``/`` matches a name at any depth: ``*.csv`` selects every CSV file, in every
  directory, and ``tmp`` every file or directory called ``tmp``.
- A pattern with a ``/`` (other than a trailing one) is anchored at the root: ``tables/*.csv`` selects the
  CSV files directly in ``tables``, not those in ``tables/old/``. A leading ``/`` only anchors.
- A pattern matching a directory matches everything below it (``tables`` or ``tables/``); a trailing
  ``/`` matches directories only.

``huggingface_hub`` uses :func:`fnmatch.fnmatch`, where ``*`` also matches ``/``; that makes ``*.csv``
work at any depth, which the second rule keeps, but it also makes ``tables/*.csv`` reach into every
subdirectory and ``a*`` select all of ``abc/``, which surprises anyone who knows shell globs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from .errors import InvalidRequestError

__all__ = ["PathFilter", "path_filter"]

PathFilter = Callable[[str], bool]


def _component(pattern: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        index += 1
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", index + 1 if pattern[index : index + 1] in ("!", "]") else index)
            if end < 0:
                out.append(re.escape(char))
                continue
            body = pattern[index:end]
            index = end + 1
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
        else:
            out.append(re.escape(char))
    return "".join(out)


class _Pattern:
    def __init__(self, text: str) -> None:
        if not isinstance(text, str) or not text.strip("/"):
            raise InvalidRequestError(f"invalid glob pattern {text!r}")
        self.directory_only = text.endswith("/")
        body = text.strip("/")
        self.anchored = "/" in text.rstrip("/")
        parts = body.split("/")
        pieces: list[str] = []
        for position, part in enumerate(parts):
            last = position == len(parts) - 1
            if part == "**":
                pieces.append(".*" if last else "(?:[^/]+/)*")
            else:
                pieces.append(_component(part) + ("" if last else "/"))
        self.regex = re.compile("".join(pieces) + r"\Z", re.DOTALL)

    def matches(self, path: str, is_dir: bool) -> bool:
        parts = path.split("/")
        # A match of a leading directory selects everything below it.
        for count in range(1, len(parts) + 1):
            is_file = count == len(parts) and not is_dir
            if self.directory_only and is_file:
                continue
            candidate = "/".join(parts[:count]) if self.anchored else parts[count - 1]
            if candidate and self.regex.match(candidate):
                return True
        return False


def _patterns(value: str | Sequence[str] | None, name: str) -> list[_Pattern] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [_Pattern(value)]
    if not isinstance(value, Sequence) or isinstance(value, bytes):
        raise InvalidRequestError(f"{name} must be a pattern or a sequence of patterns, not {value!r}")
    return [_Pattern(item) for item in value]


def path_filter(
    allow_patterns: str | Sequence[str] | None, ignore_patterns: str | Sequence[str] | None
) -> PathFilter | None:
    """A predicate on relative paths (directories end with ``/``): allowed and not ignored.

    A path is selected when it matches one of ``allow_patterns`` (or these are ``None``) and none of
    ``ignore_patterns``.

    Returns:
        ``None`` when neither is given (everything is selected).

    Raises:
        InvalidRequestError: For an empty pattern or a value that is no pattern.
    """
    allowed = _patterns(allow_patterns, "allow_patterns")
    ignored = _patterns(ignore_patterns, "ignore_patterns")
    if allowed is None and ignored is None:
        return None

    def select(path: str) -> bool:
        is_dir = path.endswith("/")
        path = path.rstrip("/")
        if allowed is not None and not any(p.matches(path, is_dir) for p in allowed):
            return False
        return not (ignored and any(p.matches(path, is_dir) for p in ignored))

    return select
