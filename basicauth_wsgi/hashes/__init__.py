"""Password hashes: make, check and classify the formats htpasswd files hold.

Apache's ``htpasswd``, ``openssl passwd``, nginx tooling and Werkzeug write
a dozen different formats into the files operators already have. This module
verifies all of them with the standard library (bcrypt and argon2id through
their optional extras), creates new ones, and tells a weak hash from a
strong one without doing any hashing::

    >>> stored = hash_password("s3cret", "sha512-crypt")
    >>> verify_password("s3cret", stored), verify_password("guess", stored)
    (True, False)

Contract shared by every function here:

- Passwords are ``str`` and are hashed as their UTF-8 bytes; the caller has
  already NFC-normalised them (RFC 7617 §2.1); nothing here normalises again.
- A hash that is malformed, of an unknown or unsupported format, or that
  needs a missing optional package raises ``ValueError`` (``MissingExtra``
  for the last). ``verify_password`` returns ``False`` only for a wrong
  password: a broken hash is never a silent lock-out.
- Error messages describe what the value looks like and what to do, but
  never quote the value itself: it may be a password stored in clear.

The package, by file:

- ``registry.py``: the one table, ``FORMATS``, with a ``Format`` record per
  format (tags, scheme name, syntax, hasher, checker, dummy maker, optional
  extra, weakness rule, work estimate), and the dispatch derived from it.
- ``crypt.py`` (SHA-crypt, MD5-crypt/apr1), ``bcrypt.py``, ``argon2.py``,
  ``werkzeug.py`` (pbkdf2, scrypt), ``ldap.py`` ({SHA}, {SSHA}, {PLAIN}):
  the implementations, by family. ``unknown.py``: the errors for values no
  format claims.

To add a format: write its pattern, cost (which validates), weakness,
check, dummy and hasher in a family module, then add one ``Format`` to
``registry.FORMATS`` with its tags and a ``work`` calibrated like the
others. ``SCHEMES``, ``identify``, ``passwd --scheme`` and the
missing-extra errors follow from that record.
"""

from __future__ import annotations

from . import bcrypt as _bcrypt
from . import crypt as _crypt
from .argon2 import ARGON2_MIN_MEMORY_KIB as ARGON2_MIN_MEMORY_KIB
from .argon2 import ARGON2_MIN_MEMORY_PASSES as ARGON2_MIN_MEMORY_PASSES
from .bcrypt import BCRYPT_COST as BCRYPT_COST
from .bcrypt import BCRYPT_MIN_COST as BCRYPT_MIN_COST
from .crypt import SHA_CRYPT_MAX_ROUNDS as SHA_CRYPT_MAX_ROUNDS
from .crypt import SHA_CRYPT_MIN_ROUNDS as SHA_CRYPT_MIN_ROUNDS
from .crypt import SHA_CRYPT_ROUNDS as SHA_CRYPT_ROUNDS
from .registry import BY_SCHEME, SCHEMES, HashInfo, MissingExtra, parse, require
from .werkzeug import PBKDF2_DIGEST as PBKDF2_DIGEST
from .werkzeug import PBKDF2_ITERATIONS as PBKDF2_ITERATIONS
from .werkzeug import PBKDF2_MIN_ITERATIONS as PBKDF2_MIN_ITERATIONS
from .werkzeug import SCRYPT_MIN_MEMORY as SCRYPT_MIN_MEMORY
from .werkzeug import SCRYPT_N as SCRYPT_N
from .werkzeug import SCRYPT_P as SCRYPT_P
from .werkzeug import SCRYPT_R as SCRYPT_R

__all__ = [
    "SCHEMES",
    "HashInfo",
    "MissingExtra",
    "dummy_hash",
    "hash_password",
    "identify",
    "verify_bytes",
    "verify_password",
]

# hash_password's default: the first of these whose extra is installed.
_DEFAULT_SCHEMES = ("bcrypt", "sha512-crypt")


def _default_scheme() -> str:
    for scheme in _DEFAULT_SCHEMES:
        try:
            require(BY_SCHEME[scheme])
        except MissingExtra:
            continue
        return scheme
    return _DEFAULT_SCHEMES[-1]


# ---------------------------------------------------------------------------
# Public API.
# ---------------------------------------------------------------------------


def hash_password(
    password: str,
    scheme: str | None = None,
    *,
    cost: int | None = None,
    rounds: int | None = None,
) -> str:
    """Return a new salted hash of ``password`` in ``scheme``.

    ``scheme`` is a name from ``SCHEMES``; ``None`` means bcrypt when the
    bcrypt package is importable, else sha512-crypt. Work factors:
    bcrypt cost 12 (written as Apache's ``$2y$``; only the first 72 bytes
    count), SHA-crypt 5000 rounds (no ``rounds=`` field, the spec's
    default), pbkdf2:sha256:600000, scrypt n=32768 r=8 p=1, argon2id with
    argon2-cffi's defaults. Salts come from ``secrets``.

    Raises ``ValueError`` for an unknown scheme or a password that is not
    encodable as UTF-8 (lone surrogates), ``MissingExtra`` when the scheme's
    package is not installed.

    ``cost`` (bcrypt only: log2 rounds, 4..31, Apache's ``htpasswd -C``) and
    ``rounds`` (SHA-crypt only: 1000..999999999, written as ``rounds=N$``,
    Apache's ``htpasswd -r``) override the work factor; either given for
    another scheme, or out of range, is a ``ValueError`` naming it.
    """
    if not isinstance(password, str):
        raise TypeError(f"password must be str, not {type(password).__name__}")
    if scheme is None:
        scheme = _default_scheme()
    _check_work(scheme, cost, rounds)
    fmt = BY_SCHEME.get(scheme)
    if fmt is None or fmt.hasher is None:
        raise ValueError(f"unknown hash scheme {scheme!r}; valid schemes: {', '.join(SCHEMES)}")
    try:
        secret = password.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("password is not valid Unicode text (it has lone surrogates)") from exc
    require(fmt)
    if cost is not None:
        return _bcrypt.make(secret, cost)
    if rounds is not None:
        sha = _crypt.SHA256_CRYPT if scheme == "sha256-crypt" else _crypt.SHA512_CRYPT
        return sha.make(secret, _crypt.new_salt(16), rounds, True)
    return fmt.hasher(secret)


def _check_work(scheme: str, cost: int | None, rounds: int | None) -> None:
    """``ValueError`` for a work factor the scheme does not take or out of its range."""
    for name, value, schemes, low, high in (
        ("cost", cost, ("bcrypt",), 4, 31),
        (
            "rounds",
            rounds,
            ("sha256-crypt", "sha512-crypt"),
            SHA_CRYPT_MIN_ROUNDS,
            SHA_CRYPT_MAX_ROUNDS,
        ),
    ):
        if value is None:
            continue
        if scheme not in schemes:
            raise ValueError(f"{name} applies to {' and '.join(schemes)} only, not {scheme!r}")
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {value!r}")
        if not low <= value <= high:
            raise ValueError(f"{name} must be from {low} to {high}, got {value}")


def verify_password(password: str, hashed: str) -> bool:
    """Return whether ``password`` matches the stored hash ``hashed``.

    ``True`` for the right password, ``False`` for a wrong one (including a
    password that cannot be UTF-8 encoded, which no stored hash can match).
    A malformed, unknown or unsupported hash raises ``ValueError`` (see
    ``identify``); a bcrypt or argon2id hash whose package is missing raises
    ``MissingExtra``. Digests are compared with ``hmac.compare_digest``.
    bcrypt compares only the first 72 bytes of the password, as Apache does.
    """
    if not isinstance(password, str):
        raise TypeError(f"password must be str, not {type(password).__name__}")
    try:
        secret = password.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return verify_bytes(secret, hashed)


def verify_bytes(secret: bytes, hashed: str) -> bool:
    """:func:`verify_password` for a password's raw bytes, as Apache compares them.

    For credentials a latin-1 client sent: ``htpasswd`` hashed the bytes it
    was typed as, which are not the UTF-8 of the same text.
    """
    fmt, match, _ = parse(hashed)
    return fmt.check(secret, match)


def identify(hashed: str) -> HashInfo:
    """Classify ``hashed`` by its syntax alone, without hashing anything.

    Cheap enough to call for every line of a large htpasswd file. Raises
    ``ValueError`` exactly when ``verify_password`` would: an empty value,
    plaintext (as ``htpasswd -p`` writes), DES crypt, an unknown prefix or a
    malformed hash of a known one; ``MissingExtra`` for bcrypt or argon2id
    without its package. The message says what the value looks like and
    what to do, never the value itself.
    """
    return parse(hashed)[2]


def dummy_hash(hashed: str) -> str:
    """Return a hash of a random password with the scheme and cost of ``hashed``.

    Same bcrypt cost, crypt rounds and salt length, pbkdf2 digest and
    iterations, scrypt n/r/p, argon2 m/t/p and lengths: checking a password
    against it costs what checking against ``hashed`` does, so an unknown
    username takes as long to refuse as a known one. Making it costs one
    hash computation. Raises like ``identify``.
    """
    fmt, match, _ = parse(hashed)
    return fmt.dummy(match)
