"""The throttle under concurrent requests."""

from __future__ import annotations

import sys
import threading
from typing import Any

from helpers import CLIENT, Clock, Recorder, basic, call

from basicauth_wsgi import BasicAuth
from basicauth_wsgi.throttle import (
    Throttle,
    Verdict,
    client_key,
    user_key,
)

from .support import FULL, T0, CountingUsers, counts, memory, newest, wrong

# -- threads ----------------------------------------------------------------


def run_threads(target: Any, count: int = 8) -> None:
    """Start ``count`` threads on ``target`` together, with frequent switches."""
    barrier = threading.Barrier(count)

    def start() -> None:
        barrier.wait(timeout=10)
        target()

    threads = [threading.Thread(target=start) for _ in range(count)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # interleave as often as the interpreter can
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        sys.setswitchinterval(interval)
    assert not any(thread.is_alive() for thread in threads)


def test_concurrent_failures_are_all_counted() -> None:
    per_thread = 2000
    clock = Clock(T0)
    throttle = Throttle(per_client=8 * per_thread, per_user=65535, clock=clock)
    verdicts: list[Verdict] = []

    def hammer() -> None:
        for _ in range(per_thread):
            verdicts.extend(throttle.failure("203.0.113.9", "admin"))

    run_threads(hammer)
    store = memory(throttle)
    assert counts(store, client_key("203.0.113.9"), clock) == newest(8 * per_thread)
    assert counts(store, user_key("admin", store.secret()), clock) == newest(8 * per_thread)
    # Exactly one failure crossed the limit, so exactly one block is logged.
    assert verdicts == [Verdict(FULL, "client")]


def test_client_limit_holds_under_concurrent_requests(inner: Recorder) -> None:
    clock = Clock(T0)
    users = CountingUsers()
    throttle = Throttle(per_client=20, per_user=0, clock=clock)
    app = BasicAuth(inner, users, throttle=throttle, cache=None)
    statuses: list[str] = []

    def guess() -> None:
        for _ in range(10):
            status, _, _ = call(app, "/", HTTP_AUTHORIZATION=basic("admin", wrong()))
            statuses.append(status[:3])

    run_threads(guess)
    assert len(statuses) == 80
    assert set(statuses) == {"401", "429"}
    checked = statuses.count("401")
    # At most one request per thread can slip between check and count.
    assert 20 <= checked <= 20 + 7
    assert len(users.calls) == checked
    assert counts(memory(throttle), client_key(CLIENT), clock) == newest(checked)
    status, _, _ = call(app, "/", HTTP_AUTHORIZATION=basic("admin", "SuperSecretPwd"))
    assert status.startswith("429")
    assert inner.calls == []
