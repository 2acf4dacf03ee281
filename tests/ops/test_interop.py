"""Real nginx and Apache httpd read the files our ``passwd`` writes (SPEC §8, issue 13).

Both servers run on 127.0.0.1 with their own minimal configuration, their
workers as www-data when we are root (as in production), reading a users
file that is a symbolic link to a ``root:www-data 0640`` file: every
update by ``passwd`` must keep it readable by them. And a real nginx in
front of ``serve --trusted-proxy``: the throttle sees the real clients.
"""

from __future__ import annotations

import grp
import io
import json
import os
import re
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ROOT, LiveServer

from basicauth_wsgi.cli import main

from .support import (
    HTPASSWD,
    IS_ROOT,
    Apache,
    Nginx,
    Server,
    child_env,
    get,
    need,
    shared_folder,
)

# What each server verifies, checked by hand against Debian's nginx 1.22
# (libxcrypt crypt(3) plus its own {PLAIN}, {SHA}, {SSHA}, $apr1$) and
# Apache 2.4 (apr-util: bcrypt, $apr1$, {SHA}, and crypt(3) for $1$ $5$ $6$).
NGINX_SCHEMES = (
    "bcrypt",
    "sha512-crypt",
    "sha256-crypt",
    "apr1",
    "md5-crypt",
    "sha1",
    "ssha",
    "plain",
)
APACHE_SCHEMES = ("bcrypt", "sha512-crypt", "sha256-crypt", "apr1", "md5-crypt", "sha1")


class Site:
    """The users file both servers read: ``users`` -> ``data/users.real``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        data = folder / "data"
        data.mkdir()
        data.chmod(0o755)
        self.real = data / "users.real"
        self.real.write_text("# managed by basicauth-wsgi passwd\n")
        self.group = grp.getgrnam("www-data").gr_gid if IS_ROOT else os.getegid()
        if IS_ROOT:
            os.chown(self.real, 0, self.group)
        self.real.chmod(0o640)
        self.link = folder / "users"
        self.link.symlink_to(self.real)
        self.docroot = folder / "www"
        self.docroot.mkdir()
        self.docroot.chmod(0o755)
        (self.docroot / "index.html").write_text("protected\n")
        (self.docroot / "index.html").chmod(0o644)

    def passwd(self, *argv: str, password: str = "") -> None:
        out, err = io.StringIO(), io.StringIO()
        code = main(
            ["passwd", *argv],
            environ={},
            stdin=io.StringIO(password + "\n"),
            stdout=out,
            stderr=err,
        )
        assert code == 0, err.getvalue()
        # Whatever passwd did, the servers' view of the file is intact.
        st = self.real.stat()
        assert self.link.is_symlink() and self.link.resolve() == self.real
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (
            0 if IS_ROOT else os.geteuid(),
            self.group,
            0o640,
        )


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with shared_folder() as folder:
        yield Site(folder)


@pytest.fixture(scope="module")
def nginx(site: Site) -> Iterator[Server]:
    body = f"""
        location / {{
            auth_basic "interop";
            auth_basic_user_file {site.link};
            root {site.docroot};
        }}
    """
    with Nginx(site.folder, body) as server:
        yield server


@pytest.fixture(scope="module")
def apache(site: Site) -> Iterator[Server]:
    with Apache(site.folder, site.docroot, site.link) as server:
        yield server


def _servers(request: pytest.FixtureRequest, name: str) -> Server:
    server: Server = request.getfixturevalue(name)
    return server


CASES = [("nginx", s) for s in NGINX_SCHEMES] + [("apache", s) for s in APACHE_SCHEMES]


@pytest.mark.parametrize(("server_name", "scheme"), CASES, ids=[f"{n}-{s}" for n, s in CASES])
def test_server_accepts_users_written_by_passwd(
    request: pytest.FixtureRequest, site: Site, server_name: str, scheme: str
) -> None:
    server = _servers(request, server_name)
    user = f"{server_name}-{scheme}"
    first, second = secrets.token_urlsafe(9), secrets.token_urlsafe(9)
    flags = ["--scheme", scheme] + (["-C", "5"] if scheme == "bcrypt" else [])
    # Added, then updated in place of the file (through the link, owner kept).
    site.passwd(str(site.link), user, "--stdin", *flags, password=first)
    assert get(server.port, "/index.html", (user, first))[0] == 200, server.output()
    site.passwd(str(site.link), user, "--stdin", *flags, password=second)
    assert get(server.port, "/index.html", (user, second)) == (200, b"protected\n")
    assert get(server.port, "/index.html", (user, first))[0] == 401
    assert get(server.port, "/index.html")[0] == 401


@pytest.mark.parametrize("scheme", APACHE_SCHEMES)
def test_apache_htpasswd_agrees(site: Site, scheme: str) -> None:
    need(HTPASSWD)
    user, password = f"htpasswd-{scheme}", secrets.token_urlsafe(9)
    site.passwd(str(site.link), user, "--stdin", "--scheme", scheme, password=password)
    for attempt, expected in ((password, 0), (password + "x", 3)):
        result = subprocess.run(
            [HTPASSWD, "-vb", str(site.link), user, attempt],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == expected, result.stderr


def test_a_deleted_user_is_refused_by_both(request: pytest.FixtureRequest, site: Site) -> None:
    password = secrets.token_urlsafe(9)
    site.passwd(str(site.link), "leaver", "--stdin", "--scheme", "apr1", password=password)
    servers = [_servers(request, "nginx"), _servers(request, "apache")]
    assert [get(s.port, "/index.html", ("leaver", password))[0] for s in servers] == [200, 200]
    site.passwd(str(site.link), "leaver", "-D")
    assert [get(s.port, "/index.html", ("leaver", password))[0] for s in servers] == [401, 401]


# -- nginx in front of serve --trusted-proxy ------------------------------------------------

RECIPE = ROOT / "docs" / "nginx.conf"


def render_recipe(port: int) -> str:
    """docs/nginx.conf as written, with our serve's port in place of 8080."""
    text = RECIPE.read_text()
    assert "127.0.0.1:8080" in text
    return text.replace("127.0.0.1:8080", f"127.0.0.1:{port}")


def test_nginx_recipe_in_front_of_serve_throttles_each_client_apart(tmp_path: Path) -> None:
    need("/usr/sbin/nginx")
    with shared_folder() as folder:
        users = folder / "users"
        out, err = io.StringIO(), io.StringIO()
        code = main(
            ["passwd", "-c", str(users), "ops", "--stdin", "--scheme", "sha256-crypt"],
            environ={},
            stdin=io.StringIO("ops-pw\n"),
            stdout=out,
            stderr=err,
        )
        assert code == 0, err.getvalue()
        serve = LiveServer(
            ["--app", "tests.ops.apps:app", "--htpasswd", str(users), "--trusted-proxy",
             "127.0.0.1", "--throttle-per-client", "2", "--exclude", "/health"],
            cwd=tmp_path,
            command=[sys.executable, "-m", "basicauth_wsgi", "serve", "--port", "0"],
            env=child_env(),
            password="",
        )  # fmt: skip
        try:
            (folder / "proxy.conf").write_text(render_recipe(serve.port))
            with Nginx(folder, f"include {folder / 'proxy.conf'};") as nginx:
                attacker, user = "127.0.0.2", "127.0.0.3"
                # A forged X-Forwarded-For changes nothing: nginx sets it.
                forged = {"X-Forwarded-For": "127.0.0.9"}
                statuses = [  # distinct guesses: a repeated header counts once
                    get(nginx.port, "/x", ("ops", f"wrong{n}"), attacker, forged)[0]
                    for n in range(3)
                ]
                assert statuses == [401, 401, 429], nginx.output()
                status, body = get(nginx.port, "/x", ("ops", "ops-pw"), source=user)
                assert status == 200, body
                seen = json.loads(body)
                assert seen["client"] == user and seen["user"] == "ops"
                assert seen["scheme"] == "http"
                # The attacker stays blocked even with the right password.
                assert get(nginx.port, "/x", ("ops", "ops-pw"), source=attacker)[0] == 429
                failures = [line for line in serve.errors if "authentication failed" in line]
                assert failures and all("client=127.0.0.2 " in line for line in failures)
                assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", line) for line in failures)
        finally:
            serve.stop()


def test_nothing_is_left_listening_on_port_80(request: pytest.FixtureRequest) -> None:
    # The packages' own services (stopped by .ci/run) and our servers alike.
    servers = [_servers(request, "nginx"), _servers(request, "apache")]
    assert all(server.port not in (80, 443) and server.port > 1024 for server in servers)
    for host in ("127.0.0.1", "::1"):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family) as probe:
            probe.settimeout(2)
            try:
                probe.connect((host, 80))
            except OSError:
                continue
            pytest.fail(f"something listens on {host} port 80")
