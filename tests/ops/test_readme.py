"""Every code block in README.md, run as a reader would run it."""

from __future__ import annotations

import asyncio
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
import webtest
from helpers import ROOT, LiveServer, basic
from paste.deploy import loadapp

from basicauth_wsgi import BasicAuth
from basicauth_wsgi.asgi import BasicAuth as ASGIBasicAuth
from basicauth_wsgi.cli import main
from basicauth_wsgi.hashes import hash_password
from basicauth_wsgi.htpasswd import write_htpasswd

README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = [
    (m.group(1), textwrap.dedent(m.group(2)))
    for m in re.finditer(r"^```(\w+)\n(.*?)^```$", README, re.M | re.S)
]
PYTHON = [code for lang, code in BLOCKS if lang == "python"]


def block(lang: str, containing: str) -> str:
    [code] = [c for kind, c in BLOCKS if kind == lang and containing in c]
    return code


def test_every_block_is_claimed_by_a_test() -> None:
    # The tests below pick blocks by language and a phrase; a new block
    # nobody tests would fail here.
    claimed = {
        ("sh", "python -m pytest"),
        ("sh", "python -m bench"),
        ("sh", "basicauth-wsgi audit"),
        ("ini", "egg:basicauth-wsgi#basicauth"),
        ("console", "$ curl"),
        ("text", "authentication failed"),
        ("text", "basicauth_wsgi/\n"),
        # Run by tests/ops/test_recipes.py (the Deploying section).
        ("sh", "serve --app"),
        ("sh", "--log-config docs/logging.ini"),
        ("sh", "--root-path /api"),
        ("sh", "pserve app.ini"),
        ("nginx", "proxy_pass"),
        ("ini", "[Unit]"),
        # Run by tests/ldap/test_ldap_readme.py, against a real slapd.
        ("sh", "--ldap-url"),
        # Run by tests/forward/test_docs.py (the Forward-auth section).
        ("sh", "serve --forward-auth"),
        ("caddyfile", "forward_auth"),
        ("yaml", "forwardAuth"),
        ("yaml", "ext_authz"),
        # Run by tests/ops/test_quoting.py and tests/ops/test_clients.py.
        ("sh", "export BASICAUTH_USERS"),
        ("yaml", "services:"),
        ("yaml", "kind: Secret"),
        ("py", "import requests"),
        ("py", "HTTPPasswordMgrWithDefaultRealm"),
        # test_install_lines, below.
        ("sh", "git+https://"),
    }
    kinds = [lang for lang, _ in BLOCKS]
    assert kinds.count("python") == len(PYTHON) and PYTHON
    for lang, code in BLOCKS:
        if lang != "python":
            assert any(lang == k and phrase in code for k, phrase in claimed), (lang, code[:60])


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with the files the README's examples name."""
    monkeypatch.chdir(tmp_path)
    write_htpasswd(
        tmp_path / "users.htpasswd",
        {
            "admin": hash_password("SuperSecretPwd", "sha256-crypt"),
            "alice": hash_password("alice-pw", "sha256-crypt"),
            "bob": hash_password("bob-pw", "sha256-crypt"),
        },
    )
    (tmp_path / "groups").write_text("admin: alice\n")
    return tmp_path


def hello(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def test_the_benchmark_command() -> None:
    # Run for real (on a tiny budget) by tests/test_bench.py.
    assert block("sh", "python -m bench").strip() == (
        "python -m pip install -e '.[bench]' && python -m bench"
    )
    assert (
        "python -m pip install -e '.[bench]' && python -m bench"
        in (ROOT / "BENCHMARKS.md").read_text()
    )


def test_install_lines() -> None:
    # Not from an index (the package is on none): from a checkout, or its Git URL.
    import configparser

    from packaging.requirements import Requirement

    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    extras = set(setup["options.extras_require"])
    checkout, git = [
        shlex.split(x.split("  #")[0]) for x in block("sh", "git+https://").splitlines()
    ]
    assert checkout[:4] == ["python", "-m", "pip", "install"] == git[:4]
    spec = re.fullmatch(r"\.\[([a-z0-9,]+)\]", checkout[4])
    assert spec is not None and set(spec[1].split(",")) <= extras
    requirement = Requirement(git[4])
    assert requirement.name == setup["metadata"]["name"]
    assert requirement.extras <= extras and requirement.extras
    assert requirement.url is not None and requirement.url.startswith("git+https://")
    # No line anywhere installs the package from an index.
    assert not re.search(r"pip install '?basicauth-wsgi\[[^]]*\](?! @)", README)


def test_the_two_commands() -> None:
    run, test = [
        line for line in block("sh", "python -m pytest").splitlines() if line and line[0] != "#"
    ]
    assert run == "python -m pip install . && python serve.py"
    assert test == "python -m pip install -e '.[test]' && python -m pytest"
    ci = (ROOT / ".ci" / "run").read_text()
    assert test in ci.splitlines(), ".ci/run must run exactly the README's test command"


ASGI = [c for c in PYTHON if "basicauth_wsgi.asgi" in c]


@pytest.mark.parametrize(
    "code",
    # (The LDAP blocks need a directory: tests/ldap/test_ldap_readme.py runs them;
    # the gunicorn ones gunicorn: tests/metrics/test_prometheus.py.)
    [
        c
        for c in PYTHON
        if "django" not in c
        and c not in ASGI
        and "basicauth_wsgi.ldap" not in c
        and "multiprocess" not in c
    ],
    ids=lambda c: c.splitlines()[-1][:40] if c else "",
)
def test_python_blocks_run_and_protect(site: Path, code: str) -> None:
    namespace: dict[str, Any] = {"__name__": "readme", "app": hello}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README is ours
    app = namespace["app"]
    wsgi = getattr(app, "wsgi_app", app)
    assert isinstance(wsgi, BasicAuth)
    client = webtest.TestApp(app)
    client.get("/", status=401)
    ok = client.get(
        "/", headers={"Authorization": basic("admin", "SuperSecretPwd")}, expect_errors=True
    )
    assert ok.status_int in (200, 404)  # Flask has no "/" route: 404 after auth


@pytest.mark.parametrize("code", ASGI, ids=lambda c: "fastapi" if "FastAPI" in c else "starlette")
def test_asgi_blocks_run_and_protect(site: Path, code: str) -> None:
    assert len(ASGI) == 2 and any("FastAPI" in c for c in ASGI)
    namespace: dict[str, Any] = {"__name__": "readme"}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README is ours
    app = namespace["app"]
    assert [m.cls for m in app.user_middleware] == [ASGIBasicAuth]

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://readme") as client:
            refused = await client.get("/")
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"].startswith('Basic realm="Restricted area"')
            public = await client.get("/health")
            assert public.status_code in (200, 404)  # Starlette's example has no /health
            ok = await client.get("/", headers={"Authorization": basic("admin", "SuperSecretPwd")})
            assert ok.status_code == 200 and "admin" in ok.text

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_django_block(site: Path) -> None:
    (site / "mysite").mkdir()
    (site / "mysite" / "__init__.py").write_text("")
    (site / "mysite" / "settings.py").write_text(
        "SECRET_KEY = 'readme'\nALLOWED_HOSTS = ['*']\nROOT_URLCONF = 'mysite.urls'\n"
        "INSTALLED_APPS = []\nDATABASES = {}\n"
    )
    (site / "mysite" / "urls.py").write_text(
        "from django.http import HttpResponse\nfrom django.urls import path\n"
        "urlpatterns = [path('', lambda r: HttpResponse(r.META.get('REMOTE_USER', '-')))]\n"
    )
    check = block("python", "django") + textwrap.dedent(
        """
            import base64, webtest
            client = webtest.TestApp(application)
            client.get("/", status=401)
            token = base64.b64encode(b"admin:SuperSecretPwd").decode()
            print(client.get("/", headers={"Authorization": "Basic " + token}).text)
            """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=site, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "admin"


def test_cli_block(site: Path) -> None:
    (site / "bob-password.txt").write_text("bob-new-pw\n")
    answers = {"alice": "alice-new-pw", "carol": "carol-pw", "dave": "dave-pw", "erin": "erin-pw"}
    for line in block("sh", "basicauth-wsgi audit").splitlines():
        words = shlex.split(line.split("#", 1)[0])
        assert words[0] == "basicauth-wsgi"
        stdin = ""
        if "<" in words:
            at = words.index("<")
            stdin = (site / words[at + 1]).read_text()
            words = words[:at]
        answer = next((answers[w] for w in words if w in answers), "")
        out = io.StringIO()
        code = main(
            words[1:],
            stdin=io.StringIO(stdin),
            stdout=out,
            stderr=out,
            ask=lambda prompt, answer=answer: answer,  # type: ignore[misc]
        )
        assert code == 0, (line, out.getvalue())
        if "-n" in words:
            assert out.getvalue().startswith("erin:$"), out.getvalue()
    users = (site / "users.htpasswd").read_text()
    assert "bob:" in users and "carol:" not in users and "dave:$2y$12$" in users
    assert "erin" not in users


def test_every_serve_flag_and_variable_is_in_the_reference_table() -> None:
    from basicauth_wsgi.cli.serve import SERVER_OPTIONS
    from basicauth_wsgi.options import STRING_OPTIONS as OPTIONS

    start = README.index("| `serve` flag | environment |")
    rows = README[start : README.index("\n\n", start)].splitlines()[2:]
    cells = {row.split(" | ")[0].strip("| ") for row in rows}
    expected = {f"`{o.flag}`" for o in SERVER_OPTIONS} | {"`--no-access-log`", "`--forward-auth`"}
    for o in OPTIONS:
        if o.arity == "secret":  # never a flag: its row names the variable only
            [row] = [r for r in rows if r.startswith("| (no flag) |") and f"`{o.env}`" in r]
            assert o.help in row
            expected.add("(no flag)")
            continue
        flags = [f"{o.flag} {o.metavar}"] if o.arity == "many" else [o.flag, *o.flag_aliases]
        if o.arity == "bool":
            flags = [o.flag, "--no-" + o.flag[2:]]
        expected.add("`" + "`, `".join(flags) + "`")
        [row] = [r for r in rows if r.startswith(f"| `{flags[0]}`")]
        for env in (o.env, *o.env_aliases):
            assert f"`{env}`" in row, (o.name, row)
        assert o.help in row
    for so in SERVER_OPTIONS:
        [row] = [r for r in rows if r.startswith(f"| `{so.flag}`")]
        assert so.env is None or f"`{so.env}`" in row
    assert cells == expected


def test_ini_block(site: Path) -> None:
    (site / "app.ini").write_text(block("ini", "egg:basicauth-wsgi#basicauth"))
    app = webtest.TestApp(loadapp(f"config:{site / 'app.ini'}"))
    app.get("/api/v1/private", status=401)
    bob = {"Authorization": basic("bob", "bob-pw")}
    alice = {"Authorization": basic("alice", "alice-pw")}
    created = app.post_json(
        "/api/v1/subscribers", {"name": "A", "email": "a@example.com"}, headers=bob
    )
    app.delete(created.headers["Location"], headers=bob, status=403)
    app.delete(created.headers["Location"], headers=alice, status=204)


def _expected_pattern(expected: list[str]) -> re.Pattern[str]:
    # "..." alone stands for any lines; "..." inside a line for any text.
    parts = []
    for line in expected:
        if line == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(re.escape(line).replace(r"\.\.\.", r"[^\n]*") + r"\n")
    return re.compile("".join(parts))


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_console_transcript(live_server: LiveServer) -> None:
    steps: list[tuple[str, list[str]]] = []
    for line in block("console", "$ curl").splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    assert len(steps) >= 8
    for command, expected in steps:
        words = shlex.split(
            command.replace("<password>", live_server.password).replace(
                "127.0.0.1:8080", f"127.0.0.1:{live_server.port}"
            )
        )
        assert words[0] == "curl"
        result = subprocess.run(
            [str(shutil.which("curl")), "-sS", "--max-time", "10", *words[1:]],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
        actual = result.stdout.replace("\r\n", "\n")
        if not actual.endswith("\n"):
            actual += "\n"
        assert _expected_pattern(expected).fullmatch(actual), (command, actual)


def test_log_lines_block() -> None:
    import configparser

    clf = re.compile(r'^\S+ - \S+ \[[^]]+\] "[^"]*" \d{3} (\d+|-)$')
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "docs" / "fail2ban-filter.conf")
    failregex = re.compile(parser["Definition"]["failregex"].replace("<HOST>", r"[0-9a-f:.]+"))
    access, *failures = block("text", "authentication failed").splitlines()
    assert clf.match(access)
    assert failures and all(failregex.search(line) for line in failures)


def test_the_map_of_how_it_is_built_is_current() -> None:
    # Every module and package of the library is in the map, and everything
    # the map names exists.
    code = block("text", "basicauth_wsgi/\n")
    package = ROOT / "basicauth_wsgi"
    named = set(re.findall(r"([a-z_0-9]+(?:\.py|/))", code)) - {"basicauth_wsgi/"}
    present = {
        p.name + ("/" if p.is_dir() else "")
        for p in package.iterdir()
        if (p.suffix == ".py" or (p / "__init__.py").exists())
        and p.name not in ("__init__.py", "__main__.py", "_durable.py", "config.py")
        and p.name not in ("app.py", "router.py")  # the example's old import paths
    }
    for name in list(named):
        # Names inside a package's line (store.py, registry.py, serve.py) are
        # that package's modules.
        if not (package / name.rstrip("/")).exists() and not any(
            (package / folder.rstrip("/") / name).exists()
            for folder in named
            if folder.endswith("/")
        ):
            raise AssertionError(f"the README map names {name}, which does not exist")
    assert present <= named, f"missing from the README map: {sorted(present - named)}"
