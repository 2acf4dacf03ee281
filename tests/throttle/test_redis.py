"""RedisStore against a real redis-server: no command on the hot path, shared blocks, keys, options.

The protocol itself is proved by the contract suite (``test_store_contract``,
row ``redis``); this file covers what only a shared store has.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import webtest
from helpers import ROOT, auth
from redisserver import RedisServer, commands_between

from basicauth_wsgi import BasicAuth, HashedUsers, Throttle
from basicauth_wsgi.hashes import hash_password
from basicauth_wsgi.throttle import SPAN, Ticket

from .support import CountingUsers

redis = pytest.importorskip("redis") if not os.environ.get("CI") else __import__("redis")
from basicauth_wsgi.throttle.redis import RedisStore  # noqa: E402

B = 1000
TTL = 400


def ok(environ: dict[str, object], start_response: Callable[..., object]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes; its last value."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return condition()
        time.sleep(0.01)
    return True


# INFO commandstats also counts what a script runs; these are the commands a
# client sends itself (one round trip each; SET also runs in the release script).
SENT = {"evalsha", "eval", "script", "get", "ping", "hello", "multi", "exec", "client"}


def round_trips(commands: dict[str, int]) -> dict[str, int]:
    return {name: n for name, n in commands.items() if name in SENT}


@pytest.fixture
def stores(redis_url: str) -> Iterator[Callable[..., RedisStore]]:
    """Make RedisStores on the shared server (each stands for one process); closed after."""
    made: list[RedisStore] = []

    def make(**options: str) -> RedisStore:
        store = RedisStore.from_url(redis_url, **options)
        made.append(store)
        # Subscribed, and keying with the deployment's secret: these tests
        # call the store itself, not a Throttle that would count again.
        assert store.ready(5.0)
        return store

    try:
        yield make
    finally:
        for store in made:
            store.close()


def hashed_app(store: RedisStore, **options: object) -> webtest.TestApp:
    assert store.ready(5.0)
    users = HashedUsers({"admin": hash_password("SuperSecretPwd", "sha256-crypt")})
    return webtest.TestApp(BasicAuth(ok, users, throttle=Throttle(store=store), **options))


def test_a_cached_request_from_a_trusted_pair_makes_no_redis_command(
    redis_server: RedisServer, stores: Callable[..., RedisStore]
) -> None:
    app = hashed_app(stores())
    env = {"REMOTE_ADDR": "192.0.2.10"}
    app.get("/", headers=auth(), extra_environ=env, status=200)  # checked: reserve, release
    app.get("/", headers=auth(), extra_environ=env, status=200)  # cached: trust already fresh
    before = redis_server.commandstats()
    for _ in range(200):
        app.get("/", headers=auth(), extra_environ=env, status=200)
    assert commands_between(before, redis_server.commandstats()) == {}


def test_an_uncached_check_makes_at_most_two_round_trips(
    redis_server: RedisServer, stores: Callable[..., RedisStore]
) -> None:
    app = hashed_app(stores(), cache=None)
    before = redis_server.commandstats()
    # A new address: reserve, then release (with the trust), one script each.
    app.get("/", headers=auth(), extra_environ={"REMOTE_ADDR": "192.0.2.2"}, status=200)
    assert round_trips(commands_between(before, redis_server.commandstats())) == {"evalsha": 2}
    before = redis_server.commandstats()
    # A wrong password: reserve only.
    wrong = auth("admin", "wrong")
    app.get("/", headers=wrong, extra_environ={"REMOTE_ADDR": "192.0.2.3"}, status=401)
    assert round_trips(commands_between(before, redis_server.commandstats())) == {"evalsha": 1}


def test_peek_of_a_key_that_never_failed_makes_no_command(
    redis_server: RedisServer, stores: Callable[..., RedisStore]
) -> None:
    store = stores()
    store.reserve([("somebody", 5)], B, SPAN, TTL)
    assert store.ready(5.0)
    before = redis_server.commandstats()
    assert [list(store.peek(f"c192.0.2.{i}", B, SPAN)) for i in range(100)] == [[]] * 100
    assert commands_between(before, redis_server.commandstats()) == {}


def test_a_block_decided_by_one_process_reaches_the_others(
    stores: Callable[..., RedisStore],
) -> None:
    one, other = stores(), stores()
    assert other.ready(5.0)
    for _ in range(3):
        assert one.reserve([("cattacker", 3)], B, SPAN, TTL).blocked is None
    assert until(lambda: sum(other.peek("cattacker", B, SPAN)) == 3)
    # A refund that brings it under its limit reaches them too.
    one.release(["cattacker"], B, SPAN, None, 0.0)
    assert until(lambda: sum(other.peek("cattacker", B, SPAN)) == 2)


def test_a_process_started_later_loads_the_current_blocks(
    stores: Callable[..., RedisStore],
) -> None:
    one = stores()
    for _ in range(3):
        one.reserve([("cattacker", 3)], B, SPAN, TTL)
    later = stores()
    assert until(lambda: sum(later.peek("cattacker", B, SPAN)) == 3)


def test_concurrent_attempts_through_two_processes_never_pass_the_limit(
    stores: Callable[..., RedisStore],
) -> None:
    pair = (stores(), stores())
    granted: list[bool] = []
    start = threading.Barrier(16, timeout=10)

    def attempt(store: RedisStore) -> None:
        start.wait()
        for _ in range(4):
            granted.append(store.reserve([("chot", 20)], B, SPAN, TTL).blocked is None)

    threads = [threading.Thread(target=attempt, args=(pair[i % 2],)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert (granted.count(True), len(granted)) == (20, 64)


def test_every_key_carries_the_prefix_and_expires(
    redis_server: RedisServer, stores: Callable[..., RedisStore]
) -> None:
    store = stores(prefix="myapp:")
    assert store.ready(5.0)
    throttle = Throttle(per_client=3, store=store)  # the default window: slots of 30 s
    for n in range(3):
        failed = throttle.reserve("198.51.100.9", "admin", f"guess{n}", f"Basic g{n}")
        assert isinstance(failed, Ticket)
        throttle.settle(failed, False)
    ticket = throttle.reserve("198.51.100.10", "admin", "right", "Basic cmlnaHQ=")
    assert isinstance(ticket, Ticket)
    throttle.settle(ticket, True)  # a success: its counts go, its trust stays
    store.trust("tother", time.time() + 3600)
    client = redis_server.client()
    keys = sorted(k.decode() for k in client.keys("*"))  # type: ignore[attr-defined]
    tagged = "myapp:{throttle}:"
    tags = [key for key in keys if key.startswith(tagged + "k:p")]
    assert len(tags) == 3  # the three wrong passwords: the right one left nothing
    markers = [key for key in keys if key.startswith(tagged + "k:r198.51.100.9\0")]
    assert len(markers) == 3  # the three failing headers
    assert keys == sorted(
        [
            tagged + "blocked",
            tagged + "k:c198.51.100.9",
            tagged + "k:uadmin",
            *tags,
            *markers,
            tagged + "secret",
            tagged + "t:tc198.51.100.10\0uadmin",
            tagged + "t:tother",
        ]
    )
    ttls = {key: client.ttl(key) for key in keys}  # type: ignore[attr-defined]
    # Counts: the ttl the throttle handed over (11 slots of 30 s and a
    # minute of clock slack); trusts: at their `until`; the secret a week.
    assert ttls[tagged + "k:uadmin"] == pytest.approx(390, abs=2)
    assert ttls[tagged + "blocked"] == pytest.approx(390, abs=2)
    assert ttls[tagged + "secret"] == pytest.approx(7 * 86_400, abs=2)
    ttls["myapp:t:tpair"] = ttls.pop(tagged + "t:tc198.51.100.10\0uadmin")
    ttls["myapp:t:tother"] = ttls.pop(tagged + "t:tother")
    assert ttls["myapp:t:tpair"] == pytest.approx(86_400, abs=2)
    assert ttls["myapp:t:tother"] == pytest.approx(3600, abs=2)


def test_the_throttle_counts_one_attacker_across_two_apps(
    stores: Callable[..., RedisStore],
) -> None:
    users = CountingUsers()
    apps = [
        webtest.TestApp(
            BasicAuth(ok, users, cache=None, throttle=Throttle(per_client=4, store=stores()))
        )
        for _ in range(2)
    ]
    statuses = [
        apps[i % 2]
        .get(
            "/",
            headers=auth("admin", f"guess{i}"),
            extra_environ={"REMOTE_ADDR": "203.0.113.5"},
            expect_errors=True,
        )
        .status_int
        for i in range(10)
    ]
    assert statuses == [401] * 4 + [429] * 6
    assert len(users.calls) == 4


@pytest.mark.parametrize(
    "variable", ["BASICAUTH_REDIS_URL", "BASICAUTH_THROTTLE_REDIS_URL"], ids=["alias", "name"]
)
def test_the_environment_variable_configures_a_redis_store(redis_url: str, variable: str) -> None:
    middleware = BasicAuth.from_environ(
        ok,
        {
            "BASICAUTH_USERS": "admin:" + hash_password("pw", "sha256-crypt"),
            variable: redis_url,
            "BASICAUTH_THROTTLE_PER_CLIENT": "7",
        },
    )
    assert isinstance(middleware, BasicAuth)
    throttle = middleware.throttle
    assert throttle is not None and throttle.per_client == 7
    assert isinstance(throttle.store, RedisStore)
    throttle.store.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"on_error": "open"}, "on_error must be 'fallback' or 'closed'"),
        ({"prefix": ""}, "prefix must be a non-empty line"),
        ({"prefix": "a\nb"}, "prefix must be a non-empty line"),
    ],
    ids=["on_error", "empty-prefix", "newline-prefix"],
)
def test_bad_options_are_refused(options: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RedisStore.from_url("redis://127.0.0.1:1/0", **options)


def test_from_url_uses_short_timeouts_and_no_long_retries() -> None:
    store = RedisStore.from_url("redis://127.0.0.1:1/0")
    kwargs = store.client.connection_pool.connection_kwargs
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (0.25, 0.25)
    assert kwargs["health_check_interval"] == 30
    assert kwargs["retry"].get_retries() == 1
    store.close()


def test_the_library_imports_without_redis_and_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "import basicauth_wsgi, basicauth_wsgi.options\n"
        "from basicauth_wsgi.throttle.redis import RedisStore\n"
        "try:\n"
        "    RedisStore.from_url('redis://127.0.0.1:1/0')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'basicauth-wsgi[redis]'" in result.stdout


def test_the_url_carries_the_store_options() -> None:
    store = RedisStore.from_url("redis://127.0.0.1:1/2?on_error=closed&prefix=app1:")
    assert (store.on_error, store.prefix) == ("closed", "app1:")
    assert store.client.connection_pool.connection_kwargs["db"] == 2
    store.close()
    with pytest.raises(ValueError, match="on_error: 'closed' given, but the URL says 'fallback'"):
        RedisStore.from_url("redis://127.0.0.1:1/0?on_error=fallback", on_error="closed")
