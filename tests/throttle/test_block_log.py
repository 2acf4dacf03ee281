"""What the throttle logs and what Throttle.failure() reports."""

from __future__ import annotations

import logging

import pytest
from helpers import CLIENT, Clock, Recorder, auth, make

from basicauth_wsgi.throttle import (
    Throttle,
    Verdict,
    client_key,
)

from .support import FULL, OTHER, T0, USERS, WINDOW, at, counts, fail, memory, newest, wrong

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
            app.get("/x", headers=auth("admin", wrong()), status=401)
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
        for i in range(2):
            app.get("/x", headers={"Authorization": f"Basic %%%{i}"}, status=401)
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
            app.get("/x", headers=auth("admin", wrong()), status=401)
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
