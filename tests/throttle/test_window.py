"""The sliding window: slots, expiry and Retry-After."""

from __future__ import annotations

import random

import pytest
from helpers import CLIENT, Clock, Recorder, auth, make

from basicauth_wsgi.throttle import (
    Throttle,
    Verdict,
    client_key,
)

from .support import (
    FULL,
    OTHER,
    SLOT,
    T0,
    USERS,
    WINDOW,
    CountingUsers,
    at,
    attack_admin,
    counts,
    fail,
    memory,
    newest,
)

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
