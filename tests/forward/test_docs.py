"""The README's Forward-auth section: the recipes it shows are the files the tests run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT

from basicauth_wsgi.forward import ForwardAuth

from .support import users_file

README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = [(m[1], m[2]) for m in re.finditer(r"^```(\w+)\n(.*?)^```$", README, re.M | re.S)]


def block(lang: str, containing: str) -> str:
    [code] = [c for kind, c in BLOCKS if kind == lang and containing in c]
    return code


@pytest.mark.parametrize(
    ("lang", "phrase", "doc"),
    [
        ("nginx", "auth_request", "forward-auth-nginx.conf"),
        ("caddyfile", "forward_auth", "forward-auth.Caddyfile"),
        ("yaml", "forwardAuth", "forward-auth-traefik.yml"),
        ("yaml", "ext_authz", "forward-auth-envoy.yaml"),
    ],
    ids=["nginx", "caddy", "traefik", "envoy"],
)
def test_the_readme_shows_the_recipe_files(lang: str, phrase: str, doc: str) -> None:
    assert block(lang, phrase) == (ROOT / "docs" / doc).read_text()


def test_the_serve_line_starts_the_service_the_recipes_ask(run: Any, tmp_path: Path) -> None:
    [line] = block("sh", "serve --forward-auth").splitlines()
    users = users_file(tmp_path)
    argv = shlex.split(line)[2:]  # after "basicauth-wsgi serve"
    argv = [a.replace("/etc/basicauth/users.htpasswd", str(users)) for a in argv]
    argv = [a.replace("/etc/basicauth/groups", str(tmp_path / "groups")) for a in argv]
    code, err, fake = run(*argv)
    assert code == 0, err
    [(app, config)] = fake.calls
    assert config.port == 9091 and config.forward_auth
    # Every recipe asks the port and trusts the address this line names.
    for doc in ("forward-auth-nginx.conf", "forward-auth.Caddyfile", "forward-auth-traefik.yml",
                "forward-auth-envoy.yaml"):  # fmt: skip
        text = (ROOT / "docs" / doc).read_text()
        assert "127.0.0.1:9091" in text and "--trusted-proxies 127.0.0.1" in text, doc
    service = app.app  # the access log wraps it
    assert isinstance(service, ForwardAuth) and service.trusted.contains("127.0.0.1")
