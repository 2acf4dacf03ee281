"""``basicauth-wsgi serve --forward-auth``: flags, variables and the mode's errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import webtest
from helpers import basic

from basicauth_wsgi.forward import ForwardAuth
from basicauth_wsgi.hashes import hash_password
from basicauth_wsgi.htpasswd import write_htpasswd

from ..ops.support import FakeServe


@pytest.fixture
def users(tmp_path: Path) -> Path:
    path = tmp_path / "users"
    write_htpasswd(path, {"ops": hash_password("ops-pw", "sha256-crypt")})
    return path


def service(fake: FakeServe) -> ForwardAuth:
    [(app, config)] = fake.calls  # served with --no-access-log: the service itself
    assert config.forward_auth and isinstance(app, ForwardAuth)
    return app


def test_flags_reach_the_service(run: Any, users: Path) -> None:
    code, err, fake = run(
        "--forward-auth", "--htpasswd", str(users), "--trusted-proxies", "10.0.0.0/8",
        "--trusted-proxies", "127.0.0.1", "--forward-auth-style", "traefik",
        "--forward-auth-user-headers", "X-Auth-User", "--forward-auth-groups-header", "off",
        "--exclude", "/public/", "--realm", "Grafana", "--no-access-log",
    )  # fmt: skip
    assert code == 0, err
    app = service(fake)
    assert (app.style, app.user_headers, app.groups_header) == ("traefik", ("X-Auth-User",), None)
    assert app.trusted.contains("10.1.2.3") and app.trusted.contains("127.0.0.1")
    client = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "10.1.2.3"})
    facts = {"X-Forwarded-Method": "GET", "X-Forwarded-For": "203.0.113.9"}
    assert client.get("/", headers={**facts, "X-Forwarded-Uri": "/public/x"}).status_int == 200
    denied = client.get("/", headers={**facts, "X-Forwarded-Uri": "/x"}, status=401)
    assert 'realm="Grafana"' in denied.headers["WWW-Authenticate"]
    granted = client.get("/", headers={**facts, "X-Forwarded-Uri": "/x",
                                       "Authorization": basic("ops", "ops-pw")})  # fmt: skip
    assert granted.headers["X-Auth-User"] == "ops"


def test_variables_reach_the_service(run: Any, users: Path) -> None:
    environ = {"BASICAUTH_HTPASSWD": str(users), "BASICAUTH_TRUSTED_PROXIES": "127.0.0.1",
               "BASICAUTH_FORWARD_AUTH_STYLE": "envoy",
               "BASICAUTH_FORWARD_AUTH_PATH_PREFIX": "/ext-authz"}  # fmt: skip
    code, err, fake = run("--forward-auth", "--no-access-log", environ=environ)
    assert code == 0, err
    assert (service(fake).style, service(fake).path_prefix) == ("envoy", "/ext-authz")


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["--forward-auth"], {}, "--trusted-proxies"),
        (["--forward-auth", "--trusted-proxies", "*"], {}, "'*' is not an IP address"),
        (["--forward-auth", "--trusted-proxies", "127.0.0.1", "--app", "tests.ops.apps:app"],
         {}, "--app and --forward-auth"),
        (["--forward-auth", "--trusted-proxies", "127.0.0.1", "--trusted-proxy", "127.0.0.1"],
         {}, "--trusted-proxy is for --app"),
        (["--forward-auth", "--trusted-proxies", "127.0.0.1", "--allow-cors-preflight"], {},
         "--allow-cors-preflight is an option of BasicAuth"),
        (["--forward-auth", "--trusted-proxies", "127.0.0.1", "--forward-auth-style", "haproxy"],
         {}, "--forward-auth-style = 'haproxy'"),
        (["--forward-auth", "--trusted-proxies", "127.0.0.1", "--forward-auth-path-prefix",
          "/x"], {}, "path_prefix is Envoy's"),
        (["--app", "tests.ops.apps:app"], {"BASICAUTH_TRUSTED_PROXIES": "127.0.0.1"},
         "BASICAUTH_TRUSTED_PROXIES is an option of ForwardAuth"),
        (["--app", "tests.ops.apps:app", "--forward-auth-style", "nginx"], {},
         "--forward-auth-style is an option of ForwardAuth"),
    ],
    ids=["no-proxies", "wildcard", "with-app", "with-trusted-proxy", "middleware-flag",
         "bad-style", "prefix-without-envoy", "variable-without-mode", "flag-without-mode"],
)  # fmt: skip
def test_a_bad_combination_is_one_line_and_exit_2(
    run: Any, users: Path, argv: list[str], environ: dict[str, str], message: str
) -> None:
    code, err, fake = run(*argv, "--htpasswd", str(users), environ=environ)
    assert code == 2 and fake.calls == []
    [line] = err.strip().splitlines()
    assert message in line, line


def test_without_users_nothing_is_generated(run: Any, tmp_path: Path) -> None:
    code, err, fake = run("--forward-auth", "--trusted-proxies", "127.0.0.1")
    assert code == 2 and fake.calls == [] and "--htpasswd" in err
    assert not (tmp_path / "admin.htpasswd").exists()
