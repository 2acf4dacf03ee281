"""The throttle store protocol: what a place to keep failure counts must do.

:class:`~basicauth_wsgi.Throttle` does the arithmetic (slots, limits,
``Retry-After``); a store only keeps numbers per key and time bucket. The
protocol is shaped for a networked store (Redis) as much as for the
in-process one:

- the request path of a key that has never failed needs no I/O (:meth:`idle`
  and :meth:`peek` answer from what the process already knows);
- an attempt is counted BEFORE its password is checked, atomically with the
  limit check (:meth:`reserve`), and taken back if it succeeds
  (:meth:`release`): concurrency cannot widen a limit (SPEC §5);
- an uncached check costs at most two calls: reserve, then release on
  success (nothing more on failure);
- the store keeps no password: the throttle hands it keys only, a
  password's being a few bits of a keyed hash (:meth:`secret` is the key).

Policy for a store that raises: :class:`~basicauth_wsgi.Throttle` calls a
store other than its own :class:`~basicauth_wsgi.throttle.MemoryStore`
through :class:`Guarded`, which turns any exception into
:class:`StoreFailure`; the core answers that request ``503`` with
``Retry-After`` and logs the error, so a broken store never lets a request
through unchecked and never gives a traceback 500 (a bug in the library
itself still does). A store with its own outage policy (RedisStore's
``on_error``) handles errors before they get here, and raises a
:class:`StoreFailure` of its own when it refuses to answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, TypeVar, runtime_checkable

__all__ = ["Guarded", "Reservation", "StoreFailure", "ThrottleStore"]


class StoreFailure(Exception):
    """The throttle store could not answer; the request cannot be decided (a 503).

    ``logged`` says whether the store already logged the outage (as
    RedisStore logs its start and end once); otherwise the core logs it.
    """

    logged = False


class Reservation(NamedTuple):
    """What :meth:`ThrottleStore.reserve` did.

    ``blocked`` is the index of the first key found at its limit (then
    nothing was counted, and ``counts`` holds that one key's counts), or
    ``None`` (then one attempt was counted for every key, and ``counts``
    holds each key's counts after it, in the order given). ``repeat``: the
    ``once`` key given was already counted in the span, so nothing was
    counted (``counts`` then holds each key's counts as they are).
    """

    blocked: int | None
    counts: tuple[Sequence[int], ...]
    repeat: bool = False


@runtime_checkable
class ThrottleStore(Protocol):
    """Where a :class:`~basicauth_wsgi.Throttle` keeps its counts.

    Time is cut into numbered buckets (slots of ``window / 10`` seconds); a
    store counts each key's attempts per bucket and must remember at least
    the last ``span`` buckets of a key (it may forget older ones). Counts
    are returned oldest first, ``span`` of them, or empty when the key has
    none. The throttle hands over how long a count must live (``ttl``,
    seconds): a store that expires keys (Redis) gives a key that TTL from
    its last count; the store never derives a slot length from the clock.
    Every method may be called from many threads (and, for a shared store,
    from many processes) at once.
    """

    def idle(self) -> bool:
        """Return whether no key has any count, as this process knows without I/O.

        The request path asks this first: on a server nobody attacks it is
        true, and the throttle costs nothing more.
        """
        ...

    def peek(self, key: str, bucket: int, span: int) -> Sequence[int]:
        """Return ``key``'s counts as this process knows them, without waiting on I/O.

        A shared store answers from a local view that is at most a second
        old, so a block decided by another process is seen within a second.
        Used to refuse blocked keys early; the exact check is :meth:`reserve`.
        """
        ...

    def reserve(
        self,
        keys: Sequence[tuple[str, int]],
        bucket: int,
        span: int,
        ttl: int,
        once: str | None = None,
    ) -> Reservation:
        """Atomically: unless a key has reached its limit, count one attempt for each.

        ``keys`` are ``(key, limit)`` pairs; a limit of 0 counts the key but
        never blocks on it. A key has reached its limit when the sum of its
        counts over the last ``span`` buckets is at least the limit. Each
        key counted lives ``ttl`` seconds from now at least.

        With ``once`` (a key of its own: a client repeating one request),
        the same call also decides whether this attempt is a repeat: if
        ``once`` already has a count in the span, limits are checked as
        usual but nothing is counted (``repeat`` is set); otherwise ``once``
        is counted with the keys (and given back by :meth:`release` like
        them, when the caller lists it).
        """
        ...

    def release(
        self, keys: Sequence[str], bucket: int, span: int, trust: str | None, until: float
    ) -> None:
        """Take back one attempt of each key in ``bucket`` (it succeeded), in one call.

        With ``trust``, also remember that key (a client and a user) as
        trusted until time ``until``.
        """
        ...

    def trust(self, key: str, until: float) -> None:
        """Remember ``key`` (a client and a user) as trusted until time ``until``."""
        ...

    def trusted(self, key: str, now: float) -> bool:
        """Return whether ``key`` is trusted at time ``now`` (may do I/O: called rarely)."""
        ...

    def secret(self) -> bytes:
        """The secret the throttle keys its digests with, as this process knows it (no I/O).

        At least 16 random bytes, the same for every process sharing the
        store: a password's count is kept under a few bits of a keyed hash
        of it, so the key must be secret and common. A shared store shares
        it through itself (created once by whichever process comes first);
        it may replace the secret it knows when it finds the store holding
        another (a process that started while the store's copy was lost):
        a :meth:`reserve` during which it did so counted nothing (it returns
        ``Reservation(None, (), repeat=True)``), and the throttle makes it
        again with keys of the new secret.
        """
        ...


R = TypeVar("R")


def _guard(method: Callable[..., R]) -> Callable[..., R]:
    name = method.__name__

    def call(self: Guarded, *args: Any) -> R:
        try:
            result: R = getattr(self.store, name)(*args)
        except StoreFailure:
            raise
        except Exception as exc:
            raise StoreFailure(f"throttle store {self.store!r}: {name} failed: {exc!r}") from exc
        return result

    call.__name__ = name
    call.__doc__ = method.__doc__
    return call


class Guarded:
    """A store whose every exception becomes :class:`StoreFailure`: the one outage wrapper.

    So the core can tell a store that failed (503) from a bug of its own
    (500 with a traceback), whatever the store raises.
    """

    __slots__ = ("store",)

    def __init__(self, store: ThrottleStore) -> None:
        self.store = store

    idle = _guard(ThrottleStore.idle)
    peek = _guard(ThrottleStore.peek)
    reserve = _guard(ThrottleStore.reserve)
    release = _guard(ThrottleStore.release)
    trust = _guard(ThrottleStore.trust)
    trusted = _guard(ThrottleStore.trusted)
    secret = _guard(ThrottleStore.secret)

    def __repr__(self) -> str:
        return f"<Guarded {self.store!r}>"
