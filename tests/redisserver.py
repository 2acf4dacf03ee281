"""Real Redis deployments for the tests: 127.0.0.1, free ports, no persistence, stopped by PID.

One ``redis-server`` (:class:`RedisServer`, also over TLS), a Sentinel
deployment (a master, a replica and three ``redis-sentinel``:
:class:`SentinelDeployment`) and a three-node Cluster
(:class:`ClusterDeployment`). Every process is a child of the test, stopped
by its own PID; every wait polls with a deadline. Imported as
``redisserver`` from every folder (``tests`` is on the path), like
``helpers``::

    from redisserver import RedisServer, redis_server  # the fixture
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

REDIS_SERVER = shutil.which("redis-server")
REDIS_SENTINEL = shutil.which("redis-sentinel")
OPENSSL = shutil.which("openssl")


def free_port() -> int:
    """A port nobody listens on now (redis-server needs a real one, not 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def need_redis_server() -> str:
    """The redis-server binary; skip when missing, except in CI (where it must run)."""
    if REDIS_SERVER is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing; .ci/run installs it")
        pytest.skip("redis-server is not installed")
    return REDIS_SERVER


def need_redis_sentinel() -> str:
    """The redis-sentinel binary; skip when missing, except in CI (where it must run)."""
    if REDIS_SENTINEL is None:
        if os.environ.get("CI"):
            pytest.fail("redis-sentinel is missing; .ci/run installs it")
        pytest.skip("redis-sentinel is not installed")
    return REDIS_SENTINEL


def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; an AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.05)


class RedisServer:
    """One redis-server child process; :meth:`stop` and :meth:`start` it again on its port.

    ``args`` are more command-line options (``--replicaof``, cluster mode);
    ``tls`` a (certificate, key) pair: then it listens with TLS only.
    """

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        args: Sequence[str] = (),
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.binary = need_redis_server()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.args = list(args)
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None
        self._stats: Any = None
        self.start()

    @property
    def url(self) -> str:
        if self.tls is not None:
            return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.tls[0]}"
        return f"redis://127.0.0.1:{self.port}/0"

    def _argv(self) -> list[str]:
        listen = ["--port", str(self.port)]
        if self.tls is not None:
            cert, key = self.tls
            listen = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(cert),
                      "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert),
                      "--tls-auth-clients", "no"]  # fmt: skip
        return [
            self.binary,
            *listen,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
            "--loglevel",
            "warning",
            *self.args,
        ]

    def start(self, timeout: float = 10.0) -> None:
        """Start on ``self.port`` and wait until it answers PING."""
        self.proc = subprocess.Popen(
            self._argv(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.binary} exited with {self.proc.returncode}")
            if self.command("PING") == "+PONG":
                return
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"{self.binary} on port {self.port} did not answer PING")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop it by its PID (and make sure it is gone)."""
        proc, self.proc = self.proc, None
        if self._stats is not None:
            self._stats.close()
            self._stats = None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def command(self, *words: str) -> str:
        """One inline command over a raw socket; its first reply line ('' if unreachable)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2.0) as raw:
                sock = raw
                if self.tls is not None:
                    context = ssl.create_default_context(cafile=str(self.tls[0]))
                    sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
                sock.sendall((" ".join(words) + "\r\n").encode())
                return sock.makefile("rb").readline().decode().rstrip("\r\n")
        except OSError:
            return ""

    def client(self) -> Any:
        import redis

        tls = {} if self.tls is None else {"ssl": True, "ssl_ca_certs": str(self.tls[0])}
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5.0, **tls)

    def commandstats(self) -> dict[str, int]:
        """Calls per command so far (``INFO commandstats``), e.g. ``{"evalsha": 3}``."""
        # One connection kept for this: a new one would count its HELLO.
        if self._stats is None:
            self._stats = self.client()
        info = self._stats.info("commandstats")
        return {name[len("cmdstat_") :]: int(stat["calls"]) for name, stat in info.items()}

    def everything(self) -> dict[bytes, Any]:
        """Every key and its value (strings, hashes, sorted sets), by SCAN."""
        client = self.client()
        found: dict[bytes, Any] = {}
        try:
            for key in client.scan_iter(count=1000):
                kind = client.type(key)
                if kind == b"string":
                    found[key] = client.get(key)
                elif kind == b"hash":
                    found[key] = client.hgetall(key)
                elif kind == b"zset":
                    found[key] = client.zrange(key, 0, -1, withscores=True)
                else:
                    found[key] = kind
        finally:
            client.close()
        return found


def commands_between(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The commands run between two :meth:`RedisServer.commandstats`, minus the INFO itself."""
    delta = {name: after[name] - before.get(name, 0) for name in after}
    delta["info"] = delta.get("info", 0) - 1  # the INFO that read `after`
    return {name: n for name, n in delta.items() if n}


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, which it may stop and start; stopped at the end."""
    server = RedisServer(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The shared server's URL, emptied (FLUSHDB) before each test."""
    if redis_server.proc is None:  # a test stopped it and failed before restarting
        redis_server.start()
    assert redis_server.command("FLUSHDB") == "+OK"
    yield redis_server.url


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with the openssl CLI."""
    if OPENSSL is None:
        if os.environ.get("CI"):
            pytest.fail("openssl is missing")
        pytest.skip("openssl is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


class Sentinel(RedisServer):
    """One redis-sentinel watching ``master_port`` as service ``mymaster``."""

    def __init__(self, workdir: Path, master_port: int) -> None:
        self.master_port = master_port
        self.sentinel_binary = need_redis_sentinel()
        super().__init__(workdir)

    def _argv(self) -> list[str]:
        config = self.workdir / "sentinel.conf"
        if not config.exists():  # sentinel rewrites it as it learns: keep it over restarts
            config.write_text(
                f"port {self.port}\nbind 127.0.0.1\ndir {self.workdir}\n"
                "sentinel resolve-hostnames no\n"
                f"sentinel monitor mymaster 127.0.0.1 {self.master_port} 2\n"
                "sentinel down-after-milliseconds mymaster 2000\n"
                "sentinel failover-timeout mymaster 10000\n"
                "sentinel parallel-syncs mymaster 1\n"
            )
        return [self.sentinel_binary, str(config), "--loglevel", "warning"]


class SentinelDeployment:
    """A master, its replica and three sentinels that agree on both."""

    def __init__(self, workdir: Path) -> None:
        self.servers: list[RedisServer] = []
        try:
            self.master = self._add(RedisServer(workdir / "master"))
            self.replica = self._add(
                RedisServer(
                    workdir / "replica", args=["--replicaof", "127.0.0.1", str(self.master.port)]
                )
            )
            self.sentinels = [
                self._add(Sentinel(workdir / f"sentinel{n}", self.master.port)) for n in range(3)
            ]
            until(self._settled, 30, "the sentinels see the replica and each other")
        except BaseException:
            self.stop()
            raise

    def _add(self, server: RedisServer) -> Any:
        self.servers.append(server)
        return server

    def _settled(self) -> bool:
        for sentinel in self.sentinels:
            client = sentinel.client()
            try:
                state = client.sentinel_master("mymaster")
            finally:
                client.close()
            if state.get("num-slaves") != 1 or state.get("num-other-sentinels") != 2:
                return False
        replica = self.replica.client()
        try:
            return replica.info("replication").get("master_link_status") == "up"
        finally:
            replica.close()

    @property
    def url(self) -> str:
        nodes = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{nodes}/mymaster/0"

    def master_port(self) -> int:
        client = self.sentinels[0].client()
        try:
            return int(client.sentinel_get_master_addr_by_name("mymaster")[1])
        finally:
            client.close()

    def failover(self, timeout: float = 30.0) -> RedisServer:
        """``SENTINEL FAILOVER``: the replica becomes the master; the new master."""
        old = self.master_port()
        new = self.replica if old == self.master.port else self.master
        client = self.sentinels[0].client()
        try:
            assert client.execute_command("SENTINEL", "FAILOVER", "mymaster") in (True, b"OK")
        finally:
            client.close()

        def moved() -> bool:
            if self.master_port() != new.port:
                return False
            role = new.client()
            try:
                return role.info("replication").get("role") == "master"
            finally:
                role.close()

        until(moved, timeout, "the failover")
        return new

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()


class ClusterDeployment:
    """Three redis-server in cluster mode, the 16384 slots split between them."""

    def __init__(self, workdir: Path) -> None:
        self.nodes: list[RedisServer] = []
        try:
            for n in range(3):
                folder = workdir / f"node{n}"
                self.nodes.append(
                    RedisServer(
                        folder,
                        args=[
                            "--cluster-enabled",
                            "yes",
                            "--cluster-config-file",
                            str(folder / "nodes.conf"),
                            "--cluster-port",
                            str(free_port()),
                        ],
                    )
                )
            ranges = [(0, 5460), (5461, 10922), (10923, 16383)]
            for node, (low, high) in zip(self.nodes, ranges, strict=True):
                assert node.command("CLUSTER", "ADDSLOTSRANGE", str(low), str(high)) == "+OK"
            first = self.nodes[0].client()
            try:
                for node in self.nodes[1:]:
                    bus = node.args[node.args.index("--cluster-port") + 1]
                    first.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port, bus)
            finally:
                first.close()
            until(self._ok, 30, "the cluster's state is ok on every node")
        except BaseException:
            self.stop()
            raise

    def _ok(self) -> bool:
        for node in self.nodes:
            client = node.client()
            try:
                info = client.execute_command("CLUSTER", "INFO")
            finally:
                client.close()
            text = info.decode() if isinstance(info, bytes) else str(info)
            if "cluster_state:ok" not in text or "cluster_known_nodes:3" not in text:
                return False
        return True

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def commandstats(self) -> dict[str, int]:
        """``INFO commandstats`` summed over every node."""
        total: dict[str, int] = {}
        for node in self.nodes:
            for name, calls in node.commandstats().items():
                total[name] = total.get(name, 0) + calls
        return total

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
