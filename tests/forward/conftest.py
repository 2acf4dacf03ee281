"""Fixtures of the forward-auth tests: the command line run in process."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from basicauth_wsgi.cli import main

from ..ops.support import FakeServe


@pytest.fixture
def run() -> Iterator[Any]:
    def run(*argv: str, environ: dict[str, str] | None = None) -> tuple[int, str, FakeServe]:
        err, fake = io.StringIO(), FakeServe()
        code = main(["serve", *argv], environ=environ or {}, stdout=io.StringIO(), stderr=err,
                    serve=fake)  # fmt: skip
        return code, err.getvalue(), fake

    yield run
    for name in ("basicauth_wsgi", "waitress", "basicauth_wsgi.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
