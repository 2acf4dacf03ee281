"""The command line: ``serve`` options, environment, errors (SPEC §8)."""

from __future__ import annotations

import io
import logging
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import webtest
from conftest import ROOT, basic

from basicauth_wsgi import BasicAuth
from basicauth_wsgi.accesslog import AccessLog
from basicauth_wsgi.cli import DEFAULT_THREADS, ServeConfig, main

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


class FakeServe:
    """Stands in for waitress: records what it was asked to serve."""

    def __init__(self) -> None:
        self.calls: list[tuple[WSGIApplication, ServeConfig]] = []

    def __call__(self, app: WSGIApplication, config: ServeConfig, stdout: Any) -> None:
        self.calls.append((app, config))


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)

    def run(*argv: str, environ: dict[str, str] | None = None) -> tuple[int, str, str, FakeServe]:
        out, err, fake = io.StringIO(), io.StringIO(), FakeServe()
        code = main(list(argv), environ=environ or {}, stdout=out, stderr=err, serve=fake)
        return code, out.getvalue(), err.getvalue(), fake

    yield run
    # main() configures the library's loggers, as a program does; undo it.
    for name in ("basicauth_wsgi", "waitress", "basicauth_wsgi.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)


def test_serve_defaults(run: Any, tmp_path: Path) -> None:
    code, _, _, fake = run("serve")
    assert code == 0
    [(app, config)] = fake.calls
    assert config == ServeConfig()
    assert (config.host, config.port, config.threads) == ("127.0.0.1", 8080, DEFAULT_THREADS)
    assert (tmp_path / "subscribers.db").exists()
    assert isinstance(app, AccessLog)


def test_generated_password_is_printed_once_and_works(run: Any) -> None:
    _, out, _, fake = run("serve", "--no-access-log")
    passwords = re.findall(r"^admin password: (\S+)$", out, re.M)
    assert len(passwords) == 1 and len(passwords[0]) >= 16
    app = webtest.TestApp(fake.calls[0][0])
    app.get("/api/v1/private", status=401)
    res = app.get("/api/v1/private", headers={"Authorization": basic("admin", passwords[0])})
    assert res.json == {"meaning_of_life": 42}
    assert app.get("/health").json == {"status": "ok"}


def test_each_start_generates_a_new_password(run: Any) -> None:
    first = run("serve")[1]
    second = run("serve")[1]
    assert first != second


def test_flags(run: Any, tmp_path: Path) -> None:
    _, _, _, fake = run(
        "serve", "--host", "192.0.2.1", "--port", "9090", "--db", "x.db", "--realm", "Ops",
        "--threads", "3", "--no-access-log",
    )  # fmt: skip
    config = fake.calls[0][1]
    assert config == ServeConfig("192.0.2.1", 9090, "x.db", "Ops", 3, access_log=False)
    assert isinstance(fake.calls[0][0], BasicAuth)
    assert fake.calls[0][0].realm == "Ops"
    assert (tmp_path / "x.db").exists()


def test_environment_variables(run: Any) -> None:
    environ = {"HOST": "::1", "PORT": "1234", "BASICAUTH_DB": "e.db", "BASICAUTH_REALM": "Env"}
    config = run("serve", environ=environ)[3].calls[0][1]
    assert (config.host, config.port, config.db, config.realm) == ("::1", 1234, "e.db", "Env")


def test_flag_wins_over_environment(run: Any) -> None:
    config = run("serve", "--port", "5555", environ={"PORT": "1234"})[3].calls[0][1]
    assert config.port == 5555


@pytest.mark.parametrize(
    ("argv", "environ", "named"),
    [
        (["--port", "http"], {}, "--port"),
        (["--port", "70000"], {}, "--port"),
        ([], {"PORT": "eighty"}, "PORT"),
        ([], {"PORT": "-1"}, "PORT"),
        (["--threads", "0"], {}, "--threads"),
        (["--host", ""], {}, "--host"),
        (["--realm", "a\nb"], {}, "realm"),
        ([], {"BASICAUTH_REALM": "☃"}, "realm"),
    ],
    ids=["port-word", "port-range", "env-port-word", "env-port-negative", "threads-zero",
         "host-empty", "realm-newline", "env-realm-not-latin1"],
)  # fmt: skip
def test_bad_values_exit_2_naming_the_option(
    run: Any, argv: list[str], environ: dict[str, str], named: str
) -> None:
    code, _, err, fake = run("serve", *argv, environ=environ)
    assert code == 2
    assert fake.calls == []
    assert named in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_unknown_flag_exits_2(run: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        run("serve", "--prot", "1")
    assert info.value.code == 2
    assert "--prot" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "serve.py", "--help"],
        [sys.executable, "-m", "basicauth_wsgi", "serve", "--help"],
        ["basicauth-wsgi", "serve", "--help"],
    ],
    ids=["serve.py", "python-m", "console-script"],
)
def test_three_ways_to_start_share_one_cli(command: list[str]) -> None:
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "usage: basicauth-wsgi serve" in result.stdout
    assert "BASICAUTH_DB" in result.stdout


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from basicauth_wsgi import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert __version__ in capsys.readouterr().out
