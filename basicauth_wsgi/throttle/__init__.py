"""Brute-force throttling: failures counted per client address, username and password.

Basic auth invites password guessing. :class:`Throttle` counts failed
attempts in a sliding window; once a client address, an attempted username
or a tried password has too many, further requests with it get 429 with
``Retry-After`` and no password is checked, so an attack costs the server
almost nothing::

    app = BasicAuth(app, users, throttle=Throttle(per_client=20, per_user=100, per_password=10))

What each limit protects against, and what it cannot:

- ``per_client`` stops one address from guessing quickly, whatever usernames
  it tries.
- ``per_user`` stops the guessing of one account from many addresses. So
  that an attacker cannot lock a real user out with it, an address where that
  user logged in during the last 24 hours is exempt from it (still bound by
  its own ``per_client`` limit).
- ``per_password`` stops one password sprayed over many users from many
  addresses (a botnet's one guess per address, invisible to the other two),
  with the same exemption as ``per_user``. A password is counted under 32
  bits of a keyed hash of it, never as itself.
- A client repeating the same failing ``Authorization`` header (a phone with
  a stale password) counts once per window: it cannot block its owner, or
  the office behind its address, and an attacker gains no guess by it.
- None of them stops a slow campaign that stays under every limit: a few
  guesses per window per address, user and password.
- Memory is bounded by ``max_entries`` whatever the attacker sends; the least
  recently active keys are forgotten first (:mod:`.keys` makes every key
  exact and bounded).

The counts live in a :class:`ThrottleStore` (:mod:`.store`); the default,
:class:`MemoryStore` (:mod:`.memory`), keeps them in this process, and
:mod:`.redis` shares them between processes and hosts.

Package layout: this module holds the arithmetic (slots, limits,
``Retry-After``), ``keys`` the store keys, ``store`` the protocol every
store implements, ``memory`` and ``redis`` the stores.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple, TypeVar

from ..header import split_credentials
from .keys import MAX_ADDRESS, MAX_NAME, client_key, password_key, repeat_key, trust_key, user_key
from .memory import MemoryStore
from .store import Guarded, Reservation, StoreFailure, ThrottleStore

__all__ = [
    "MemoryStore",
    "Reservation",
    "StoreFailure",
    "StoreLookup",
    "Throttle",
    "ThrottleStore",
    "Ticket",
    "Verdict",
    "client_key",
    "password_key",
    "user_key",
]

#: How long a successful login exempts its address from the user's limit.
TRUSTED_FOR = 24 * 3600.0

#: A window is counted in this many slots; a failure counts for at least one
#: window and at most one window and one slot (never less than the spec's
#: "within window seconds", at most a tenth longer).
SLOTS = 10

#: Buckets a store keeps per key: the window's slots and the current one.
SPAN = SLOTS + 1


#: Seconds a count lives in a store that expires keys beyond its span of
#: slots: hosts whose clocks disagree by less than this still agree on it.
CLOCK_SLACK = 60

# How many (client, user) pairs the throttle remembers having trusted
# recently, to skip the store on every request (cleared when full).
_REFRESH_MEMO = 4096

_T = TypeVar("_T")

#: The limits a trusted (client, user) pair is exempt from.
_EXEMPTIBLE = frozenset({"user", "password"})


class Verdict(NamedTuple):
    """A throttle decision: blocked for ``retry_after`` seconds, by which limit."""

    retry_after: int
    limit: str  # "client", "user" or "password"


class Ticket(NamedTuple):
    """An attempt counted by :meth:`Throttle.reserve`, to settle once checked.

    ``once`` is the key that marks its header as sent from its client (given
    back with the counts on success); a repeat's ticket counts nothing.
    """

    client: str
    username: str | None
    bucket: int
    keys: tuple[tuple[str, int, str], ...]  # (store key, limit, "client" | "user" | "password")
    counts: tuple[Sequence[int], ...]
    once: str | None = None


class StoreLookup(Exception):
    """Deciding needs a store lookup (I/O), and the caller asked for none.

    Raised by :meth:`Throttle.check_user` and :meth:`Throttle.granted`
    without ``ask_store``: an event loop then decides again in a thread.
    """


def _limit(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF:
        raise ValueError(f"{name} must be an int from 0 (off) to 65535, got {value!r}")
    return value


class Throttle:
    """Counts authentication attempts and blocks the keys that have too many failures.

    A key (a client address, an attempted username, or a tried password)
    with ``per_client`` (resp. ``per_user``, ``per_password``) failures
    within the last ``window`` seconds is blocked until enough of them age
    out; 0 disables that limit. Failures are counted in slots of a tenth of
    the window, so a failure may count for up to 10% longer than
    ``window``, never shorter.

    An attempt is counted before its password is checked (:meth:`reserve`)
    and taken back if it succeeds (:meth:`settle`), so however many requests
    arrive at once, at most ``per_client`` passwords from one address (and
    ``per_user`` for one username, ``per_password`` of one password) are
    checked per window. A success leaves no count behind, on any key.

    ``clock`` returns seconds; the default is wall-clock time so that a
    shared store agrees across processes and hosts. ``max_entries`` sizes
    the built-in store; a custom ``store`` brings its own bound.
    """

    def __init__(
        self,
        per_client: int = 20,
        per_user: int = 100,
        window: float = 300,
        max_entries: int | None = None,
        store: ThrottleStore | None = None,
        *,
        per_password: int = 10,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.per_client = _limit("per_client", per_client)
        self.per_user = _limit("per_user", per_user)
        self.per_password = _limit("per_password", per_password)
        if (
            isinstance(window, bool)
            or not isinstance(window, (int, float))
            or not 1 <= window <= 86_400
        ):
            raise ValueError(f"window must be a number of seconds from 1 to 86400, got {window!r}")
        if store is None:
            store = MemoryStore(100_000 if max_entries is None else max_entries)
        elif max_entries is not None:
            raise ValueError("max_entries sizes the built-in store; bound your own store instead")
        elif not isinstance(store, ThrottleStore):
            raise TypeError(
                "store must implement ThrottleStore (idle, peek, reserve, release, trust, "
                f"trusted, secret), got {store!r}"
            )
        self.window = float(window)
        #: The store as given; the throttle calls it through :class:`Guarded`
        #: unless it is the built-in one, whose exceptions would be bugs.
        self.store: ThrottleStore = store
        self._store: ThrottleStore = store if type(store) is MemoryStore else Guarded(store)
        self.clock = clock
        self._slot = self.window / SLOTS
        #: What a count must live in a store that expires keys: its span of
        #: slots from now, and the slack of clocks that disagree.
        self._ttl = math.ceil(SPAN * self._slot) + CLOCK_SLACK
        # "No key has failed, as far as this process knows": the normal state,
        # answered without a lookup (and without I/O for a shared store).
        self._idle: Callable[[], bool] = self._store.idle
        # A pair (see _pair) -> when to next refresh its trust in the store:
        # pairs this process has seen log in, trusted without asking the store.
        self._refresh: dict[tuple[str, ...], float] = {}

    # -- arithmetic --------------------------------------------------------

    def _wait(self, counts: Sequence[int], limit: int, bucket: int, now: float) -> int:
        """Seconds until fewer than ``limit`` failures are left; 0 if already so."""
        remaining = sum(counts)
        if remaining < limit:
            return 0
        for age, count in enumerate(counts):
            remaining -= count
            if remaining < limit:
                # Bucket b leaves the count once the current bucket is b + span.
                free = bucket + 1 + age
                wait = max(1, math.ceil(free * self._slot - now))
                # The slot of a time is found by division, free * slot by
                # multiplication; where they round apart (window/10 not
                # exact in binary), trust the division the check uses.
                while int((now + wait) // self._slot) < free:
                    wait += 1
                return wait
        return 1  # pragma: no cover - remaining reaches 0 < limit above

    def _peek(self, key: str, limit: int) -> int:
        now = self.clock()
        bucket = int(now // self._slot)
        counts = self._store.peek(key, bucket, SPAN)
        return self._wait(counts, limit, bucket, now) if counts else 0

    def _keys(
        self, client: str, username: str | None, password: str | None, secret: bytes
    ) -> list[tuple[str, int, str]]:
        """The keys an attempt counts for, tagged with ``secret``: (store key, limit, kind)."""
        keys: list[tuple[str, int, str]] = []
        if self.per_client:
            keys.append((client_key(client), self.per_client, "client"))
        if self.per_user and username is not None:
            keys.append((user_key(username, secret), self.per_user, "user"))
        if self.per_password and password is not None:
            keys.append((password_key(password, secret), self.per_password, "password"))
        return keys

    # -- the request path --------------------------------------------------

    def check_client(self, client: str) -> Verdict | None:
        """Return a :class:`Verdict` if ``client`` is blocked (as known here), else ``None``."""
        if not self.per_client or self._idle():
            return None
        wait = self._peek(client_key(client), self.per_client)
        return Verdict(wait, "client") if wait else None

    def check_user(
        self, client: str, username: str, ask_store: bool = True, password: str | None = None
    ) -> Verdict | None:
        """Return a :class:`Verdict` if ``username`` (or ``password``) is blocked for ``client``.

        ``password`` is the password about to be checked: a password sprayed
        too often is refused here, before any check (never stored as such).

        An address where the user logged in during the last 24 hours is
        exempt from both limits: an attacker cannot lock a user out of where
        they work. Whether it is may take a store lookup (I/O); without
        ``ask_store`` that raises :class:`StoreLookup` instead.
        """
        if self._idle():
            return None
        secret = self._store.secret()
        if self.per_user:
            wait = self._peek(user_key(username, secret), self.per_user)
            if wait and not self._exempt(client, username, ask_store):
                return Verdict(wait, "user")
        if self.per_password and password is not None:
            wait = self._peek(password_key(password, secret), self.per_password)
            if wait and not self._exempt(client, username, ask_store):
                return Verdict(wait, "password")
        return None

    def _exempt(self, client: str, username: str, ask_store: bool) -> bool:
        if self.trusts(client, username, ask_store=ask_store):
            return True
        if not ask_store:
            raise StoreLookup
        return False

    def granted(
        self, client: str, username: str, ask_store: bool = True, *, header: str | None = None
    ) -> Verdict | Literal[True] | None:
        """A login the cache vouched for: its :class:`Verdict` if blocked, ``None`` if not.

        ``True`` (not blocked either) says the pair's trust is due to be
        written again (:meth:`success`, at most once an hour a pair). The
        request path of every logged-in request: with no failures anywhere
        (as the store knows without I/O) and a fresh trust, it is one call
        that writes nothing. ``ask_store`` as for :meth:`check_user`.

        ``header`` is the ``Authorization`` value the cache recognised: from a
        pair the throttle does not trust, its password is refused when
        ``per_password`` blocks it, as a check of it would be (else a botnet
        spraying it would be let in by the cache, without any check, as soon
        as its owner had logged in once). It is parsed only then.
        """
        if not self._idle():
            verdict = self.check_client(client)
            if verdict is None and not self.trusts(client, username):
                password = None
                if header is not None and self.per_password:
                    credentials = split_credentials(header)
                    password = None if credentials is None else credentials[1]
                verdict = self.check_user(client, username, ask_store=ask_store, password=password)
            if verdict is not None:
                return verdict
        due = self._refresh.get((client, username))  # a short pair's key (see _pair)
        if due is not None and due > self.clock():
            return None  # the logged-in request's path: a trust written within the hour
        return True if self.refresh_due(client, username) else None

    def refresh_due(self, client: str, username: str) -> bool:
        """Whether the pair's trust is due to be written again (:meth:`success`; once an hour)."""
        if not (self.per_user or self.per_password):
            return False
        due = self._refresh.get(self._pair(client, username))
        return due is None or due <= self.clock()

    def trusts(self, client: str, username: str, *, ask_store: bool = False) -> bool:
        """Return whether ``client`` logged in as ``username`` within the last 24 hours.

        From what this process has seen, and with ``ask_store`` from the
        store too (which may do I/O).
        """
        refresh = self._refresh.get(self._pair(client, username))
        # Trusted when this process last wrote the trust (an hour before the
        # refresh it planned) less than TRUSTED_FOR ago.
        if refresh is not None and refresh - 3600 + TRUSTED_FOR > self.clock():
            return True
        return ask_store and self._store.trusted(self._trust_key(client, username), self.clock())

    def reserve(
        self,
        client: str,
        username: str | None,
        password: str | None = None,
        header: str | None = None,
    ) -> Ticket | Verdict:
        """Count an attempt before its password is checked; a :class:`Verdict` if blocked.

        ``password`` is the password to be checked (``None`` for a failure
        known without a check); ``header`` the ``Authorization`` value it
        came in: the same header from the same client within the window is
        a repeat, which counts nothing (the limits still refuse it). Neither
        is stored: only keyed digests of 32 bits.

        A blocked attempt counts nothing. Settle the ticket with
        :meth:`settle` once the password is checked.
        """
        if password is None and header is not None and self.per_password:
            # A failure known without a check (a refusal the cache
            # remembered) still counts for its password.
            credentials = split_credentials(header)
            password = None if credentials is None else credentials[1]
        now = self.clock()
        bucket = int(now // self._slot)

        def count(secret: bytes) -> Ticket | Verdict:
            keys = self._keys(client, username, password, secret)
            if not keys:
                return Ticket(client, username, bucket, (), ())
            once = None if header is None else repeat_key(client, header, secret)
            return self._reserve(client, username, keys, bucket, now, once)

        return self._with_one_secret(count)

    def _with_one_secret(self, count: Callable[[bytes], _T]) -> _T:
        """``count(secret)``, again if the store's secret changed meanwhile (twice at most).

        A shared store that found another secret in place counted nothing:
        counting again uses keys of the secret now shared.
        """
        for _ in range(2):
            secret = self._store.secret()
            counted = count(secret)
            if self._store.secret() == secret:
                return counted
        raise StoreFailure("throttle store: its secret changed twice during one attempt")

    def _reserve(
        self,
        client: str,
        username: str | None,
        keys: list[tuple[str, int, str]],
        bucket: int,
        now: float,
        once: str | None,
    ) -> Ticket | Verdict:
        exempt = username is not None and self.trusts(client, username)
        result = self._store.reserve(self._limits(keys, exempt), bucket, SPAN, self._ttl, once)
        if result.blocked is not None and keys[result.blocked][2] in _EXEMPTIBLE and not exempt:
            assert username is not None
            if self.trusts(client, username, ask_store=True):
                limits = self._limits(keys, True)
                result = self._store.reserve(limits, bucket, SPAN, self._ttl, once)
        if result.blocked is not None:
            _, limit, kind = keys[result.blocked]
            wait = self._wait(result.counts[0], limit, bucket, now)
            return Verdict(max(wait, 1), kind)
        if result.repeat:
            return Ticket(client, username, bucket, (), ())
        return Ticket(client, username, bucket, tuple(keys), result.counts, once)

    @staticmethod
    def _limits(keys: list[tuple[str, int, str]], exempt: bool) -> list[tuple[str, int]]:
        """The (key, limit) pairs to reserve; a trusted pair's exempt limits count, never block."""
        return [(key, 0 if exempt and kind in _EXEMPTIBLE else limit) for key, limit, kind in keys]

    def settle(self, ticket: Ticket, ok: bool) -> tuple[Verdict, ...]:
        """Settle a reserved attempt: take it back if ``ok``, else keep it counted.

        A success also trusts the (client, username) pair for 24 hours.
        A failure returns the verdicts of the keys it just blocked (one per
        key, only from the failure that crosses a limit), so the caller can
        log each block once, not once per refused request.
        """
        if ok:
            trust = self._due_trust(ticket.client, ticket.username)
            counted = self._counted(ticket)
            if counted or trust is not None:
                self._store.release(counted, ticket.bucket, SPAN, trust, self.clock() + TRUSTED_FOR)
            return ()
        now = self.clock()
        return tuple(
            Verdict(self._wait(counts, limit, ticket.bucket, now), kind)
            for (_, limit, kind), counts in zip(ticket.keys, ticket.counts, strict=True)
            if sum(counts) == limit
        )

    def cancel(self, ticket: Ticket) -> None:
        """Take back a reserved attempt that was neither a success nor a failure."""
        counted = self._counted(ticket)
        if counted:
            self._store.release(counted, ticket.bucket, SPAN, None, 0.0)

    @staticmethod
    def _counted(ticket: Ticket) -> list[str]:
        keys = [key for key, _, _ in ticket.keys]
        return keys if ticket.once is None else [*keys, ticket.once]

    def success(self, client: str, username: str) -> None:
        """Remember that ``client`` logged in as ``username`` (exempt from the user limit).

        For a login the throttle did not count (a cached success); at most
        one store call per pair an hour.
        """
        trust = self._due_trust(client, username)
        if trust is not None:
            self._store.trust(trust, self.clock() + TRUSTED_FOR)

    def failure(
        self, client: str, username: str | None, password: str | None = None
    ) -> tuple[Verdict, ...]:
        """Count a failure whatever the limits; return the verdicts of the keys it blocked."""
        bucket = int(self.clock() // self._slot)

        def count(secret: bytes) -> Ticket:
            keys = self._keys(client, username, password, secret)
            limits = [(key, 0) for key, _, _ in keys]
            counts = self._store.reserve(limits, bucket, SPAN, self._ttl, None).counts
            return Ticket(client, username, bucket, tuple(keys), counts)

        return self.settle(self._with_one_secret(count), False)

    def _due_trust(self, client: str, username: str | None) -> str | None:
        """The trust key to (re)write in the store now, or ``None`` if not due."""
        if not (self.per_user or self.per_password) or username is None:
            return None
        now = self.clock()
        pair = self._pair(client, username)
        # Refresh at most once an hour per pair, not on every request.
        if self._refresh.get(pair, 0.0) > now:
            return None
        if len(self._refresh) >= _REFRESH_MEMO:
            self._refresh.clear()
        self._refresh[pair] = now + 3600
        return self._trust_key(client, username)

    @staticmethod
    def _pair(client: str, username: str) -> tuple[str, ...]:
        """The memo's key of a pair: as given when short, else bounded (three parts, no alias).

        Only pairs that logged in are remembered, at most 4096; a long
        forwarded address or name must not make each one large.
        """
        if len(client) <= MAX_ADDRESS and len(username) <= MAX_NAME:
            return (client, username)
        name = hashlib.blake2b(username.encode("utf-8", "surrogatepass"), digest_size=16)
        return (client_key(client), name.hexdigest(), "")

    def _trust_key(self, client: str, username: str) -> str:
        return trust_key(client, username, self._store.secret())

    def __repr__(self) -> str:
        return (
            f"<Throttle per_client={self.per_client} per_user={self.per_user} "
            f"per_password={self.per_password} window={self.window:g}s>"
        )
