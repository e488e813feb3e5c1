"""Cooperative cancellation of the core's blocking work, for the async client's cancelled tasks.

The async client runs the core's blocking operations on worker threads, and a thread cannot be stopped
from outside. Instead, each operation runs inside a :class:`CancelScope` (a context variable set on the
worker thread), and the core looks at it where stopping is safe: at every chunk of a download and every
file of a copy (through :class:`~gobbler_sdk._progress.Tracker`, which sees both) and just before a
request file is written for the service (:func:`point_of_no_return`). Stopping raises :class:`Cancelled`,
a ``BaseException`` like ``KeyboardInterrupt``, so the cleanup that a Ctrl-C gets (partial files removed,
staging copies removed, connections closed) runs the same way.

Past the point of no return a request may reach the service; cancelling then cannot undo it, and
:meth:`CancelScope.cancel` says so by returning ``False``.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar

__all__ = ["CancelScope", "Cancelled", "checkpoint", "current_scope", "enter", "point_of_no_return"]


class Cancelled(BaseException):
    """The caller of this operation cancelled it; raised on the worker thread at a safe point."""


class CancelScope:
    """Whether one operation has been cancelled, and whether it has gone past its point of no return."""

    __slots__ = ("_cancelled", "_committed", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = False
        self._committed = False

    def cancel(self) -> bool:
        """Ask the operation to stop; ``False`` when a request may already have reached the service."""
        with self._lock:
            if self._committed:
                return False
            self._cancelled = True
            return True

    @property
    def committed(self) -> bool:
        """Whether the operation has passed its point of no return."""
        return self._committed

    def check(self) -> None:
        """Raise :class:`Cancelled` when the operation was cancelled."""
        if self._cancelled:
            raise Cancelled

    def commit(self) -> None:
        """Pass the point of no return, unless cancelled first (then raise :class:`Cancelled`)."""
        with self._lock:
            self.check()
            self._committed = True


_SCOPE: ContextVar[CancelScope | None] = ContextVar("gobbler_cancel_scope", default=None)


def current_scope() -> CancelScope | None:
    """The scope of the operation running on this thread, if it was started by the async client."""
    return _SCOPE.get()


def enter(scope: CancelScope) -> None:
    """Make ``scope`` the current one (called first thing on the worker thread, inside a copied context)."""
    _SCOPE.set(scope)


def checkpoint() -> None:
    """Stop here if the current operation was cancelled."""
    scope = _SCOPE.get()
    if scope is not None:
        scope.check()


def point_of_no_return() -> None:
    """Stop here if cancelled; otherwise from now on cancelling cannot stop the operation."""
    scope = _SCOPE.get()
    if scope is not None:
        scope.commit()
