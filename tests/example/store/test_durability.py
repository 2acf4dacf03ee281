"""SubscriberStore's durability: SQLite settings, threads, closing, crashes.

Real SQLite files in tmp_path, no mocks.
"""

from __future__ import annotations

import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from basicauth_wsgi.example.store import DuplicateEmail, Subscriber, SubscriberStore

from .support import THREAD_JOIN_TIMEOUT, pinned_clock, run_in_threads

# -- durability settings --------------------------------------------------


def test_wal_mode_is_persisted_in_the_file(store: SubscriberStore, db_path: Path) -> None:
    fresh = sqlite3.connect(db_path)
    try:
        assert fresh.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        fresh.close()


def test_synchronous_full_on_every_thread_connection(store: SubscriberStore) -> None:
    # synchronous is per connection, so check one opened by another thread too.
    seen: list[tuple[int, int]] = []

    def read_pragmas(_: int) -> None:
        conn = store._connection()
        (synchronous,) = conn.execute("PRAGMA synchronous").fetchone()
        (busy_timeout,) = conn.execute("PRAGMA busy_timeout").fetchone()
        seen.append((synchronous, busy_timeout))

    read_pragmas(0)
    assert run_in_threads(1, read_pragmas) == []

    full = 2  # https://sqlite.org/pragma.html#pragma_synchronous
    assert seen == [(full, 5000), (full, 5000)]


def test_timeout_option_sets_busy_timeout(db_path: Path) -> None:
    with SubscriberStore(db_path, timeout=0.25) as store:
        assert store._connection().execute("PRAGMA busy_timeout").fetchone() == (250,)


def test_writer_fails_only_after_busy_timeout(db_path: Path) -> None:
    with SubscriberStore(db_path, timeout=0.05) as store:
        holder = sqlite3.connect(db_path, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                store.create(name="Ada", email="ada@example.com")
            holder.execute("COMMIT")
        finally:
            holder.close()

        ada = store.create(name="Ada", email="ada@example.com")
        assert store.list() == ([ada], 1)


def test_schema_version_is_one(store: SubscriberStore, db_path: Path) -> None:
    fresh = sqlite3.connect(db_path)
    try:
        assert fresh.execute("PRAGMA user_version").fetchone() == (1,)
    finally:
        fresh.close()


def test_integrity_check_is_ok(store: SubscriberStore) -> None:
    for i in range(20):
        store.create(name=f"user {i}", email=f"u{i}@example.com")

    assert store.integrity_check() == "ok"


def test_reopening_the_file_sees_the_data(db_path: Path) -> None:
    with SubscriberStore(db_path, clock=pinned_clock) as first:
        ada = first.create(name="Ada", email="ada@example.com")

    with SubscriberStore(db_path, clock=pinned_clock) as second:
        assert second.list() == ([ada], 1)
        with pytest.raises(DuplicateEmail):
            second.create(name="Ada", email="ADA@example.com")
        assert second.create(name="Eve", email="eve@example.com").id > ada.id


def test_two_stores_on_one_file_share_data(db_path: Path) -> None:
    with SubscriberStore(db_path) as first, SubscriberStore(db_path) as second:
        ada = first.create(name="Ada", email="ada@example.com")

        assert second.get(ada.id) == ada
        with pytest.raises(DuplicateEmail):
            second.create(name="Ada", email="ada@EXAMPLE.com")


# -- concurrency ----------------------------------------------------------


def test_concurrent_creates_lose_nothing(db_path: Path) -> None:
    with SubscriberStore(db_path, timeout=THREAD_JOIN_TIMEOUT) as store:

        def create_hundred(thread: int) -> None:
            for i in range(100):
                store.create(name=f"t{thread} #{i}", email=f"t{thread}.{i}@example.com")

        errors = run_in_threads(8, create_hundred)

        assert errors == []
        page, total = store.list(limit=1000)
        assert total == 800
        assert len({s.id for s in page}) == 800
        assert len({s.email for s in page}) == 800
        assert store.integrity_check() == "ok"


def test_concurrent_duplicate_email_race_has_one_winner(db_path: Path) -> None:
    threads = 16
    winners: list[Subscriber] = []

    with SubscriberStore(db_path, timeout=THREAD_JOIN_TIMEOUT) as store:

        def race(thread: int) -> None:
            # Vary the case so the race is decided by the case-insensitive key.
            email = "race@example.com" if thread % 2 else "RACE@EXAMPLE.COM"
            winners.append(store.create(name=f"racer {thread}", email=email))

        errors = run_in_threads(threads, race)

        assert len(winners) == 1
        assert len(errors) == threads - 1
        assert all(isinstance(error, DuplicateEmail) for error in errors), errors
        assert store.list() == (winners, 1)


def test_concurrent_readers_see_consistent_pages(db_path: Path) -> None:
    with SubscriberStore(db_path, timeout=THREAD_JOIN_TIMEOUT) as store:

        def work(thread: int) -> None:
            for i in range(50):
                if thread < 2:
                    store.create(name="w", email=f"w{thread}.{i}@example.com")
                else:
                    page, total = store.list(limit=1000)
                    # One snapshot: the total is exactly the rows the page holds.
                    assert len(page) == total

        assert run_in_threads(6, work) == []


# -- closing --------------------------------------------------------------


def test_close_closes_every_thread_connection(db_path: Path) -> None:
    store = SubscriberStore(db_path)
    connections = [store._connection()]

    def grab(_: int) -> None:
        connections.append(store._connection())

    assert run_in_threads(3, grab) == []
    store.close()

    assert len(connections) == 4
    for conn in connections:
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            conn.execute("SELECT 1")


@pytest.mark.parametrize(
    "use",
    [
        pytest.param(lambda s: s.create(name="Ada", email="ada@example.com"), id="create"),
        pytest.param(lambda s: s.get(1), id="get"),
        pytest.param(lambda s: s.get(10**30), id="get-out-of-range"),
        pytest.param(lambda s: s.list(), id="list"),
        pytest.param(lambda s: s.delete(1), id="delete"),
        pytest.param(lambda s: s.integrity_check(), id="integrity-check"),
    ],
)
def test_use_after_close_raises_clear_error(
    db_path: Path, use: Callable[[SubscriberStore], object]
) -> None:
    store = SubscriberStore(db_path)
    store.close()

    with pytest.raises(RuntimeError, match=r"closed"):
        use(store)


def test_use_after_close_from_another_thread_raises(db_path: Path) -> None:
    store = SubscriberStore(db_path)
    store.close()

    errors = run_in_threads(1, lambda _: store.list())

    assert [type(e) for e in errors] == [RuntimeError]


def test_close_is_idempotent_and_context_manager_closes(db_path: Path) -> None:
    with SubscriberStore(db_path) as store:
        conn = store._connection()
    store.close()

    assert "closed" in repr(store)
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1")


def test_connections_of_exited_threads_are_closed(db_path: Path) -> None:
    with SubscriberStore(db_path) as store:
        finished: list[sqlite3.Connection] = []
        assert run_in_threads(3, lambda _: finished.append(store._connection())) == []

        # Opening a connection on a new thread prunes those whose thread has exited.
        assert run_in_threads(1, lambda _: store.get(1)) == []

        for conn in finished:
            with pytest.raises(sqlite3.ProgrammingError):
                conn.execute("SELECT 1")
        assert store.get(1) is None


# -- crash durability -----------------------------------------------------

CHILD = """
import sys
from basicauth_wsgi.example.store import SubscriberStore

store = SubscriberStore(sys.argv[1])
# Bounded so an orphaned child still ends if the parent dies before killing it.
for i in range(1_000_000):
    created = store.create(name=f"crash {i}", email=f"crash{i}@example.com")
    # Printed only after create() returned, i.e. after the commit.
    print(created.id, flush=True)
"""


def test_acknowledged_writes_survive_kill_9(tmp_path: Path, db_path: Path) -> None:
    acknowledged_target = 200
    deadline = time.monotonic() + 60
    stderr_path = tmp_path / "child.stderr"
    lines: queue.Queue[str | None] = queue.Queue()

    with stderr_path.open("wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(db_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    assert child.stdout is not None
    child_stdout = child.stdout

    def pump() -> None:
        for line in child_stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    acknowledged: list[int] = []
    try:
        while len(acknowledged) < acknowledged_target:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"child acknowledged only {len(acknowledged)} writes in time")
            if line is None:
                pytest.fail(f"child exited early: {stderr_path.read_text()}")
            acknowledged.append(int(line))
        child.kill()  # SIGKILL: no atexit, no finally, no close() in the child.
        returncode = child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
        reader.join(timeout=30)
        child_stdout.close()

    if sys.platform != "win32":
        assert returncode == -signal.SIGKILL
    with SubscriberStore(db_path) as reopened:
        assert reopened.integrity_check() == "ok"
        for i, sub_id in enumerate(acknowledged):
            found = reopened.get(sub_id)
            assert found is not None, f"acknowledged id {sub_id} was lost"
            assert found.email == f"crash{i}@example.com"
        assert reopened.list(limit=0)[1] >= acknowledged_target
