"""A configuration file that is re-read when it changes, keeping the last good version.

Shared by :class:`~basicauth_wsgi.HtpasswdFile` and
:class:`~basicauth_wsgi.HtgroupFile`::

    watched = WatchedFile("users.htpasswd", parse=load_users)
    users = watched.current()     # re-read first if the file changed
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["CHECK_INTERVAL", "WatchedFile", "stat_signature"]

logger = logging.getLogger("basicauth_wsgi")

T = TypeVar("T")

#: How often (seconds) a watched file is checked for changes; a change is
#: picked up within this plus the time to read it, well under 2 s.
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
    """The parsed contents of a file, re-read when the file changes.

    ``parse(data, path)`` turns the file's bytes into the value, raising
    ``ValueError`` for a version that must not be used. The first load
    happens here: a missing, unreadable or invalid file is a ``ValueError``
    naming it. With ``reload``, :meth:`current` checks the file at most once
    per ``check_interval`` seconds; one caller re-reads it while the others
    go on with the old value, then the new value is swapped in with one
    reference assignment. A version that does not load is logged once and the
    last good one kept.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        parse: Callable[[bytes, str], T],
        *,
        what: str,
        reload: bool = True,
        check_interval: float = CHECK_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
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
        self.clock = clock
        self._reloading = threading.Lock()
        try:
            self._signature, self._value = self._load()
        except OSError as exc:
            raise ValueError(f"{what} {self.path!r} cannot be read: {exc}") from None
        self._failed: Signature | None = None
        self._last_error: str | None = None
        #: Bumped on every successful reload.
        self.generation = 0
        self._next_check = clock() + self.check_interval

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

    def current(self) -> T:
        """Return the value now in force, re-reading the file first if it changed."""
        if self.reload and self.clock() >= self._next_check:
            self._check()
        return self._value

    @property
    def value(self) -> T:
        """The value now in force, without checking the file."""
        return self._value

    def _check(self) -> None:
        # One caller re-reads; the others must not wait for it.
        if not self._reloading.acquire(blocking=False):
            return
        signature: Signature | None = None
        try:
            self._next_check = self.clock() + self.check_interval
            try:
                signature = stat_signature(self.path)
                if signature in (self._signature, self._failed):
                    return
                signature, value = self._load()
            except _ChangedWhileRead:
                return  # an editor is writing it; the next check sees the result
            except (OSError, ValueError) as exc:
                # Logged once per broken version (or per missing spell), not
                # once per check.
                if isinstance(exc, ValueError):
                    self._failed = signature
                message = f"{self.path}: not reloaded, keeping the last good version: {exc}"
                if message != self._last_error:
                    logger.error("%s", message)
                    self._last_error = message
                return
            self._signature, self._failed, self._last_error = signature, None, None
            self._value = value  # one reference assignment: atomic for readers
            self.generation += 1
            logger.info("%s reloaded", self.path)
        finally:
            self._reloading.release()
