"""Running the core's blocking operations for coroutines: a bounded pool, cancellation, no stalled loop.

Each operation of the async client is one call into the core (the code the sync client runs), made on one
of the client's worker threads; the event loop only awaits its result. The pool's size bounds how many
operations run at once (and so the connections they hold); more wait their turn without a thread.

Cancelling the awaiting task stops the operation at its next safe point (the next chunk of a download, the
next file of a copy; see :mod:`gobbler_sdk._cancel`), and the task waits for the worker's cleanup before it
re-raises ``CancelledError``, so nothing half-written is left behind. A cancellation that arrives after a
request was handed to the service cannot be honoured: the task then raises
:class:`~gobbler_sdk.errors.OutcomeUnknownError` (the request is never resent), or, when the answer has
already come, returns it.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from .._cancel import CancelScope, enter
from ..errors import OutcomeUnknownError

__all__ = ["Offload"]

T = TypeVar("T")


class Offload:
    """The async client's worker threads.

    Args:
        workers: Operations run at once at most.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._running: set[Future[Any]] = set()
        self._when_idle: list[Callable[[], None]] = []

    def _executor(self) -> ThreadPoolExecutor:
        # Made on first use (and again after close), so a client can be built outside a running loop.
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="gobbler-async")
        return self._pool

    async def run(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Await ``function(*args, **kwargs)`` run on a worker thread, cancellable as described above."""
        loop = asyncio.get_running_loop()
        scope = CancelScope()

        def work() -> T:
            enter(scope)
            return function(*args, **kwargs)

        # A copy of the caller's context per call: the scope is set in it on the worker thread only.
        submitted = self._executor().submit(contextvars.copy_context().run, work)
        with self._lock:
            self._running.add(submitted)
        submitted.add_done_callback(self._finished)
        future = asyncio.wrap_future(submitted, loop=loop)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if scope.cancel():
                await _settled(future)
                raise
            if future.done() and not future.cancelled():
                # The answer came before the cancellation could stop anything: report what happened.
                _uncancel()
                return future.result()
            _uncancel()
            raise OutcomeUnknownError(
                f"{_describe(function)} was cancelled after its request was handed to the service, so it "
                "MAY HAVE BEEN APPLIED; it was not resent (the service's answer is no longer awaited). "
                "Check the registry before trying again"
            ) from None

    def close(self, then: Callable[[], None]) -> None:
        """Stop taking work, and call ``then`` once no operation runs any more (at once when none does).

        Operations past their point of no return finish in the background first: a submission awaiting
        the service's answer keeps the connection it was sent on.
        """
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            if self._running:
                self._when_idle.append(then)
                return
        then()

    def _finished(self, future: Future[Any]) -> None:
        with self._lock:
            self._running.discard(future)
            waiting = [] if self._running else self._when_idle
            if waiting:
                self._when_idle = []
        for callback in waiting:
            callback()


async def _settled(future: asyncio.Future[Any]) -> None:
    """Wait until a cancelled operation's worker has stopped and cleaned up, whatever it raised."""
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            # Cancelled again while cleaning up: the cleanup still has to finish before anyone moves on.
            continue
        except BaseException:
            break


def _uncancel() -> None:
    # The cancellation is turned into an answer or an error; leaving it counted would confuse the
    # structured-concurrency helpers (asyncio.timeout, TaskGroup) that look at the count.
    task = asyncio.current_task()
    if task is not None and hasattr(task, "uncancel"):
        task.uncancel()


def _describe(function: Callable[..., Any]) -> str:
    owner = getattr(function, "__self__", None)
    name = getattr(function, "__name__", "the operation")
    return f"{owner!r}.{name}()" if owner is not None else f"{name}()"
