"""Fixtures for the API tests: a database path in tmp_path and the API under webtest."""

from __future__ import annotations

from pathlib import Path

import pytest
import webtest

from basicauth_wsgi.example.api import create_app


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "api.db"


@pytest.fixture
def app(db_path: Path) -> webtest.TestApp:
    return webtest.TestApp(create_app(db_path))  # lint is on by default
