"""``ForwardAuth`` for WSGI: the forward-auth service, on waitress or any WSGI server.

nginx ``auth_request``, Caddy ``forward_auth``, Traefik ``ForwardAuth`` and
Envoy ``ext_authz`` ask it whether to pass a request on; it answers with
the same users, throttle and rules as ``BasicAuth`` (SPEC §11)::

    from basicauth_wsgi.forward import ForwardAuth
    app = ForwardAuth(HtpasswdFile("users"), trusted_proxies=["127.0.0.1"], exclude=["/health"])
    # basicauth-wsgi serve --forward-auth --trusted-proxies 127.0.0.1 --htpasswd users

This module only reads the proxy's request from the environ and sends the
answer; deciding and scheduling are the core's (:class:`~basicauth_wsgi.core.Gate`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..decide import Check, make_facts
from ..paths import quote_path
from .answers import Answer
from .door import ForwardDoor
from .facts import ENVOY, BadFacts, make_said, spelling

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["ForwardAuth"]

_PEERS_MAX = 4096  # peer addresses whose trust is remembered (then forgotten at once)


class ForwardAuth(ForwardDoor):
    """The forward-auth service as a WSGI application (SPEC §11).

    A request from a peer outside ``trusted_proxies`` gets 403. From a
    trusted one, the original request's facts are read in the proxy's shape
    (:class:`~basicauth_wsgi.forward.facts.Reader`) and decided by the core:
    200 with ``Remote-User``/``X-Forwarded-User``/``Remote-Groups`` (empty on
    a public path), or the refusal (401 with the challenge, 403, 429 and 503
    with ``Retry-After``; for nginx 429 and 503 as 403 with
    ``X-Basicauth-Status``). Facts that cannot be believed (a header alias,
    two copies of one, a missing one) get 400.

    Under waitress, pass ``clear_untrusted_proxy_headers=False``: waitress
    otherwise removes ``X-Forwarded-For`` and ``-Proto`` before the service
    sees them (``serve --forward-auth`` does).
    """

    def _bind(self) -> None:
        gate = self.gate
        self._decide, self._complete = gate.decide, gate.complete
        self._envoy = self.style == ENVOY
        self._peers: dict[str, bool] = {}
        self._watched = self.watched

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        status, headers, body = self.answer(environ)
        start_response(status, headers)
        return [body]

    def answer(self, environ: WSGIEnvironment) -> Answer:
        """The answer to one request of a proxy."""
        get = environ.get
        peer: str = get("REMOTE_ADDR") or ""
        trusted = self._peers.get(peer)
        if trusted is None:
            trusted = self._remember(peer)
        if not trusted:
            return self.untrusted(peer, get("HTTP_ACCEPT"), get("REQUEST_METHOD"))
        method: str = get("REQUEST_METHOD") or "GET"
        said = make_said(
            (
                get("HTTP_X_ORIGINAL_URI"),
                get("HTTP_X_ORIGINAL_METHOD"),
                get("HTTP_X_FORWARDED_URI"),
                get("HTTP_X_FORWARDED_METHOD"),
                get("HTTP_X_FORWARDED_FOR"),
                get("HTTP_X_FORWARDED_PROTO"),
                method,
                self._target(environ) if self._envoy else "/",
            )
        )
        if self._aliased(environ):
            return self.bad(self.alias(said.original_uri), peer, get("HTTP_ACCEPT"), method)
        original = self.reader.read(said)
        if isinstance(original, BadFacts):
            return self.bad(original, peer, get("HTTP_ACCEPT"), method)
        client, original_method, path, https, nginx = original
        decision = self._decide(
            make_facts(
                (get("HTTP_AUTHORIZATION"), client, original_method, path, https, False, None)
            )
        )
        if isinstance(decision, Check):
            decision = self._complete(decision)
        # The body follows this request's own method (nginx and Traefik ask
        # with GET whatever the client's was; Envoy with the client's).
        return self.decided(decision, get("HTTP_ACCEPT"), get("CONTENT_TYPE"), method, nginx)

    def _remember(self, peer: str) -> bool:
        trusted = self.trusted.contains(peer)
        if len(self._peers) >= _PEERS_MAX:
            self._peers.clear()
        self._peers[peer] = trusted
        return trusted

    def _aliased(self, environ: WSGIEnvironment) -> bool:
        """Whether a header name is another spelling of a watched one.

        The server names headers ``HTTP_`` + upper case with ``-`` as ``_``;
        any other character in a key (waitress keeps ``.``) is the client's
        spelling. waitress drops names with ``_`` (so they never reach a
        decision); a server that mapped them onto the real key would join
        both values, which the facts' grammar refuses.
        """
        watched = self._watched
        for key in environ:
            if not key.isidentifier() and key[:5] == "HTTP_" and spelling(key[5:]) in watched:
                return True
        return False

    @staticmethod
    def _target(environ: WSGIEnvironment) -> str:
        # Envoy's shape: this request's own raw target (waitress's REQUEST_URI,
        # gunicorn's RAW_URI), else the decoded path encoded back.
        raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
        if raw:
            return str(raw)
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        return quote_path(path) or "/"
