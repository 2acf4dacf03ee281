"""Forward-auth facts: what a trusted proxy says about the request it asks about, read strictly.

nginx (``auth_request``), Caddy (``forward_auth``), Traefik (``ForwardAuth``)
and Envoy (``ext_authz``, HTTP service) ask before they pass a request on,
and tell its method, URI, scheme and client in headers of their own. A
client can send those headers too, so this module believes them only in
one proxy's shape at a time, each value only in its grammar, and the URI
only as raw text that the core then reads every way (SPEC §3, §11)::

    reader = Reader("auto", Networks.parse("127.0.0.1", option="trusted_proxies"))
    original = reader.read(Said("/private?x=1", "GET", None, None, "203.0.113.9", "https"))
    original.path, original.client     # "/private", "203.0.113.9"

No transport: the WSGI and ASGI front doors (:mod:`.wsgi`, :mod:`.asgi`)
gather a :class:`Said` from their headers and hand the result to the core.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple
from urllib.parse import unquote_to_bytes

from ..addresses import INVALID, Networks, canonical
from ..grammar import is_token

__all__ = [
    "AUTO",
    "ENVOY",
    "FACT_HEADERS",
    "NGINX",
    "TRAEFIK",
    "BadFacts",
    "Original",
    "Reader",
    "Said",
    "forwarded_client",
    "make_said",
    "request_path",
    "spelling",
]

AUTO, NGINX, TRAEFIK, ENVOY = "auto", "nginx", "traefik", "envoy"

#: The headers a proxy states facts in (lower case). nginx's are set by the
#: recipe (``proxy_set_header``); Traefik's documentation lists the
#: X-Forwarded-* five, and Caddy's ``forward_auth`` sends the same.
ORIGINAL_URI, ORIGINAL_METHOD = "x-original-uri", "x-original-method"
FORWARDED_URI, FORWARDED_METHOD = "x-forwarded-uri", "x-forwarded-method"
FORWARDED_FOR, FORWARDED_PROTO = "x-forwarded-for", "x-forwarded-proto"
FACT_HEADERS = (
    ORIGINAL_URI,
    ORIGINAL_METHOD,
    FORWARDED_URI,
    FORWARDED_METHOD,
    FORWARDED_FOR,
    FORWARDED_PROTO,
    "x-forwarded-host",
)

# RFC 9112 §3.2: a request target has no white space or control character
# (nginx >= 1.21.1 and Go refuse a request line with one), so a value with
# one is two headers joined with ", " by the server, or forged.
_NOT_IN_A_TARGET = re.compile(r"[\x00-\x20\x7f]")
# RFC 9112 §3.2.2 absolute-form: scheme "://" authority, then the path.
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")
# "[2001:db8::1]", "[2001:db8::1]:4711" (RFC 7239 §6's node syntax, which
# some proxies also write into X-Forwarded-For) and "192.0.2.1:4711".
_BRACKETED = re.compile(r"\[([0-9A-Fa-f:.]+)\](?::[0-9]{1,5})?")
_V4_PORT = re.compile(r"([0-9.]+):[0-9]{1,5}")
# Hops read from the right of X-Forwarded-For at most: a longer chain of
# trusted proxies is a client padding the header.
_MAX_HOPS = 32
# Anything but letters and digits: the separators a server may turn into
# "-" or "_" (waitress maps "-" to "_"; CGI-style servers map more).
_SEPARATORS = re.compile(r"[^a-z0-9]+")


class Said(NamedTuple):
    """The fact headers of one forward-auth request, as the server handed them.

    ``None`` for a header that is absent; a header sent twice is one value
    joined with ", " (as WSGI servers join them, RFC 9110 §5.3). ``method``
    and ``target`` are the auth request's own (Envoy's shape: the original
    method, and the original raw target after the path prefix).
    """

    original_uri: str | None
    original_method: str | None
    forwarded_uri: str | None
    forwarded_method: str | None
    forwarded_for: str | None
    forwarded_proto: str | None
    method: str = "GET"
    target: str = "/"


class Original(NamedTuple):
    """The original request, as far as it is believed: what the core decides on."""

    client: str  #: canonical IP text, or ``invalid``
    method: str
    path: str  #: as a WSGI server decodes PATH_INFO: percent-decoded once, latin-1 text
    https: bool
    nginx: bool  #: answer in nginx's shape (429 and 503 as 403 + X-Basicauth-Status)


#: ``make_said((original_uri, ..., method, target))``: a :class:`Said` from its
#: eight values in order, without the Python-level ``NamedTuple.__new__``
#: (a door makes one per request, as ``decide.make_facts``).
make_said = functools.partial(tuple.__new__, Said)
_make_original = functools.partial(tuple.__new__, Original)


class BadFacts(NamedTuple):
    """A request whose facts cannot be believed: answered 400, logged with ``reason``."""

    reason: str
    message: str
    nginx: bool


def spelling(name: str) -> str:
    """A header name with every separator as ``-``, lower case: what aliases share.

    ``X_Forwarded_Uri``, ``X.Forwarded.Uri`` and ``x-forwarded-uri`` all
    spell ``x-forwarded-uri``; a server may hand any of them over under the
    same name, or drop some (waitress drops names with ``_``).
    """
    return _SEPARATORS.sub("-", name.lower()).strip("-")


def request_path(target: str) -> str | None:
    """The path of a raw request target, as a WSGI server decodes ``PATH_INFO``; or ``None``.

    nginx's ``$request_uri`` and Traefik's and Caddy's ``X-Forwarded-Uri``
    are the client's target as sent. RFC 3986 §3.4: the query starts at the
    first ``?`` and is dropped; a ``#`` is kept (servers that route on the
    path keep it as a path character). The absolute form loses its scheme
    and authority. Percent-decoded once, latin-1 text of the bytes (PEP
    3333); the core then reads it every way of SPEC §3, one more round of
    decoding included. ``None`` for text that is no request target.
    """
    if not target or _NOT_IN_A_TARGET.search(target):
        return None
    if target[0] != "/":
        absolute = _ABSOLUTE.match(target)
        if absolute is None:
            return None  # asterisk or authority form, or no target at all
        target = target[absolute.end() :]
        if not target or target[0] == "?":
            return "/"
        if target[0] != "/":
            return None
    path = target.split("?", 1)[0]
    if "%" not in path:
        return path
    return unquote_to_bytes(path.encode("latin-1")).decode("latin-1")


def _address(hop: str) -> str | None:
    text = hop.strip()
    match = _BRACKETED.fullmatch(text) or _V4_PORT.fullmatch(text)
    return canonical(match[1] if match else text)


def forwarded_client(chain: str, trusted: Networks) -> str | None:
    """The client an ``X-Forwarded-For`` chain names, seen from a trusted proxy.

    The same rules as ``basicauth_wsgi.forwarded.forwarded_client`` (serve's
    trusted proxies): each proxy appends the address it received the
    request from, so entries are believable from the right only. The
    rightmost entry that is not itself a trusted proxy is the client (nginx's
    ``real_ip_recursive``); if every entry is one, the leftmost; an entry
    that is not an IP address where the walk stops is ``invalid`` (that text
    is the client's, and must neither pick its throttle key nor reach a log
    line). ``None`` for an empty chain. The shipped nginx recipe sets
    ``X-Forwarded-For $remote_addr``: one entry, the peer nginx saw.
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


def _https(value: str | None) -> bool | None:
    # One scheme, as the proxy saw it; a joined or unknown value is no fact.
    if value is None:
        return False
    scheme = value.strip().lower()
    return scheme == "https" if scheme in ("http", "https") else None


class Reader:
    """Reads the original request out of a :class:`Said`, in one proxy's shape.

    ``style`` is ``auto`` (nginx's ``X-Original-URI`` or Traefik's and
    Caddy's ``X-Forwarded-Uri``, whichever is there), ``nginx``, ``traefik``
    or ``envoy`` (the auth request's own method and target, after
    ``prefix``; never guessed, since Envoy may pass a client's headers on).
    The facts of one shape and any of another's is a forgery (a proxy
    passes the client's own headers to the auth service): refused.
    """

    def __init__(self, style: str, trusted: Networks, prefix: str = "") -> None:
        self.style = style
        self.trusted = trusted
        self.prefix = prefix
        # X-Forwarded-For values already read: a proxy sends the same few
        # again and again. Bounded in count and in the length of a key.
        self._clients: dict[str, str | None] = {}

    def read(self, said: Said) -> Original | BadFacts:
        """The original request, or why it cannot be believed."""
        style = self.style
        if style == AUTO:
            if said.original_uri is None:
                style = TRAEFIK if said.forwarded_uri is not None else ""
            else:
                style = NGINX if said.forwarded_uri is None else ""
            if not style:
                return _bad(
                    "no_original_uri" if said.original_uri is None else "mixed_facts",
                    "the proxy must send exactly one of X-Original-URI (nginx) and "
                    "X-Forwarded-Uri (Traefik, Caddy); for Envoy set the style to envoy",
                    said.original_uri is not None,
                )
        nginx = style == NGINX
        if nginx:
            uri, method = said.original_uri, said.original_method
            foreign = said.forwarded_uri is not None or said.forwarded_method is not None
        elif style == TRAEFIK:
            uri, method = said.forwarded_uri, said.forwarded_method
            foreign = said.original_uri is not None or said.original_method is not None
        else:
            uri, method = self._envoy(said.target), said.method
            foreign = any(v is not None for v in said[:4])
        if foreign:
            return _bad("mixed_facts", "facts of another proxy's shape were sent", nginx)
        return self._original(uri, method, said, nginx)

    def _envoy(self, target: str) -> str | None:
        # Envoy's ext_authz HTTP service: path_prefix + the original :path.
        prefix = self.prefix
        if not target.startswith(prefix):
            return None
        rest = target[len(prefix) :]
        return rest if rest[:1] == "/" else None

    def _original(
        self, uri: str | None, method: str | None, said: Said, nginx: bool
    ) -> Original | BadFacts:
        if uri is None:
            return _bad("no_original_uri", "the proxy sent no original URI", nginx)
        path = request_path(uri)
        if path is None:
            return _bad("bad_original_uri", "the original URI is no request target", nginx)
        if method is None or not is_token(method):
            return _bad("bad_original_method", "the original method is missing or not one", nginx)
        https = _https(said.forwarded_proto)
        if https is None:
            return _bad("bad_forwarded_proto", "X-Forwarded-Proto is not http or https", nginx)
        chain = said.forwarded_for
        client = None if chain is None else self._client(chain)
        if client is None:
            # Counting every client as the proxy would let one block them
            # all: a proxy that does not say who asks is misconfigured.
            return _bad("no_client", "the proxy sent no client address (X-Forwarded-For)", nginx)
        return _make_original((client, method, path, https, nginx))

    def _client(self, chain: str) -> str | None:
        clients = self._clients
        try:
            return clients[chain]
        except KeyError:
            pass
        client = forwarded_client(chain, self.trusted)
        if len(chain) <= _MEMO_TEXT:
            if len(clients) >= _MEMO_SIZE:
                clients.clear()  # an attacker's many values only make it restart
            clients[chain] = client
        return client


_MEMO_SIZE, _MEMO_TEXT = 4096, 64


def _bad(reason: str, message: str, nginx: bool) -> BadFacts:
    return BadFacts(reason, message, nginx)
