"""Fixtures for the router and HTTP message tests: the router under webtest."""

from __future__ import annotations

import pytest
import webtest

from .support import ROUTER


@pytest.fixture
def app() -> webtest.TestApp:
    return webtest.TestApp(ROUTER)
