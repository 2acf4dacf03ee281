"""Metrics: what the core decides, counted, for Prometheus (standard library) or a callback.

An operator learns from these series that the server is being sprayed, that
a shared store is down, or that a reload failed, without reading log lines.
No series is labelled by username, address or path: how many series there
are depends on the configuration, never on what clients send::

    metrics = Metrics()
    app = BasicAuth(app, users, metrics=metrics)
    metrics.exposition()        # the Prometheus text format (serve --metrics-port)

Where it counts, each in one place: a request's outcome where the core
returns its decision (``core.Gate``), a password check where the scheduler
runs it (``schedule.Scheduler.check``), a block where the decider writes its
log line; gauges (check slots, users loaded, reloads, the shared store) are
read when scraped. With ``registry=`` the same series go to a
``prometheus_client`` registry (extra ``prometheus``) instead, which also
totals gunicorn's workers in its multi-process mode.
"""

from __future__ import annotations

import itertools
import math
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core import Gate

__all__ = ["OUTCOMES", "Metrics"]

#: Every outcome of ``basicauth_requests_total``, by the core's reason (or decision).
OUTCOME_OF: dict[str, str] = {
    "granted": "granted",
    "PUBLIC": "public",
    "PREFLIGHT": "preflight",
    "missing": "missing",
    "malformed": "failed",
    "unsupported_scheme": "failed",
    "wrong_password": "failed",
    "unknown_user": "failed",
    "invalid_credentials": "failed",
    "client_limit": "throttled",
    "user_limit": "throttled",
    "password_limit": "throttled",
    "overloaded": "overloaded",
    "forbidden": "forbidden",
    "https_required": "https_required",
    "unavailable": "unavailable",
    "verifier_raised": "error",
}
OUTCOMES = (
    "granted",
    "public",
    "preflight",
    "missing",
    "failed",
    "throttled",
    "overloaded",
    "forbidden",
    "https_required",
    "unavailable",
    "error",
)
#: The failures of ``basicauth_failures_total``: the log line's reasons.
FAILURE_REASONS = tuple(r for r, o in OUTCOME_OF.items() if o == "failed")
#: Seconds: a bcrypt(12) check takes about 0.25, a cached LDAP bind 0.0002.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CHECK_RESULTS = ("success", "failure", "unavailable", "error")
LIMITS = ("client", "user", "password")

#: What ``on_decision`` receives: (outcome, reason, kind, seconds).
Decided = Callable[[str, str, "str | None", float], object]


def _count(counter: itertools.count[int]) -> int:
    """How many times ``next()`` was called on ``counter`` (it starts at 0).

    Read from its ``repr`` (``count(5)``), which says the next value without
    taking it (``__reduce__`` would too, but its pickling goes in Python 3.14).
    """
    return int(repr(counter)[6:-1])


class Metrics:
    """The counters of one deployment's core (one or more front doors sharing it).

    Request counts are ``itertools.count`` objects, one per (reason, cache
    result): ``next()`` on one is a single C call that the interpreter lock
    makes atomic, so the request path takes no lock and pays one dict
    lookup and one call. Checks (rare: each costs a hash) and blocks are
    counted under a lock.

    ``registry``: a ``prometheus_client`` ``CollectorRegistry`` to register
    the series in instead (extra ``prometheus``); ``on_decision``: a callable
    given each decision as ``(outcome, reason, kind, seconds)``.
    """

    def __init__(self, *, registry: Any = None, on_decision: Decided | None = None) -> None:
        if on_decision is not None and not callable(on_decision):
            raise TypeError(f"on_decision must be a callable, got {on_decision!r}")
        self.on_decision = on_decision
        self._requests: dict[tuple[str, str | None], itertools.count[int]] = {
            (reason, cache): itertools.count()
            for reason in OUTCOME_OF
            for cache in (None, "hit", "miss")
        }
        self._lock = threading.Lock()
        self._checks: dict[tuple[str, str], int] = {}
        self._histogram: dict[str, list[float]] = {}  # kind -> per-bucket counts, sum, count
        self._blocks = dict.fromkeys(LIMITS, 0)
        self._gates: list[Gate] = []
        self._prometheus = None if registry is None else _Prometheus(registry, self)

    # -- counting (the core calls these) ------------------------------------------

    def request(self, reason: str, cache: str | None) -> None:
        """One request decided, by its reason (or decision name) and its cache result."""
        counter = self._requests.get((reason, cache))
        if counter is None:  # a reason a newer core knows: counted, not lost
            counter = self._requests.setdefault((reason, cache), itertools.count())
        next(counter)
        if self._prometheus is not None:
            self._prometheus.request(reason, cache)

    def counter(self, reason: str, cache: str | None) -> Callable[[], object]:
        """A callable that counts one request of ``reason`` and cache result (the hot path's).

        Without a registry, the ``itertools.count``'s own ``__next__``: one C call.
        """
        if self._prometheus is None:
            return self._requests[(reason, cache)].__next__
        return lambda: self.request(reason, cache)

    def check(self, kind: str, result: str, seconds: float) -> None:
        """One password check of ``kind`` (a hash scheme, ``ldap``, ...) and its result."""
        with self._lock:
            self._checks[(kind, result)] = self._checks.get((kind, result), 0) + 1
            counts = self._histogram.setdefault(kind, [0.0] * (len(BUCKETS) + 2))
            counts[bisect_left(BUCKETS, seconds)] += 1
            counts[-1] += seconds
        if self._prometheus is not None:
            self._prometheus.check(kind, result, seconds)

    def block(self, limit: str) -> None:
        """A key became blocked (logged once as ``authentication blocked``)."""
        with self._lock:
            self._blocks[limit] = self._blocks.get(limit, 0) + 1
        if self._prometheus is not None:
            self._prometheus.block(limit)

    def decided(self, outcome_reason: str, kind: str | None, seconds: float) -> None:
        """Hand a decision to ``on_decision`` (a callable that raises is the caller's bug)."""
        assert self.on_decision is not None
        self.on_decision(OUTCOME_OF.get(outcome_reason, "error"), outcome_reason, kind, seconds)

    def bind(self, gate: Gate) -> None:
        """Read this gate's state (slots, users, reloads, the store) at each scrape."""
        with self._lock:
            self._gates.append(gate)
        if self._prometheus is not None:
            self._prometheus.bind(gate)

    # -- reading -------------------------------------------------------------------

    def samples(self) -> list[tuple[str, dict[str, str], float]]:
        """Every sample now: (name, labels, value), in exposition order."""
        requests: dict[str, float] = dict.fromkeys(OUTCOMES, 0)
        failures: dict[str, float] = dict.fromkeys(FAILURE_REASONS, 0)
        cache = {"hit": 0.0, "miss": 0.0}
        for (reason, result), counter in list(self._requests.items()):
            n = _count(counter)
            if not n:
                continue
            outcome = OUTCOME_OF.get(reason, "error")
            requests[outcome] += n
            if outcome == "failed":
                failures[reason] = failures.get(reason, 0) + n
            if result is not None:
                cache[result] += n
        out: list[tuple[str, dict[str, str], float]] = []
        out += [("basicauth_requests_total", {"outcome": o}, v) for o, v in requests.items()]
        out += [("basicauth_failures_total", {"reason": r}, v) for r, v in failures.items()]
        out += [("basicauth_cache_total", {"result": r}, v) for r, v in cache.items()]
        with self._lock:
            checks = dict(self._checks)
            histogram = {k: list(v) for k, v in self._histogram.items()}
            blocks = dict(self._blocks)
        out += [
            ("basicauth_checks_total", {"kind": k, "result": r}, v)
            for (k, r), v in sorted(checks.items())
        ]
        for kind, counts in sorted(histogram.items()):
            total = 0.0
            bounds: tuple[float, ...] = (*BUCKETS, math.inf)
            for bound, in_bucket in zip(bounds, counts, strict=False):
                total += in_bucket
                le = "+Inf" if bound == math.inf else repr(bound)
                out.append(("basicauth_check_seconds_bucket", {"kind": kind, "le": le}, total))
            out.append(("basicauth_check_seconds_sum", {"kind": kind}, counts[-1]))
            out.append(("basicauth_check_seconds_count", {"kind": kind}, total))
        out += [("basicauth_blocks_total", {"limit": k}, v) for k, v in blocks.items()]
        out += _gauges(self._gates)
        return out

    def exposition(self) -> str:
        """The Prometheus text exposition format, version 0.0.4."""
        lines: list[str] = []
        seen: set[str] = set()
        for name, labels, value in self.samples():
            family = _family(name)
            if family not in seen:
                seen.add(family)
                kind, text = _HELP[family]
                lines.append(f"# HELP {family} {text}")
                lines.append(f"# TYPE {family} {kind}")
            shown = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            lines.append(
                f"{name}{{{shown}}} {_number(value)}" if shown else f"{name} {_number(value)}"
            )
        return "\n".join(lines) + "\n"

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """A WSGI application serving the exposition on ``/metrics`` (404 elsewhere)."""
        if environ.get("PATH_INFO") != "/metrics":
            start_response(
                "404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "10")]
            )
            return [b"not found\n"]
        body = self.exposition().encode("utf-8")
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/plain; version=0.0.4; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [body]

    def __repr__(self) -> str:
        return f"<Metrics {len(self._gates)} front door(s)>"


def _gauges(gates: list[Gate]) -> list[tuple[str, dict[str, str], float]]:
    """The state series, read now from every bound gate (summed where several share one)."""
    busy = total = users = 0.0
    reloads = {"success": 0.0, "failure": 0.0}
    loaded: float | None = None
    have_reloads = False
    store_up: float | None = None
    have_users = False
    for gate in gates:
        slots = gate.scheduler.slots
        if slots is not None:
            busy += slots.busy
            total += slots.limit + 1  # the trusted reserve is a slot too
        verifier = gate.settings.verifier
        try:
            users += len(verifier)  # type: ignore[arg-type]
            have_users = True
        except TypeError:
            pass
        status = getattr(verifier, "load_status", None)
        if status is not None:
            at, successes, failures = status
            have_reloads = True
            reloads["success"] += successes
            reloads["failure"] += failures
            loaded = at if loaded is None else max(loaded, at)
        throttle = gate.settings.throttle
        available = getattr(throttle.store, "available", None) if throttle is not None else None
        if isinstance(available, bool):
            store_up = min(store_up if store_up is not None else 1.0, float(available))
    out: list[tuple[str, dict[str, str], float]] = [
        ("basicauth_check_slots_in_use", {}, busy),
        ("basicauth_check_slots", {}, total),
    ]
    if have_users:
        out.append(("basicauth_users", {}, users))
    if have_reloads:
        out += [("basicauth_users_reload_total", {"result": r}, v) for r, v in reloads.items()]
    if loaded is not None:
        out.append(("basicauth_users_loaded_timestamp_seconds", {}, loaded))
    if store_up is not None:
        out.append(("basicauth_store_up", {}, store_up))
    return out


_HELP = {
    "basicauth_requests_total": ("counter", "Requests decided, by outcome."),
    "basicauth_failures_total": ("counter", "Authentication failures, by the log line's reason."),
    "basicauth_cache_total": (
        "counter",
        "Credentials answered from the verification cache (hit) or checked (miss).",
    ),
    "basicauth_checks_total": ("counter", "Password checks, by kind of check and result."),
    "basicauth_check_seconds": ("histogram", "Seconds one password check took, by kind."),
    "basicauth_blocks_total": ("counter", "Keys that became blocked, by limit."),
    "basicauth_check_slots_in_use": ("gauge", "Password checks running now."),
    "basicauth_check_slots": (
        "gauge",
        "Password checks that may run at once (max_concurrent_checks + 1).",
    ),
    "basicauth_users": ("gauge", "Users loaded."),
    "basicauth_users_reload_total": ("counter", "Reloads of the users file, by result."),
    "basicauth_users_loaded_timestamp_seconds": (
        "gauge",
        "When the users in force were loaded (Unix time).",
    ),
    "basicauth_store_up": ("gauge", "Whether the shared throttle store answers (1) or not (0)."),
}


def _family(name: str) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        if name.startswith("basicauth_check_seconds") and name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _escape(value: str) -> str:
    # The exposition format: backslash, double quote and line feed escaped.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class _Prometheus:
    """The same series in a prometheus_client registry (extra ``prometheus``)."""

    def __init__(self, registry: Any, metrics: Metrics) -> None:
        try:
            import prometheus_client as client
        except ImportError:
            raise ImportError(
                "Metrics(registry=...) needs prometheus_client: "
                "pip install 'basicauth-wsgi[prometheus]'"
            ) from None
        self._client = client
        ns = {"registry": registry}
        self.requests = client.Counter(
            "basicauth_requests", "Requests decided, by outcome.", ["outcome"], **ns
        )
        self.failures = client.Counter(
            "basicauth_failures", "Authentication failures, by reason.", ["reason"], **ns
        )
        self.cache = client.Counter(
            "basicauth_cache", "Verification cache hits and misses.", ["result"], **ns
        )
        self.checks = client.Counter(
            "basicauth_checks", "Password checks, by kind and result.", ["kind", "result"], **ns
        )
        self.seconds = client.Histogram(
            "basicauth_check_seconds", "Seconds per check.", ["kind"], buckets=BUCKETS, **ns
        )
        self.blocks = client.Counter(
            "basicauth_blocks", "Keys that became blocked, by limit.", ["limit"], **ns
        )
        # Every series a rate() or increase() is taken of starts at 0, as in
        # the standard library's exposition (a first count is not lost).
        for family, values in ((self.requests, OUTCOMES), (self.failures, FAILURE_REASONS),
                               (self.cache, ("hit", "miss")), (self.blocks, LIMITS)):  # fmt: skip
            for label in values:
                family.labels(label)
        self.slots_in_use = client.Gauge(
            "basicauth_check_slots_in_use",
            "Password checks running now.",
            multiprocess_mode="livesum",
            **ns,
        )
        self.slots = client.Gauge(
            "basicauth_check_slots",
            "Password checks that may run at once.",
            multiprocess_mode="livesum",
            **ns,
        )
        self.users = client.Gauge("basicauth_users", "Users loaded.", multiprocess_mode="max", **ns)
        self.loaded = client.Gauge(
            "basicauth_users_loaded_timestamp_seconds",
            "When the users in force were loaded.",
            multiprocess_mode="max",
            **ns,
        )
        self.store_up = client.Gauge(
            "basicauth_store_up", "Whether the shared store answers.", multiprocess_mode="min", **ns
        )
        self.reloads = client.Counter(
            "basicauth_users_reload", "Reloads of the users file, by result.", ["result"], **ns
        )
        # What self.reloads has counted; checks end in many threads, so
        # refresh() reads and moves it under this lock.
        self._reloaded = {"success": 0.0, "failure": 0.0}
        for result in self._reloaded:
            self.reloads.labels(result)
        self._lock = threading.Lock()
        self._metrics = metrics

    def request(self, reason: str, cache: str | None) -> None:
        outcome = OUTCOME_OF.get(reason, "error")
        self.requests.labels(outcome).inc()
        if outcome == "failed":
            self.failures.labels(reason).inc()
        if cache is not None:
            self.cache.labels(cache).inc()

    def check(self, kind: str, result: str, seconds: float) -> None:
        self.checks.labels(kind, result).inc()
        self.seconds.labels(kind).observe(seconds)
        self.refresh()  # the state gauges move around checks

    def block(self, limit: str) -> None:
        self.blocks.labels(limit).inc()

    def bind(self, gate: Gate) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Set the state gauges from the bound gates (in multi-process mode, per worker).

        At each check and when a front door is bound: a registry holds
        values, it does not read them at scrape (in multi-process mode it
        could not). Reloads are counted by what the files say happened since.
        """
        gauges = _gauges(self._metrics._gates)
        values = {name: value for name, labels, value in gauges if not labels}
        with self._lock:
            for name, labels, value in gauges:
                result = labels.get("result", "")
                if name == "basicauth_users_reload_total" and value > self._reloaded[result]:
                    self.reloads.labels(result).inc(value - self._reloaded[result])
                    self._reloaded[result] = value
        self.slots_in_use.set(values.get("basicauth_check_slots_in_use", 0))
        self.slots.set(values.get("basicauth_check_slots", 0))
        if "basicauth_users" in values:
            self.users.set(values["basicauth_users"])
        if "basicauth_users_loaded_timestamp_seconds" in values:
            self.loaded.set(values["basicauth_users_loaded_timestamp_seconds"])
        if "basicauth_store_up" in values:
            self.store_up.set(values["basicauth_store_up"])
