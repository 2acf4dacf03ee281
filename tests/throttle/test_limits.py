"""Per-client and per-user limits, and why a user is never locked out."""

from __future__ import annotations

import logging

import pytest
from helpers import CLIENT, Clock, Recorder, auth, make

from basicauth_wsgi.throttle import (
    StoreLookup,
    Throttle,
    client_key,
)

from .support import (
    DAY,
    HOME,
    OTHER,
    T0,
    USERS,
    CountingUsers,
    at,
    attack_admin,
    counts,
    fail,
    memory,
    newest,
)

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


# -- without store I/O (an event loop) ---------------------------------------------


def test_without_asking_the_store_a_blocked_user_is_a_lookup_to_make_elsewhere() -> None:
    clock = Clock(T0)
    throttle = Throttle(per_client=20, per_user=2, clock=clock)
    Throttle(store=throttle.store, clock=clock).success(HOME, "admin")  # another process
    for n in range(2):
        throttle.failure(f"203.0.113.{n}", "admin")
    with pytest.raises(StoreLookup):
        throttle.check_user(HOME, "admin", ask_store=False)
    with pytest.raises(StoreLookup):
        throttle.granted(HOME, "admin", ask_store=False)
    assert throttle.check_user(HOME, "admin") is None  # asked: trusted there
    with pytest.raises(StoreLookup):  # the store might trust this one too
        throttle.check_user(OTHER, "admin", ask_store=False)
    verdict = throttle.check_user(OTHER, "admin")
    assert verdict is not None and verdict.limit == "user"
    throttle.success(HOME, "admin")  # now this process knows: no lookup needed
    assert throttle.check_user(HOME, "admin", ask_store=False) is None


def test_a_cached_logins_trust_refresh_is_due_once_an_hour() -> None:
    clock = Clock(T0)
    throttle = Throttle(clock=clock)
    throttle.success(HOME, "admin")
    assert throttle.granted(HOME, "admin") is None
    assert not throttle.refresh_due(HOME, "admin")  # fresh: nothing to refresh
    clock.now += 3601
    assert throttle.granted(HOME, "admin") is True  # due; granting writes nothing
    assert throttle.refresh_due(HOME, "admin")
    throttle.success(HOME, "admin")
    assert not throttle.refresh_due(HOME, "admin")
