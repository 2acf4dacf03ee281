"""Tiny WSGI applications for ``serve --app`` in subprocess tests (no test imports)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """Echo who and where: the user, the client address and the scheme the app sees."""
    body = json.dumps(
        {
            "path": environ.get("PATH_INFO", ""),
            "user": environ.get("REMOTE_USER"),
            "client": environ.get("REMOTE_ADDR"),
            "scheme": environ.get("wsgi.url_scheme"),
        }
    ).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


not_callable = 42
