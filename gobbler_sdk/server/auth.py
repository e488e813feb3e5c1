"""Field checks and authorization rules shared by the actions.

The reference words a bad name in four ways depending on the action; :func:`require_name` produces each.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from .._names import name_problem
from .._rfc3339 import parse_rfc3339
from .documents import Permissions
from .errors import RequestError
from .goerrors import go_quote

__all__ = ["authorize_upload", "is_owner", "require_name", "sanitize_uploaders"]

_ARTICLE = {"asset": "an"}


def require_name(fields: dict[str, Any], key: str, request_path: str, *, style: str = "property") -> str:
    """Return the valid name in ``fields[key]`` or raise a 400 worded as the reference's action does.

    Args:
        fields: Decoded request.
        key: ``project``, ``asset`` or ``version``.
        request_path: The request file, which the reference names in these messages.
        style: ``"expected"`` (upload, reindex, validate): ``expected a 'x' property in "<file>"`` /
            ``invalid x name "<name>"; ...``; ``"create"`` (create_project): the same without the name;
            ``"property"``: ``invalid 'x' property in "<file>"; ...``; ``"missing_or_invalid"``
            (set_permissions' project): ``missing or invalid 'x' property in "<file>"; ...``.

    Raises:
        RequestError: 400 when the name is missing or invalid.
    """
    value = fields.get(key)
    where = go_quote(request_path)
    if style in ("expected", "create"):
        if value is None:
            raise RequestError(400, f"expected {_ARTICLE.get(key, 'a')} '{key}' property in {where}")
        problem = name_problem(value)
        if problem is not None:
            named = "" if style == "create" else f" {go_quote(value)}"
            raise RequestError(400, f"invalid {key} name{named}; {problem}")
        return str(value)
    lead = "missing or invalid" if style == "missing_or_invalid" else "invalid"
    problem = "missing name" if value is None else name_problem(value)
    if problem is not None:
        raise RequestError(400, f"{lead} '{key}' property in {where}; {problem}")
    return str(value)


def sanitize_uploaders(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the known keys of each uploader and check ``id`` and ``until`` (6.1).

    Raises:
        ValueError: With the reason to report (callers wrap it in their own 400 message).
    """
    out = []
    for entry in raw:
        if entry.get("id") is None:
            raise ValueError("all entries of 'uploaders' should have an 'id' property")
        until = entry.get("until")
        if until is not None and parse_rfc3339(until) is None:
            raise ValueError("any string in 'uploaders.until' should follow the Internet Date/Time format")
        kept: dict[str, Any] = {
            k: entry[k] for k in ("id", "asset", "version", "until", "trusted") if k in entry
        }
        out.append(kept)
    return out


def is_owner(user: str, permissions: Permissions) -> bool:
    """Whether ``user`` is listed in ``owners``."""
    return user in (permissions.get("owners") or [])


def authorize_upload(
    user: str, is_admin: bool, permissions: Permissions, asset: str, version: str
) -> tuple[bool, bool]:
    """Apply the upload authorization algorithm of 5.4.

    Args:
        user: Effective user.
        is_admin: Whether ``user`` is an administrator.
        permissions: Merged owners and ordered uploaders.
        asset: Asset being uploaded to.
        version: Version being created.

    Returns:
        ``(authorized, trusted)``.
    """
    if is_admin or is_owner(user, permissions):
        return True, True
    now = datetime.now(timezone.utc)
    for entry in permissions.get("uploaders") or []:
        if entry.get("id") != user:
            continue
        if entry.get("asset") is not None and entry["asset"] != asset:
            continue
        if entry.get("version") is not None and entry["version"] != version:
            continue
        until = entry.get("until")
        if until is not None:
            deadline = parse_rfc3339(until)
            if deadline is None or deadline < now:
                continue
        return True, entry.get("trusted") is True
    return False, False
