"""``serve --metrics-port``: ``/metrics`` on a second listener, off by default (SPEC §12).

Over the real wire, ``basicauth-wsgi serve`` in a child process: the
protected port's requests show in the scrape; the metrics listener serves
nothing else; the protected port keeps ``/metrics`` protected like any
path; a port shared with the protected one is a one-line error.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import LiveServer, basic
from prometheus_client.parser import text_string_to_metric_families

from ..ops.support import child_env, free_port

METRICS = r"metrics on http://127\.0\.0\.1:(\d+)/metrics"


def serve(folder: Path, *args: str, env: dict[str, str] | None = None) -> LiveServer:
    return LiveServer(
        ["--db", str(folder / "api.db"), "--no-access-log", *args],
        cwd=folder,
        command=[
            sys.executable,
            "-m",
            "basicauth_wsgi",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ],
        env={**child_env(), **(env or {})},
    )


def get(port: int, path: str, authorization: str | None = None) -> tuple[int, str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": authorization} if authorization else {})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read().decode()
    finally:
        conn.close()


def outcomes(text: str) -> dict[str, float]:
    return {
        sample.labels["outcome"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "basicauth_requests_total"
    }


def test_the_metrics_listener_shows_the_protected_ports_requests(tmp_path: Path) -> None:
    server = serve(tmp_path, "--metrics-port", "0")
    try:
        metrics_port = int(server.expect(METRICS).group(1))
        assert metrics_port != server.port
        admin = basic("admin", server.password)
        assert get(server.port, "/api/v1/subscribers", admin)[0] == 200
        assert get(server.port, "/api/v1/subscribers", basic("admin", "wrong"))[0] == 401
        assert get(server.port, "/health")[0] == 200
        # On the protected port, /metrics is a path like any other: protected.
        assert get(server.port, "/metrics")[0] == 401
        status, kind, text = get(metrics_port, "/metrics")
        assert status == 200 and kind.startswith("text/plain; version=0.0.4")
        counted = outcomes(text)
        assert (counted["granted"], counted["failed"], counted["public"]) == (1, 1, 1)
        assert counted["missing"] == 1  # the /metrics asked on the protected port
        assert get(metrics_port, "/api/v1/subscribers", admin)[0] == 404
    finally:
        server.stop()


def test_off_by_default_and_on_by_its_variable(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    plain = serve(folder)
    try:
        assert get(plain.port, "/health")[0] == 200
        assert not any("metrics on" in line for line in plain.output)
    finally:
        plain.stop()
    port = free_port()
    server = serve(tmp_path, env={"BASICAUTH_METRICS_PORT": str(port)})
    try:
        assert int(server.expect(METRICS).group(1)) == port
        assert get(port, "/metrics")[0] == 200
    finally:
        server.stop()


def test_the_protected_port_is_refused_as_the_metrics_port(tmp_path: Path) -> None:
    port = str(free_port())
    command = [sys.executable, "-m", "basicauth_wsgi", "serve", "--host", "127.0.0.1"]
    command += ["--port", port, "--metrics-port", port, "--db", str(tmp_path / "api.db")]
    done = subprocess.run(
        command,
        cwd=tmp_path,
        env={**os.environ, **child_env()},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--metrics-port" in done.stderr
    assert "second listener" in done.stderr and not (tmp_path / "admin.htpasswd").exists()


def test_the_forward_auth_service_counts_into_its_metrics_port(tmp_path: Path) -> None:
    from ..forward.support import service

    server = service(tmp_path, "--metrics-port", "0")
    try:
        metrics_port = int(server.expect(METRICS).group(1))
        asked = {"X-Original-URI": "/private", "X-Original-Method": "GET",
                 "X-Forwarded-For": "203.0.113.9"}  # fmt: skip
        for authorization in (basic("alice", "alice-pw"), basic("alice", "nope"), None):
            headers = asked if authorization is None else {**asked, "Authorization": authorization}
            status, _, _ = server.request("GET", "/", headers)
            assert status in (200, 401)
        counted = outcomes(get(metrics_port, "/metrics")[2])
        assert (counted["granted"], counted["failed"], counted["missing"]) == (1, 1, 1)
    finally:
        server.stop()


def test_from_env_refuses_a_metrics_port_it_cannot_serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from basicauth_wsgi.app import from_env

    monkeypatch.setenv("BASICAUTH_DB", str(tmp_path / "api.db"))
    monkeypatch.setenv("BASICAUTH_METRICS_PORT", "9100")
    with pytest.raises(ValueError, match="BASICAUTH_METRICS_PORT is for basicauth-wsgi serve"):
        from_env()
    assert not (tmp_path / "admin.htpasswd").exists()  # refused before any password is made
