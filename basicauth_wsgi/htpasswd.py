"""Apache htpasswd files: reading, live reloading and atomic writing.

The format is Apache's (mod_authn_file): one ``user:hash`` a line, lines
starting with ``#`` and blank lines ignored; the user ends at the first
colon, so the hash may contain colons (Werkzeug's do)::

    users = HtpasswdFile("/etc/apache2/.htpasswd")   # reloads when the file changes
    app = BasicAuth(app, users)
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import unicodedata
from collections.abc import Iterator, Mapping
from typing import Generic, NamedTuple, TypeVar

from ._durable import fsync_directory
from .grammar import decode_text, normalize
from .logs import logger
from .rules import memberships
from .verifiers import HashedUsers
from .watch import CHECK_INTERVAL, WatchedFile

__all__ = [
    "Entry",
    "HtgroupFile",
    "HtpasswdFile",
    "create_htpasswd",
    "entry_line",
    "parse_htgroup",
    "parse_htpasswd",
    "read_htpasswd",
    "update_htpasswd",
    "write_htpasswd",
]


class Entry(NamedTuple):
    """One ``user:hash`` line of an htpasswd file."""

    username: str
    hashed: str
    line: int


#: A UTF-8 byte-order mark, as Windows editors put at the start of a file.
BOM = b"\xef\xbb\xbf"


def strip_bom(data: bytes, source: str) -> bytes:
    """``data`` without a leading UTF-8 byte-order mark, logging one WARNING naming ``source``.

    Apache and nginx would read the mark as part of the first username
    (``'\\ufeffalice'``), so that user could never log in; we read past it
    and say so, and a file rewritten by ``passwd`` loses it.
    """
    if not data.startswith(BOM):
        return data
    logger.warning(
        "%s starts with a UTF-8 byte-order mark; read past it (Apache and nginx would not: "
        "`basicauth-wsgi passwd` rewrites the file without it)",
        source,
    )
    return data[len(BOM) :]


def parse_htpasswd(data: bytes, source: str) -> Iterator[Entry]:
    """Yield the entries of htpasswd ``data``; ``ValueError`` names ``source`` and line.

    Trailing whitespace (including a CRLF's CR) is not part of the hash, as
    in Apache. A line without a colon or with an empty username is an error,
    not a line to skip: a half-written file must not lock users out silently.
    A leading UTF-8 byte-order mark is read past, with one WARNING naming
    ``source`` (see :func:`strip_bom`).
    """
    data = strip_bom(data, source)
    for number, raw in enumerate(data.split(b"\n"), start=1):
        text = decode_text(raw).rstrip()
        if not text or text.lstrip().startswith("#"):
            continue
        username, colon, hashed = text.partition(":")
        if not colon or not username:
            raise ValueError(f"{source}, line {number}: expected 'user:hash', got {text[:40]!r}")
        yield Entry(username, hashed, number)


def read_htpasswd(path: str | os.PathLike[str]) -> dict[str, str]:
    """Return username -> hash from an htpasswd file (for tools; no checks)."""
    with open(path, "rb") as handle:
        data = handle.read()
    return {e.username: e.hashed for e in parse_htpasswd(data, os.fspath(path))}


def _atomic_write(path: str, data: bytes, *, create: bool = True) -> None:
    """Replace the file at ``path`` with ``data`` so a reader sees the old file or the new one.

    A symbolic link is followed (``os.path.realpath``): the file it points to
    is replaced and the link stays, as Apache's ``htpasswd`` does (Kubernetes
    Secret mounts, shared files). A temporary file in the target's folder is
    written, flushed to disk and renamed over the target; it gets the
    target's mode, owner and group first (so a ``root:www-data 0640`` file
    stays readable by the web server's workers). A new file is 0600 (it holds
    password hashes), and is made only if ``create``.

    ``OSError`` with a message naming ``path`` (never the temporary file);
    on any error the file is untouched and no temporary file is left.
    """
    target = os.path.realpath(path)
    folder = os.path.dirname(target)
    try:
        st: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OSError(f"cannot read {path}: {exc.strerror}") from None
    if st is None and not create:
        raise OSError(f"{path} does not exist")
    if not os.path.isdir(folder):
        raise OSError(f"cannot write {path}: folder {folder} does not exist")
    try:
        fd, temp = tempfile.mkstemp(prefix=".htpasswd-", dir=folder)
    except OSError as exc:
        raise OSError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            if st is not None and (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                try:
                    os.fchown(handle.fileno(), st.st_uid, st.st_gid)
                except PermissionError:
                    raise OSError(
                        f"cannot keep the owner and group of {path} "
                        f"({st.st_uid}:{st.st_gid}): run as its owner or as root; "
                        "nothing was changed"
                    ) from None
            # After fchown, which may clear set-id bits.
            os.fchmod(handle.fileno(), 0o600 if st is None else st.st_mode & 0o7777)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        if isinstance(exc, OSError) and exc.filename is not None:
            raise OSError(f"cannot write {path}: {exc.strerror}") from None
        raise
    # The rename itself is durable only once the folder is.
    fsync_directory(folder)


def create_htpasswd(path: str | os.PathLike[str], users: Mapping[str, str]) -> bool:
    """Create the file at ``path`` with ``users``, unless it exists; return whether it did.

    The complete file appears at once (written beside it, then hard-linked
    into place, which fails if the name exists: ``O_EXCL`` semantics
    without a moment where a reader could see it half-written), mode 0600.
    Of several processes racing to create it, exactly one returns ``True``.
    """
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    fd, temp = tempfile.mkstemp(prefix=".htpasswd-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(b"".join(_line(u, h) for u, h in users.items()))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temp, target)
        except FileExistsError:
            return False
    finally:
        os.unlink(temp)
    fsync_directory(folder)
    return True


def _line(username: str, hashed: str, newline: bytes = b"\n") -> bytes:
    if not username or ":" in username or any(c in username + hashed for c in "\r\n"):
        raise ValueError(f"cannot write user {username!r}: empty, or contains ':' or a newline")
    return f"{username}:{hashed}".encode() + newline


def entry_line(username: str, hashed: str) -> str:
    """The ``user:hash`` line (without its newline) a file would hold; ``ValueError`` if bad."""
    return _line(username, hashed, b"").decode()


def write_htpasswd(path: str | os.PathLike[str], users: Mapping[str, str]) -> None:
    """Write ``users`` (username -> hash) to ``path`` atomically, one ``user:hash`` a line.

    Through a symbolic link, keeping an existing file's mode, owner and group
    (see :func:`update_htpasswd`).
    """
    _atomic_write(os.fspath(path), b"".join(_line(u, h) for u, h in users.items()))


def _newline(data: bytes) -> bytes:
    """The file's line ending: that of its first line (CRLF from Windows editors), else LF."""
    end = data.find(b"\n")
    return b"\r\n" if end > 0 and data[end - 1 : end] == b"\r" else b"\n"


def update_htpasswd(
    path: str | os.PathLike[str], username: str, hashed: str | None, *, create: bool = True
) -> bool:
    """Set ``username``'s hash in the file at ``path``, or delete it (``hashed=None``).

    Every other line (comments, blank lines, other users) is kept byte for
    byte, and the file keeps its line endings (CRLF stays CRLF). A missing
    file is created (mode 0600) if ``create``, else it is an ``OSError``.
    The write is atomic, goes through a symbolic link to its target and
    keeps the file's mode, owner and group (see :func:`_atomic_write`). A
    leading byte-order mark is dropped, with a WARNING. Usernames compare
    after NFC normalisation. Returns whether the file had to grow or
    shrink: ``True`` if the user was added (or, deleting, was there),
    ``False`` if an existing user was updated (or, deleting, was not there,
    in which case nothing is written). ``OSError`` messages name ``path``.
    """
    target = os.fspath(path)
    try:
        with open(target, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        if not create or hashed is None:
            raise OSError(f"{target} does not exist") from None
        data = b""
    except OSError as exc:
        raise OSError(f"cannot read {target}: {exc.strerror}") from None
    data = strip_bom(data, target)
    newline = _newline(data)
    wanted = unicodedata.normalize("NFC", username)
    lines = data.splitlines(keepends=True)
    kept: list[bytes] = []
    found = False
    for raw in lines:
        text = decode_text(raw).rstrip()
        name, colon, _ = text.partition(":")
        is_entry = colon and not text.lstrip().startswith("#")
        if is_entry and unicodedata.normalize("NFC", name) == wanted:
            if hashed is not None and not found:
                kept.append(_line(wanted, hashed, newline))
            found = True
            continue
        kept.append(raw if raw.endswith(b"\n") else raw.rstrip(b"\r") + newline)
    if hashed is None and not found:
        return False
    if hashed is not None and not found:
        kept.append(_line(wanted, hashed, newline))
    _atomic_write(target, b"".join(kept), create=create)
    return found if hashed is None else not found


def _load_users(data: bytes, source: str, previous: HashedUsers | None = None) -> HashedUsers:
    users = HashedUsers.from_entries(
        ((e.username, e.hashed, f"{source}, line {e.line}") for e in parse_htpasswd(data, source)),
        source=source,
        allow_empty=True,
        previous=previous,
    )
    if not len(users):
        logger.warning("%s has no users: every request will be refused", source)
    return users


T = TypeVar("T")


class _FileBacked(Generic[T]):
    """A value parsed from a file and reloaded when it changes (users, or groups).

    The file is read at construction: a missing, unreadable or invalid one
    is a ``ValueError`` naming it. With ``reload=True`` it is checked every
    ``check_interval`` seconds by the watcher thread, never by a request
    (see :class:`~basicauth_wsgi.watch.WatchedFile`).
    """

    _what: str
    _file: WatchedFile[T]

    def _parse(self, data: bytes, source: str) -> T:
        raise NotImplementedError

    def __init__(
        self,
        path: str | os.PathLike[str],
        reload: bool = True,
        *,
        check_interval: float = CHECK_INTERVAL,
    ) -> None:
        self._file = WatchedFile(
            path, self._parse, what=self._what, reload=reload, check_interval=check_interval
        )
        self.path = self._file.path

    @property
    def load_status(self) -> tuple[float, int, int]:
        """When the version in force was loaded (Unix time); reloads that succeeded, that failed."""
        watched = self._file
        return watched.loaded_at, watched.reloads, watched.reload_failures

    def refresh(self) -> bool:
        """Check the file now, and load it if it changed; whether a new version is in force.

        The watcher thread does this every ``check_interval`` seconds; call
        it to make a change take effect at once (a test, a SIGHUP handler).
        """
        return self._file.refresh()

    def close(self) -> None:
        """Stop watching the file; the version loaded last stays in force."""
        self._file.close()


class HtpasswdFile(_FileBacked[HashedUsers]):
    """A verifier backed by an htpasswd file, reloaded when it changes.

    The file is loaded and every hash checked at construction: a missing
    file, a malformed line or an unsupported hash is a ``ValueError`` naming
    the file, the line and the user. A file with no users is accepted with a
    WARNING and refuses everyone.

    With ``reload=True`` the file is checked every ``check_interval``
    seconds by a watcher thread; a change (mtime, size, inode) is loaded
    completely, then swapped in atomically, so every request that starts
    after the swap (on any connection) is decided on the new users, and no
    request ever waits for, or runs, a reload. A new version that does not
    load is logged and the last good one kept: a bad edit never locks
    everyone out, and never lets anyone in. A reload reuses the previous
    version's dummy hashes for the kinds of hash it still holds, so it
    hashes nothing unless a new kind appears.
    """

    cache_by_default = True

    _what = "htpasswd file"

    def _parse(self, data: bytes, source: str) -> HashedUsers:
        previous = getattr(self, "_file", None)
        return _load_users(data, source, None if previous is None else previous.value)

    @property
    def generation(self) -> int:
        """A number that moves whenever the users change (a reload).

        Verification caches compare it to know when to forget what they hold.
        """
        return self._file.generation

    def verify(self, username: str, password: str) -> str | None:
        """Return ``username`` if ``password`` matches its hash in the file, else ``None``."""
        return self._file.value.verify(username, password)

    def has_user(self, username: str) -> bool:
        """Return whether ``username`` is in the file (for the failure log only)."""
        return self._file.value.has_user(username)

    def check_kind(self, username: str) -> str:
        """The scheme of ``username``'s hash (the slowest in the file for an unknown user)."""
        return self._file.value.check_kind(username)

    @property
    def releases_gil(self) -> bool:
        """Whether every hash in the file, as loaded now, is checked without the GIL."""
        return self._file.value.releases_gil

    def __len__(self) -> int:
        return len(self._file.value)

    def __repr__(self) -> str:
        return f"<HtpasswdFile {self.path!r}: {len(self)} users>"


def parse_htgroup(data: bytes, source: str) -> dict[str, frozenset[str]]:
    """Return group -> usernames from Apache group-file ``data`` (mod_authz_groupfile).

    One ``group: user1 user2`` a line; ``#`` comments and blank lines
    skipped. A group listed twice gets the members of both lines, as Apache
    does. A line without a colon is a ``ValueError`` naming ``source`` and
    the line.
    """
    groups: dict[str, set[str]] = {}
    data = data.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark from an editor
    for number, raw in enumerate(data.split(b"\n"), start=1):
        text = decode_text(raw).strip()
        if not text or text.startswith("#"):
            continue
        group, colon, members = text.partition(":")
        group = group.strip()
        if not colon or not group:
            raise ValueError(
                f"{source}, line {number}: expected 'group: user ...', got {text[:40]!r}"
            )
        groups.setdefault(group, set()).update(normalize(user) for user in members.split())
    return {group: frozenset(users) for group, users in groups.items()}


class _GroupTable(NamedTuple):
    """One version of a group file: group -> usernames, and username -> groups."""

    members: dict[str, frozenset[str]]
    of: dict[str, frozenset[str]]


class HtgroupFile(_FileBacked[_GroupTable]):
    """Groups from an Apache group file, reloaded when it changes.

    Loaded at construction (a missing or malformed file is a ``ValueError``
    naming it); with ``reload=True`` checked every ``check_interval``
    seconds by the watcher thread and swapped in atomically; a version that does
    not load is logged once and the last good one kept, as
    :class:`~basicauth_wsgi.HtpasswdFile` does. Both directions are kept
    per version, so :meth:`members` and :meth:`groups_of` are one lookup.
    """

    _what = "group file"

    def _parse(self, data: bytes, source: str) -> _GroupTable:
        groups = parse_htgroup(data, source)
        return _GroupTable(groups, memberships(groups))

    def members(self, group: str) -> frozenset[str]:
        """Return the usernames in ``group`` now (empty if there is none)."""
        return self._file.value.members.get(group, frozenset())

    def groups_of(self, username: str) -> frozenset[str]:
        """Return the groups ``username`` is in now (empty if none)."""
        return self._file.value.of.get(username, frozenset())

    def __contains__(self, group: object) -> bool:
        return group in self._file.value.members

    def __repr__(self) -> str:
        return f"<HtgroupFile {self.path!r}: {len(self._file.value.members)} groups>"
