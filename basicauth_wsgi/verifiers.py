"""Verifiers: who may log in, and with which password.

A verifier is any object with ``verify(username, password)`` returning the
principal (a truthy value) on success and ``None`` (or another falsy value)
otherwise. :func:`as_verifier` turns what ``BasicAuth`` accepts as ``users``
into one::

    verifier = as_verifier({"admin": "SuperSecretPwd"})
    verifier.verify("admin", "SuperSecretPwd")   # -> "admin"
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple, Protocol, runtime_checkable

from .grammar import is_username, normalize
from .logs import logger

__all__ = [
    "BackendUnavailable",
    "CallableVerifier",
    "Capabilities",
    "HashedUsers",
    "PlainUsers",
    "Verifier",
    "as_verifier",
    "capabilities",
]


class BackendUnavailable(Exception):
    """The verifier's backend cannot answer now: an LDAP server down or slow, a database away.

    Raised by ``verify`` (SPEC §4). The request gets a negotiated 503 with
    ``Retry-After`` (``retry_after`` seconds); it is not a failure (the
    throttle counts nothing), nothing is cached, and it is never a pass. The
    middleware logs it at most once a minute, with this message, so the
    message must not carry a password.
    """

    def __init__(self, message: str = "the user store is unavailable", retry_after: int = 1):
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


@runtime_checkable
class Verifier(Protocol):
    """What ``BasicAuth`` needs from a user store: one method.

    ``verify`` returns the principal for a correct password and ``None`` (or
    any falsy value) otherwise; ``True`` means "the username is the
    principal". It may raise: the middleware answers 500 and logs it, and
    the request is never authenticated. It is called from many threads.

    A store may also declare optional capabilities, as attributes; the
    middleware reads them once, when it is built (:func:`capabilities`),
    never per request:

    ``has_user(username) -> bool`` (default: absent)
        Whether a username exists. Called only after a failure, to tell
        ``unknown_user`` from ``wrong_password`` in the log; responses never
        depend on it.
    ``generation`` (default: absent, the users never change)
        A value that moves whenever the users change (a reloaded file).
        Cached verification results are forgotten when it moves.
    ``cache_by_default: bool`` (default ``False``)
        Checking is slow (a hash): cache results unless told otherwise.
    ``secrets_in_memory: bool`` (default ``False``)
        The store holds its passwords in clear in memory anyway, so verified
        ``Authorization`` values may be remembered by value (a dict lookup)
        instead of by a keyed hash.
    ``provides_groups: bool`` (default ``False``)
        The principals it returns carry ``groups`` (an iterable of group
        names), which ``rules`` use when ``BasicAuth`` is given no
        ``groups`` (a directory's memberships, cached with the login).
    ``check_kind(username) -> str`` (default: absent)
        The kind of check a password of ``username`` costs (a hash scheme
        such as ``"bcrypt"``, or ``"ldap"``): for metrics, and for where the
        check runs (see ``releases_gil``).
    ``username_key(username) -> str`` (default: absent, names compare exactly)
        The name under which the throttle counts ``username``: a store whose
        names compare loosely (a directory matches ``ALICE`` and `` alice``
        to ``alice``) gives their common form, so spelling a name another
        way never buys a guesser another ``per_user`` allowance.
    ``releases_gil: bool`` (default ``False``)
        Its checks spend their time outside the interpreter lock (a C hash
        such as bcrypt): they may run in low-priority threads. A check in
        pure Python must not, since a low-priority thread holding the lock
        stalls every other thread.
    """

    def verify(self, username: str, password: str) -> object: ...


class Capabilities(NamedTuple):
    """A verifier's optional capabilities, read once (see :class:`Verifier`).

    ``releases_gil`` is read as a function because a reloaded file may
    change it (its hashes change).
    """

    has_user: Callable[[str], bool] | None
    generation: Callable[[], object] | None
    cache_by_default: bool
    secrets_in_memory: bool
    provides_groups: bool
    check_kind: Callable[[str], str]
    releases_gil: Callable[[], bool]
    username_key: Callable[[str], str] | None = None


def capabilities(verifier: Verifier) -> Capabilities:
    """Read ``verifier``'s optional capabilities, with their documented defaults.

    The one place that probes a verifier; ``TypeError`` for a capability of
    the wrong type.
    """
    has_user = getattr(verifier, "has_user", None)
    if has_user is not None and not callable(has_user):
        raise TypeError(f"{verifier!r}.has_user must be a method")
    generation: Callable[[], object] | None = None
    if hasattr(type(verifier), "generation") or hasattr(verifier, "generation"):

        def generation() -> object:
            return verifier.generation  # type: ignore[attr-defined]

    flags = {}
    for name in ("cache_by_default", "secrets_in_memory", "provides_groups", "releases_gil"):
        value = getattr(verifier, name, False)
        if not isinstance(value, bool):
            raise TypeError(f"{verifier!r}.{name} must be True or False, got {value!r}")
        flags[name] = value
    check_kind = getattr(verifier, "check_kind", None)
    if check_kind is None:
        fixed = "callable" if isinstance(verifier, CallableVerifier) else "custom"

        def check_kind(username: str) -> str:
            return fixed

    elif not callable(check_kind):
        raise TypeError(f"{verifier!r}.check_kind must be a method")

    def releases_gil() -> bool:
        return getattr(verifier, "releases_gil", False) is True

    username_key = getattr(verifier, "username_key", None)
    if username_key is not None and not callable(username_key):
        raise TypeError(f"{verifier!r}.username_key must be a method")

    return Capabilities(
        has_user,
        generation,
        flags["cache_by_default"],
        flags["secrets_in_memory"],
        flags["provides_groups"],
        check_kind,
        releases_gil,
        username_key,
    )


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

    #: Its passwords are in memory in clear anyway: a by-value memo is allowed.
    secrets_in_memory = True

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
            if not is_username(username):
                raise ValueError(
                    f"users: {username!r} is not a valid username "
                    "(empty, or has ':' or a control character)"
                )
            key = normalize(username)
            if key in users:
                raise ValueError(f"users: {username!r} is listed twice (after NFC normalisation)")
            users[key] = normalize(password).encode("utf-8")
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

    def check_kind(self, username: str) -> str:
        """Every check is a comparison of plaintext."""
        return "plain"

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

    No timing tells which usernames exist, whatever mix of schemes and costs
    the store holds (SPEC §4): every failure costs one check of each kind of
    hash in the store (scheme and cost; kinds under 1% of the slowest's cost
    are too cheap to tell apart and are left out). An unknown user is
    checked against a dummy hash of every kind; a known user against their
    own hash, then a dummy of every other kind. A store of one kind pays
    exactly one check per failure, as before. A success is not padded.

    A password that is not ASCII but is latin-1 text is also tried as its
    latin-1 bytes (a latin-1 client, hashed by Apache's ``htpasswd`` from
    its raw bytes): at most two rounds, whoever the user is.
    """

    __slots__ = ("_kind", "_pad_kinds", "_pads", "_users", "releases_gil", "source")

    #: Checking a hash is slow: BasicAuth caches results by default.
    cache_by_default = True

    def __init__(self, mapping: Mapping[str, str], *, source: str = "users") -> None:
        if not isinstance(mapping, Mapping):
            raise TypeError(f"users must be a mapping of username to hash, got {mapping!r}")
        self.source = source
        self._load(((user, hashed, source) for user, hashed in mapping.items()), source)
        if not self._users:
            raise ValueError(f"{source} is empty: nobody could log in (refusing to start)")

    @classmethod
    def from_entries(
        cls,
        entries: Iterable[tuple[str, str, str]],
        *,
        source: str,
        allow_empty: bool = False,
        previous: HashedUsers | None = None,
    ) -> HashedUsers:
        """Build a store from ``(username, hash, where)`` triples (a parsed file).

        ``where`` (e.g. ``"users.htpasswd, line 7"``) prefixes every error.
        An empty store is allowed only with ``allow_empty``: it refuses
        everyone, and it is logged. ``previous`` (the version this one
        replaces) lends its dummy hashes for the kinds both hold, so a
        reload hashes nothing unless a new kind of hash appears.
        """
        self = cls.__new__(cls)
        self.source = source
        self._load(entries, source, None if previous is None else previous._pad_kinds)
        if not self._users and not allow_empty:
            raise ValueError(f"{source} has no users: nobody could log in (refusing to start)")
        return self

    def _load(
        self,
        entries: Iterable[tuple[str, str, str]],
        source: str,
        reuse: Mapping[tuple[str, int], str] | None = None,
    ) -> None:
        self._users, self._pads, self._kind, schemes, self._pad_kinds = _load_hashes(
            entries, source, reuse or {}
        )
        from .hashes.registry import BY_NAME

        #: Every hash it holds is checked outside the interpreter lock.
        self.releases_gil = all(BY_NAME[scheme].releases_gil for scheme in schemes)

    def check_kind(self, username: str) -> str:
        """The scheme of ``username``'s hash; for an unknown user, of the slowest in the store."""
        from .hashes import identify

        return identify(self._users.get(username) or self._pads[0]).scheme

    def verify(self, username: str, password: str) -> str | None:
        """Return ``username`` if ``password`` matches its hash, else ``None``."""
        from .hashes import verify_bytes

        secrets_ = [password.encode("utf-8", "surrogatepass")]
        if not password.isascii():
            with contextlib.suppress(UnicodeEncodeError):
                secrets_.append(password.encode("latin-1"))
        hashed = self._users.get(username)
        if hashed is not None:
            for secret in secrets_:
                if verify_bytes(secret, hashed):
                    return username
        # Pad the failure to one check of every kind in the store: the same
        # work for an unknown user as for a known one of any scheme.
        own = -1  # an unknown user: every kind is padded
        if hashed is not None:
            own = 0 if self._kind is None else self._kind.get(username, -1)
        for secret in secrets_:
            for kind, dummy in enumerate(self._pads):
                if kind != own:
                    verify_bytes(secret, dummy)
        return None

    def has_user(self, username: str) -> bool:
        """Return whether ``username`` exists (for the failure log only)."""
        return username in self._users

    def __len__(self) -> int:
        return len(self._users)

    def __repr__(self) -> str:
        return f"<HashedUsers {self.source}: {len(self._users)} users>"


#: Kinds of hash cheaper than this share of the slowest are not padded for.
_NEGLIGIBLE = 0.01
#: A store with more kinds than this is padded for its slowest ones only.
_MAX_PADS = 8


class _Loaded(NamedTuple):
    users: dict[str, str]  # username (NFC) -> hash
    pads: tuple[str, ...]  # one dummy hash per kind padded for, slowest first
    kind: dict[str, int] | None  # user -> index among the pads (None: one kind)
    schemes: frozenset[str]  # every scheme a check may run
    pad_kinds: dict[tuple[str, int], str]  # (scheme, cost) -> its pad, for the next version


def _load_hashes(
    entries: Iterable[tuple[str, str, str]],
    source: str,
    reuse: Mapping[tuple[str, int], str],
) -> _Loaded:
    """Check every hash and make the pads (dummy hashes of random passwords, see :class:`_Loaded`).

    A pad of a kind found in ``reuse`` is taken from there instead of
    hashed anew. Weak hashes are logged once per weakness.
    """
    from .hashes import dummy_hash, hash_password, identify

    users: dict[str, str] = {}
    kind_of: dict[str, tuple[str, int]] = {}
    weak: dict[str, list[str]] = {}
    work: dict[tuple[str, int], float] = {}
    sample: dict[tuple[str, int], str] = {}
    for username, hashed, where in entries:
        if not isinstance(username, str) or not isinstance(hashed, str):
            raise TypeError(f"{where}: usernames and hashes must be str")
        if not is_username(username):
            raise ValueError(
                f"{where}: {username!r} is not a valid username "
                "(empty, or has ':' or a control character)"
            )
        key = normalize(username)
        if key in users:
            raise ValueError(f"{where}: user {username!r} is listed twice")
        try:
            info = identify(hashed)
        except ValueError as exc:
            # The message never repeats the hash: it may be a plaintext password.
            raise ValueError(f"{where}: user {username!r}: {exc}") from None
        if info.weakness:
            weak.setdefault(info.weakness, []).append(key)
        kind = (info.scheme, info.cost)
        work[kind] = info.work
        sample.setdefault(kind, hashed)
        kind_of[key] = kind
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
    if not work:
        pad = next(iter(reuse.values()), None) or hash_password(secrets.token_urlsafe(16))
        info = identify(pad)
        return _Loaded(
            users, (pad,), None, frozenset({info.scheme}), {(info.scheme, info.cost): pad}
        )
    slowest = max(work.values())
    kinds = sorted(
        (k for k, w in work.items() if w >= slowest * _NEGLIGIBLE), key=lambda k: -work[k]
    )
    if len(kinds) > _MAX_PADS:
        logger.warning(
            "%s mixes %d kinds of password hash; failures are padded to the %d slowest "
            "only (rehash the users with basicauth-wsgi passwd)",
            source,
            len(kinds),
            _MAX_PADS,
        )
        kinds = kinds[:_MAX_PADS]
    pad_kinds = {k: reuse.get(k) or dummy_hash(sample[k]) for k in kinds}
    pads = tuple(pad_kinds[k] for k in kinds)
    schemes = frozenset(scheme for scheme, _ in work)
    if len(work) == 1:
        return _Loaded(users, pads, None, schemes, pad_kinds)
    index = {k: i for i, k in enumerate(kinds)}
    return _Loaded(
        users, pads, {u: index[k] for u, k in kind_of.items() if k in index}, schemes, pad_kinds
    )


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
