"""RedisStore against the in-process store: ``python -m bench`` part ``redis``.

Starts its own ``redis-server`` (127.0.0.1, a free port, no persistence,
stopped by its PID) and measures, side by side with the in-process store:

- req/s over waitress with a warm cache (bcrypt(12) store), threads=8 at 16
  connections and at 1, alternated rounds, as a ratio (target >= 0.95x);
- Redis commands per cached request, from ``INFO commandstats`` around a
  load run (target 0);
- the cost of a failure (a wrong password, plaintext store so that the hash
  does not hide the store) in process, µs per failure with each store;
- two server processes sharing one Redis, an attacker alternating between
  them: passwords checked (401s) per window, against ``per_client``.

``python -m bench.redis VARIANT THREADS`` is the server it runs.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from . import apps, wire

PER_CLIENT = 20


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """redis-server on 127.0.0.1 and a free port, stopped by its own PID."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--loglevel", "warning"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        import redis

        self.client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5.0)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client.ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)

    def commands(self) -> int:
        """Commands run so far (every command, the INFO that reads them included)."""
        info = self.client.info("commandstats")
        return sum(int(stat["calls"]) for stat in info.values())

    def stop(self) -> None:
        self.client.close()
        wire.stop_process(self.proc)


# -- the servers ------------------------------------------------------------


def _store() -> Any:
    from basicauth_wsgi.throttle.redis import RedisStore

    return RedisStore.from_url(os.environ["BENCH_REDIS_URL"])


def _bcrypt(store: Callable[[], Any] | None) -> Any:
    from basicauth_wsgi import BasicAuth, HashedUsers, Throttle
    from basicauth_wsgi.hashes import hash_password

    from .server import _example

    users = HashedUsers({apps.USER: hash_password(apps.PASSWORD, "bcrypt")})
    throttle = Throttle(store=None if store is None else store())
    return _example(lambda api: BasicAuth(api, users, throttle=throttle))


def _attacked(store: Callable[[], Any] | None) -> Any:
    from basicauth_wsgi import BasicAuth, Throttle

    throttle = Throttle(per_client=PER_CLIENT, store=None if store is None else store())
    return BasicAuth(apps.bare_app, apps.USERS, throttle=throttle)


VARIANTS: dict[str, Callable[[], Any]] = {
    "in-process store": lambda: _bcrypt(None),
    "RedisStore": lambda: _bcrypt(_store),
    "attacked, in-process store": lambda: _attacked(None),
    "attacked, RedisStore": lambda: _attacked(_store),
}


class Server(wire.Server):
    """A benchmark server of this part (``python -m bench.redis``)."""

    def __init__(self, variant: str, threads: int, url: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.redis", variant, str(threads)],
            cwd=wire.ROOT,
            env={**os.environ, "BENCH_REDIS_URL": url},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline()
            if not line.startswith("port "):
                raise RuntimeError(f"{variant}: server did not start ({line!r})")
            self.port = int(line.split()[1])
            if variant.startswith("attacked"):
                return
            status = wire.get(self.port, timeout=30)  # warm the cache
            if status != 200:
                raise RuntimeError(f"{variant}: warm-up answered {status}")
        except BaseException:
            self.stop()
            raise


# -- the measurements --------------------------------------------------------


def throughput(
    redis: RedisServer, threads: int, connections: list[int], rounds: int, seconds: float
) -> list[tuple[dict[str, wire.Sample], float]]:
    """For each connection count: req/s of both stores, alternated; Redis commands per request.

    The same two servers serve every connection count (started once, caches warm).
    """
    names = ["in-process store", "RedisStore"]
    servers: dict[str, Server] = {}
    try:
        for name in names:
            servers[name] = Server(name, threads, redis.url)
        return wire.side_by_side(
            dict(servers), connections, rounds, seconds, redis.commands, "RedisStore"
        )
    finally:
        for server in servers.values():
            server.stop()


def failure_cost(redis: RedisServer, rounds: int, number: int) -> dict[str, float]:
    """µs per wrong password in process (plaintext store), median of alternated rounds."""
    from basicauth_wsgi import BasicAuth, Throttle
    from basicauth_wsgi.throttle.redis import RedisStore

    from .inprocess import WRONG, _environ

    # One address key per failure (per_password off: the same wrong password
    # from every address would be refused after 10, uncounted).
    limits = {"per_client": 0xFFFF, "per_user": 0, "per_password": 0}
    made: dict[str, Any] = {
        "in-process store": Throttle(**limits),
        "RedisStore": Throttle(**limits, store=RedisStore.from_url(redis.url)),
    }
    times: dict[str, list[float]] = {name: [] for name in made}
    middlewares = {
        name: BasicAuth(apps.bare_app, apps.USERS, throttle=throttle, cache=None)
        for name, throttle in made.items()
    }

    def start_response(status: str, headers: list[Any], exc_info: Any = None) -> None:
        assert status.startswith("401")

    for r in range(rounds):
        for name, app in middlewares.items():
            environ = _environ("/", WRONG)
            start = time.perf_counter()
            for i in range(number):
                env = dict(environ, REMOTE_ADDR=f"10.{r}.{i // 250 % 250}.{i % 250}")
                body = app(env, start_response)
                if hasattr(body, "close"):
                    body.close()
            times[name].append((time.perf_counter() - start) / number * 1e6)
    made["RedisStore"].store.close()
    return {name: statistics.median(values) for name, values in times.items()}


def cached_cost(redis: RedisServer, rounds: int, number: int) -> dict[str, float]:
    """µs per cached request from a trusted pair in process (bcrypt store), alternated."""
    from basicauth_wsgi import BasicAuth, HashedUsers, Throttle
    from basicauth_wsgi.hashes import hash_password
    from basicauth_wsgi.throttle.redis import RedisStore

    from .inprocess import HEADER, _environ

    users = HashedUsers({apps.USER: hash_password(apps.PASSWORD, "bcrypt")})
    store = RedisStore.from_url(redis.url)
    middlewares = {
        "in-process store": BasicAuth(apps.bare_app, users, throttle=Throttle()),
        "RedisStore": BasicAuth(apps.bare_app, users, throttle=Throttle(store=store)),
    }
    times: dict[str, list[float]] = {name: [] for name in middlewares}

    def start_response(status: str, headers: list[Any], exc_info: Any = None) -> None:
        assert status.startswith("200")

    environ = _environ("/", HEADER)
    for app in middlewares.values():
        app(dict(environ), start_response)  # the one check; then cached and trusted
    for _ in range(rounds):
        for name, app in middlewares.items():
            start = time.perf_counter()
            for _ in range(number):
                body = app(dict(environ), start_response)
                if hasattr(body, "close"):
                    body.close()
            times[name].append((time.perf_counter() - start) / number * 1e6)
    store.close()
    return {name: statistics.median(values) for name, values in times.items()}


def two_processes(redis: RedisServer, store: str, attempts: int) -> int:
    """Passwords checked (401s) for one attacker alternating between two servers."""
    names = [f"attacked, {store}"] * 2
    servers = [Server(name, 4, redis.url) for name in names]
    checked = 0
    try:
        for i in range(attempts):
            conn = http.client.HTTPConnection(
                "127.0.0.1", servers[i % 2].port, timeout=10, source_address=("127.0.0.2", 0)
            )
            try:
                conn.request("GET", "/", headers={"Authorization": wire.AUTH + "x"})
                response = conn.getresponse()
                response.read()
                checked += response.status == 401
            finally:
                conn.close()
    finally:
        for server in servers:
            server.stop()
    return checked


def report(rounds: int, seconds: float, quick: bool) -> str:
    """The Markdown section of this part."""
    if shutil.which("redis-server") is None:
        return "## RedisStore\n\nskipped: redis-server is not installed."
    redis = RedisServer()
    try:
        text = [f"## RedisStore ({rounds} rounds of {seconds:g} s, alternating)"]
        per_request: list[float] = []
        counts = [16, 1]
        for count, (samples, commands) in zip(
            counts, throughput(redis, 8, counts, rounds, seconds), strict=True
        ):
            per_request.append(commands)
            heading = (
                f"bcrypt(12) store, cache warm, over waitress: threads=8, {count} connection(s)"
            )
            text.append(wire.table(heading, samples))
        cost = failure_cost(redis, rounds=max(rounds, 3), number=200 if quick else 2000)
        cached = cached_cost(redis, rounds=max(rounds, 3), number=2000 if quick else 50_000)
        attempts = 4 * PER_CLIENT
        shared = two_processes(redis, "RedisStore", attempts)
        alone = two_processes(redis, "in-process store", attempts)
        text.append(
            "\n".join(
                [
                    "| figure | in-process store | RedisStore | target |",
                    "|---|---:|---:|---:|",
                    f"| Redis commands per cached request (16 conns; 1 conn) | - | "
                    f"{per_request[0]:.4f}; {per_request[1]:.4f} | 0 |",
                    f"| a cached request from a trusted pair in process, µs (bcrypt store) | "
                    f"{cached['in-process store']:.2f} | {cached['RedisStore']:.2f} | "
                    f"<= {cached['in-process store'] / 0.95:.2f} |",
                    f"| a wrong password in process, µs (plaintext store) | "
                    f"{cost['in-process store']:.1f} | {cost['RedisStore']:.1f} | - |",
                    f"| two processes, one attacker alternating: passwords checked "
                    f"of {attempts} tries (per_client={PER_CLIENT}) | {alone} | {shared} | "
                    f"{PER_CLIENT} (shared) |",
                ]
            )
        )
        return "\n\n".join(text)
    finally:
        redis.stop()


def main(argv: list[str]) -> int:
    import logging

    from waitress.server import create_server

    variant, threads = argv[0], int(argv[1])
    logging.disable(logging.CRITICAL)
    server = create_server(VARIANTS[variant](), host="127.0.0.1", port=0, threads=threads)
    sys.stdout.write(f"port {server.getsockname()[1]}\n")  # type: ignore[union-attr]
    sys.stdout.flush()
    server.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
