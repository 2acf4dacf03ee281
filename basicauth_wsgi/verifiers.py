"""Verifiers: who may log in, and with which password.

A verifier is any object with ``verify(username, password)`` returning the
principal (a truthy value) on success and ``None`` (or another falsy value)
otherwise. :func:`as_verifier` turns what ``BasicAuth`` accepts as ``users``
into one::

    verifier = as_verifier({"admin": "SuperSecretPwd"})
    verifier.verify("admin", "SuperSecretPwd")   # -> "admin"
"""

from __future__ import annotations

import hmac
import logging
import secrets
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol, runtime_checkable

__all__ = ["CallableVerifier", "HashedUsers", "PlainUsers", "Verifier", "as_verifier"]

logger = logging.getLogger("basicauth_wsgi")


@runtime_checkable
class Verifier(Protocol):
    """What ``BasicAuth`` needs from a user store.

    ``verify`` returns the principal for a correct password and ``None`` (or
    any falsy value) otherwise; ``True`` means "the username is the
    principal". It may raise: the middleware answers 500 and logs it, and
    the request is never authenticated. It is called from many threads.

    A store may also offer ``has_user(username) -> bool``; the middleware
    only calls it after a failure, to tell "unknown user" from "wrong
    password" in its log. Responses never depend on it.
    """

    def verify(self, username: str, password: str) -> object: ...


class PlainUsers:
    """Users with plaintext passwords, from a mapping username -> password.

    Meant for tests, scripts and the tutorial's ``USER_DATA`` dict; prefer
    hashed passwords for anything stored on disk. Usernames and passwords
    are normalised to NFC, as incoming credentials are (RFC 7617 §2.1).

    Every check costs the same whether the user exists or not, and whether
    the password is right or not: a comparison with
    :func:`hmac.compare_digest`, whose running time depends only on the
    length of the password the client sent (the second argument), never on
    the stored secret.
    """

    __slots__ = ("_dummy", "_users")

    def __init__(self, mapping: Mapping[str, str]) -> None:
        if not isinstance(mapping, Mapping):
            raise TypeError(f"users must be a mapping of username to password, got {mapping!r}")
        users: dict[str, bytes] = {}
        for username, password in mapping.items():
            if not isinstance(username, str) or not isinstance(password, str):
                raise TypeError(
                    f"users: usernames and passwords must be str, got {username!r} -> "
                    f"{type(password).__name__}"
                )
            if not username or ":" in username:
                raise ValueError(f"users: {username!r} is not a valid username (empty or has ':')")
            key = unicodedata.normalize("NFC", username)
            if key in users:
                raise ValueError(f"users: {username!r} is listed twice (after NFC normalisation)")
            users[key] = unicodedata.normalize("NFC", password).encode("utf-8")
        if not users:
            raise ValueError("users is empty: nobody could log in (refusing to start)")
        self._users = users
        # Compared against for unknown users so they cost a real comparison.
        self._dummy = secrets.token_bytes(32)

    def verify(self, username: str, password: str) -> str | None:
        """Return ``username`` if ``password`` is its password, else ``None``."""
        expected = self._users.get(username, self._dummy)
        if hmac.compare_digest(expected, password.encode("utf-8")) and expected is not self._dummy:
            return username
        return None

    def has_user(self, username: str) -> bool:
        """Return whether ``username`` exists (for the failure log only)."""
        return username in self._users

    def __len__(self) -> int:
        return len(self._users)

    def __repr__(self) -> str:
        return f"<PlainUsers: {len(self._users)} users>"


class HashedUsers:
    """Users with hashed passwords, from a mapping username -> hash.

    Every format of :mod:`basicauth_wsgi.hashes` is accepted (bcrypt,
    ``$apr1$``, ``$5$``/``$6$``, ``{SSHA}``, Werkzeug's, argon2id, ...). All
    hashes are checked when the store is built: an unsupported or malformed
    one is a ``ValueError`` naming the user (and ``where`` it came from),
    never a silent lock-out. Weak hashes are reported once, at WARNING, here
    and not on every request.

    For an unknown username, a dummy hash of the store's dominant scheme and
    cost is checked instead, so the response time does not tell which
    usernames exist.
    """

    __slots__ = ("_dummy", "_users", "source")

    #: Checking a hash is slow: BasicAuth caches results by default.
    cache_by_default = True

    def __init__(self, mapping: Mapping[str, str], *, source: str = "users") -> None:
        if not isinstance(mapping, Mapping):
            raise TypeError(f"users must be a mapping of username to hash, got {mapping!r}")
        self.source = source
        self._users, self._dummy = _load_hashes(
            ((user, hashed, source) for user, hashed in mapping.items()),
            source,
        )
        if not self._users:
            raise ValueError(f"{source} is empty: nobody could log in (refusing to start)")

    @classmethod
    def from_entries(
        cls, entries: Iterable[tuple[str, str, str]], *, source: str, allow_empty: bool = False
    ) -> HashedUsers:
        """Build a store from ``(username, hash, where)`` triples (a parsed file).

        ``where`` (e.g. ``"users.htpasswd, line 7"``) prefixes every error.
        An empty store is allowed only with ``allow_empty``: it refuses
        everyone, and it is logged.
        """
        self = cls.__new__(cls)
        self.source = source
        self._users, self._dummy = _load_hashes(entries, source)
        if not self._users and not allow_empty:
            raise ValueError(f"{source} has no users: nobody could log in (refusing to start)")
        return self

    def verify(self, username: str, password: str) -> str | None:
        """Return ``username`` if ``password`` matches its hash, else ``None``."""
        from .hashes import verify_password

        hashed = self._users.get(username)
        if hashed is None:
            # The same work as a real check, against a hash nobody knows the
            # password of.
            verify_password(password, self._dummy)
            return None
        return username if verify_password(password, hashed) else None

    def has_user(self, username: str) -> bool:
        """Return whether ``username`` exists (for the failure log only)."""
        return username in self._users

    def __len__(self) -> int:
        return len(self._users)

    def __repr__(self) -> str:
        return f"<HashedUsers {self.source}: {len(self._users)} users>"


def _load_hashes(
    entries: Iterable[tuple[str, str, str]], source: str
) -> tuple[dict[str, str], str]:
    """Check every hash; return username (NFC) -> hash, and the dummy hash.

    The dummy is a hash of a random password in the store's most common
    scheme and cost. Weak hashes are logged once per kind of weakness.
    """
    from .hashes import dummy_hash, hash_password, identify

    users: dict[str, str] = {}
    weak: dict[str, list[str]] = {}
    kinds: Counter[tuple[str, int]] = Counter()
    sample: dict[tuple[str, int], str] = {}
    for username, hashed, where in entries:
        if not isinstance(username, str) or not isinstance(hashed, str):
            raise TypeError(f"{where}: usernames and hashes must be str")
        if not username or ":" in username:
            raise ValueError(f"{where}: {username!r} is not a valid username (empty or has ':')")
        key = unicodedata.normalize("NFC", username)
        if key in users:
            raise ValueError(f"{where}: user {username!r} is listed twice")
        try:
            info = identify(hashed)
        except ValueError as exc:
            # The message never repeats the hash: it may be a plaintext password.
            raise ValueError(f"{where}: user {username!r}: {exc}") from None
        if info.weakness:
            weak.setdefault(info.weakness, []).append(key)
        kinds[info.scheme, info.cost] += 1
        sample.setdefault((info.scheme, info.cost), hashed)
        users[key] = hashed
    for weakness, names in weak.items():
        shown = ", ".join(repr(n) for n in names[:5]) + (", ..." if len(names) > 5 else "")
        logger.warning(
            "%s: %d user(s) with a weak hash (%s): %s; rehash them (basicauth-wsgi passwd)",
            source,
            len(names),
            weakness,
            shown,
        )
    if kinds:
        dummy = dummy_hash(sample[kinds.most_common(1)[0][0]])
    else:
        dummy = hash_password(secrets.token_urlsafe(16))
    return users, dummy


class CallableVerifier:
    """Adapts a function ``f(username, password)`` to the verifier interface.

    A result of ``True`` authenticates as the username; any other truthy
    result authenticates and is the principal; a falsy one refuses.
    """

    __slots__ = ("func",)

    def __init__(self, func: Callable[[str, str], object]) -> None:
        self.func = func

    def verify(self, username: str, password: str) -> object:
        """Call the function."""
        return self.func(username, password)

    def __repr__(self) -> str:
        return f"<CallableVerifier {self.func!r}>"


def as_verifier(users: object) -> Verifier:
    """Return a verifier for ``users``: a verifier, a mapping or a callable.

    ``TypeError`` for anything else, ``ValueError`` for an empty mapping
    (failing closed: an empty user list must not mean "no auth").
    """
    if isinstance(users, Verifier):
        return users
    if isinstance(users, Mapping):
        return PlainUsers(users)
    if callable(users):
        return CallableVerifier(users)
    raise TypeError(
        "users must be a mapping of username to password, a verifier with a "
        f"verify(username, password) method, or a callable; got {users!r}"
    )
