"""The ``BasicAuth`` WSGI middleware.

Puts a username and password in front of any WSGI application, without
touching the application's code::

    from basicauth_wsgi import BasicAuth
    app = BasicAuth(app, {"admin": "SuperSecretPwd"}, exclude=["/health"])

The constructor validates and compiles every option; ``__call__`` is short
plumbing around the pure functions of :mod:`basicauth_wsgi.header`,
:mod:`basicauth_wsgi.paths` and :mod:`basicauth_wsgi.responses`.
"""

from __future__ import annotations

import enum
import ipaddress
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .cache import CachedResult, VerificationCache
from .header import build_challenge, split_credentials
from .paths import PathList, path_readings, quote_path
from .responses import ErrorPage
from .rules import Groups, Rule, as_groups
from .throttle import Throttle, Verdict
from .verifiers import PlainUsers, as_verifier

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["BasicAuth"]

# The one logger of the library; fail2ban-style tools read its WARNING lines.
_default_logger = logging.getLogger("basicauth_wsgi")

# Verified plaintext-store headers remembered at most (cleared when full).
_KNOWN_HEADERS = 1024

_UNAUTHORIZED_MESSAGE = (
    "This resource requires a username and password (HTTP Basic authentication)."
)


class _Default(enum.Enum):
    """The "not given" marker for options whose default depends on others."""

    token = 0


def _is_loopback(address: str | None) -> bool:
    """Return whether ``address`` (``REMOTE_ADDR``) is a loopback address."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def _full_path(environ: WSGIEnvironment) -> str:
    # PEP 3333: the request path is SCRIPT_NAME + PATH_INFO; checking only
    # PATH_INFO would let a mount point's split hide a protected path.
    path: str = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    return path


def _log_path(environ: WSGIEnvironment) -> str:
    # Percent-encoded again: CR/LF and friends never reach the log.
    return quote_path(_full_path(environ))


class BasicAuth:
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

    def __init__(
        self,
        app: WSGIApplication,
        users: object,
        *,
        realm: str = "Restricted area",
        exclude: Iterable[str] = (),
        include: Iterable[str] | None = None,
        allow_cors_preflight: bool = True,
        rules: Iterable[Rule] = (),
        groups: Mapping[str, Iterable[str]] | Groups | None = None,
        throttle: Throttle | _Default | None = _Default.token,
        cache: VerificationCache | _Default | None = _Default.token,
        require_https: bool = False,
        strip_authorization: bool = True,
        unauthorized: WSGIApplication | None = None,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    ) -> None:
        if not callable(app):
            raise TypeError(f"app must be a WSGI application (callable), got {app!r}")
        self.app = app
        self.verifier = as_verifier(users)
        self._verify = self.verifier.verify
        if cache is _Default.token:
            cache = (
                VerificationCache() if getattr(self.verifier, "cache_by_default", False) else None
            )
        if cache is not None and not isinstance(cache, VerificationCache):
            raise TypeError(f"cache must be a VerificationCache or None, got {cache!r}")
        self.cache = cache
        # Headers already verified against a plaintext store, by value: the
        # passwords they carry are the store's own, already in memory, and
        # the store never changes, so a hit can skip parsing and checking.
        # Any other store goes through the cache's keyed hash instead.
        self._known: dict[str, CachedResult] | None = (
            {} if cache is None and type(self.verifier) is PlainUsers else None
        )
        # A store that can change (a reloading file) says so by a generation
        # number; the cache forgets everything when it moves.
        self._generational = hasattr(self.verifier, "generation")
        if not isinstance(realm, str):
            raise TypeError(f"realm must be str, got {realm!r}")
        try:
            self.challenge = build_challenge(realm)
        except ValueError as exc:
            raise ValueError(f"realm: {exc}") from None
        self.realm = realm
        self.exclude = PathList(exclude, option="exclude")
        if "/" in self.exclude.patterns:
            raise ValueError("exclude: '/' would leave every path public")
        self.include = None if include is None else PathList(include, option="include")
        if self.include is not None and not self.include:
            raise ValueError("include is empty: it would protect nothing (omit it to protect all)")
        for name, value in (
            ("allow_cors_preflight", allow_cors_preflight),
            ("require_https", require_https),
            ("strip_authorization", strip_authorization),
        ):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be True or False, got {value!r}")
        self.allow_cors_preflight = allow_cors_preflight
        self.require_https = require_https
        self.strip_authorization = strip_authorization
        if unauthorized is not None and not callable(unauthorized):
            raise TypeError(f"unauthorized must be a WSGI application, got {unauthorized!r}")
        self.unauthorized = unauthorized
        if logger is not None and not isinstance(logger, (logging.Logger, logging.LoggerAdapter)):
            raise TypeError(f"logger must be a logging.Logger, got {logger!r}")
        self.logger = logger if logger is not None else _default_logger
        # With no path lists every path is protected: skip path work entirely.
        self._path_rules = bool(self.exclude) or self.include is not None
        if throttle is _Default.token:
            throttle = Throttle()
        if throttle is not None and not isinstance(throttle, Throttle):
            raise TypeError(f"throttle must be a Throttle or None, got {throttle!r}")
        self.throttle = throttle
        if isinstance(rules, (str, Rule)):
            raise TypeError(f"rules must be a list of Rule, got {rules!r}")
        self.rules = tuple(rules)
        for rule in self.rules:
            if not isinstance(rule, Rule):
                raise TypeError(f"rules must be a list of Rule, got {rule!r}")
        self.groups = None if groups is None else as_groups(groups)
        named = sorted({g for rule in self.rules for g in rule.groups})
        if named and self.groups is None:
            raise ValueError(f"rules name groups {named} but no groups were given")
        missing = [g for g in named if self.groups is not None and g not in self.groups]
        if missing:
            raise ValueError(f"rules name groups that do not exist: {missing}")
        for rule in self.rules:
            if not self._is_protected(rule.path):
                raise ValueError(
                    f"{rule!r} is for a public path (see exclude/include): it would never apply"
                )

        self._page_401 = ErrorPage(
            401, "unauthorized", _UNAUTHORIZED_MESSAGE, [("WWW-Authenticate", self.challenge)]
        )
        self._page_https = ErrorPage(
            403, "https_required", "HTTPS required: credentials must not travel in clear text."
        )
        self._page_500 = ErrorPage(
            500, "internal_error", "The server could not check your credentials; try again later."
        )
        self._page_403 = ErrorPage(
            403, "forbidden", "You are authenticated, but not allowed to do this."
        )
        self._page_429 = ErrorPage(
            429, "too_many_requests", "Too many failed login attempts; try again later."
        )

    # -- the request path -------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self._path_rules and not self._is_protected(_full_path(environ)):
            return self._public(environ, start_response)
        if (
            self.allow_cors_preflight
            and environ.get("REQUEST_METHOD") == "OPTIONS"
            and "HTTP_ORIGIN" in environ
            and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ
        ):
            # Fetch §3.7: a CORS preflight never carries credentials, so
            # challenging it would break every cross-origin client.
            return self._public(environ, start_response)
        if (
            self.require_https
            and environ.get("wsgi.url_scheme") != "https"
            and not _is_loopback(environ.get("REMOTE_ADDR"))
        ):
            return self._page_https(environ, start_response)

        header = environ.get("HTTP_AUTHORIZATION")
        if header is None:
            # Not a failure: browsers ask first, then prompt (RFC 9110 §11.6.1).
            # No password to check either, so the throttle has nothing to save.
            if self.unauthorized is None:
                return self._page_401(environ, start_response)
            return self._challenge(environ, start_response)
        throttle = self.throttle
        client: str = environ.get("REMOTE_ADDR") or "-"
        if throttle is not None:
            verdict = throttle.check_client(client)
            if verdict is not None:
                return self._throttled(environ, start_response, verdict)

        cache = self.cache
        hit = self._known.get(header) if self._known is not None else None
        if hit is None and cache is not None:
            # The header, not the parsed credentials, is the key: a hit skips
            # parsing as well as the hash check.
            generation = self.verifier.generation if self._generational else None  # type: ignore[attr-defined]
            key = cache.key(header)
            hit = cache.get(key, generation)
        if hit is not None:
            username, principal = hit.username, hit.principal
        else:
            credentials = split_credentials(header)
            if credentials is None:
                basic = header.lstrip()[:6].lower() == "basic "
                reason = "malformed" if basic else "unsupported_scheme"
                return self._fail(environ, start_response, client, None, reason)
            username, password = credentials
        if throttle is not None:
            # Before the password is checked: a blocked key costs no CPU.
            verdict = throttle.check_user(client, username)
            if verdict is not None:
                return self._throttled(environ, start_response, verdict)
        if hit is None:
            try:
                result = self._verify(username, password)
            except Exception:
                self.logger.exception(
                    "verifier raised: user=%r client=%s path=%s",
                    username,
                    client,
                    _log_path(environ),
                )
                return self._page_500(environ, start_response)
            principal = (username if result is True else result) if result else None
            if cache is not None:
                cache.put(key, username, principal, generation)
            elif self._known is not None and principal is not None:
                if len(self._known) >= _KNOWN_HEADERS:
                    self._known.clear()
                self._known[header] = CachedResult(username, principal, 0.0)
        if principal is None:
            reason = self._failure_reason(username)
            return self._fail(environ, start_response, client, username, reason)
        if throttle is not None:
            throttle.success(client, username)
        if self.rules and not self._authorized(environ, username):
            self.logger.warning(
                "authorization refused: user=%r client=%s method=%s path=%s",
                username,
                client,
                environ.get("REQUEST_METHOD", "-"),
                _log_path(environ),
            )
            if self.strip_authorization:
                del environ["HTTP_AUTHORIZATION"]
            return self._page_403(environ, start_response)

        environ["REMOTE_USER"] = username
        environ["AUTH_TYPE"] = "Basic"
        environ["basicauth.user"] = principal
        if self.strip_authorization:
            del environ["HTTP_AUTHORIZATION"]
        return self.app(environ, start_response)

    def _authorized(self, environ: WSGIEnvironment, username: str) -> bool:
        """Return whether the rules let ``username`` make this request.

        The first rule matching the path and method decides; no match
        allows. As for ``exclude``, every reading of the path must allow it.
        """
        # Frameworks upper-case the method before dispatching (werkzeug and
        # Django do), so "delete" must meet a DELETE rule.
        method = environ.get("REQUEST_METHOD", "GET").upper()
        for reading in path_readings(_full_path(environ)):
            for rule in self.rules:
                if rule.matches(reading, method):
                    if not rule.allows(username, self.groups):
                        return False
                    break
        return True

    def _throttled(
        self, environ: WSGIEnvironment, start_response: StartResponse, verdict: Verdict
    ) -> Iterable[bytes]:
        # RFC 6585 §4: 429 with Retry-After; no challenge, since retrying
        # with other credentials now would not help.
        if self.strip_authorization:
            environ.pop("HTTP_AUTHORIZATION", None)
        return self._page_429(environ, start_response, [("Retry-After", str(verdict.retry_after))])

    def _is_protected(self, path: str) -> bool:
        """Return whether any reading of ``path`` needs credentials."""
        include, exclude = self.include, self.exclude
        for reading in path_readings(path):
            if (include is None or include.matches(reading)) and not exclude.matches(reading):
                return True
        return False

    def _public(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # The application never sees a password it did not ask for.
        if self.strip_authorization:
            environ.pop("HTTP_AUTHORIZATION", None)
        return self.app(environ, start_response)

    def _failure_reason(self, username: str) -> str:
        has_user: Callable[[str], bool] | None = getattr(self.verifier, "has_user", None)
        if has_user is None:
            return "invalid_credentials"
        try:
            return "wrong_password" if has_user(username) else "unknown_user"
        except Exception:
            return "invalid_credentials"

    def _fail(
        self,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        client: str,
        username: str | None,
        reason: str,
    ) -> Iterable[bytes]:
        # One line per failure, in a fixed shape fail2ban can match. repr()
        # escapes CR/LF and every other non-printable character, so a
        # username cannot forge a log line.
        path = _log_path(environ)
        self.logger.warning(
            "authentication failed: user=%r client=%s reason=%s path=%s",
            username,
            client,
            reason,
            path,
        )
        if self.throttle is not None:
            for blocked in self.throttle.failure(client, username):
                # Once, when the key becomes blocked; the 429s that follow
                # are not logged, so an attack cannot flood the log.
                self.logger.warning(
                    "authentication blocked: user=%r client=%s reason=%s_limit path=%s",
                    username,
                    client,
                    blocked.limit,
                    path,
                )
        return self._challenge(environ, start_response)

    def _challenge(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        if self.strip_authorization:
            environ.pop("HTTP_AUTHORIZATION", None)
        if self.unauthorized is None:
            return self._page_401(environ, start_response)
        return self.unauthorized(environ, self._guard_challenge(start_response))

    def _guard_challenge(self, start_response: StartResponse) -> StartResponse:
        """Wrap ``start_response`` so a custom 401 app still sends a 401 challenge."""
        challenge = self.challenge

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

    def __repr__(self) -> str:
        return f"<BasicAuth realm={self.realm!r} app={self.app!r}>"
