"""The scheduler, written once: what a check holds, who gives it back, and what a cancelled
request leaves behind (nothing).

Each test here failed on the copies the scheduler replaced (a blocking one
in the core, a polling one in the ASGI adapter). No timing assertions:
slow checks block on events the test sets, every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import pytest
from asgi.support import Recorder as ASGIRecorder
from helpers import Recorder, basic, call

from basicauth_wsgi import BasicAuth, Throttle
from basicauth_wsgi.admission import GENERAL, TRUSTED, CheckSlots
from basicauth_wsgi.asgi import BasicAuth as ASGIBasicAuth
from basicauth_wsgi.options import KEYWORDS
from basicauth_wsgi.settings import Keywords
from basicauth_wsgi.throttle import MemoryStore
from basicauth_wsgi.verifiers import BackendUnavailable

DEADLINE = 10.0


def deadline_poll(test: Callable[[], bool], what: str) -> None:
    end = time.monotonic() + DEADLINE
    while not test():
        assert time.monotonic() < end, what
        time.sleep(0.005)


async def asgi_get(app: Any, user: str, password: str, client: str = "192.0.2.10") -> int:
    """One ASGI request; its status."""
    from asgi.support import request, scope_for

    scope = scope_for(
        "/", headers=[("Authorization", basic(user, password))], client=(client, 50000)
    )
    return (await request(app, scope)).status


class Gated:
    """A verifier whose checks wait for the test's go (or pass at once when open)."""

    cache_by_default = True
    releases_gil = True

    def __init__(self) -> None:
        self.go = threading.Event()
        self.started = threading.Semaphore(0)
        self.calls: list[str] = []

    def verify(self, username: str, password: str) -> str | None:
        self.calls.append(username)
        self.started.release()
        assert self.go.wait(DEADLINE), "the test never let the check go"
        return username if password == "pw" else None


# -- one signature, one table -------------------------------------------------------


def test_the_typed_signature_and_the_option_table_name_the_same_keywords() -> None:
    assert set(Keywords.__annotations__) == set(KEYWORDS)


# -- cancellation leaves nothing registered ------------------------------------------


class SharedTrust(MemoryStore):
    """A store that only answers 'trusted?' from a thread (as Redis would: it is I/O)."""

    def trusted(self, key: str, now: float) -> bool:
        assert threading.current_thread().name.startswith("basicauth-asgi")
        return super().trusted(key, now)


@pytest.mark.parametrize("steps", range(0, 40, 3), ids=lambda n: f"after-{n}-loop-steps")
def test_a_task_cancelled_at_any_await_leaves_nothing_behind(steps: int) -> None:
    users = Gated()
    users.go.set()  # checks end at once: what matters is where the task was cut
    throttle = Throttle(per_client=0, per_user=1, store=SharedTrust())
    app = ASGIBasicAuth(ASGIRecorder(), users, throttle=throttle, max_concurrent_checks=1)
    scheduler = app.gate.scheduler
    # admin fails once from elsewhere, so admin's next request needs a store
    # lookup (LOOKUP), and a slot (VERIFY): every kind of await is on the way.

    async def scenario() -> None:
        assert await asgi_get(app, "admin", "wrong", "198.51.100.1") == 401
        throttle.success("192.0.2.10", "admin")  # ... but trusted here, in the store
        task = asyncio.ensure_future(asgi_get(app, "admin", "pw"))
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        # The next request with the same credentials is decided as if the
        # first had never come: at once, not after FOLLOW_WAIT's 5 s.
        assert await asyncio.wait_for(asgi_get(app, "admin", "pw"), 2.0) == 200

    asyncio.run(asyncio.wait_for(scenario(), DEADLINE))
    assert scheduler.slots is not None
    deadline_poll(lambda: scheduler.slots.busy == 0, "a slot was never given back")  # type: ignore[union-attr]
    assert len(scheduler.flights) == 0


def test_a_cancelled_check_keeps_its_slot_until_its_hash_ends() -> None:
    users = Gated()
    app = ASGIBasicAuth(ASGIRecorder(), users, throttle=None, max_concurrent_checks=1)
    slots = app.gate.scheduler.slots
    assert slots is not None

    async def scenario() -> None:
        task = asyncio.ensure_future(asgi_get(app, "alice", "pw"))
        while not users.started.acquire(blocking=False):
            await asyncio.sleep(0.001)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        # Its hash still runs in a thread: the slot is still taken by it.
        assert slots.busy == 1
        assert await asgi_get(app, "bob", "pw") == 503
        users.go.set()

    asyncio.run(asyncio.wait_for(scenario(), DEADLINE))
    deadline_poll(lambda: slots.busy == 0, "the check never gave its slot back")
    assert len(app.gate.scheduler.flights) == 0


# -- the trusted reserve, the same on both doors ----------------------------------------


def test_asgi_asks_the_shared_store_for_the_trusted_slot_when_every_slot_is_busy() -> None:
    users = Gated()
    store = SharedTrust()
    app = ASGIBasicAuth(
        ASGIRecorder(), users, throttle=Throttle(store=store), max_concurrent_checks=1, cache=None
    )
    # Another process saw carol log in from 192.0.2.50: only the store knows.
    Throttle(store=store).success("192.0.2.50", "carol")

    async def scenario() -> None:
        flood = asyncio.ensure_future(asgi_get(app, "mallory", "guess", "198.51.100.1"))
        while not users.started.acquire(blocking=False):
            await asyncio.sleep(0.001)
        assert await asgi_get(app, "eve", "guess", "198.51.100.2") == 503  # every slot busy
        carol = asyncio.ensure_future(asgi_get(app, "carol", "pw", "192.0.2.50"))
        while not users.started.acquire(blocking=False):
            await asyncio.sleep(0.001)  # carol's check runs: she got the trusted slot
        users.go.set()
        assert await carol == 200
        assert await flood == 401

    asyncio.run(asyncio.wait_for(scenario(), DEADLINE))


def test_a_released_slot_goes_to_a_trusted_waiter_first_threads_and_tasks_alike() -> None:
    slots = CheckSlots(1, logger=logging.getLogger("test"))
    held = slots.try_acquire(False)
    assert held == GENERAL and slots.try_acquire(True) == TRUSTED
    order: list[str] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        # A stranger waits first, in a thread; a trusted pair second, as a task.
        stranger = loop.run_in_executor(None, slots.acquire, False, DEADLINE)
        await asyncio.sleep(0.05)  # let the thread start waiting (order, not timing)
        known = asyncio.ensure_future(slots.acquire_async(True, DEADLINE))
        await asyncio.sleep(0.05)
        slots.release(held)
        assert await known == GENERAL  # the trusted one takes the freed general slot
        order.append("known")
        slots.release(TRUSTED)
        slots.release(GENERAL)
        assert await stranger == GENERAL
        order.append("stranger")

    asyncio.run(asyncio.wait_for(scenario(), DEADLINE))
    assert order == ["known", "stranger"]


def test_a_cancelled_waiter_passes_a_slot_it_was_handed_on() -> None:
    slots = CheckSlots(1, logger=logging.getLogger("test"))
    held = slots.try_acquire(False)

    async def scenario() -> None:
        waiting = asyncio.ensure_future(slots.acquire_async(False, DEADLINE))
        await asyncio.sleep(0)
        slots.release(held)  # handed to the waiter...
        waiting.cancel()  # ... which is cancelled before it runs again
        with contextlib.suppress(asyncio.CancelledError):
            await waiting

    asyncio.run(asyncio.wait_for(scenario(), DEADLINE))
    assert slots.busy == 0  # given back, not lost


# -- nothing outlives the middleware -----------------------------------------------------


def test_front_doors_are_collected_no_process_wide_hook_holds_them(tmp_path: Any) -> None:
    from basicauth_wsgi import HtpasswdFile
    from basicauth_wsgi.hashes import hash_password

    path = tmp_path / "users"
    path.write_text(f"alice:{hash_password('pw', 'bcrypt', cost=4)}\n")
    refs = []
    for _ in range(200):
        app = BasicAuth(Recorder(), HtpasswdFile(path))
        assert call(app, "/", HTTP_AUTHORIZATION=basic("alice", "nope"))[0].startswith("401")
        assert app.gate.scheduler.hashing_threads is not None  # its threads were made
        refs.append(weakref.ref(app))
        del app
    gc.collect()
    assert sum(ref() is not None for ref in refs) == 0


# -- a bug is a 500 with a traceback, an outage a 503 -------------------------------------


def test_a_bug_in_the_store_generation_is_not_reported_as_a_store_outage() -> None:
    class Broken:
        cache_by_default = True

        @property
        def generation(self) -> int:
            raise RuntimeError("a bug")

        def verify(self, username: str, password: str) -> str | None:
            return username

    app = BasicAuth(Recorder(), Broken())
    with pytest.raises(RuntimeError, match="a bug"):  # the server answers 500 and logs it
        call(app, "/", HTTP_AUTHORIZATION=basic("alice", "pw"))


class Directory:
    """A user store whose backend can go down (as an LDAP server does)."""

    cache_by_default = True

    def __init__(self) -> None:
        self.down = True
        self.calls = 0

    def verify(self, username: str, password: str) -> str | None:
        self.calls += 1
        if self.down:
            raise BackendUnavailable("ldap://directory: no answer in 2 s", retry_after=3)
        return username if password == "pw" else None


@pytest.mark.parametrize("door", ["wsgi", "asgi"])
def test_a_backend_outage_is_a_503_not_counted_not_cached_logged_once(
    door: str, caplog: pytest.LogCaptureFixture
) -> None:
    users = Directory()
    throttle = Throttle(per_client=2)

    def get(password: str) -> tuple[int, dict[str, str], bytes]:
        if door == "wsgi":
            app = wsgi
            status, headers, body = call(
                app,
                "/",
                HTTP_AUTHORIZATION=basic("alice", password),
                HTTP_ACCEPT="application/json",
            )
            return int(status[:3]), dict(headers), body
        from asgi.support import request, scope_for

        scope = scope_for(
            "/",
            headers=[("Authorization", basic("alice", password)), ("Accept", "application/json")],
        )
        response = asyncio.run(request(asgi, scope))
        return response.status, {n.decode(): v.decode() for n, v in response.headers}, response.body

    wsgi = BasicAuth(Recorder(), users, throttle=throttle)
    asgi = ASGIBasicAuth(ASGIRecorder(), users, throttle=throttle)
    with caplog.at_level(logging.WARNING, logger="basicauth_wsgi"):
        for _ in range(4):  # more than per_client: none of them counted
            status, headers, body = get("pw")
            assert status == 503
            assert {k.lower(): v for k, v in headers.items()}["retry-after"] == "3"
            assert b"cannot check credentials right now" in body
    assert users.calls == 4  # not cached: asked every time
    assert throttle.store.idle()  # not counted
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == ["user store unavailable: ldap://directory: no answer in 2 s; answering 503"]
    assert not any("authentication failed" in r.getMessage() for r in caplog.records)
    users.down = False
    assert get("pw")[0] == 200


# -- a request already authenticated by an outer BasicAuth ------------------------------


def test_double_wrapping_says_why_the_right_password_gets_a_401(
    caplog: pytest.LogCaptureFixture,
) -> None:
    users = {"alice": "pw"}
    app = BasicAuth(BasicAuth(Recorder(), users), users)
    with caplog.at_level(logging.WARNING, logger="basicauth_wsgi"):
        for _ in range(3):
            assert call(app, "/", HTTP_AUTHORIZATION=basic("alice", "pw"))[0].startswith("401")
    warnings = [r.getMessage() for r in caplog.records if "outer BasicAuth" in r.getMessage()]
    assert len(warnings) == 1 and "strip_authorization" in warnings[0]
