"""per_password: one password sprayed over many users from many addresses (SPEC §5, round 3)."""

from __future__ import annotations

import logging
import threading

import pytest
from helpers import Clock, Recorder, auth, basic, call, make

from basicauth_wsgi import BasicAuth
from basicauth_wsgi.hashes import hash_password
from basicauth_wsgi.throttle import (
    StoreLookup,
    Throttle,
    ThrottleStore,
    Verdict,
    password_key,
)

from .support import FULL, HOME, OTHER, T0, CountingUsers, at, counts, memory, newest

SPRAYED = "Summer2026!"
#: 30 users; carol's password is the one being sprayed.
MANY = {f"user{n}": f"pw-{n}" for n in range(30)} | {"carol": SPRAYED, "admin": "SuperSecretPwd"}


def spray(app: object, users: range, password: str = SPRAYED, net: int = 1) -> list[int]:
    """``password`` for each ``user<n>``, each from its own address: the statuses."""
    return [
        app.get(  # type: ignore[attr-defined]
            "/",
            headers=auth(f"user{n}", password),
            extra_environ=at(f"10.{net}.0.{n}"),
            expect_errors=True,
        ).status_int
        for n in users
    ]


def test_a_sprayed_password_is_refused_after_per_password_failures(inner: Recorder) -> None:
    users = CountingUsers(MANY)
    throttle = Throttle(per_password=5, clock=Clock(T0))
    app = make(inner, users, throttle=throttle, cache=None)
    # One guess per address and per user: invisible to per_client and per_user.
    assert spray(app, range(20)) == [401] * 5 + [429] * 15
    assert len(users.calls) == 5  # at most per_password checks of that password
    res = app.get("/", headers=auth("carol", SPRAYED), extra_environ=at(OTHER), status=429)
    assert res.headers["Retry-After"] == str(FULL)
    # Other passwords are not affected, from anywhere.
    app.get("/", headers=auth("user7", "pw-7"), extra_environ=at("10.1.0.7"), status=200)
    assert spray(app, range(20, 23), password="Winter2026!") == [401] * 3


def test_the_count_is_kept_under_a_keyed_tag_not_the_password() -> None:
    clock = Clock(T0)
    throttle = Throttle(per_password=5, clock=clock)
    for n in range(3):
        throttle.failure(f"10.0.0.{n}", f"user{n}", SPRAYED)
    store = memory(throttle)
    key = password_key(SPRAYED, store.secret())
    assert counts(store, key, clock) == newest(3)
    assert not [k for k in store._counts if SPRAYED in k]


def test_a_trusted_pair_is_exempt(inner: Recorder) -> None:
    # carol logged in from HOME before: the spray that blocks her password
    # elsewhere does not lock her out of where she works.
    users = CountingUsers(MANY)
    throttle = Throttle(per_password=5, clock=Clock(T0))
    app = make(inner, users, throttle=throttle, cache=None)
    app.get("/", headers=auth("carol", SPRAYED), extra_environ=at(HOME), status=200)
    spray(app, range(10))
    app.get("/", headers=auth("carol", SPRAYED), extra_environ=at(OTHER), status=429)
    res = app.get("/", headers=auth("carol", SPRAYED), extra_environ=at(HOME), status=200)
    assert res.json["remote_user"] == "carol"
    # Her wrong passwords from HOME still count (and are still checked).
    app.get("/", headers=auth("carol", "typo"), extra_environ=at(HOME), status=401)


def test_a_success_never_touches_the_count(inner: Recorder) -> None:
    clock = Clock(T0)
    users = CountingUsers(MANY)
    throttle = Throttle(per_password=5, clock=clock)
    app = make(inner, users, throttle=throttle, cache=None)
    store = memory(throttle)
    key = password_key(SPRAYED, store.secret())
    # Twenty logins with it (from twenty addresses): nothing counted, nothing kept.
    for n in range(20):
        app.get("/", headers=auth("carol", SPRAYED), extra_environ=at(f"10.9.0.{n}"), status=200)
    assert counts(store, key, clock) == []
    # Failures count; a success in between neither adds nor takes away.
    spray(app, range(3))
    app.get("/", headers=auth("carol", SPRAYED), extra_environ=at("10.9.1.1"), status=200)
    assert counts(store, key, clock) == newest(3)
    assert spray(app, range(3, 6)) == [401, 401, 429]


def test_per_password_zero_disables_it(inner: Recorder) -> None:
    users = CountingUsers(MANY)
    app = make(inner, users, throttle=Throttle(per_password=0, clock=Clock(T0)), cache=None)
    assert spray(app, range(30)) == [401] * 30
    throttle = Throttle(per_password=0, clock=Clock(T0))
    throttle.failure("10.0.0.1", "user1", SPRAYED)
    assert not [k for k in memory(throttle)._counts if k.startswith("p")]


def test_the_default_is_ten(inner: Recorder) -> None:
    assert Throttle().per_password == 10
    users = CountingUsers(MANY)
    app = make(inner, users, throttle=Throttle(clock=Clock(T0)), cache=None)
    assert spray(app, range(15)) == [401] * 10 + [429] * 5


def test_cached_refusals_count_for_their_password(inner: Recorder) -> None:
    # With the cache, the same header from another address is a refusal the
    # cache remembers (no check): still a failure of that password.
    from basicauth_wsgi import VerificationCache

    users = CountingUsers(MANY)
    throttle = Throttle(per_password=3, clock=Clock(T0))
    app = make(inner, users, throttle=throttle, cache=VerificationCache())
    statuses = [
        app.get(
            "/", headers=auth("user1", SPRAYED), extra_environ=at(f"10.0.0.{n}"), expect_errors=True
        ).status_int
        for n in range(3)
    ]
    assert statuses == [401] * 3
    assert users.calls == ["user1"]
    app.get("/", headers=auth("user2", SPRAYED), extra_environ=at("10.0.1.1"), status=429)


def test_a_cached_login_from_a_trusted_pair_is_not_refused(inner: Recorder) -> None:
    from basicauth_wsgi import VerificationCache

    throttle = Throttle(per_password=3, clock=Clock(T0))
    app = make(inner, MANY, throttle=throttle, cache=VerificationCache())
    app.get("/", headers=auth("carol", SPRAYED), extra_environ=at(OTHER), status=200)
    spray(app, range(5))
    app.get("/", headers=auth("carol", SPRAYED), extra_environ=at(OTHER), status=200)


def test_a_cached_login_with_a_sprayed_password_is_refused_from_elsewhere() -> None:
    # carol logged in from HOME (so the cache knows her header); a botnet
    # spraying her password must not be let in by that cache entry.
    clock = Clock(T0)
    throttle = Throttle(per_password=3, clock=clock)
    throttle.success(HOME, "carol")
    for n in range(3):
        throttle.failure(f"10.0.0.{n}", f"user{n}", SPRAYED)
    header = basic("carol", SPRAYED)
    assert throttle.granted("203.0.113.7", "carol", header=header) == Verdict(FULL, "password")
    assert throttle.granted(HOME, "carol", header=header) is None  # trusted there
    # No header: per_password unknown. Not blocked (True: its trust is due, never written).
    assert throttle.granted("203.0.113.7", "carol") is True
    with pytest.raises(StoreLookup):  # the store might trust the pair
        throttle.granted("203.0.113.7", "carol", ask_store=False, header=header)
    other = basic("carol", "something-else")
    assert throttle.granted("203.0.113.7", "carol", header=other) is True


def test_the_block_is_logged_once_as_password_limit(
    inner: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    throttle = Throttle(per_password=3, clock=Clock(T0))
    app = make(inner, MANY, throttle=throttle, cache=None)
    with caplog.at_level(logging.WARNING, logger="basicauth_wsgi"):
        spray(app, range(10))
    blocks = [r.getMessage() for r in caplog.records if "blocked" in r.getMessage()]
    assert blocks == [
        "authentication blocked: user='user2' client=10.1.0.2 reason=password_limit path=/"
    ]
    assert SPRAYED not in caplog.text


def test_check_user_refuses_before_any_check_and_says_which_limit() -> None:
    throttle = Throttle(per_password=2, clock=Clock(T0))
    for n in range(2):
        throttle.failure(f"10.0.0.{n}", f"user{n}", SPRAYED)
    assert throttle.check_user(OTHER, "user9", password=SPRAYED) == Verdict(FULL, "password")
    assert throttle.check_user(OTHER, "user9", password="other") is None
    assert throttle.check_user(OTHER, "user9") is None  # no password: nothing to refuse
    verdict = throttle.reserve(OTHER, "user9", SPRAYED, basic("user9", SPRAYED))
    assert verdict == Verdict(FULL, "password")


def test_without_asking_the_store_a_sprayed_password_is_a_lookup_to_make_elsewhere() -> None:
    clock = Clock(T0)
    throttle = Throttle(per_password=2, clock=clock)
    Throttle(store=throttle.store, clock=clock).success(HOME, "carol")  # another process
    for n in range(2):
        throttle.failure(f"10.0.0.{n}", f"user{n}", SPRAYED)
    with pytest.raises(StoreLookup):  # the store might trust this pair
        throttle.check_user(HOME, "carol", ask_store=False, password=SPRAYED)
    assert throttle.check_user(HOME, "carol", password=SPRAYED) is None  # it does
    assert throttle.check_user(OTHER, "carol", password=SPRAYED) == Verdict(FULL, "password")


def test_concurrent_sprays_check_exactly_per_password(store: ThrottleStore) -> None:
    # 64 requests at once, each another user from another address, one password.
    users = CountingUsers(MANY)
    throttle = Throttle(per_password=10, store=store)
    app = BasicAuth(Recorder(), users, throttle=throttle, cache=None, max_concurrent_checks=None)
    start = threading.Barrier(16, timeout=10)
    statuses: list[str] = []

    def attempt(slot: int) -> None:
        start.wait()
        for n in range(4):
            status, _, _ = call(
                app,
                "/",
                HTTP_AUTHORIZATION=basic(f"user{slot}x{n}", SPRAYED),
                REMOTE_ADDR=f"10.5.{slot}.{n}",
            )
            statuses.append(status[:3])

    threads = [threading.Thread(target=attempt, args=(slot,)) for slot in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert (statuses.count("401"), statuses.count("429"), len(users.calls)) == (10, 54, 10)


def test_a_bad_per_password_names_itself() -> None:
    for bad in (-1, 65536, 2.5, True, "10"):
        with pytest.raises(ValueError, match="per_password"):
            Throttle(per_password=bad)  # type: ignore[arg-type]


def test_the_option_table_takes_it() -> None:
    entry = "admin:" + hash_password("pw", "sha256-crypt")
    middleware = BasicAuth.from_environ(
        Recorder(), {"BASICAUTH_USERS": entry, "BASICAUTH_THROTTLE_PER_PASSWORD": "3"}
    )
    assert middleware.throttle is not None and middleware.throttle.per_password == 3
    with pytest.raises(ValueError, match="BASICAUTH_THROTTLE_PER_PASSWORD"):
        BasicAuth.from_environ(
            Recorder(), {"BASICAUTH_USERS": entry, "BASICAUTH_THROTTLE_PER_PASSWORD": "70000"}
        )
