"""``serve``: every middleware option a flag and a variable, ``--app``, a busy port (SPEC §8)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import webtest
from helpers import basic

from basicauth_wsgi.cli import main
from basicauth_wsgi.cli.serve import (
    DEFAULT_CHANNEL_TIMEOUT,
    DEFAULT_CONNECTION_LIMIT,
    DEFAULT_MAX_BODY,
    SERVER_OPTIONS,
)
from basicauth_wsgi.hashes import hash_password
from basicauth_wsgi.htpasswd import write_htpasswd
from basicauth_wsgi.options import STRING_OPTIONS as OPTIONS

from .support import FakeServe, child_env

if TYPE_CHECKING:
    pass

APP = "tests.ops.apps:app"


@pytest.fixture
def users(tmp_path: Path) -> Path:
    path = tmp_path / "users"
    write_htpasswd(path, {"ops": hash_password("ops-pw", "sha256-crypt")})
    return path


def served(fake: FakeServe) -> webtest.TestApp:
    [(app, _)] = fake.calls
    return webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "192.0.2.10"})


def test_help_lists_every_option_as_a_flag_and_a_variable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option in OPTIONS:
        if option.arity == "secret":  # never a flag: only its variable is named
            assert re.search(re.escape(option.flag) + r"(?![-\w])", text) is None
            assert option.env in text, option.name
            continue
        assert option.flag in text and option.env in text, option.name
    for server in SERVER_OPTIONS:
        assert server.flag in text
        assert server.env is None or server.env in text


def test_app_is_served_protected(run: Any, users: Path) -> None:
    code, out, _, fake = run("serve", "--app", APP, "--htpasswd", str(users), "--no-access-log")
    assert code == 0 and "admin password" not in out
    app = served(fake)
    app.get("/x", status=401)
    assert app.get("/x", headers={"Authorization": basic("ops", "ops-pw")}).json["user"] == "ops"


def test_app_without_users_is_an_error(run: Any, tmp_path: Path) -> None:
    code, out, err, fake = run("serve", "--app", APP)
    assert code == 2 and fake.calls == [] and out == ""
    [line] = err.strip().splitlines()
    assert "--htpasswd" in line and "--users" in line
    assert not (tmp_path / "admin.htpasswd").exists()


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("tests.ops.apps", "MODULE:NAME"),
        ("tests.ops.nothere:app", "cannot import tests.ops.nothere"),
        ("tests.ops.apps:missing", "has no missing"),
        ("tests.ops.apps:not_callable", "not a WSGI application"),
    ],
    ids=["no-colon", "no-module", "no-attribute", "not-callable"],
)
def test_bad_app_is_one_line_exit_2(run: Any, users: Path, reference: str, message: str) -> None:
    code, _, err, fake = run("serve", "--app", reference, "--htpasswd", str(users))
    assert code == 2 and fake.calls == []
    [line] = err.strip().splitlines()
    assert message in line


def test_middleware_flags_reach_the_middleware(run: Any, users: Path) -> None:
    code, _, err, fake = run(
        "serve", "--app", APP, "--htpasswd", str(users), "--realm", "Ops",
        "--exclude", "/health", "--exclude", "/static/", "--require-https",
        "--throttle-per-client", "2", "--no-cache", "--no-access-log",
    )  # fmt: skip
    assert code == 0, err
    app = served(fake)
    app.get("/health", status=200)
    app.get("/static/x.css", status=200)
    app.get("/x", status=403)  # plain HTTP from a non-loopback client
    https = {"wsgi.url_scheme": "https"}
    denied = app.get("/x", status=401, extra_environ=https)
    assert 'realm="Ops"' in denied.headers["WWW-Authenticate"]
    for n in range(2):  # distinct guesses: a repeated header counts once
        wrong = {"Authorization": basic("ops", f"bad{n}")}
        app.get("/x", headers=wrong, extra_environ=https, status=401)
    app.get(
        "/x", headers={"Authorization": basic("ops", "ops-pw")}, extra_environ=https, status=429
    )
    [(middleware, _)] = fake.calls
    assert middleware.app.cache is None  # type: ignore[attr-defined]


def test_flags_win_over_the_environment(run: Any, users: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    write_htpasswd(other, {"env-user": hash_password("pw", "sha256-crypt")})
    environ = {
        "BASICAUTH_HTPASSWD": str(other),
        "BASICAUTH_REALM": "From env",
        "BASICAUTH_EXCLUDE": "/env-public",
        "BASICAUTH_THROTTLE_PER_CLIENT": "50",
        "PORT": "1234",
    }
    code, _, err, fake = run(
        "serve", "--app", APP, "--htpasswd", str(users), "--realm", "From flag",
        "--exclude", "/flag-public", "--throttle-per-client", "1", "--port", "4321",
        "--no-access-log", environ=environ,
    )  # fmt: skip
    assert code == 0, err
    assert fake.calls[0][1].port == 4321
    app = served(fake)
    challenge = app.get("/x", status=401).headers["WWW-Authenticate"]
    assert 'realm="From flag"' in challenge
    app.get("/flag-public", status=200)
    app.get("/env-public", status=401)
    app.get("/x", headers={"Authorization": basic("env-user", "pw")}, status=401)
    app.get("/x", headers={"Authorization": basic("ops", "ops-pw")}, status=429)  # limit 1


def test_the_environment_alone_configures_serve(run: Any, users: Path) -> None:
    environ = {"BASICAUTH_HTPASSWD": str(users), "BASICAUTH_EXCLUDE": "/health /ping"}
    code, _, err, fake = run("serve", "--app", APP, "--no-access-log", environ=environ)
    assert code == 0, err
    app = served(fake)
    app.get("/health", status=200)
    app.get("/ping", status=200)
    app.get("/x", status=401)


def test_waitress_hardening_defaults_and_flags(run: Any, users: Path) -> None:
    config = run("serve", "--app", APP, "--htpasswd", str(users))[3].calls[0][1]
    assert (
        (config.connection_limit, config.channel_timeout, config.max_request_body_size)
        == (
            DEFAULT_CONNECTION_LIMIT,
            DEFAULT_CHANNEL_TIMEOUT,
            DEFAULT_MAX_BODY,
        )
        == (1000, 30, 2 * 1024 * 1024)
    )
    assert config.trusted_proxy is None
    config = run(
        "serve", "--app", APP, "--htpasswd", str(users), "--connection-limit", "10",
        "--channel-timeout", "5", "--max-request-body-size", "100", "--trusted-proxy", "10.0.0.1",
    )[3].calls[0][1]  # fmt: skip
    assert (config.connection_limit, config.channel_timeout, config.max_request_body_size) == (
        10,
        5,
        100,
    )
    assert [str(n) for n in config.trusted_proxy or ()] == ["10.0.0.1/32"]


@pytest.mark.parametrize(
    ("argv", "environ", "named"),
    [
        (["--throttle-per-client", "many"], {}, "--throttle-per-client"),
        ([], {"BASICAUTH_THROTTLE_PER_CLIENT": "many"}, "BASICAUTH_THROTTLE_PER_CLIENT"),
        (["--exclude", "health"], {}, "--exclude"),
        ([], {"BASICAUTH_NOPE": "1"}, "BASICAUTH_NOPE"),
        (["--connection-limit", "0"], {}, "--connection-limit"),
        (["--channel-timeout", "never"], {}, "--channel-timeout"),
        (["--max-request-body-size", "-1"], {}, "--max-request-body-size"),
        (["--trusted-proxy", ""], {}, "--trusted-proxy"),
        (["--cache-ttl", "soon"], {}, "--cache-ttl"),
        (["--max-concurrent-checks", "0"], {}, "--max-concurrent-checks"),
        (["--no-throttle", "--throttle-window", "5"], {}, "--throttle-window"),
    ],
    ids=["flag-int", "env-int", "flag-path", "env-unknown", "connection-limit", "channel-timeout",
         "body-size", "trusted-proxy-empty", "cache-ttl", "slots-zero", "throttle-off-with-window"],
)  # fmt: skip
def test_bad_values_are_one_line_exit_2_naming_them(
    run: Any, users: Path, argv: list[str], environ: dict[str, str], named: str
) -> None:
    code, _, err, fake = run("serve", "--app", APP, "--htpasswd", str(users), *argv,
                               environ=environ)  # fmt: skip
    assert code == 2 and fake.calls == []
    [line] = err.strip().splitlines()
    assert named in line and "Traceback" not in err


def test_a_busy_port_is_one_line_exit_2_before_any_password(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "basicauth_wsgi", "serve", "--port", str(port), "--db",
             str(tmp_path / "api.db")],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
            env={**os.environ, **child_env()},
        )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"basicauth-wsgi serve: error: cannot listen on 127.0.0.1:{port}: address already in use"
    ]
    assert "password" not in result.stdout
    assert not (tmp_path / "admin.htpasswd").exists()
    assert not (tmp_path / "api.db").exists()


def test_help_shows_readable_metavars(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
    assert "MW_" not in text
    # Every option's value has a name from the table, never its internal dest.
    for option in OPTIONS:
        if option.arity not in ("bool", "secret"):  # a secret has no flag
            assert f"{option.flag} {option.metavar}" in text, option.name
    for server in SERVER_OPTIONS:
        assert f"{server.flag} {server.metavar}" in text, server.name
    for internal in ("TRUSTED_PROXY", "CONNECTION_LIMIT", "MAX_REQUEST_BODY_SIZE"):
        assert internal not in text
    # --include says what "/api" protects.
    assert "/api exactly (not /api/v1)" in " ".join(text.split())


def test_the_first_runs_admin_file_is_ignored_by_git(tmp_path: Path) -> None:
    from helpers import ROOT

    patterns = (ROOT / ".gitignore").read_text().splitlines()
    assert "admin.htpasswd" in patterns
    git = shutil.which("git")
    if git is not None and (ROOT / ".git").exists():
        result = subprocess.run(
            [git, "check-ignore", "-q", "admin.htpasswd"], cwd=ROOT, timeout=30, check=False
        )
        assert result.returncode == 0
