"""MemoryStore and its bound on memory, and a custom ThrottleStore."""

from __future__ import annotations

import gc
import tracemalloc
from collections import Counter

from helpers import CLIENT, Clock, Recorder, auth, basic, make

from basicauth_wsgi import parse_authorization
from basicauth_wsgi.throttle import (
    MemoryStore,
    Throttle,
    client_key,
    keys,
    user_key,
)
from basicauth_wsgi.throttle.keys import trust_key

from .support import (
    DAY,
    FULL,
    HOME,
    OTHER,
    SPAN,
    T0,
    USERS,
    CountingUsers,
    DictStore,
    at,
    attack_admin,
    counts,
    fail,
    memory,
    newest,
)

# -- the store and its bound ------------------------------------------------


def test_a_failure_counts_for_eleven_slots() -> None:
    store = MemoryStore()
    assert list(store.add("k", 100, SPAN)) == newest(1)
    assert list(store.counts("k", 100, SPAN)) == newest(1)
    assert list(store.counts("k", 105, SPAN)) == newest(1, ago=5)
    assert list(store.counts("k", 110, SPAN)) == newest(1, ago=10)
    assert list(store.counts("k", 111, SPAN)) == []  # slot 100 is out at slot 111
    assert list(store.add("k", 103, SPAN)) == [0] * 7 + [1, 0, 0, 1]
    assert list(store.add("k", 103, SPAN)) == [0] * 7 + [1, 0, 0, 2]
    assert list(store.counts("k", 1000, SPAN)) == []
    assert list(store.counts("nobody", 100, SPAN)) == []


def test_a_slot_saturates_instead_of_overflowing() -> None:
    # 16 bits a slot: a 65,536th failure must not carry into the next slot.
    store = MemoryStore()
    for _ in range(65537):
        store.add("k", 100, SPAN)
    assert list(store.counts("k", 100, SPAN)) == newest(0xFFFF)
    assert list(store.add("k", 101, SPAN)) == [0] * 9 + [0xFFFF, 1]


def test_memory_is_bounded_under_a_million_addresses() -> None:
    # The throttle API is driven directly, without HTTP, and the addresses are
    # made before tracing starts (tracing makes every allocation slow): ~7 s
    # on a 2-core box instead of ~17 s, for ~70 MB of address strings.
    addresses = [f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}" for i in range(1_000_000)]
    clock = Clock(T0)
    throttle = Throttle(max_entries=100_000, clock=clock)
    store = memory(throttle)
    fail_from = throttle.failure
    used: dict[int, int] = {}
    keys._client_key.cache_clear()
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        done = 0
        for checkpoint in (100_000, 200_000, 1_000_000):
            for address in addresses[done:checkpoint]:
                fail_from(address, None)
            done = checkpoint
            assert len(store) == 100_000
            gc.collect()
            used[checkpoint] = tracemalloc.get_traced_memory()[0] - base
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    print(
        f"\nthrottle memory: {used[100_000]:,} B at 100k addresses, "
        f"{used[200_000]:,} B at 200k, {used[1_000_000]:,} B at 1M "
        f"({used[1_000_000] / 100_000:.0f} B/entry), peak {peak:,} B"
    )
    # A plateau: the 800,000 addresses after 200k add nothing lasting.
    assert used[1_000_000] <= used[200_000] * 1.10
    assert used[200_000] <= used[1_000_000] * 1.10
    # 11 slots of 16 bits and a slot index make a ~200-bit int: still a
    # few hundred bytes an entry with its key and queue links.
    assert used[1_000_000] / 100_000 < 400
    # The newest addresses are kept, the oldest forgotten.
    assert throttle.check_client("10.15.66.63") is None  # i = 999_999: one failure, not blocked
    assert counts(store, client_key("10.15.66.63"), clock) == newest(1)
    assert counts(store, client_key("10.0.0.0"), clock) == []


def test_long_usernames_do_not_inflate_the_bound() -> None:
    long_name = "x" * 6000
    assert parse_authorization(basic(long_name, "pw")) is not None  # the parser lets it in
    throttle = Throttle(per_client=0, max_entries=1000, clock=Clock(T0))
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for i in range(2000):
            throttle.failure(CLIENT, f"{i:06d}{long_name}")
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert len(memory(throttle)) == 1000
    # A short key costs a few hundred bytes an entry; the username must not scale it.
    assert used / 1000 < 1024


def test_a_key_that_keeps_failing_is_not_evicted() -> None:
    throttle = Throttle(per_client=3, per_user=0, max_entries=100, clock=Clock(T0))
    for _ in range(3):
        throttle.failure(CLIENT, None)
    for i in range(1000):
        throttle.failure(f"10.0.{i >> 8}.{i & 255}", None)
        if i % 50 == 0:
            throttle.failure(CLIENT, None)
    assert len(memory(throttle)) == 100
    assert throttle.check_client(CLIENT) is not None
    assert throttle.check_client("10.0.0.0") is None  # the one-offs went first


def test_least_recently_failing_key_is_evicted_first() -> None:
    store = MemoryStore(max_entries=3)
    for key in ("a", "b", "c"):
        store.add(key, 100, SPAN)
    store.add("a", 100, SPAN)  # "a" is now the most recent
    store.add("d", 100, SPAN)
    assert list(store.counts("b", 100, SPAN)) == []
    assert list(store.counts("a", 100, SPAN)) == newest(2)
    assert len(store) == 3


def test_a_read_refreshes_a_key() -> None:
    store = MemoryStore(max_entries=3)
    for key in ("a", "b", "c"):
        store.add(key, 100, SPAN)
    store.counts("a", 100, SPAN)  # a blocked key being tried is read, not written
    store.counts("nobody", 100, SPAN)  # reading a missing key adds nothing
    store.add("d", 100, SPAN)
    assert list(store.counts("a", 100, SPAN)) == newest(1)
    assert list(store.counts("b", 100, SPAN)) == []
    assert len(store) == 3


def test_a_blocked_attacker_stays_blocked_through_a_flood(inner: Recorder) -> None:
    users = CountingUsers()
    app = make(
        inner,
        users,
        throttle=Throttle(per_client=3, per_user=0, max_entries=50, clock=Clock(T0)),
        cache=None,
    )
    fail(app, 3, addr=OTHER)
    for i in range(200):
        flood = at(f"10.0.{i >> 8}.{i & 255}")
        app.get("/", headers={"Authorization": "Basic %%%"}, extra_environ=flood, status=401)
        if i % 10 == 0:
            # The attacker keeps guessing throughout.
            app.get("/", headers=auth("admin", "guess"), extra_environ=at(OTHER), status=429)
    app.get("/", headers=auth("admin", "guess"), extra_environ=at(OTHER), status=429)
    assert len(users.calls) == 3


def test_trusted_pairs_are_bounded_too() -> None:
    clock = Clock(T0)
    throttle = Throttle(max_entries=10, clock=clock)
    for i in range(50):
        throttle.success(f"10.0.0.{i}", "admin")
    store = memory(throttle)
    assert len(store) == 10
    assert store.trusted(trust_key("10.0.0.49", "admin", store.secret()), clock.now)
    assert not store.trusted(trust_key("10.0.0.0", "admin", store.secret()), clock.now)


# -- a custom store ---------------------------------------------------------


def test_a_custom_store_is_enough(inner: Recorder) -> None:
    clock = Clock(T0)
    store = DictStore()
    throttle = Throttle(per_client=3, per_user=4, store=store, clock=clock)
    assert throttle.store is store
    app = make(inner, USERS, throttle=throttle, cache=None)
    app.get("/", headers=auth(), extra_environ=at(HOME), status=200)
    fail(app, 3, username="nobody")
    res = app.get("/", headers=auth(), status=429)
    assert res.headers["Retry-After"] == str(FULL)  # slot 100 leaves at T0 + 330
    attack_admin(app, 4)
    app.get("/", headers=auth(), extra_environ=at(OTHER), status=429)
    app.get("/", headers=auth(), extra_environ=at(HOME), status=200)
    assert store.trusts == {trust_key(HOME, "admin", store.secret()): T0 + DAY}
    # The throttle asks for 11 slots and numbers them window / 10 apart; a
    # count lives 11 slots of 30 s and a minute of clock slack.
    assert store.spans == {SPAN}
    assert store.ttls == {330 + 60}
    # Besides addresses and users: each wrong password's tag and each
    # header's repeat marker (7 distinct wrong passwords, one failure each).
    kinds = Counter(key[0] for key, _ in store.failures)
    assert kinds == {"c": 5, "u": 2, "p": 7, "r": 7}
    assert {key: count for (key, bucket), count in store.failures.items() if key[0] in "cu"} == {
        client_key(CLIENT): 3,
        user_key("nobody", store.secret()): 3,
        **{client_key(f"203.0.113.{i}"): 1 for i in range(4)},
        user_key("admin", store.secret()): 4,
    }
    clock.now = T0 + FULL - 1
    app.get("/", headers=auth(), status=429)
    app.get("/", headers=auth(), extra_environ=at(OTHER), status=429)
    clock.now = T0 + FULL
    app.get("/", headers=auth(), status=200)
    app.get("/", headers=auth(), extra_environ=at(OTHER), status=200)
