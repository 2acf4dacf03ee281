"""An ASGI application behind ``BasicAuth.from_environ``, for uvicorn in subprocess tests.

Configured from ``BASICAUTH_*`` when imported, as the README's ``myapp.py``
is; kept apart from :mod:`tests.ops.apps`, which imports with no variables set.
"""

from __future__ import annotations

import json
from typing import Any

from basicauth_wsgi.asgi import BasicAuth


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The path and the user the application sees."""
    if scope["type"] != "http":
        return
    body = json.dumps({"path": scope["path"], "user": scope.get("basicauth.username")}).encode()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


app = BasicAuth.from_environ(echo)
