"""The README's deployment recipes, run as written (issue 13).

The nginx block and the systemd unit are files in docs/ that the README
shows verbatim; the gunicorn, waitress-serve and pserve commands run here
against real servers, with the logging of docs/logging.ini, and their
failure lines must be what docs/fail2ban-filter.conf matches.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT, LiveServer, basic

from basicauth_wsgi.cli import ServeConfig, main
from basicauth_wsgi.hashes import hash_password
from basicauth_wsgi.htpasswd import write_htpasswd

from .support import TIMESTAMP, child_env, fail2ban_regex, need

README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = [(m[1], m[2]) for m in re.finditer(r"^```(\w+)\n(.*?)^```$", README, re.M | re.S)]
LOGGING_INI = ROOT / "docs" / "logging.ini"


def block(lang: str, containing: str) -> str:
    [code] = [c for kind, c in BLOCKS if kind == lang and containing in c]
    return code


def line(lang: str, containing: str) -> str:
    [found] = [x for x in block(lang, containing).splitlines() if containing in x]
    return found


@pytest.fixture
def site(tmp_path: Path) -> Path:
    write_htpasswd(
        tmp_path / "users.htpasswd",
        {
            "alice": hash_password("alice-pw", "sha256-crypt"),
            "bob": hash_password("bob-pw", "sha256-crypt"),
        },
    )
    (tmp_path / "groups").write_text("admin: alice\n")
    return tmp_path


class FakeServe:
    def __init__(self) -> None:
        self.configs: list[ServeConfig] = []

    def __call__(self, app: Any, config: ServeConfig, stdout: Any) -> None:
        self.configs.append(config)


def run_serve(argv: list[str], environ: dict[str, str]) -> tuple[int, str, FakeServe]:
    import logging

    err, fake = io.StringIO(), FakeServe()
    try:
        code = main(argv, environ=environ, stdout=io.StringIO(), stderr=err, serve=fake)
    finally:
        for name in ("basicauth_wsgi", "waitress", "basicauth_wsgi.access"):
            logger = logging.getLogger(name)
            logger.handlers.clear()
            logger.propagate = True
            logger.setLevel(logging.NOTSET)
    return code, err.getvalue(), fake


# -- files in docs/ are what the README shows --------------------------------------------


@pytest.mark.parametrize(
    ("lang", "phrase", "doc"),
    [("nginx", "proxy_read_timeout", "nginx.conf"), ("ini", "[Unit]", "basicauth-wsgi.service")],
    ids=["nginx", "systemd"],
)
def test_the_readme_shows_the_file_the_tests_run(lang: str, phrase: str, doc: str) -> None:
    assert block(lang, phrase) == (ROOT / "docs" / doc).read_text()


def test_the_pserve_ini_carries_docs_logging_ini() -> None:
    text = LOGGING_INI.read_text()
    assert text[text.index("[loggers]") :] in block("ini", "[server:main]")


# -- systemd ------------------------------------------------------------------------------


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (systemd is not a required component)")
    command = shutil.which("basicauth-wsgi") or sys.executable
    unit = (ROOT / "docs" / "basicauth-wsgi.service").read_text()
    # The one path that must exist on this machine for verify to pass.
    rendered = tmp_path / "basicauth-wsgi.service"
    rendered.write_text(unit.replace("/usr/local/bin/basicauth-wsgi", command))
    result = subprocess.run(
        [tool, "verify", str(rendered)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


def test_systemd_unit_command_line_is_a_valid_serve(site: Path) -> None:
    unit = (ROOT / "docs" / "basicauth-wsgi.service").read_text()
    [exec_start] = [x for x in unit.splitlines() if x.startswith("ExecStart=")]
    [environment] = [x for x in unit.splitlines() if x.startswith("Environment=")]
    argv = shlex.split(exec_start.split("=", 1)[1])[1:]
    argv = [a.replace("myapp:app", "tests.ops.apps:app") for a in argv]
    variable, _ = environment.split("=", 1)[1].split("=", 1)
    code, err, fake = run_serve(argv, {variable: str(site / "users.htpasswd")})
    assert code == 0, err
    [config] = fake.configs
    assert [str(n) for n in config.trusted_proxy or ()] == ["127.0.0.1/32"]
    assert config.app == "tests.ops.apps:app"


# -- serve --app ---------------------------------------------------------------------------


def test_serve_app_lines(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(site)
    first, second = block("sh", "serve --app").splitlines()
    argv = [a.replace("myapp:app", "tests.ops.apps:app") for a in shlex.split(first)[1:]]
    code, err, fake = run_serve(argv, {})
    assert code == 0, err
    assert fake.configs[0].htpasswd == "users.htpasswd"
    # The second line: the variable holds what passwd -n prints.
    parts = re.fullmatch(r'BASICAUTH_USERS="\$\((.*)\)" (.*)', second)
    assert parts is not None, second
    out = io.StringIO()
    words, command = shlex.split(parts[1]), parts[2]
    assert main(words[1:], stdout=out, ask=lambda prompt: "alice-pw") == 0
    argv = [a.replace("myapp:app", "tests.ops.apps:app") for a in shlex.split(command)[1:]]
    code, err, fake = run_serve(argv, {"BASICAUTH_USERS": out.getvalue()})
    assert code == 0, err


# -- gunicorn, waitress-serve, pserve with docs/logging.ini ---------------------------------


def split(recipe: str) -> tuple[dict[str, str], list[str]]:
    """A README command line: its ``NAME=value`` prefix, then its words."""
    words = shlex.split(recipe.split("   #", 1)[0])
    env = {}
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    return env, words


def exercise(server: LiveServer, path: str = "/api/v1/private") -> None:
    """A wrong password, then a right one; the failure line is fail2ban's."""
    assert server.request("GET", path, {"Authorization": basic("alice", "wrong")})[0] == 401
    match = server.expect(r"authentication failed: user='alice' client=127\.0\.0\.1 ", timeout=15)
    [failure] = [x for x in server.errors if match[0] in x]
    assert TIMESTAMP.match(failure), failure
    found = fail2ban_regex().search(failure)
    assert found is not None and found["host"] == "127.0.0.1"
    assert server.request("GET", path, {"Authorization": basic("alice", "alice-pw")})[0] == 200


def start(site: Path, recipe: str, listening: str, extra: list[str] | None = None) -> LiveServer:
    env, words = split(recipe)
    words = [w.replace("docs/logging.", str(ROOT / "docs" / "logging.")) for w in words]
    words = [w.replace("127.0.0.1:8080", "127.0.0.1:0") for w in words]
    executable = shutil.which(words[0]) if words[0] != "python" else sys.executable
    if executable is None:
        need(words[0])
    return LiveServer(
        [*words[1:], *(extra or [])],
        cwd=site,
        command=[str(executable)],
        env={**child_env(), "BASICAUTH_DB": str(site / "api.db"), **env},
        listening=listening,
        password="",
    )


LOADERS = {
    "logging.ini": "logging.config.fileConfig({path!r})",
    "logging.json": "logging.config.dictConfig(json.load(open({path!r})))",
}


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_logging_configuration_lines_match_the_fail2ban_filter(site: Path, name: str) -> None:
    # The configuration alone, loaded as the servers load it, around a real BasicAuth.
    load = LOADERS[name].format(path=str(ROOT / "docs" / name))
    code = f"""
import json, logging.config, sys, webtest
{load}
from basicauth_wsgi import BasicAuth, HtpasswdFile, Throttle
app = webtest.TestApp(BasicAuth(lambda e, s: [], HtpasswdFile("users.htpasswd"),
                                throttle=Throttle(per_client=3)))
for client in ("203.0.113.9", "2001:db8::7"):
    for _ in range(4):
        app.get("/x", headers={{"Authorization": "Basic YWxpY2U6bm9wZQ=="}},
                extra_environ={{"REMOTE_ADDR": client}}, expect_errors=True)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=site, capture_output=True, text=True, timeout=60,
        env={**os.environ, **child_env()},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [x for x in result.stderr.splitlines() if "authentication" in x]
    assert len(lines) == 8  # 3 failures and 1 block line per client
    regex = fail2ban_regex()
    assert all(TIMESTAMP.match(x) for x in lines)
    hosts = [m["host"] for m in map(regex.search, lines) if m]
    assert hosts == ["203.0.113.9"] * 4 + ["2001:db8::7"] * 4


def test_gunicorn_takes_the_json_configuration_too() -> None:
    # --log-config-json docs/logging.json (gunicorn >= 20.1): the same loggers as the ini.
    import configparser
    import json

    config = json.loads((ROOT / "docs" / "logging.json").read_text())
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(LOGGING_INI)
    assert config["formatters"]["timestamped"]["format"] == ini["formatter_timestamped"]["format"]
    qualnames = {ini[f"logger_{key.strip()}"].get("qualname", "root") for key in
                 ini["loggers"]["keys"].split(",")}  # fmt: skip
    assert qualnames == {*config["loggers"], "root"}


def gunicorn_extra(site: Path) -> list[str]:
    gunicorn = need(shutil.which("gunicorn") or "gunicorn")
    helptext = subprocess.run([gunicorn, "--help"], capture_output=True, text=True, timeout=60)
    # gunicorn >= 24 opens a control socket in ~/.gunicorn: keep ours in tmp.
    if "--control-socket" in helptext.stdout:
        return ["--control-socket", str(site / "gunicorn.ctl")]
    return []


def access_lines(server: LiveServer, name: str, status: int) -> list[str]:
    """The server's own access lines for ``status`` (stdout), once they have arrived."""
    server.expect(rf"INFO {re.escape(name)}: .*\b{status}\b", timeout=15)
    return [x for x in server.output if f" {name}: " in x]


@pytest.mark.parametrize("flag", ["--log-config docs/logging.ini", "--log-config-json"])
def test_gunicorn_recipe_keeps_gunicorn_lines(site: Path, flag: str) -> None:
    recipe = line("sh", f"gunicorn {flag}")
    server = start(site, recipe, r"Listening at: http://127\.0\.0\.1:(\d+)", gunicorn_extra(site))
    try:
        starting = [x for x in server.errors if "gunicorn.error" in x]
        assert any("Starting gunicorn" in x for x in starting)
        assert any("Listening at" in x for x in starting)
        assert all(TIMESTAMP.match(x) for x in starting)
        exercise(server)
        # gunicorn's own access lines, on stdout, for both requests.
        found = access_lines(server, "gunicorn.access", 200)
        assert any('"GET /api/v1/private HTTP/1.1" 401' in x for x in found), found
        assert all(TIMESTAMP.match(x) for x in found)
    finally:
        server.stop()


@pytest.mark.parametrize("config", ["logging.ini", "logging.json"])
def test_uvicorn_recipe_keeps_uvicorn_lines(site: Path, config: str) -> None:
    recipe = line("sh", f"uvicorn --log-config docs/{config}")
    recipe = recipe.replace("myapp:app", "tests.ops.asgi_apps:app").replace("8000", "0")
    need(shutil.which("uvicorn") or "uvicorn")
    server = start(site, recipe, r"Uvicorn running on http://127\.0\.0\.1:(\d+)")
    try:
        starting = [x for x in server.errors if "uvicorn.error" in x]
        assert any("Application startup complete" in x for x in starting), server.errors
        assert all(TIMESTAMP.match(x) for x in starting)
        exercise(server)
        found = access_lines(server, "uvicorn.access", 200)
        assert any('"GET /api/v1/private HTTP/1.1" 401' in x for x in found), found
        assert all(TIMESTAMP.match(x) for x in found)
    finally:
        server.stop()


def test_waitress_serve_recipe(site: Path) -> None:
    server = start(site, line("sh", "waitress.runner"), r"Serving on http://127\.0\.0\.1:(\d+)")
    try:
        exercise(server)
        [serving] = [x for x in server.errors if "Serving on" in x]
        assert TIMESTAMP.match(serving)
    finally:
        server.stop()


def test_root_path_recipe_names_full_paths(site: Path) -> None:
    need(shutil.which("uvicorn") or "uvicorn")
    recipe = line("sh", "--root-path /api")
    recipe = recipe.replace("myapp:app", "tests.ops.asgi_apps:app")
    listening = r"Uvicorn running on http://127\.0\.0\.1:(\d+)"
    server = start(site, recipe, listening, ["--host", "127.0.0.1", "--port", "0"])
    try:
        status, _, body = server.request("GET", "/health")
        assert status == 200 and json.loads(body)["path"] == "/api/health"
        assert server.request("GET", "/private")[0] == 401
    finally:
        server.stop()
    # The trap the README describes: the path without its root path protects it.
    control = start(site, recipe.replace("=/api/health", "=/health"), listening,
                    ["--host", "127.0.0.1", "--port", "0"])  # fmt: skip
    try:
        assert control.request("GET", "/health")[0] == 401
    finally:
        control.stop()


# -- pserve, from an empty folder, as the PasteDeploy section says -------------------------


def test_pserve_runs_the_readme_ini_from_an_empty_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need(shutil.which("pserve") or "pserve")
    monkeypatch.chdir(tmp_path)
    ini = block("ini", "[server:main]")
    assert "listen = 127.0.0.1:8080" in ini
    (tmp_path / "app.ini").write_text(ini.replace("127.0.0.1:8080", "127.0.0.1:0"))
    install, create, groups, serve = block("sh", "pserve app.ini").splitlines()
    assert shlex.split(install.split("#")[0]) == ["python", "-m", "pip", "install", "pyramid"]
    import pyramid  # noqa: F401 - what that line installs (in the test extra)

    words = shlex.split(create.split("#")[0])
    assert words[0] == "basicauth-wsgi"
    out = io.StringIO()
    assert main(words[1:], stdout=out, ask=lambda prompt: "alice-pw") == 0, out.getvalue()
    command = groups.split("#")[0]
    shell = shutil.which("sh") or "/bin/sh"
    subprocess.run([shell, "-c", command], cwd=tmp_path, check=True, timeout=30)
    assert (tmp_path / "groups").read_text() == "admin: alice\n"
    # One more user, not an admin, to see the ini's rule refuse.
    assert main(["passwd", "-b", "users.htpasswd", "bob", "bob-pw"], stderr=io.StringIO()) == 0
    server = start(tmp_path, serve, r"Serving on http://127\.0\.0\.1:(\d+)")
    try:
        exercise(server)
        alice, bob = ({"Authorization": basic(u, f"{u}-pw")} for u in ("alice", "bob"))
        assert server.request("DELETE", "/api/v1/subscribers/1", bob)[0] == 403
        assert server.request("DELETE", "/api/v1/subscribers/1", alice)[0] == 404
    finally:
        server.stop()
