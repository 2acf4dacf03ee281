"""``ForwardAuth`` for ASGI: the forward-auth service on uvicorn or any ASGI 3 server.

The same service as :class:`basicauth_wsgi.forward.ForwardAuth`, with the
same options and answers, for a deployment that runs an event loop::

    from basicauth_wsgi.forward.asgi import ForwardAuth
    app = ForwardAuth(HtpasswdFile("users"), trusted_proxies=["127.0.0.1"])
    # uvicorn module:app --port 9091

Under uvicorn pass ``--no-proxy-headers``: the service must see the proxy
itself as the peer (it reads ``X-Forwarded-For`` itself, from trusted
proxies only). A password check the cache cannot answer runs in a worker
thread, never on the event loop (the core's scheduler, :meth:`~basicauth_wsgi.core.Gate.arun`).
ASGI hands over raw header names, so every alias (``X_Forwarded_Uri`` as
well as ``X.Forwarded.Uri``) is seen and refused here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..asgi import request_path
from ..decide import make_facts
from ..paths import quote_path
from .door import ForwardDoor
from .facts import ENVOY, BadFacts, make_said, spelling

__all__ = ["ForwardAuth"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# The request headers the service reads (ASGI names are lower case).
_WANTED = frozenset(
    {
        b"x-original-uri",
        b"x-original-method",
        b"x-forwarded-uri",
        b"x-forwarded-method",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"authorization",
        b"accept",
        b"content-type",
    }
)
_PEERS_MAX = 4096


class ForwardAuth(ForwardDoor):
    """The forward-auth service as an ASGI 3 application (SPEC §11).

    ``http`` requests are answered as by the WSGI service; ``lifespan`` is
    completed; a ``websocket`` is closed (1008) before the handshake: no
    proxy asks over one.
    """

    kind = "ASGI"

    def _bind(self) -> None:
        self._arun = self.gate.arun
        self._envoy = self.style == ENVOY
        self._peers: dict[str, bool] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind != "http":
            if kind == "websocket" and (await receive())["type"] == "websocket.connect":
                await send({"type": "websocket.close", "code": 1008})
            return
        status, headers, body = await self.answer(scope)
        await send(
            {
                "type": "http.response.start",
                "status": int(status[:3]),
                "headers": [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def answer(self, scope: Scope) -> tuple[str, list[tuple[str, str]], bytes]:
        """The answer to one request of a proxy."""
        client = scope.get("client")
        peer: str = client[0] if client else ""
        trusted = self._peers.get(peer)
        if trusted is None:
            trusted = self.trusted.contains(peer)
            if len(self._peers) >= _PEERS_MAX:
                self._peers.clear()
            self._peers[peer] = trusted
        values, aliased = self._read_headers(scope.get("headers") or ())
        get = values.get
        method: str = scope.get("method") or "GET"
        if not trusted:
            return self.untrusted(peer, get("accept"), method)
        said = make_said(
            (
                get("x-original-uri"),
                get("x-original-method"),
                get("x-forwarded-uri"),
                get("x-forwarded-method"),
                get("x-forwarded-for"),
                get("x-forwarded-proto"),
                method,
                _target(scope) if self._envoy else "/",
            )
        )
        if aliased:
            return self.bad(self.alias(said.original_uri), peer, get("accept"), method)
        original = self.reader.read(said)
        if isinstance(original, BadFacts):
            return self.bad(original, peer, get("accept"), method)
        client_address, original_method, path, https, nginx = original
        facts = make_facts(
            (get("authorization"), client_address, original_method, path, https, False, None)
        )
        decision = await self._arun(facts)
        # The body follows this request's own method, as in the WSGI service.
        return self.decided(decision, get("accept"), get("content-type"), method, nginx)

    def _read_headers(self, headers: Any) -> tuple[dict[str, str], bool]:
        """The headers the service reads, repeated ones joined (RFC 9110 §5.3), and whether
        one was sent under an alias of a watched name."""
        found: dict[bytes, bytes] = {}
        aliased = False
        watched = self.watched
        for name, value in headers:
            name = name.lower()
            if name in _WANTED:
                found[name] = value if name not in found else found[name] + b", " + value
            elif not name.replace(b"-", b"").isalnum() and (
                spelling(name.decode("latin-1")) in watched
            ):
                aliased = True
        return {n.decode(): v.decode("latin-1") for n, v in found.items()}, aliased


def _target(scope: Scope) -> str:
    # Envoy's shape: this request's own path (raw_path decoded once, as a
    # WSGI server decodes it), encoded back into a raw target.
    return quote_path(request_path(scope)[0])


async def _lifespan(receive: Receive, send: Send) -> None:
    # ASGI lifespan: nothing to start or stop; say so when asked.
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
