"""Several processes, one deployment: the limits hold across them, one admin password for all.

Over the real wire: two ``serve`` processes sharing a redis-server, and
``gunicorn -w 2 'basicauth_wsgi.app:from_env()'`` configured by
``BASICAUTH_*`` variables, with an attacker bound to its own 127.0.0.x
address. A 401 is a password checked; a 429 is one refused unchecked.
"""

from __future__ import annotations

import functools
import http.client
import importlib.util
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import LiveServer, basic
from redisserver import free_port, redis_server, redis_url  # noqa: F401 (fixtures)

PER_CLIENT = 5
USERS_LINE = re.compile(r"admin password: \S+|users: .*admin\.htpasswd")
GUNICORN_LISTENING = r"Listening at: http://127\.0\.0\.1:(\d+)"


def need_gunicorn() -> None:
    if importlib.util.find_spec("gunicorn") is None:
        if os.environ.get("CI"):
            pytest.fail("gunicorn is missing; it is in the test extra")
        pytest.skip("gunicorn is not installed")


@functools.cache
def no_control_socket() -> tuple[str, ...]:
    """Recent gunicorn opens a control socket at one fixed path in $HOME: parallel runs clash."""
    usage = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout
    return ("--no-control-socket",) if "--no-control-socket" in usage else ()


def get(port: int, password: str, source: str) -> int:
    """GET the private resource as admin with ``password`` from ``source``; the status."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", "/api/v1/private", headers={"Authorization": basic("admin", password)})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.fixture
def pair(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[list[LiveServer]]:
    """Two ``serve`` processes on one database; with Redis when the test's param says so."""
    args = ["--db", str(tmp_path / "api.db"), "--throttle-per-client", str(PER_CLIENT)]
    if request.param == "redis":
        args += ["--redis", request.getfixturevalue("redis_url")]
    first = LiveServer(args, cwd=tmp_path)
    servers = [first]
    try:
        # The second start finds admin.htpasswd and uses it.
        servers.append(LiveServer(args, cwd=tmp_path, password=first.password))
        assert any(line.startswith("users: ") for line in servers[1].output)
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.mark.parametrize(
    ("pair", "checked"),
    [("redis", PER_CLIENT), ("in-process", 2 * PER_CLIENT)],
    ids=["shared-redis", "per-process-2x"],
    indirect=["pair"],
)
def test_an_attacker_alternating_between_two_servers(pair: list[LiveServer], checked: int) -> None:
    statuses = [get(pair[i % 2].port, f"guess{i}", "127.0.0.2") for i in range(4 * PER_CLIENT)]
    assert statuses.count(401) == checked
    assert statuses.count(429) == len(statuses) - checked
    # The right password from elsewhere still works on both.
    assert [get(server.port, pair[0].password, "127.0.0.3") for server in pair] == [200, 200]


class Gunicorn(LiveServer):
    """``gunicorn -w N 'basicauth_wsgi.app:from_env()'``, access log ``<pid> <status>``."""

    def __init__(
        self, cwd: Path, env: dict[str, str], workers: int = 2, extra: tuple[str, ...] = ()
    ) -> None:
        need_gunicorn()
        self.workers = workers
        self.apps = 1 if "--preload" in extra else workers  # the master builds the app
        super().__init__(
            [*extra, "basicauth_wsgi.app:from_env()"],
            cwd=cwd,
            env=env,
            command=[
                sys.executable,
                "-m",
                "gunicorn",
                "-w",
                str(workers),
                "-b",
                f"127.0.0.1:{free_port()}",
                *no_control_socket(),
                "--graceful-timeout",
                "5",
                "--access-logfile",
                "-",
                "--access-logformat",
                "%(p)s %(s)s",
            ],
            listening=GUNICORN_LISTENING,
            password="",  # printed by a worker, after the master's listening line
        )

    def booted(self, timeout: float = 30.0) -> None:
        """Wait until every worker has booted and the app printed its users line(s)."""
        deadline = time.monotonic() + timeout
        while True:
            users = [line for line in self.output if USERS_LINE.match(line)]
            booted = [line for line in self.errors if "Booting worker" in line]
            if len(users) >= self.apps and len(booted) >= self.workers:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"workers did not boot: {self.output} {self.errors}")
            time.sleep(0.05)

    def pids(self, status: int) -> set[str]:
        """The worker pids that answered ``status`` so far, from the access log."""
        return {
            m.group(1) for line in self.output if (m := re.fullmatch(rf"<(\d+)> {status}", line))
        }


def gunicorn_env(tmp_path: Path, **variables: str) -> dict[str, str]:
    return {"BASICAUTH_DB": str(tmp_path / "api.db"), **variables}


def test_gunicorn_workers_share_one_generated_admin_password(tmp_path: Path) -> None:
    server = Gunicorn(tmp_path, gunicorn_env(tmp_path), workers=2)
    try:
        server.booted()
        printed = [line for line in server.output if line.startswith("admin password: ")]
        assert len(printed) == 1
        password = printed[0].split(": ", 1)[1]
        assert (tmp_path / "admin.htpasswd").stat().st_mode & 0o777 == 0o600
        # Every worker takes it: ask until both have answered 200 (bounded).
        for _ in range(200):
            assert get(server.port, password, "127.0.0.1") == 200
            if len(server.pids(200)) == 2:
                break
        assert len(server.pids(200)) == 2
        assert server.pids(401) == set()
    finally:
        server.stop()


@pytest.mark.parametrize("extra", [(), ("--preload",)], ids=["app-per-worker", "preload"])
def test_gunicorn_workers_share_the_limit_through_redis(
    tmp_path: Path, request: pytest.FixtureRequest, extra: tuple[str, ...]
) -> None:
    # With --preload the store is made in the master, before the fork: each
    # worker must start its own subscriber and connections.
    env = gunicorn_env(
        tmp_path,
        BASICAUTH_REDIS_URL=request.getfixturevalue("redis_url"),
        BASICAUTH_THROTTLE_PER_CLIENT=str(PER_CLIENT),
    )
    server = Gunicorn(tmp_path, env, workers=2, extra=extra)
    try:
        server.booted()
        statuses: list[int] = []

        def attacker(offset: int) -> None:
            for i in range(4 * PER_CLIENT):
                statuses.append(get(server.port, f"guess{offset}-{i}", "127.0.0.2"))

        # Two at a time, so that both sync workers take the attacker's requests.
        threads = [threading.Thread(target=attacker, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)
        assert statuses.count(401) == PER_CLIENT
        assert statuses.count(429) == len(statuses) - PER_CLIENT == 7 * PER_CLIENT
        assert len(server.pids(429)) == 2  # both workers refused it
    finally:
        server.stop()
