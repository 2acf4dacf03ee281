"""What counts as a failure for the throttle and what does not."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable

import pytest
from helpers import Clock, Recorder, auth, basic, make

from basicauth_wsgi.throttle import (
    Throttle,
)

from .support import T0, USERS, CountingUsers, fail, memory

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


# Three different malformed headers of each kind (the same one again is a
# repeat, which counts once: see test_repeats).
MALFORMED: list[tuple[Callable[[int], str], str]] = [
    (lambda i: f"Basic %%%{i}", "bad-base64"),
    (lambda i: "Basic " + base64.b64encode(f"admin{i}".encode()).decode(), "no-colon"),
    (lambda i: "Basic" + " " * (i + 1), "empty-token"),
    (lambda i: basic("admin", f"SuperSecretPwd{i}", "Bearer"), "other-scheme"),
]


@pytest.mark.parametrize("header", [m[0] for m in MALFORMED], ids=[m[1] for m in MALFORMED])
def test_malformed_header_is_a_failure(inner: Recorder, header: Callable[[int], str]) -> None:
    users = CountingUsers()
    app = make(inner, users, throttle=Throttle(per_client=3, clock=Clock(T0)), cache=None)
    for i in range(3):
        app.get("/", headers={"Authorization": header(i)}, status=401)
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
