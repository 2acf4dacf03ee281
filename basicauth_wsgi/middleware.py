"""The ``BasicAuth`` WSGI middleware.

Puts a username and password in front of any WSGI application, without
touching the application's code::

    from basicauth_wsgi import BasicAuth
    app = BasicAuth(app, {"admin": "SuperSecretPwd"}, exclude=["/health"])

Every decision is the transport-free core's (:class:`~basicauth_wsgi.core.Gate`);
this module only reads the request's facts from the WSGI environ and turns
the decision into ``start_response`` calls (PEP 3333).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .adapter import FrontDoor
from .decide import PREFLIGHT, Check, Grant, Refusal, make_facts
from .responses import guard_challenge, preflight_header

if TYPE_CHECKING:
    from _typeshed.wsgi import (
        StartResponse,
        WSGIApplication,
        WSGIEnvironment,
    )


__all__ = ["BasicAuth"]


class BasicAuth(FrontDoor["WSGIApplication"]):
    """WSGI middleware requiring HTTP Basic authentication (RFC 7617).

    ``users`` is a mapping username -> plaintext password, a verifier (an
    object with ``verify(username, password)``) or a callable
    ``f(username, password)``; see :mod:`basicauth_wsgi.verifiers`. A truthy
    result authenticates; a result other than ``True`` is the principal.

    On success the application is called with ``REMOTE_USER`` (the
    username), ``AUTH_TYPE`` (``"Basic"``) and ``basicauth.user`` (the
    principal) set, and without ``HTTP_AUTHORIZATION`` when
    ``strip_authorization``. Otherwise the client gets a negotiated 401 with
    a ``WWW-Authenticate`` challenge, the same whatever went wrong; the
    reason is logged at WARNING on the ``basicauth_wsgi`` logger (or
    ``logger``), never with the password.

    Every option is checked here; a bad one raises ``ValueError`` or
    ``TypeError`` naming it.
    """

    kind = "WSGI"

    def _bind(self) -> None:
        # What every request reads, one attribute away.
        gate = self.gate
        # gate.run, in its two halves: one call fewer for what the decision
        # answers alone (a logged-in request).
        self._decide, self._complete = gate.decide, gate.complete
        self._unauthorized: WSGIApplication | None = self.settings.unauthorized
        self._anonymous = gate.anonymous if self._unauthorized is None else None
        self._require_https = self.settings.require_https
        self._strip = self.settings.strip_authorization

    # -- the request path ---------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        header = environ.get("HTTP_AUTHORIZATION")
        if header is None:
            if "basicauth.user" in environ:
                self._nested()
            if self._anonymous is not None:
                # The core's answer to every request without credentials,
                # when nothing else about the request could change it.
                return self._anonymous.page(environ, start_response)
        method: str = environ.get("REQUEST_METHOD", "GET")
        # PEP 3333: the request path is SCRIPT_NAME + PATH_INFO; checking
        # only PATH_INFO would let a mount point's split hide a path.
        script = environ.get("SCRIPT_NAME")
        path = environ.get("PATH_INFO", "")
        decision = self._decide(
            make_facts(
                (
                    header,
                    environ.get("REMOTE_ADDR") or "-",
                    method,
                    script + path if script else path,
                    # Read only when the core looks at it (require_https).
                    self._require_https and environ.get("wsgi.url_scheme") == "https",
                    method == "OPTIONS"
                    and "HTTP_ORIGIN" in environ
                    and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ,
                    None,
                )
            )
        )
        if type(decision) is Check:
            decision = self._complete(decision)  # a password to check: here, now
        # The one place the header is removed: the application never sees
        # a password, whatever it is answered.
        if header is not None and self._strip:
            del environ["HTTP_AUTHORIZATION"]
        if type(decision) is Grant:
            environ["REMOTE_USER"] = decision.username
            environ["AUTH_TYPE"] = "Basic"
            environ["basicauth.user"] = decision.principal
            return self.app(environ, start_response)
        if type(decision) is Refusal:
            refusal = decision
            if refusal.status == 401 and self._unauthorized is not None:
                return self._unauthorized(environ, self._guard_challenge(start_response))
            return refusal.page(environ, start_response, refusal.headers)
        if decision is PREFLIGHT:
            return self._preflight(environ, start_response)
        return self.app(environ, start_response)  # PUBLIC

    def _preflight(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        """Pass a CORS preflight, but only its status and CORS headers back.

        The request carried no credentials: an application that answers
        ``OPTIONS`` like ``GET`` must not leak its body or other headers.
        """

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            kept = [(n, v) for n, v in headers if preflight_header(n)]
            if status[:3] not in ("204", "304"):
                # An empty body of our own; RFC 9110 §8.6 forbids a length on
                # a 204 or 304, and wsgiref.validate wants a type elsewhere.
                kept += [("Content-Type", "text/plain"), ("Content-Length", "0")]
            start_response(status, kept, exc_info)
            return _discard

        return _Drained(self.app(environ, start))

    def _guard_challenge(self, start_response: StartResponse) -> StartResponse:
        """Wrap ``start_response`` so a custom 401 app still sends a 401 challenge."""
        challenge = self.settings.challenge

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            # A renderer that answered anything but 401 would defeat the
            # browser's password prompt and look like a success to clients.
            if not status.startswith("401"):
                status = "401 Unauthorized"
            return start_response(status, guard_challenge(headers, challenge), exc_info)

        return start


def _discard(data: bytes) -> None:
    """The ``write()`` of a preflight: the body never reaches the client."""


class _Drained:
    """An application's iterable, run to the end but yielding nothing; closed after."""

    __slots__ = ("_result",)

    def __init__(self, result: Iterable[bytes]) -> None:
        self._result = result

    def __iter__(self) -> Iterator[bytes]:
        for _ in self._result:
            pass
        return iter(())

    def close(self) -> None:
        close = getattr(self._result, "close", None)
        if close is not None:
            close()
