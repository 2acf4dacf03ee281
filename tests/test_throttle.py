"""Throttle and MemoryStore: per-client and per-user limits, 429s, bounded memory (SPEC §5)."""

from __future__ import annotations

import gc
import hashlib
import logging
import random
import sys
import threading
import tracemalloc
from collections.abc import Sequence
from typing import Any
from wsgiref.validate import validator

import pytest
import webtest
from helpers import CLIENT, Clock, Recorder, auth, basic, call, make

from basicauth_wsgi import BasicAuth, PlainUsers, parse_authorization
from basicauth_wsgi.throttle import (
    SLOTS,
    MemoryStore,
    Throttle,
    ThrottleStore,
    Verdict,
    client_key,
    user_key,
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


def fail(app: webtest.TestApp, times: int, addr: str = CLIENT, username: str = "admin") -> None:
    """``times`` wrong passwords from ``addr``, each answered 401."""
    for _ in range(times):
        app.get("/", headers=auth(username, "wrong"), extra_environ=at(addr), status=401)


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


# -- on by default --------------------------------------------------------


def test_throttle_is_on_by_default(inner: Recorder) -> None:
    middleware = BasicAuth(inner, USERS)
    throttle = middleware.throttle
    assert isinstance(throttle, Throttle)
    assert (throttle.per_client, throttle.per_user, throttle.window) == (20, 100, 300.0)
    assert isinstance(throttle.store, MemoryStore)
    assert throttle.store.max_entries == 100_000
    # And it acts: the 21st attempt from one address is refused unchecked.
    throttle.clock = Clock(T0)
    app = webtest.TestApp(validator(middleware), extra_environ=at(CLIENT))
    fail(app, 20)
    app.get("/", headers=auth(), status=429)
    assert inner.calls == []


def test_each_middleware_gets_its_own_default_throttle(inner: Recorder) -> None:
    first, second = BasicAuth(inner, USERS), BasicAuth(inner, USERS)
    assert first.throttle is not second.throttle


def test_throttle_none_disables_it(inner: Recorder) -> None:
    users = CountingUsers()
    app = make(inner, users, throttle=None, cache=None)
    fail(app, 25)
    assert len(users.calls) == 25  # every attempt was checked
    app.get("/", headers=auth(), status=200)


# -- per client -------------------------------------------------------------


def test_per_client_limit_blocks_the_address(inner: Recorder) -> None:
    users = CountingUsers()
    app = make(inner, users, throttle=Throttle(per_client=5, clock=Clock(T0)), cache=None)
    fail(app, 5)
    checked = len(users.calls)
    # Even the right password is not checked: a blocked key costs no CPU.
    res = app.get("/", headers={**auth(), "Accept": "application/json"}, status=429)
    assert res.json["error"] == "too_many_requests"
    assert res.json["message"]
    assert set(res.json) == {"error", "message"}
    assert res.headers["Retry-After"].isdigit()
    assert int(res.headers["Retry-After"]) >= 1
    assert res.headers["Cache-Control"] == "no-store"
    assert "WWW-Authenticate" not in res.headers
    assert len(users.calls) == checked
    assert inner.calls == []
    # Another address is unaffected.
    res = app.get("/", headers=auth(), extra_environ=at(OTHER), status=200)
    assert res.json["remote_user"] == "admin"


NEGOTIATED_429 = [
    ({"Accept": "application/json"}, "application/json", b'{"error": "too_many_requests"', "json"),
    ({"Accept": "text/html"}, "text/html; charset=utf-8", b"<!DOCTYPE html>", "browser"),
    ({"Accept": "*/*"}, "text/plain; charset=utf-8", b"429 Too Many Requests: ", "curl"),
]


@pytest.mark.parametrize(
    ("headers", "content_type", "start"),
    [n[:3] for n in NEGOTIATED_429],
    ids=[n[3] for n in NEGOTIATED_429],
)
def test_429_body_is_negotiated(
    inner: Recorder, headers: dict[str, str], content_type: str, start: bytes
) -> None:
    app = make(inner, USERS, throttle=Throttle(per_client=1, clock=Clock(T0)), cache=None)
    fail(app, 1)
    res = app.get("/", headers={**auth(), **headers}, status=429)
    assert res.headers["Content-Type"] == content_type
    assert res.body.startswith(start)
    head = app.head("/", headers={**auth(), **headers}, status=429)
    assert head.body == b""
    assert head.headers["Content-Length"] == res.headers["Content-Length"]
    assert head.headers["Retry-After"] == res.headers["Retry-After"]


def test_blocked_address_without_a_header_still_gets_the_challenge(
    inner: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    # No header: nothing to check and nothing to save, so the prompt is
    # shown as usual (and not counted); any credentials at all get the 429.
    clock = Clock(T0)
    throttle = Throttle(per_client=2, clock=clock)
    app = make(inner, USERS, throttle=throttle, cache=None)
    fail(app, 2)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="basicauth_wsgi"):
        res = app.get("/", status=401)
    assert "WWW-Authenticate" in res.headers
    assert caplog.records == []
    app.get("/", headers={"Authorization": "Basic %%%"}, status=429)
    app.get("/", headers=auth(), status=429)
    # Neither the challenge nor the 429s were counted: still the 2 failures.
    assert counts(memory(throttle), client_key(CLIENT), clock) == newest(2)


# -- per user ---------------------------------------------------------------


def test_per_user_limit_blocks_the_username_everywhere(inner: Recorder) -> None:
    users = CountingUsers()
    app = make(
        inner, users, throttle=Throttle(per_client=20, per_user=5, clock=Clock(T0)), cache=None
    )
    for i in range(5):
        fail(app, 1, addr=f"203.0.113.{i}")
    checked = len(users.calls)
    # A fresh address that never logged in as admin, with the right password.
    res = app.get("/", headers=auth(), extra_environ=at(OTHER), status=429)
    assert int(res.headers["Retry-After"]) >= 1
    assert "WWW-Authenticate" not in res.headers
    app.get("/", headers=auth("admin", "guess"), extra_environ=at("203.0.113.99"), status=429)
    assert len(users.calls) == checked
    # Only that username: another user from the same address gets in.
    app.get("/", headers=auth("alice", "alice-pw"), extra_environ=at(OTHER), status=200)


# -- no lock-out ------------------------------------------------------------


def attack_admin(app: webtest.TestApp, times: int = 5) -> None:
    for i in range(times):
        fail(app, 1, addr=f"203.0.113.{i}")


def test_where_the_user_logged_in_is_exempt_from_the_user_limit(inner: Recorder) -> None:
    clock = Clock(T0)
    app = make(inner, USERS, throttle=Throttle(per_client=20, per_user=5, clock=clock), cache=None)
    app.get("/", headers=auth(), extra_environ=at(HOME), status=200)
    clock.now += 3600
    attack_admin(app)
    app.get("/", headers=auth(), extra_environ=at(OTHER), status=429)
    res = app.get("/", headers=auth(), extra_environ=at(HOME), status=200)
    assert res.json["remote_user"] == "admin"


def test_the_exempt_address_still_has_its_own_client_limit(inner: Recorder) -> None:
    users = CountingUsers()
    app = make(
        inner, users, throttle=Throttle(per_client=3, per_user=5, clock=Clock(T0)), cache=None
    )
    app.get("/", headers=auth(), extra_environ=at(HOME), status=200)
    attack_admin(app)
    fail(app, 3, addr=HOME)
    checked = len(users.calls)
    app.get("/", headers=auth(), extra_environ=at(HOME), status=429)
    assert len(users.calls) == checked


def test_the_exemption_is_for_that_user_only(inner: Recorder) -> None:
    app = make(
        inner, USERS, throttle=Throttle(per_client=20, per_user=5, clock=Clock(T0)), cache=None
    )
    app.get("/", headers=auth(), extra_environ=at(HOME), status=200)
    attack_admin(app)
    for i in range(5):
        fail(app, 1, addr=f"203.0.113.{i}", username="alice")
    app.get("/", headers=auth(), extra_environ=at(HOME), status=200)
    app.get("/", headers=auth("alice", "alice-pw"), extra_environ=at(HOME), status=429)


@pytest.mark.parametrize(
    ("later", "exempt"),
    [(3600.0, True), (DAY - 60, True), (DAY + 1, False), (7 * DAY, False)],
    ids=["1h", "23h59", "24h-and-1s", "a-week"],
)
def test_the_exemption_lasts_24_hours(inner: Recorder, later: float, exempt: bool) -> None:
    clock = Clock(T0)
    app = make(inner, USERS, throttle=Throttle(per_client=20, per_user=5, clock=clock), cache=None)
    app.get("/", headers=auth(), extra_environ=at(HOME), status=200)
    clock.now += later
    attack_admin(app)
    app.get("/", headers=auth(), extra_environ=at(HOME), status=200 if exempt else 429)


def test_a_later_login_renews_the_exemption(inner: Recorder) -> None:
    clock = Clock(T0)
    app = make(inner, USERS, throttle=Throttle(per_client=20, per_user=5, clock=clock), cache=None)
    app.get("/", headers=auth(), extra_environ=at(HOME), status=200)
    clock.now += 12 * 3600
    app.get("/", headers=auth(), extra_environ=at(HOME), status=200)
    clock.now += 18 * 3600  # 30 h after the first login, 18 h after the second
    attack_admin(app)
    app.get("/", headers=auth(), extra_environ=at(HOME), status=200)


# -- what counts as a failure -----------------------------------------------


def test_missing_header_is_not_a_failure(inner: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    throttle = Throttle(per_client=3, clock=Clock(T0))
    app = make(inner, USERS, throttle=throttle, cache=None)
    with caplog.at_level(logging.DEBUG, logger="basicauth_wsgi"):
        for _ in range(50):
            app.get("/", status=401)
    assert caplog.records == []
    assert len(memory(throttle)) == 0
    app.get("/", headers=auth(), status=200)


@pytest.mark.parametrize(
    "header",
    ["Basic %%%", "Basic YWRtaW4=", "Basic ", basic("admin", "SuperSecretPwd", "Bearer")],
    ids=["bad-base64", "no-colon", "empty-token", "other-scheme"],
)
def test_malformed_header_is_a_failure(inner: Recorder, header: str) -> None:
    users = CountingUsers()
    app = make(inner, users, throttle=Throttle(per_client=3, clock=Clock(T0)), cache=None)
    for _ in range(3):
        app.get("/", headers={"Authorization": header}, status=401)
    app.get("/", headers=auth(), status=429)
    assert users.calls == []


def test_unknown_user_is_a_failure(inner: Recorder) -> None:
    app = make(inner, USERS, throttle=Throttle(per_client=3, clock=Clock(T0)), cache=None)
    for name in ("root", "oracle", "test"):
        app.get("/", headers=auth(name, "123456"), status=401)
    app.get("/", headers=auth(), status=429)


def test_success_does_not_count(inner: Recorder) -> None:
    app = make(inner, USERS, throttle=Throttle(per_client=3, clock=Clock(T0)), cache=None)
    for _ in range(30):
        app.get("/", headers=auth(), status=200)
    fail(app, 2)
    app.get("/", headers=auth(), status=200)


# -- the sliding window -----------------------------------------------------

# Slots are 30 s (window / 10), T0 = 3000 starts slot 100, and a failure in
# slot b counts until slot b + 11 starts, at (b + 11) * 30: for at least 300 s
# and at most 330 s. Retry-After = ceil(free_at - now), where free_at is when
# enough of the oldest slots have left the count to go under the limit.
# (per_client, failures, first failure at T0 + s, seconds between failures,
# seconds after the last failure the key is probed, Retry-After or None)
WINDOWS = [
    (5, 4, 0, 0, 0, None, "under-the-limit"),
    # slot 100 leaves at 3330 = T0 + 330
    (5, 5, 0, 0, 0, FULL, "at-the-limit"),
    (5, 5, 0, 0, 100, 230, "later-in-the-window"),  # 3330 - 3100
    (5, 5, 0, 0, 299, 31, "end-of-the-window"),  # 3330 - 3299
    # Stricter, never shorter: a window later the failures still count ...
    (5, 5, 0, 0, 300, 30, "a-window-later"),  # 3330 - 3300
    (5, 5, 0, 0, 329, 1, "last-second-of-the-extra-slot"),  # 3330 - 3329
    (5, 5, 0, 0, 330, None, "aged-out"),  # ... for at most window + one slot
    (5, 5, 15, 0, 0, 315, "mid-slot"),  # 3015 is in slot 100: 3330 - 3015
    # The shortest a failure counts: 300.5 s, rounded up.
    (5, 5, 29.5, 0, 0, 301, "end-of-a-slot"),  # ceil(3330 - 3029.5)
    (5, 10, 0, 0, 0, FULL, "twice-the-limit-in-one-slot"),  # all leave at 3330
    # One failure per slot, 3000 .. 3270 (slots 100 .. 109), probed at 3270:
    # under 5 once the sixth (slot 105) leaves, at 116 * 30 = 3480.
    (5, 10, 0, 30, 0, 210, "one-per-slot"),  # 3480 - 3270
    (5, 10, 0, 30, 100, 110, "one-per-slot-later"),  # 3480 - 3370
    # 3150 is in slot 105, which leaves at 3480.
    (20, 20, 150, 0, 100, 230, "mid-window"),  # 3480 - 3250
    (20, 20, 150, 0, 600, None, "two-windows-later"),
    # One a second from 3290 to 3309: 10 in slot 109, 10 in slot 110; under
    # 20 once slot 109 leaves at 120 * 30 = 3600.
    (20, 20, 290, 1, 0, 291, "straddling-a-slot-boundary"),  # 3600 - 3309
    (1, 1, 299, 0, 0, 301, "limit-one-at-window-end"),  # slot 109: 3600 - 3299
    (65535, 65535, 0, 0, 0, FULL, "largest-limit"),
]


@pytest.mark.parametrize(
    ("per_client", "failures", "first", "every", "later", "retry_after"),
    [w[:6] for w in WINDOWS],
    ids=[w[6] for w in WINDOWS],
)
def test_retry_after_is_honest(
    inner: Recorder,
    per_client: int,
    failures: int,
    first: float,
    every: float,
    later: float,
    retry_after: int | None,
) -> None:
    clock = Clock(T0)
    throttle = Throttle(per_client=per_client, per_user=0, clock=clock)
    users = CountingUsers()
    app = make(inner, users, throttle=throttle, cache=None)
    # Through the API: more failures than the limit cannot come over HTTP
    # from one address (the 429s are not counted).
    for i in range(failures):
        clock.now = T0 + first + i * every
        throttle.failure(CLIENT, None)
    clock.now += later
    if retry_after is None:
        assert throttle.check_client(CLIENT) is None
        app.get("/", headers=auth(), status=200)
        return
    res = app.get("/", headers=auth(), status=429)
    assert res.headers["Retry-After"] == str(retry_after)
    assert throttle.check_client(CLIENT) == Verdict(retry_after, "client")
    blocked_at = clock.now
    # A second before Retry-After elapses the key is still blocked ...
    clock.now = blocked_at + retry_after - 1
    app.get("/", headers=auth(), status=429)
    # ... and once it has, the very next request is let through.
    clock.now = blocked_at + retry_after
    app.get("/", headers=auth(), status=200)
    assert users.calls == ["admin"]


def test_retry_after_shrinks_as_time_passes(inner: Recorder) -> None:
    clock = Clock(T0)
    app = make(inner, USERS, throttle=Throttle(per_client=5, clock=clock), cache=None)
    fail(app, 5)  # at T0, in slot 100, which leaves the count at T0 + 330
    seen = []
    for elapsed in (0, 60, 290, 300, 329):
        clock.now = T0 + elapsed
        res = app.get("/", headers=auth(), status=429)
        seen.append(int(res.headers["Retry-After"]))
    assert seen == [330, 270, 40, 30, 1]
    clock.now = T0 + FULL
    app.get("/", headers=auth(), status=200)


def test_failures_age_out_of_both_limits(inner: Recorder) -> None:
    clock = Clock(T0)
    app = make(inner, USERS, throttle=Throttle(per_client=3, per_user=4, clock=clock), cache=None)
    fail(app, 3, username="nobody")
    attack_admin(app, 4)
    app.get("/", headers=auth(), status=429)
    app.get("/", headers=auth(), extra_environ=at(OTHER), status=429)
    clock.now += 2 * WINDOW
    app.get("/", headers=auth(), status=200)
    app.get("/", headers=auth(), extra_environ=at(OTHER), status=200)


def test_failures_straddling_a_window_boundary_count_in_full(inner: Recorder) -> None:
    clock = Clock(T0 + WINDOW - 10)  # 10 s before a window (and slot) boundary
    app = make(inner, USERS, throttle=Throttle(per_client=20, per_user=0, clock=clock), cache=None)
    for _ in range(20):
        fail(app, 1)
        clock.now += 1
    # 20 failures within the last 20 seconds: SPEC §5 says the next is a 429.
    # They sit in slots 109 (10) and 110 (10); under 20 once slot 109 leaves,
    # at 120 * 30 = 3600, and the probe is at 3310.
    res = app.get("/", headers=auth(), status=429)
    assert res.headers["Retry-After"] == "290"


def attacker_drive(seed: int, hours: float = 6.0) -> list[float]:
    """An attacker retrying at varied intervals; return when its guesses were checked.

    Along the way, check that every Retry-After is exact: a second earlier
    the key is still blocked, at Retry-After it is let through. Quarter
    seconds keep the clock arithmetic exact.
    """
    rng = random.Random(seed)
    clock = Clock(T0 + 123)
    throttle = Throttle(per_client=20, per_user=0, clock=clock)
    checked: list[float] = []
    end = clock.now + hours * 3600
    while clock.now < end:
        verdict = throttle.check_client(CLIENT)
        if verdict is None:
            throttle.failure(CLIENT, None)
            checked.append(clock.now)
            clock.now += rng.choice(
                [0.0, 0.25, 1.0, rng.randint(1, 240) / 4, rng.randint(1, 1400) / 4]
            )
        elif rng.random() < 0.5:
            blocked_at = clock.now
            clock.now = blocked_at + verdict.retry_after - 1
            assert throttle.check_client(CLIENT) is not None
            clock.now = blocked_at + verdict.retry_after
            assert throttle.check_client(CLIENT) is None
        else:
            clock.now += rng.randint(1, 160) / 4
    return checked


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_no_real_window_ever_admits_more_than_the_limit(seed: int) -> None:
    checked = attacker_drive(seed)
    # Any span of WINDOW seconds, both ends included, holds at most
    # per_client checked guesses: the exact sliding window of SPEC §5.
    most = 0
    start = 0
    for end, t in enumerate(checked):
        while checked[start] < t - WINDOW:
            start += 1
        most = max(most, end - start + 1)
    assert most == 20  # the attacker did reach the limit, and never passed it
    assert len(checked) <= 20 * (6 * 3600 / WINDOW + 1)


def test_a_greedy_attacker_gets_the_limit_per_window_and_a_slot() -> None:
    # Bursting per_client guesses at a slot boundary and coming back exactly
    # at Retry-After: the slowest the slots make it is window + one slot.
    clock = Clock(T0)
    throttle = Throttle(per_client=20, per_user=0, clock=clock)
    for burst in range(10):
        assert clock.now == T0 + burst * FULL
        for _ in range(20):
            assert throttle.check_client(CLIENT) is None
            throttle.failure(CLIENT, None)
        verdict = throttle.check_client(CLIENT)
        assert verdict == Verdict(FULL, "client")
        clock.now += verdict.retry_after


def test_a_clock_stepped_back_does_not_lift_a_block() -> None:
    clock = Clock(T0)
    throttle = Throttle(per_client=3, per_user=0, clock=clock)
    for _ in range(3):
        throttle.failure(CLIENT, None)
    for back in (1.0, SLOT, WINDOW, 10 * WINDOW):
        clock.now = T0 - back
        verdict = throttle.check_client(CLIENT)
        assert verdict is not None
        assert verdict.retry_after >= 1
    # A failure while the clock is behind still counts, in the newest slot.
    throttle.failure(CLIENT, None)
    clock.now = T0
    assert counts(memory(throttle), client_key(CLIENT), clock) == newest(4)
    clock.now = T0 + FULL
    assert throttle.check_client(CLIENT) is None


@pytest.mark.parametrize(
    ("window", "now"),
    [(1, 3.0), (11, 11.0), (99, 90.0)],
    ids=["window-1s", "window-11s", "window-99s"],
)
def test_waiting_retry_after_is_enough_whatever_the_window(window: float, now: float) -> None:
    clock = Clock(now)
    throttle = Throttle(per_client=1, per_user=0, window=window, clock=clock)
    throttle.failure(CLIENT, None)
    verdict = throttle.check_client(CLIENT)
    assert verdict is not None
    clock.now = now + verdict.retry_after
    assert throttle.check_client(CLIENT) is None


# -- 0 disables a limit -----------------------------------------------------


def test_per_client_zero_disables_the_client_limit(inner: Recorder) -> None:
    users = CountingUsers()
    app = make(inner, users, throttle=Throttle(per_client=0, clock=Clock(T0)), cache=None)
    for i in range(100):
        fail(app, 1, username=f"user{i}")  # distinct names: the user limit is not reached
    assert len(users.calls) == 100
    app.get("/", headers=auth(), status=200)


def test_per_user_zero_disables_the_user_limit(inner: Recorder) -> None:
    users = CountingUsers()
    app = make(inner, users, throttle=Throttle(per_user=0, clock=Clock(T0)), cache=None)
    for i in range(100):
        fail(app, 1, addr=f"203.0.113.{i}")
    assert len(users.calls) == 100
    app.get("/", headers=auth(), extra_environ=at(OTHER), status=200)


def test_both_zero_keeps_nothing(inner: Recorder) -> None:
    throttle = Throttle(per_client=0, per_user=0, clock=Clock(T0))
    app = make(inner, USERS, throttle=throttle, cache=None)
    fail(app, 50)
    app.get("/", headers=auth(), status=200)
    assert len(memory(throttle)) == 0


# -- logging ----------------------------------------------------------------


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    assert all(r.levelno == logging.WARNING for r in caplog.records)
    return [r.getMessage() for r in caplog.records]


def failed(addr: str = CLIENT, user: str = "admin", path: str = "/x") -> str:
    return f"authentication failed: user={user!r} client={addr} reason=wrong_password path={path}"


def test_client_block_is_logged_once(inner: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    app = make(
        inner, USERS, throttle=Throttle(per_client=3, per_user=0, clock=Clock(T0)), cache=None
    )
    with caplog.at_level(logging.DEBUG, logger="basicauth_wsgi"):
        for _ in range(3):
            app.get("/x", headers=auth("admin", "wrong"), status=401)
        for _ in range(20):
            app.get("/x", headers=auth("admin", "wrong"), status=429)
        app.get("/x", headers=auth(), status=429)
        app.get("/x", status=401)  # no header: the challenge, not a failure
    assert messages(caplog) == [
        failed(),
        failed(),
        failed(),
        "authentication blocked: user='admin' client=192.0.2.10 reason=client_limit path=/x",
    ]


def test_user_block_is_logged_once(inner: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    app = make(
        inner, USERS, throttle=Throttle(per_client=20, per_user=3, clock=Clock(T0)), cache=None
    )
    attackers = ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
    with caplog.at_level(logging.DEBUG, logger="basicauth_wsgi"):
        for addr in attackers:
            app.get("/x", headers=auth("admin", "wrong"), extra_environ=at(addr), status=401)
        for i in range(20):
            app.get("/x", headers=auth(), extra_environ=at(f"198.51.100.{i}"), status=429)
    assert messages(caplog) == [
        *(failed(addr) for addr in attackers),
        "authentication blocked: user='admin' client=203.0.113.3 reason=user_limit path=/x",
    ]


def test_malformed_block_is_logged_without_a_user(
    inner: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    app = make(inner, USERS, throttle=Throttle(per_client=2, clock=Clock(T0)), cache=None)
    with caplog.at_level(logging.WARNING, logger="basicauth_wsgi"):
        for _ in range(2):
            app.get("/x", headers={"Authorization": "Basic %%%"}, status=401)
    assert messages(caplog)[-1] == (
        "authentication blocked: user=None client=192.0.2.10 reason=client_limit path=/x"
    )


def test_each_new_block_is_logged_again(inner: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock(T0)
    app = make(inner, USERS, throttle=Throttle(per_client=2, per_user=0, clock=clock), cache=None)
    with caplog.at_level(logging.WARNING, logger="basicauth_wsgi"):
        fail(app, 2)
        app.get("/", headers=auth(), status=429)
        clock.now += 2 * WINDOW
        fail(app, 2)
        app.get("/", headers=auth(), status=429)
    blocks = [m for m in messages(caplog) if m.startswith("authentication blocked:")]
    assert len(blocks) == 2


def test_both_blocks_are_logged_when_crossed_together(
    inner: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    app = make(
        inner, USERS, throttle=Throttle(per_client=3, per_user=3, clock=Clock(T0)), cache=None
    )
    with caplog.at_level(logging.WARNING, logger="basicauth_wsgi"):
        for _ in range(3):
            app.get("/x", headers=auth("admin", "wrong"), status=401)
    # admin is now refused from every address: the operator must be told.
    app.get("/x", headers=auth(), extra_environ=at(OTHER), status=429)
    blocks = [m for m in messages(caplog) if m.startswith("authentication blocked:")]
    assert blocks == [
        "authentication blocked: user='admin' client=192.0.2.10 reason=client_limit path=/x",
        "authentication blocked: user='admin' client=192.0.2.10 reason=user_limit path=/x",
    ]


# -- what failure() reports -------------------------------------------------

# (per_client, per_user, the limits each of 5 failures crosses)
CROSSINGS = [
    (3, 0, [(), (), ("client",), (), ()], "client-only"),
    (0, 3, [(), (), ("user",), (), ()], "user-only"),
    (3, 3, [(), (), ("client", "user"), (), ()], "both-at-once"),
    (2, 4, [(), ("client",), (), ("user",), ()], "one-after-the-other"),
    (0, 0, [(), (), (), (), ()], "both-off"),
]


@pytest.mark.parametrize(
    ("per_client", "per_user", "crossed"),
    [c[:3] for c in CROSSINGS],
    ids=[c[3] for c in CROSSINGS],
)
def test_failure_reports_only_the_crossing(
    per_client: int, per_user: int, crossed: list[tuple[str, ...]]
) -> None:
    throttle = Throttle(per_client=per_client, per_user=per_user, clock=Clock(T0))
    verdicts = [throttle.failure(CLIENT, "admin") for _ in range(5)]
    # All at T0, in slot 100: each block lasts until T0 + 330.
    assert verdicts == [tuple(Verdict(FULL, limit) for limit in limits) for limits in crossed]


def test_a_failure_without_a_username_counts_for_the_client_only() -> None:
    clock = Clock(T0)
    throttle = Throttle(per_client=3, per_user=3, clock=clock)
    assert [throttle.failure(CLIENT, None) for _ in range(3)] == [
        (),
        (),
        (Verdict(FULL, "client"),),
    ]
    store = memory(throttle)
    assert counts(store, client_key(CLIENT), clock) == newest(3)
    assert len(store) == 1


# -- keys -------------------------------------------------------------------

CLIENT_KEYS = [
    ("192.0.2.10", "c192.0.2.10", "ipv4"),
    ("::ffff:192.0.2.10", "c192.0.2.10", "ipv4-mapped"),
    ("::FFFF:c000:020a", "c192.0.2.10", "ipv4-mapped-hex"),
    ("2001:db8::1", "c2001:db8::/64", "ipv6"),
    ("2001:db8:0:0:ffff:ffff:ffff:ffff", "c2001:db8::/64", "ipv6-end-of-the-64"),
    ("2001:0DB8:0000:0001:0000:0000:0000:0001", "c2001:db8:0:1::/64", "ipv6-expanded"),
    ("fe80::1%eth0", "cfe80::/64", "ipv6-with-a-zone"),
    ("::1", "c::/64", "ipv6-loopback"),
    ("-", "c-", "no-address"),
    ("not:an:address", "cnot:an:address", "garbage-with-colons"),
    (":" * 100, "c" + ":" * 64, "long-garbage-with-colons"),
]


@pytest.mark.parametrize(
    ("address", "key"), [k[:2] for k in CLIENT_KEYS], ids=[k[2] for k in CLIENT_KEYS]
)
def test_client_key(address: str, key: str) -> None:
    assert client_key(address) == key


LONG_NAME = "x" * 65

USER_KEYS = [
    ("admin", "uadmin", "short"),
    ("", "u", "empty"),
    ("é" * 64, "u" + "é" * 64, "64-characters"),
    ("x" * 64, "u" + "x" * 64, "64-ascii"),
    (LONG_NAME, "u#" + hashlib.blake2b(LONG_NAME.encode(), digest_size=16).hexdigest(), "65"),
]


@pytest.mark.parametrize(("name", "key"), [k[:2] for k in USER_KEYS], ids=[k[2] for k in USER_KEYS])
def test_user_key(name: str, key: str) -> None:
    assert user_key(name) == key


def test_long_usernames_get_distinct_bounded_keys() -> None:
    keys = {user_key(f"{i:06d}" + "x" * 6000) for i in range(100)}
    assert len(keys) == 100
    assert {len(key) for key in keys} == {2 + 32}  # "u#" and 16 bytes in hex


def test_an_ipv6_slash_64_shares_one_client_count(inner: Recorder) -> None:
    users = CountingUsers()
    app = make(
        inner, users, throttle=Throttle(per_client=3, per_user=0, clock=Clock(T0)), cache=None
    )
    fail(app, 3, addr="2001:db8::1")
    # Another address of the same /64: an attacker gets no fresh key from it.
    app.get("/", headers=auth(), extra_environ=at("2001:db8::ffff:2"), status=429)
    app.get("/", headers=auth(), extra_environ=at("2001:db8::1"), status=429)
    assert len(users.calls) == 3
    # The next /64 is another client.
    res = app.get("/", headers=auth(), extra_environ=at("2001:db8:0:1::1"), status=200)
    assert res.json["remote_user"] == "admin"


@pytest.mark.parametrize(
    ("failing", "probing"),
    [(CLIENT, "::ffff:" + CLIENT), ("::ffff:" + CLIENT, CLIENT)],
    ids=["ipv4-then-mapped", "mapped-then-ipv4"],
)
def test_an_ipv4_mapped_address_shares_its_ipv4_count(
    inner: Recorder, failing: str, probing: str
) -> None:
    app = make(
        inner, USERS, throttle=Throttle(per_client=3, per_user=0, clock=Clock(T0)), cache=None
    )
    fail(app, 3, addr=failing)
    app.get("/", headers=auth(), extra_environ=at(probing), status=429)
    app.get("/", headers=auth(), extra_environ=at("::ffff:" + OTHER), status=200)


def test_a_login_exempts_its_whole_slash_64_from_the_user_limit(inner: Recorder) -> None:
    clock = Clock(T0)
    throttle = Throttle(per_client=20, per_user=5, clock=clock)
    app = make(inner, USERS, throttle=throttle, cache=None)
    app.get("/", headers=auth(), extra_environ=at("2001:db8::1"), status=200)
    assert memory(throttle).trusted(
        "t" + client_key("2001:db8::1") + "\0" + user_key("admin"), clock.now
    )
    attack_admin(app)
    app.get("/", headers=auth(), extra_environ=at("2001:db8::2"), status=200)
    app.get("/", headers=auth(), extra_environ=at("2001:db8:1::1"), status=429)


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
    client_key.cache_clear()
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
    admin = user_key("admin")
    assert store.trusted("t" + client_key("10.0.0.49") + "\0" + admin, clock.now)
    assert not store.trusted("t" + client_key("10.0.0.0") + "\0" + admin, clock.now)


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
    assert counts(store, user_key("admin"), clock) == newest(8 * per_thread)
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
            status, _, _ = call(app, "/", HTTP_AUTHORIZATION=basic("admin", "guess"))
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


# -- a custom store ---------------------------------------------------------


class DictStore:
    """The smallest ThrottleStore: two dicts and a lock, no bound, no expiry."""

    def __init__(self) -> None:
        self.failures: dict[tuple[str, int], int] = {}
        self.trusts: dict[str, float] = {}
        self.spans: set[int] = set()
        self.lock = threading.Lock()

    def counts(self, key: str, bucket: int, span: int) -> Sequence[int]:
        self.spans.add(span)
        found = [self.failures.get((key, b), 0) for b in range(bucket - span + 1, bucket + 1)]
        return found if any(found) else ()

    def add(self, key: str, bucket: int, span: int) -> Sequence[int]:
        with self.lock:
            self.failures[key, bucket] = self.failures.get((key, bucket), 0) + 1
            return self.counts(key, bucket, span)

    def trust(self, key: str, until: float) -> None:
        self.trusts[key] = until

    def trusted(self, key: str, now: float) -> bool:
        return self.trusts.get(key, 0.0) > now


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
    assert store.trusts == {"t" + client_key(HOME) + "\0" + user_key("admin"): T0 + DAY}
    # The throttle asks for 11 slots and numbers them window / 10 apart.
    assert store.spans == {SPAN}
    assert store.failures == {
        (client_key(CLIENT), 100): 3,
        (user_key("nobody"), 100): 3,
        **{(client_key(f"203.0.113.{i}"), 100): 1 for i in range(4)},
        (user_key("admin"), 100): 4,
    }
    clock.now = T0 + FULL - 1
    app.get("/", headers=auth(), status=429)
    app.get("/", headers=auth(), extra_environ=at(OTHER), status=429)
    clock.now = T0 + FULL
    app.get("/", headers=auth(), status=200)
    app.get("/", headers=auth(), extra_environ=at(OTHER), status=200)


# -- options ----------------------------------------------------------------


class IncompleteStore:
    """The failure half of a ThrottleStore, without ``trust``/``trusted``."""

    def counts(self, key: str, bucket: int, span: int) -> Sequence[int]:
        return ()

    def add(self, key: str, bucket: int, span: int) -> Sequence[int]:
        return [0] * (span - 1) + [1]


BAD_THROTTLE = [
    ({"per_client": -1}, ValueError, "per_client", "per-client-negative"),
    ({"per_client": True}, ValueError, "per_client", "per-client-bool"),
    ({"per_client": 2.0}, ValueError, "per_client", "per-client-float"),
    ({"per_client": "20"}, ValueError, "per_client", "per-client-str"),
    ({"per_client": 65536}, ValueError, "per_client", "per-client-too-large"),
    ({"per_user": -1}, ValueError, "per_user", "per-user-negative"),
    ({"per_user": False}, ValueError, "per_user", "per-user-bool"),
    ({"per_user": 100.5}, ValueError, "per_user", "per-user-float"),
    ({"per_user": 100_000}, ValueError, "per_user", "per-user-too-large"),
    ({"window": 0}, ValueError, "window", "window-zero"),
    ({"window": -300}, ValueError, "window", "window-negative"),
    ({"window": 0.5}, ValueError, "window", "window-under-a-second"),
    ({"window": True}, ValueError, "window", "window-bool"),
    ({"window": "300"}, ValueError, "window", "window-str"),
    ({"window": 86_401}, ValueError, "window", "window-too-large"),
    ({"window": float("nan")}, ValueError, "window", "window-nan"),
    ({"window": float("inf")}, ValueError, "window", "window-inf"),
    ({"max_entries": 0}, ValueError, "max_entries", "max-entries-zero"),
    ({"max_entries": -1}, ValueError, "max_entries", "max-entries-negative"),
    ({"max_entries": True}, ValueError, "max_entries", "max-entries-bool"),
    ({"max_entries": 1e5}, ValueError, "max_entries", "max-entries-float"),
    ({"store": object()}, TypeError, "store", "store-object"),
    ({"store": {}}, TypeError, "store", "store-dict"),
    ({"store": IncompleteStore()}, TypeError, "store", "store-missing-methods"),
    # The built-in store's size, meaningless for a store that brings its own bound.
    (
        {"max_entries": 100, "store": DictStore()},
        ValueError,
        "max_entries",
        "max-entries-and-store",
    ),
    (
        {"max_entries": 100_000, "store": DictStore()},
        ValueError,
        "max_entries",
        "default-and-store",
    ),
]


@pytest.mark.parametrize(
    ("options", "error", "name"),
    [b[:3] for b in BAD_THROTTLE],
    ids=[b[3] for b in BAD_THROTTLE],
)
def test_bad_throttle_options_name_themselves(
    options: dict[str, Any], error: type[Exception], name: str
) -> None:
    with pytest.raises(error, match=name):
        Throttle(**options)


@pytest.mark.parametrize(
    "options",
    [
        {"per_client": 0, "per_user": 0},
        {"per_client": 65535, "per_user": 65535},
        {"window": 1},
        {"window": 2.5},
        {"window": 86_400},
        {"max_entries": 1},
        {"max_entries": None},
        {"store": DictStore()},
        {"store": DictStore(), "max_entries": None},
    ],
    ids=[
        "zeros",
        "largest-limits",
        "window-1s",
        "window-float",
        "window-a-day",
        "one-entry",
        "max-entries-none",
        "custom-store",
        "custom-store-max-entries-none",
    ],
)
def test_boundary_throttle_options_are_accepted(options: dict[str, Any]) -> None:
    throttle = Throttle(**options)
    for name, value in options.items():
        if name == "max_entries":
            # None is the built-in store's default size.
            expected = 100_000 if value is None else value
            if "store" not in options:
                assert memory(throttle).max_entries == expected
        elif name == "store":
            assert throttle.store is value
        else:
            assert getattr(throttle, name) == value
    assert repr(throttle).startswith("<Throttle per_client=")


@pytest.mark.parametrize(
    "throttle",
    ["yes", True, 20, Throttle, MemoryStore()],
    ids=["str", "bool", "int", "the-class", "a-store"],
)
def test_throttle_option_must_be_a_throttle(inner: Recorder, throttle: object) -> None:
    with pytest.raises(TypeError, match="throttle"):
        BasicAuth(inner, USERS, throttle=throttle)  # type: ignore[arg-type]
