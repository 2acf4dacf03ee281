"""The most forgiving application an attacker could hope to find behind BasicAuth.

It reads its path every way an application or framework might: it
percent-decodes ``PATH_INFO`` until nothing changes, reads ``\\`` as ``/``,
drops ``;params`` and resolves dot segments. Whatever resolves under
``/private``, ``/admin/`` or ``/api/v1/private`` gets the secret, and it
answers ``OPTIONS`` like ``GET``. Served by the attack suite over the wire::

    python serve.py --app tests.ops.attack_app:app --htpasswd users --exclude /static/
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import unquote

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

#: In every protected answer; no unauthenticated response may contain it.
SECRET = "the-protected-secret-42"
PROTECTED = ("/private", "/admin/", "/api/v1/private")


def resolve(path: str) -> str:
    """The path as the most lenient router would take it."""
    for _ in range(8):
        decoded = unquote(path, encoding="latin-1")
        if decoded == path:
            break
        path = decoded
    out: list[str] = []
    for segment in path.replace("\\", "/").split("/"):
        segment = segment.split(";", 1)[0]
        if segment in ("", "."):
            continue
        if segment == "..":
            if out:
                out.pop()
            continue
        out.append(segment)
    return "/" + "/".join(out) + ("/" if path.endswith("/") and out else "")


def is_protected(resolved: str) -> bool:
    return resolved in ("/private", "/admin", "/api/v1/private") or resolved.startswith(PROTECTED)


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    raw = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    resolved = resolve(raw)
    seen = {"resolved": resolved, "user": environ.get("REMOTE_USER")}
    if is_protected(resolved):
        seen["secret"] = SECRET
    body = json.dumps(seen).encode()
    # The same answer for OPTIONS as for GET, with headers a preflight must not leak.
    start_response(
        "200 OK",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Set-Cookie", f"session={SECRET}"),
            ("X-Secret", SECRET),
            ("Access-Control-Allow-Origin", "https://app.example"),
            ("Access-Control-Allow-Methods", "GET, POST"),
            ("Allow", "GET, OPTIONS"),
            ("Vary", "Origin"),
        ],
    )
    return [body]
