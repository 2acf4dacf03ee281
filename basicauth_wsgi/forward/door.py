"""What the forward-auth doors share: their options, the gate, and the answers to a proxy.

The WSGI service (:mod:`.wsgi`) and the ASGI one (:mod:`.asgi`) take the
same keywords, checked once by the option table, and only read headers and
send answers their own way::

    class ForwardAuth(ForwardDoor):
        def __call__(self, environ, start_response): ...   # read, ask the gate, answer
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..addresses import Networks, shown
from ..core import Gate
from ..decide import PUBLIC, Decision, Grant, Refusal
from ..options import FORWARD, check_keywords, from_environ
from ..responses import ErrorPage
from ..rules import GroupLookup
from ..settings import Settings
from .answers import Answer, Answers
from .facts import AUTO, ENVOY, FACT_HEADERS, NGINX, BadFacts, Reader, spelling

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack

    from ..settings import ForwardKeywords

__all__ = ["DEFAULT_GROUPS_HEADER", "DEFAULT_USER_HEADERS", "ForwardDoor"]

#: The identity headers of Authelia, oauth2-proxy and Caddy's documentation.
DEFAULT_USER_HEADERS = ("Remote-User", "X-Forwarded-User")
DEFAULT_GROUPS_HEADER = "Remote-Groups"

# The options of the forward-auth door itself; the others go to Settings.
_OWN = ("trusted_proxies", "style", "user_headers", "groups_header", "path_prefix")

#: Seconds between two lines about one peer that is not a trusted proxy.
UNTRUSTED_LOG_INTERVAL = 60.0
_UNTRUSTED_MAX = 1024  # peers remembered for that, at most (then forgotten at once)


class ForwardDoor:
    """The options of ``ForwardAuth``, validated once, and what every request uses.

    ``trusted_proxies`` (required) are the peers whose facts are believed;
    every other keyword is an option of ``BasicAuth`` that decides (realm,
    exclude/include, rules/groups, throttle, cache, max_concurrent_checks,
    require_https, logger) or of forward-auth (``style``, ``user_headers``,
    ``groups_header``, ``path_prefix``). A bad one is a ``ValueError`` or
    ``TypeError`` naming it. ``clock`` spaces the untrusted-peer lines.
    """

    kind = "WSGI"

    def __init__(
        self,
        users: object,
        *,
        trusted_proxies: Networks | str | Iterable[str],
        clock: Callable[[], float] = time.monotonic,
        **options: Unpack[ForwardKeywords],
    ) -> None:
        given = check_keywords({"trusted_proxies": trusted_proxies, **options}, door=FORWARD)
        own = {name: given.pop(name) for name in _OWN if name in given}
        self.settings = settings = Settings(users, **given)
        self.logger = settings.logger
        self.trusted: Networks = own["trusted_proxies"]
        self.style: str = own.get("style", AUTO)
        self.user_headers: tuple[str, ...] = own.get("user_headers", DEFAULT_USER_HEADERS)
        self.groups_header: str | None = own.get("groups_header", DEFAULT_GROUPS_HEADER)
        self.path_prefix: str = own.get("path_prefix", "")
        if self.path_prefix and self.style != ENVOY:
            raise ValueError("path_prefix is Envoy's: it needs style='envoy'")
        self.gate = Gate(settings)
        self.reader = Reader(self.style, self.trusted, self.path_prefix)
        self.answers = Answers(self.user_headers, self.groups_header, self._groups_lookup())
        names = [*FACT_HEADERS, *self.user_headers, self.groups_header or ""]
        #: Every header a client could smuggle a fact or an identity through,
        #: spelled as their aliases share (:func:`.facts.spelling`).
        self.watched = frozenset(spelling(name) for name in names if name)
        self._untrusted_page = ErrorPage(
            403, "forbidden", "This service answers only the proxies it trusts (trusted_proxies)."
        )
        self._bad_pages: dict[str, ErrorPage] = {}
        self._clock = clock
        self._lock = threading.Lock()
        self._logged: dict[str, float] = {}
        self._bind()

    def _bind(self) -> None:
        """Prepare what the transport reads per request (a subclass's hook)."""

    def _groups_lookup(self) -> Callable[[str, object], Iterable[str]] | None:
        """Where ``Remote-Groups`` comes from: the principal's groups, else ``groups=``."""
        settings = self.settings
        groups = settings.groups
        static = groups if isinstance(groups, GroupLookup) else None
        if groups is not None and static is None and self.groups_header is not None:
            self.logger.warning(
                "forward-auth: %r has no groups_of(username), so %s is sent empty",
                groups,
                self.groups_header,
            )
        carried = settings.capabilities.provides_groups
        if static is None and not carried:
            return None

        def groups_of(username: str, principal: object) -> Iterable[str]:
            found = getattr(principal, "groups", None) if carried else None
            if found is not None:
                return [g for g in found if isinstance(g, str)]
            return static.groups_of(username) if static is not None else ()

        return groups_of

    # -- answers ------------------------------------------------------------------

    def decided(
        self,
        decision: Decision,
        accept: str | None,
        content_type: str | None,
        method: str,
        nginx: bool,
    ) -> Answer:
        """The answer to the proxy for the core's decision; ``method`` is the asking request's own.

        A ``HEAD`` gets no body (RFC 9110 §9.3.2); nginx and Traefik ask with
        ``GET`` whatever the client's method, and must get the body their
        ``Content-Length`` announces.
        """
        if decision.__class__ is Grant:
            return self.answers.grant(decision.username, decision.principal)
        if decision is PUBLIC:
            return self.answers.public
        refusal: Refusal = decision  # type: ignore[assignment]
        return self.answers.refuse(refusal, accept, content_type, method, nginx)

    def untrusted(self, peer: str, accept: str | None, method: str | None) -> Answer:
        """403 to a peer outside ``trusted_proxies``; logged once a minute per peer at most."""
        address = shown(peer) if peer else "-"
        now = self._clock()
        with self._lock:
            last = self._logged.get(address)
            due = last is None or now - last >= UNTRUSTED_LOG_INTERVAL
            if due:
                if len(self._logged) >= _UNTRUSTED_MAX:
                    self._logged.clear()  # bounded: a peer may be named again, sooner
                self._logged[address] = now
        if due:
            self.logger.warning(
                "forward-auth request from %s refused (403): not one of trusted_proxies (%s)",
                address,
                ", ".join(str(n) for n in self.trusted),
            )
        return self.answers.page(self._untrusted_page, (), accept, None, method, False)

    def bad(self, bad: BadFacts, peer: str, accept: str | None, method: str | None) -> Answer:
        """400 for facts that cannot be believed; one line naming why (never a value)."""
        self.logger.warning(
            "forward-auth request refused (400): reason=%s proxy=%s", bad.reason, shown(peer)
        )
        page = self._bad_pages.get(bad.reason)
        if page is None:  # one per reason: the reasons are this package's few words
            page = self._bad_pages[bad.reason] = ErrorPage(
                400, "bad_request", f"The proxy's request cannot be believed: {bad.message}."
            )
        return self.answers.page(page, (), accept, None, method, bad.nginx)

    def alias(self, original_uri: str | None) -> BadFacts:
        """Why a request with a header alias is refused (a client's, passed on by the proxy)."""
        nginx = self.style == NGINX or (self.style == AUTO and original_uri is not None)
        return BadFacts(
            "header_alias",
            "a forwarded or identity header was sent under another spelling ('_' or '.')",
            nginx,
        )

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ, **options: Any) -> Self:
        """Build the service from ``BASICAUTH_*`` variables (SPEC §8, §11).

        ``BASICAUTH_HTPASSWD`` (or ``BASICAUTH_USERS``) and
        ``BASICAUTH_TRUSTED_PROXIES`` are required; keyword ``options`` win.
        A bad or unknown variable is a ``ValueError`` naming it.
        """
        settings = from_environ(environ, require_users="users" not in options, door=FORWARD)
        merged = {**settings, **options}
        if "trusted_proxies" not in merged:
            raise ValueError(
                "BASICAUTH_TRUSTED_PROXIES is required: the proxies that ask (IP addresses, "
                "CIDR networks)"
            )
        return cls(**merged)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} style={self.style} trusted_proxies={self.trusted!r} "
            f"realm={self.settings.realm!r}>"
        )
