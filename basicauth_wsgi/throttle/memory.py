"""The in-process throttle store: counts kept in this process, bounded in memory.

The default store of :class:`~basicauth_wsgi.Throttle`. Each worker process
of a multi-process server has its own, so there an attacker gets one set of
limits per process; :mod:`basicauth_wsgi.throttle.redis` shares them::

    throttle = Throttle(store=MemoryStore(max_entries=100_000))
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence

from .store import Reservation

__all__ = ["MemoryStore"]


class MemoryStore:
    """The in-process :class:`~basicauth_wsgi.throttle.ThrottleStore`: bounded, LRU out first.

    A key's bucket counts are packed into one int (16 bits a bucket, capped),
    so an entry costs about 250 bytes with its key. ``max_entries`` bounds
    the failure keys and, separately, the trusted (address, user) pairs; a
    key that is read or written moves to the back of the queue, so an
    attacker flooding one-off addresses cannot push out a key that is
    blocked and still being tried. Every operation is atomic under one lock;
    :meth:`peek` reads without it (a dict read and ``move_to_end`` are each
    atomic in CPython, and a key evicted meanwhile is simply not moved).
    Keys leave by bucket arithmetic and by the bound, so ``ttl`` is not
    needed here. The secret is random, for this process only.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError(f"max_entries must be a positive int, got {max_entries!r}")
        self.max_entries = max_entries
        # key -> (latest bucket << 16 * span) | counts, newest in the low bits.
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._trusted: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()
        self._secret = os.urandom(32)

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

    # -- the ThrottleStore protocol ----------------------------------------

    def idle(self) -> bool:
        return not self._counts

    def peek(self, key: str, bucket: int, span: int) -> Sequence[int]:
        packed = self._counts.get(key)
        if packed is None:
            return ()
        with contextlib.suppress(KeyError):  # evicted by another thread meanwhile
            self._counts.move_to_end(key)
        fields = self._fields(packed, bucket, span)
        return self._unpack(fields, span) if fields else ()

    def reserve(
        self,
        keys: Sequence[tuple[str, int]],
        bucket: int,
        span: int,
        ttl: int,
        once: str | None = None,
    ) -> Reservation:
        with self._lock:
            for index, (key, limit) in enumerate(keys):
                if limit:
                    found = self.peek(key, bucket, span)
                    if sum(found) >= limit:
                        return Reservation(index, (found,))
            if once is not None:
                if self.peek(once, bucket, span):
                    found_all = tuple(self.peek(key, bucket, span) for key, _ in keys)
                    return Reservation(None, found_all, repeat=True)
                self._add(once, bucket, span)
            return Reservation(None, tuple(self._add(key, bucket, span) for key, _ in keys))

    def release(
        self, keys: Sequence[str], bucket: int, span: int, trust: str | None, until: float
    ) -> None:
        with self._lock:
            for key in keys:
                packed = self._counts.get(key)
                if packed is None:
                    continue  # evicted meanwhile: nothing left to take back
                age = (packed >> (16 * span)) - bucket
                if 0 <= age < span:
                    shift = 16 * age
                    if (packed >> shift) & 0xFFFF:
                        packed -= 1 << shift
                        if packed & ((1 << (16 * span)) - 1):
                            self._counts[key] = packed
                        else:
                            # Nothing left: forget the key, so a server whose
                            # logins all succeed stays idle().
                            del self._counts[key]
            if trust is not None:
                self._trust(trust, until)

    def trust(self, key: str, until: float) -> None:
        with self._lock:
            self._trust(key, until)

    def trusted(self, key: str, now: float) -> bool:
        until = self._trusted.get(key)
        return until is not None and until > now

    def secret(self) -> bytes:
        return self._secret

    # -- direct counting (tests and tools) ---------------------------------

    def counts(self, key: str, bucket: int, span: int) -> Sequence[int]:
        """The counts of ``key`` in the last ``span`` buckets up to ``bucket``, oldest first."""
        return self.peek(key, bucket, span)

    def add(self, key: str, bucket: int, span: int) -> Sequence[int]:
        """Count one failure of ``key`` in ``bucket`` unconditionally; return its counts."""
        with self._lock:
            return self._add(key, bucket, span)

    def _add(self, key: str, bucket: int, span: int) -> list[int]:
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

    def _trust(self, key: str, until: float) -> None:
        self._trusted[key] = until
        self._trusted.move_to_end(key)
        while len(self._trusted) > self.max_entries:
            self._trusted.popitem(last=False)

    def __len__(self) -> int:
        return len(self._counts) + len(self._trusted)

    def __repr__(self) -> str:
        return f"<MemoryStore {len(self._counts)} keys, {len(self._trusted)} trusted>"
