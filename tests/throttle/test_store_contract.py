"""The ThrottleStore contract: every store, built-in or not, proves itself here.

A new store joins by adding a factory to ``STORES`` in ``conftest.py`` (the
Redis store adds one that starts its own ``redis-server``). Shared stores
may answer ``peek`` from a local view up to a second old: the tests that
read a count back go through ``eventually``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from basicauth_wsgi.throttle import SPAN, Reservation, Throttle, ThrottleStore

B = 1000  # a bucket number: any will do
TTL = 400  # seconds a count lives (the throttle's slots of 30 s: 330 and slack)


def eventually(read: Callable[[], Sequence[int]], expected: list[int]) -> None:
    """Assert that ``read()`` gives ``expected``, within a second (a shared store's view)."""
    import time

    deadline = time.monotonic() + 2.0
    while True:
        found = list(read())
        if found == expected or time.monotonic() > deadline:
            assert found == expected
            return
        time.sleep(0.01)


def newest(*counts: int) -> list[int]:
    """``span`` counts, oldest first, ending with ``counts``."""
    return [0] * (SPAN - len(counts)) + list(counts)


def test_it_is_a_throttle_store(store: ThrottleStore) -> None:
    assert isinstance(store, ThrottleStore)
    Throttle(store=store)  # accepted


def test_an_unknown_key_has_no_counts(store: ThrottleStore) -> None:
    assert list(store.peek("nobody", B, SPAN)) == []


def test_reserve_counts_every_key_and_returns_their_counts(store: ThrottleStore) -> None:
    result = store.reserve([("a", 5), ("b", 5)], B, SPAN, TTL)
    assert result.blocked is None
    assert [list(c) for c in result.counts] == [newest(1), newest(1)]
    result = store.reserve([("a", 5), ("b", 5)], B, SPAN, TTL)
    assert [list(c) for c in result.counts] == [newest(2), newest(2)]
    eventually(lambda: store.peek("a", B, SPAN), newest(2))


def test_counts_are_per_bucket_oldest_first(store: ThrottleStore) -> None:
    store.reserve([("k", 0)], B, SPAN, TTL)
    store.reserve([("k", 0)], B + 3, SPAN, TTL)
    result = store.reserve([("k", 0)], B + 3, SPAN, TTL)
    assert list(result.counts[0]) == newest(1, 0, 0, 2)


def test_counts_leave_after_span_buckets(store: ThrottleStore) -> None:
    store.reserve([("k", 0)], B, SPAN, TTL)
    eventually(lambda: store.peek("k", B + SPAN - 1, SPAN), [1] + [0] * (SPAN - 1))
    assert list(store.peek("k", B + SPAN, SPAN)) == []


def test_a_key_at_its_limit_blocks_and_nothing_is_counted(store: ThrottleStore) -> None:
    for _ in range(3):
        assert store.reserve([("a", 3), ("b", 10)], B, SPAN, TTL).blocked is None
    result = store.reserve([("b", 10), ("a", 3)], B, SPAN, TTL)
    assert result == Reservation(1, (result.counts[0],))
    assert sum(result.counts[0]) == 3
    # b was not counted by the blocked attempt.
    assert list(store.reserve([("b", 10)], B, SPAN, TTL).counts[0]) == newest(4)


def test_a_limit_of_zero_counts_but_never_blocks(store: ThrottleStore) -> None:
    for _ in range(5):
        result = store.reserve([("k", 0)], B, SPAN, TTL)
        assert result.blocked is None
    assert list(result.counts[0]) == newest(5)


def test_release_takes_one_attempt_back_and_trusts(store: ThrottleStore) -> None:
    store.reserve([("a", 5), ("b", 5)], B, SPAN, TTL)
    store.reserve([("a", 5), ("b", 5)], B, SPAN, TTL)
    store.release(["a", "b"], B, SPAN, "t-pair", 500.0)
    assert list(store.reserve([("a", 0)], B, SPAN, TTL).counts[0]) == newest(2)
    assert store.trusted("t-pair", 499.0)
    assert not store.trusted("t-pair", 500.0)


def test_release_of_an_older_bucket_takes_from_that_bucket(store: ThrottleStore) -> None:
    store.reserve([("k", 0)], B, SPAN, TTL)
    store.reserve([("k", 0)], B + 1, SPAN, TTL)
    store.release(["k"], B, SPAN, None, 0.0)
    assert list(store.reserve([("k", 0)], B + 1, SPAN, TTL).counts[0]) == newest(0, 2)


def test_trust(store: ThrottleStore) -> None:
    assert not store.trusted("t", 10.0)
    store.trust("t", 100.0)
    assert store.trusted("t", 99.0)
    assert not store.trusted("t", 100.0)


def test_once_marks_the_first_attempt_and_refuses_to_count_a_repeat(store: ThrottleStore) -> None:
    first = store.reserve([("a", 5), ("b", 5)], B, SPAN, TTL, "r-header")
    assert (first.blocked, first.repeat) == (None, False)
    again = store.reserve([("a", 5), ("b", 5)], B, SPAN, TTL, "r-header")
    assert (again.blocked, again.repeat) == (None, True)
    # Nothing counted by the repeat; another header counts.
    other = store.reserve([("a", 5), ("b", 5)], B, SPAN, TTL, "r-other")
    assert [list(c) for c in other.counts] == [newest(2), newest(2)]
    # A window later the same header counts again.
    later = store.reserve([("a", 0)], B + SPAN, SPAN, TTL, "r-header")
    assert (later.repeat, list(later.counts[0])) == (False, newest(1))


def test_a_repeat_of_a_blocked_key_is_still_refused(store: ThrottleStore) -> None:
    store.reserve([("a", 1)], B, SPAN, TTL, "r-header")
    result = store.reserve([("a", 1)], B, SPAN, TTL, "r-header")
    assert (result.blocked, result.repeat) == (0, False)


def test_release_gives_the_once_key_back(store: ThrottleStore) -> None:
    store.reserve([("a", 5)], B, SPAN, TTL, "r-header")
    store.release(["a", "r-header"], B, SPAN, None, 0.0)
    result = store.reserve([("a", 5)], B, SPAN, TTL, "r-header")
    assert (result.repeat, list(result.counts[0])) == (False, newest(1))


def test_the_secret_is_long_and_stable(store: ThrottleStore) -> None:
    secret = store.secret()
    assert isinstance(secret, bytes) and len(secret) >= 16
    store.reserve([("a", 5)], B, SPAN, TTL, "r-header")
    assert store.secret() == secret


def test_concurrent_reservations_never_pass_the_limit(store: ThrottleStore) -> None:
    granted: list[bool] = []
    start = threading.Barrier(16, timeout=10)

    def attempt() -> None:
        start.wait()
        for _ in range(4):
            granted.append(store.reserve([("hot", 20)], B, SPAN, TTL).blocked is None)

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert granted.count(True) == 20
    assert len(granted) == 64


def test_the_throttle_is_exact_on_this_store(store: ThrottleStore) -> None:
    now = [B * 30.0]
    throttle = Throttle(per_client=3, per_user=0, store=store, clock=lambda: now[0])
    tickets = [throttle.reserve("198.51.100.1", "u") for _ in range(5)]
    granted = [t for t in tickets if not hasattr(t, "retry_after")]
    assert len(granted) == 3
    refused = [t for t in tickets if hasattr(t, "retry_after")]
    assert all(v.retry_after >= 1 and v.limit == "client" for v in refused)  # type: ignore[union-attr]
    # A success gives its attempt back: one more may be checked.
    throttle.settle(granted[0], True)  # type: ignore[arg-type]
    assert not hasattr(throttle.reserve("198.51.100.1", "u"), "retry_after")
