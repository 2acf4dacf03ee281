"""``basicauth_store_up`` and the 503s of a Redis outage: a real redis-server stopped mid-test."""

from __future__ import annotations

import os

import pytest
import webtest
from helpers import basic
from redisserver import RedisServer

from basicauth_wsgi import BasicAuth, Throttle
from basicauth_wsgi.metrics import Metrics

from ..throttle.test_redis_outage import until
from .test_series import ok, value

redis = pytest.importorskip("redis") if not os.environ.get("CI") else __import__("redis")
from basicauth_wsgi.throttle.redis import RedisStore  # noqa: E402


def test_an_outage_shows_as_store_down_and_unavailable(own_redis: RedisServer) -> None:
    store = RedisStore.from_url(own_redis.url, on_error="closed")
    metrics = Metrics()
    app = webtest.TestApp(BasicAuth(ok, {"alice": "alice-pw"}, cache=None, metrics=metrics,
                                    throttle=Throttle(store=store)))  # fmt: skip
    wrong = {"Authorization": basic("alice", "wrong")}
    try:
        assert store.ready(5.0)
        app.get("/", headers=wrong, status=401)
        assert value(metrics, "basicauth_store_up") == 1
        own_redis.stop()
        app.get("/", headers=wrong, status=503)
        assert value(metrics, "basicauth_store_up") == 0
        assert value(metrics, "basicauth_requests_total", outcome="unavailable") == 1
        assert value(metrics, "basicauth_requests_total", outcome="failed") == 1
        own_redis.start()
        assert until(lambda: store.available)
        app.get("/", headers=wrong, status=401)
        assert value(metrics, "basicauth_store_up") == 1
    finally:
        store.close()
