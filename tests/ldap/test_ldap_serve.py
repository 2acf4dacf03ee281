"""``basicauth-wsgi serve`` with a directory, over the wire: logins, groups, an outage and back."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import LiveServer
from ldapserver import PEOPLE, SERVICE_DN, SERVICE_PASSWORD, Slapd


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Accept": "application/json"}


@pytest.fixture
def server(own_slapd: Slapd, tmp_path: Path) -> Iterator[LiveServer]:
    (tmp_path / "rules").write_text("/api/v1/subscribers/ DELETE @admins\n")
    live = LiveServer(
        ["--db", str(tmp_path / "api.db"), "--ldap-url", own_slapd.url,
         "--ldap-search-base", PEOPLE, "--ldap-bind-dn", SERVICE_DN, "--ldap-timeout", "1"],
        cwd=tmp_path,
        env={"BASICAUTH_LDAP_BIND_PASSWORD": SERVICE_PASSWORD,
             "BASICAUTH_RULES": (tmp_path / "rules").read_text()},
        password="(none: the directory's users)",
    )  # fmt: skip
    try:
        yield live
    finally:
        live.stop()


def status(server: LiveServer, username: str, password: str, method: str = "GET") -> int:
    path = "/api/v1/subscribers/1" if method == "DELETE" else "/api/v1/whoami"
    code, _, _ = server.request(method, path, basic(username, password))
    return code


def test_directory_users_over_the_wire(server: LiveServer) -> None:
    code, _, body = server.request("GET", "/api/v1/whoami", basic("alice", "alice-pw"))
    assert code == 200 and json.loads(body) == {"user": "alice"}
    assert status(server, "alice", "wrong") == 401
    assert status(server, "alice", "") == 401
    assert status(server, "*", "alice-pw") == 401
    # The rule on the directory's groups: alice is in admins, bob is not.
    assert status(server, "alice", "alice-pw", "DELETE") == 404  # allowed; no such subscriber
    assert status(server, "bob", "bob-pw", "DELETE") == 403


def test_an_outage_over_the_wire_is_a_503_then_back(server: LiveServer, own_slapd: Slapd) -> None:
    assert status(server, "alice", "alice-pw") == 200
    own_slapd.kill()
    code, headers, body = server.request("GET", "/api/v1/whoami", basic("bob", "bob-pw"))
    assert code == 503 and headers["Retry-After"] == "1"
    assert json.loads(body)["error"] == "unavailable"
    assert status(server, "carol", "wrong") == 503  # never a 401 counted, never a 500
    assert status(server, "alice", "alice-pw") == 200  # cached before the outage
    own_slapd.start()
    assert status(server, "bob", "bob-pw") == 200
    deadline = time.monotonic() + 10  # stderr is read by a thread: wait for the line
    while not any("user store unavailable" in line for line in server.errors):
        assert time.monotonic() < deadline, server.errors
        time.sleep(0.02)
    everything = "\n".join(server.output + server.errors)
    for secret in (SERVICE_PASSWORD, "bob-pw", "alice-pw"):
        assert secret not in everything
