"""Redis outages: a real redis-server stopped and started again mid-test.

Whatever the policy, nobody is let in and nobody gets a 500: with
``on_error="fallback"`` the throttle counts in process (one ERROR when the
outage starts, one INFO when it ends), with ``"closed"`` requests that need
the store get 503 with ``Retry-After: 1``.
"""

from __future__ import annotations

import http.client
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import webtest
from helpers import LiveServer, auth, basic
from redisserver import RedisServer

from basicauth_wsgi import BasicAuth, Throttle

from .support import CountingUsers

redis = pytest.importorskip("redis") if not os.environ.get("CI") else __import__("redis")
from basicauth_wsgi.throttle.redis import RedisStore  # noqa: E402

ATTACKER = {"REMOTE_ADDR": "203.0.113.9"}
USER = {"REMOTE_ADDR": "192.0.2.10"}


def ok(environ: dict[str, object], start_response: Callable[..., object]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return condition()
        time.sleep(0.02)
    return True


def lines(caplog: pytest.LogCaptureFixture, level: int, text: str) -> int:
    return sum(1 for r in caplog.records if r.levelno == level and text in r.getMessage())


def test_fallback_counts_in_process_while_redis_is_down(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisStore.from_url(own_redis.url)
    users = CountingUsers()
    app = webtest.TestApp(
        BasicAuth(ok, users, cache=None, throttle=Throttle(per_client=3, store=store))
    )
    try:
        assert store.ready(5.0)
        with caplog.at_level(logging.INFO, logger="basicauth_wsgi"):
            app.get("/", headers=auth(), extra_environ=USER, status=200)
            own_redis.stop()
            statuses = [
                app.get(
                    "/",
                    headers=auth("admin", f"guess{i}"),
                    extra_environ=ATTACKER,
                    expect_errors=True,
                ).status_int
                for i in range(6)
            ]
            assert statuses == [401] * 3 + [429] * 3  # counted in process
            assert users.calls.count("admin") == 1 + 3
            app.get("/", headers=auth(), extra_environ=USER, status=200)  # the user works on
            assert not store.available
            assert lines(caplog, logging.ERROR, "Redis unreachable") == 1

            own_redis.start()
            assert until(lambda: store.available)  # the subscriber reconnects on its own
            assert lines(caplog, logging.INFO, "Redis answers again") == 1
            assert lines(caplog, logging.ERROR, "Redis unreachable") == 1
            # Counting is back in Redis, and the outage's counts still block here.
            other = {"REMOTE_ADDR": "203.0.113.10"}
            app.get("/", headers=auth("admin", "x"), extra_environ=other, status=401)
            assert own_redis.command("EXISTS", "basicauth:{throttle}:k:c203.0.113.10") == ":1"
            app.get("/", headers=auth("admin", "y"), extra_environ=ATTACKER, status=429)
    finally:
        store.close()


def test_closed_answers_503_while_redis_is_down(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisStore.from_url(own_redis.url, on_error="closed")
    users = CountingUsers()
    app = webtest.TestApp(
        BasicAuth(ok, users, cache=None, throttle=Throttle(per_client=3, store=store))
    )
    try:
        assert store.ready(5.0)
        with caplog.at_level(logging.INFO, logger="basicauth_wsgi"):
            app.get("/", headers=auth(), extra_environ=USER, status=200)
            own_redis.stop()
            for headers in (auth("admin", "wrong"), auth(), {"Authorization": "Basic %%%"}):
                response = app.get("/", headers=headers, extra_environ=ATTACKER, status=503)
                assert response.headers["Retry-After"] == "1"
            assert users.calls.count("admin") == 1  # no password checked without the store
            app.get("/", extra_environ=ATTACKER, status=401)  # no credentials: no store needed
            own_redis.start()
            assert until(lambda: store.available)
            app.get("/", headers=auth(), extra_environ=USER, status=200)
            app.get("/", headers=auth("admin", "wrong"), extra_environ=ATTACKER, status=401)
            assert lines(caplog, logging.ERROR, "Redis unreachable") == 1
            assert lines(caplog, logging.INFO, "Redis answers again") == 1
    finally:
        store.close()


def get(port: int, headers: dict[str, str], source: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", "/api/v1/private", headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.mark.parametrize("policy", ["fallback", "closed"])
def test_serve_with_redis_survives_an_outage(
    own_redis: RedisServer, tmp_path: Path, policy: str
) -> None:
    # The store's own options ride on the URL: serve --redis 'redis://...?on_error=closed'.
    url = own_redis.url + ("?on_error=closed" if policy == "closed" else "")
    args = ["--db", str(tmp_path / "api.db"), "--redis", url, "--throttle-per-client", "3"]
    live = LiveServer(args, cwd=tmp_path)
    good = {"Authorization": basic("admin", live.password)}
    try:
        assert get(live.port, good, "127.0.0.1") == 200
        own_redis.stop()
        attacker = [get(live.port, auth("admin", f"g{i}"), "127.0.0.2") for i in range(5)]
        user = get(live.port, good, "127.0.0.3")
        if policy == "fallback":
            assert attacker == [401] * 3 + [429] * 2
            assert user == 200
        else:
            assert attacker == [503] * 5
            assert user == 503
        own_redis.start()
        # Back within 30 s: the right password gets in, a wrong one is counted in Redis.
        live.expect(r"INFO basicauth_wsgi: throttle store: Redis answers again", timeout=30)
        assert get(live.port, good, "127.0.0.4") == 200
        assert get(live.port, auth("admin", "wrong"), "127.0.0.5") == 401
        assert own_redis.command("EXISTS", "basicauth:{throttle}:k:c127.0.0.5") == ":1"
        errors = "\n".join(live.errors)
        assert errors.count("Redis unreachable") == 1
        assert "Traceback" not in errors  # one line each, whatever the policy
        assert " 500 " not in "\n".join(live.output)
    finally:
        live.stop()


def test_a_slow_redis_counts_as_down(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    # CLIENT PAUSE holds every client's commands: Redis answers, but late.
    store = RedisStore.from_url(own_redis.url)
    users = CountingUsers()
    app = webtest.TestApp(
        BasicAuth(ok, users, cache=None, throttle=Throttle(per_client=3, store=store))
    )
    try:
        assert store.ready(5.0)
        with caplog.at_level(logging.INFO, logger="basicauth_wsgi"):
            app.get("/", headers=auth(), extra_environ=USER, status=200)
            assert own_redis.command("CLIENT", "PAUSE", "1500", "ALL") == "+OK"
            app.get("/", headers=auth("admin", "wrong"), extra_environ=ATTACKER, status=401)
            assert not store.available
            assert lines(caplog, logging.ERROR, "TimeoutError") == 1
            app.get("/", headers=auth(), extra_environ=USER, status=200)  # in process meanwhile
            tries = iter(range(10_000))

            def answered() -> bool:
                address = f"198.51.100.{next(tries) % 250}"
                app.get("/", headers=auth("admin", "x"), extra_environ={"REMOTE_ADDR": address},
                        expect_errors=True)  # fmt: skip
                return store.available

            assert until(answered)  # tried again at most every few seconds, then back
            assert lines(caplog, logging.INFO, "Redis answers again") == 1
            assert lines(caplog, logging.ERROR, "Redis unreachable") == 1
            assert not [r for r in caplog.records if "500" in r.getMessage()]
    finally:
        store.close()


def statuses_until(app: webtest.TestApp, headers: dict[str, str], end: float) -> list[int]:
    """A cached login's statuses, one request after another, until ``end`` (monotonic)."""
    seen = []
    while time.monotonic() < end:
        seen.append(
            app.get("/", headers=headers, extra_environ=USER, expect_errors=True).status_int
        )
    return seen


@pytest.mark.parametrize("outage", ["hung", "dead"])
def test_closed_refuses_cached_logins_for_the_whole_outage(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture, outage: str
) -> None:
    # A hung Redis (CLIENT PAUSE: connections accepted, nothing answered) is
    # refused exactly like a dead one: cached logins included, until Redis
    # answers again; one ERROR line (no traceback) and one INFO line.
    from basicauth_wsgi import HashedUsers, VerificationCache
    from basicauth_wsgi.hashes import hash_password

    store = RedisStore.from_url(own_redis.url, on_error="closed")
    users = HashedUsers({"admin": hash_password("SuperSecretPwd", "sha256-crypt")})
    app = webtest.TestApp(
        BasicAuth(ok, users, cache=VerificationCache(), throttle=Throttle(store=store))
    )
    good = auth()
    try:
        assert store.ready(5.0)
        with caplog.at_level(logging.INFO, logger="basicauth_wsgi"):
            app.get("/", headers=good, extra_environ=USER, status=200)  # checked, then cached
            app.get("/", headers=good, extra_environ=USER, status=200)  # cached, trusted
            pause = 2.0
            began = time.monotonic()
            if outage == "hung":
                assert own_redis.command("CLIENT", "PAUSE", str(int(pause * 1000)), "ALL") == "+OK"
            else:
                own_redis.stop()
            # Noticed without any request touching Redis (a cached login makes
            # no Redis command): by the subscriber's heartbeat, or its socket.
            assert until(
                lambda: (
                    app.get("/", headers=good, extra_environ=USER, expect_errors=True).status_int
                    == 503
                ),
                timeout=pause * 0.6,
            )
            during = statuses_until(app, good, began + pause * 0.8)
            wrong = app.get("/", headers=auth("admin", "guess"), extra_environ=ATTACKER,
                            expect_errors=True)  # fmt: skip
            assert wrong.status_int == 503  # never a failure let through unchecked
            if outage == "dead":
                own_redis.start()
            assert until(
                lambda: (
                    app.get("/", headers=good, extra_environ=USER, expect_errors=True).status_int
                    == 200
                ),
                timeout=30,
            )
            after = [app.get("/", headers=good, extra_environ=USER).status_int for _ in range(20)]
        assert during and set(during) == {503}
        assert after == [200] * 20
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "Redis unreachable" in errors[0].getMessage()
        assert errors[0].exc_info is None  # one line, no traceback
        assert lines(caplog, logging.INFO, "Redis answers again") == 1
    finally:
        store.close()
