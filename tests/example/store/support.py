"""What the store tests share: a pinned clock and a thread runner."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timezone

PINNED = datetime(2026, 11, 29, 8, 15, 2, tzinfo=timezone.utc)
THREAD_JOIN_TIMEOUT = 60.0


def pinned_clock() -> datetime:
    return PINNED


def run_in_threads(count: int, work: Callable[[int], object]) -> list[BaseException]:
    """Run ``work(index)`` in ``count`` threads released together; return their errors."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []
    errors_lock = threading.Lock()

    def runner(index: int) -> None:
        try:
            barrier.wait(timeout=THREAD_JOIN_TIMEOUT)
            work(index)
        except BaseException as exc:
            with errors_lock:
                errors.append(exc)

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=THREAD_JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "worker threads hung"
    return errors
