"""Middleware options from strings (kept for imports; see :mod:`basicauth_wsgi.options`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .options import OPTIONS, Option, from_strings

__all__ = ["OPTIONS", "Option", "options_from_strings"]


def options_from_strings(settings: Mapping[str, str]) -> dict[str, Any]:
    """Return ``BasicAuth`` keyword arguments for PasteDeploy-style string ``settings``."""
    return from_strings(settings)
