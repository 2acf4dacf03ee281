"""Brute-force throttling: failures counted per client address and per username.

Basic auth invites password guessing. :class:`Throttle` counts failed
attempts in a sliding window; once a client address or an attempted username
has too many, further requests get 429 with ``Retry-After`` and no password is
checked, so an attack costs the server almost nothing::

    app = BasicAuth(app, users, throttle=Throttle(per_client=20, per_user=100, window=300))

What each limit protects against, and what it cannot:

- ``per_client`` stops one address from guessing quickly, whatever usernames
  it tries. It cannot stop a botnet that spreads its guesses thinly over
  many addresses.
- ``per_user`` stops the guessing of one account from many addresses. So
  that an attacker cannot lock a real user out with it, an address where that
  user logged in during the last 24 hours is exempt from it (still bound by
  its own ``per_client`` limit).
- Memory is bounded by ``max_entries`` whatever the attacker sends; the least
  recently active keys are forgotten first.

The counts live in a :class:`ThrottleStore` (:mod:`.store`); the default,
:class:`MemoryStore` (:mod:`.memory`), keeps them in this process, and
:mod:`.redis` shares them between processes and hosts.

Package layout: this module holds the arithmetic (slots, limits, keys,
``Retry-After``), ``store`` the protocol every store implements, ``memory``
and ``redis`` the stores.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import math
import time
from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple

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
]

#: How long a successful login exempts its address from the user's limit.
TRUSTED_FOR = 24 * 3600.0

#: A window is counted in this many slots; a failure counts for at least one
#: window and at most one window and one slot (never less than the spec's
#: "within window seconds", at most a tenth longer).
SLOTS = 10

#: Buckets a store keeps per key: the window's slots and the current one.
SPAN = SLOTS + 1

# Long usernames are hashed so that every key has a bounded size: an 8 KiB
# header must not make a throttle entry 8 KiB.
_MAX_KEY_TEXT = 64

# How many (client, user) pairs the throttle remembers having trusted
# recently, to skip the store on every request (cleared when full).
_REFRESH_MEMO = 4096


@functools.lru_cache(maxsize=4096)
def client_key(address: str) -> str:
    """The throttle key of a client address.

    IPv6 clients are counted per /64 (one site gets a whole /64, so counting
    single addresses would give an attacker 2**64 fresh keys); an
    IPv4-mapped address counts as its IPv4 address.
    """
    if ":" not in address:
        return "c" + address
    try:
        ip = ipaddress.IPv6Address(address.split("%", 1)[0])
    except ValueError:
        return "c" + address[:_MAX_KEY_TEXT]
    if ip.ipv4_mapped is not None:
        return f"c{ip.ipv4_mapped}"
    return f"c{ipaddress.IPv6Network((int(ip) >> 64 << 64, 64))}"


def user_key(username: str) -> str:
    """The throttle key of a username, bounded in size."""
    if len(username) <= _MAX_KEY_TEXT:
        return "u" + username
    return "u#" + hashlib.blake2b(username.encode("utf-8"), digest_size=16).hexdigest()


class Verdict(NamedTuple):
    """A throttle decision: blocked for ``retry_after`` seconds, by which limit."""

    retry_after: int
    limit: str  # "client" or "user"


class Ticket(NamedTuple):
    """An attempt counted by :meth:`Throttle.reserve`, to settle once checked."""

    client: str
    username: str | None
    bucket: int
    keys: tuple[tuple[str, int, str], ...]  # (store key, limit, "client" | "user")
    counts: tuple[Sequence[int], ...]


class StoreLookup(Exception):
    """Deciding needs a store lookup (I/O), and the caller asked for none.

    Raised by :meth:`Throttle.check_user` and :meth:`Throttle.granted`
    without ``ask_store``: an event loop then decides again in a thread.
    """


class Throttle:
    """Counts authentication attempts and blocks the keys that have too many failures.

    A key (a client address, or an attempted username) with ``per_client``
    (resp. ``per_user``) failures within the last ``window`` seconds is
    blocked until enough of them age out; 0 disables that limit. Failures
    are counted in slots of a tenth of the window, so a failure may count
    for up to 10% longer than ``window``, never shorter.

    An attempt is counted before its password is checked (:meth:`reserve`)
    and taken back if it succeeds (:meth:`settle`), so however many requests
    arrive at once, at most ``per_client`` passwords from one address (and
    ``per_user`` for one username) are checked per window.

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
        clock: Callable[[], float] = time.time,
    ) -> None:
        for name, value in (("per_client", per_client), ("per_user", per_user)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF:
                raise ValueError(f"{name} must be an int from 0 (off) to 65535, got {value!r}")
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
                "store must implement ThrottleStore (peek, reserve, release, trust, trusted), "
                f"got {store!r}"
            )
        self.per_client = per_client
        self.per_user = per_user
        self.window = float(window)
        #: The store as given; the throttle calls it through :class:`Guarded`
        #: unless it is the built-in one, whose exceptions would be bugs.
        self.store: ThrottleStore = store
        self._store: ThrottleStore = store if type(store) is MemoryStore else Guarded(store)
        self.clock = clock
        self._slot = self.window / SLOTS
        # "No key has failed, as far as this process knows": the normal state,
        # answered without a lookup (and without I/O for a shared store).
        self._idle: Callable[[], bool] = self._store.idle
        # (client, username) -> when to next refresh its trust in the store:
        # pairs this process has seen log in, trusted without asking the store.
        self._refresh: dict[tuple[str, str], float] = {}

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
        """Return a :class:`Verdict` if ``username`` is blocked for ``client``, else ``None``.

        ``password`` is the password about to be checked (for limits that
        count by password; never stored as such).

        An address where the user logged in during the last 24 hours is
        exempt: an attacker cannot lock a user out of where they work.
        Whether it is may take a store lookup (I/O); without ``ask_store``
        that raises :class:`StoreLookup` instead.
        """
        if not self.per_user or self._idle():
            return None
        wait = self._peek(user_key(username), self.per_user)
        if wait and not self.trusts(client, username, ask_store=ask_store):
            if not ask_store:
                raise StoreLookup
            return Verdict(wait, "user")
        return None

    def granted(
        self, client: str, username: str, ask_store: bool = True
    ) -> Verdict | Literal[True] | None:
        """A login the cache vouched for: its :class:`Verdict` if blocked, ``None`` if not.

        ``True`` (not blocked either) says the pair's trust is due to be
        written again (:meth:`success`, at most once an hour a pair). The
        request path of every logged-in request: with no failures anywhere
        (as the store knows without I/O) and a fresh trust, it is one call
        that writes nothing. ``ask_store`` as for :meth:`check_user`.
        """
        if not self._idle():
            verdict = self.check_client(client)
            if verdict is None and not self.trusts(client, username):
                verdict = self.check_user(client, username, ask_store=ask_store)
            if verdict is not None:
                return verdict
        if not self.per_user:
            return None
        due = self._refresh.get((client, username))
        return True if due is None or due <= self.clock() else None

    def refresh_due(self, client: str, username: str) -> bool:
        """Whether the pair's trust is due to be written again (:meth:`success`; once an hour)."""
        if not self.per_user:
            return False
        due = self._refresh.get((client, username))
        return due is None or due <= self.clock()

    def trusts(self, client: str, username: str, *, ask_store: bool = False) -> bool:
        """Return whether ``client`` logged in as ``username`` within the last 24 hours.

        From what this process has seen, and with ``ask_store`` from the
        store too (which may do I/O).
        """
        refresh = self._refresh.get((client, username))
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
        came in (to recognise a client repeating itself). Neither is stored.

        A blocked attempt counts nothing. Settle the ticket with
        :meth:`settle` once the password is checked.
        """
        keys: list[tuple[str, int, str]] = []
        if self.per_client:
            keys.append((client_key(client), self.per_client, "client"))
        if self.per_user and username is not None:
            keys.append((user_key(username), self.per_user, "user"))
        now = self.clock()
        bucket = int(now // self._slot)
        if not keys:
            return Ticket(client, username, bucket, (), ())
        exempt = username is not None and self.trusts(client, username)
        limits = [(key, 0 if kind == "user" and exempt else limit) for key, limit, kind in keys]
        result = self._store.reserve(limits, bucket, SPAN)
        if result.blocked is not None and keys[result.blocked][2] == "user" and not exempt:
            assert username is not None
            if self.trusts(client, username, ask_store=True):
                limits = [(key, 0 if kind == "user" else limit) for key, limit, kind in keys]
                result = self._store.reserve(limits, bucket, SPAN)
        if result.blocked is not None:
            _, limit, kind = keys[result.blocked]
            wait = self._wait(result.counts[0], limit, bucket, now)
            return Verdict(max(wait, 1), kind)
        return Ticket(client, username, bucket, tuple(keys), result.counts)

    def settle(self, ticket: Ticket, ok: bool) -> tuple[Verdict, ...]:
        """Settle a reserved attempt: take it back if ``ok``, else keep it counted.

        A success also trusts the (client, username) pair for 24 hours.
        A failure returns the verdicts of the keys it just blocked (one per
        key, only from the failure that crosses a limit), so the caller can
        log each block once, not once per refused request.
        """
        if ok:
            trust = self._due_trust(ticket.client, ticket.username)
            if ticket.keys or trust is not None:
                self._store.release(
                    [key for key, _, _ in ticket.keys],
                    ticket.bucket,
                    SPAN,
                    trust,
                    self.clock() + TRUSTED_FOR,
                )
            return ()
        now = self.clock()
        return tuple(
            Verdict(self._wait(counts, limit, ticket.bucket, now), kind)
            for (_, limit, kind), counts in zip(ticket.keys, ticket.counts, strict=True)
            if sum(counts) == limit
        )

    def cancel(self, ticket: Ticket) -> None:
        """Take back a reserved attempt that was neither a success nor a failure."""
        if ticket.keys:
            self._store.release([key for key, _, _ in ticket.keys], ticket.bucket, SPAN, None, 0.0)

    def success(self, client: str, username: str) -> None:
        """Remember that ``client`` logged in as ``username`` (exempt from the user limit).

        For a login the throttle did not count (a cached success); at most
        one store call per pair an hour.
        """
        trust = self._due_trust(client, username)
        if trust is not None:
            self._store.trust(trust, self.clock() + TRUSTED_FOR)

    def failure(self, client: str, username: str | None) -> tuple[Verdict, ...]:
        """Count a failure whatever the limits; return the verdicts of the keys it blocked."""
        keys: list[tuple[str, int, str]] = []
        if self.per_client:
            keys.append((client_key(client), self.per_client, "client"))
        if self.per_user and username is not None:
            keys.append((user_key(username), self.per_user, "user"))
        bucket = int(self.clock() // self._slot)
        counts = self._store.reserve([(key, 0) for key, _, _ in keys], bucket, SPAN).counts
        return self.settle(Ticket(client, username, bucket, tuple(keys), counts), False)

    def _due_trust(self, client: str, username: str | None) -> str | None:
        """The trust key to (re)write in the store now, or ``None`` if not due."""
        if not self.per_user or username is None:
            return None
        now = self.clock()
        pair = (client, username)
        # Refresh at most once an hour per pair, not on every request.
        if self._refresh.get(pair, 0.0) > now:
            return None
        if len(self._refresh) >= _REFRESH_MEMO:
            self._refresh.clear()
        self._refresh[pair] = now + 3600
        return self._trust_key(client, username)

    @staticmethod
    def _trust_key(client: str, username: str) -> str:
        return f"t{client_key(client)}\0{user_key(username)}"

    def __repr__(self) -> str:
        return (
            f"<Throttle per_client={self.per_client} per_user={self.per_user} "
            f"window={self.window:g}s>"
        )
