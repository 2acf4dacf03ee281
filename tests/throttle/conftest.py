"""Fixtures of the throttle tests: every ThrottleStore implementation, for the contract."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator

import pytest
from redisserver import own_redis, redis_server, redis_url  # noqa: F401 (fixtures)

from basicauth_wsgi.throttle import MemoryStore, ThrottleStore

from .support import DictStore

#: Every store the contract suite runs against: name -> a fixture body
#: yielding a fresh, empty store. A new store joins by adding a row.
STORES: dict[str, Callable[[pytest.FixtureRequest], Iterator[ThrottleStore]]] = {}


def _memory(request: pytest.FixtureRequest) -> Iterator[ThrottleStore]:
    yield MemoryStore()


def _dict(request: pytest.FixtureRequest) -> Iterator[ThrottleStore]:
    yield DictStore()


def _redis(request: pytest.FixtureRequest) -> Iterator[ThrottleStore]:
    # A real redis-server (session-wide, emptied before each test).
    if importlib.util.find_spec("redis") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-py is missing; it is in the test extra")
        pytest.skip("redis-py is not installed")
    from basicauth_wsgi.throttle.redis import RedisStore

    store = RedisStore.from_url(request.getfixturevalue("redis_url"))
    try:
        yield store
    finally:
        store.close()


STORES["memory"] = _memory
STORES["dict"] = _dict
STORES["redis"] = _redis


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest) -> Iterator[ThrottleStore]:
    yield from STORES[request.param](request)
