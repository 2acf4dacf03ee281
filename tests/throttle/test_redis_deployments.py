"""Redis beyond one host: a real Sentinel deployment, a real three-node Cluster, and TLS.

Every deployment is started by the tests on loopback ports (see
``redisserver``) and reached through ``RedisStore.from_url``: limits stay
exact across two ``serve`` processes; a cached request from a trusted pair
makes no Redis command on any node; no script fails with CROSSSLOT; a
forced Sentinel failover gives no 500, lets no failure through in closed
mode, and counting is back on the new master within 30 s.
"""

from __future__ import annotations

import http.client
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import webtest
from helpers import LiveServer, auth, basic
from redisserver import (
    ClusterDeployment,
    RedisServer,
    SentinelDeployment,
    need_redis_sentinel,
    self_signed,
    until,
)

from basicauth_wsgi import BasicAuth, HashedUsers, Throttle, VerificationCache
from basicauth_wsgi.hashes import hash_password
from basicauth_wsgi.throttle import Ticket

from .support import at

redis = pytest.importorskip("redis") if not os.environ.get("CI") else __import__("redis")
from basicauth_wsgi.throttle.redis import RedisStore  # noqa: E402

PER_CLIENT = 5
TAG = "basicauth:{throttle}:"
# What this store sends itself (INFO commandstats also counts the commands
# scripts run, and a Sentinel's own PING, INFO and PUBLISH to the master).
OURS = {"evalsha", "eval", "script", "get", "set", "hello", "client", "cluster", "ping"}


def ok(environ: dict[str, object], start_response: Callable[..., object]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


class Deployment:
    """One of the shapes under test: its URL, its data nodes, and how to empty them."""

    def __init__(self, url: str, nodes: list[RedisServer], stop: Callable[[], None]) -> None:
        self.url, self.nodes, self.stop = url, nodes, stop

    def flush(self) -> None:
        for node in self.nodes:
            client = node.client()
            try:
                if client.info("replication").get("role") == "master":
                    client.flushall()
            finally:
                client.close()

    def commands(self, only: set[str] | None = None) -> int:
        """Commands run so far on every data node (``only`` these names if given)."""
        total = 0
        for node in self.nodes:
            for name, calls in node.commandstats().items():
                if only is None or name in only:
                    total += calls
        return total


@pytest.fixture(scope="module", params=["sentinel", "cluster", "tls"])
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp(request.param)
    if request.param == "sentinel":
        need_redis_sentinel()
        sentinel = SentinelDeployment(folder)
        shape = Deployment(sentinel.url, [sentinel.master, sentinel.replica], sentinel.stop)
    elif request.param == "cluster":
        cluster = ClusterDeployment(folder)
        shape = Deployment(cluster.url, cluster.nodes, cluster.stop)
    else:
        server = RedisServer(folder / "redis", tls=self_signed(folder / "tls"))
        shape = Deployment(server.url.replace("rediss://", "valkeys://"), [server], server.stop)
    try:
        yield shape
    finally:
        shape.stop()


@pytest.fixture
def fresh(deployment: Deployment) -> Deployment:
    deployment.flush()
    return deployment


PASSWORD = "SuperSecretPwd"


def users_file(folder: Path) -> list[str]:
    """``serve`` arguments for a users file of a cheap hash: these tests measure no CPU.

    (With serve's bcrypt(12) default, the niced hashing threads can starve on
    a busy machine while the logged-in client keeps the cores.)
    """
    path = folder / "users.htpasswd"
    path.write_text(f"admin:{hash_password(PASSWORD, 'sha256-crypt')}\n")
    return ["--htpasswd", str(path)]


def get(port: int, password: str, source: str, user: str = "admin") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15, source_address=(source, 0))
    try:
        conn.request("GET", "/api/v1/private", headers={"Authorization": basic(user, password)})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_limits_stay_exact_across_two_serve_processes(fresh: Deployment, tmp_path: Path) -> None:
    args = ["--db", str(tmp_path / "api.db"), "--redis", fresh.url,
            "--throttle-per-client", str(PER_CLIENT)]  # fmt: skip
    args += users_file(tmp_path)
    first = LiveServer(args, cwd=tmp_path, password=PASSWORD)
    servers = [first]
    try:
        servers.append(LiveServer(args, cwd=tmp_path, password=PASSWORD))
        pair = [s.port for s in servers]
        statuses = [get(pair[i % 2], f"guess{i}", "127.0.0.2") for i in range(4 * PER_CLIENT)]
        assert Counter(statuses) == {401: PER_CLIENT, 429: 3 * PER_CLIENT}
        assert [get(port, first.password, "127.0.0.3") for port in pair] == [200, 200]
    finally:
        for server in servers:
            server.stop()
    output = "\n".join(line for s in servers for line in s.output + s.errors)
    assert " 500 " not in output and "Traceback" not in output
    assert "CROSSSLOT" not in output


def test_a_cached_request_from_a_trusted_pair_makes_no_redis_command(fresh: Deployment) -> None:
    store = RedisStore.from_url(fresh.url)
    try:
        assert store.ready(10.0)
        users = HashedUsers({"admin": hash_password("SuperSecretPwd", "sha256-crypt")})
        app = webtest.TestApp(BasicAuth(ok, users, throttle=Throttle(store=store)))
        env = at("192.0.2.10")
        app.get("/", headers=auth(), extra_environ=env, status=200)  # checked: reserve, release
        app.get("/", headers=auth(), extra_environ=env, status=200)  # cached: trust fresh
        # Someone failed somewhere: the store is not idle, the pair is still trusted.
        Throttle(store=store).failure("203.0.113.9", "admin", "guess")
        before = fresh.commands(OURS)
        for _ in range(200):
            app.get("/", headers=auth(), extra_environ=env, status=200)
        # Summed over every data node; the reads of INFO themselves are not counted.
        assert fresh.commands(OURS) - before == 0
    finally:
        store.close()


def test_every_key_of_one_script_shares_one_slot(fresh: Deployment) -> None:
    from redis.cluster import key_slot

    # Without the tag these would be in different slots (so, on a cluster,
    # on different nodes): one script touching them would fail with CROSSSLOT.
    plain = [b"basicauth:k:c203.0.113.9", b"basicauth:k:uadmin", b"basicauth:blocked"]
    assert len({key_slot(key) for key in plain}) == 3
    store = RedisStore.from_url(fresh.url)
    try:
        assert store.ready(10.0)
        throttle = Throttle(per_client=3, store=store)
        for n in range(3):
            ticket = throttle.reserve("203.0.113.9", "admin", f"g{n}", f"Basic g{n}")
            assert isinstance(ticket, Ticket)
            throttle.settle(ticket, False)
        assert not isinstance(throttle.reserve("203.0.113.9", "admin", "g9", "Basic g9"), Ticket)
        ticket = throttle.reserve("198.51.100.1", "alice", "right", "Basic r")
        assert isinstance(ticket, Ticket)
        throttle.settle(ticket, True)  # release and trust: the other script
        assert store.available
        keys = [key for node in fresh.nodes for key in node.everything()]
        assert {key_slot(key) for key in keys} == {key_slot(b"{throttle}")}
        assert len(keys) >= 8  # blocked, secret, counts, tags, marks, a trust
    finally:
        store.close()


# -- a Sentinel failover ----------------------------------------------------------------


class Load:
    """An attacker (distinct wrong passwords) and a logged-in client, each in a thread."""

    def __init__(self, port: int, password: str) -> None:
        self.port, self.password = port, password
        self.stop = threading.Event()
        self.attacker: list[int] = []
        self.client: list[int] = []
        self.threads = [
            threading.Thread(target=self._attack, daemon=True),
            threading.Thread(target=self._log_in, daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    def _attack(self) -> None:
        n = 0
        while not self.stop.is_set():
            self.attacker.append(self._get(f"spray{n}", "127.0.0.2"))
            n += 1

    def _log_in(self) -> None:
        while not self.stop.is_set():
            self.client.append(self._get(self.password, "127.0.0.3"))

    def _get(self, password: str, source: str) -> int:
        try:
            return get(self.port, password, source)
        except (OSError, http.client.HTTPException):
            return 0  # no answer at all: counted against the server below

    def end(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in self.threads)


def counted(master: RedisServer, key: str) -> int:
    client = master.client()
    try:
        fields = client.hgetall(TAG + "k:" + key)
    finally:
        client.close()
    return sum(int(v) for f, v in fields.items() if f != b"l")


@pytest.mark.parametrize("policy", ["closed", "fallback"])
def test_a_sentinel_failover(tmp_path: Path, policy: str) -> None:
    need_redis_sentinel()
    sentinel = SentinelDeployment(tmp_path / "redis")
    live = None
    try:
        url = sentinel.url + ("?on_error=closed" if policy == "closed" else "")
        live = LiveServer(
            ["--db", str(tmp_path / "api.db"), "--redis", url, "--throttle-per-client", "10000",
             "--throttle-per-user", "0", *users_file(tmp_path)],
            cwd=tmp_path,
            password=PASSWORD,
        )  # fmt: skip
        assert get(live.port, live.password, "127.0.0.3") == 200  # trusted from there
        load = Load(live.port, live.password)
        try:
            until(lambda: len(load.attacker) >= 20, 30, "the attack runs")
            new = sentinel.failover()

            # Counting is back on the new master within 30 s: a new address's
            # failure is counted there.
            def back() -> bool:
                source = f"127.0.1.{int(time.monotonic() * 10) % 250 + 1}"
                status = get(live.port, "new-" + source, source)
                return status == 401 and counted(new, "c" + source) >= 1

            until(back, 30, "counting on the new master")
            until(lambda: load.client[-5:] == [200] * 5, 30, "the logged-in client works on")
        finally:
            load.end()
        attacker, client = Counter(load.attacker), Counter(load.client)
        assert 500 not in attacker and 500 not in client
        assert 0 not in attacker and 0 not in client
        assert set(attacker) <= {401, 503} and set(client) <= {200, 503}
        if policy == "closed":
            # No failure through without a shared count: every 401 the
            # attacker got is counted on the new master, but the one attempt
            # (the attacker sends one at a time) in flight when it began.
            assert attacker[401] - counted(new, "c127.0.0.2") <= 1
        else:
            assert client[503] == 0  # counted in process meanwhile: nobody refused
        log = "\n".join(live.errors)
        assert "Traceback" not in log
        # One outage: its start and its end, once each.
        assert (log.count("Redis unreachable"), log.count("Redis answers again")) == (1, 1)
    finally:
        if live is not None:
            live.stop()
        sentinel.stop()


def test_a_sentinel_url_finds_the_master_again_in_process(tmp_path: Path) -> None:
    need_redis_sentinel()
    sentinel = SentinelDeployment(tmp_path / "redis")
    store = RedisStore.from_url(sentinel.url)
    try:
        assert store.ready(10.0)
        throttle = Throttle(per_client=3, store=store)
        throttle.failure("203.0.113.9", None)
        new = sentinel.failover()

        def counts_there() -> bool:
            throttle.failure("203.0.113.10", None)
            return counted(new, "c203.0.113.10") > 0

        until(counts_there, 30, "counting on the new master")
        assert counted(new, "c203.0.113.9") == 1  # replicated before the failover
    finally:
        store.close()
        sentinel.stop()


def test_cluster_and_sentinel_urls_come_through_the_environment(tmp_path: Path) -> None:
    cluster = ClusterDeployment(tmp_path / "cluster")
    try:
        middleware = BasicAuth.from_environ(
            ok,
            {
                "BASICAUTH_USERS": "admin:" + hash_password("pw", "sha256-crypt"),
                "BASICAUTH_REDIS_URL": cluster.url + "?prefix=app1:",
            },
        )
        throttle = middleware.throttle
        assert throttle is not None and isinstance(throttle.store, RedisStore)
        assert throttle.store.prefix == "app1:"
        assert isinstance(throttle.store.client, redis.RedisCluster)
        app = webtest.TestApp(middleware)
        app.get("/", headers=auth("admin", "pw"), extra_environ=at("192.0.2.1"), status=200)
        app.get("/", headers=auth("admin", "no"), extra_environ=at("192.0.2.1"), status=401)
        keys = [key for node in cluster.nodes for key in node.everything()]
        assert b"app1:{throttle}:k:c192.0.2.1" in keys
        throttle.store.close()
    finally:
        cluster.stop()


def test_tls_with_a_certificate_made_here(tmp_path: Path) -> None:
    # rediss:// with a certificate made here; the store talks TLS only.
    server = RedisServer(tmp_path / "redis", tls=self_signed(tmp_path / "tls"))
    store = RedisStore.from_url(server.url)
    try:
        assert store.ready(10.0)
        users = HashedUsers({"admin": hash_password("SuperSecretPwd", "sha256-crypt")})
        app = webtest.TestApp(
            BasicAuth(ok, users, cache=VerificationCache(), throttle=Throttle(store=store))
        )
        app.get("/", headers=auth(), extra_environ=at("192.0.2.1"), status=200)
        assert server.client().exists(TAG + "t:tc192.0.2.1\x00uadmin") == 1
        assert server.command("PING") == "+PONG"  # over TLS: plain text would not answer
    finally:
        store.close()
        server.stop()
