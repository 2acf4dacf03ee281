"""Tests for basicauth_wsgi.store: real SQLite files in tmp_path, no mocks."""

from __future__ import annotations

import dataclasses
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from basicauth_wsgi.example.store import DuplicateEmail, Subscriber, SubscriberStore, email_key

PINNED = datetime(2026, 11, 29, 8, 15, 2, tzinfo=timezone.utc)
THREAD_JOIN_TIMEOUT = 60.0


def pinned_clock() -> datetime:
    return PINNED


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "subscribers.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[SubscriberStore]:
    with SubscriberStore(db_path, clock=pinned_clock) as opened:
        yield opened


def run_in_threads(count: int, work: Callable[[int], object]) -> list[BaseException]:
    """Run ``work(index)`` in ``count`` threads released together; return their errors."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []
    errors_lock = threading.Lock()

    def runner(index: int) -> None:
        try:
            barrier.wait(timeout=THREAD_JOIN_TIMEOUT)
            work(index)
        except BaseException as exc:
            with errors_lock:
                errors.append(exc)

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=THREAD_JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "worker threads hung"
    return errors


# -- round trip and the data model ----------------------------------------


def test_create_get_list_delete_round_trip(store: SubscriberStore) -> None:
    ada = store.create(name="Ada", email="ada@example.com")

    assert ada == Subscriber(
        id=ada.id, name="Ada", email="ada@example.com", created_at="2026-11-29T08:15:02Z"
    )
    assert store.get(ada.id) == ada
    assert store.list() == ([ada], 1)
    assert store.delete(ada.id) is True
    assert store.get(ada.id) is None
    assert store.delete(ada.id) is False
    assert store.list() == ([], 0)


def test_as_dict_is_the_api_json_shape(store: SubscriberStore) -> None:
    ada = store.create(name="Ada", email="ada@example.com")

    assert ada.as_dict() == {
        "id": ada.id,
        "name": "Ada",
        "email": "ada@example.com",
        "created_at": "2026-11-29T08:15:02Z",
    }


def test_subscriber_is_frozen(store: SubscriberStore) -> None:
    ada = store.create(name="Ada", email="ada@example.com")

    with pytest.raises(dataclasses.FrozenInstanceError):
        ada.name = "Eve"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        pytest.param(PINNED, "2026-11-29T08:15:02Z", id="utc"),
        pytest.param(PINNED.replace(microsecond=999_999), "2026-11-29T08:15:02Z", id="truncated"),
        pytest.param(
            datetime(2026, 11, 29, 10, 15, 2, tzinfo=timezone(timedelta(hours=2))),
            "2026-11-29T08:15:02Z",
            id="offset-converted-to-utc",
        ),
        pytest.param(
            datetime(2026, 11, 28, 23, 15, 2, tzinfo=timezone(timedelta(hours=-9))),
            "2026-11-29T08:15:02Z",
            id="offset-crossing-midnight",
        ),
    ],
)
def test_created_at_is_rfc3339_utc_seconds(db_path: Path, moment: datetime, expected: str) -> None:
    with SubscriberStore(db_path, clock=lambda: moment) as store:
        assert store.create(name="Ada", email="ada@example.com").created_at == expected


def test_naive_clock_is_rejected(db_path: Path) -> None:
    with SubscriberStore(db_path, clock=lambda: datetime(2026, 11, 29)) as store:
        with pytest.raises(ValueError, match="aware"):
            store.create(name="Ada", email="ada@example.com")
        assert store.list() == ([], 0)


def test_default_clock_is_current_utc(db_path: Path) -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    with SubscriberStore(db_path) as store:
        created = store.create(name="Ada", email="ada@example.com").created_at
    after = datetime.now(timezone.utc)

    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created)
    assert before <= datetime.fromisoformat(created.replace("Z", "+00:00")) <= after


def test_ids_are_not_reused_after_delete(store: SubscriberStore) -> None:
    first = store.create(name="A", email="a@example.com")
    second = store.create(name="B", email="b@example.com")
    store.delete(second.id)

    third = store.create(name="C", email="c@example.com")

    assert third.id > second.id > first.id


@pytest.mark.parametrize(
    "missing_id",
    [
        pytest.param(0, id="zero"),
        pytest.param(-1, id="negative"),
        pytest.param(10**30, id="beyond-64-bit"),
        pytest.param(-(10**30), id="below-64-bit"),
    ],
)
def test_missing_ids_are_not_found(store: SubscriberStore, missing_id: int) -> None:
    store.create(name="Ada", email="ada@example.com")

    assert store.get(missing_id) is None
    assert store.delete(missing_id) is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"name": None, "email": "a@example.com"}, "name", id="name-none"),
        pytest.param({"name": b"Ada", "email": "a@example.com"}, "name", id="name-bytes"),
        pytest.param({"name": "Ada", "email": None}, "email", id="email-none"),
        pytest.param({"name": "Ada", "email": 42}, "email", id="email-int"),
    ],
)
def test_create_rejects_non_str_fields(
    store: SubscriberStore, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        store.create(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad_id", [pytest.param("1", id="str"), pytest.param(True, id="bool")])
def test_get_and_delete_reject_non_int_ids(store: SubscriberStore, bad_id: object) -> None:
    with pytest.raises(TypeError, match="subscriber_id"):
        store.get(bad_id)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="subscriber_id"):
        store.delete(bad_id)  # type: ignore[arg-type]


# -- listing --------------------------------------------------------------


@pytest.fixture
def ten(store: SubscriberStore) -> list[Subscriber]:
    # Created in reverse alphabetical order so ordering by name would differ from by id.
    return [store.create(name=f"user {9 - i}", email=f"u{9 - i}@example.com") for i in range(10)]


def test_list_is_ordered_by_id(store: SubscriberStore, ten: list[Subscriber]) -> None:
    page, total = store.list()

    assert [s.id for s in page] == sorted(s.id for s in ten)
    assert page == ten
    assert total == 10


@pytest.mark.parametrize(
    ("limit", "offset", "expected"),
    [
        pytest.param(3, 0, slice(0, 3), id="first-page"),
        pytest.param(3, 3, slice(3, 6), id="second-page"),
        pytest.param(3, 9, slice(9, 10), id="short-last-page"),
        pytest.param(3, 10, slice(10, 10), id="offset-at-end"),
        pytest.param(3, 500, slice(10, 10), id="offset-past-end"),
        pytest.param(0, 0, slice(0, 0), id="limit-zero"),
        pytest.param(1000, 0, slice(0, 10), id="limit-above-count"),
    ],
)
def test_list_pages_with_limit_and_offset(
    store: SubscriberStore, ten: list[Subscriber], limit: int, offset: int, expected: slice
) -> None:
    page, total = store.list(limit=limit, offset=offset)

    assert page == ten[expected]
    assert total == 10


def test_list_total_counts_after_delete(store: SubscriberStore, ten: list[Subscriber]) -> None:
    store.delete(ten[4].id)

    page, total = store.list(limit=100)

    assert total == 9
    assert ten[4] not in page


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        pytest.param({"limit": -1}, "limit", id="negative-limit"),
        pytest.param({"offset": -1}, "offset", id="negative-offset"),
        pytest.param({"limit": 1.5}, "limit", id="float-limit"),
        pytest.param({"limit": "10"}, "limit", id="str-limit"),
        pytest.param({"offset": None}, "offset", id="none-offset"),
        pytest.param({"limit": True}, "limit", id="bool-limit"),
        pytest.param({"offset": 2**63}, "offset", id="offset-beyond-64-bit"),
    ],
)
def test_list_rejects_bad_limit_and_offset(
    store: SubscriberStore, kwargs: dict[str, object], name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        store.list(**kwargs)  # type: ignore[arg-type]


# -- uniqueness -----------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param("ada@example.com", "ada@example.com", id="identical"),
        pytest.param("ada@example.com", "ADA@Example.COM", id="ascii-case"),
        pytest.param("ÉVE@example.com", "éve@example.com", id="non-ascii-case"),
        pytest.param("ΣΟΦΙΑ@example.com", "σοφια@example.com", id="greek-case"),
        pytest.param("straße@example.com", "STRASSE@example.com", id="casefold-sharp-s"),
        pytest.param("\u00e9ve@example.com", "e\u0301ve@example.com", id="composed-vs-combining"),
    ],
)
def test_duplicate_email_is_case_insensitive(
    store: SubscriberStore, first: str, second: str
) -> None:
    original = store.create(name="First", email=first)

    with pytest.raises(DuplicateEmail) as raised:
        store.create(name="Second", email=second)

    assert isinstance(raised.value, ValueError)
    assert raised.value.email == second
    assert second in str(raised.value)
    assert store.list() == ([original], 1)


def test_failed_create_leaves_the_store_usable(store: SubscriberStore) -> None:
    store.create(name="Ada", email="ada@example.com")
    with pytest.raises(DuplicateEmail):
        store.create(name="Ada again", email="ADA@example.com")

    # The rolled-back transaction must not linger on this thread's connection.
    eve = store.create(name="Eve", email="eve@example.com")

    assert store.get(eve.id) == eve


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param("ada@example.com", "ada@example.org", id="different-domain"),
        pytest.param("eve@example.com", "ève@example.com", id="accent-is-not-case"),
    ],
)
def test_distinct_emails_are_accepted(store: SubscriberStore, first: str, second: str) -> None:
    store.create(name="One", email=first)
    store.create(name="Two", email=second)

    assert store.list()[1] == 2


def test_email_is_stored_as_given(store: SubscriberStore) -> None:
    created = store.create(name="Éve", email="ÉVE@Example.com")

    assert store.get(created.id) == created
    assert created.email == "ÉVE@Example.com"
    assert email_key(created.email) == email_key("éve@example.com")


# -- SQL-looking text -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "email"),
    [
        pytest.param("Robert'); DROP TABLE subscribers;--", "bobby@example.com", id="drop-table"),
        pytest.param("x", "' OR '1'='1@example.com", id="or-true"),
        pytest.param('"; DELETE FROM subscribers; --', "quote@example.com", id="double-quote"),
        pytest.param("100% _wild_ ? ?1 :name @x $y", "wild@example.com", id="placeholders"),
        pytest.param("x", "x@example.com' UNION SELECT 1,2,3,4--", id="union"),
    ],
)
def test_sql_looking_text_is_stored_literally(
    store: SubscriberStore, name: str, email: str
) -> None:
    created = store.create(name=name, email=email)
    other = store.create(name="Other", email="other@example.com")

    assert store.get(created.id) == Subscriber(created.id, name, email, created.created_at)
    assert store.list() == ([created, other], 2)


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


# -- constructor validation -----------------------------------------------


@pytest.mark.parametrize(
    ("timeout", "error"),
    [
        pytest.param(0, ValueError, id="zero"),
        pytest.param(-1.0, ValueError, id="negative"),
        pytest.param(float("nan"), ValueError, id="nan"),
        pytest.param(float("inf"), ValueError, id="infinite"),
        pytest.param("5", TypeError, id="str"),
        pytest.param(True, TypeError, id="bool"),
        pytest.param(None, TypeError, id="none"),
    ],
)
def test_bad_timeout_is_rejected(db_path: Path, timeout: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="timeout"):
        SubscriberStore(db_path, timeout=timeout)  # type: ignore[arg-type]
    assert not db_path.exists()


def test_non_callable_clock_is_rejected(db_path: Path) -> None:
    with pytest.raises(TypeError, match="clock"):
        SubscriberStore(db_path, clock=PINNED)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "error"),
    [
        pytest.param(":memory:", ValueError, id="memory"),
        pytest.param("", ValueError, id="empty"),
        pytest.param("file:subscribers.db?mode=memory", ValueError, id="uri"),
        pytest.param(b"subscribers.db", TypeError, id="bytes"),
        pytest.param(42, TypeError, id="int"),
    ],
)
def test_bad_path_option_is_rejected(path: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="path"):
        SubscriberStore(path)  # type: ignore[arg-type]


def test_non_sqlite_file_raises_value_error_naming_path(db_path: Path) -> None:
    junk = b"this is a text file, not a database\n" * 200
    db_path.write_bytes(junk)

    with pytest.raises(ValueError, match=re.escape(str(db_path))):
        SubscriberStore(db_path)
    assert db_path.read_bytes() == junk


@pytest.mark.parametrize(
    "make_path",
    [
        pytest.param(lambda tmp: tmp, id="directory"),
        pytest.param(lambda tmp: tmp / "missing" / "subscribers.db", id="missing-parent"),
    ],
)
def test_unopenable_path_raises_value_error_naming_path(
    tmp_path: Path, make_path: Callable[[Path], Path]
) -> None:
    path = make_path(tmp_path)

    with pytest.raises(ValueError, match=re.escape(str(path))):
        SubscriberStore(path)


def test_newer_schema_version_is_refused(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    try:
        conn.execute("PRAGMA user_version = 2")
        conn.commit()
    finally:
        conn.close()

    with pytest.raises(ValueError, match=f"{re.escape(str(db_path))}.*newer"):
        SubscriberStore(db_path)


def test_str_path_is_accepted(db_path: Path) -> None:
    with SubscriberStore(str(db_path)) as store:
        assert store.path == str(db_path)
        assert store.integrity_check() == "ok"


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
