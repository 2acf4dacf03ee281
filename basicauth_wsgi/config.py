"""Middleware options from strings (kept for imports; see :mod:`basicauth_wsgi.options`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .options import MIDDLEWARE, Option, from_strings
from .options import STRING_OPTIONS as _ROWS

__all__ = ["OPTIONS", "Option", "options_from_strings"]

#: Every option a PasteDeploy section may set, by ini key.
OPTIONS: dict[str, Option] = {option.name: option for option in _ROWS if option.takes(MIDDLEWARE)}


def options_from_strings(settings: Mapping[str, str]) -> dict[str, Any]:
    """Return ``BasicAuth`` keyword arguments for PasteDeploy-style string ``settings``."""
    return from_strings(settings)
