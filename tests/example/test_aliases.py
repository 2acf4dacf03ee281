"""The example's old import paths, basicauth_wsgi.app and basicauth_wsgi.router, still work."""

from __future__ import annotations

import subprocess
import sys

import pytest

import basicauth_wsgi.app
import basicauth_wsgi.router
from basicauth_wsgi.example import api, http, router, serve


@pytest.mark.parametrize("name", basicauth_wsgi.app.__all__)
def test_app_names_are_the_example_api(name: str) -> None:
    # from_env assembles the protected example: it lives with the assembly.
    home = serve if name == "from_env" else api
    assert getattr(basicauth_wsgi.app, name) is getattr(home, name)


@pytest.mark.parametrize("name", basicauth_wsgi.router.__all__)
def test_router_names_are_the_example_router_and_http(name: str) -> None:
    home = router if name in ("Router", "Handler") else http
    assert getattr(basicauth_wsgi.router, name) is getattr(home, name)


def test_every_public_api_name_has_an_alias() -> None:
    assert set(api.__all__) <= set(basicauth_wsgi.app.__all__)


def test_importing_the_example_package_imports_none_of_its_modules() -> None:
    code = (
        "import sys, basicauth_wsgi.example\n"
        "loaded = [m for m in sys.modules if m.startswith('basicauth_wsgi.example.')]\n"
        "print(loaded)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert out.stdout.strip() == "[]"
