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
import secrets
import unicodedata
from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

__all__ = ["CallableVerifier", "PlainUsers", "Verifier", "as_verifier"]


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
