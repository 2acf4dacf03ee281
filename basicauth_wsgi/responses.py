"""The middleware's own responses: 401, 403, 429, 500 and 503, content-negotiated.

Each response is rendered once, at construction, in three variants (JSON,
HTML, plain text); a request only picks one by its ``Accept`` header. The
pieces every front door shares live here too: the pages of one realm
(:class:`Pages`), the guard that keeps a custom 401 a challenge
(:func:`guard_challenge`) and what of a preflight's answer may pass
(:func:`preflight_header`)::

    page = ErrorPage(401, "unauthorized", "Authentication required.")
    return page(environ, start_response)  # WSGI; without one, page.render(...)
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING

from .grammar import is_json_media_type

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = [
    "HTML",
    "JSON",
    "TEXT",
    "ErrorPage",
    "Pages",
    "guard_challenge",
    "negotiate",
    "preflight_header",
]

JSON = "json"
HTML = "html"
TEXT = "text"

# The media types that choose a variant when a client names them. "*/*" and
# "type/*" choose nothing: curl's default "*/*" gets plain text.
_EXPLICIT = {
    "application/json": JSON,
    "text/html": HTML,
    "application/xhtml+xml": HTML,
    "text/plain": TEXT,
}

_memo: dict[tuple[str | None, str | None], str] = {}
_MEMO_SIZE = 256
_MEMO_TEXT = 256  # characters of Accept + Content-Type a memo entry may keep


def _choose(accept: str | None, content_type: str | None) -> str:
    best: tuple[float, int] | None = None
    choice = None
    if accept:
        # RFC 9110 §12.5.1: Accept = #( media-range [ weight ] ). The highest
        # weight wins; among equal weights, the one the client listed first.
        for index, item in enumerate(accept.split(",")):
            media, *params = item.split(";")
            media = media.strip().lower()
            if is_json_media_type(media):
                media = "application/json"
            kind = _EXPLICIT.get(media)
            if kind is None:
                continue
            weight = 1.0
            for param in params:
                name, _, value = param.partition("=")
                if name.strip().lower() == "q":
                    try:
                        weight = float(value.strip())
                    except ValueError:
                        weight = 0.0
            if weight <= 0:
                continue
            rank = (weight, -index)
            if best is None or rank > best:
                best, choice = rank, kind
    if choice is not None:
        return choice
    # A client that sends JSON reads JSON, even if it forgot to say so.
    if content_type and is_json_media_type(content_type):
        return JSON
    return TEXT


def negotiate(accept: str | None, content_type: str | None = None) -> str:
    """Return ``"json"``, ``"html"`` or ``"text"``: the variant for a client.

    JSON for a client that accepts ``application/json`` (or sends a JSON
    body), HTML for a browser (``text/html``), plain text otherwise,
    including for ``*/*`` alone. Results are memoised (a bounded table: the
    distinct Accept values of real clients are few, and an attacker who sends
    many only makes the table restart).
    """
    key = (accept, content_type)
    kind = _memo.get(key)
    if kind is None:
        kind = _choose(accept, content_type)
        # Bounded in count and in what it keeps: an attacker's long values
        # are negotiated every time instead (cheap), never remembered.
        if len(accept or "") + len(content_type or "") <= _MEMO_TEXT:
            if len(_memo) >= _MEMO_SIZE:
                _memo.clear()
            _memo[key] = kind
    return kind


class ErrorPage:
    """A negotiated error response, rendered once and served many times.

    The JSON body is ``{"error": error, "message": message}``. Every variant
    carries ``Cache-Control: no-store`` (credentials-dependent answers must
    not be cached by shared caches) and ``Vary: Accept``; ``HEAD`` gets the
    headers, including the ``Content-Length`` of the body it does not get.
    """

    __slots__ = ("_variants", "status")

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        phrase = HTTPStatus(status).phrase
        self.status = f"{status} {phrase}"
        title = html.escape(f"{status} {phrase}")
        bodies = {
            JSON: (
                "application/json",
                json.dumps({"error": error, "message": message}, ensure_ascii=False),
            ),
            HTML: (
                "text/html; charset=utf-8",
                '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                '<meta name="viewport" content="width=device-width">'
                f"<title>{title}</title></head>\n<body><h1>{title}</h1>"
                f"<p>{html.escape(message)}</p></body></html>\n",
            ),
            TEXT: ("text/plain; charset=utf-8", f"{status} {phrase}: {message}\n"),
        }
        extra = list(headers)
        self._variants: dict[str, tuple[list[tuple[str, str]], bytes]] = {}
        for kind, (content_type, text) in bodies.items():
            body = text.encode("utf-8")
            self._variants[kind] = (
                [
                    ("Content-Type", content_type),
                    ("Content-Length", str(len(body))),
                    ("Cache-Control", "no-store"),
                    ("Vary", "Accept"),
                    *extra,
                ],
                body,
            )

    def __call__(
        self,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        headers: Iterable[tuple[str, str]] = (),
    ) -> list[bytes]:
        """Send the variant this request negotiates, with extra ``headers``.

        :meth:`render` for WSGI, written out: every anonymous request ends here.
        """
        accept, content_type = environ.get("HTTP_ACCEPT"), environ.get("CONTENT_TYPE")
        kind = _memo.get((accept, content_type)) or negotiate(accept, content_type)
        base, body = self._variants[kind]
        start_response(self.status, [*base, *headers] if headers else base.copy())
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    def render(
        self,
        accept: str | None,
        content_type: str | None,
        method: str | None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        """Return the status line, headers and body for a request; no transport.

        ``accept`` and ``content_type`` are the request's ``Accept`` and
        ``Content-Type`` values (``None`` if absent); extra ``headers`` go
        last. For ``HEAD`` the body is empty but ``Content-Length`` is the
        GET's (RFC 9110 §9.3.2). The header list is a fresh one each time:
        servers and outer middleware may append to it.
        """
        kind = _memo.get((accept, content_type)) or negotiate(accept, content_type)
        base, body = self._variants[kind]
        return (
            self.status,
            [*base, *headers] if headers else base.copy(),
            b"" if method == "HEAD" else body,
        )

    def body(self, kind: str) -> bytes:
        """Return the rendered body of one variant (``"json"``, ``"html"``, ``"text"``)."""
        return self._variants[kind][1]


def _duration(seconds: int) -> str:
    """``seconds`` in words, rounded up to what a person waits: "42 seconds", "5 minutes"."""
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    if minutes < 120:
        return f"{minutes} minutes"
    return f"{-(-minutes // 60)} hours"


#: 429 pages kept, by wait: a window's waits are few, but they are not bounded by us.
_THROTTLED_MEMO = 128


class Pages:
    """Every page the core answers with, for one challenge, rendered once.

    The 429 page says in words how long to wait, so it is rendered per wait
    (``Retry-After`` value) and a few are kept.
    """

    def __init__(self, challenge: str) -> None:
        self.unauthorized = ErrorPage(
            401,
            "unauthorized",
            "This resource requires a username and password (HTTP Basic authentication).",
            [("WWW-Authenticate", challenge)],
        )
        self.https_required = ErrorPage(
            403, "https_required", "HTTPS required: credentials must not travel in clear text."
        )
        self.forbidden = ErrorPage(
            403, "forbidden", "You are authenticated, but not allowed to do this."
        )
        self.error = ErrorPage(
            500, "internal_error", "The server could not check your credentials; try again later."
        )
        self.overloaded = ErrorPage(
            503, "unavailable", "The server is too busy to check passwords; try again shortly."
        )
        self.unavailable = ErrorPage(
            503, "unavailable", "The server cannot check credentials right now; try again shortly."
        )
        self._throttled: dict[int, ErrorPage] = {}

    def throttled(self, retry_after: int) -> ErrorPage:
        """The 429 page for a wait of ``retry_after`` seconds."""
        page = self._throttled.get(retry_after)
        if page is None:
            page = ErrorPage(
                429,
                "too_many_requests",
                f"Too many failed login attempts; try again in {_duration(retry_after)}.",
            )
            if len(self._throttled) >= _THROTTLED_MEMO:
                self._throttled.clear()
            self._throttled[retry_after] = page
        return page


# RFC 9110 and the Fetch standard: what of an application's answer to a CORS
# preflight may reach the client when the preflight passed unauthenticated.
_PREFLIGHT_HEADERS = ("access-control-", "allow", "vary")


def preflight_header(name: str | bytes) -> bool:
    """Whether a response header may reach the client in an unauthenticated preflight's answer.

    ``Access-Control-*``, ``Allow`` and ``Vary``, matched case-insensitively
    (RFC 9110 §5.1), for WSGI's text names and ASGI's bytes alike.
    """
    text = name.decode("latin-1") if isinstance(name, bytes) else name
    return text.lower().startswith(_PREFLIGHT_HEADERS)


def guard_challenge(headers: Iterable[tuple[str, str]], challenge: str) -> list[tuple[str, str]]:
    """The headers of a custom 401 page, with the challenge and ``no-store`` made sure of.

    RFC 9110 §15.5.2: a 401 MUST carry a ``WWW-Authenticate`` challenge (a
    renderer that forgot it would also defeat the browser's prompt). Names
    compare case-insensitively (RFC 9110 §5.1).
    """
    kept = list(headers)
    names = {name.lower() for name, _ in kept}
    if not any(n.lower() == "www-authenticate" and v == challenge for n, v in kept):
        kept.append(("WWW-Authenticate", challenge))
    if "cache-control" not in names:
        kept.append(("Cache-Control", "no-store"))
    return kept
