"""A real redis-server for the tests: 127.0.0.1, a free port, no persistence, stopped by PID.

Imported as ``redisserver`` from every folder (``tests`` is on the path),
like ``helpers``::

    from redisserver import RedisServer, redis_server  # the fixture
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REDIS_SERVER = shutil.which("redis-server")


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


class RedisServer:
    """One redis-server child process; :meth:`stop` and :meth:`start` it again on its port."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.binary = need_redis_server()
        self.workdir = workdir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._stats: Any = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start on ``self.port`` and wait until it answers PING."""
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
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
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server exited with {self.proc.returncode}")
            if self.command("PING") == "+PONG":
                return
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"redis-server on port {self.port} did not answer PING")
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
            with socket.create_connection(("127.0.0.1", self.port), timeout=2.0) as sock:
                sock.sendall((" ".join(words) + "\r\n").encode())
                return sock.makefile("rb").readline().decode().rstrip("\r\n")
        except OSError:
            return ""

    def client(self) -> object:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5.0)

    def commandstats(self) -> dict[str, int]:
        """Calls per command so far (``INFO commandstats``), e.g. ``{"evalsha": 3}``."""
        import redis

        # One connection kept for this: a new one would count its HELLO.
        if self._stats is None:
            self._stats = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5.0)
        info = self._stats.info("commandstats")
        return {name[len("cmdstat_") :]: int(stat["calls"]) for name, stat in info.items()}


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
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The shared server's URL, emptied (FLUSHDB) before each test."""
    if redis_server.proc is None:  # a test stopped it and failed before restarting
        redis_server.start()
    assert redis_server.command("FLUSHDB") == "+OK"
    yield redis_server.url
