"""The event loop never runs a password check; the check slots bound the threads."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
from helpers import Clock, basic

from basicauth_wsgi import Throttle
from basicauth_wsgi.asgi import BasicAuth
from basicauth_wsgi.throttle import MemoryStore

from .support import TIMEOUT, Recorder, Response, request, run, scope_for


class SlowUsers:
    """A verifier whose ``slow`` user's check blocks until the test releases it.

    Stands for a 0.5 s bcrypt check without a sleep: the test decides when
    it ends. Records the thread of every check.
    """

    cache_by_default = True  # like HashedUsers: results are cached

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.threads: list[int] = []
        self.calls: list[str] = []

    def verify(self, username: str, password: str) -> bool:
        self.threads.append(threading.get_ident())
        self.calls.append(username)
        if username == "slow":
            self.entered.set()
            assert self.release.wait(TIMEOUT), "the test never released the check"
        return password == "pw"


def header(username: str, password: str = "pw") -> list[tuple[str, str]]:
    return [("Authorization", basic(username, password))]


async def until(test: Callable[[], bool]) -> None:
    """Wait on the loop (never blocking it) until ``test()``, within the test's bound."""
    while not test():
        await asyncio.sleep(0.001)


def get(app: BasicAuth, path: str = "/", user: str | None = None) -> Any:
    return request(app, scope_for(path, headers=header(user) if user else []))


def test_public_and_cached_requests_complete_while_a_check_runs() -> None:
    users = SlowUsers()
    app = BasicAuth(Recorder(), users, exclude=["/health"])

    async def scenario() -> None:
        assert (await get(app, "/", "admin")).status == 200  # now cached
        loop_thread = threading.get_ident()
        slow = asyncio.ensure_future(get(app, "/", "slow"))
        await until(users.entered.is_set)
        try:
            public = await get(app, "/health")
            cached = await get(app, "/", "admin")
            assert (public.status, cached.status) == (200, 200)
            assert not slow.done()  # the check is still running, off the loop
        finally:
            users.release.set()
        assert (await slow).status == 200
        assert users.calls == ["admin", "slow"]  # the cached request checked nothing
        assert loop_thread not in users.threads

    run(scenario())


def test_a_full_slot_table_answers_503_without_blocking(
    caplog: pytest.LogCaptureFixture,
) -> None:
    users = SlowUsers()
    app = BasicAuth(Recorder(), users, max_concurrent_checks=1, throttle=None)
    clock = Clock()
    assert app.gate.slots is not None
    app.gate.slots.clock = clock

    async def scenario() -> None:
        slow = asyncio.ensure_future(get(app, "/", "slow"))
        await until(users.entered.is_set)
        try:
            busy: Response = await request(
                app, scope_for("/", headers=[*header("carol"), ("Accept", "application/json")])
            )
            assert busy.status == 503 and busy.header("retry-after") == "1"
            assert busy.json()["error"] == "unavailable"
        finally:
            users.release.set()
        assert (await slow).status == 200
        clock.now += 1.5  # a quiet second since the refusal: the next admission ends it
        assert (await get(app, "/", "carol")).status == 200  # admitted again
        assert "carol" in users.calls and users.calls.count("carol") == 1

    with caplog.at_level(logging.WARNING, logger="basicauth_wsgi"):
        run(scenario())
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "overloaded: all 1 password check slots busy; answering 503",
        "overload over: 1 request(s) refused with 503 meanwhile",
    ]


def test_a_trusted_pair_gets_the_extra_slot() -> None:
    users = SlowUsers()
    # No cache: every request is a check, so the trust decides admission.
    app = BasicAuth(Recorder(), users, max_concurrent_checks=1, cache=None, throttle=Throttle())

    async def scenario() -> None:
        assert (await get(app, "/", "bob")).status == 200  # bob logs in: trusted
        slow = asyncio.ensure_future(get(app, "/", "slow"))
        await until(users.entered.is_set)
        try:
            assert (await get(app, "/", "bob")).status == 200
            assert (await get(app, "/", "carol")).status == 503
        finally:
            users.release.set()
        assert (await slow).status == 200

    run(scenario())


def test_a_client_gone_mid_check_keeps_its_slot_until_the_check_ends() -> None:
    users = SlowUsers()
    app = BasicAuth(Recorder(), users, max_concurrent_checks=1)
    slots = app.gate.slots
    assert slots is not None

    async def scenario() -> None:
        slow = asyncio.ensure_future(get(app, "/", "slow"))
        await until(users.entered.is_set)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        assert slots.busy == 1  # the hash still runs: its slot is still taken
        users.release.set()
        await until(lambda: slots.busy == 0)
        assert (await get(app, "/", "slow")).status == 200  # cached by the orphan

    run(scenario())
    assert users.calls == ["slow"]


def test_the_same_credentials_are_checked_once() -> None:
    users = SlowUsers()
    app = BasicAuth(Recorder(), users)

    async def scenario() -> None:
        first = asyncio.ensure_future(get(app, "/", "slow"))
        await until(users.entered.is_set)
        followers = [asyncio.ensure_future(get(app, "/", "slow")) for _ in range(5)]
        await asyncio.sleep(0)  # one loop turn: each ran begin() and now follows
        assert not any(f.done() for f in followers)
        users.release.set()
        answers = await asyncio.gather(first, *followers)
        assert [a.status for a in answers] == [200] * 6

    run(scenario())
    assert users.calls == ["slow"]


def test_checks_run_in_bounded_threads() -> None:
    users = SlowUsers()
    app = BasicAuth(Recorder(), users, max_concurrent_checks=2, cache=None)

    async def scenario() -> None:
        answers = await asyncio.gather(*(get(app, "/", f"u{n}") for n in range(20)))
        assert {a.status for a in answers} <= {200, 503}

    run(scenario())
    assert len(set(users.threads)) <= 3  # two slots plus the trusted one


def test_without_a_slot_limit_checks_still_leave_the_loop() -> None:
    users = SlowUsers()
    app = BasicAuth(Recorder(), users, max_concurrent_checks=None, exclude=["/health"])
    assert app.gate.slots is None

    async def scenario() -> None:
        slow = asyncio.ensure_future(get(app, "/", "slow"))
        await until(users.entered.is_set)
        try:
            assert (await get(app, "/health")).status == 200
        finally:
            users.release.set()
        assert (await slow).status == 200

    run(scenario())
    assert threading.get_ident() not in users.threads


def test_a_hash_runs_in_the_cores_niced_threads_the_rest_off_the_loop() -> None:
    seen: dict[str, tuple[str, int]] = {}

    class Users:
        cache_by_default = True
        releases_gil = True  # as bcrypt's check does

        def verify(self, username: str, password: str) -> bool:
            seen["hash"] = (threading.current_thread().name, _priority())
            return password == "pw"

    class Store(MemoryStore):
        def reserve(self, *args: Any, **kwargs: Any) -> Any:
            seen["store"] = (threading.current_thread().name, _priority())
            return super().reserve(*args, **kwargs)

    app = BasicAuth(Recorder(), Users(), throttle=Throttle(store=Store()))
    assert run(get(app, "/", "admin")).status == 200
    assert app.gate.scheduler.hashing_threads is not None
    mine = _priority()
    assert seen["hash"][0].startswith("basicauth-check") and seen["hash"][1] > mine
    name, priority = seen["store"]
    assert name.startswith("basicauth-asgi") and priority == mine  # off the loop, not niced


def _priority() -> int:
    import os

    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


# -- the throttle store is never waited for on the loop ----------------------------


class ThreadNoting(MemoryStore):
    """The in-process store, noting the thread of every call that may be I/O elsewhere."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    def trust(self, key: str, until: float) -> None:
        self.calls.append(("trust", threading.current_thread().name))
        super().trust(key, until)

    def trusted(self, key: str, now: float) -> bool:
        self.calls.append(("trusted", threading.current_thread().name))
        return super().trusted(key, now)


def login(app: BasicAuth, username: str, password: str, client: str) -> Any:
    headers = [("Authorization", basic(username, password))]
    return request(app, scope_for("/", headers=headers, client=(client, 50000)))


def test_the_hourly_trust_refresh_of_a_cached_login_leaves_the_loop() -> None:
    store, clock = ThreadNoting(), Clock()
    app = BasicAuth(Recorder(), SlowUsers(), throttle=Throttle(store=store, clock=clock))

    async def scenario() -> None:
        assert (await login(app, "alice", "pw", "192.0.2.1")).status == 200
        store.calls.clear()
        clock.now += 3601  # the pair's trust in the store is due for a refresh
        assert (await login(app, "alice", "pw", "192.0.2.1")).status == 200  # cached
        await until(lambda: bool(store.calls))

    run(scenario())
    assert [kind for kind, _ in store.calls] == ["trust"]
    assert store.calls[0][1].startswith("basicauth-asgi")


def test_is_this_address_trusted_for_a_blocked_user_is_asked_off_the_loop() -> None:
    store = ThreadNoting()
    app = BasicAuth(Recorder(), SlowUsers(), throttle=Throttle(per_user=2, store=store))
    # Another process saw carol log in from 192.0.2.50 (a shared store's trust).
    Throttle(store=store).success("192.0.2.50", "carol")

    async def scenario() -> None:
        for n in range(2):  # a spray blocks carol (from elsewhere)
            assert (await login(app, "carol", f"guess{n}", f"198.51.100.{n}")).status == 401
        assert (await login(app, "carol", "guess", "198.51.100.9")).status == 429
        store.calls.clear()
        assert (await login(app, "carol", "pw", "192.0.2.50")).status == 200  # exempt there

    run(scenario())
    assert ("trusted", "MainThread") not in store.calls
    assert store.calls and all(name.startswith("basicauth-asgi") for _, name in store.calls)


def test_a_reload_never_runs_on_the_event_loop(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import os
    import time

    from basicauth_wsgi import HtpasswdFile
    from basicauth_wsgi.hashes import hash_password
    from basicauth_wsgi.htpasswd import write_htpasswd

    path = tmp_path / "users"
    write_htpasswd(path, {"alice": hash_password("pw", "sha256-crypt")})
    users = HtpasswdFile(path, check_interval=0.05)
    app = BasicAuth(Recorder(), users)

    async def scenario() -> None:
        assert (await get(app, "/", "alice")).status == 200
        write_htpasswd(tmp_path / "next", {"bob": hash_password("pw", "sha256-crypt")})
        os.replace(tmp_path / "next", path)
        deadline = time.monotonic() + TIMEOUT
        while users.generation == 0:  # requests keep flowing meanwhile, on the loop
            assert time.monotonic() < deadline, "the file was never reloaded"
            assert (await get(app, "/health")).status in (200, 401)
            await asyncio.sleep(0.01)
        assert (await get(app, "/", "alice")).status == 401
        assert (await get(app, "/", "bob")).status == 200

    with caplog.at_level(logging.INFO, logger="basicauth_wsgi"):
        run(scenario())
    reloads = [r for r in caplog.records if r.getMessage().endswith("reloaded")]
    assert reloads and {r.threadName for r in reloads} == {"basicauth-watch"}
    users.close()
