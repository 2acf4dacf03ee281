"""The README's LDAP blocks, run against a real slapd (their hosts swapped for it)."""

from __future__ import annotations

import re
import shlex
import textwrap
from typing import Any

import pytest
import webtest
from helpers import ROOT, auth
from ldapserver import SERVICE_PASSWORD, Slapd, Tls

from basicauth_wsgi import BasicAuth
from basicauth_wsgi.cli import main
from basicauth_wsgi.ldap import IN_CHAIN, LdapUsers

README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = [
    (m.group(1), textwrap.dedent(m.group(2)))
    for m in re.finditer(r"^```(\w+)\n(.*?)^```$", README, re.M | re.S)
]
URLS = "ldaps://ldap1.example.org ldaps://ldap2.example.org"
CA = "/etc/ssl/certs/example-ca.pem"


def block(lang: str, containing: str) -> str:
    [code] = [c for kind, c in BLOCKS if kind == lang and containing in c]
    return code


def hello(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello\n"]


def test_the_openldap_block(tls_slapd: Slapd, tls: Tls, monkeypatch: pytest.MonkeyPatch) -> None:
    code = block("python", "ldaps://ldap1.example.org")
    assert URLS in code and CA in code
    code = code.replace(URLS, tls_slapd.ldaps_url).replace(CA, str(tls.ca))
    monkeypatch.setenv("LDAP_BIND_PASSWORD", SERVICE_PASSWORD)
    namespace: dict[str, Any] = {"app": hello}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README is ours
    assert isinstance(namespace["app"], BasicAuth)
    client = webtest.TestApp(namespace["app"], extra_environ={"REMOTE_ADDR": "192.0.2.10"})
    client.get("/admin/x", status=401)
    client.get("/admin/x", headers=auth("alice"))
    client.get("/admin/x", headers=auth("bob"), status=403)
    client.get("/", headers=auth("bob"))


def test_the_active_directory_block_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    # No Active Directory here: the block is built (no connection is made) and
    # asks for what AD needs.
    monkeypatch.setenv("LDAP_BIND_PASSWORD", "x")
    namespace: dict[str, Any] = {"app": hello}
    exec(compile(block("python", "sAMAccountName"), "README.md", "exec"), namespace)  # noqa: S102
    users = namespace["users"]
    assert isinstance(users, LdapUsers) and users.provides_groups
    assert users._group_filter is not None and IN_CHAIN in users._group_filter.text


def test_the_serve_block(tls_slapd: Slapd, tls: Tls) -> None:
    line = block("sh", "--ldap-url").replace("\\\n", " ")
    assignment, _, command = line.partition(" basicauth-wsgi ")
    assert assignment.startswith("BASICAUTH_LDAP_BIND_PASSWORD=")
    swap = {URLS: tls_slapd.ldaps_url, CA: str(tls.ca), "myapp:app": f"{__name__}:hello"}
    argv = [swap.get(word, word) for word in shlex.split(command)]
    assert argv[0] == "serve" and argv[-2:] == ["--app", f"{__name__}:hello"]
    served: list[Any] = []
    environ = {"BASICAUTH_LDAP_BIND_PASSWORD": SERVICE_PASSWORD}
    try:
        code = main(
            [*argv, "--no-access-log"],
            environ=environ,
            serve=lambda app, config, stdout: served.append(app),
        )
    finally:
        import logging

        for name in ("basicauth_wsgi", "waitress", "basicauth_wsgi.access"):
            logger = logging.getLogger(name)
            logger.handlers.clear()
            logger.propagate = True
            logger.setLevel(logging.NOTSET)
    assert code == 0
    client = webtest.TestApp(served[0], extra_environ={"REMOTE_ADDR": "192.0.2.10"})
    client.get("/admin/", headers=auth("alice"))
    client.get("/admin/", headers=auth("bob"), status=403)
