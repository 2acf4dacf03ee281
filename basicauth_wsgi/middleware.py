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
from .core import PREFLIGHT, Decision, Grant, Pending, Refusal

if TYPE_CHECKING:
    from _typeshed.wsgi import (
        StartResponse,
        WSGIApplication,  # noqa: F401 (the base's subscript)
        WSGIEnvironment,
    )


__all__ = ["BasicAuth"]

# RFC 9110 and the Fetch standard: what of an application's answer to a CORS
# preflight may reach the client when the preflight passed unauthenticated.
_PREFLIGHT_HEADERS = ("access-control-", "allow", "vary")


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
        self._begin = gate.begin
        self._finish = gate.finish
        self._anonymous = gate.anonymous
        self._needs_path = gate.needs_path
        self._require_https = gate.require_https
        self._challenge = gate.challenge

    # -- the request path ---------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        header = environ.get("HTTP_AUTHORIZATION")
        if header is None and self._anonymous is not None:
            # The core's answer to every request without credentials, when
            # nothing else about the request could change it.
            if self.unauthorized is None:
                return self._anonymous.page(environ, start_response)
            decision: Decision | Pending = self._anonymous
        else:
            method: str = environ.get("REQUEST_METHOD", "GET")
            decision = self._begin(
                header,
                environ.get("REMOTE_ADDR") or "-",
                method,
                # PEP 3333: the request path is SCRIPT_NAME + PATH_INFO; checking
                # only PATH_INFO would let a mount point's split hide a path.
                # Read when a decision depends on it (see Gate.needs_path).
                environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
                if self._needs_path
                else "",
                # Read only when the core looks at it (require_https).
                self._require_https and environ.get("wsgi.url_scheme") == "https",
                method == "OPTIONS"
                and "HTTP_ORIGIN" in environ
                and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ,
            )
            if decision.__class__ is Pending:
                if not self._needs_path:  # its log line names the path
                    decision.path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
                decision = self._finish(decision)  # a password to check: here, now
            # The one place the header is removed: the application never sees
            # a password, whatever it is answered.
            if header is not None and self.strip_authorization:
                del environ["HTTP_AUTHORIZATION"]
        if decision.__class__ is Grant:
            environ["REMOTE_USER"] = decision.username
            environ["AUTH_TYPE"] = "Basic"
            environ["basicauth.user"] = decision.principal
            return self.app(environ, start_response)
        if decision.__class__ is Refusal:
            if decision.status == 401 and self.unauthorized is not None:
                return self.unauthorized(environ, self._guard_challenge(start_response))
            return decision.page(environ, start_response, decision.headers)
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
            kept = [(n, v) for n, v in headers if n.lower().startswith(_PREFLIGHT_HEADERS)]
            if status[:3] not in ("204", "304"):
                # An empty body of our own; RFC 9110 §8.6 forbids a length on
                # a 204 or 304, and wsgiref.validate wants a type elsewhere.
                kept += [("Content-Type", "text/plain"), ("Content-Length", "0")]
            start_response(status, kept, exc_info)
            return _discard

        return _Drained(self.app(environ, start))

    def _guard_challenge(self, start_response: StartResponse) -> StartResponse:
        """Wrap ``start_response`` so a custom 401 app still sends a 401 challenge."""
        challenge = self._challenge

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            # RFC 9110 §15.5.2: a 401 MUST carry a WWW-Authenticate challenge;
            # a renderer that answered anything but 401 would also defeat the
            # browser's password prompt and look like a success to clients.
            if not status.startswith("401"):
                status = "401 Unauthorized"
            names = {name.lower() for name, _ in headers}
            headers = list(headers)
            if ("WWW-Authenticate", challenge) not in headers:
                headers.append(("WWW-Authenticate", challenge))
            if "cache-control" not in names:
                headers.append(("Cache-Control", "no-store"))
            return start_response(status, headers, exc_info)

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
