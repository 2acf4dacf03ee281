"""Fixtures of the operations tests: the command line run in process."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from basicauth_wsgi.cli import main

from .support import FakeServe


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
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
