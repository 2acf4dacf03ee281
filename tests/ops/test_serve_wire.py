"""``serve --app`` over the wire: a real waitress behind a (pretend) trusted proxy."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import LiveServer, basic

from basicauth_wsgi.hashes import hash_password
from basicauth_wsgi.htpasswd import write_htpasswd

from .support import child_env

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")
OPS = {"Authorization": basic("ops", "ops-pw")}


def start(tmp_path: Path, *flags: str) -> LiveServer:
    users = tmp_path / "users"
    write_htpasswd(users, {"ops": hash_password("ops-pw", "sha256-crypt")})
    return LiveServer(
        ["--app", "tests.ops.apps:app", "--htpasswd", str(users), "--exclude", "/health",
         "--require-https", *flags],
        cwd=tmp_path,
        command=[sys.executable, "-m", "basicauth_wsgi", "serve", "--host", "127.0.0.1",
                 "--port", "0"],
        env=child_env(),
        password="",
    )  # fmt: skip


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[LiveServer]:
    server = start(tmp_path, "--trusted-proxy", "127.0.0.1", "--max-request-body-size", "64")
    try:
        yield server
    finally:
        server.stop()


def forwarded(client: str, proto: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"X-Forwarded-For": client, "X-Forwarded-Proto": proto, **(extra or {})}


def test_public_path_needs_nothing(proxied: LiveServer) -> None:
    status, _, body = proxied.request("GET", "/health", forwarded("192.0.2.7", "http"))
    assert status == 200 and json.loads(body)["user"] is None


def test_require_https_sees_the_forwarded_scheme_and_client(proxied: LiveServer) -> None:
    status, _, body = proxied.request("GET", "/x", forwarded("192.0.2.7", "http", OPS))
    assert status == 403 and b"HTTPS" in body
    assert proxied.request("GET", "/x", forwarded("192.0.2.7", "https"))[0] == 401
    status, _, body = proxied.request("GET", "/x", forwarded("192.0.2.7", "https", OPS))
    assert status == 200
    seen = json.loads(body)
    assert (seen["user"], seen["client"], seen["scheme"]) == ("ops", "192.0.2.7", "https")


def test_failure_lines_carry_a_timestamp_and_the_real_client(proxied: LiveServer) -> None:
    bad = {"Authorization": basic("ops", "nope")}
    assert proxied.request("GET", "/x", forwarded("192.0.2.8", "https", bad))[0] == 401
    proxied.expect(r"authentication failed: user='ops' client=192\.0\.2\.8 ", timeout=10)
    failures = [line for line in proxied.errors if "authentication failed" in line]
    assert failures and all(TIMESTAMP.match(line) for line in failures)
    assert all(TIMESTAMP.match(line) for line in proxied.errors if line.strip())


def test_request_bodies_are_capped(proxied: LiveServer) -> None:
    status, _, _ = proxied.request("POST", "/health", forwarded("192.0.2.7", "https"), b"x" * 100)
    assert status == 413
    status, _, _ = proxied.request("POST", "/health", forwarded("192.0.2.7", "https"), b"x" * 10)
    assert status == 200


def test_without_trusted_proxy_forwarded_headers_are_ignored(tmp_path: Path) -> None:
    server = start(tmp_path)
    try:
        # The header is not believed: the client is loopback, exempt from require_https.
        status, _, body = server.request("GET", "/x", forwarded("192.0.2.7", "https", OPS))
        assert status == 200
        seen = json.loads(body)
        assert (seen["client"], seen["scheme"]) == ("127.0.0.1", "http")
    finally:
        server.stop()
