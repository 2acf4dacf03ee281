"""Scheduling: where and when the checks the decision step hands back run, written once.

:meth:`Decider.decide <basicauth_wsgi.decide.Decider.decide>` answers most
requests itself; what it hands back as a :class:`~basicauth_wsgi.decide.Check`
is run here, the same way for every front door: one check per credentials
at a time (the others wait for it and decide again from the cache), the
check slots with their trusted reserve and its shared-store re-check, the
low-priority hashing threads, and store I/O kept off an event loop. A
blocking front end (WSGI, forward-auth) calls :meth:`Scheduler.run`; an
async one (ASGI) awaits :meth:`Scheduler.arun`; both are built from the same
steps::

    decision = scheduler.run(facts)           # in a WSGI server's thread
    decision = await scheduler.arun(facts)    # on an event loop

Invariants, each kept by one piece of code:

- What a check holds (its place among the running checks, its slot) is a
  :class:`Lease`, taken and released by one ``with`` block; an async check
  hands its lease to the worker thread that runs it (:meth:`Lease.hand_over`)
  and that thread releases it when the check ends, so a cancelled task or a
  client that went away leaves nothing registered and never frees a slot
  while its hash still runs.
- Only hashes that run outside the interpreter lock (the verifier says,
  from the hash registry) go to the niced hashing threads; a niced thread
  holding the lock would stall every request.
- Nothing here outlives its scheduler: threads are made on first use, and
  the one fork hook holds schedulers weakly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from .admission import NONE, CheckSlots
from .decide import COUNT, TRUST, VERIFY, Check, Decider, Decision, Facts, Refusal
from .settings import Settings
from .throttle import MemoryStore, StoreFailure
from .verifiers import BackendUnavailable
from .waiting import Wakeup

__all__ = ["CHECK_NICENESS", "FOLLOW_WAIT", "SLOT_WAIT", "Lease", "Scheduler"]

#: How long a request waits for a free check slot before its 503.
SLOT_WAIT = 0.05
#: How long a request waits for the same credentials' check already running.
FOLLOW_WAIT = 5.0
#: How much lower the CPU priority of the password-hashing threads is (Linux nice).
CHECK_NICENESS = 19

T = TypeVar("T")


def _lower_priority() -> None:
    """Run this thread (a password-hashing thread) at the lowest CPU priority.

    A flood of guesses keeps every check slot busy, and a bcrypt check
    holds a core for a quarter of a second: at normal priority the hashes
    would take the CPU from the logged-in users' requests, which are cheap.
    At nice 19 a request that wakes up takes the core from a hash at once,
    while the hashes still use every idle cycle. Only a hash that releases
    the interpreter lock runs here (see :class:`Scheduler`). Linux applies
    ``setpriority`` to one thread given its id; elsewhere this does nothing.
    (A process cannot raise its priority back, so these threads only hash.)
    """
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), CHECK_NICENESS)


class Flights:
    """The checks running now, by ticket (the cache's name for credentials and store version).

    Invariant: a ticket maps to the :class:`Wakeup` of the one check running
    for it; the lease that registered it removes and sets it on release.
    """

    def __init__(self) -> None:
        self._running: dict[Hashable, Wakeup] = {}
        self._lock = threading.Lock()

    def join(self, ticket: Hashable) -> tuple[Wakeup | None, Wakeup | None]:
        """Atomically: ``(running, None)`` to follow a check, or ``(None, mine)`` to lead one."""
        with self._lock:
            running = self._running.get(ticket)
            if running is not None:
                return running, None
            mine = self._running[ticket] = Wakeup()
            return None, mine

    def end(self, ticket: Hashable, mine: Wakeup) -> None:
        with self._lock:
            if self._running.get(ticket) is mine:
                del self._running[ticket]
        mine.set()

    def __len__(self) -> int:
        return len(self._running)


class Lease:
    """What one ``VERIFY`` check holds while it runs: its flight and its check slot.

    Made by :meth:`Scheduler.lease` and used as a context manager. Released
    exactly once, by :meth:`release`: the ``with`` block calls it on exit,
    unless the lease was handed to a worker thread (:meth:`hand_over`),
    which then calls it when the check ends.
    """

    __slots__ = ("_handed", "_leads", "_released", "_scheduler", "_ticket", "follows", "slot")

    def __init__(self, scheduler: Scheduler, ticket: Hashable | None) -> None:
        self._scheduler = scheduler
        self._ticket = ticket
        #: The running check of the same credentials to wait for, if any.
        self.follows: Wakeup | None = None
        self._leads: Wakeup | None = None
        self.slot = NONE
        self._handed = False
        self._released = False

    def __enter__(self) -> Lease:
        if self._ticket is not None:
            self.follows, self._leads = self._scheduler.flights.join(self._ticket)
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._handed:
            self.release()

    def release(self) -> None:
        """Give back the slot, then end the flight (whoever follows decides again)."""
        if self._released:
            return
        self._released = True
        slots = self._scheduler.slots
        if self.slot and slots is not None:
            slots.release(self.slot)
            self.slot = NONE
        if self._leads is not None:
            assert self._ticket is not None
            self._scheduler.flights.end(self._ticket, self._leads)

    def admit(self, check: Check, timeout: float) -> Check | None:
        """Take a check slot, blocking at most ``timeout``; the check to run, or ``None``."""
        slots = self._scheduler.slots
        if slots is None:
            return check
        self.slot = slots.try_acquire(check.trusted)
        if not self.slot:
            check = self._scheduler.trusted_by_store(check)
            self.slot = slots.acquire(check.trusted, timeout)
        return check if self.slot else None

    async def admit_async(self, check: Check, timeout: float) -> Check | None:
        """:meth:`admit` for an event loop: the store re-check in a thread, the wait awaited."""
        scheduler = self._scheduler
        slots = scheduler.slots
        if slots is None:
            return check
        self.slot = slots.try_acquire(check.trusted)
        if not self.slot:
            if scheduler.store_io:
                check = await scheduler.off_loop(scheduler.trusted_by_store, check)
            else:
                check = scheduler.trusted_by_store(check)
            self.slot = await slots.acquire_async(check.trusted, timeout)
        return check if self.slot else None

    async def hand_over(self, executor: ThreadPoolExecutor, work: Callable[[], T]) -> T:
        """Run ``work`` in ``executor``; that thread releases this lease when it ends.

        Awaiting it is shielded: a cancelled task stops waiting, the check
        runs to its end and then gives everything back.
        """

        def run() -> T:
            try:
                return work()
            finally:
                self.release()

        future = executor.submit(run)  # if this raises, the with block still releases
        self._handed = True
        return await asyncio.shield(asyncio.wrap_future(future))


def _answer(check: Check) -> Decision:
    """A ``TRUST`` check's decision, known before the trust is written."""
    assert check.answer is not None
    return check.answer


_SCHEDULERS: weakref.WeakSet[Scheduler] = weakref.WeakSet()


def _after_fork() -> None:
    # Threads do not survive fork() (gunicorn --preload): a child starts
    # with no pool, no running check and no slot held.
    for scheduler in list(_SCHEDULERS):
        scheduler._forked()


os.register_at_fork(after_in_child=_after_fork)


class Scheduler:
    """Runs the :class:`~basicauth_wsgi.decide.Check` records of one :class:`Decider`.

    Thread-safe; one per front door. ``slots`` is ``None`` when
    ``max_concurrent_checks`` is off.
    """

    def __init__(self, decider: Decider, settings: Settings) -> None:
        self.decider = decider
        self._decide = decider.decide
        self.logger = settings.logger
        self.slots = (
            None
            if settings.max_concurrent_checks is None
            else CheckSlots(settings.max_concurrent_checks, logger=settings.logger)
        )
        self.flights = Flights()
        self._verify = settings.verifier.verify
        self._releases_gil = settings.capabilities.releases_gil
        self._check_kind = settings.capabilities.check_kind
        self._metrics = settings.metrics
        self._throttle = throttle = settings.throttle
        #: Whether asking the throttle's store is I/O (not the built-in,
        #: in-process one): an event loop then asks from a thread.
        self.store_io = throttle is not None and type(throttle.store) is not MemoryStore
        self._lock = threading.Lock()
        self._hashing: ThreadPoolExecutor | None = None
        self._io: ThreadPoolExecutor | None = None
        _SCHEDULERS.add(self)

    # -- a blocking front end -------------------------------------------------

    def run(self, facts: Facts) -> Decision:
        """Decide a request, running what the decision needs here (blocking)."""
        step = self._decide(facts)
        if not isinstance(step, Check):
            return step
        return self.complete(step)

    def complete(self, check: Check) -> Decision:
        """Run ``check`` to a decision in this thread: wait, do store I/O, hash."""
        decider = self.decider
        while True:
            kind = check.kind
            if kind == VERIFY:
                return self._verify_here(check, follow=True)
            if kind == COUNT:
                return decider.count(check)
            if kind == TRUST:
                decider.trust(check)
                return _answer(check)
            step = decider.resume(check)  # LOOKUP: the store answers it here
            if not isinstance(step, Check):
                return step
            check = step

    def _verify_here(self, check: Check, follow: bool) -> Decision:
        with self.lease(check, follow) as lease:
            if lease.follows is not None:
                if not lease.follows.wait(FOLLOW_WAIT):
                    return self.decider.overloaded
                # The same credentials were just checked: their result is
                # in the cache. Decide again from it, once (a check that
                # ended without a result leaves this one to check alone).
                step = self.decider.decide(check.facts)
                if not isinstance(step, Check):
                    return step
                return self.complete_alone(step)
            admitted = lease.admit(check, SLOT_WAIT)
            if admitted is None:
                return self.decider.overloaded
            return self.check(admitted)

    def complete_alone(self, check: Check) -> Decision:
        """:meth:`complete` for a request that already followed a check once."""
        if check.kind == VERIFY:
            return self._verify_here(check, follow=False)
        return self.complete(check)

    # -- an async front end ------------------------------------------------------

    async def arun(self, facts: Facts) -> Decision:
        """Decide a request on an event loop: answers inline, waits awaited, I/O in threads."""
        step = self._decide(facts)
        if not isinstance(step, Check):
            return step
        return await self.acomplete(step)

    async def acomplete(self, check: Check, *, follow: bool = True) -> Decision:
        """:meth:`complete` without ever blocking the loop."""
        decider = self.decider
        while True:
            kind = check.kind
            if kind == VERIFY:
                return await self._verify_async(check, follow)
            if kind == COUNT:
                return await self.off_loop(decider.count, check)
            if kind == TRUST:
                self._background(decider.trust, check)
                return _answer(check)
            step = await self.off_loop(decider.resume, check)
            if not isinstance(step, Check):
                return step
            check = step

    async def _verify_async(self, check: Check, follow: bool) -> Decision:
        with self.lease(check, follow) as lease:
            if lease.follows is not None:
                if not await lease.follows.wait_async(FOLLOW_WAIT):
                    return self.decider.overloaded
                step = self.decider.decide(check.facts)
                if not isinstance(step, Check):
                    return step
                return await self.acomplete(step, follow=False)
            admitted = await lease.admit_async(check, SLOT_WAIT)
            if admitted is None:
                return self.decider.overloaded
            return await lease.hand_over(self._io_threads(), lambda: self.check(admitted))

    async def off_loop(self, function: Callable[..., T], *args: Any) -> T:
        """Run a step that may wait on the store in a worker thread; the loop goes on."""
        return await asyncio.wrap_future(self._io_threads().submit(function, *args))

    def _background(self, function: Callable[..., object], *args: Any) -> None:
        """A store write nobody waits for (a trust refresh), off the loop, logged if it fails."""
        future = self._io_threads().submit(function, *args)
        future.add_done_callback(self._log_failure)

    def _log_failure(self, future: Future[object]) -> None:
        error = future.exception()
        if error is not None:
            self.logger.error("background store write failed", exc_info=error)

    # -- the steps both use ---------------------------------------------------------

    def lease(self, check: Check, follow: bool) -> Lease:
        """What ``check`` will hold; with ``follow`` it joins or leads its credentials' flight."""
        return Lease(self, check.ticket if follow else None)

    def trusted_by_store(self, check: Check) -> Check:
        """Every slot is busy: a pair this process has not seen log in may be trusted in a
        shared store (another process saw it), which gives it the trusted slot. Store I/O."""
        throttle = self._throttle
        if check.trusted or throttle is None or check.username is None:
            return check
        try:
            name = self.decider.throttle_name(check.username)
            trusted = throttle.trusts(check.facts.client, name, ask_store=True)
        except StoreFailure:
            return check  # no answer: not trusted; the check itself will meet the outage
        return check._replace(trusted=True) if trusted else check

    def check(self, check: Check) -> Decision:
        """The slow part of ``VERIFY``: count the attempt, hash, settle. Blocking; any thread."""
        decider = self.decider
        ticket = decider.reserve(check)
        if isinstance(ticket, Refusal):
            return ticket
        started = time.perf_counter()
        try:
            result = self._hash(check)
        except BackendUnavailable as failure:
            self._counted(check, "unavailable", started)
            return decider.unavailable(check, ticket, failure)
        except Exception as error:
            self._counted(check, "error", started)
            return decider.crashed(check, ticket, error)
        self._counted(check, "success" if result else "failure", started)
        return decider.settle(check, ticket, result)

    def _counted(self, check: Check, result: str, started: float) -> None:
        """Count one password check, by kind and result, with its duration (metrics on)."""
        metrics = self._metrics
        if metrics is not None and check.username is not None:
            kind = self._check_kind(check.username)
            metrics.check(kind, result, time.perf_counter() - started)

    def _hash(self, check: Check) -> object:
        """Run the verifier: in the niced hashing threads, or here.

        Here when there are no slots (no bound on the threads), for a pair
        the throttle trusts (a known user's next login must not wait behind
        a flood's niced hashes) and for checks that hold the interpreter
        lock (pure-Python hashes, callables, a directory's network wait).
        """
        assert check.username is not None
        if self.slots is None or check.trusted or not self._releases_gil():
            return self._verify(check.username, check.password)
        pool = self._hashing or self._make_hashing()
        return pool.submit(self._verify, check.username, check.password).result()

    def _make_hashing(self) -> ThreadPoolExecutor:
        assert self.slots is not None
        with self._lock:
            if self._hashing is None:
                # One per general slot: a trusted pair hashes in its own thread.
                self._hashing = ThreadPoolExecutor(
                    max_workers=self.slots.limit,
                    thread_name_prefix="basicauth-check",
                    initializer=_lower_priority,
                )
            return self._hashing

    def _io_threads(self) -> ThreadPoolExecutor:
        """Threads of an async front end's checks and store I/O: one per slot, as many again."""
        pool = self._io
        if pool is None:
            with self._lock:
                if self._io is None:
                    slots = self.slots.limit if self.slots is not None else 4
                    self._io = ThreadPoolExecutor(
                        2 * slots + 1, thread_name_prefix="basicauth-asgi"
                    )
                pool = self._io
        return pool

    def _forked(self) -> None:
        self._lock = threading.Lock()
        self._hashing = self._io = None
        self.flights = Flights()
        if self.slots is not None:
            self.slots._reset()

    @property
    def hashing_threads(self) -> ThreadPoolExecutor | None:
        """The niced hashing threads, once a check needed them."""
        return self._hashing

    def __repr__(self) -> str:
        return f"<Scheduler slots={self.slots!r} running={len(self.flights)}>"
