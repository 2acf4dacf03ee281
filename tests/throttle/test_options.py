"""Throttle on by default, 0 disabling a limit, and the constructor's options."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from wsgiref.validate import validator

import pytest
import webtest
from helpers import CLIENT, Clock, Recorder, auth, make

from basicauth_wsgi import BasicAuth
from basicauth_wsgi.throttle import (
    MemoryStore,
    Throttle,
)

from .support import OTHER, T0, USERS, CountingUsers, DictStore, at, fail, memory

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


def test_every_limit_zero_keeps_nothing(inner: Recorder) -> None:
    throttle = Throttle(per_client=0, per_user=0, per_password=0, clock=Clock(T0))
    app = make(inner, USERS, throttle=throttle, cache=None)
    fail(app, 50)
    app.get("/", headers=auth(), status=200)
    assert len(memory(throttle)) == 0


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
