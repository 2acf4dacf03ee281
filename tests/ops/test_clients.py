"""README "Clients": what requests, urllib3 and urllib send, tried against a real ``serve``.

A password outside latin-1 (``€``) and a realm with a quote in it, as the
section describes: the README's own snippets run as written (with this
server's port), and each trap it names is sprung.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import urllib3
from helpers import ROOT, LiveServer

from basicauth_wsgi.hashes import hash_password
from basicauth_wsgi.htpasswd import write_htpasswd

from .support import child_env

README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("## Clients") : README.index("## Brute-force throttling")]
SNIPPETS = [textwrap.dedent(m[1]) for m in re.finditer(r"^```py\n(.*?)^```$", SECTION, re.M | re.S)]
PASSWORD = "pässwörd€"
REALM = 'Team "ops"'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("clients")
    write_htpasswd(folder / "users", {"alice": hash_password(PASSWORD, "sha256-crypt")})
    live = LiveServer(
        ["--app", "tests.ops.apps:app", "--htpasswd", str(folder / "users"), "--realm", REALM],
        cwd=folder,
        command=[sys.executable, "-m", "basicauth_wsgi", "serve", "--host", "127.0.0.1",
                 "--port", "0"],
        env=child_env(),
        password="",
    )  # fmt: skip
    try:
        yield live
    finally:
        live.stop()


def requests_seen(server: LiveServer) -> int:
    """Access log lines so far (one per request the server answered)."""
    return sum(1 for line in server.output if '"GET ' in line)


def run_snippet(code: str, server: LiveServer) -> list[str]:
    assert "127.0.0.1:8080" in code and PASSWORD in code
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.replace("127.0.0.1:8080", f"127.0.0.1:{server.port}"), "README", "exec"))  # noqa: S102 - the README is ours
    return out.getvalue().split()


def test_the_section_has_the_two_snippets() -> None:
    assert len(SNIPPETS) == 2
    assert "requests" in SNIPPETS[0] and "HTTPPasswordMgrWithDefaultRealm" in SNIPPETS[1]


def test_requests_and_urllib3_workarounds_log_in(server: LiveServer) -> None:
    assert run_snippet(SNIPPETS[0], server) == ["200", "200"]


def test_urllib_with_the_default_realm_manager_logs_in(server: LiveServer) -> None:
    assert run_snippet(SNIPPETS[1], server) == ["200"]


def test_requests_raises_before_sending_a_non_latin1_password(server: LiveServer) -> None:
    before = requests_seen(server)
    with pytest.raises(UnicodeEncodeError):
        requests.get(f"http://127.0.0.1:{server.port}/", auth=("alice", PASSWORD), timeout=10)
    # Nothing reached the server: the next request is the only one logged.
    assert requests.get(f"http://127.0.0.1:{server.port}/", timeout=10).status_code == 401
    server.expect(r'"GET / HTTP/1\.1" 401', timeout=10)
    assert requests_seen(server) == before + 1


def test_urllib3_make_headers_raises_for_a_non_latin1_password() -> None:
    with pytest.raises(UnicodeEncodeError):
        urllib3.util.make_headers(basic_auth=f"alice:{PASSWORD}")


def test_urllib_realm_manager_never_answers_a_realm_with_a_quote(server: LiveServer) -> None:
    url = f"http://127.0.0.1:{server.port}/"
    challenge = requests.get(url, timeout=10).headers["WWW-Authenticate"]
    assert challenge.startswith('Basic realm="Team \\"ops\\""')
    passwords = urllib.request.HTTPPasswordMgr()
    passwords.add_password(REALM, url, "alice", PASSWORD)
    opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(passwords))
    with pytest.raises(urllib.error.HTTPError) as info:
        opener.open(url, timeout=10)
    assert info.value.code == 401
    info.value.close()


def test_latin1_passwords_work_from_requests_as_they_are(tmp_path: Path) -> None:
    # What the section promises for latin-1: requests' default encoding is
    # read back by the ISO-8859-1 fallback.
    write_htpasswd(tmp_path / "users", {"jürgen": hash_password("pässwörd", "sha256-crypt")})
    live = LiveServer(
        ["--app", "tests.ops.apps:app", "--htpasswd", str(tmp_path / "users")],
        cwd=tmp_path,
        command=[sys.executable, "-m", "basicauth_wsgi", "serve", "--host", "127.0.0.1",
                 "--port", "0"],
        env=child_env(),
        password="",
    )  # fmt: skip
    try:
        response = requests.get(
            f"http://127.0.0.1:{live.port}/", auth=("jürgen", "pässwörd"), timeout=10
        )
        assert response.status_code == 200 and response.json()["user"] == "jürgen"
    finally:
        live.stop()
