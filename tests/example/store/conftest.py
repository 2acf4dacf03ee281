"""Fixtures for the store tests: a database path in tmp_path and an open store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from basicauth_wsgi.example.store import SubscriberStore

from .support import pinned_clock


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "subscribers.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[SubscriberStore]:
    with SubscriberStore(db_path, clock=pinned_clock) as opened:
        yield opened
