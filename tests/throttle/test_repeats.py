"""Repeats count once: a client sending the same failing header again and again (SPEC §5, round 3).

A phone or a cron job with a stale saved password retries every minute; it
must not block its owner (``per_user``) nor the office behind its address
(``per_client``). The same header again tells an attacker nothing new, so
counting it once costs no protection.
"""

from __future__ import annotations

import threading

import pytest
from helpers import CLIENT, Clock, Recorder, auth, basic, call, make

from basicauth_wsgi import BasicAuth, VerificationCache
from basicauth_wsgi.throttle import Throttle, Ticket, client_key, user_key

from .support import (
    OTHER,
    SLOT,
    T0,
    WINDOW,
    CountingUsers,
    at,
    counts,
    fail,
    memory,
    newest,
)

STALE = auth("admin", "last-years-password")


@pytest.mark.parametrize("cached", [True, False], ids=["cache", "no-cache"])
def test_a_thousand_retries_of_a_stale_password_count_one_failure(
    inner: Recorder, cached: bool
) -> None:
    clock = Clock(T0)
    users = CountingUsers()
    throttle = Throttle(per_client=20, per_user=5, per_password=3, clock=clock)
    cache = VerificationCache() if cached else None
    app = make(inner, users, throttle=throttle, cache=cache)
    for n in range(1000):
        app.get("/", headers=STALE, status=401)
        if n % 100 == 99:
            clock.now += 0.1  # a thousand retries spread over part of a slot
    store = memory(throttle)
    assert counts(store, client_key(CLIENT), clock) == newest(1)
    assert counts(store, user_key("admin", store.secret()), clock) == newest(1)
    # Neither the address nor the user is blocked: the owner logs in, from
    # here and from anywhere.
    app.get("/", headers=auth(), status=200)
    app.get("/", headers=auth(), extra_environ=at(OTHER), status=200)
    # One check of the stale password with the cache (then remembered), each without.
    assert users.calls.count("admin") == (1 + 1 if cached else 1000 + 2)


def test_a_new_wrong_password_still_counts(inner: Recorder) -> None:
    users = CountingUsers()
    app = make(inner, users, throttle=Throttle(per_client=3, clock=Clock(T0)), cache=None)
    for _ in range(50):
        app.get("/", headers=STALE, status=401)
    fail(app, 2)  # two new guesses: three failures in all
    app.get("/", headers=STALE, status=429)  # a repeat is still refused when blocked
    app.get("/", headers=auth(), status=429)


def test_the_same_header_counts_again_a_window_later(inner: Recorder) -> None:
    clock = Clock(T0)
    throttle = Throttle(per_client=3, clock=clock)
    app = make(inner, CountingUsers(), throttle=throttle, cache=None)
    app.get("/", headers=STALE, status=401)
    clock.now += WINDOW + SLOT  # the first failure has left the window
    app.get("/", headers=STALE, status=401)
    assert counts(memory(throttle), client_key(CLIENT), clock) == newest(1)
    clock.now += SLOT
    app.get("/", headers=STALE, status=401)  # still a repeat of the second
    assert counts(memory(throttle), client_key(CLIENT), clock) == newest(1, ago=1)


def test_the_same_header_from_another_address_counts(inner: Recorder) -> None:
    clock = Clock(T0)
    throttle = Throttle(per_client=20, per_user=3, clock=clock)
    app = make(inner, CountingUsers(), throttle=throttle, cache=None)
    for n in range(3):
        app.get("/", headers=STALE, extra_environ=at(f"203.0.113.{n}"), status=401)
    app.get("/", headers=auth(), extra_environ=at(OTHER), status=429)  # admin: 3 failures


def test_the_same_malformed_header_counts_once(inner: Recorder) -> None:
    clock = Clock(T0)
    throttle = Throttle(per_client=3, clock=clock)
    app = make(inner, CountingUsers(), throttle=throttle, cache=None)
    for _ in range(20):
        app.get("/", headers={"Authorization": "Basic %%%"}, status=401)
    assert counts(memory(throttle), client_key(CLIENT), clock) == newest(1)
    app.get("/", headers=auth(), status=200)


def test_a_repeat_that_now_succeeds_logs_in() -> None:
    # The password was changed back (or the check's backend answered now):
    # a repeat is checked as any attempt, and a success is a success.
    throttle = Throttle(per_client=3, clock=Clock(T0))
    header = basic("admin", "pw")
    first = throttle.reserve(CLIENT, "admin", "pw", header)
    assert isinstance(first, Ticket) and first.once is not None
    assert throttle.settle(first, False) == ()
    again = throttle.reserve(CLIENT, "admin", "pw", header)
    assert isinstance(again, Ticket) and (again.keys, again.once) == ((), None)
    assert throttle.settle(again, True) == ()
    assert throttle.trusts(CLIENT, "admin")


def test_a_success_gives_its_header_mark_back() -> None:
    clock = Clock(T0)
    throttle = Throttle(per_client=3, clock=clock)
    header = basic("admin", "pw")
    ticket = throttle.reserve(CLIENT, "admin", "pw", header)
    assert isinstance(ticket, Ticket)
    throttle.settle(ticket, True)
    assert len(memory(throttle)._counts) == 0  # no count, no mark: idle again
    assert memory(throttle).idle()


def test_concurrent_identical_failures_count_once() -> None:
    users = CountingUsers()
    throttle = Throttle(per_client=20, per_user=0, clock=Clock(T0))
    app = BasicAuth(Recorder(), users, throttle=throttle, cache=None)
    start = threading.Barrier(8, timeout=10)
    header = STALE["Authorization"]

    def retry() -> None:
        start.wait()
        for _ in range(20):
            status, _, _ = call(app, "/", HTTP_AUTHORIZATION=header)
            assert status.startswith("401")

    threads = [threading.Thread(target=retry) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert counts(memory(throttle), client_key(CLIENT), Clock(T0)) == newest(1)
    assert len(users.calls) == 160  # each checked (no cache), one failure counted
