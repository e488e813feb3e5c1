"""The registry's change feed: the service's journal (``<registry>/..logs``) as typed events.

The service writes one small JSON file per change — a version added (uploaded or approved), deleted or
reindexed, an asset or a project deleted — named after the time it happened, and deletes files older than
seven days once a day. The journal is read through :meth:`GobblerClient.listing
<gobbler_sdk.GobblerClient.listing>` and :meth:`GobblerClient.read_document
<gobbler_sdk.GobblerClient.read_document>`, so it works the same on a mounted registry and over the REST API.

**Completeness.** Events older than the retention (:data:`JOURNAL_RETENTION`) may already be gone, so a
feed asked for changes since an earlier time says so: its :attr:`ChangeFeed.complete` is ``False`` and an
:class:`IncompleteHistoryWarning` is issued when it is made. Nothing else is journalled (project creation,
permission changes, probational uploads, rejections), and the service records whole seconds: events of
the same second come in the order their files were written on a mounted registry, in the order of their
names (random numbers) over the REST API.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ._log import logger
from ._rfc3339 import parse_rfc3339
from .errors import InvalidArgumentError, NotFoundError, ServiceError

if TYPE_CHECKING:
    from .client import GobblerClient

__all__ = [
    "EVENT_TYPES",
    "JOURNAL",
    "JOURNAL_RETENTION",
    "ChangeEvent",
    "ChangeFeed",
    "IncompleteHistoryWarning",
    "changes",
    "follow_changes",
]

#: Registry directory of the journal.
JOURNAL = "..logs"
#: How long the service keeps journal entries (it deletes older ones once a day).
JOURNAL_RETENTION = timedelta(days=7)
#: Journal files read at once over HTTP, and the threads reading them.
_WINDOW = 64
_READERS = 8
#: The event types the service writes.
EVENT_TYPES = ("add-version", "delete-version", "delete-asset", "delete-project", "reindex-version")


class IncompleteHistoryWarning(UserWarning):
    """Changes were asked for since a time older than the journal's retention: some may be missing."""


@dataclass(frozen=True)
class ChangeEvent:
    """One change recorded in the journal.

    Attributes:
        type: ``"add-version"``, ``"delete-version"``, ``"delete-asset"``, ``"delete-project"`` or
            ``"reindex-version"`` (a newer service's other types are passed on as they are).
        project: The project changed.
        asset: The asset changed (``None`` for ``delete-project``).
        version: The version changed (``None`` for ``delete-asset`` and ``delete-project``).
        latest: For version events, whether the version is (for a deletion: was) the asset's latest;
            ``None`` for the others.
        time: When it happened (timezone-aware, whole seconds, the service's offset).
        name: The journal file's name.
    """

    type: str
    project: str
    asset: str | None
    version: str | None
    latest: bool | None
    time: datetime
    name: str

    @property
    def key(self) -> str:
        """``project``, ``project/asset`` or ``project/asset/version``: what the event is about."""
        return "/".join(part for part in (self.project, self.asset, self.version) if part is not None)

    def to_json(self) -> dict[str, Any]:
        """The event as plain JSON data (``time`` in RFC 3339)."""
        return {
            "type": self.type,
            "project": self.project,
            "asset": self.asset,
            "version": self.version,
            "latest": self.latest,
            "time": _format_time(self.time),
        }


def _format_time(moment: datetime) -> str:
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def entry_time(name: str) -> datetime | None:
    """The time in a journal file name (``<RFC 3339>_<number>``), or ``None`` for any other name."""
    stamp, separator, number = name.rpartition("_")
    if not separator or not number.isdigit():
        return None
    return parse_rfc3339(stamp)


def _string(data: dict[str, Any], key: str, name: str, required: bool) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ServiceError(f"journal entry {name} is malformed: {key!r} is not a string")
    return value


def parse_event(name: str, moment: datetime, document: bytes) -> ChangeEvent:
    """The event recorded in one journal file.

    Raises:
        ServiceError: When the file is not a journal entry.
    """
    try:
        data = json.loads(document)
    except ValueError as exc:
        raise ServiceError(f"journal entry {name} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ServiceError(f"journal entry {name} is not a JSON object")
    kind = _string(data, "type", name, True)
    latest = data.get("latest")
    if latest is not None and not isinstance(latest, bool):
        raise ServiceError(f"journal entry {name} is malformed: 'latest' is not a boolean")
    assert kind is not None
    project = _string(data, "project", name, True)
    assert project is not None
    return ChangeEvent(
        type=kind,
        project=project,
        asset=_string(data, "asset", name, kind != "delete-project"),
        version=_string(data, "version", name, kind.endswith("-version")),
        latest=latest,
        time=moment,
        name=name,
    )


def _checked_since(since: datetime) -> datetime:
    if not isinstance(since, datetime):
        raise InvalidArgumentError(f"since must be a datetime, not {type(since).__name__}")
    if since.tzinfo is None:
        raise InvalidArgumentError("since must be timezone-aware (for example datetime(..., tzinfo=UTC))")
    return since


def _entries(client: GobblerClient, since: datetime, force_remote: bool) -> list[tuple[datetime, str]]:
    """``(time, name)`` of the journal files from ``since`` on, in time order."""
    try:
        names = client.listing(JOURNAL, force_remote=force_remote)
    except NotFoundError:
        # A registry whose service never started has no journal yet: nothing happened.
        return []
    # The journal records whole seconds: an event of the second ``since`` falls in is included, or one
    # written 0.7 s into that second (named after its start) would never be listed.
    since = since.replace(microsecond=0)
    found: list[tuple[datetime, int, str]] = []
    # Names carry whole seconds; on a mounted registry the files' modification times order the events of
    # one second (a deletion right after an upload must come after it). Remotely, name order it is.
    mounted = not force_remote and client.transport.kind == "local"
    for name in names:
        moment = entry_time(name)
        if moment is None:
            # Not a journal entry: a temporary file of an interrupted write, a directory, ...
            continue
        if moment >= since:
            found.append((moment, _written_ns(client, name) if mounted else 0, name))
    found.sort()
    return [(moment, name) for moment, _, name in found]


def _written_ns(client: GobblerClient, name: str) -> int:
    try:
        local = client.local_path(f"{JOURNAL}/{name}")
        return 0 if local is None else local.lstat().st_mtime_ns
    except (OSError, NotFoundError):
        return 0


class ChangeFeed:
    """The journal's events from a given time on, in time order (iterate over it).

    The journal is listed when the feed is made; each event's file is read as the iteration reaches it
    (a file purged in between is left out).

    Attributes:
        since: The time the feed starts at.
        complete: ``False`` when ``since`` is older than the journal's retention, so that events between
            ``since`` and :attr:`kept_since` may have been deleted.
        kept_since: The oldest time whose events the journal is sure to still hold (now minus the
            retention).
    """

    def __init__(self, client: GobblerClient, since: datetime, *, force_remote: bool = False) -> None:
        self._client = client
        self._force_remote = force_remote
        self.since = _checked_since(since)
        self.kept_since = datetime.now(timezone.utc) - JOURNAL_RETENTION
        self.complete = self.since >= self.kept_since
        self._entries = _entries(client, self.since, force_remote)
        if not self.complete:
            warnings.warn(
                f"changes since {_format_time(self.since)} may be incomplete: the journal keeps "
                f"{JOURNAL_RETENTION.days} days, so only changes since {_format_time(self.kept_since)} "
                "are sure to be listed",
                IncompleteHistoryWarning,
                stacklevel=3,
            )

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[ChangeEvent]:
        return _read_events(self._client, self._entries, self._force_remote)

    def __repr__(self) -> str:
        state = "complete" if self.complete else "incomplete"
        return f"ChangeFeed(since={_format_time(self.since)}, {len(self._entries)} events, {state})"


def _read_event(client: GobblerClient, moment: datetime, name: str, force_remote: bool) -> ChangeEvent | None:
    try:
        document = client.read_document(f"{JOURNAL}/{name}", force_remote=force_remote)
    except NotFoundError:
        logger.info("journal entry %s was deleted before it could be read", name)
        return None
    return parse_event(name, moment, document)


def _read_events(
    client: GobblerClient, entries: list[tuple[datetime, str]], force_remote: bool
) -> Iterator[ChangeEvent]:
    """The events of ``entries``, in their order.

    Over HTTP each entry is a request of its own, so a window of them is read at a time on a few threads
    (a week of journal can be thousands of files); a mounted registry is read in order on this thread.
    """
    if force_remote or client.transport.kind != "local":
        with ThreadPoolExecutor(max_workers=_READERS, thread_name_prefix="gobbler-journal") as pool:
            for start in range(0, len(entries), _WINDOW):
                window = entries[start : start + _WINDOW]
                read = pool.map(lambda entry: _read_event(client, entry[0], entry[1], force_remote), window)
                yield from (event for event in read if event is not None)
        return
    for moment, name in entries:
        event = _read_event(client, moment, name, force_remote)
        if event is not None:
            yield event


def changes(client: GobblerClient, since: datetime, *, force_remote: bool = False) -> ChangeFeed:
    """The registry's changes from ``since`` on (see :class:`ChangeFeed`).

    Args:
        client: The client to read the journal through.
        since: Timezone-aware start time (inclusive, from the start of its second: the journal records
            whole seconds).
        force_remote: Read through the REST API even when the registry is mounted.

    Raises:
        InvalidArgumentError: When ``since`` is not a timezone-aware datetime.
    """
    return ChangeFeed(client, since, force_remote=force_remote)


def follow_changes(
    client: GobblerClient,
    since: datetime,
    *,
    interval: float = 5.0,
    force_remote: bool = False,
    stop: Callable[[], bool] | None = None,
    sleep: Callable[[float], object] = time.sleep,
) -> Iterator[ChangeEvent]:
    """The changes from ``since`` on, then every new one as it appears, polling every ``interval`` seconds.

    An event is never given twice: the names already given are remembered (as long as the journal holds
    them). An event written late with an earlier time than one already given comes when it is found.

    Args:
        client: The client to read the journal through.
        since: Timezone-aware start time (inclusive); an incomplete start warns as :class:`ChangeFeed` does.
        interval: Seconds between polls.
        force_remote: Read through the REST API even when the registry is mounted.
        stop: Called before each wait; the iteration ends when it returns ``True`` (runs until the
            consumer stops iterating otherwise).
        sleep: How to wait (for tests).

    Raises:
        InvalidArgumentError: When ``since`` is not a timezone-aware datetime or ``interval`` not positive.
    """
    if not interval > 0:
        raise InvalidArgumentError(f"interval must be a positive number of seconds, not {interval!r}")
    feed = ChangeFeed(client, since, force_remote=force_remote)
    given: set[str] = set()
    entries = feed._entries
    while True:
        fresh = [(moment, name) for moment, name in entries if name not in given]
        given.update(name for _, name in fresh)
        yield from _read_events(client, fresh, force_remote)
        if stop is not None and stop():
            return
        sleep(interval)
        entries = _entries(client, feed.since, force_remote)
        # Names purged from the journal will not come back: forgetting them bounds the memory.
        given &= {name for _, name in entries}
