"""SQLite storage for the example mailing-list API.

The HTTP layer (SPEC §7) promises that every 2xx answer is durable: a
``kill -9`` or a power cut right after the response loses nothing, and
concurrent writers lose nothing.  This module is where that promise is kept,
so the HTTP layer can treat "the call returned" as "the row is on disk".

Usage::

    with SubscriberStore("subscribers.db") as store:
        ada = store.create(name="Ada", email="ada@example.com")
        page, total = store.list(limit=100, offset=0)

Concurrency model: waitress runs the application in a thread pool, and a
``sqlite3.Connection`` must not be shared between threads, so the store keeps
one connection per thread (``threading.local``).  Writers serialise on
SQLite's write lock, queueing on the busy timeout; readers never block
writers because the database runs in WAL mode.
"""

from __future__ import annotations

import builtins
import math
import os
import sqlite3
import threading
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, Final, Literal, TypedDict

from .._durable import fsync_directory

__all__ = ["DuplicateEmail", "Subscriber", "SubscriberDict", "SubscriberStore", "email_key"]

#: The schema version this module writes and understands (``PRAGMA user_version``).
SCHEMA_VERSION: Final = 1

# AUTOINCREMENT, not a plain INTEGER PRIMARY KEY: without it SQLite reuses the
# highest id after that row is deleted, so /api/v1/subscribers/<id> could
# name a different person than a client saw earlier.
# email_key carries the uniqueness so the email itself is stored as given.
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS subscribers (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL,
    email_key  TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
)
"""

_COLUMNS: Final = "id, name, email, created_at"

# SQLite binds integers as signed 64-bit; larger values would surface as an
# OverflowError from the driver instead of a ValueError naming the argument.
_MAX_SQLITE_INT: Final = 2**63 - 1

# Connection-local paths SQLite would give a private, per-connection database;
# with one connection per thread each thread would see different data.
_PRIVATE_PATHS: Final = frozenset({"", ":memory:"})


class SubscriberDict(TypedDict):
    """The JSON shape of a subscriber (SPEC §7)."""

    id: int
    name: str
    email: str
    created_at: str


@dataclass(frozen=True, slots=True)
class Subscriber:
    """One stored subscriber.

    ``created_at`` is an RFC 3339 UTC timestamp with second precision, e.g.
    ``"2026-11-29T08:15:02Z"``.
    """

    id: int
    name: str
    email: str
    created_at: str

    def as_dict(self) -> SubscriberDict:
        """Return the subscriber as the JSON object the API serves."""
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "created_at": self.created_at,
        }


class DuplicateEmail(ValueError):
    """A subscriber with this email (compared case-insensitively) already exists.

    ``email`` is the address that was rejected, as the caller gave it.
    """

    def __init__(self, email: str) -> None:
        # args holds only the email so the exception pickles and re-raises intact.
        super().__init__(email)
        self.email = email

    def __str__(self) -> str:
        return f"a subscriber with email {self.email!r} already exists"


def email_key(email: str) -> str:
    """Return the key two emails share exactly when they are "the same address".

    This is Unicode canonical caseless matching (Unicode 15, D145:
    ``NFD(casefold(NFD(x)))``), so it folds case for all of Unicode, not only
    ASCII as SQLite's ``NOCASE`` does, and a precomposed "é" equals "e" plus a
    combining acute accent, which render identically.
    """
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", email).casefold())


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _rfc3339(moment: datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC with second precision.

    Raises ``ValueError`` for a naive datetime: its offset is unknown, so any
    UTC time derived from it would be a guess.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"clock must return an aware datetime, got naive {moment!r}")
    utc = moment.astimezone(timezone.utc).replace(microsecond=0, tzinfo=None)
    return utc.isoformat() + "Z"


def _check_count(name: str, value: object) -> int:
    # bool is an int subclass, but limit=True is a caller bug, not "1".
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    if not 0 <= value <= _MAX_SQLITE_INT:
        raise ValueError(f"{name} must be between 0 and {_MAX_SQLITE_INT}, got {value!r}")
    return value


def _storable_id(subscriber_id: object) -> bool:
    """Whether ``subscriber_id`` could name a row; raise ``TypeError`` if not an int.

    Ids outside SQLite's 64-bit range cannot exist, so lookups of them find
    nothing rather than failing with the driver's ``OverflowError``.
    """
    if isinstance(subscriber_id, bool) or not isinstance(subscriber_id, int):
        raise TypeError(f"subscriber_id must be an int, got {subscriber_id!r}")
    return -_MAX_SQLITE_INT - 1 <= subscriber_id <= _MAX_SQLITE_INT


def _row_to_subscriber(row: tuple[Any, ...]) -> Subscriber:
    return Subscriber(id=row[0], name=row[1], email=row[2], created_at=row[3])


class SubscriberStore:
    """Thread-safe, durable storage of subscribers in one SQLite file.

    Every method that returns has committed: a write acknowledged by a
    return value survives a process crash and a power loss.  Methods raise
    ``sqlite3.Error`` for failures the caller cannot fix (disk full, I/O
    error, the busy timeout running out); the HTTP layer answers those with
    a 5xx.

    Each thread gets its own connection on first use.  ``close()`` closes
    every connection the store opened and must only be called once no other
    thread is still using the store (e.g. after the server has stopped).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = 5.0,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        """Open (creating if missing) the database at ``path``.

        ``timeout`` is how many seconds a writer waits for the write lock
        before failing with ``sqlite3.OperationalError("database is locked")``.
        ``clock`` returns the current time as an aware datetime; it stamps
        ``created_at``.

        Raises ``ValueError`` naming the option for a bad ``timeout`` or
        ``path``, and naming the path when the file cannot be opened, is not
        a SQLite database, or holds a newer schema than this module knows.
        Raises ``TypeError`` for options of the wrong type.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike, got {path!r}")
        self._path = os.fspath(path)
        if not isinstance(self._path, str):
            raise TypeError(f"path must be a text path, got {path!r}")
        if self._path in _PRIVATE_PATHS or self._path.startswith("file:"):
            # Refuse rather than silently give each thread its own database
            # (":memory:", "") or misread a URI as a file name.
            raise ValueError(f"path must name a database file, got {self._path!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise TypeError(f"timeout must be a number of seconds, got {timeout!r}")
        if not (timeout > 0 and math.isfinite(timeout)):
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if not callable(clock):
            raise TypeError(f"clock must be callable, got {clock!r}")

        self._timeout = float(timeout)
        self._clock = clock
        self._local = threading.local()
        self._lock = threading.Lock()
        # (owner, connection) pairs: close() must reach every thread's
        # connection, and connections of threads that have exited are pruned.
        self._connections: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._closed = False

        existed = os.path.exists(self._path)
        try:
            conn = self._connection()
            self._initialise(conn)
        except sqlite3.Error as exc:
            self.close()
            raise ValueError(f"cannot open subscriber database {self._path!r}: {exc}") from exc
        except BaseException:
            self.close()
            raise
        if not existed:
            # SQLite syncs the folder for its journal and WAL files, but not for
            # the main database file it creates.
            fsync_directory(os.path.dirname(os.path.abspath(self._path)))

    @property
    def path(self) -> str:
        """The database file's path, as given to the constructor."""
        return self._path

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} {self._path!r} ({state})>"

    def __enter__(self) -> SubscriberStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- connections and transactions ---------------------------------------

    def _open(self) -> sqlite3.Connection:
        # isolation_level=None: the driver never opens transactions behind our
        # back; every transaction below is an explicit BEGIN ... COMMIT.
        # check_same_thread=False only so close() may close another thread's
        # connection; in use, a connection never leaves its thread (below).
        conn = sqlite3.connect(
            self._path,
            timeout=self._timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            # synchronous is per connection, so every connection sets it.  In
            # WAL mode NORMAL only fsyncs at checkpoints: a commit then
            # survives a process crash but may be rolled back by a power cut
            # or kernel panic.  FULL fsyncs the WAL on every commit, which is
            # what "an acknowledged write is durable" requires.
            conn.execute("PRAGMA synchronous = FULL")
        except BaseException:
            conn.close()
            raise
        return conn

    def _connection(self) -> sqlite3.Connection:
        """Return the calling thread's connection, opening it on first use."""
        self._raise_if_closed()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        conn = self._open()
        with self._lock:
            if self._closed:
                conn.close()
                raise RuntimeError(f"{self!r} is closed")
            self._prune_locked()
            self._connections.append((threading.current_thread(), conn))
        self._local.conn = conn
        return conn

    def _raise_if_closed(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")

    def _prune_locked(self) -> None:
        # A thread's threading.local data vanishes when it exits, but our list
        # still holds its connection; close those so short-lived threads do
        # not leak file descriptors.  Safe: their owner can no longer use them.
        alive = []
        for owner, conn in self._connections:
            if owner.is_alive():
                alive.append((owner, conn))
            else:
                conn.close()
        self._connections = alive

    def _discard(self, conn: sqlite3.Connection) -> None:
        # A connection whose ROLLBACK failed is in an unknown state; drop it so
        # the thread's next call starts from a fresh connection.
        with self._lock:
            self._connections = [(o, c) for o, c in self._connections if c is not conn]
        self._local.conn = None
        conn.close()

    @contextmanager
    def _transaction(
        self, mode: Literal["BEGIN", "BEGIN IMMEDIATE"]
    ) -> Iterator[sqlite3.Connection]:
        """Run the body in one transaction: commit on success, roll back on error.

        Writers use ``BEGIN IMMEDIATE``: it takes the write lock up front, so a
        second writer waits on the busy timeout.  A deferred transaction that
        reads and then writes would instead fail at once with "database is
        locked" when upgrading, because waiting could deadlock.
        """
        conn = self._connection()
        conn.execute(mode)
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    self._discard(conn)
            raise

    def _initialise(self, conn: sqlite3.Connection) -> None:
        # WAL lets readers proceed while one writer commits; the mode is
        # stored in the file, so setting it once here covers every connection.
        # Outside a transaction: SQLite refuses to change it inside one.
        (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"cannot enable WAL journal mode (got {mode!r})")
        # IMMEDIATE so two processes creating the same file do not both see
        # version 0 and race; the second waits, then sees version 1.
        with self._transaction("BEGIN IMMEDIATE"):
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise sqlite3.DatabaseError(
                    f"schema version {version} is newer than supported ({SCHEMA_VERSION})"
                )
            conn.execute(_SCHEMA)
            if version < SCHEMA_VERSION:
                # PRAGMA takes no parameters; SCHEMA_VERSION is a module constant.
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")

    # -- public API ---------------------------------------------------------

    def create(self, *, name: str, email: str) -> Subscriber:
        """Store a new subscriber and return it with its id and ``created_at``.

        ``name`` and ``email`` are stored exactly as given; validating them is
        the HTTP layer's job.  Raises ``DuplicateEmail`` if a subscriber with
        the same email, compared by ``email_key``, exists; ``TypeError`` if
        either is not a ``str``.
        """
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, got {name!r}")
        if not isinstance(email, str):
            raise TypeError(f"email must be a str, got {email!r}")
        created_at = _rfc3339(self._clock())
        try:
            # No SELECT first: between a check and the INSERT another thread
            # or process could insert the same email.  The UNIQUE constraint
            # decides atomically.
            with self._transaction("BEGIN IMMEDIATE") as conn:
                cursor = conn.execute(
                    "INSERT INTO subscribers (name, email, email_key, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    (name, email, email_key(email), created_at),
                )
                new_id = cursor.lastrowid
        except sqlite3.IntegrityError as exc:
            # With str inputs the only constraint an INSERT can break is the
            # UNIQUE on email_key; anything else is a real bug, so re-raise it.
            if "email_key" not in str(exc):
                raise
            raise DuplicateEmail(email) from None
        if new_id is None:  # pragma: no cover - an INSERT always sets lastrowid
            raise RuntimeError("SQLite did not report the new subscriber's id")
        return Subscriber(id=new_id, name=name, email=email, created_at=created_at)

    def get(self, subscriber_id: int) -> Subscriber | None:
        """Return the subscriber with this id, or ``None`` if there is none."""
        if not _storable_id(subscriber_id):
            self._raise_if_closed()
            return None
        # One statement in autocommit mode is its own read transaction.
        row = (
            self._connection()
            .execute(f"SELECT {_COLUMNS} FROM subscribers WHERE id = ?", (subscriber_id,))  # noqa: S608 - constant column list
            .fetchone()
        )
        return None if row is None else _row_to_subscriber(row)

    # builtins.list in the annotation: inside the class body ``list`` is this method.
    def list(self, limit: int = 100, offset: int = 0) -> tuple[builtins.list[Subscriber], int]:
        """Return one page of subscribers ordered by id, and the total count.

        The page and the total come from the same read transaction (one WAL
        snapshot), so they agree even while other threads write.  Raises
        ``ValueError`` unless ``limit`` and ``offset`` are non-negative ints;
        the HTTP layer enforces the API's maximum page size.
        """
        limit = _check_count("limit", limit)
        offset = _check_count("offset", offset)
        with self._transaction("BEGIN") as conn:
            (total,) = conn.execute("SELECT COUNT(*) FROM subscribers").fetchone()
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM subscribers ORDER BY id LIMIT ? OFFSET ?",  # noqa: S608 - constant column list
                (limit, offset),
            ).fetchall()
        return [_row_to_subscriber(row) for row in rows], int(total)

    def delete(self, subscriber_id: int) -> bool:
        """Delete the subscriber with this id; return whether one existed."""
        if not _storable_id(subscriber_id):
            self._raise_if_closed()
            return False
        with self._transaction("BEGIN IMMEDIATE") as conn:
            cursor = conn.execute("DELETE FROM subscribers WHERE id = ?", (subscriber_id,))
        return cursor.rowcount == 1

    def integrity_check(self) -> str:
        """Return the result of ``PRAGMA integrity_check``: ``"ok"`` if sound.

        Otherwise the problems SQLite found, one per line.
        """
        rows = self._connection().execute("PRAGMA integrity_check").fetchall()
        return "\n".join(str(row[0]) for row in rows)

    def close(self) -> None:
        """Close every connection the store opened; later calls raise ``RuntimeError``.

        Idempotent.  Call it only when no other thread is still using the
        store: a connection closed under a running query fails that query.
        """
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for _owner, conn in connections:
            conn.close()
        self._local.conn = None
