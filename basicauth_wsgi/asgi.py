"""The ``BasicAuth`` ASGI middleware: the same protection for ASGI 3 applications.

FastAPI, Starlette and Django under ASGI get the WSGI middleware's options,
decisions, negotiated pages and log lines, because both adapters call the
one transport-free core (:class:`~basicauth_wsgi.core.Gate`)::

    from basicauth_wsgi.asgi import BasicAuth
    app = BasicAuth(app, {"admin": "SuperSecretPwd"}, exclude=["/health"])
    # uvicorn module:app

This module only reads the request's facts from the ASGI scope and turns
the core's decision into ASGI messages. A password check the cache cannot
answer runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import unquote_to_bytes

from .adapter import FrontDoor
from .decide import PREFLIGHT, PUBLIC, Grant, Refusal, make_facts
from .responses import guard_challenge, preflight_header

__all__ = ["ASGIApp", "BasicAuth", "BasicCredentials", "BasicUser", "request_path"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
#: An ASGI 3 application: ``await app(scope, receive, send)``.
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The extensions that let an application answer other than by
# http.response.body (a file, trailers): a preflight's answer is only its head.
_BODY_EXTENSIONS = ("http.response.",)


class BasicUser:
    """The authenticated user, in the shape Starlette's ``request.user`` has.

    Set as ``scope["user"]`` when no outer middleware set one: FastAPI and
    Starlette code reading ``request.user.is_authenticated`` or
    ``request.user.display_name`` works unchanged.
    """

    __slots__ = ("username",)

    is_authenticated = True

    def __init__(self, username: str) -> None:
        self.username = username

    @property
    def display_name(self) -> str:
        """The username (Starlette's ``BaseUser.display_name``)."""
        return self.username

    @property
    def identity(self) -> str:
        """The username (Starlette's ``BaseUser.identity``)."""
        return self.username

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BasicUser) and other.username == self.username

    def __hash__(self) -> int:
        return hash(self.username)

    def __repr__(self) -> str:
        return f"BasicUser({self.username!r})"


class BasicCredentials:
    """What Starlette's ``request.auth`` reads: the scopes an authenticated request has.

    Set as ``scope["auth"]`` when no outer middleware set one, so
    Starlette's ``@requires("authenticated")`` works unchanged.
    """

    __slots__ = ()

    scopes = ("authenticated",)

    def __repr__(self) -> str:
        return "BasicCredentials(['authenticated'])"


_CREDENTIALS = BasicCredentials()


def _wsgi_text(text: str) -> str:
    # PEP 3333: a path is the latin-1 text of its bytes; ASGI's str paths are
    # UTF-8 text, so re-encode (surrogates from a lenient server survive).
    return text if text.isascii() else text.encode("utf-8", "surrogateescape").decode("latin-1")


def request_path(scope: Scope) -> tuple[str, str | None]:
    """Return the full request path of an ASGI scope, as WSGI's ``SCRIPT_NAME + PATH_INFO``.

    The first value is ``raw_path`` percent-decoded once (as a WSGI server
    decodes ``PATH_INFO``), as latin-1 text of the bytes (PEP 3333), or
    ``path`` when there is no ``raw_path``. The ASGI spec (2.x, HTTP and
    WebSocket scopes) says both already include ``root_path``; from a server
    where they do not, ``root_path`` is put in front. The second value is
    ``path``'s reading when it differs from the first (a server or an outer
    middleware that rewrote one and not the other), else ``None``: the
    caller then protects the request if either reading needs it.
    """
    raw = scope.get("raw_path")
    root = scope.get("root_path")
    if raw and not root and b"%" not in raw and b"?" not in raw:
        # The common case, cheaply: nothing to decode, nothing to prefix.
        full = raw.decode("latin-1")
        if scope.get("path") == full:
            return full, None
    path = _wsgi_text(scope.get("path") or "")
    full = path
    if raw:
        # RFC 3986 §3.3: the path ends at "?"; some servers left the query in.
        raw = raw.split(b"?", 1)[0]
        full = (unquote_to_bytes(raw) if b"%" in raw else raw).decode("latin-1")
    if root:
        root = _wsgi_text(root)
        if not full.startswith(root):
            full = root + full
        if not path.startswith(root):
            path = root + path
    return full or "/", (None if path == full or not path else path)


def _header(headers: Iterable[tuple[bytes, bytes]], wanted: bytes) -> str | None:
    """The value of one request header as latin-1 text (PEP 3333), or ``None``.

    Repeated headers are joined with ", " as RFC 9110 §5.3 combines them
    (and as WSGI servers do): two Authorization headers make one malformed
    value, which is refused, never the first or the last one picked.
    """
    found: bytes | None = None
    size = len(wanted)
    for name, value in headers:
        # ASGI servers send lower-case names; lower() only what could match.
        if len(name) == size and name.lower() == wanted:
            found = value if found is None else found + b", " + value
    return None if found is None else found.decode("latin-1")


def _encode(headers: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in headers]


class BasicAuth(FrontDoor["ASGIApp"]):
    """ASGI middleware requiring HTTP Basic authentication (RFC 7617).

    Same signature, options and validation as the WSGI
    :class:`basicauth_wsgi.BasicAuth`, except that ``app`` and
    ``unauthorized`` are ASGI applications.

    ``http`` and ``websocket`` scopes are decided by the core; ``lifespan``
    (and any other type) passes through untouched. On success the
    application sees ``scope["basicauth.user"]`` (the principal),
    ``scope["basicauth.username"]``, ``scope["user"]`` (a :class:`BasicUser`
    unless the scope had a user already), and no ``authorization`` header
    when ``strip_authorization``. The scope is copied, never changed in place.

    A refused ``http`` request gets a complete negotiated response (401 with
    the challenge, 403, 429 or 503 with ``Retry-After``, 500). A refused
    WebSocket gets that HTTP response through the ``websocket.http.response``
    extension when the server offers it, else is closed with code 1008
    (policy violation, RFC 6455 §7.4.1) before ``websocket.accept``.
    ``unauthorized`` renders the 401s of ``http`` scopes (its status is
    forced to 401 and the challenge added); a refused WebSocket always gets
    the built-in page, since an ``unauthorized`` app need not speak WebSocket.

    A check the cache cannot answer runs in a worker thread; at most
    ``max_concurrent_checks`` run at once (plus one slot for trusted pairs),
    waiting for a slot never blocks the event loop.
    """

    kind, article = "ASGI", "an"

    def _bind(self) -> None:
        self._arun = self.gate.arun
        self._strip = self.settings.strip_authorization

    # -- the request path ---------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)  # lifespan: not a request
            return
        headers = scope.get("headers") or ()
        raw: bytes | None = None
        for name, value in headers:
            # ASGI servers send lower-case names; lower() only what could match.
            if len(name) == 13 and name.lower() == b"authorization":
                # RFC 9110 §5.3: repeated fields combine into one list (as
                # WSGI servers join them), which is no valid credential.
                raw = value if raw is None else raw + b", " + value
        header = None if raw is None else raw.decode("latin-1")
        if header is None and "basicauth.user" in scope:
            self._nested()
        # A WebSocket handshake is a GET (RFC 6455 §4.1); rules see it as one.
        method: str = scope.get("method", "GET")
        client = scope.get("client")
        path, other = request_path(scope)
        decision = await self._arun(
            make_facts(
                (
                    header,
                    client[0] if client else "-",
                    method,
                    path,
                    scope.get("scheme") in ("https", "wss"),
                    method == "OPTIONS"
                    and _header(headers, b"origin") is not None
                    and _header(headers, b"access-control-request-method") is not None,
                    other,
                )
            )
        )
        # The one place the header is removed: the application never sees a
        # password, whatever it is answered. A shallow copy, as Starlette's
        # middleware makes: the server's scope and list stay as they were.
        scope = dict(scope)
        if raw is not None and self._strip:
            scope["headers"] = [
                h for h in headers if len(h[0]) != 13 or h[0].lower() != b"authorization"
            ]
        if decision.__class__ is Grant:
            username: str = decision.username
            scope["basicauth.user"] = decision.principal
            scope["basicauth.username"] = username
            if "user" not in scope:
                scope["user"] = BasicUser(username)
            if "auth" not in scope:
                scope["auth"] = _CREDENTIALS
            await self.app(scope, receive, send)
        elif decision is PUBLIC:
            await self.app(scope, receive, send)
        elif decision is PREFLIGHT:
            await self._preflight(scope, receive, send)
        else:
            await self._refuse(decision, scope, receive, send)  # type: ignore[arg-type]

    # -- answers ---------------------------------------------------------------

    async def _refuse(self, refusal: Refusal, scope: Scope, receive: Receive, send: Send) -> None:
        headers = scope.get("headers") or ()
        if scope["type"] == "websocket":
            await self._refuse_websocket(refusal, scope, receive, send)
            return
        if refusal.status == 401 and self.unauthorized is not None:
            await self.unauthorized(scope, receive, self._guard_challenge(send))
            return
        _, page_headers, body = refusal.page.render(
            _header(headers, b"accept"),
            _header(headers, b"content-type"),
            scope.get("method"),
            refusal.headers,
        )
        await send(
            {
                "type": "http.response.start",
                "status": refusal.status,
                "headers": _encode(page_headers),
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _refuse_websocket(
        self, refusal: Refusal, scope: Scope, receive: Receive, send: Send
    ) -> None:
        # ASGI spec: the server's first message is websocket.connect; the
        # answer to it is accept, close or (extension) an HTTP response.
        message = await receive()
        if message["type"] != "websocket.connect":
            return  # the client went away before the handshake
        if "websocket.http.response" in (scope.get("extensions") or {}):
            _, page_headers, body = refusal.page.render(
                _header(scope.get("headers") or (), b"accept"), None, "GET", refusal.headers
            )
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": refusal.status,
                    "headers": _encode(page_headers),
                }
            )
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            # Closing before accept makes the server refuse the handshake
            # (with 403); 1008 says "policy violation" to servers that log it.
            await send({"type": "websocket.close", "code": 1008})

    async def _preflight(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass a CORS preflight, but only its status and CORS headers back.

        The request carried no credentials: an application that answers
        ``OPTIONS`` like ``GET`` must not leak its body or other headers. The
        extensions that send a body another way (files, trailers) are hidden.
        """
        extensions = scope.get("extensions")
        if extensions:
            scope = dict(scope)
            scope["extensions"] = {
                k: v for k, v in extensions.items() if not k.startswith(_BODY_EXTENSIONS)
            }
        ended = False

        async def filtered(message: Message) -> None:
            nonlocal ended
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                kept = [(n, v) for n, v in message.get("headers") or () if preflight_header(n)]
                if status not in (204, 304):
                    # RFC 9110 §8.6: no length on a 204 or 304; elsewhere an
                    # empty body of our own.
                    kept += [(b"content-type", b"text/plain"), (b"content-length", b"0")]
                await send({"type": kind, "status": status, "headers": kept})
            elif not ended and kind != "http.response.trailers" and not message.get("more_body"):
                ended = True
                await send({"type": "http.response.body", "body": b""})

        await self.app(scope, receive, filtered)

    def _guard_challenge(self, send: Send) -> Send:
        """Wrap ``send`` so a custom 401 app still sends a 401 with the challenge."""
        challenge = self.settings.challenge

        async def guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                # A renderer that answered anything but 401 would defeat the
                # browser's prompt and look like a success.
                text = [
                    (n.decode("latin-1"), v.decode("latin-1"))
                    for n, v in message.get("headers") or ()
                ]
                message = {
                    **message,
                    "status": 401,
                    "headers": _encode(guard_challenge(text, challenge)),
                }
            await send(message)

        return guarded

    def __repr__(self) -> str:
        return f"<asgi.BasicAuth realm={self.settings.realm!r} app={self.app!r}>"
