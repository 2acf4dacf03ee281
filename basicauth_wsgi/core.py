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

from .admission import CheckSlots
from .decide import PREFLIGHT, PUBLIC, Check, Decider, Decision, Facts, Grant, Refusal
from .schedule import Scheduler
from .settings import Settings

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
        self.run = self.scheduler.run
        self.arun = self.scheduler.arun
        #: The two halves of :meth:`run`, for a front door's hot path: a
        #: decision, or a :class:`Check` to hand to ``complete``.
        self.decide = self.decider.decide
        self.complete = self.scheduler.complete
        self.anonymous = self.decider.anonymous
        self.pages = self.decider.pages

    @property
    def slots(self) -> CheckSlots | None:
        """The check slots (``None`` with ``max_concurrent_checks=None``)."""
        return self.scheduler.slots

    def __repr__(self) -> str:
        return f"<Gate realm={self.settings.realm!r} verifier={self.settings.verifier!r}>"
