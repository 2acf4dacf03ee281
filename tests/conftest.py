"""Fixtures shared by every suite; the helpers they use live in helpers.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import LiveServer, Recorder


@pytest.fixture
def inner() -> Recorder:
    return Recorder()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(["--db", str(tmp_path / "api.db")], cwd=tmp_path)
    try:
        yield server
    finally:
        server.stop()
