"""Deciding: the order of checks, once, for every front door, as steps that never schedule.

This is the security property of the product: which request reaches the
application, and which gets which refusal. It knows no transport and no
threads: a front door hands :meth:`Decider.decide` the facts of a request
(:class:`Facts`) and gets back a decision, or a :class:`Check` for the
scheduler (:mod:`.schedule`) when a password must be verified or a store
asked::

    step = decider.decide(Facts(header, client, "GET", "/private", False, False))
    if step is PUBLIC: ...                      # let through, no user
    elif isinstance(step, Refusal): ...         # answer step.page
    elif isinstance(step, Check): ...           # the scheduler's: see schedule.py
    else: step.username, step.principal         # a Grant

:meth:`Decider.decide` never blocks: no lock is held across I/O, no store
is asked over the network (a question only a store can answer comes back
as a ``LOOKUP`` check). The other steps (:meth:`~Decider.resume`,
:meth:`~Decider.count`, :meth:`~Decider.reserve`, :meth:`~Decider.settle`)
may wait on a store; the scheduler runs them where that is allowed. Every
failure, block and authorization line is written by :meth:`Decider._log`,
the one place (and the one place a metrics hook goes).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import Any, NamedTuple

from .addresses import is_loopback, shown
from .cache import CachedResult, bind_results
from .header import split_credentials
from .paths import path_readings, quote_path
from .responses import ErrorPage, Pages
from .rules import principal_groups
from .settings import Settings
from .throttle import StoreFailure, StoreLookup, Ticket, Verdict
from .verifiers import BackendUnavailable

__all__ = [
    "COUNT",
    "LOOKUP",
    "PREFLIGHT",
    "PUBLIC",
    "TRUST",
    "VERIFY",
    "Check",
    "Decider",
    "Decision",
    "Facts",
    "Grant",
    "Refusal",
    "make_facts",
]


class Facts(NamedTuple):
    """What a front door knows of a request, read once (the core needs nothing else).

    ``path`` is the full request path as a WSGI server decodes it
    (``SCRIPT_NAME + PATH_INFO``, latin-1 text of the bytes); ``other_path``
    a second reading when the server handed two that differ (ASGI's
    ``path`` beside ``raw_path``), or ``None``. ``client`` is the peer
    address (``"-"`` if unknown); ``preflight`` whether this is an
    ``OPTIONS`` request with ``Origin`` and ``Access-Control-Request-Method``.
    """

    header: str | None
    client: str
    method: str
    path: str
    https: bool
    preflight: bool
    other_path: str | None = None


#: ``make_facts((header, client, method, path, https, preflight, other_path))``:
#: a :class:`Facts` from its seven values in order, without the Python-level
#: ``NamedTuple.__new__`` (half the cost: a front door makes one per request).
make_facts = functools.partial(tuple.__new__, Facts)


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: Let the request through without authentication (a public path).
PUBLIC = _Marker("PUBLIC")
#: Let a CORS preflight through: only its status and CORS headers reach the client.
PREFLIGHT = _Marker("PREFLIGHT")

#: An authenticated request: ``username`` and ``principal``.
Grant = CachedResult


class Refusal(NamedTuple):
    """A request that does not reach the application, and the page that answers it."""

    status: int  # 401, 403, 429, 500 or 503
    page: ErrorPage
    headers: tuple[tuple[str, str], ...]
    reason: str


#: The kinds of :class:`Check`: verify a password; count a failure known
#: without one; decide again, asking the throttle store; write a logged-in
#: pair's trust (the answer is known).
VERIFY, COUNT, LOOKUP, TRUST = "verify", "count", "lookup", "trust"


class Check(NamedTuple):
    """Work the decision needs done before it is final: the scheduler's, by ``kind``.

    ``VERIFY``: check ``password`` for ``username``; ``ticket`` (if not
    ``None``) is where the cache remembers the result, and names the
    credentials for single-flight; ``trusted`` says the throttle trusts the
    (client, user) pair. ``COUNT``: count a failure known without a check
    (``reason`` its log reason, or ``None`` to ask the store whether the
    user exists). ``LOOKUP``: decide again with :meth:`Decider.resume`,
    which may ask the store. ``TRUST``: write the pair's trust, then answer
    ``answer``.
    """

    kind: str
    facts: Facts
    username: str | None = None
    password: str = ""
    ticket: Hashable | None = None
    trusted: bool = False
    reason: str | None = None
    answer: Decision | None = None


Decision = _Marker | Refusal | CachedResult

UNAUTHORIZED_MESSAGE = "This resource requires a username and password (HTTP Basic authentication)."

#: Seconds between two log lines about one kind of outage.
OUTAGE_LOG_INTERVAL = 60.0


class Decider:
    """The order of checks for one set of :class:`~basicauth_wsgi.settings.Settings`.

    Thread-safe: it keeps no per-request state; what it shares (the cache,
    the throttle) is thread-safe. ``clock`` spaces the outage log lines.
    """

    def __init__(self, settings: Settings, clock: Any = None) -> None:
        import time

        self.settings = settings
        caps = settings.capabilities
        self._verify = settings.verifier.verify
        self._has_user = caps.has_user
        #: How the throttle names a user: as typed, or the store's common form.
        self.throttle_name: Callable[[str], str] = caps.username_key or _as_typed
        self._exact_names = caps.username_key is None
        self.results = bind_results(settings.cache, caps.generation, caps.secrets_in_memory)
        self._throttle = settings.throttle
        self._rules = settings.rules
        self._groups = settings.groups
        self._principal_groups = settings.groups is None and caps.provides_groups
        self._path_lists = settings.path_lists
        self._allow_preflight = settings.allow_cors_preflight
        self._require_https = settings.require_https
        self._screens = self._path_lists or self._allow_preflight or self._require_https
        self.logger = settings.logger
        self._metrics = settings.metrics
        self._clock = clock or time.monotonic
        self._logged: dict[str, float] = {}
        self.pages = pages = Pages(settings.challenge)
        self._missing = Refusal(401, pages.unauthorized, (), "missing")
        self._https = Refusal(403, pages.https_required, (), "https_required")
        self._forbidden = Refusal(403, pages.forbidden, (), "forbidden")
        self._error = Refusal(500, pages.error, (), "verifier_raised")
        #: The 503 for a request that found no check slot in time.
        self.overloaded = Refusal(503, pages.overloaded, (("Retry-After", "1"),), "overloaded")
        self._store_down = Refusal(503, pages.unavailable, (("Retry-After", "1"),), "unavailable")
        #: What :meth:`decide` answers every request without credentials when
        #: no path list, preflight or HTTPS rule could change it (else
        #: ``None``): a front door may answer it without reading the request.
        self.anonymous: Refusal | None = None if self._screens else self._missing
        #: Whether a decision depends on the path (path lists, rules).
        self.needs_path = self._path_lists or bool(self._rules)

    # -- the decision step: never blocks ---------------------------------------

    def resume(self, check: Check) -> Decision | Check:
        """Decide a ``LOOKUP`` again, asking the throttle store (may block on its I/O)."""
        return self.decide(check.facts, True)

    def decide(self, facts: Facts, ask_store: bool = False) -> Decision | Check:
        """The order of checks, up to what needs a password check.

        Without ``ask_store`` (always, but from :meth:`resume`) it never
        blocks: a question only the throttle store can answer comes back as
        a ``LOOKUP`` check.
        """
        if self._screens:
            if self._path_lists and not self.protects(facts):
                return PUBLIC
            if facts.preflight and self._allow_preflight:
                # Fetch §3.7: a CORS preflight never carries credentials, so
                # challenging it would break every cross-origin client.
                return PREFLIGHT
            if self._require_https and not facts.https and not is_loopback(facts.client):
                return self._https
        header = facts.header
        if header is None:
            # Not a failure: browsers ask first, then prompt (RFC 9110 §11.6.1).
            # No password to check either, so the throttle has nothing to save.
            return self._missing
        # The header, not the parsed credentials, is the key: a hit skips
        # parsing as well as the hash check.
        results = self.results
        hit = results.get(header) if results is not None else None
        throttle = self._throttle
        if hit is not None and hit.principal is not None:
            # The request path of a logged-in user: its limits, the rules,
            # and now and then its trust to write again (TRUST).
            answer: Decision = self._authorize(facts, hit) if self._rules else hit
            if throttle is None:
                return answer
            try:
                name = hit.username if self._exact_names else self.throttle_name(hit.username)
                verdict = throttle.granted(facts.client, name, ask_store, header=header)
            except StoreLookup:
                return Check(LOOKUP, facts)
            except StoreFailure as failure:
                return self._store_failed(failure)
            if verdict is None:
                return answer
            if verdict is True:  # not blocked, and the pair's trust is due again
                return Check(TRUST, facts, hit.username, answer=answer)
            return self._blocked(verdict)
        try:
            if throttle is not None:
                verdict = throttle.check_client(facts.client)
                if verdict is not None:
                    return self._blocked(verdict)
            if hit is not None:
                # A refusal remembered: a failure to count, nothing to check.
                return Check(COUNT, facts, hit.username)
            credentials = split_credentials(header)
            if credentials is None:
                basic = header.lstrip()[:6].lower() == "basic "
                return Check(COUNT, facts, reason="malformed" if basic else "unsupported_scheme")
            username, password = credentials
            trusted = False
            if throttle is not None:
                # Before the password is checked: a blocked key costs no CPU.
                name = self.throttle_name(username)
                verdict = throttle.check_user(facts.client, name, ask_store, password)
                if verdict is not None:
                    return self._blocked(verdict)
                trusted = throttle.trusts(facts.client, name)
        except StoreLookup:
            return Check(LOOKUP, facts)
        except StoreFailure as failure:
            return self._store_failed(failure)
        ticket = results.ticket(header) if results is not None else None
        return Check(VERIFY, facts, username, password, ticket, trusted)

    def protects(self, facts: Facts) -> bool:
        """Return whether any reading of the request's path needs credentials."""
        protects = self.settings.protects
        if any(protects(reading) for reading in path_readings(facts.path)):
            return True
        other = facts.other_path
        return other is not None and any(protects(r) for r in path_readings(other))

    # -- settling: may block on the throttle store -------------------------------

    def trust(self, check: Check) -> None:
        """``TRUST``: write the pair's trust in the store (at most once an hour a pair)."""
        assert self._throttle is not None and check.username is not None
        try:
            self._throttle.success(check.facts.client, self.throttle_name(check.username))
        except StoreFailure as failure:
            # The login stands; only its 24-hour trust was not refreshed.
            self._store_failed(failure)

    def count(self, check: Check) -> Refusal:
        """``COUNT``: count a failure known without a password check, and refuse it."""
        facts = check.facts
        blocked: tuple[Verdict, ...] = ()
        throttle = self._throttle
        if throttle is not None:
            try:
                name = None if check.username is None else self.throttle_name(check.username)
                reserved = throttle.reserve(facts.client, name, None, facts.header)
                if isinstance(reserved, Verdict):
                    return self._blocked(reserved)
                blocked = throttle.settle(reserved, False)
            except StoreFailure as failure:
                return self._store_failed(failure)
        reason = check.reason or self._reason(check.username)
        return self._failed(facts, check.username, reason, blocked)

    def reserve(self, check: Check) -> Ticket | Refusal | None:
        """``VERIFY``, before the hash: count the attempt; a Refusal if blocked."""
        throttle = self._throttle
        if throttle is None:
            return None
        facts = check.facts
        try:
            assert check.username is not None
            name = self.throttle_name(check.username)
            reserved = throttle.reserve(facts.client, name, check.password, facts.header)
        except StoreFailure as failure:
            return self._store_failed(failure)
        if isinstance(reserved, Verdict):
            return self._blocked(reserved)
        return reserved

    def settle(self, check: Check, ticket: Ticket | None, result: object) -> Decision:
        """``VERIFY``, after the hash: remember, settle the count, log, apply the rules."""
        username = check.username
        assert username is not None
        principal = (username if result is True else result) if result else None
        if self.results is not None and check.ticket is not None:
            self.results.remember(check.ticket, username, principal)
        if principal is None:
            blocked = self._finish(ticket, False)
            return self._failed(check.facts, username, self._reason(username), blocked)
        self._finish(ticket, True)
        return self._authorize(check.facts, CachedResult(username, principal, 0.0))

    def unavailable(
        self, check: Check, ticket: Ticket | None, failure: BackendUnavailable
    ) -> Refusal:
        """The verifier's backend is down: a 503, not a failure, nothing cached."""
        self._finish(ticket, None)
        self._outage("backend", "user store unavailable: %s; answering 503", failure)
        return Refusal(
            503,
            self.pages.unavailable,
            (("Retry-After", str(failure.retry_after)),),
            "unavailable",
        )

    def crashed(self, check: Check, ticket: Ticket | None, error: BaseException) -> Refusal:
        """The verifier raised: a 500, logged with its traceback; never a pass."""
        self._finish(ticket, None)
        self.logger.error(
            "verifier raised: user=%r client=%s path=%s",
            check.username,
            _client(check.facts.client),
            quote_path(check.facts.path),
            exc_info=error,
        )
        return self._error

    def _finish(self, ticket: Ticket | None, ok: bool | None) -> tuple[Verdict, ...]:
        """Settle a counted attempt: ``True`` success, ``False`` failure, ``None`` neither."""
        if ticket is None:
            return ()
        assert self._throttle is not None
        try:
            if ok is None:
                self._throttle.cancel(ticket)
                return ()
            return self._throttle.settle(ticket, ok)
        except StoreFailure as failure:
            # The password was checked; a store that fails to record the
            # outcome costs a refund or a trust, never the answer.
            self._store_failed(failure)
            return ()

    # -- pieces ---------------------------------------------------------------

    def _authorize(self, facts: Facts, hit: CachedResult) -> Decision:
        if self._rules and not self._authorized(facts, hit):
            self._log(
                "authorization refused: user=%r client=%s method=%s path=%s",
                hit.username,
                _client(facts.client),
                facts.method or "-",
                quote_path(facts.path),
            )
            return self._forbidden
        return hit

    def _authorized(self, facts: Facts, hit: CachedResult) -> bool:
        """The first rule matching the path and method decides; no match allows.

        As for ``exclude``, every reading of the path must allow it.
        """
        username = hit.username
        groups = (
            principal_groups(username, hit.principal) if self._principal_groups else self._groups
        )
        # Frameworks upper-case the method before dispatching (werkzeug and
        # Django do), so "delete" must meet a DELETE rule.
        method = (facts.method or "GET").upper()
        readings = path_readings(facts.path)
        if facts.other_path is not None:
            readings += path_readings(facts.other_path)
        for reading in readings:
            for rule in self._rules:
                if rule.matches(reading, method):
                    if not rule.allows(username, groups):
                        return False
                    break
        return True

    def _reason(self, username: str | None) -> str:
        if username is None:
            return "malformed"
        if self._has_user is None:
            return "invalid_credentials"
        try:
            return "wrong_password" if self._has_user(username) else "unknown_user"
        except Exception:  # only a log word depends on it
            return "invalid_credentials"

    def _blocked(self, verdict: Verdict) -> Refusal:
        # RFC 6585 §4: 429 with Retry-After; no challenge, since retrying
        # with other credentials now would not help. Not logged: the block
        # was logged once when it began.
        return Refusal(
            429,
            self.pages.throttled(verdict.retry_after),
            (("Retry-After", str(verdict.retry_after)),),
            f"{verdict.limit}_limit",
        )

    def _store_failed(self, failure: StoreFailure) -> Refusal:
        # A store that logs its own outages (RedisStore) says so; any other
        # failure is logged here, once a minute, with what caused it.
        if not failure.logged:
            self._outage(
                "store",
                "throttle store failed; answering 503 until it recovers",
                exc_info=failure.__cause__ or failure,
            )
        return self._store_down

    def _outage(self, kind: str, message: str, *args: object, exc_info: Any = None) -> None:
        """Log an outage line, at most once a minute per kind: never one per request."""
        now = self._clock()
        if now - self._logged.get(kind, -OUTAGE_LOG_INTERVAL) >= OUTAGE_LOG_INTERVAL:
            self._logged[kind] = now
            self.logger.error(message, *args, exc_info=exc_info)

    # -- the one place that writes refusal lines --------------------------------

    def _failed(
        self,
        facts: Facts,
        username: str | None,
        reason: str,
        blocked: tuple[Verdict, ...],
    ) -> Refusal:
        # One line per failure, in a fixed shape fail2ban can match. repr()
        # escapes CR/LF and every other non-printable character, so a
        # username cannot forge a log line; the path is percent-encoded and
        # the client is an IP address's canonical text.
        shown_path = quote_path(facts.path)
        client = _client(facts.client)
        self._log(
            "authentication failed: user=%r client=%s reason=%s path=%s",
            username,
            client,
            reason,
            shown_path,
        )
        for verdict in blocked:
            # Once, when the key becomes blocked; the 429s that follow are
            # not logged, so an attack cannot flood the log.
            self._log(
                "authentication blocked: user=%r client=%s reason=%s_limit path=%s",
                username,
                client,
                verdict.limit,
                shown_path,
            )
            if self._metrics is not None:
                self._metrics.block(verdict.limit)
        return Refusal(401, self.pages.unauthorized, (), reason)

    def _log(self, message: str, *args: object) -> None:
        self.logger.warning(message, *args)

    def __repr__(self) -> str:
        return f"<Decider realm={self.settings.realm!r} verifier={self.settings.verifier!r}>"


def _as_typed(username: str) -> str:
    return username


def _client(address: str) -> str:
    """The client as a log line shows it: ``-`` when unknown, else canonical or ``invalid``."""
    return address if address == "-" else shown(address)
