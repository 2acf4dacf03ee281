"""Forwarded client facts, believed only from trusted proxies (X-Forwarded-For, -Proto).

A reverse proxy tells the application who the client is and which scheme
it used, in headers any client can also send: the de-facto
``X-Forwarded-For`` and ``X-Forwarded-Proto`` (RFC 7239 standardises the same
facts as ``Forwarded: for=...;proto=...``, which few proxies send by default
and this module does not read). So they are believed only from a peer in
the trusted networks, and only as what this module makes of them: the
canonical text of an IP address (or ``invalid``) and ``http``/``https``.
:func:`read_forwarded` is the pure part, for every front door;
:class:`TrustedProxies` the WSGI wrapper ``serve`` puts outside ``BasicAuth``::

    proxies = Networks.parse("127.0.0.1, 10.0.0.0/8", option="--trusted-proxy")
    app = TrustedProxies(BasicAuth(app, users), proxies)
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, NamedTuple

from .addresses import INVALID, Networks, canonical, shown

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = [
    "FORWARDED_HEADERS",
    "NOTHING",
    "Forwarded",
    "TrustedProxies",
    "forwarded_client",
    "forwarded_scheme",
    "read_forwarded",
]

logger = logging.getLogger(__name__)

#: The environ keys of every header a proxy uses to forward facts. From a
#: peer that is not trusted they are removed, so the application behind
#: (which may read them itself) never sees a client's claim either.
FORWARDED_HEADERS = (
    "HTTP_FORWARDED",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PREFIX",
    "HTTP_X_FORWARDED_BY",
    "HTTP_X_REAL_IP",
)

# Hops read from the right of X-Forwarded-For at most: a chain of more
# trusted proxies than this is not a deployment but a client padding the
# header, and its leftmost entry is not believed.
_MAX_HOPS = 32
# "[2001:db8::1]", "[2001:db8::1]:4711" (RFC 7239 §6's node syntax, which
# some proxies also write into X-Forwarded-For) and "192.0.2.1:4711".
_BRACKETED = re.compile(r"\[([0-9A-Fa-f:.]+)\](?::[0-9]{1,5})?")
_V4_PORT = re.compile(r"([0-9.]+):[0-9]{1,5}")
# How often at most, and for how many peers, "forwarded but not trusted" is logged.
_WARN_EVERY = 60.0
_WARNED_MAX = 1024


class Forwarded(NamedTuple):
    """What a request's peer forwarded, as far as it is believed."""

    #: The client address (canonical IP text, or ``invalid``); ``None``: none forwarded.
    client: str | None
    #: ``http`` or ``https``; ``None``: none forwarded (keep the connection's own).
    scheme: str | None


#: What an untrusted peer (or a request without forwarded headers) forwards.
NOTHING = Forwarded(None, None)


def _address(hop: str) -> str | None:
    text = hop.strip()
    match = _BRACKETED.fullmatch(text) or _V4_PORT.fullmatch(text)
    return canonical(match[1] if match else text)


def forwarded_client(chain: str, trusted: Networks) -> str | None:
    """The client ``chain`` (an ``X-Forwarded-For`` value) names, seen from a trusted peer.

    Each proxy appends the address it received the request from, so the
    entries are believable from the right only: the rightmost entry that is
    not itself a trusted proxy is the client (what nginx's
    ``real_ip_recursive`` takes), and everything left of it is whatever
    that client chose to send. If every entry is a trusted proxy, the
    leftmost is the client (one of the proxies' own hosts). An entry that
    is not an IP address, where the walk stops, gives ``invalid``: that
    text is the client's, and it must not choose its counted address or
    reach a log line. ``None`` when the chain is empty.
    """
    if not chain.strip():
        return None
    hops = chain.rsplit(",", _MAX_HOPS)
    client: str | None = None
    for index, hop in enumerate(reversed(hops)):
        if index == _MAX_HOPS and "," in hop:
            return INVALID  # longer than any real chain of proxies
        address = _address(hop)
        if address is None:
            return INVALID
        if not trusted.contains(address):
            return address
        client = address
    return client


def forwarded_scheme(value: str) -> str | None:
    """``http`` or ``https`` from an ``X-Forwarded-Proto`` value; ``None`` for anything else.

    With several values (proxies that append), the rightmost is the one the
    trusted peer itself reports; RFC 7239 §5.4 allows only a URI scheme, and
    only these two mean anything to an HTTP server.
    """
    scheme = value.rsplit(",", 1)[-1].strip().lower()
    return scheme if scheme in ("http", "https") else None


def read_forwarded(
    peer: str,
    forwarded_for: str | None,
    forwarded_proto: str | None,
    trusted: Networks | None,
) -> Forwarded:
    """The facts forwarded by ``peer`` (the connection's address), believed if it is trusted.

    From a peer outside ``trusted`` (or with no trusted networks at all)
    nothing is believed: :data:`NOTHING`.
    """
    if trusted is None or not trusted.contains(peer):
        return NOTHING
    client = None if forwarded_for is None else forwarded_client(forwarded_for, trusted)
    scheme = None if forwarded_proto is None else forwarded_scheme(forwarded_proto)
    return Forwarded(client, scheme)


class TrustedProxies:
    """WSGI: the client and scheme from a trusted proxy's headers, in the spirit of ProxyFix.

    For a peer in ``trusted``, ``REMOTE_ADDR`` becomes the forwarded client
    (:func:`forwarded_client`; the peer's own address is kept in
    ``basicauth.peer``) and ``wsgi.url_scheme`` the forwarded scheme. From
    any other peer the forwarded headers are removed and ignored; one that
    sends ``X-Forwarded-For`` anyway is a proxy nobody trusted, so every
    client behind it shares its address (one throttle key): that is logged
    as one WARNING per peer, at most one a minute. ``trusted=None`` trusts
    nobody. ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        app: WSGIApplication,
        trusted: Networks | None,
        *,
        log: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if trusted is not None and not isinstance(trusted, Networks):
            raise TypeError(f"trusted must be Networks or None, got {trusted!r}")
        self.app = app
        self.trusted = trusted
        self._log = logger if log is None else log
        self._clock = clock
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self._quiet_until = float("-inf")

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        peer = environ.get("REMOTE_ADDR") or ""
        if self.trusted is not None and self.trusted.contains(peer):
            facts = read_forwarded(
                peer,
                environ.get("HTTP_X_FORWARDED_FOR"),
                environ.get("HTTP_X_FORWARDED_PROTO"),
                self.trusted,
            )
            if facts.client is not None:
                environ["basicauth.peer"] = peer
                environ["REMOTE_ADDR"] = facts.client
            if facts.scheme is not None:
                environ["wsgi.url_scheme"] = facts.scheme
        else:
            if "HTTP_X_FORWARDED_FOR" in environ:
                self._untrusted(peer)
            for name in FORWARDED_HEADERS:
                environ.pop(name, None)
        return self.app(environ, start_response)

    def _untrusted(self, peer: str) -> None:
        address = shown(peer)
        now = self._clock()
        with self._lock:
            if address in self._warned or now < self._quiet_until:
                return
            if len(self._warned) >= _WARNED_MAX:
                self._warned.clear()  # bounded: a peer may be named again, later
            self._warned.add(address)
            self._quiet_until = now + _WARN_EVERY
        self._log.warning(
            "X-Forwarded-For from %s, which is not a trusted proxy: ignored, so every client "
            "behind it is counted and throttled as %s (if it is your reverse proxy, trust it: "
            "serve --trusted-proxy %s)",
            address,
            address,
            address,
        )

    def __repr__(self) -> str:
        return f"<TrustedProxies {self.trusted!r} app={self.app!r}>"
