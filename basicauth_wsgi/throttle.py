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

The counts live in a :class:`ThrottleStore`; the default keeps them in this
process. A shared store (Redis, for many processes and hosts) implements the
same four methods.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

__all__ = ["MemoryStore", "Throttle", "ThrottleStore", "Verdict"]

#: How long a successful login exempts its address from the user's limit.
TRUSTED_FOR = 24 * 3600.0

#: A window is counted in this many slots; a failure counts for at least one
#: window and at most one window and one slot (never less than the spec's
#: "within window seconds", at most a tenth longer).
SLOTS = 10

# Long usernames are hashed so that every key has a bounded size: an 8 KiB
# header must not make a throttle entry 8 KiB.
_MAX_KEY_TEXT = 64

# How many (client, user) pairs the throttle remembers having trusted
# recently, to skip the store on every request (cleared when full).
_REFRESH_MEMO = 4096


class ThrottleStore(Protocol):
    """Where a :class:`Throttle` keeps its counts.

    Time is cut into numbered buckets (slots of ``window / 10`` seconds); a
    store counts each key's failures per bucket and must remember at least
    the last ``span`` buckets of a key. Every method may be called from many
    threads (or processes, for a shared store) at once.
    """

    def counts(self, key: str, bucket: int, span: int) -> Sequence[int]:
        """Return the failures of ``key`` in buckets ``bucket - span + 1`` .. ``bucket``.

        Oldest first; an empty sequence when the key has none.
        """
        ...

    def add(self, key: str, bucket: int, span: int) -> Sequence[int]:
        """Count one failure of ``key`` in ``bucket``; return the new ``counts()``."""
        ...

    def trust(self, key: str, until: float) -> None:
        """Remember ``key`` (a client and a user) as trusted until time ``until``."""
        ...

    def trusted(self, key: str, now: float) -> bool:
        """Return whether ``key`` is trusted at time ``now``."""
        ...


class MemoryStore:
    """The in-process :class:`ThrottleStore`: bounded, least recently used out first.

    A key's bucket counts are packed into one int (16 bits a bucket, capped),
    so an entry costs about 250 bytes with its key. ``max_entries`` bounds
    the failure keys and, separately, the trusted (address, user) pairs; a
    key that is read or written moves to the back of the queue, so an
    attacker flooding one-off addresses cannot push out a key that is
    blocked and still being tried.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError(f"max_entries must be a positive int, got {max_entries!r}")
        self.max_entries = max_entries
        # key -> (latest bucket << 16 * span) | counts, newest in the low bits.
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._trusted: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _fields(packed: int | None, bucket: int, span: int) -> int:
        """The counts as of ``bucket``: newest in the low 16 bits, 0 if none."""
        if packed is None:
            return 0
        shift = bucket - (packed >> (16 * span))
        if shift >= span:
            return 0
        # A clock that stepped back: count into the newest bucket we have.
        shift = max(shift, 0)
        mask = (1 << (16 * span)) - 1
        return ((packed & mask) << (16 * shift)) & mask

    @staticmethod
    def _unpack(fields: int, span: int) -> list[int]:
        return [(fields >> (16 * j)) & 0xFFFF for j in range(span - 1, -1, -1)]

    def counts(self, key: str, bucket: int, span: int) -> Sequence[int]:
        packed = self._counts.get(key)
        if packed is None:
            return ()
        with contextlib.suppress(KeyError):  # evicted by another thread meanwhile
            self._counts.move_to_end(key)
        fields = self._fields(packed, bucket, span)
        return self._unpack(fields, span) if fields else ()

    def add(self, key: str, bucket: int, span: int) -> Sequence[int]:
        with self._lock:
            packed = self._counts.get(key)
            if packed is not None:
                bucket = max(bucket, packed >> (16 * span))
            fields = self._fields(packed, bucket, span)
            newest = min((fields & 0xFFFF) + 1, 0xFFFF)
            fields = (fields & ~0xFFFF) | newest
            self._counts[key] = (bucket << (16 * span)) | fields
            self._counts.move_to_end(key)
            while len(self._counts) > self.max_entries:
                self._counts.popitem(last=False)
        return self._unpack(fields, span)

    def trust(self, key: str, until: float) -> None:
        with self._lock:
            self._trusted[key] = until
            self._trusted.move_to_end(key)
            while len(self._trusted) > self.max_entries:
                self._trusted.popitem(last=False)

    def trusted(self, key: str, now: float) -> bool:
        until = self._trusted.get(key)
        return until is not None and until > now

    def __len__(self) -> int:
        return len(self._counts) + len(self._trusted)


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


class Throttle:
    """Counts authentication failures and blocks the keys that have too many.

    A key (a client address, or an attempted username) with ``per_client``
    (resp. ``per_user``) failures within the last ``window`` seconds is
    blocked until enough of them age out; 0 disables that limit. Failures
    are counted in slots of a tenth of the window, so a failure may count
    for up to 10% longer than ``window``, never shorter.

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
        elif not all(
            callable(getattr(store, name, None)) for name in ("counts", "add", "trust", "trusted")
        ):
            raise TypeError(f"store must implement ThrottleStore, got {store!r}")
        self.per_client = per_client
        self.per_user = per_user
        self.window = float(window)
        self.store: ThrottleStore = store
        self.clock = clock
        self._slot = self.window / SLOTS
        # The built-in store's table, to answer "no failures anywhere" (the
        # normal state of a server nobody attacks) without a lookup.
        self._quiet = store._counts if isinstance(store, MemoryStore) else None
        # (client, username) -> when to next refresh its trust in the store.
        self._refresh: dict[tuple[str, str], float] = {}

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

    def _check(self, key: str, limit: int) -> int:
        now = self.clock()
        bucket = int(now // self._slot)
        counts = self.store.counts(key, bucket, SLOTS + 1)
        return self._wait(counts, limit, bucket, now) if counts else 0

    def check_client(self, client: str) -> Verdict | None:
        """Return a :class:`Verdict` if ``client`` is blocked, else ``None``."""
        if not self.per_client or (self._quiet is not None and not self._quiet):
            return None
        wait = self._check(client_key(client), self.per_client)
        return Verdict(wait, "client") if wait else None

    def check_user(self, client: str, username: str) -> Verdict | None:
        """Return a :class:`Verdict` if ``username`` is blocked for ``client``, else ``None``.

        An address where the user logged in during the last 24 hours is
        exempt: an attacker cannot lock a user out of where they work.
        """
        if not self.per_user or (self._quiet is not None and not self._quiet):
            return None
        wait = self._check(user_key(username), self.per_user)
        if wait and not self.store.trusted(self._trust_key(client, username), self.clock()):
            return Verdict(wait, "user")
        return None

    def failure(self, client: str, username: str | None) -> tuple[Verdict, ...]:
        """Count a failed attempt; return the verdicts of the keys it just blocked.

        Only the failure that crosses a limit returns a verdict (one per key
        it blocked), so the caller can log each block once, not once per
        refused request.
        """
        now = self.clock()
        bucket = int(now // self._slot)
        crossed = []
        keys = []
        if self.per_client:
            keys.append((client_key(client), self.per_client, "client"))
        if self.per_user and username is not None:
            keys.append((user_key(username), self.per_user, "user"))
        for key, limit, kind in keys:
            counts = self.store.add(key, bucket, SLOTS + 1)
            if sum(counts) == limit:
                crossed.append(Verdict(self._wait(counts, limit, bucket, now), kind))
        return tuple(crossed)

    def success(self, client: str, username: str) -> None:
        """Remember that ``client`` logged in as ``username`` (exempt from the user limit)."""
        if not self.per_user:
            return
        now = self.clock()
        pair = (client, username)
        # Refresh at most once an hour per pair, not on every request.
        if self._refresh.get(pair, 0.0) > now:
            return
        key = self._trust_key(client, username)
        if not self.store.trusted(key, now + TRUSTED_FOR - 3600):
            self.store.trust(key, now + TRUSTED_FOR)
        if len(self._refresh) >= _REFRESH_MEMO:
            self._refresh.clear()
        self._refresh[pair] = now + 3600

    @staticmethod
    def _trust_key(client: str, username: str) -> str:
        return f"t{client_key(client)}\0{user_key(username)}"

    def __repr__(self) -> str:
        return (
            f"<Throttle per_client={self.per_client} per_user={self.per_user} "
            f"window={self.window:g}s>"
        )
