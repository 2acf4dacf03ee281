"""``serve --app`` over the wire: a real waitress behind a (pretend) trusted proxy.

The tests send ``X-Forwarded-For`` themselves from 127.0.0.1, as a proxy
on the same host would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import LiveServer, basic

from basicauth_wsgi.hashes import hash_password
from basicauth_wsgi.htpasswd import write_htpasswd

from .support import child_env, fail2ban_regex

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


# -- --trusted-proxy: addresses and networks, forwarded facts believed as IP text (issue 19) ----


def serve_app(tmp_path: Path, *flags: str, cwd: Path | None = None) -> LiveServer:
    users = tmp_path / "users"
    if not users.exists():
        write_htpasswd(users, {"ops": hash_password("ops-pw", "sha256-crypt")})
    return LiveServer(
        ["--app", "tests.ops.apps:app", "--htpasswd", str(users), *flags],
        cwd=cwd or tmp_path,
        command=[sys.executable, "-m", "basicauth_wsgi", "serve", "--host", "127.0.0.1",
                 "--port", "0"],
        env=child_env(),
        password="",
    )  # fmt: skip


def fail(server: LiveServer, client: str, n: int) -> int:
    """One wrong password (a new one each time) forwarded for ``client``; the status."""
    headers = {"X-Forwarded-For": client, "Authorization": basic("ops", f"wrong-{n}")}
    return server.request("GET", "/x", headers)[0]


def test_clients_behind_a_trusted_proxy_are_counted_apart(tmp_path: Path) -> None:
    server = serve_app(tmp_path, "--trusted-proxy", "127.0.0.1", "--throttle-per-client", "3")
    try:
        # 25 clients, one failure each: one shared key would give 429 from the 4th.
        statuses = [fail(server, f"192.0.2.{n}", n) for n in range(1, 26)]
        assert statuses == [401] * 25
        # An IPv4-mapped forwarded address is that IPv4 client: one key for both spellings.
        mapped = [fail(server, "::ffff:198.51.100.50", n) for n in range(2)]
        assert [*mapped, fail(server, "198.51.100.50", 2)] == [401, 401, 401]
        assert fail(server, "::ffff:198.51.100.50", 3) == 429
        assert fail(server, "::ffff:198.51.100.51", 4) == 401  # a key of its own
        server.expect(r"client=198\.51\.100\.51 ", timeout=10)
        failures = [x for x in server.errors if "authentication failed" in x]
        clients = {x.split(" client=")[1].split()[0] for x in failures}
        assert clients == {f"192.0.2.{n}" for n in range(1, 26)} | {
            "198.51.100.50",
            "198.51.100.51",
        }
        # The application sees the same canonical client.
        ok = {"X-Forwarded-For": "::ffff:203.0.113.9", "Authorization": basic("ops", "ops-pw")}
        status, _, body = server.request("GET", "/x", ok)
        assert status == 200 and json.loads(body)["client"] == "203.0.113.9"
    finally:
        server.stop()


def test_forwarded_text_can_neither_forge_nor_hide_a_failure_line(tmp_path: Path) -> None:
    server = serve_app(tmp_path, "--trusted-proxy", "127.0.0.1/8,::1")
    try:
        forged = "192.0.2.66 reason=wrong_password path=/ x"
        headers = {"X-Forwarded-For": forged, "Authorization": basic("ops", "nope")}
        assert server.request("GET", "/x", headers)[0] == 401
        line = server.expect(r"authentication failed: user='ops' client=\S+ ", timeout=10).string
        assert " client=invalid reason=wrong_password path=/x" in line
        assert "192.0.2.66" not in line
        regex = fail2ban_regex()
        assert regex.search(line) is None  # no host to ban: not the forged one, not the proxy
        # A real forwarded address is what fail2ban reads.
        assert fail(server, "::ffff:192.0.2.77", 1) == 401
        real = server.expect(r"client=192\.0\.2\.77 ", timeout=10).string
        found = regex.search(real)
        assert found is not None and found["host"] == "192.0.2.77"
    finally:
        server.stop()


def test_forwarded_headers_from_an_untrusted_peer_warn_once(tmp_path: Path) -> None:
    server = serve_app(tmp_path)
    try:
        for n in range(3):
            assert fail(server, f"192.0.2.{n + 1}", n) == 401
        # A line logged after those requests: every line before it has been read.
        headers = {"Authorization": basic("sentinel", "x")}
        assert server.request("GET", "/x", headers)[0] == 401
        server.expect(r"user='sentinel'", timeout=10)
        warnings = [x for x in server.errors if "X-Forwarded-For" in x]
        assert len(warnings) == 1, server.errors
        assert TIMESTAMP.match(warnings[0]) and " WARNING " in warnings[0]
        assert "from 127.0.0.1, which is not a trusted proxy" in warnings[0]
        assert "--trusted-proxy 127.0.0.1" in warnings[0]
        failures = [x for x in server.errors if "authentication failed" in x]
        assert all(" client=127.0.0.1 " in x for x in failures)
    finally:
        server.stop()


def test_a_rule_without_users_or_groups_allows_any_authenticated_user(tmp_path: Path) -> None:
    server = serve_app(tmp_path, "--rules", "/admin/ *\n/ops/ DELETE nobody")
    try:
        assert server.request("GET", "/admin/x")[0] == 401
        assert server.request("GET", "/admin/x", OPS)[0] == 200
        assert server.request("DELETE", "/ops/1", OPS)[0] == 403
    finally:
        server.stop()


def test_include_without_a_trailing_slash_warns_at_start(tmp_path: Path) -> None:
    server = serve_app(tmp_path, "--include", "/api", "--include", "/admin/")
    try:
        # Logged before "serving on": LiveServer has read it already.
        [line] = [x for x in server.errors if "--include /api protects only" in x]
        assert TIMESTAMP.match(line) and " WARNING " in line
        assert "write /api/ to protect the folder" in line
        assert not [x for x in server.errors if "/admin/ protects" in x]
        # As documented: the exact path only.
        assert server.request("GET", "/api")[0] == 401
        assert server.request("GET", "/api/v1/private")[0] == 200
    finally:
        server.stop()


def test_app_is_imported_from_the_current_directory(tmp_path: Path) -> None:
    # The console script, as the systemd unit runs it: no "python -m" to add
    # the current directory to sys.path.
    script = shutil.which("basicauth-wsgi")
    assert script is not None, "pip install -e '.[test]' installs the basicauth-wsgi script"
    site = tmp_path / "site"
    site.mkdir()
    (site / "myapp.py").write_text(
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'myapp for ' + environ['REMOTE_USER'].encode()]\n"
    )
    write_htpasswd(site / "users", {"ops": hash_password("ops-pw", "sha256-crypt")})
    env = child_env()
    assert str(site) not in env["PYTHONPATH"]
    server = LiveServer(
        ["--app", "myapp:app", "--htpasswd", "users"],
        cwd=site,
        command=[script, "serve", "--host", "127.0.0.1", "--port", "0"],
        env=env,
        password="",
    )
    try:
        assert server.request("GET", "/", OPS)[2] == b"myapp for ops"
    finally:
        server.stop()


@pytest.mark.parametrize(
    "value", ["*", "localhost", "127.0.0.1/33", "10.0.0.0/8,proxy.internal", "fe80::1%eth0"]
)
def test_trusted_proxy_takes_addresses_and_networks_only(tmp_path: Path, value: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "basicauth_wsgi", "serve", "--port", "0", "--trusted-proxy",
         value, "--db", str(tmp_path / "api.db")],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={**os.environ, **child_env()},
    )  # fmt: skip
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("basicauth-wsgi serve: error: --trusted-proxy")
    assert "password" not in result.stdout
