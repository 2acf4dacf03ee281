"""The example API under its original import path (``basicauth_wsgi.app``).

The code lives in :mod:`basicauth_wsgi.example.api`; this module keeps
``waitress-serve --call basicauth_wsgi.app:from_env`` and
``from basicauth_wsgi.app import create_app`` working::

    from basicauth_wsgi.app import create_app
    app = create_app("subscribers.db")
"""

from __future__ import annotations

from .example.api import (
    DEFAULT_LIMIT,
    MAX_EMAIL,
    MAX_LIMIT,
    MAX_LOCAL_PART,
    MAX_NAME,
    create_app,
    validate_subscriber,
)
from .example.serve import from_env

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_EMAIL",
    "MAX_LIMIT",
    "MAX_LOCAL_PART",
    "MAX_NAME",
    "create_app",
    "from_env",
    "validate_subscriber",
]
