"""The forward-auth tests' real components: the service, an echoing upstream, nginx and Caddy.

Each runs in its own process on 127.0.0.1 and an ephemeral port, with its
own configuration in a folder the test owns, and is stopped by its own PID.
The nginx and Caddy recipes are the files in docs/, as written: only their
ports (and nothing else) are substituted::

    with stack(folder, "nginx", "--exclude", "/public/") as (proxy, service, upstream):
        status, body = get(proxy.port, "/private")
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from helpers import ROOT, LiveServer

from basicauth_wsgi.hashes import bcrypt as bcrypt_scheme
from basicauth_wsgi.hashes import hash_password
from basicauth_wsgi.htpasswd import write_htpasswd

from ..ops.support import IS_ROOT, NGINX, Server, child_env, free_port, need

CADDY = "/usr/bin/caddy"
NGINX_RECIPE = ROOT / "docs" / "forward-auth-nginx.conf"
CADDY_RECIPE = ROOT / "docs" / "forward-auth.Caddyfile"
USERS = {"alice": "alice-pw", "bob": "bob-pw"}
GROUPS = "admin: alice\nstaff: alice bob\n"
#: What the recipes listen on (proxy), ask (service) and protect (upstream).
PROXY_PORT, SERVICE_PORT, UPSTREAM_PORT = "8000", "9091", "8080"


def users_file(folder: Path, cost: int | None = None) -> Path:
    """The test users, hashed with SHA-256-crypt, or with bcrypt at ``cost`` (slow on purpose)."""
    path = folder / "users.htpasswd"
    write_htpasswd(
        path,
        {
            name: bcrypt_scheme.make(pw.encode(), cost)
            if cost
            else hash_password(pw, "sha256-crypt")
            for name, pw in USERS.items()
        },
    )
    (folder / "groups").write_text(GROUPS)
    return path


def service(
    folder: Path, *args: str, trusted: str = "127.0.0.1", cost: int | None = None
) -> LiveServer:
    """``basicauth-wsgi serve --forward-auth`` with the test users, from the package's tree."""
    users = users_file(folder, cost)
    return LiveServer(
        ["--forward-auth", "--htpasswd", str(users), "--htgroup", str(folder / "groups"),
         "--trusted-proxies", trusted, "--no-access-log", *args],
        cwd=folder,
        command=[sys.executable, "-m", "basicauth_wsgi", "serve", "--port", "0"],
        env=child_env(),
        password="",
    )  # fmt: skip


def upstream(folder: Path) -> LiveServer:
    """The echoing upstream (:mod:`tests.forward.upstream`)."""
    return LiveServer(
        [],
        cwd=folder,
        command=[sys.executable, "-m", "tests.forward.upstream"],
        env=child_env(),
        listening=r"^upstream on (\d+)$",
        password="",
    )


def render(recipe: Path, proxy: int, service_port: int, upstream_port: int) -> str:
    """A recipe as written, with the test's ports in place of the ones it names."""
    text = recipe.read_text()
    for written, port in ((PROXY_PORT, proxy), (SERVICE_PORT, service_port),
                          (UPSTREAM_PORT, upstream_port)):  # fmt: skip
        assert f"127.0.0.1:{written}" in text, (recipe, written)
        text = text.replace(f"127.0.0.1:{written}", f"127.0.0.1:{port}")
    return text


class NginxHttp(Server):
    """nginx whose ``http`` block includes ``conf`` (a recipe with its own server blocks)."""

    name = "nginx"

    def __init__(self, folder: Path, conf: str, port: int) -> None:
        temp = folder / "nginx-temp"
        temp.mkdir(exist_ok=True)
        temps = " ".join(
            f"{kind}_temp_path {temp};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (folder / "recipe.conf").write_text(conf)
        main = folder / "nginx.conf"
        main.write_text(
            f"""
{"user www-data www-data;" if IS_ROOT else ""}
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {folder}/nginx-access.log;
    {temps}
    include {folder / "recipe.conf"};
}}
"""
        )
        command = [need(NGINX), "-p", str(folder), "-c", str(main), "-g", "daemon off;"]
        super().__init__(folder, command, port)


class Caddy(Server):
    """Caddy importing ``conf`` (a recipe's site block) on 127.0.0.1, admin API off, state in
    ``folder``."""

    name = "caddy"

    def __init__(self, folder: Path, conf: str, port: int) -> None:
        (folder / "recipe.Caddyfile").write_text(conf)
        main = folder / "Caddyfile"
        main.write_text(
            # default_bind: the recipe's site address names the host to
            # answer, not where to listen (Caddy would take every interface).
            "{\n\tadmin off\n\tauto_https off\n\tdefault_bind 127.0.0.1\n\tstorage file_system "
            f"{folder / 'caddy-data'}\n}}\n\nimport {folder / 'recipe.Caddyfile'}\n"
        )
        # env(1) execs Caddy in its place (the PID stays ours); its autosave
        # and data go to the test's folder, not to a home directory.
        command = [
            "/usr/bin/env",
            f"HOME={folder}",
            f"XDG_CONFIG_HOME={folder}",
            f"XDG_DATA_HOME={folder}",
            need(CADDY),
            "run",
            "--config",
            str(main),
            "--adapter",
            "caddyfile",
        ]
        super().__init__(folder, command, port)


PROXIES = {"nginx": (NginxHttp, NGINX_RECIPE), "caddy": (Caddy, CADDY_RECIPE)}


@contextlib.contextmanager
def stack(
    folder: Path, proxy: str, *args: str, cost: int | None = None
) -> Iterator[tuple[Server, LiveServer, LiveServer]]:
    """The proxy running its recipe, the service (``args`` are its flags) and the upstream."""
    kind, recipe = PROXIES[proxy]
    need(NGINX if proxy == "nginx" else CADDY)
    (folder / "service").mkdir()
    (folder / "upstream").mkdir()
    with contextlib.ExitStack() as stop:
        auth = service(folder / "service", *args, cost=cost)
        stop.callback(auth.stop)
        echo = upstream(folder / "upstream")
        stop.callback(echo.stop)
        port = free_port()
        server = kind(folder, render(recipe, port, auth.port, echo.port), port)
        stop.callback(server.stop)
        yield server, auth, echo


def seen(body: bytes) -> dict[str, Any]:
    """What the upstream echoed; its headers by lower-case name (lists of values)."""
    data: dict[str, Any] = json.loads(body)
    by_name: dict[str, list[str]] = {}
    for name, value in data["headers"]:
        by_name.setdefault(name.lower(), []).append(value)
    data["by_name"] = by_name
    return data
