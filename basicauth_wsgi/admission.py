"""Admission control: how many password checks may run at once.

A bcrypt check costs a quarter of a CPU-second; a flood of guesses would
queue every request behind them, logged-in users included. :class:`CheckSlots`
bounds the checks the cache cannot answer: a request that finds every slot
busy waits a moment, then is refused (503) before any password is checked.
One extra slot is kept for (address, user) pairs the throttle trusts, so a
password-spraying flood cannot keep a known user from logging in again::

    slots = CheckSlots(4, logger=logger)
    slot = slots.acquire(trusted=False, timeout=0.05)     # or: await slots.acquire_async(...)
    if slot:
        try:
            ...  # check the password
        finally:
            slots.release(slot)
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .waiting import Wakeup

__all__ = ["GENERAL", "TRUSTED", "CheckSlots", "default_slots"]

#: Seconds without a refusal after which overload is over.
QUIET = 1.0

#: What :meth:`CheckSlots.acquire` hands out: no slot, a general one, the trusted one.
NONE, GENERAL, TRUSTED = 0, 1, 2


def default_slots() -> int:
    """The default ``max_concurrent_checks``: the CPUs this process may use, at least 2."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 1
    return max(2, cpus)


class _Waiter:
    """A request waiting for a slot: the slot is handed to it, then it is woken."""

    __slots__ = ("gone", "slot", "trusted", "wakeup")

    def __init__(self, trusted: bool) -> None:
        self.trusted = trusted
        self.slot = NONE  # set (under the lock) by the release that hands one over
        self.gone = False  # it stopped waiting: releases skip it
        self.wakeup = Wakeup()


class CheckSlots:
    """``limit`` slots for password checks, plus one for trusted pairs.

    A released slot is handed straight to the longest-waiting waiter that
    may take it (a trusted one first: it may take either kind), so a flood
    of waiting guesses is not woken at every release and nobody can take a
    slot out of turn. Invariant: a slot is always owned by exactly one
    party, the check holding it, a waiter it was handed to, or the free
    pool; a waiter that stops waiting (timeout, cancellation) claims what it
    was handed, under the lock, and gives it back if it no longer wants it.

    Overload is logged once when it starts (the first refusal) and once when
    it ends (the first check admitted after a quiet second, with the count
    refused), so a flood cannot flood the log.
    """

    def __init__(
        self,
        limit: int,
        *,
        logger: logging.Logger | logging.LoggerAdapter[Any],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.clock = clock
        self.logger = logger
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        """Empty: no slot busy, nobody waiting (at start, and in a forked child)."""
        self._lock = threading.Lock()
        self._busy = 0
        self._trusted_busy = False
        self._waiters: dict[bool, deque[_Waiter]] = {False: deque(), True: deque()}
        self._refused = 0
        self._overloaded = False
        self._last = 0.0

    def _take(self, trusted: bool) -> int:
        if self._busy < self.limit:
            self._busy += 1
            return GENERAL
        if trusted and not self._trusted_busy:
            self._trusted_busy = True
            return TRUSTED
        return NONE

    def try_acquire(self, trusted: bool) -> int:
        """Take a slot if one is free now, else 0 (not counted as a refusal)."""
        with self._lock:
            slot = self._take(trusted)
            if slot:
                self._account(slot)
            return slot

    def acquire(self, trusted: bool, timeout: float) -> int:
        """Take a slot, blocking at most ``timeout`` seconds; 0 (falsy) if none came."""
        waiter = self._enqueue(trusted)
        if isinstance(waiter, int):
            return waiter
        waiter.wakeup.wait(timeout)
        return self._claim(waiter)

    async def acquire_async(self, trusted: bool, timeout: float) -> int:
        """Take a slot, awaiting at most ``timeout`` seconds without blocking the loop; 0 if none.

        Cancelled while waiting, it leaves no waiter behind and gives back a
        slot that was handed to it in the meantime.
        """
        waiter = self._enqueue(trusted)
        if isinstance(waiter, int):
            return waiter
        try:
            await waiter.wakeup.wait_async(timeout)
        except asyncio.CancelledError:
            slot = self._claim(waiter, count=False)
            if slot:
                self.release(slot)
            raise
        return self._claim(waiter)

    def _enqueue(self, trusted: bool) -> _Waiter | int:
        with self._lock:
            slot = self._take(trusted)
            if slot:
                self._account(slot)
                return slot
            waiter = _Waiter(trusted)
            self._waiters[trusted].append(waiter)
            return waiter

    def _claim(self, waiter: _Waiter, *, count: bool = True) -> int:
        """Stop waiting: the slot handed over, if any; counted as a refusal if none."""
        with self._lock:
            waiter.gone = True
            slot, waiter.slot = waiter.slot, NONE
            if count:
                self._account(slot)
            return slot

    def refuse(self) -> None:
        """Count a request refused without waiting here (for the overload log lines)."""
        with self._lock:
            self._account(NONE)

    def _account(self, slot: int) -> None:
        if not slot:
            self._refused += 1
            self._last = self.clock()
            if not self._overloaded:
                self._overloaded = True
                self.logger.warning(
                    "overloaded: all %d password check slots busy; answering 503", self.limit
                )
        elif slot == GENERAL and self._overloaded and self.clock() - self._last >= QUIET:
            # Over once a general slot admits a check after a quiet second:
            # under a sustained flood a slot frees after every check, and
            # ending there would log a start and an end per check. (The
            # trusted slot being free says nothing.)
            self.logger.warning(
                "overload over: %d request(s) refused with 503 meanwhile", self._refused
            )
            self._overloaded = False
            self._refused = 0

    def release(self, slot: int) -> None:
        """Give back a slot: to the first waiter that may take it, else to the free pool."""
        with self._lock:
            # A trusted waiter may take either kind; a general one only a general slot.
            trusted, general = self._waiters[True], self._waiters[False]
            queues = (trusted,) if slot == TRUSTED else (trusted, general)
            for queue in queues:
                while queue:
                    waiter = queue.popleft()
                    if not waiter.gone:
                        waiter.slot = slot
                        waiter.wakeup.set()
                        return
            if slot == TRUSTED:
                self._trusted_busy = False
            elif slot == GENERAL:
                self._busy -= 1

    @property
    def busy(self) -> int:
        """Checks running now (slots held or handed over)."""
        return self._busy + self._trusted_busy

    def __repr__(self) -> str:
        return f"<CheckSlots {self.busy}/{self.limit}+1 busy>"
