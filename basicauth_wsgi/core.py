"""The order of checks, once, for every front door.

This is the security property of the product: which request reaches the
application, and which gets which refusal. It knows no transport (no
``environ``, no ``start_response``, no ASGI messages): the WSGI middleware
and the ASGI adapter hand it the few facts of a request and turn the
decision it returns into a response::

    gate = Gate(users, exclude=["/health"])
    decision = gate.decide(header, client, method, path, https, preflight)
    if decision is PUBLIC: ...                       # let through, no user
    elif isinstance(decision, Refusal): ...          # answer decision.page
    else: decision.username, decision.principal      # authenticated

The checks, in order: public path, CORS preflight, HTTPS, the header; a
cached login (then its throttle limits and the rules); the client's limit,
a cached refusal, parsing, the user's limit; then, off the request's fast
path: one check per credentials, a check slot, counting the attempt,
verification, settling the count, rules. Every failure, block and
authorization line goes through :meth:`Gate._log`, the one place that
writes them (and where a metrics hook would go); overload lines come from
:mod:`.admission`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, NamedTuple

from .admission import CheckSlots, default_slots
from .cache import CachedResult, VerificationCache, bind_results
from .header import build_challenge, split_credentials
from .options import check_keywords
from .paths import PathList, path_readings, quote_path
from .responses import ErrorPage
from .rules import Groups, Rule, as_groups, principal_groups
from .throttle import StoreFailure, StoreLookup, Throttle, Ticket, Verdict
from .verifiers import BackendUnavailable, as_verifier, capabilities

__all__ = ["PUBLIC", "Gate", "Grant", "Pending", "Refusal"]

# The one logger of the library; fail2ban-style tools read its WARNING lines.
default_logger = logging.getLogger("basicauth_wsgi")

#: How long a request waits for a free check slot before its 503.
SLOT_WAIT = 0.05
#: How long a request waits for the same credentials' check already running.
FOLLOW_WAIT = 5.0

UNAUTHORIZED_MESSAGE = "This resource requires a username and password (HTTP Basic authentication)."


class _Public:
    """The decision for a request that needs no credentials."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: Let the request through without authentication (a public path).
PUBLIC = _Public("PUBLIC")
#: Let a CORS preflight through: only its status and CORS headers reach the client.
PREFLIGHT = _Public("PREFLIGHT")

#: An authenticated request: ``username`` and ``principal`` (a cached result).
Grant = CachedResult


class Refusal(NamedTuple):
    """A request that does not reach the application, and the page that answers it."""

    status: int  # 401, 403, 429, 500 or 503
    page: ErrorPage
    headers: tuple[tuple[str, str], ...]
    reason: str


class Pending:
    """A password the cache could not answer: to be checked, maybe in a worker thread.

    From :meth:`Gate.begin`; ``trusted`` says whether the throttle trusts the
    (client, user) pair: it may use the extra check slot, and its hash runs
    at the request's own priority. ``slot`` is set by :meth:`Gate.admit`.

    When the same credentials are already being checked (a browser opening
    six connections at once after the password prompt), ``follows`` is the
    :class:`threading.Event` of that check: wait for it (no slot is needed),
    then decide again, from the cache. Otherwise ``flight`` is this check's
    own event, set by :meth:`Gate.leave`.
    """

    __slots__ = (
        "client",
        "counted",
        "flight",
        "follows",
        "header",
        "lookup",
        "method",
        "password",
        "path",
        "reason",
        "slot",
        "ticket",
        "trusted",
        "username",
    )

    def __init__(
        self,
        header: str,
        client: str,
        method: str,
        path: str,
        username: str,
        password: str,
        ticket: object,
        trusted: bool,
    ) -> None:
        self.header, self.client, self.method, self.path = header, client, method, path
        self.username, self.password, self.ticket, self.trusted = (
            username,
            password,
            ticket,
            trusted,
        )
        self.slot = 0
        self.flight: threading.Event | None = None
        self.follows: threading.Event | None = None
        #: A failure known without a check (a refusal remembered, a malformed
        #: header): only to be counted, which may be I/O for a shared store,
        #: so it is done off the event loop too, but needs no check slot.
        #: ``reason`` is its log reason (``None``: ask the store).
        self.counted = False
        self.reason: str | None = None
        #: From :meth:`Gate.begin` without ``io``: deciding needs a throttle
        #: store lookup; call ``begin`` again where I/O may block.
        self.lookup = False


Decision = _Public | Refusal | CachedResult


class _Default:
    """The "not given" marker for options whose default depends on others."""

    def __repr__(self) -> str:
        return "<default>"


DEFAULT: Any = _Default()


#: How much lower the CPU priority of the password-hashing threads is (Linux nice).
CHECK_NICENESS = 19


def _lower_priority() -> None:
    """Run this thread (a password-hashing thread) at the lowest CPU priority.

    A flood of guesses keeps every check slot busy, and a bcrypt check
    holds a core for a quarter of a second: at normal priority the hashes
    would take the CPU from the logged-in users' requests, which are cheap.
    At nice 19 a request that wakes up takes the core from a hash at once,
    while the hashes still use every idle cycle. Only the hash runs here
    (its Python around it runs in the request's thread): a thread this
    nice that held the interpreter lock while the scheduler passed it over
    would stall every request behind it. Linux applies ``setpriority`` to
    one thread given its id; elsewhere this does nothing. (A process cannot
    raise its priority back, so these threads only ever hash.)
    """
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), CHECK_NICENESS)


def is_loopback(address: str) -> bool:
    """Return whether ``address`` (a client address) is a loopback address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


class Gate:
    """Decides, for the facts of one request, whether it reaches the application.

    Takes the options of :class:`~basicauth_wsgi.BasicAuth` that decide
    (not those of a transport) and validates every one; a bad one is a
    ``ValueError`` or ``TypeError`` naming it. Thread-safe.
    """

    def __init__(
        self,
        users: object,
        *,
        realm: str = "Restricted area",
        exclude: Iterable[str] = (),
        include: Iterable[str] | None = None,
        allow_cors_preflight: bool = False,
        rules: Iterable[Rule] = (),
        groups: Mapping[str, Iterable[str]] | Groups | None = None,
        throttle: Throttle | None = DEFAULT,
        cache: VerificationCache | None = DEFAULT,
        max_concurrent_checks: int | None = DEFAULT,
        require_https: bool = False,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_concurrent_checks is DEFAULT:
            max_concurrent_checks = default_slots()
        check_keywords(
            {
                "realm": realm,
                "allow_cors_preflight": allow_cors_preflight,
                "require_https": require_https,
                "max_concurrent_checks": max_concurrent_checks,
            }
        )
        self.verifier = as_verifier(users)
        self._verify = self.verifier.verify
        caps = capabilities(self.verifier)
        self._has_user = caps.has_user
        if cache is DEFAULT:
            cache = VerificationCache() if caps.cache_by_default else None
        if cache is not None and not isinstance(cache, VerificationCache):
            raise TypeError(f"cache must be a VerificationCache or None, got {cache!r}")
        self.cache = cache
        self.results = bind_results(cache, caps.generation, caps.secrets_in_memory)
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
        self.allow_cors_preflight = allow_cors_preflight
        self.require_https = require_https
        if logger is not None and not isinstance(logger, (logging.Logger, logging.LoggerAdapter)):
            raise TypeError(f"logger must be a logging.Logger, got {logger!r}")
        self.logger = logger if logger is not None else default_logger
        if throttle is DEFAULT:
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
        self._principal_groups = self.groups is None and caps.provides_groups
        if named and self.groups is None and not caps.provides_groups:
            raise ValueError(f"rules name groups {named} but no groups were given")
        missing = [g for g in named if self.groups is not None and g not in self.groups]
        if missing:
            raise ValueError(f"rules name groups that do not exist: {missing}")
        #: With no path lists every path is protected: adapters skip path work.
        self.path_lists = bool(self.exclude) or self.include is not None
        for rule in self.rules:
            if not self.protects(rule.path):
                raise ValueError(
                    f"{rule!r} is for a public path (see exclude/include): it would never apply"
                )
        self.slots = (
            None
            if max_concurrent_checks is None
            else CheckSlots(max_concurrent_checks, logger=self.logger, clock=clock)
        )
        #: Where the hashes of a slow store's admitted checks run: their own
        #: threads, one per slot, at the lowest CPU priority (see
        #: :func:`_lower_priority`); the rest of a check runs in the caller's
        #: thread. ``None`` without slots or for a cheap store: the hash then
        #: runs in the caller's thread too.
        self.pool: ThreadPoolExecutor | None = None
        if self.slots is not None and caps.cache_by_default:
            # Only for stores that declare their checks slow (a hash): a
            # cheap check costs less than handing it to another thread.
            self._start_pool()
            # A pool's threads do not survive fork() (gunicorn --preload):
            # the child starts its own.
            os.register_at_fork(after_in_child=self._start_pool)
        #: Where :meth:`begin` without ``io`` sends store writes that need
        #: no answer (an event loop's threads); ``None``: done in place.
        self.background: Executor | None = None
        self._clock = clock
        self._store_error_logged = -1e9
        self._backend_logged = -1e9
        # Checks running now, by cache ticket: at most one per credentials.
        self._flights: dict[object, threading.Event] = {}
        self._flights_lock = threading.Lock()

        self.page_401 = ErrorPage(
            401, "unauthorized", UNAUTHORIZED_MESSAGE, [("WWW-Authenticate", self.challenge)]
        )
        page_https = ErrorPage(
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
        self._page_503 = ErrorPage(
            503, "unavailable", "The server is too busy to check passwords; try again shortly."
        )
        self._page_unavailable = ErrorPage(
            503, "unavailable", "The server cannot check credentials right now; try again shortly."
        )
        self._missing = Refusal(401, self.page_401, (), "missing")
        #: What :meth:`begin` answers every request without credentials when
        #: no path list, preflight or HTTPS rule could change that (else
        #: ``None``): adapters may answer it without reading the request.
        self._screens = self.path_lists or allow_cors_preflight or require_https
        #: Whether :meth:`begin` decides anything from the path (path lists,
        #: rules). If not, an adapter may pass ``""`` and set the path of a
        #: :class:`Pending` it gets back (its log lines name it).
        self.needs_path = self.path_lists or bool(self.rules)
        self.anonymous: Refusal | None = None if self._screens else self._missing
        self._https = Refusal(403, page_https, (), "https_required")
        self._busy = Refusal(503, self._page_503, (("Retry-After", "1"),), "overloaded")
        self._store_down = Refusal(
            503, self._page_unavailable, (("Retry-After", "1"),), "unavailable"
        )

    # -- the order of checks -------------------------------------------------

    def decide(
        self,
        header: str | None,
        client: str,
        method: str,
        path: str,
        https: bool,
        preflight: bool,
    ) -> Decision:
        """Decide one request, checking its password here if need be (blocking)."""
        step = self.begin(header, client, method, path, https, preflight)
        if step.__class__ is Pending:
            return self.finish(step)
        return step  # type: ignore[return-value]

    def finish(self, pending: Pending) -> Decision:
        """Check the password of a :class:`Pending` here, waiting for a slot (blocking)."""
        if pending.counted:
            return self.check(pending)
        if pending.follows is not None:
            # The same credentials are being checked: their result will be
            # in the cache. Decide again from it (once: if that check ended
            # without a result, this request checks for itself).
            if not pending.follows.wait(FOLLOW_WAIT):
                return self._busy
            step = self.again(pending)
            if step.__class__ is not Pending:
                return step  # type: ignore[return-value]
            pending = step
        try:
            if not self.admit(pending, SLOT_WAIT):
                return self._busy
            return self.check(pending)
        finally:
            self.leave(pending)

    def again(self, pending: Pending) -> Decision | Pending:
        """Decide a request that followed another check, once that check ended.

        Its path, preflight and HTTPS checks already passed; the rest is
        decided afresh, from the cache the other check filled.
        """
        return self.begin(
            pending.header,
            pending.client,
            pending.method,
            pending.path,
            True,
            False,
            follow=False,
        )

    def begin(
        self,
        header: str | None,
        client: str,
        method: str,
        path: str,
        https: bool,
        preflight: bool,
        *,
        follow: bool = True,
        io: bool = True,
    ) -> Decision | Pending:
        """Everything up to the password check; never hashes.

        With ``follow`` (the default), a request whose credentials are being
        checked already comes back as a :class:`Pending` that follows that
        check; :meth:`decide` calls again with ``follow=False`` once it ended.

        Without ``io`` (an event loop), nothing here waits for the throttle
        store: a request whose answer needs a store lookup comes back as a
        :class:`Pending` with ``lookup`` set (call again with ``io``
        elsewhere), and a logged-in pair's hourly trust refresh goes to
        :attr:`background`.

        ``path`` is the full request path as the server decoded it (WSGI's
        ``SCRIPT_NAME + PATH_INFO``); ``client`` the peer address (``"-"``
        if unknown); ``preflight`` whether this is an ``OPTIONS`` request
        with ``Origin`` and ``Access-Control-Request-Method``.
        """
        if self._screens:
            if self.path_lists and not self.protects(path):
                return PUBLIC
            if preflight and self.allow_cors_preflight:
                # Fetch §3.7: a CORS preflight never carries credentials, so
                # challenging it would break every cross-origin client.
                return PREFLIGHT
            if self.require_https and not https and not is_loopback(client):
                return self._https
        if header is None:
            # Not a failure: browsers ask first, then prompt (RFC 9110 §11.6.1).
            # No password to check either, so the throttle has nothing to save.
            return self._missing
        throttle = self.throttle
        results = self.results
        try:
            # The header, not the parsed credentials, is the key: a hit skips
            # parsing as well as the hash check.
            hit = results.get(header) if results is not None else None
            if hit is not None and hit.principal is not None:
                # The request path of a logged-in user.
                if throttle is not None:
                    verdict = throttle.granted(client, hit.username, io)
                    if verdict is not None:
                        return self._blocked(verdict)
                    if throttle.refresh_due(client, hit.username):
                        if io:
                            throttle.success(client, hit.username)
                        else:
                            self._later(throttle.success, client, hit.username)
                return self._grant(hit, client, method, path) if self.rules else hit
            if throttle is not None:
                verdict = throttle.check_client(client)
                if verdict is not None:
                    return self._blocked(verdict)
            if hit is not None:
                # A refusal remembered: a failure to count, nothing to check.
                return self._to_count(header, client, method, path, hit.username, None)
            credentials = split_credentials(header)
            if credentials is None:
                basic = header.lstrip()[:6].lower() == "basic "
                reason = "malformed" if basic else "unsupported_scheme"
                return self._to_count(header, client, method, path, None, reason)
            username, password = credentials
            trusted = False
            if throttle is not None:
                # Before the password is checked: a blocked key costs no CPU.
                verdict = throttle.check_user(client, username, io, password)
                if verdict is not None:
                    return self._blocked(verdict)
                trusted = throttle.trusts(client, username)
        except StoreLookup:
            pending = Pending(header, client, method, path, "", "", None, False)
            pending.lookup = True
            return pending
        except Exception:
            return self._store_failed()
        ticket = results.ticket(header) if results is not None else None
        pending = Pending(header, client, method, path, username, password, ticket, trusted)
        if ticket is not None:
            # One check per credentials at a time: the others wait for its
            # result instead of taking a slot each (the ticket is the
            # cache's key for this header and store generation).
            with self._flights_lock:
                running = self._flights.get(ticket)
                if running is None:
                    pending.flight = self._flights[ticket] = threading.Event()
                elif follow:
                    pending.follows = running
                # else: followed once already, and another check of these
                # credentials has started since: check alone, unregistered.
        return pending

    def _later(self, function: Callable[..., object], *args: Any) -> None:
        if self.background is None:
            function(*args)  # nowhere else to run it
        else:
            self.background.submit(self._quietly, function, *args)

    def _quietly(self, function: Callable[..., object], *args: Any) -> None:
        try:
            function(*args)
        except Exception:
            self._log_store_error()  # nobody waits for it: a line, no 503

    def _start_pool(self) -> None:
        assert self.slots is not None
        self.pool = ThreadPoolExecutor(
            # One per general slot: a pair the throttle trusts hashes in its
            # own thread (see _hash).
            max_workers=self.slots.limit,
            thread_name_prefix="basicauth-check",
            initializer=_lower_priority,
        )

    def admit(self, pending: Pending, timeout: float) -> bool:
        """Take a check slot for ``pending``, waiting at most ``timeout`` seconds."""
        if self.slots is None:
            return True
        pending.slot = self.slots.try_acquire(pending.trusted)
        if not pending.slot:
            if not pending.trusted and self.throttle is not None:
                # Busy: a pair this process has not seen log in may still be
                # trusted in a shared store (another worker saw it): ask.
                try:
                    pending.trusted = self.throttle.trusts(
                        pending.client, pending.username, ask_store=True
                    )
                except Exception:
                    self._log_store_error()
            pending.slot = self.slots.acquire(pending.trusted, timeout)
        return bool(pending.slot)

    def leave(self, pending: Pending) -> None:
        """Give back the check slot :meth:`admit` took; wake who waits for this check.

        Call it for every :class:`Pending` that :meth:`begin` returned and
        that does not follow another check, whatever happened.
        """
        if self.slots is not None and pending.slot:
            self.slots.release(pending.slot)
            pending.slot = 0
        flight = pending.flight
        if flight is not None:
            pending.flight = None
            with self._flights_lock:
                if self._flights.get(pending.ticket) is flight:
                    del self._flights[pending.ticket]
            flight.set()

    @property
    def overloaded(self) -> Refusal:
        """The 503 for a request that found no check slot in time."""
        return self._busy

    def check(self, pending: Pending) -> Decision:
        """Count the attempt, check the password, settle the count: the slow part.

        For a :class:`Pending` that is only ``counted``: count the failure.
        """
        throttle, username, client = self.throttle, pending.username, pending.client
        if pending.counted:
            try:
                return self._counted(
                    client,
                    username or None,
                    pending.method,
                    pending.path,
                    pending.reason,
                    pending.header,
                )
            except Exception:
                return self._store_failed()
        ticket: Ticket | None = None
        if throttle is not None:
            try:
                reserved = throttle.reserve(client, username, pending.password, pending.header)
            except Exception:
                return self._store_failed()
            if reserved.__class__ is Verdict:
                return self._blocked(reserved)
            ticket = reserved  # type: ignore[assignment]
        try:
            result = self._hash(pending)
        except BackendUnavailable as exc:
            if ticket is not None:
                self._settle(ticket, None)
            return self._unavailable(exc)
        except Exception:
            self.logger.exception(
                "verifier raised: user=%r client=%s path=%s",
                username,
                client,
                quote_path(pending.path),
            )
            if ticket is not None:
                self._settle(ticket, None)
            return Refusal(500, self._page_500, (), "verifier_raised")
        principal = (username if result is True else result) if result else None
        if self.results is not None:
            self.results.remember(pending.ticket, username, principal)
        if principal is None:
            blocked = self._settle(ticket, False) if ticket is not None else ()
            return self._failed(client, username, self._reason(username), pending.path, blocked)
        if ticket is not None:
            self._settle(ticket, True)
        return self._grant(
            CachedResult(username, principal, 0.0), client, pending.method, pending.path
        )

    def _hash(self, pending: Pending) -> Any:
        """Run the verifier for ``pending``: in the hashing threads, unless trusted.

        A pair the throttle trusts has logged in from that address before:
        its check runs at the request's own priority, so a flood of niced
        hashes does not slow a known user's next login. (Its count and its
        limits are the same.)
        """
        pool = self.pool
        if pool is None or pending.trusted:
            return self._verify(pending.username, pending.password)
        return pool.submit(self._verify, pending.username, pending.password).result()

    # -- steps -------------------------------------------------------------------

    def protects(self, path: str) -> bool:
        """Return whether any reading of ``path`` needs credentials."""
        include, exclude = self.include, self.exclude
        for reading in path_readings(path):
            if (include is None or include.matches(reading)) and not exclude.matches(reading):
                return True
        return False

    def _grant(self, hit: CachedResult, client: str, method: str, path: str) -> Decision:
        if self.rules and not self._authorized(hit, method, path):
            self._log(
                "authorization refused: user=%r client=%s method=%s path=%s",
                hit.username,
                client,
                method or "-",
                quote_path(path),
            )
            return Refusal(403, self._page_403, (), "forbidden")
        return hit

    def _authorized(self, hit: CachedResult, method: str, path: str) -> bool:
        """The first rule matching the path and method decides; no match allows.

        As for ``exclude``, every reading of the path must allow it.
        """
        username = hit.username
        groups = self.groups
        if self._principal_groups:
            groups = principal_groups(username, hit.principal)
        # Frameworks upper-case the method before dispatching (werkzeug and
        # Django do), so "delete" must meet a DELETE rule.
        method = (method or "GET").upper()
        for reading in path_readings(path):
            for rule in self.rules:
                if rule.matches(reading, method):
                    if not rule.allows(username, groups):
                        return False
                    break
        return True

    def _to_count(
        self,
        header: str,
        client: str,
        method: str,
        path: str,
        username: str | None,
        reason: str | None,
    ) -> Pending:
        pending = Pending(header, client, method, path, username or "", "", None, False)
        pending.counted, pending.reason = True, reason
        return pending

    def _counted(
        self,
        client: str,
        username: str | None,
        method: str,
        path: str,
        reason: str | None = None,
        header: str | None = None,
    ) -> Refusal:
        """A failure known without a password check (cached, or a malformed header)."""
        blocked: tuple[Verdict, ...] = ()
        if self.throttle is not None:
            reserved = self.throttle.reserve(client, username, None, header)
            if reserved.__class__ is Verdict:
                return self._blocked(reserved)
            blocked = self._settle(reserved, False)  # type: ignore[arg-type]
        if reason is None:
            reason = self._reason(username) if username is not None else "malformed"
        return self._failed(client, username, reason, path, blocked)

    def _settle(self, ticket: Ticket, ok: bool | None) -> tuple[Verdict, ...]:
        """Settle a counted attempt: ``True`` success, ``False`` failure, ``None`` neither."""
        assert self.throttle is not None
        try:
            if ok is None:
                self.throttle.cancel(ticket)
                return ()
            return self.throttle.settle(ticket, ok)
        except Exception:
            # The password was checked; a store that fails to record the
            # outcome costs a refund or a trust, never the answer.
            self._log_store_error()
            return ()

    def _reason(self, username: str) -> str:
        if self._has_user is None:
            return "invalid_credentials"
        try:
            return "wrong_password" if self._has_user(username) else "unknown_user"
        except Exception:
            return "invalid_credentials"

    def _blocked(self, verdict: Verdict) -> Refusal:
        # RFC 6585 §4: 429 with Retry-After; no challenge, since retrying
        # with other credentials now would not help. Not logged: the block
        # was logged once when it began.
        return Refusal(
            429,
            self._page_429,
            (("Retry-After", str(verdict.retry_after)),),
            f"{verdict.limit}_limit",
        )

    def _unavailable(self, exc: BackendUnavailable) -> Refusal:
        now = self._clock()
        if now - self._backend_logged >= 60:
            self._backend_logged = now
            self.logger.error("user store unavailable: %s; answering 503", exc)
        return Refusal(
            503,
            self._page_unavailable,
            (("Retry-After", str(exc.retry_after)),),
            "unavailable",
        )

    def _store_failed(self) -> Refusal:
        self._log_store_error()
        return self._store_down

    def _log_store_error(self) -> None:
        # Once a minute at most, with the traceback: a store outage must not
        # flood the log with one line per request. A store that logs its own
        # outages (RedisStore) raises a StoreFailure that says so.
        failure = sys.exc_info()[1]
        if isinstance(failure, StoreFailure) and failure.logged:
            return
        now = self._clock()
        if now - self._store_error_logged >= 60:
            self._store_error_logged = now
            self.logger.exception("throttle store failed; answering 503 until it recovers")

    # -- the one place that writes refusal lines ------------------------------------

    def _failed(
        self,
        client: str,
        username: str | None,
        reason: str,
        path: str,
        blocked: tuple[Verdict, ...],
    ) -> Refusal:
        # One line per failure, in a fixed shape fail2ban can match. repr()
        # escapes CR/LF and every other non-printable character, so a
        # username cannot forge a log line; the path is percent-encoded.
        shown = quote_path(path)
        self._log(
            "authentication failed: user=%r client=%s reason=%s path=%s",
            username,
            client,
            reason,
            shown,
        )
        for verdict in blocked:
            # Once, when the key becomes blocked; the 429s that follow are
            # not logged, so an attack cannot flood the log.
            self._log(
                "authentication blocked: user=%r client=%s reason=%s_limit path=%s",
                username,
                client,
                verdict.limit,
                shown,
            )
        return Refusal(401, self.page_401, (), reason)

    def _log(self, message: str, *args: object) -> None:
        self.logger.warning(message, *args)

    def __repr__(self) -> str:
        return f"<Gate realm={self.realm!r} verifier={self.verifier!r}>"
