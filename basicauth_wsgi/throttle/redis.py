"""A shared throttle store: failure counts kept in Redis, for every process and host.

With the in-process store each worker of a multi-process server counts on
its own, so ``gunicorn -w 4`` gives an attacker 4x the guesses. This store
keeps the counts (and the 24-hour trust of (address, user) pairs) in Redis,
shared by every process (extra ``redis``, redis-py): one server, a Sentinel
deployment or a Cluster (:mod:`.redisurl` reads the URLs)::

    store = RedisStore.from_url("redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster")
    app = BasicAuth(app, users, throttle=Throttle(store=store))

How it meets the :class:`~basicauth_wsgi.throttle.ThrottleStore` contract:

- Counting is atomic on the server: :meth:`RedisStore.reserve` and
  :meth:`RedisStore.release` are one Lua script call each (the scripts are
  the package's ``lua/*.lua`` files, loaded once and called by SHA), so
  concurrent attempts from any number of processes cannot widen a limit.
  A key is a hash ``<prefix>{throttle}:k:<key>`` whose fields are bucket
  numbers (and ``l``, the limit last asked for it). Every key carries the
  hash tag ``{throttle}``, so on a Cluster all of them are in one slot and
  no script fails with CROSSSLOT (the cluster gives failover, not room).
- Every key expires on its own: a count key the ``ttl`` the throttle hands
  over, a trust key ``<prefix>{throttle}:t:<key>`` at its ``until``, the
  secret a week after its last use.
- The deployment's secret (:meth:`RedisStore.secret`) lives in
  ``<prefix>{throttle}:secret``: the first process to come puts its own
  there; the reserve script checks every process's against it, puts it back
  if it was lost, and tells a process holding another one to adopt it.
- :meth:`RedisStore.peek` never does I/O: it answers from a local view of
  what this process's own calls returned and of the keys that any process
  found at their limit. Those come by **pub/sub**: the script that counts a
  key to its limit (or a release that brings it back under) publishes the
  key's counts on ``<prefix>{throttle}:blocks``; a thread per process
  subscribed to it updates the view within milliseconds. An idle
  deployment costs no command (a poll would cost one a second, forever).
  Messages sent while a subscriber is disconnected are lost, so on every
  (re)connect it subscribes, then loads the newest 1000 blocked keys from
  the sorted set ``<prefix>{throttle}:blocked``: the view is bounded, and a
  key it misses is still refused exactly by :meth:`reserve`.
- Outages (Redis unreachable, or slower than ``TIMEOUT``, 250 ms) are
  handled in one place, :func:`_outage`: with ``on_error="fallback"`` (the
  default) attempts are counted in a private
  :class:`~basicauth_wsgi.throttle.MemoryStore` (per process, so the
  multiplier of a per-process store applies for the outage), starting from
  what the local view last knew; with ``on_error="closed"`` every method
  that needs Redis raises :class:`StoreUnavailable` (the core answers 503),
  and :meth:`peek` too, for the whole outage. One ERROR is logged when an
  outage starts and one INFO when it ends. Redis is tried again at most
  every 2 to 5 s by requests, and at once by the subscriber, which PINGs
  while Redis is down: the first answer ends the outage. With ``closed``
  the subscriber PINGs every half second anyway, so a Redis that hangs
  (accepts connections, answers nothing) is noticed within 0.75 s even by
  requests that make no Redis command (a cached login), as a dead one is.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.resources
import logging
import os
import threading
import time
import urllib.parse
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from . import redisurl
from .memory import MemoryStore
from .store import Reservation, StoreFailure

if TYPE_CHECKING:
    import redis as redis_module

__all__ = ["RedisStore", "StoreUnavailable"]

logger = logging.getLogger("basicauth_wsgi")

#: Connection and command timeout: a slower Redis counts as down (SPEC §5).
TIMEOUT = 0.25
#: First and longest wait before Redis is tried again after a failure.
RETRY = 2.0
RETRY_MAX = 5.0
#: With ``on_error="closed"``: how often the subscriber PINGs Redis.
HEARTBEAT = 0.5
#: The longest a Sentinel failover keeps the store from writing (then it tries).
FAILOVER_MAX = 30.0
#: Blocked keys loaded when the subscriber (re)connects.
CATCH_UP = 1000
#: Keys the local view keeps at most (the oldest go first).
VIEW_MAX = 100_000
#: Seconds the deployment's secret outlives its last use.
SECRET_TTL = 7 * 86_400
#: The hash tag of every key (Redis Cluster: one slot for all).
TAG = "{throttle}:"

# The PING payload of the subscriber's heartbeat (its PONG says the same).
_PING = "basicauth-throttle"

R = TypeVar("R")


def _script(name: str) -> str:
    """A Lua script of the package; reserve and release start with the shared functions."""
    folder = importlib.resources.files(__package__).joinpath("lua")
    text = folder.joinpath(name).read_text(encoding="utf-8")
    if name in ("reserve.lua", "release.lua"):
        text = folder.joinpath("counts.lua").read_text(encoding="utf-8") + text
    return text


class SentinelFailover(Exception):
    """What the outage is when the sentinels began to replace the master."""


#: What the Sentinel watcher follows: a failover's start, its end, its aborts.
_SENTINEL_EVENTS = (
    "+try-failover",
    "+switch-master",
    "-failover-abort-not-elected",
    "-failover-abort-no-good-slave",
    "-failover-abort-slave-timeout",
)


class StoreUnavailable(StoreFailure):
    """Redis did not answer in time and the store's ``on_error`` is ``"closed"``.

    The outage's start and end are logged by the store, once each.
    """

    logged = True


def _redis() -> Any:
    try:
        import redis
    except ImportError:
        raise ImportError(
            "RedisStore needs redis-py: pip install 'basicauth-wsgi[redis]'"
        ) from None
    return redis


def _after_fork(ref: weakref.ref[RedisStore]) -> None:
    store = ref()
    if store is not None:
        store._forked()


def _outage(fallback: Callable[..., R]) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """The one outage policy of every method that talks to Redis.

    The decorated method runs against Redis unless Redis is known down and
    its next try is not due yet; a Redis error marks the outage (logged
    once). Then ``on_error="closed"`` raises :class:`StoreUnavailable`, and
    ``"fallback"`` answers with ``fallback`` (same arguments), in process.
    """

    def decorate(method: Callable[..., R]) -> Callable[..., R]:
        @functools.wraps(method)
        def call(self: RedisStore, *args: Any) -> R:
            if self._usable():
                try:
                    result = method(self, *args)
                except self._errors as exc:
                    self._failed(exc)
                else:
                    self._answered()
                    return result
            if self.on_error == "closed":
                raise StoreUnavailable("throttle store: Redis is unavailable (on_error='closed')")
            return fallback(self, *args)

        return call

    return decorate


def _own_parameters(url: str, prefix: str, on_error: str) -> tuple[str, str, str]:
    """Take ``prefix`` and ``on_error`` out of ``url``'s query; the URL left and both values."""
    base, mark, query = url.partition("?")
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    found = {name: value for name, value in pairs if name in ("prefix", "on_error")}
    for name, given, default in (
        ("prefix", prefix, "basicauth:"),
        ("on_error", on_error, "fallback"),
    ):
        if name in found and given != default and given != found[name]:
            raise ValueError(f"{name}: {given!r} given, but the URL says {found[name]!r}")
    rest = urllib.parse.urlencode([(n, v) for n, v in pairs if n not in found])
    return (
        base + (mark if rest else "") + rest,
        found.get("prefix", prefix),
        found.get("on_error", on_error),
    )


def _window(pairs: tuple[tuple[int, int], ...], bucket: int, span: int) -> tuple[int, ...]:
    """A view entry's counts over the span ending at ``bucket``; empty when none are left."""
    oldest = bucket - span + 1
    found = [0] * span
    for at, count in pairs:
        if at > bucket:
            found[-1] += count  # another host's clock runs ahead: the newest
        elif at >= oldest:
            found[at - oldest] += count
    return tuple(found) if any(found) else ()


class RedisStore:
    """A :class:`~basicauth_wsgi.throttle.ThrottleStore` shared through Redis.

    ``client`` is a redis-py ``Redis`` client (a Sentinel's ``master_for``
    gives one too) or a ``RedisCluster``; give it short timeouts, or use
    :meth:`from_url`. ``prefix`` starts every key and channel name.
    ``on_error`` is ``"fallback"`` (count in process while Redis is down)
    or ``"closed"`` (raise :class:`StoreUnavailable`, so requests that need
    the store get 503). ``clock`` is the monotonic clock of the retry
    back-off and the heartbeat (injectable for tests).
    """

    def __init__(
        self,
        client: redis_module.Redis | redis_module.RedisCluster,
        *,
        prefix: str = "basicauth:",
        on_error: str = "fallback",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        redis = _redis()
        if not isinstance(client, (redis.Redis, redis.RedisCluster)):
            raise TypeError(f"client must be a redis.Redis or RedisCluster, got {client!r}")
        if not isinstance(prefix, str) or not prefix or any(c in prefix for c in "\r\n\0{}"):
            raise ValueError(
                "prefix must be a non-empty line of text without { or } (the store adds "
                f"its own hash tag), got {prefix!r}"
            )
        if on_error not in ("fallback", "closed"):
            raise ValueError(f"on_error must be 'fallback' or 'closed', got {on_error!r}")
        self.client = client
        self.prefix = prefix
        self.on_error = on_error
        self.clock = clock
        from redis.exceptions import RedisClusterException

        self._errors: tuple[type[BaseException], ...] = (
            redis.RedisError,
            RedisClusterException,
            OSError,
        )
        self._reserve = client.register_script(_script("reserve.lua"))
        self._release = client.register_script(_script("release.lua"))
        self._catch_up = client.register_script(_script("catch_up.lua"))
        self._share_secret = client.register_script(_script("secret.lua"))
        tagged = prefix + TAG
        self._keys = tagged + "k:"
        self._trusts = tagged + "t:"
        self._zset = tagged + "blocked"
        self._secret_key = tagged + "secret"
        self._channel = tagged + "blocks"
        # This process's candidate until Redis says which one is shared
        # (the subscriber asks at once); ASCII hex, used as the key itself.
        self._secret = os.urandom(32).hex().encode("ascii")
        # name -> ((bucket, count), ...): what this process knows. Written
        # under _view_lock (request threads and the subscriber insert and
        # evict); read without it (one dict lookup is atomic in CPython).
        self._view: dict[str, tuple[tuple[int, int], ...]] = {}
        self._view_lock = threading.Lock()
        self._fallback = MemoryStore()
        self._fell_back = False  # the fallback has counted something
        self._lock = threading.Lock()  # the outage state and the subscriber's start
        self._down = False  # Redis failed and has not answered since
        self._retry_at = 0.0
        self._failover_until = 0.0  # a Sentinel failover runs until then (monotonic)
        self._backoff = RETRY
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None
        self._watcher: threading.Thread | None = None  # a Sentinel's +switch-master
        self._subscribed = threading.Event()  # set while the subscriber receives
        self._switched = threading.Event()  # the watcher saw a new master
        # A forked worker (gunicorn --preload) inherits no thread: start anew.
        os.register_at_fork(after_in_child=functools.partial(_after_fork, weakref.ref(self)))

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str = "basicauth:", on_error: str = "fallback"
    ) -> RedisStore:
        """A store on a new client for ``url``: see :mod:`.redisurl` for every form.

        ``redis://``, ``rediss://`` (TLS), ``unix://``, ``valkey://``,
        ``valkeys://``, ``redis+sentinel://`` and ``redis+cluster://``. The
        URL may carry this store's own options as query parameters,
        ``?on_error=closed&prefix=myapp:``, so that ``serve --redis`` and
        ``BASICAUTH_REDIS_URL`` can set them; a keyword that disagrees with
        the URL is a ``ValueError``. No error message shows the password.

        Connection and command timeouts are 250 ms, a pooled connection is
        checked (PING) when idle for 30 s, and a failed command is retried
        once at once (a pooled connection the server dropped), never with a
        back-off that would hold a request thread. A Cluster is asked for its
        slots here, so it must answer at start.
        """
        redis = _redis()
        url, prefix, on_error = _own_parameters(url, prefix, on_error)
        try:
            target = redisurl.parse(url)
            client = _client(redis, target)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"throttle_redis_url: {exc}") from None
        return cls(client, prefix=prefix, on_error=on_error)

    # -- outage bookkeeping ---------------------------------------------------

    def _usable(self) -> bool:
        """Whether to ask Redis now: it is up, or its next try is due (and no failover runs)."""
        if not self._down:
            return True
        now = self.clock()
        return now >= self._retry_at and now >= self._failover_until

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            if not self._down:
                self._down = True
                self._backoff = RETRY
                logger.error(
                    "throttle store: Redis unreachable (%s: %s); %s",
                    type(exc).__name__,
                    exc,
                    "counting in process until it answers"
                    if self.on_error == "fallback"
                    else "answering 503 to requests that need it",
                )
            else:
                self._backoff = min(self._backoff * 2, RETRY_MAX)
            self._retry_at = self.clock() + self._backoff

    def _answered(self) -> None:
        if self._down:
            with self._lock:
                # The old master answers during a failover: not the end of it.
                if self._down and self.clock() >= self._failover_until:
                    # Logged before it shows: whoever sees `available` again
                    # (another thread) also finds the line that says so.
                    logger.info("throttle store: Redis answers again; counting there")
                    self._down = False

    def _refused(self) -> bool:
        """Whether a call that needs no I/O must still refuse: closed, and Redis down."""
        return self._down and self.on_error == "closed"

    # -- the local view and the secret -----------------------------------------

    def _see(self, name: str, bucket: int, found: Sequence[Any]) -> None:
        counts = [int(c) for c in found]
        start = bucket - len(counts) + 1
        pairs = tuple((start + age, count) for age, count in enumerate(counts) if count)
        with self._view_lock:
            view = self._view
            if not pairs:
                view.pop(name, None)
                return
            if name not in view and len(view) >= VIEW_MAX:
                del view[next(iter(view))]  # the oldest entry first
            view[name] = pairs

    def _adopt(self, secret: bytes) -> None:
        if secret != self._secret:
            self._secret = secret  # one reference assignment: readers see old or new

    def _forked(self) -> None:
        self._listener = self._watcher = None
        self._subscribed = threading.Event()
        self._switched = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._view_lock = threading.Lock()

    # -- the ThrottleStore protocol ----------------------------------------

    def idle(self) -> bool:
        """No key known to have counts here, and Redis not refused as closed: no I/O."""
        if self._listener is None:
            self._listen()
        if self._refused():
            return False  # let peek() raise, so the core answers 503
        return not self._view and not (self._fell_back and not self._fallback.idle())

    def peek(self, key: str, bucket: int, span: int) -> Sequence[int]:
        if self._listener is None:
            self._listen()
        if self._refused():
            raise StoreUnavailable("throttle store: Redis is unavailable (on_error='closed')")
        entry = self._view.get(key)
        found = _window(entry, bucket, span) if entry is not None else ()
        if self._fell_back:
            local = self._fallback.peek(key, bucket, span)
            if local:
                found = tuple(a + b for a, b in zip(found or (0,) * span, local, strict=True))
        return found

    def reserve(
        self,
        keys: Sequence[tuple[str, int]],
        bucket: int,
        span: int,
        ttl: int,
        once: str | None = None,
    ) -> Reservation:
        if self._listener is None:
            self._listen()
        # Counts made in process during an outage keep blocking here.
        if self._fell_back:
            blocked = self._blocked_here(keys, bucket, span)
            if blocked is not None:
                return blocked
        return self._reserve_shared(keys, bucket, span, ttl, once)

    def _blocked_here(
        self, keys: Sequence[tuple[str, int]], bucket: int, span: int
    ) -> Reservation | None:
        for index, (key, limit) in enumerate(keys):
            found = self.peek(key, bucket, span)
            if limit and sum(found) >= limit:
                return Reservation(index, (found,))
        return None

    def _reserve_here(
        self,
        keys: Sequence[tuple[str, int]],
        bucket: int,
        span: int,
        ttl: int,
        once: str | None = None,
    ) -> Reservation:
        """The fallback: count in process, starting from what the view last knew."""
        blocked = self._blocked_here(keys, bucket, span)
        if blocked is not None:
            return blocked
        self._fell_back = True
        result = self._fallback.reserve([(key, 0) for key, _ in keys], bucket, span, ttl, once)
        counted = tuple(tuple(self.peek(key, bucket, span)) for key, _ in keys)
        return Reservation(None, counted, result.repeat)

    @_outage(fallback=_reserve_here)
    def _reserve_shared(
        self,
        keys: Sequence[tuple[str, int]],
        bucket: int,
        span: int,
        ttl: int,
        once: str | None = None,
    ) -> Reservation:
        secret = self._secret
        names = [key for key, _ in keys]
        result = self._reserve(
            keys=[
                self._zset,
                self._secret_key,
                *(self._keys + name for name in names),
                *([self._keys + once] if once is not None else []),
            ],
            args=[bucket, span, ttl, self._channel, secret, SECRET_TTL, len(keys), *names]
            + [limit for _, limit in keys],
            client=self.client,
        )
        first = int(result[0])
        if first == -2:
            # Another secret is shared: adopt it; the throttle counts again.
            self._adopt(bytes(result[1]))
            return Reservation(None, tuple(() for _ in keys), repeat=True)
        if first >= 0:
            self._see(names[first], bucket, result[1])
            return Reservation(first, (tuple(int(c) for c in result[1]),))
        for name, found in zip(names, result[1:], strict=True):
            self._see(name, bucket, found)
        counted = tuple(tuple(int(c) for c in found) for found in result[1:])
        return Reservation(None, counted, repeat=first == -3)

    def _release_here(
        self, keys: Sequence[str], bucket: int, span: int, trust: str | None, until: float
    ) -> None:
        # Where this attempt was counted, most likely (an attempt counted in
        # Redis just before it failed keeps a count there: the safe side).
        self._fallback.release(keys, bucket, span, trust, until)

    @_outage(fallback=_release_here)
    def release(
        self, keys: Sequence[str], bucket: int, span: int, trust: str | None, until: float
    ) -> None:
        redis_keys = [self._zset, *(self._keys + key for key in keys)]
        if trust is not None:
            redis_keys.append(self._trusts + trust)
        result = self._release(
            keys=redis_keys,
            args=[bucket, span, self._channel, len(keys), repr(until), _trust_ttl(until), *keys],
            client=self.client,
        )
        for key, found in zip(keys, result, strict=True):
            self._see(key, bucket, found)

    def _trust_here(self, key: str, until: float) -> None:
        self._fallback.trust(key, until)

    @_outage(fallback=_trust_here)
    def trust(self, key: str, until: float) -> None:
        self.client.set(self._trusts + key, repr(until), ex=_trust_ttl(until))

    def trusted(self, key: str, now: float) -> bool:
        return self._fallback.trusted(key, now) or self._trusted_shared(key, now)

    def _not_trusted(self, key: str, now: float) -> bool:
        return False

    @_outage(fallback=_not_trusted)
    def _trusted_shared(self, key: str, now: float) -> bool:
        value = self.client.get(self._trusts + key)
        return value is not None and float(value) > now

    def secret(self) -> bytes:
        """The deployment's secret as this process knows it; shared through Redis (no I/O here)."""
        return self._secret

    # -- the subscriber ---------------------------------------------------------

    def _listen(self) -> None:
        """Start the subscriber thread of this process, once (and a Sentinel's watcher)."""
        with self._lock:
            if self._listener is None and not self._stop.is_set():
                self._listener = threading.Thread(
                    target=self._subscriber, name="basicauth-redis-blocks", daemon=True
                )
                self._listener.start()
                pool = getattr(self.client, "connection_pool", None)
                if isinstance(pool, _redis().sentinel.SentinelConnectionPool):
                    self._watcher = threading.Thread(
                        target=self._watch,
                        args=(pool.sentinel_manager.sentinels, pool.service_name),
                        name="basicauth-redis-sentinel",
                        daemon=True,
                    )
                    self._watcher.start()

    def _watch(self, sentinels: Sequence[Any], service: str) -> None:
        """Follow the sentinels' failovers of ``service``: stop writing when one begins.

        With asynchronous replication, every count written to the old master
        after the replica's promotion is lost, and a forced failover leaves
        the old master writable until the sentinels convert it (up to 10 s).
        So from ``+try-failover`` (published by the sentinel leading it,
        before it promotes anything) until ``+switch-master`` (or an abort,
        or ``FAILOVER_MAX``) Redis counts as down: closed mode answers 503,
        fallback counts in process; only the attempts in flight when the
        failover began can be lost. Then the command pool is dropped, so the
        next command asks the sentinels for the new master. Every sentinel
        is followed (the leader may be any of them), from this one thread;
        it writes only the outage state (under its lock), the pool (which
        takes its own) and an Event.
        """
        stop = self._stop
        pubsubs: list[Any] = [None] * len(sentinels)
        retry_at = [0.0] * len(sentinels)
        try:
            while not stop.is_set():
                for index, sentinel in enumerate(sentinels):
                    try:
                        if pubsubs[index] is None:
                            if self.clock() < retry_at[index]:
                                continue
                            pubsubs[index] = pubsub = sentinel.pubsub()
                            pubsub.subscribe(*_SENTINEL_EVENTS)
                        message = pubsubs[index].get_message(timeout=0.02)
                    except self._errors:
                        _close(pubsubs[index], None, None, self._errors)
                        pubsubs[index], retry_at[index] = None, self.clock() + RETRY
                        continue
                    if message is not None and message.get("type") == "message":
                        self._sentinel_event(message, service, sentinel)
                if all(pubsub is None for pubsub in pubsubs):
                    stop.wait(0.5)  # no sentinel answers: the master's own errors tell
        finally:
            for pubsub in pubsubs:
                _close(pubsub, None, None, self._errors)

    def _sentinel_event(self, message: dict[str, Any], service: str, sentinel: Any) -> None:
        channel, data = message["channel"], message["data"]
        words = data.decode("utf-8", "replace").split()
        # "+try-failover master <name> ...", "+switch-master <name> ...",
        # "-failover-abort-... master <name> ..."
        name = words[0] if channel == b"+switch-master" else (words[1:2] or [""])[0]
        if name != service:
            return
        if channel == b"+try-failover":
            with self._lock:
                self._failover_until = self.clock() + FAILOVER_MAX
            self._failed(SentinelFailover(f"a Sentinel failover of {service!r} began"))
        elif self._failover_until:
            with self._lock:
                self._failover_until = 0.0
                self._retry_at = 0.0  # the next command tries the new master
            if channel == b"+switch-master":
                # Ask this sentinel first: it knows the new master, the others
                # may still name the old one for a while (redis-py takes the
                # first answer). One assignment: redis-py's own reordering
                # of the old list, meanwhile, changes nothing here.
                manager = self.client.connection_pool.sentinel_manager
                manager.sentinels = [sentinel, *(s for s in manager.sentinels if s is not sentinel)]
                self.client.connection_pool.disconnect()
                self._switched.set()

    def _subscriber(self) -> None:
        """Keep the view and the secret up to date; notice outages and their end."""
        stop = self._stop
        make = _listener_factory(_redis(), self.client)
        wait = RETRY
        while not stop.is_set():
            listener: Any = None
            pubsub: Any = None
            try:
                listener = make()
                pubsub = listener.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self._channel)
                self._connected()
                wait = RETRY
                if self._receive(pubsub):
                    wait = 0.0  # the master changed: reconnect to the new one at once
            except self._errors as exc:
                self._subscribed.clear()
                if not stop.is_set():
                    self._failed(exc)
            except Exception:
                # Not an outage but a bug or a foreign message: keep listening.
                self._subscribed.clear()
                logger.exception("throttle store: the Redis subscriber failed; restarting it")
            finally:
                _close(pubsub, listener, self.client, self._errors)
            stop.wait(wait)
            wait = min(max(wait, RETRY / 2) * 2, RETRY_MAX)

    def _connected(self) -> None:
        """Once subscribed: learn the shared secret and the current blocks."""
        shared = self._share_secret(
            keys=[self._secret_key], args=[self._secret, SECRET_TTL], client=self.client
        )
        if shared:
            self._adopt(bytes(shared))
        found = self._catch_up(keys=[self._zset], args=[CATCH_UP, self._keys], client=self.client)
        for name, flat in found:
            self._load(name, flat)
        self._subscribed.set()
        self._answered()

    def _probe(self) -> None:
        """Whether the outage is over: a write through the command client, not just a PONG.

        During a Sentinel failover the subscriber may still talk to the old
        master, which answers PING but refuses writes.
        """
        try:
            shared = self._share_secret(
                keys=[self._secret_key], args=[self._secret, SECRET_TTL], client=self.client
            )
        except self._errors as exc:
            self._failed(exc)
        else:
            if shared:
                self._adopt(bytes(shared))
            self._answered()

    def _receive(self, pubsub: Any) -> bool:
        """Read blocks until stopped; PING on the way while closed, or while Redis is down.

        A PING unanswered for longer than ``TIMEOUT`` marks an outage (once:
        no new PING goes out until it is answered); its PONG, and a write
        that succeeds after it (:meth:`_probe`), end one. Returns ``True``
        when a Sentinel announced a new master: reconnect.
        """
        stop = self._stop
        sent: float | None = None  # when the PING waiting for its PONG went out
        late = False
        due = self.clock() + HEARTBEAT
        while not stop.is_set():
            if self._switched.is_set():
                self._switched.clear()
                return True
            now = self.clock()
            beating = self.on_error == "closed" or self._down
            if beating and sent is None and now >= due:
                pubsub.ping(_PING)
                sent = now
            if sent is not None and not late and now - sent > TIMEOUT:
                late = True
                self._failed(TimeoutError(f"no answer to PING within {TIMEOUT:g} s"))
            timeout = 0.05 if sent is not None else (HEARTBEAT if beating else 1.0)
            message = pubsub.get_message(timeout=timeout)
            if message is None:
                continue
            if message.get("type") == "pong":
                sent, late, due = None, False, self.clock() + HEARTBEAT
                if self._down:
                    self._probe()
            elif message.get("type") == "message":
                self._message(message["data"])
        return False

    def _load(self, name: bytes, flat: Sequence[bytes]) -> None:
        fields = {int(f): int(v) for f, v in zip(flat[::2], flat[1::2], strict=True) if f != b"l"}
        if fields:
            newest = max(fields)
            oldest = min(fields)
            counts = [fields.get(b, 0) for b in range(oldest, newest + 1)]
            self._see(name.decode("utf-8", "replace"), newest, counts)

    def _message(self, data: bytes) -> None:
        try:
            name, bucket, counts = data.decode("utf-8").split("\n")
            self._see(name, int(bucket), [int(c) for c in counts.split(",")])
        except ValueError:
            logger.warning("throttle store: ignored a malformed message on %s", self._channel)

    # -- life cycle --------------------------------------------------------

    @property
    def available(self) -> bool:
        """Whether Redis answered the last time it was asked."""
        return not self._down

    def ready(self, timeout: float) -> bool:
        """Wait until this process receives the blocks others announce; whether it does."""
        if self._listener is None:
            self._listen()
        return self._subscribed.wait(timeout)

    def close(self) -> None:
        """Stop the subscriber thread (within a second) and drop the connections."""
        self._stop.set()
        for thread in (self._listener, self._watcher):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=3.0)
        _disconnect(self.client)

    def __repr__(self) -> str:
        state = "down" if self._down else "up"
        return f"<RedisStore prefix={self.prefix!r} on_error={self.on_error!r} {state}>"


def _trust_ttl(until: float) -> int:
    # Expire at `until` (wall-clock time); a clock far from wall time (a
    # test's) gets the longest trust, 24 hours and one of slack.
    left = int(until - time.time()) + 1
    return left if 0 < left <= 25 * 3600 else 25 * 3600


# -- clients -------------------------------------------------------------------


def _client(redis: Any, target: redisurl.Target) -> Any:
    """The command client for a parsed URL: short timeouts, one retry at once."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    timeouts = {"socket_timeout": TIMEOUT, "socket_connect_timeout": TIMEOUT}
    if target.kind == "single":
        assert target.url is not None
        client = redis.Redis.from_url(
            target.url,
            health_check_interval=30,
            retry=Retry(NoBackoff(), 1),
            retry_on_timeout=False,
            **timeouts,
        )
        _check_options(client)
        return client
    options = dict(target.options)
    auth = {"username": target.username, "password": target.password}
    if target.kind == "sentinel":
        sentinel_auth = {
            "username": options.pop("sentinel_username", None),
            "password": options.pop("sentinel_password", None),
        }
        sentinel = redis.sentinel.Sentinel(
            list(target.nodes),
            sentinel_kwargs={**timeouts, **sentinel_auth},
            **timeouts,
            **auth,
            **options,
        )
        client = sentinel.master_for(
            target.service,
            db=target.db,
            health_check_interval=30,
            retry=Retry(NoBackoff(), 1),
            retry_on_timeout=False,
        )
        _check_options(client)
        return client
    try:
        return redis.RedisCluster(
            startup_nodes=[redis.cluster.ClusterNode(host, port) for host, port in target.nodes],
            retry=Retry(NoBackoff(), 1),
            health_check_interval=30,
            **timeouts,
            **auth,
            **options,
        )
    except (redis.RedisError, OSError, redis.exceptions.RedisClusterException) as exc:
        raise ValueError(
            "no node of the Redis Cluster answered ("
            + ", ".join(f"{host}:{port}" for host, port in target.nodes)
            + f"): {type(exc).__name__}"
        ) from None


def _check_options(client: Any) -> None:
    """Make one connection object (not connected): an unknown URL option fails now, not later."""
    pool = client.connection_pool
    try:
        pool.connection_class(**pool.connection_kwargs)
    except TypeError as exc:
        raise ValueError(f"unknown connection option in the URL ({exc})") from None


def _listener_factory(redis: Any, client: Any) -> Callable[[], Any]:
    """How the subscriber gets a client of its own: no read timeout, no health-check PING.

    Its reads wait as long as ``get_message`` says; the OS's TCP keepalive
    notices a vanished host; an idle deployment costs no command.
    """
    if isinstance(client, redis.RedisCluster):
        return lambda: client  # its pubsub() takes a connection of its own
    pool = client.connection_pool
    quiet = {"health_check_interval": 0, "socket_timeout": None, "socket_keepalive": True}
    if isinstance(pool, redis.sentinel.SentinelConnectionPool):
        manager, service = pool.sentinel_manager, pool.service_name
        db = pool.connection_kwargs.get("db", 0)
        return lambda: manager.master_for(service, db=db, **quiet)
    kwargs = {**pool.connection_kwargs, **quiet}
    kwargs.pop("retry", None)
    return lambda: redis.Redis(
        connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
    )


def _close(
    pubsub: Any, listener: Any, client: Any, errors: tuple[type[BaseException], ...]
) -> None:
    """Drop the subscriber's connections (never the command client's)."""
    if pubsub is not None:
        with contextlib.suppress(*errors):
            pubsub.close()
    if listener is not None and listener is not client:
        with contextlib.suppress(*errors):
            listener.connection_pool.disconnect()


def _disconnect(client: Any) -> None:
    if hasattr(client, "connection_pool"):
        client.connection_pool.disconnect()
    else:  # a RedisCluster: a pool per node
        client.close()
