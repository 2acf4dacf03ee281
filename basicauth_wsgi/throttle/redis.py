"""A shared throttle store: failure counts kept in Redis, for every process and host.

With the in-process store each worker of a multi-process server counts on
its own, so ``gunicorn -w 4`` gives an attacker 4x the guesses. This store
keeps the counts (and the 24-hour trust of (address, user) pairs) in one
Redis server that every process shares (extra ``redis``, redis-py)::

    store = RedisStore.from_url("redis://127.0.0.1:6379/0")
    app = BasicAuth(app, users, throttle=Throttle(store=store))

How it meets the :class:`~basicauth_wsgi.throttle.ThrottleStore` contract:

- Counting is atomic on the server: :meth:`RedisStore.reserve` and
  :meth:`RedisStore.release` are one Lua script call each (loaded once,
  called by SHA), so concurrent attempts from any number of processes
  cannot widen a limit. A key is a hash ``<prefix>k:<key>`` whose fields
  are bucket numbers (and ``l``, the limit last asked for it); buckets older
  than the span are dropped by the scripts as they go.
- Every key expires on its own. The store is handed bucket numbers, not
  seconds, so it derives the slot length from the wall clock
  (``time.time() / bucket``, exact for the default clock) and gives a count
  key a TTL of its span of slots plus 10%, at least a minute and at most
  26.4 hours (the longest window, 86400 s, in 11 slots of 8640 s: also
  what a test clock far behind wall time gets). Trust keys ``<prefix>t:<key>`` expire at their
  ``until`` (wall-clock time).
- :meth:`RedisStore.peek` never does I/O: it answers from a local view.
  The view holds what this process's own reserve and release calls
  returned, and the keys that any process found at their limit. Those
  come by **pub/sub**: the script that counts a key to its limit (or a
  release that brings a blocked key back under it) publishes the key's
  counts on ``<prefix>blocks``, and a background thread per process
  subscribed to it updates the view within milliseconds. Pub/sub was
  chosen over polling because an idle deployment then costs no command at
  all (a poll costs every process a command a second, forever) and a block
  arrives at once instead of within the poll period. Messages sent while a
  subscriber is disconnected are lost, so on every (re)connect it first
  subscribes, then loads the newest 1000 blocked keys from the sorted set
  ``<prefix>blocked`` (score: the key's newest bucket; trimmed as buckets
  age out): the view is bounded, and a key it misses is still refused
  exactly by :meth:`reserve`, before any password is checked. A key that
  never failed costs nothing: not in the view, no command.
- Outages (Redis unreachable, or slower than ``timeout``, 250 ms): with
  ``on_error="fallback"`` (the default) attempts are counted in a private
  :class:`~basicauth_wsgi.throttle.MemoryStore` (per process, so the
  multiplier of a per-process store applies for the outage), starting from
  what the local view last knew; one ERROR is logged when the outage starts
  and one INFO when it ends. Redis is not asked again on every request: the
  next try is at most ``RETRY`` (2 s) later, doubling up to 5 s, and the
  subscriber reconnects on its own, so counting returns to Redis within a
  few seconds of it answering (the contract says 30). Counts made in the
  fallback keep blocking in this process until they age out. With
  ``on_error="closed"`` the same failures raise :class:`StoreUnavailable`
  from :meth:`reserve`, :meth:`release`, :meth:`trusted` and, while Redis
  is known to be down, :meth:`peek`: the core answers those requests 503
  with ``Retry-After: 1``; nobody is let in, nobody gets a traceback.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import threading
import time
import urllib.parse
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

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
#: Blocked keys loaded when the subscriber (re)connects.
CATCH_UP = 1000
#: Keys the local view keeps at most (the oldest go first).
VIEW_MAX = 100_000
#: The longest TTL of a count key: the longest window's 11 slots of 8640 s.
TTL_MAX = 11 * 8640

# Shared by both scripts: the counts of KEYS[i] over the span ending at
# `bucket`, oldest first, dropping fields older than the span. A field from
# a later bucket (another host whose clock runs ahead) counts as the newest.
_COUNTS = """
local function counts(key, bucket, span)
  local flat = redis.call('HGETALL', key)
  local c = {}
  for j = 1, span do c[j] = 0 end
  local oldest = bucket - span + 1
  local stale = {}
  for j = 1, #flat, 2 do
    local b = tonumber(flat[j])
    if b ~= nil then
      if b < oldest then
        stale[#stale + 1] = flat[j]
      elseif b <= bucket then
        c[b - oldest + 1] = c[b - oldest + 1] + tonumber(flat[j + 1])
      else
        c[span] = c[span] + tonumber(flat[j + 1])
      end
    end
  end
  if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
  return c
end
local function total(c)
  local s = 0
  for j = 1, #c do s = s + c[j] end
  return s
end
local function announce(key, name, bucket, c, zset, channel, ttl)
  redis.call('ZADD', zset, bucket, name)
  redis.call('ZREMRANGEBYSCORE', zset, '-inf', '(' .. tostring(bucket - #c + 1))
  redis.call('EXPIRE', zset, ttl)
  redis.call('PUBLISH', channel, name .. '\\n' .. bucket .. '\\n' .. table.concat(c, ','))
end
"""

# KEYS: the n count keys, then the blocked set. ARGV: bucket, span, ttl,
# channel, then the n unprefixed names, then the n limits.
# Returns {-1, counts...} when counted, {i, counts} when key i blocked.
_RESERVE = (
    _COUNTS
    + """
local bucket, span, ttl, channel = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local n = #KEYS - 1
local zset = KEYS[n + 1]
local found = {}
for i = 1, n do
  local limit = tonumber(ARGV[4 + n + i])
  found[i] = counts(KEYS[i], bucket, span)
  if limit > 0 and total(found[i]) >= limit then
    return {i - 1, found[i]}
  end
end
local out = {-1}
for i = 1, n do
  local key, limit, c = KEYS[i], tonumber(ARGV[4 + n + i]), found[i]
  redis.call('HINCRBY', key, bucket, 1)
  c[span] = c[span] + 1
  if limit > 0 then
    redis.call('HSET', key, 'l', limit)
  else
    limit = tonumber(redis.call('HGET', key, 'l') or '0')
  end
  redis.call('EXPIRE', key, ttl)
  if limit > 0 and total(c) >= limit then
    announce(key, ARGV[4 + i], bucket, c, zset, channel, ttl)
  end
  out[i + 1] = c
end
return out
"""
)

# KEYS: the n count keys, the blocked set, then the trust key if any.
# ARGV: bucket, span, channel, n, trust until, trust ttl, then the n names.
# Returns the n keys' counts after the refund.
_RELEASE = (
    _COUNTS
    + """
local bucket, span, channel, n = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local zset = KEYS[n + 1]
local out = {}
for i = 1, n do
  local key, name = KEYS[i], ARGV[6 + i]
  local left = tonumber(redis.call('HGET', key, bucket) or '0')
  if left > 1 then
    redis.call('HINCRBY', key, bucket, -1)
  elseif left == 1 then
    redis.call('HDEL', key, bucket)
  end
  local c = counts(key, bucket, span)
  if redis.call('ZSCORE', zset, name) then
    -- It was announced as blocked: tell every process its new counts.
    local limit = tonumber(redis.call('HGET', key, 'l') or '0')
    if total(c) < limit then redis.call('ZREM', zset, name) end
    redis.call('PUBLISH', channel, name .. '\\n' .. bucket .. '\\n' .. table.concat(c, ','))
  end
  out[i] = c
end
if #KEYS > n + 1 then
  redis.call('SET', KEYS[n + 2], ARGV[5], 'EX', ARGV[6])
end
return out
"""
)

# KEYS: the blocked set. ARGV: how many, the count key prefix.
# Returns {name, {field, value, ...}} for the newest blocked keys.
_CATCH_UP = """
local names = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local out = {}
for i = 1, #names do
  out[i] = {names[i], redis.call('HGETALL', ARGV[2] .. names[i])}
end
return out
"""


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


def _own_parameters(url: str, prefix: str, on_error: str) -> tuple[str, str, str]:
    """Take ``prefix`` and ``on_error`` out of ``url``'s query; the URL left and both values."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    found = {name: value for name, value in query if name in ("prefix", "on_error")}
    for name, given, default in (
        ("prefix", prefix, "basicauth:"),
        ("on_error", on_error, "fallback"),
    ):
        if name in found and given != default and given != found[name]:
            raise ValueError(f"{name}: {given!r} given, but the URL says {found[name]!r}")
    rest = urllib.parse.urlencode([(n, v) for n, v in query if n not in found])
    return (
        urllib.parse.urlunsplit(parts._replace(query=rest)),
        found.get("prefix", prefix),
        found.get("on_error", on_error),
    )


def _shifted(entry: tuple[int, tuple[int, ...]], bucket: int, span: int) -> tuple[int, ...]:
    """A view entry's counts as of ``bucket``; empty when none are left."""
    newest, found = entry
    shift = bucket - newest
    if shift >= span or len(found) != span:
        return ()
    if shift > 0:
        found = found[shift:] + (0,) * shift
    return found if any(found) else ()


class RedisStore:
    """A :class:`~basicauth_wsgi.throttle.ThrottleStore` shared through Redis.

    ``client`` is a redis-py ``Redis`` client (give it short timeouts, or use
    :meth:`from_url`). ``prefix`` starts every key and channel name.
    ``on_error`` is ``"fallback"`` (count in process while Redis is down)
    or ``"closed"`` (raise :class:`StoreUnavailable`, so requests that need
    the store get 503). ``clock`` is the monotonic clock of the retry
    back-off (injectable for tests).
    """

    def __init__(
        self,
        client: redis_module.Redis,
        *,
        prefix: str = "basicauth:",
        on_error: str = "fallback",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        redis = _redis()
        if not isinstance(client, redis.Redis):
            raise TypeError(f"client must be a redis.Redis client, got {client!r}")
        if not isinstance(prefix, str) or not prefix or any(c in prefix for c in "\r\n\0"):
            raise ValueError(f"prefix must be a non-empty line of text, got {prefix!r}")
        if on_error not in ("fallback", "closed"):
            raise ValueError(f"on_error must be 'fallback' or 'closed', got {on_error!r}")
        self.client = client
        self.prefix = prefix
        self.on_error = on_error
        self.clock = clock
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._reserve = client.register_script(_RESERVE)
        self._release = client.register_script(_RELEASE)
        self._catch_up = client.register_script(_CATCH_UP)
        self._zset = prefix + "blocked"
        self._channel = prefix + "blocks"
        # name -> (bucket, counts as of that bucket): what this process knows.
        self._view: dict[str, tuple[int, tuple[int, ...]]] = {}
        self._fallback = MemoryStore()
        self._fell_back = False  # the fallback has counted something
        self._span = 11  # buckets a key spans, as the throttle last said
        self._lock = threading.Lock()
        self._down = False  # Redis failed and has not answered since
        self._retry_at = 0.0
        self._backoff = RETRY
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None
        self._subscribed = threading.Event()  # set while the subscriber receives
        # A forked worker (gunicorn --preload) inherits no thread: start anew.
        os.register_at_fork(after_in_child=functools.partial(_after_fork, weakref.ref(self)))

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str = "basicauth:", on_error: str = "fallback"
    ) -> RedisStore:
        """A store on a new client for ``url`` (``redis://host:port/db``, ``rediss://``, ``unix://``).

        The URL may carry this store's own options as query parameters,
        ``?on_error=closed&prefix=myapp:``, so that ``serve --redis`` and
        ``BASICAUTH_REDIS_URL`` can set them; a keyword that disagrees with
        the URL is a ``ValueError``.

        Connection and command timeouts are 250 ms, a pooled connection is
        checked (PING) when idle for 30 s, and a failed command is retried
        once at once (a pooled connection the server dropped), never with a
        back-off that would hold a request thread.
        """
        redis = _redis()
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        url, prefix, on_error = _own_parameters(url, prefix, on_error)
        try:
            client = redis.Redis.from_url(
                url,
                socket_timeout=TIMEOUT,
                socket_connect_timeout=TIMEOUT,
                health_check_interval=30,
                retry=Retry(NoBackoff(), 1),
                retry_on_timeout=False,
            )
        except ValueError as exc:
            raise ValueError(f"throttle_redis_url: {exc}") from None
        return cls(client, prefix=prefix, on_error=on_error)

    # -- outage bookkeeping ---------------------------------------------------

    def _usable(self) -> bool:
        """Whether to ask Redis now: it is up, or its next try is due."""
        return not self._down or self.clock() >= self._retry_at

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
                if self._down:
                    self._down = False
                    logger.info("throttle store: Redis answers again; counting there")

    def _unavailable(self) -> StoreUnavailable:
        return StoreUnavailable("throttle store: Redis is unavailable (on_error='closed')")

    # -- the local view --------------------------------------------------------

    def _see(self, name: str, bucket: int, found: Sequence[Any]) -> None:
        counts = tuple(int(c) for c in found)
        view = self._view
        if any(counts):
            if name not in view and len(view) >= VIEW_MAX:
                view.pop(next(iter(view)), None)
            view[name] = (bucket, counts)
        else:
            view.pop(name, None)

    def _ttl(self, bucket: int, span: int) -> int:
        # bucket = now // slot for the wall clock: slot ~ now / bucket.
        # At least a minute: a clock ahead of the wall clock must not make
        # counts vanish before their window ends.
        slot = time.time() / bucket if bucket > 0 else math.inf
        return int(min(max(math.ceil(span * slot * 1.1) + 1, 60), TTL_MAX))

    def _forked(self) -> None:
        self._listener = None
        self._subscribed = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def _listen(self) -> None:
        """Start the subscriber thread of this process, once."""
        with self._lock:
            if self._listener is None and not self._stop.is_set():
                self._listener = threading.Thread(
                    target=self._subscriber, name="basicauth-redis-blocks", daemon=True
                )
                self._listener.start()

    def _subscriber(self) -> None:
        """Keep the view up to date with the blocks every process announces."""
        redis = _redis()
        stop = self._stop
        kwargs = dict(self.client.connection_pool.connection_kwargs)
        # Its own connection: no health-check PING (an idle deployment costs
        # no command), the OS's TCP keepalive notices a vanished host, and
        # reads wait as long as get_message says.
        kwargs.update(health_check_interval=0, socket_timeout=None, socket_keepalive=True)
        kwargs.pop("retry", None)
        pool = redis.ConnectionPool(
            connection_class=self.client.connection_pool.connection_class, **kwargs
        )
        wait = RETRY
        while not stop.is_set():
            pubsub = None
            try:
                listener = redis.Redis(connection_pool=pool)
                pubsub = listener.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self._channel)
                for name, flat in self._catch_up(
                    keys=[self._zset], args=[CATCH_UP, self.prefix + "k:"]
                ):
                    self._load(name, flat)
                self._subscribed.set()
                self._answered()
                wait = RETRY
                while not stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._message(message["data"])
            except self._errors as exc:
                self._subscribed.clear()
                if not stop.is_set():
                    self._failed(exc)
            except Exception:
                # Not an outage but a bug or a foreign message: keep listening.
                self._subscribed.clear()
                logger.exception("throttle store: the Redis subscriber failed; restarting it")
            finally:
                if pubsub is not None:
                    with contextlib.suppress(*self._errors):
                        pubsub.close()
                pool.disconnect()
            stop.wait(wait)
            wait = min(wait * 2, RETRY_MAX)

    def _load(self, name: bytes, flat: Sequence[bytes]) -> None:
        fields = {int(f): int(v) for f, v in zip(flat[::2], flat[1::2], strict=True) if f != b"l"}
        if fields:
            newest = max(fields)
            span = self._span
            counts = [fields.get(b, 0) for b in range(newest - span + 1, newest + 1)]
            self._see(name.decode("utf-8", "replace"), newest, counts)

    def _message(self, data: bytes) -> None:
        try:
            name, bucket, counts = data.decode("utf-8").split("\n")
            self._see(name, int(bucket), [int(c) for c in counts.split(",")])
        except ValueError:
            logger.warning("throttle store: ignored a malformed message on %s", self._channel)

    # -- the ThrottleStore protocol ----------------------------------------

    def idle(self) -> bool:
        """No key known to have counts here, and Redis not refused as closed: no I/O."""
        if self._listener is None:
            self._listen()
        if self._down and self.on_error == "closed":
            return False  # let peek() raise, so the core answers 503
        return not self._view and not (self._fell_back and not self._fallback.idle())

    def peek(self, key: str, bucket: int, span: int) -> Sequence[int]:
        if self._listener is None:
            self._listen()
        if self._down and self.on_error == "closed" and not self._usable():
            raise self._unavailable()
        entry = self._view.get(key)
        found = _shifted(entry, bucket, span) if entry is not None else ()
        if self._fell_back:
            local = self._fallback.peek(key, bucket, span)
            if local:
                found = tuple(a + b for a, b in zip(found or (0,) * span, local, strict=True))
        return found

    def reserve(self, keys: Sequence[tuple[str, int]], bucket: int, span: int) -> Reservation:
        if self._listener is None:
            self._listen()
        self._span = span
        # Counts made in process during an outage keep blocking here.
        if self._fell_back:
            for index, (key, limit) in enumerate(keys):
                found = self.peek(key, bucket, span)
                if limit and sum(found) >= limit:
                    return Reservation(index, (found,))
        if self._usable():
            try:
                result = self._reserve(
                    keys=[self.prefix + "k:" + key for key, _ in keys] + [self._zset],
                    args=[bucket, span, self._ttl(bucket, span), self._channel]
                    + [key for key, _ in keys]
                    + [limit for _, limit in keys],
                )
            except self._errors as exc:
                self._failed(exc)
            else:
                self._answered()
                first = int(result[0])
                if first >= 0:
                    self._see(keys[first][0], bucket, result[1])
                    return Reservation(first, (tuple(int(c) for c in result[1]),))
                for (key, _), found in zip(keys, result[1:], strict=True):
                    self._see(key, bucket, found)
                return Reservation(None, tuple(tuple(int(c) for c in f) for f in result[1:]))
        if self.on_error == "closed":
            raise self._unavailable()
        # Fallback: start from what the view last knew of each key.
        for index, (key, limit) in enumerate(keys):
            found = self.peek(key, bucket, span)
            if limit and sum(found) >= limit:
                return Reservation(index, (found,))
        self._fell_back = True
        self._fallback.reserve([(key, 0) for key, _ in keys], bucket, span)
        return Reservation(None, tuple(tuple(self.peek(key, bucket, span)) for key, _ in keys))

    def release(
        self, keys: Sequence[str], bucket: int, span: int, trust: str | None, until: float
    ) -> None:
        if self._usable():
            redis_keys = [*(self.prefix + "k:" + key for key in keys), self._zset]
            if trust is not None:
                redis_keys.append(self.prefix + "t:" + trust)
            try:
                result = self._release(
                    keys=redis_keys,
                    args=[
                        bucket,
                        span,
                        self._channel,
                        len(keys),
                        repr(until),
                        self._trust_ttl(until),
                        *keys,
                    ],
                )
            except self._errors as exc:
                self._failed(exc)
            else:
                self._answered()
                for key, found in zip(keys, result, strict=True):
                    self._see(key, bucket, found)
                return
        if self.on_error == "closed":
            raise self._unavailable()
        # Where this attempt was counted, most likely (an attempt counted in
        # Redis just before it failed keeps a count here: the safe side).
        self._fallback.release(keys, bucket, span, trust, until)

    def trust(self, key: str, until: float) -> None:
        if self._usable():
            try:
                self.client.set(self.prefix + "t:" + key, repr(until), ex=self._trust_ttl(until))
            except self._errors as exc:
                self._failed(exc)
            else:
                self._answered()
                return
        if self.on_error == "closed":
            raise self._unavailable()
        self._fallback.trust(key, until)

    def trusted(self, key: str, now: float) -> bool:
        if self._fallback.trusted(key, now):
            return True
        if self._usable():
            try:
                value = self.client.get(self.prefix + "t:" + key)
            except self._errors as exc:
                self._failed(exc)
            else:
                self._answered()
                return value is not None and float(value) > now
        if self.on_error == "closed":
            raise self._unavailable()
        return False

    @staticmethod
    def _trust_ttl(until: float) -> int:
        # Expire at `until` (wall-clock time); a clock far from wall time
        # (a test's) gets the longest trust, 24 hours and one of slack.
        left = math.ceil(until - time.time())
        return left if 0 < left <= 25 * 3600 else 25 * 3600

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
        listener = self._listener
        if listener is not None and listener is not threading.current_thread():
            listener.join(timeout=3.0)
        self.client.connection_pool.disconnect()

    def __repr__(self) -> str:
        state = "down" if self._down else "up"
        return f"<RedisStore prefix={self.prefix!r} on_error={self.on_error!r} {state}>"
