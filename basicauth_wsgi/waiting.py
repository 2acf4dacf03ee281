"""A one-shot wake-up that threads wait on and coroutines await, on any event loop.

The scheduler's waits (for a free check slot, for the end of a check of the
same credentials) are the same whether the waiter is a WSGI thread or an
ASGI task; this is the one primitive both use, so neither polls::

    wakeup = Wakeup()
    threading.Thread(target=wakeup.set).start()
    wakeup.wait(5.0)                  # a thread
    await wakeup.wait_async(5.0)      # a coroutine
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

__all__ = ["Wakeup"]


def _wake(future: asyncio.Future[bool]) -> None:
    if not future.done():  # it may have timed out or been cancelled meanwhile
        future.set_result(True)


def _expire(future: asyncio.Future[bool]) -> None:
    if not future.done():
        future.set_result(False)


class Wakeup:
    """Set once, from any thread; until then threads block in :meth:`wait`, tasks await.

    A coroutine's waiting leaves nothing behind when it times out or is
    cancelled: its future is taken off the list in ``finally``.
    """

    __slots__ = ("_event", "_futures", "_lock")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._futures: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[bool]]] = []

    def set(self) -> None:
        """Wake every waiter, now and later; a second call does nothing."""
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            futures, self._futures = self._futures, []
        for loop, future in futures:
            # A loop that closed meanwhile has nobody left to wake.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_wake, future)

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        """Block this thread until set or ``timeout`` seconds passed; whether it was set."""
        return self._event.wait(timeout)

    async def wait_async(self, timeout: float) -> bool:
        """Await being set, at most ``timeout`` seconds, without blocking the loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        entry = (loop, future)
        with self._lock:
            if self._event.is_set():
                return True
            self._futures.append(entry)
        # Not asyncio.wait_for: it may swallow a cancellation that arrives
        # with the wake-up (bpo-42130); a cancelled waiter must see it.
        timer = loop.call_later(timeout, _expire, future)
        try:
            woken = await future
        finally:
            timer.cancel()
            with self._lock, contextlib.suppress(ValueError):
                self._futures.remove(entry)
        return woken or self._event.is_set()
