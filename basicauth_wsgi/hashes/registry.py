"""The one table of hash formats, and everything derived from it.

Each format is one ``Format`` record in ``FORMATS``: the tags that select
it, the scheme name, its syntax, its hasher, checker and dummy maker, the
optional extra it needs, its weakness rule and its work estimate. The tag
dispatch (``BY_TAG``), ``SCHEMES``, the hashers and the ``MissingExtra``
errors are all built from that table, so a new format is one new record
(and its implementation in a family module).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, NamedTuple

from . import argon2, bcrypt, crypt, ldap, werkzeug
from .unknown import unknown_hash_error


class MissingExtra(ValueError):
    """A hash needs an optional package that is not installed.

    A ``ValueError``: to a loader, a hash it cannot check is as unusable as a
    malformed one. ``extra`` is the name to install, as the message says.
    """

    def __init__(self, scheme: str, extra: str) -> None:
        self.scheme = scheme
        self.extra = extra
        super().__init__(
            f"{scheme} hashes need the {extra!r} extra: pip install 'basicauth-wsgi[{extra}]'"
        )


class HashInfo(NamedTuple):
    """What ``identify`` learns from a hash's syntax alone.

    ``scheme`` is a name from ``SCHEMES``. ``cost`` is a work figure
    comparable only within one scheme (bcrypt log rounds, crypt rounds,
    pbkdf2 iterations, scrypt n, argon2 time cost; 0 for fixed-cost ones).
    ``weakness`` is ``None`` for a strong hash, else a short reason for the
    operator. ``work`` estimates the CPU seconds one verification costs on
    the reference machine, comparable across schemes: the largest in a file
    is its slowest check. It is an estimate, so equality and hashing ignore
    it (and it defaults to 0.0 in a ``HashInfo`` built by hand).
    """

    scheme: str
    cost: int
    weakness: str | None
    work: float = 0.0

    def __eq__(self, other: object) -> bool:
        if isinstance(other, HashInfo):
            return self[:3] == other[:3]
        return tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self[:3])


_Match = re.Match[str]


@dataclass(frozen=True, slots=True)
class Format:
    """One stored-hash format, declared once in ``FORMATS``.

    ``cost`` runs first and validates what ``pattern`` cannot (it raises
    ``ValueError`` for a hash that can never verify); ``weakness``,
    ``work``, ``check`` and ``dummy`` may assume it passed.
    """

    scheme: str  # the name identify() reports
    tags: tuple[str, ...]  # prefixes that select it: "$id$", "{NAME}" or "name:"
    pattern: re.Pattern[str]  # the whole well-formed hash (fullmatch)
    syntax: str  # what a well-formed hash looks like, for error messages
    cost: Callable[[_Match], int]
    weakness: Callable[[_Match], str | None]  # None when strong
    work: Callable[[_Match], float]  # CPU seconds of one check (calibration below)
    check: Callable[[bytes, _Match], bool]
    dummy: Callable[[_Match], str]  # a random password's hash, same cost
    hasher: Callable[[bytes], str] | None  # None: verified, never written
    extra: str | None = None  # pip extra needed; also the module it installs
    #: Its check runs outside the interpreter lock (C code that releases it):
    #: it may run in a low-priority thread without stalling other threads.
    releases_gil: bool = False


def _zero(match: _Match) -> int:
    return 0


# --- Work: CPU seconds of one verification ----------------------------------------
# Calibrated from medians measured on the reference 2-vCPU box (one
# verify_password each): bcrypt cost 12 0.234 s; sha512-crypt 5000 rounds
# 2.5 ms and sha256-crypt 5000 rounds 2.1 ms (pure Python, linear in
# rounds); apr1 / md5-crypt 0.38 ms (a fixed 1000 rounds);
# pbkdf2:sha256:600000 0.138 s (linear in iterations; a sha1 iteration costs
# about 0.6x, a sha512 one 1.5x; sha224 and sha384 as the core they
# truncate); scrypt n=32768 r=8 p=1 93 ms (linear in n*r*p); argon2id t=3
# m=65536 KiB p=4 110 ms of CPU (linear in t*m: p spreads the same memory
# passes over lanes); {SHA}, {SSHA}, {PLAIN} 3 µs (one hash plus overhead).
# Only the ratios matter: they pick a file's slowest check.

_BCRYPT_12: Final = 0.234
_SHA512_CRYPT_ROUND: Final = 2.5e-3 / 5000
_SHA256_CRYPT_ROUND: Final = 2.1e-3 / 5000
_MD5_CRYPT: Final = 0.38e-3
_PBKDF2_ITERATION: Final = {
    name: 0.138 / 600_000 * factor
    for name, factor in {
        "sha1": 0.6,
        "sha224": 1.0,
        "sha256": 1.0,
        "sha384": 1.5,
        "sha512": 1.5,
    }.items()
}
_SCRYPT_BLOCK: Final = 93e-3 / (32768 * 8 * 1)  # per unit of n*r*p
_ARGON2_KIB_PASS: Final = 110e-3 / (3 * 65536)  # per KiB-pass, t*m
_ONE_FAST_HASH: Final = 3e-6


def _bcrypt_work(match: _Match) -> float:
    return _BCRYPT_12 * 2.0 ** (bcrypt.cost(match) - 12)


def _pbkdf2_work(match: _Match) -> float:
    digest, iterations = werkzeug.pbkdf2_params(match)
    return iterations * _PBKDF2_ITERATION[digest]


def _scrypt_work(match: _Match) -> float:
    n, r, p = werkzeug.scrypt_params(match)
    return n * r * p * _SCRYPT_BLOCK


def _argon2_work(match: _Match) -> float:
    m, t, _ = argon2.params(match)
    return m * t * _ARGON2_KIB_PASS


def _ssha_cost(match: _Match) -> int:
    ldap.ssha_split(match)  # validates the base64 and the length
    return 0


def _pbkdf2_cost(match: _Match) -> int:
    return werkzeug.pbkdf2_params(match)[1]


def _scrypt_cost(match: _Match) -> int:
    return werkzeug.scrypt_params(match)[0]


def _sha_crypt(fmt: crypt.ShaCrypt, per_round: float) -> Format:
    return Format(
        scheme=fmt.scheme,
        tags=(f"${fmt.ident}$",),
        pattern=fmt.pattern,
        syntax=fmt.syntax,
        cost=fmt.rounds,
        weakness=fmt.weakness,
        work=lambda match: fmt.rounds(match) * per_round,
        check=fmt.check,
        dummy=fmt.dummy,
        hasher=fmt.new,
    )


def _md5_crypt(fmt: crypt.Md5Crypt) -> Format:
    return Format(
        scheme=fmt.scheme,
        tags=(fmt.magic,),
        pattern=fmt.pattern,
        syntax=fmt.syntax,
        cost=_zero,
        weakness=fmt.weakness,
        work=lambda match: _MD5_CRYPT,
        check=fmt.check,
        dummy=fmt.dummy,
        hasher=fmt.new,
    )


#: Every supported format, in the order of ``SCHEMES``.
FORMATS: Final[tuple[Format, ...]] = (
    Format(
        scheme="bcrypt",
        tags=("$2y$", "$2b$", "$2a$"),
        pattern=bcrypt.PATTERN,
        syntax=bcrypt.SYNTAX,
        cost=bcrypt.cost,
        weakness=bcrypt.weakness,
        work=_bcrypt_work,
        check=bcrypt.check,
        dummy=bcrypt.dummy,
        hasher=bcrypt.new,
        extra="bcrypt",
        releases_gil=True,  # pyca/bcrypt hashes with the lock released
    ),
    _sha_crypt(crypt.SHA512_CRYPT, _SHA512_CRYPT_ROUND),
    _sha_crypt(crypt.SHA256_CRYPT, _SHA256_CRYPT_ROUND),
    _md5_crypt(crypt.APR1),
    _md5_crypt(crypt.MD5_CRYPT),
    Format(
        scheme="sha1",
        tags=("{SHA}",),
        pattern=ldap.SHA1_PATTERN,
        syntax=ldap.SHA1_SYNTAX,
        cost=_zero,
        weakness=lambda match: "{SHA} is unsalted SHA-1",
        work=lambda match: _ONE_FAST_HASH,
        check=ldap.sha1_check,
        dummy=ldap.sha1_dummy,
        hasher=ldap.sha1_new,
    ),
    Format(
        scheme="ssha",
        tags=("{SSHA}",),
        pattern=ldap.SSHA_PATTERN,
        syntax=ldap.SSHA_SYNTAX,
        cost=_ssha_cost,
        weakness=lambda match: "{SSHA} is one round of salted SHA-1, fast to brute-force",
        work=lambda match: _ONE_FAST_HASH,
        check=ldap.ssha_check,
        dummy=ldap.ssha_dummy,
        hasher=ldap.ssha_new,
    ),
    Format(
        scheme="pbkdf2",
        tags=("pbkdf2:",),
        pattern=werkzeug.PBKDF2_PATTERN,
        syntax=werkzeug.PBKDF2_SYNTAX,
        cost=_pbkdf2_cost,
        weakness=werkzeug.pbkdf2_weakness,
        work=_pbkdf2_work,
        check=werkzeug.pbkdf2_check,
        dummy=werkzeug.pbkdf2_dummy,
        hasher=werkzeug.pbkdf2_new,
        releases_gil=True,  # hashlib.pbkdf2_hmac releases the lock
    ),
    Format(
        scheme="scrypt",
        tags=("scrypt:",),
        pattern=werkzeug.SCRYPT_PATTERN,
        syntax=werkzeug.SCRYPT_SYNTAX,
        cost=_scrypt_cost,
        weakness=werkzeug.scrypt_weakness,
        work=_scrypt_work,
        check=werkzeug.scrypt_check,
        dummy=werkzeug.scrypt_dummy,
        hasher=werkzeug.scrypt_new,
        releases_gil=True,  # hashlib.scrypt releases the lock
    ),
    Format(
        scheme="argon2id",
        tags=("$argon2id$",),
        pattern=argon2.PATTERN,
        syntax=argon2.SYNTAX,
        cost=argon2.cost,
        weakness=argon2.weakness,
        work=_argon2_work,
        check=argon2.check,
        dummy=argon2.dummy,
        hasher=argon2.new,
        extra="argon2",
        releases_gil=True,  # argon2-cffi's C call releases the lock
    ),
    Format(
        scheme="plain",
        tags=("{PLAIN}",),
        pattern=ldap.PLAIN_PATTERN,
        syntax=ldap.PLAIN_SYNTAX,
        cost=_zero,
        weakness=lambda match: "{PLAIN} stores the password in clear",
        work=lambda match: _ONE_FAST_HASH,
        check=ldap.plain_check,
        dummy=ldap.plain_dummy,
        hasher=ldap.plain_new,
    ),
)


def _by_tag(formats: tuple[Format, ...]) -> dict[str, Format]:
    table: dict[str, Format] = {}
    for fmt in formats:
        for tag in fmt.tags:
            if tag in table:
                raise ValueError(
                    f"hash tag {tag!r} is declared by {table[tag].scheme} and {fmt.scheme}"
                )
            table[tag] = fmt
    return table


#: Each format by the tag that starts it.
BY_TAG: Final = _by_tag(FORMATS)
#: Scheme names ``hash_password`` accepts, and the names ``identify`` reports.
SCHEMES: Final[tuple[str, ...]] = tuple(fmt.scheme for fmt in FORMATS)
#: Every format by its scheme name.
BY_NAME: Final = {fmt.scheme: fmt for fmt in FORMATS}
#: The formats ``hash_password`` writes, by scheme name.
BY_SCHEME: Final = {fmt.scheme: fmt for fmt in FORMATS if fmt.hasher is not None}


def tag(hashed: str) -> str:
    """The prefix that names a format: "$id$", "{NAME}", "name:" or ""."""
    if hashed.startswith("$"):
        end = hashed.find("$", 1)
        return hashed[: end + 1] if end > 0 else ""
    if hashed.startswith("{"):
        end = hashed.find("}")
        return hashed[: end + 1] if end > 0 else ""
    end = hashed.find(":")
    return hashed[: end + 1] if end > 0 else ""


def require(fmt: Format) -> None:
    """Raise MissingExtra unless the package ``fmt`` needs can be imported.

    The import runs on every call (a dict lookup in ``sys.modules`` once
    loaded), so a test can hide a package by setting ``sys.modules[name]``
    to ``None``.
    """
    if fmt.extra is None:
        return
    try:
        importlib.import_module(fmt.extra)
    except ImportError as exc:
        raise MissingExtra(fmt.scheme, fmt.extra) from exc


def parse(hashed: str) -> tuple[Format, re.Match[str], HashInfo]:
    """Validate ``hashed`` completely, without hashing; raise ValueError if unusable.

    verify_password, identify and dummy_hash all start here, so identify
    raises exactly when verify_password would.
    """
    if not isinstance(hashed, str):
        raise TypeError(f"hash must be str, not {type(hashed).__name__}")
    prefix = tag(hashed)
    fmt = BY_TAG.get(prefix)
    if fmt is None:
        stripped = hashed.strip()
        padded = stripped != hashed and tag(stripped) in BY_TAG
        raise unknown_hash_error(hashed, prefix, padded_known=padded)
    match = fmt.pattern.fullmatch(hashed)
    if match is None:
        if hashed != hashed.strip():
            raise ValueError("hash has leading or trailing whitespace")
        raise ValueError(f"malformed {fmt.scheme} hash: expected {fmt.syntax}")
    info = HashInfo(fmt.scheme, fmt.cost(match), fmt.weakness(match), fmt.work(match))
    require(fmt)
    return fmt, match, info
