"""What the throttle tests share: the users, the clock's slots, fail() and the verifiers."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Sequence

import webtest
from helpers import CLIENT, Clock, auth

from basicauth_wsgi import PlainUsers
from basicauth_wsgi.throttle import (
    SLOTS,
    MemoryStore,
    Reservation,
    Throttle,
    ThrottleStore,
)

USERS = {"admin": "SuperSecretPwd", "alice": "alice-pw"}
OTHER = "198.51.100.7"
HOME = "192.0.2.50"  # where admin works
WINDOW = 300.0
SLOT = WINDOW / SLOTS  # 30 s
SPAN = SLOTS + 1  # the slots a store keeps per key
T0 = 3000.0  # the start of slot 100 (3000 = 100 * 30) and of a window
DAY = 24 * 3600.0
# A failure in slot b counts until slot b + 11 starts, at (b + 11) * 30: at
# T0 that is 3330, so per_client failures at T0 give Retry-After 330.
FULL = 330


class CountingUsers:
    """A verifier that records every password check it is asked to make."""

    def __init__(self, users: dict[str, str] = USERS) -> None:
        self.plain = PlainUsers(users)
        self.calls: list[str] = []

    def verify(self, username: str, password: str) -> str | None:
        self.calls.append(username)  # list.append is atomic: safe from many threads
        return self.plain.verify(username, password)

    def has_user(self, username: str) -> bool:
        return self.plain.has_user(username)


def at(addr: str) -> dict[str, str]:
    return {"REMOTE_ADDR": addr}


#: Every wrong password the tests send is another one: the same header again
#: from the same address is a repeat, which counts nothing.
GUESSES = itertools.count()


def wrong() -> str:
    """A wrong password no test has sent before."""
    return f"wrong-{next(GUESSES)}"


def fail(app: webtest.TestApp, times: int, addr: str = CLIENT, username: str = "admin") -> None:
    """``times`` distinct wrong passwords from ``addr``, each answered 401."""
    for _ in range(times):
        app.get("/", headers=auth(username, wrong()), extra_environ=at(addr), status=401)


def bucket(clock: Clock) -> int:
    """The slot index the throttle hands its store at ``clock``'s time."""
    return int(clock.now // SLOT)


def newest(count: int, ago: int = 0) -> list[int]:
    """A key's 11 slot counts with ``count`` failures ``ago`` slots back, oldest first."""
    slots = [0] * SPAN
    slots[SPAN - 1 - ago] = count
    return slots


def counts(store: ThrottleStore, key: str, clock: Clock) -> list[int]:
    return list(store.counts(key, bucket(clock), SPAN))


def memory(throttle: Throttle) -> MemoryStore:
    """The default in-process store, whose size a test can read."""
    store = throttle.store
    assert isinstance(store, MemoryStore)
    return store


def attack_admin(app: webtest.TestApp, times: int = 5) -> None:
    for i in range(times):
        fail(app, 1, addr=f"203.0.113.{i}")


class DictStore:
    """The smallest ThrottleStore: two dicts and a lock, no bound, no expiry."""

    def __init__(self) -> None:
        self.failures: dict[tuple[str, int], int] = {}
        self.trusts: dict[str, float] = {}
        self.spans: set[int] = set()
        self.ttls: set[int] = set()
        self.lock = threading.Lock()
        self.key = os.urandom(32)

    def idle(self) -> bool:
        return not self.failures

    def peek(self, key: str, bucket: int, span: int) -> Sequence[int]:
        self.spans.add(span)
        found = [self.failures.get((key, b), 0) for b in range(bucket - span + 1, bucket + 1)]
        return found if any(found) else ()

    def reserve(
        self,
        keys: Sequence[tuple[str, int]],
        bucket: int,
        span: int,
        ttl: int,
        once: str | None = None,
    ) -> Reservation:
        self.ttls.add(ttl)
        with self.lock:
            for index, (key, limit) in enumerate(keys):
                found = self.peek(key, bucket, span)
                if limit and sum(found) >= limit:
                    return Reservation(index, (found,))
            if once is not None and self.peek(once, bucket, span):
                return Reservation(
                    None, tuple(self.peek(key, bucket, span) for key, _ in keys), repeat=True
                )
            for key in [*(key for key, _ in keys), *([once] if once is not None else [])]:
                self.failures[key, bucket] = self.failures.get((key, bucket), 0) + 1
            return Reservation(None, tuple(self.peek(key, bucket, span) for key, _ in keys))

    def release(
        self, keys: Sequence[str], bucket: int, span: int, trust: str | None, until: float
    ) -> None:
        with self.lock:
            for key in keys:
                count = self.failures.get((key, bucket), 0)
                if count > 1:
                    self.failures[key, bucket] = count - 1
                else:
                    self.failures.pop((key, bucket), None)
            if trust is not None:
                self.trusts[trust] = until

    def trust(self, key: str, until: float) -> None:
        self.trusts[key] = until

    def trusted(self, key: str, now: float) -> bool:
        return self.trusts.get(key, 0.0) > now

    def secret(self) -> bytes:
        return self.key
