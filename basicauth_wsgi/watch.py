"""A configuration file that is re-read when it changes, keeping the last good version.

Shared by :class:`~basicauth_wsgi.HtpasswdFile` and
:class:`~basicauth_wsgi.HtgroupFile`. Requests never read the file: one
thread per process checks every watched file on its interval and swaps a
new version in when it has loaded completely, so a request that starts
after the swap is decided on the new version on every connection, and a
reload never runs on a request's thread (nor on an event loop)::

    watched = WatchedFile("users.htpasswd", parse=load_users, what="htpasswd file")
    users = watched.value        # the version in force; no I/O
    watched.refresh()            # check now (what the watcher does every second)
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .logs import logger

__all__ = ["CHECK_INTERVAL", "WatchedFile", "stat_signature"]


T = TypeVar("T")

#: How often (seconds) a watched file is checked for changes; a change is in
#: force within this plus the time to load it, well under 2 s (SPEC §3).
CHECK_INTERVAL = 1.0

Signature = tuple[int, int, int, int]


def stat_signature(path: str) -> Signature:
    """What tells one version of a file from the next.

    mtime alone misses a same-second rewrite on coarse filesystems; size,
    inode (a file replaced by rename) and ctime close the gaps.
    """
    st = os.stat(path)
    return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns)


class _ChangedWhileRead(OSError):
    """The file's signature changed between the start and end of a read."""


class WatchedFile(Generic[T]):
    """The parsed contents of a file, re-read by the watcher thread when the file changes.

    ``parse(data, path)`` turns the file's bytes into the value, raising
    ``ValueError`` for a version that must not be used. The first load
    happens here: a missing, unreadable or invalid file is a ``ValueError``
    naming it. With ``reload``, the file is checked every ``check_interval``
    seconds; a new version is parsed completely, then swapped in with one
    reference assignment (value and generation together). A version that
    does not load is logged once and the last good one kept.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        parse: Callable[[bytes, str], T],
        *,
        what: str,
        reload: bool = True,
        check_interval: float = CHECK_INTERVAL,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a file path, got {path!r}")
        if not isinstance(reload, bool):
            raise TypeError(f"reload must be True or False, got {reload!r}")
        if (
            isinstance(check_interval, bool)
            or not isinstance(check_interval, (int, float))
            or not 0 < check_interval <= 60
        ):
            raise ValueError(f"check_interval must be in (0, 60] seconds, got {check_interval!r}")
        self.path = os.fspath(path)
        self.parse = parse
        self.reload = reload
        self.check_interval = float(check_interval)
        # One check at a time (the watcher's, or a caller's refresh()).
        self._checking = threading.Lock()
        try:
            signature, value = self._load()
        except OSError as exc:
            raise ValueError(f"{what} {self.path!r} cannot be read: {exc}") from None
        self._signature: Signature = signature
        #: (value, generation): swapped as one, so no reader sees one without the other.
        self._state: tuple[T, int] = (value, 0)
        self._failed: Signature | None = None
        self._last_error: str | None = None
        #: When the version in force was loaded (Unix time), and how many
        #: reloads succeeded and failed (a broken version counts once).
        self.loaded_at = time.time()
        self.reloads = self.reload_failures = 0
        self.due = time.monotonic() + self.check_interval
        if reload:
            _WATCHER.add(self)

    def _load(self) -> tuple[Signature, T]:
        """Read and parse the file. Raises OSError or ValueError."""
        before = stat_signature(self.path)
        with open(self.path, "rb") as handle:
            data = handle.read()
        after = stat_signature(self.path)
        if before != after:
            # Caught mid-write by an editor writing in place: try next time.
            raise _ChangedWhileRead(self.path)
        return after, self.parse(data, self.path)

    @property
    def value(self) -> T:
        """The version in force (no I/O)."""
        return self._state[0]

    def current(self) -> T:
        """The version in force (no I/O; the watcher keeps it current)."""
        return self._state[0]

    @property
    def generation(self) -> int:
        """Bumped on every successful reload."""
        return self._state[1]

    def refresh(self) -> bool:
        """Check the file now and load it if it changed; whether a new version is in force.

        With ``reload=False`` the file is never read again: nothing happens.
        """
        if not self.reload:
            return False
        with self._checking:
            try:
                signature = stat_signature(self.path)
                if signature in (self._signature, self._failed):
                    return False
                signature, value = self._load()
            except _ChangedWhileRead:
                return False  # an editor is writing it; the next check sees the result
            except (OSError, ValueError) as exc:
                # Logged once per broken version (or per missing spell), not
                # once per check.
                if isinstance(exc, ValueError):
                    self._failed = signature
                message = f"{self.path}: not reloaded, keeping the last good version: {exc}"
                if message != self._last_error:
                    logger.error("%s", message)
                    self._last_error = message
                    self.reload_failures += 1
                return False
            self._signature, self._failed, self._last_error = signature, None, None
            self._state = (value, self._state[1] + 1)  # one assignment: atomic for readers
            self.loaded_at = time.time()
            self.reloads += 1
        logger.info("%s reloaded", self.path)
        return True

    def close(self) -> None:
        """Stop watching the file (the last loaded version stays in force)."""
        _WATCHER.discard(self)


class _Watcher:
    """The one thread per process that checks every watched file when it is due.

    It holds the files weakly (a file nobody uses any more is not kept
    alive, and the thread ends once none is left) and strongly only while
    checking them. A fork (gunicorn ``--preload``) leaves the child without
    the thread: the at-fork hook starts a new one there.
    """

    def __init__(self) -> None:
        self._files: weakref.WeakSet[WatchedFile[Any]] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, watched: WatchedFile[Any]) -> None:
        with self._lock:
            self._files.add(watched)
            self._start()
        self._wake.set()

    def discard(self, watched: WatchedFile[Any]) -> None:
        with self._lock:
            self._files.discard(watched)

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="basicauth-watch", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                files = list(self._files)
                if not files:
                    self._thread = None
                    return
            now = time.monotonic()
            wait = CHECK_INTERVAL
            for watched in files:
                if watched.due <= now:
                    watched.due = now + watched.check_interval
                    try:
                        watched.refresh()
                    except Exception:  # a parser's bug must not end the watching
                        logger.exception("%s: checking the file failed", watched.path)
                wait = min(wait, watched.due - now)
            del files, watched  # hold none of them while waiting
            self._wake.wait(max(wait, 0.0))
            self._wake.clear()

    def forked(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None
        if len(self._files):
            self._start()


_WATCHER = _Watcher()
os.register_at_fork(after_in_child=_WATCHER.forked)
