"""The example's router under its original import path (``basicauth_wsgi.router``).

The code lives in :mod:`basicauth_wsgi.example.router` (Router) and
:mod:`basicauth_wsgi.example.http` (the message objects); this module keeps
the public names importable from here::

    from basicauth_wsgi.router import Router, json_response
    router = Router()
    router.add("/health", lambda request: json_response({"status": "ok"}))
"""

from __future__ import annotations

from .example.http import DEFAULT_MAX_BODY_SIZE, HTTPError, Request, Response, json_response
from .example.router import Handler, Router

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "HTTPError",
    "Handler",
    "Request",
    "Response",
    "Router",
    "json_response",
]
