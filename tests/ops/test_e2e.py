"""Over the wire: real waitress on 127.0.0.1, real HTTP clients.

The tutorial transcript against ``python serve.py`` as a new user starts it,
raw attack paths against an in-process waitress, and the durability promises
of the API (concurrent writers, SIGKILL) against the real server process.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import LiveServer, Recorder, basic
from waitress.server import BaseWSGIServer, create_server

from basicauth_wsgi import BasicAuth

CHALLENGE = 'Basic realm="Restricted area", charset="UTF-8"'


def creds(server: LiveServer) -> dict[str, str]:
    return {"Authorization": basic("admin", server.password)}


# -- the tutorial transcript ----------------------------------------------


def test_transcript(live_server: LiveServer) -> None:
    status, headers, body = live_server.request("GET", "/api/v1/private")
    assert status == 401
    assert headers["WWW-Authenticate"] == CHALLENGE
    status, headers, body = live_server.request("GET", "/api/v1/private", creds(live_server))
    assert (status, json.loads(body)) == (200, {"meaning_of_life": 42})
    status, _, body = live_server.request("GET", "/health")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, _, body = live_server.request("GET", "/api/v1/whoami", creds(live_server))
    assert (status, json.loads(body)) == (200, {"user": "admin"})
    status, _, _ = live_server.request(
        "GET", "/api/v1/whoami", {"Authorization": basic("admin", "x")}
    )
    assert status == 401
    # The access log names the user, and never the password.
    live_server.expect(r'"GET /api/v1/whoami HTTP/1.1" 200 ')
    live_server.stop()
    log = "\n".join(live_server.output + live_server.errors)
    assert " - admin [" in log
    assert log.count(live_server.password) == 1  # the "admin password:" line only
    assert any("reason=wrong_password" in line for line in live_server.errors)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_transcript_with_curl(live_server: LiveServer) -> None:
    url = f"http://127.0.0.1:{live_server.port}/api/v1/private"

    def curl(*args: str) -> str:
        result = subprocess.run(
            [str(shutil.which("curl")), "-sS", "-i", "--max-time", "10", *args, url],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
        return result.stdout

    denied = curl("-X", "GET")
    assert denied.startswith("HTTP/1.1 401")
    assert f"WWW-Authenticate: {CHALLENGE}".lower() in denied.lower()
    allowed = curl("--user", f"admin:{live_server.password}")
    assert allowed.startswith("HTTP/1.1 200")
    assert allowed.rstrip().endswith('{"meaning_of_life":42}')


def test_utf8_credentials_over_the_wire(tmp_path: Path) -> None:
    with waitress_app(BasicAuth(Recorder(), {"jürgen": "pässwörd €"})) as port:
        token = base64.b64encode("jürgen:pässwörd €".encode()).decode()
        status, body = raw_request(port, "/", f"Authorization: Basic {token}\r\n")
    assert status == 200
    assert json.loads(body)["remote_user"] == "jürgen"


# -- raw paths over waitress ----------------------------------------------


class waitress_app:
    """An in-process waitress on an ephemeral loopback port, in a thread."""

    def __init__(self, app: object) -> None:
        self.server = create_server(app, host="127.0.0.1", port=0, threads=2)
        assert isinstance(self.server, BaseWSGIServer)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> int:
        self.thread.start()
        return int(self.server.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self.server.close()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()


def raw_request(port: int, target: str, extra: str = "") -> tuple[int, bytes]:
    """Send ``target`` byte for byte, as no polite client would."""
    request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request.encode("latin-1"))
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split()[1]), body


RAW_ATTACKS = [
    "//private",
    "///private",
    "/health/../private",
    "/health/./../private",
    "/health/%2e%2e/private",
    "/health/%2E%2E/private",
    "/health/%252e%252e/private",
    "/health/.%2e/private",
    "/public/..;/private",
    "/public/%2e%2e;/private",
    "/public/../private",
    "/public//../private",
    "/public/x/../../private",
    "/private/../public/x",
    "/health%2f..%2fprivate",
    "/health/..",
    "/health/.",
    "/health/",
    "/health;x",
    "/healthz",
    "/private?/health",
    "/private#/health",
    "http://127.0.0.1/health/../private",
    "/%2e%2e/private",
]


@pytest.fixture(scope="module")
def attack_server() -> Iterator[tuple[int, Recorder]]:
    inner = Recorder()
    app = BasicAuth(inner, {"admin": "pw"}, exclude=["/health", "/public/"])
    with waitress_app(app) as port:
        yield port, inner


@pytest.mark.parametrize("target", RAW_ATTACKS)
def test_raw_attack_paths_over_waitress(attack_server: tuple[int, Recorder], target: str) -> None:
    port, inner = attack_server
    before = len(inner.calls)
    status, _ = raw_request(port, target)
    assert len(inner.calls) == before, f"{target} reached the app"
    assert status in (400, 401)


def test_public_paths_over_waitress(attack_server: tuple[int, Recorder]) -> None:
    port, _ = attack_server
    assert raw_request(port, "/health")[0] == 200
    assert raw_request(port, "/public/logo.png")[0] == 200
    assert raw_request(port, "/private", f"Authorization: {basic('admin', 'pw')}\r\n")[0] == 200


# -- durability over the wire ---------------------------------------------


def post(server: LiveServer, name: str, email: str) -> tuple[int, bytes]:
    body = json.dumps({"name": name, "email": email}).encode()
    headers = {**creds(server), "Content-Type": "application/json"}
    status, _, data = server.request("POST", "/api/v1/subscribers", headers, body)
    return status, data


def test_concurrent_writers_lose_nothing(live_server: LiveServer) -> None:
    def writer(worker: int) -> list[int]:
        return [
            post(live_server, f"w{worker}", f"w{worker}-{i}@example.com")[0] for i in range(100)
        ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [s for result in pool.map(writer, range(8), timeout=240) for s in result]
    assert statuses == [201] * 800
    status, _, body = live_server.request(
        "GET", "/api/v1/subscribers?limit=1000", creds(live_server)
    )
    listing = json.loads(body)
    assert status == 200
    assert listing["total"] == 800
    assert len({s["email"] for s in listing["subscribers"]}) == 800


def test_sigkill_loses_no_acknowledged_write(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    server = LiveServer(["--db", str(db), "--no-access-log"], cwd=tmp_path)
    acknowledged: list[int] = []
    try:
        for i in range(60):
            status, data = post(server, f"n{i}", f"n{i}@example.com")
            assert status == 201
            acknowledged.append(json.loads(data)["id"])
        # Right after the last 201: no graceful shutdown, no checkpoint.
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=10)
    finally:
        server.stop()
    # SPEC §8: a later start uses the same admin.htpasswd, so the same password.
    restarted = LiveServer(
        ["--db", str(db), "--no-access-log"], cwd=tmp_path, password=server.password
    )
    try:
        status, _, body = restarted.request(
            "GET", "/api/v1/subscribers?limit=1000", creds(restarted)
        )
        assert status == 200
        assert [s["id"] for s in json.loads(body)["subscribers"]] == acknowledged
    finally:
        restarted.stop()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


# -- waitress-serve --call ------------------------------------------------


def test_waitress_serve_call_from_env(tmp_path: Path) -> None:
    waitress_serve = Path(sys.executable).with_name("waitress-serve")
    server = LiveServer(
        ["--listen=127.0.0.1:0", "--call", "basicauth_wsgi.app:from_env"],
        cwd=tmp_path,
        env={"BASICAUTH_DB": str(tmp_path / "env.db")},
        command=[str(waitress_serve) if waitress_serve.exists() else "waitress-serve"],
        listening=r"Serving on http://127\.0\.0\.1:(\d+)",
    )
    try:
        assert server.request("GET", "/api/v1/private")[0] == 401
        status, _, body = server.request("GET", "/api/v1/private", creds(server))
        assert (status, json.loads(body)) == (200, {"meaning_of_life": 42})
        assert server.request("GET", "/health")[0] == 200
    finally:
        server.stop()
    assert (tmp_path / "env.db").exists()


# -- an htpasswd file, live ---------------------------------------------------


def test_htpasswd_file_changes_are_picked_up_live(tmp_path: Path) -> None:
    from basicauth_wsgi.cli import main

    users = tmp_path / "users.htpasswd"

    def passwd(user: str, password: str) -> None:
        import io

        code = main(
            ["passwd", "-c", str(users), user, "--stdin", "--scheme", "apr1"],
            stdin=io.StringIO(password + "\n"),
            stdout=io.StringIO(),
        )
        assert code == 0

    passwd("admin", "first")
    server = LiveServer(
        ["--db", str(tmp_path / "api.db"), "--htpasswd", str(users)], cwd=tmp_path, password="first"
    )
    try:
        assert server.request("GET", "/api/v1/whoami", creds(server))[0] == 200
        passwd("ops", "second")
        changed = time.monotonic()
        ops = {"Authorization": basic("ops", "second")}
        # Poll, bounded: the promise is "within 2 s" (SPEC §4). Every miss
        # is a failed login, so poll slowly enough to stay well under the
        # throttle's 20 failures per address.
        while (status := server.request("GET", "/api/v1/whoami", ops)[0]) != 200:
            assert status == 401
            assert time.monotonic() - changed < 2.0, "the new user was not picked up within 2 s"
            time.sleep(0.2)
        assert server.request("GET", "/api/v1/whoami", creds(server))[0] == 200
    finally:
        server.stop()
