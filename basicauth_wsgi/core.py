"""The core every front door shares: settings, the decision step and the scheduler, assembled.

A front door (the WSGI middleware, the ASGI adapter, forward-auth) reads a
request's facts, asks the gate, and writes the answer; it decides and
schedules nothing itself::

    gate = Gate(Settings(users, exclude=["/health"]))
    decision = gate.run(Facts(header, client, "GET", "/private", False, False))
    decision = await gate.arun(facts)          # the same, on an event loop

The order of checks lives in :mod:`.decide`, where and when checks run in
:mod:`.schedule`; this module only puts them together.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from .admission import CheckSlots
from .decide import (
    COUNT,
    PREFLIGHT,
    PUBLIC,
    TRUST,
    VERIFY,
    Check,
    Decider,
    Decision,
    Facts,
    Grant,
    Refusal,
)
from .schedule import Scheduler
from .settings import Settings

if TYPE_CHECKING:
    from .metrics import Metrics

__all__ = ["PREFLIGHT", "PUBLIC", "Check", "Decision", "Facts", "Gate", "Grant", "Refusal"]


class Gate:
    """Decides, for the facts of one request, whether it reaches the application.

    Thread-safe. :meth:`run` blocks (a server's thread); :meth:`arun` never
    blocks an event loop. ``anonymous`` is the answer to every request
    without credentials when nothing else about a request could change it
    (else ``None``): a front door may give it without reading the request.
    """

    def __init__(self, settings: Settings) -> None:
        if not isinstance(settings, Settings):
            raise TypeError(f"Gate takes Settings, got {settings!r}")
        self.settings = settings
        self.decider = Decider(settings)
        self.scheduler = Scheduler(self.decider, settings)
        self.run: Callable[[Facts], Decision] = self.scheduler.run
        self.arun: Callable[[Facts], Coroutine[Any, Any, Decision]] = self.scheduler.arun
        #: The two halves of :meth:`run`, for a front door's hot path: a
        #: decision, or a :class:`Check` to hand to ``complete``.
        self.decide: Callable[[Facts], Decision | Check] = self.decider.decide
        self.complete = self.scheduler.complete
        self.anonymous = self.decider.anonymous
        self.pages = self.decider.pages
        metrics = settings.metrics
        if metrics is not None:
            # The one place a request's outcome is counted: every decision
            # comes through run or arun (the hot-path halves become run, and
            # no answer is given without asking).
            metrics.bind(self)
            self.run = self.decide = self._counted(metrics)
            self.arun = self._acounted(metrics)
            self.anonymous = None

    def _check_kind(self, step: Decision | Check) -> str | None:
        """The kind of password check a request's decision ran, if one (for ``on_decision``)."""
        if type(step) is Check and step.kind == VERIFY and step.username is not None:
            return self.settings.capabilities.check_kind(step.username)
        return None

    def _counted(self, metrics: Metrics) -> Callable[[Facts], Decision]:
        decide, complete, timed = self.decider.decide, self.scheduler.complete, metrics.on_decision
        kind = self._check_kind
        if timed is None:
            # The logged-in request, answered by the cache, pays one C call:
            # the rest of the counting is for what costs more anyway.
            granted = metrics.counter("granted", "hit")

            def run_fast(facts: Facts) -> Decision:
                step = decide(facts)
                if type(step) is Grant:
                    granted()
                    return step
                decision = complete(step) if isinstance(step, Check) else step
                _count(metrics, decision, _cache_result(step), None, 0.0)
                return decision

            return run_fast

        def run(facts: Facts) -> Decision:
            started = time.perf_counter()
            step = decide(facts)
            decision = complete(step) if isinstance(step, Check) else step
            _count(metrics, decision, _cache_result(step), kind(step), started)
            return decision

        return run

    def _acounted(self, metrics: Metrics) -> Callable[[Facts], Coroutine[Any, Any, Decision]]:
        decide, acomplete, timed = (
            self.decider.decide,
            self.scheduler.acomplete,
            metrics.on_decision,
        )
        kind = self._check_kind

        async def arun(facts: Facts) -> Decision:
            started = time.perf_counter() if timed else 0.0
            step = decide(facts)
            cache = _cache_result(step)
            decision = await acomplete(step) if isinstance(step, Check) else step
            _count(metrics, decision, cache, kind(step) if timed else None, started)
            return decision

        return arun

    @property
    def slots(self) -> CheckSlots | None:
        """The check slots (``None`` with ``max_concurrent_checks=None``)."""
        return self.scheduler.slots

    def __repr__(self) -> str:
        return f"<Gate realm={self.settings.realm!r} verifier={self.settings.verifier!r}>"


def _cache_result(step: Decision | Check) -> str | None:
    """What the verification cache did for a request: it answered (hit), a check ran (miss).

    From the decision step's result alone: a grant or a remembered refusal
    came from the cache; a password to verify did not. Requests that never
    reached the cache (public, no header) and those decided after a store
    lookup count as neither.
    """
    if type(step) is Grant:
        return "hit"
    if type(step) is Check:
        if step.kind == VERIFY:
            return "miss"
        if step.kind == TRUST or (step.kind == COUNT and step.reason is None):
            return "hit"
    return None


def _count(
    metrics: Metrics, decision: Decision, cache: str | None, kind: str | None, started: float
) -> None:
    if type(decision) is Refusal:
        reason = decision.reason
    elif type(decision) is Grant:
        reason = "granted"
    else:
        reason = repr(decision)  # PUBLIC, PREFLIGHT
    metrics.request(reason, cache)
    if metrics.on_decision is not None:
        metrics.decided(reason, kind, time.perf_counter() - started)
