"""A bounded, expiring cache of verification results.

Checking a bcrypt hash costs 100-250 ms of CPU; a browser sends the same
``Authorization`` header with every request. The middleware remembers the
outcome for each header it has verified, so only the first request of a
session pays for the hash::

    cache = VerificationCache(max_entries=10_000, ttl=300)
    app = BasicAuth(app, HtpasswdFile("users.htpasswd"), cache=cache)

No password (and no header, which is the password in base64) is kept: the key
is a keyed hash of the header under a secret of this process (see
:func:`keyed_digest`), so the table is useless to whoever reads it without
that secret, and no client can make a header that hits another's entry.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import NamedTuple, Protocol, cast

__all__ = [
    "CachedResult",
    "HeaderMemo",
    "ResultCache",
    "VerificationCache",
    "bind_results",
    "keyed_digest",
]

# Python hashes str with SipHash (SipHash-1-3 since 3.11, SipHash-2-4
# before: a keyed pseudo-random function, Aumasson & Bernstein 2012) under a
# 128-bit secret it draws from os.urandom at start-up, unless PYTHONHASHSEED
# fixes that secret (0 turns it off). See keyed_digest().
_RANDOM_STR_HASH = os.environ.get("PYTHONHASHSEED", "random") in ("", "random")


def keyed_digest(salt: bytes) -> Callable[[str], Hashable]:
    """The cache key function: a keyed hash of an ``Authorization`` value.

    By default the interpreter's own ``hash(str)``: SipHash under the
    process's random secret, 64 bits, computed in C (about a tenth of the
    cost of an HMAC-SHA256 here), XOR-ed with a per-cache ``salt``. The
    argument, as the SPEC's "keeps no password and cannot be forged" asks:

    - no password or header is kept: only a 64-bit PRF output, useless
      without the secret, which (like an HMAC key) only the process holds;
    - no client can forge a hit: a header that hits an entry it did not
      earn must collide with a 64-bit value it never sees, under a key it
      does not know; each try is a request that the throttle counts, so
      2**64 tries are out of reach (and two real users' headers collide
      with probability about n**2 / 2**65: never, at 10,000 entries).

    When ``PYTHONHASHSEED`` fixes the secret, anyone who reads the
    environment knows it; then the key is BLAKE2b in its keyed mode
    (RFC 7693 §2.9) under a random key of this cache instead.
    """
    if _RANDOM_STR_HASH:
        mask = int.from_bytes(salt[:8], "big")
        return lambda header: hash(header) ^ mask
    keyed = hashlib.blake2b(key=salt, digest_size=16)

    def digest(header: str) -> bytes:
        one = keyed.copy()
        # WSGI header values are latin-1 text (PEP 3333), so this is lossless.
        one.update(header.encode("latin-1", "surrogateescape"))
        return one.digest()

    return digest


class CachedResult(NamedTuple):
    """What a header verified as: the username, and the principal or ``None``."""

    username: str
    principal: object
    expires: float


class VerificationCache:
    """Remembers verification outcomes, positive and negative, for ``ttl`` seconds.

    At most ``max_entries`` are kept; past that the oldest go first (an
    attacker sending endless distinct headers only churns the table, it never
    grows). The whole table is dropped when the user store reports a new
    ``generation`` (a reloaded file), so a changed password or a removed user
    takes effect at once. Thread-safe.
    """

    __slots__ = (
        "_entries",
        "_generation",
        "_lock",
        "clock",
        "key",
        "max_entries",
        "ttl",
    )

    def __init__(
        self,
        max_entries: int = 10_000,
        ttl: float = 300.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError(f"max_entries must be a positive int, got {max_entries!r}")
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 0 < ttl < 86_400:
            raise ValueError(f"ttl must be a number of seconds in (0, 86400), got {ttl!r}")
        self.max_entries = max_entries
        self.ttl = float(ttl)
        self.clock = clock
        #: The key of an ``Authorization`` value (see :func:`keyed_digest`).
        self.key = keyed_digest(secrets.token_bytes(32))
        self._entries: OrderedDict[Hashable, CachedResult] = OrderedDict()
        self._generation: object = None
        self._lock = threading.Lock()

    def find(self, header: str, generation: object = None) -> CachedResult | None:
        """``get(key(header), generation)``: the request path, one call shorter."""
        if generation != self._generation:
            return self.get(self.key(header), generation)
        entry = self._entries.get(self.key(header))
        if entry is None or entry.expires <= self.clock():
            return None
        return entry

    def get(self, key: Hashable, generation: object = None) -> CachedResult | None:
        """Return the live entry for ``key``, or ``None``.

        ``generation`` is the user store's current generation; a different
        one than the entries were made under empties the cache first.
        """
        if generation != self._generation:
            with self._lock:
                if generation != self._generation:
                    self._entries.clear()
                    self._generation = generation
            return None
        entry = self._entries.get(key)
        if entry is None or entry.expires <= self.clock():
            return None
        return entry

    def put(
        self, key: Hashable, username: str, principal: object, generation: object = None
    ) -> None:
        """Remember that ``key`` verified as ``username`` with ``principal`` (``None``: refused)."""
        entry = CachedResult(username, principal, self.clock() + self.ttl)
        with self._lock:
            if generation != self._generation:
                # Verified against a store that has since changed: do not keep.
                return
            entries = self._entries
            entries[key] = entry
            entries.move_to_end(key)
            while len(entries) > self.max_entries:
                entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<VerificationCache {len(self)}/{self.max_entries} entries, ttl={self.ttl:g}s>"


class ResultCache(Protocol):
    """What the core asks of a cache: the result a header verified as, if known.

    ``get`` is the request path: the remembered result, or ``None``. On a
    miss, ``ticket`` names where to remember the result of the check that
    follows, and ``remember`` stores it there. The ticket carries the
    store's generation as of the miss, so a result checked against a store
    that changed meanwhile is never remembered under the new one.
    """

    def get(self, header: str) -> CachedResult | None: ...

    def ticket(self, header: str) -> Hashable: ...

    def remember(self, ticket: Hashable, username: str, principal: object) -> None: ...


class _BoundCache:
    """A :class:`VerificationCache` bound to one store's generation."""

    def __init__(self, cache: VerificationCache, generation: Callable[[], object] | None) -> None:
        self._cache = cache
        self._generation = generation
        if generation is None:
            # A store that never changes: a hit is the cache's own lookup.
            self.get = cache.find  # type: ignore[method-assign]

    def get(self, header: str) -> CachedResult | None:
        generation = None if self._generation is None else self._generation()
        return self._cache.find(header, generation)

    def ticket(self, header: str) -> Hashable:
        generation = None if self._generation is None else self._generation()
        return (self._cache.key(header), generation)

    def remember(self, ticket: Hashable, username: str, principal: object) -> None:
        key, generation = cast("tuple[Hashable, object]", ticket)
        self._cache.put(key, username, principal, generation)


class HeaderMemo:
    """Verified ``Authorization`` values, remembered by value.

    Only for a store whose passwords are in memory in clear anyway
    (``secrets_in_memory``): a hit is one dict lookup, with no keyed hash.
    Only successes are kept (an attacker cannot fill it without a password),
    at most ``max_entries`` values of at most ``max_length`` characters, and
    it is emptied when full or when the store's generation moves.
    """

    def __init__(
        self,
        generation: Callable[[], object] | None = None,
        *,
        max_entries: int = 1024,
        max_length: int = 512,
    ) -> None:
        self._known: dict[str, CachedResult] = {}
        self._generation = generation
        self._seen: object = None if generation is None else generation()
        self.max_entries = max_entries
        self.max_length = max_length
        if generation is None:
            # A store that never changes: a hit is the dict's own lookup.
            self.get = self._known.get  # type: ignore[method-assign,assignment]

    def _current(self) -> object:
        if self._generation is None:
            return None
        generation = self._generation()
        if generation != self._seen:
            self._known.clear()
            self._seen = generation
        return generation

    def get(self, header: str) -> CachedResult | None:
        self._current()
        return self._known.get(header)

    def ticket(self, header: str) -> Hashable:
        return (header, self._current())

    def remember(self, ticket: Hashable, username: str, principal: object) -> None:
        header, generation = cast("tuple[str, object]", ticket)
        if principal is None or len(header) > self.max_length or generation != self._seen:
            return
        if len(self._known) >= self.max_entries:
            self._known.clear()
        self._known[header] = CachedResult(username, principal, 0.0)

    def __len__(self) -> int:
        return len(self._known)


def bind_results(
    cache: VerificationCache | None,
    generation: Callable[[], object] | None,
    secrets_in_memory: bool,
) -> ResultCache | None:
    """The result cache the core uses: ``cache`` bound to the store's generation.

    With no ``cache``, a store holding its secrets in memory still gets a
    :class:`HeaderMemo`; any other store then checks every request.
    """
    if cache is not None:
        return _BoundCache(cache, generation)
    if secrets_in_memory:
        return HeaderMemo(generation)
    return None
