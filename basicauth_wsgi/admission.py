"""Admission control: how many password checks may run at once.

A bcrypt check costs a quarter of a CPU-second; a flood of guesses would
queue every request behind them, logged-in users included. :class:`CheckSlots`
bounds the checks the cache cannot answer: a request that finds every slot
busy waits a moment, then is refused (503) before any password is checked.
One extra slot is kept for (address, user) pairs the throttle trusts, so a
password-spraying flood cannot keep a known user from logging in again::

    slots = CheckSlots(4, logger=logger)
    slot = slots.acquire(trusted=False, timeout=0.05)
    if slot:
        try:
            ...  # check the password
        finally:
            slots.release(slot)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

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


class CheckSlots:
    """``limit`` slots for password checks, plus one for trusted pairs.

    Overload is logged once when it starts (the first refusal) and once when
    it ends (the first check admitted after refusals, with the count
    refused), so a flood cannot flood the log.
    """

    __slots__ = (
        "_busy",
        "_general_waiters",
        "_last",
        "_lock",
        "_overloaded",
        "_refused",
        "_trusted_busy",
        "_trusted_waiters",
        "_waiting",
        "clock",
        "limit",
        "logger",
    )

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
        self._busy = 0
        self._trusted_busy = False
        self._lock = threading.Lock()
        # Waiters for a slot, by kind: a trusted pair may take either slot.
        self._general_waiters = threading.Condition(self._lock)
        self._trusted_waiters = threading.Condition(self._lock)
        self._waiting = {False: 0, True: 0}
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

    def acquire(self, trusted: bool, timeout: float) -> int:
        """Take a slot, waiting at most ``timeout`` seconds; 0 (falsy) if none came free.

        A freed slot wakes one waiter, a trusted one first (they may take
        either kind of slot), so a flood of waiting guesses is not woken at
        every release.
        """
        with self._lock:
            slot = self._take(trusted)
            if not slot and timeout > 0:
                waiters = self._trusted_waiters if trusted else self._general_waiters
                deadline = self.clock() + timeout
                self._waiting[trusted] += 1
                try:
                    while not slot:
                        remaining = deadline - self.clock()
                        woken = remaining > 0 and waiters.wait(remaining)
                        slot = self._take(trusted)
                        if not woken:
                            break
                finally:
                    self._waiting[trusted] -= 1
            self._account(slot)
        return slot

    def try_acquire(self, trusted: bool) -> int:
        """Take a slot if one is free now, else 0; refusals are not counted."""
        with self._lock:
            slot = self._take(trusted)
            if slot:
                self._account(slot)
            return slot

    def refuse(self) -> None:
        """Count a request refused after waiting elsewhere (an event loop)."""
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
        """Give back a slot from :meth:`acquire`."""
        with self._lock:
            if slot == TRUSTED:
                self._trusted_busy = False
            elif slot == GENERAL:
                self._busy -= 1
            if self._waiting[True]:
                self._trusted_waiters.notify()
            elif slot == GENERAL and self._waiting[False]:
                self._general_waiters.notify()

    @property
    def busy(self) -> int:
        """Checks running now."""
        return self._busy + self._trusted_busy

    def __repr__(self) -> str:
        return f"<CheckSlots {self.busy}/{self.limit}+1 busy>"
