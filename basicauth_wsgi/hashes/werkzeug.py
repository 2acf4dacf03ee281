"""Werkzeug's ``pbkdf2:<digest>:<iterations>$salt$hex`` and ``scrypt:n:r:p$salt$hex``.

What ``werkzeug.security.generate_password_hash`` writes since 2.3, verified
with ``hashlib`` alone.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Final

#: PBKDF2 digest and iterations written by ``hash_password`` (OWASP 2023).
PBKDF2_DIGEST: Final = "sha256"
PBKDF2_ITERATIONS: Final = 600_000
#: OWASP 2023's iteration floors per PRF; sha224/sha384 take the floor of
#: the SHA-2 core they truncate. Other digests are refused, not judged.
PBKDF2_MIN_ITERATIONS: Final[dict[str, int]] = {
    "sha1": 1_300_000,
    "sha224": 600_000,
    "sha256": 600_000,
    "sha384": 210_000,
    "sha512": 210_000,
}
_DIGEST_SIZES: Final = {"sha1": 20, "sha224": 28, "sha256": 32, "sha384": 48, "sha512": 64}
#: scrypt parameters written by ``hash_password`` (Werkzeug's defaults).
SCRYPT_N: Final = 2**15
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
#: scrypt below 32 MiB of memory (128 * n * r bytes; Werkzeug's default
#: uses exactly that) is weak.
SCRYPT_MIN_MEMORY: Final = 32 * 1024 * 1024

# Werkzeug's salt alphabet (werkzeug.security.SALT_CHARS).
_WERKZEUG_SALT_CHARS: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# hashlib.scrypt takes maxmem as a C int.
_SCRYPT_MAXMEM_LIMIT: Final = 2**31 - 1

PBKDF2_PATTERN: Final = re.compile(
    r"pbkdf2:(?P<digest>[a-z0-9_]{1,20}):(?P<iterations>[0-9]{1,10})"
    r"\$(?P<salt>[^$\ud800-\udfff]*)\$(?P<hash>[0-9a-f]+)"
)
PBKDF2_SYNTAX: Final = "pbkdf2:<digest>:<iterations>$salt$hexdigest"
# Werkzeug stores 64 bytes of scrypt output as 128 hex digits.
SCRYPT_PATTERN: Final = re.compile(
    r"scrypt:(?P<n>[0-9]{1,10}):(?P<r>[0-9]{1,4}):(?P<p>[0-9]{1,4})"
    r"\$(?P<salt>[^$\ud800-\udfff]*)\$(?P<hash>[0-9a-f]{128})"
)
SCRYPT_SYNTAX: Final = "scrypt:<n>:<r>:<p>$salt$ then 128 hex digits"


def _salt(length: int = 16) -> str:
    return "".join(secrets.choice(_WERKZEUG_SALT_CHARS) for _ in range(length))


# --- pbkdf2 ----------------------------------------------------------------------


def _pbkdf2_make(password: bytes, digest: str, iterations: int, salt: str) -> str:
    derived = hashlib.pbkdf2_hmac(digest, password, salt.encode("utf-8"), iterations)
    return f"pbkdf2:{digest}:{iterations}${salt}${derived.hex()}"


def pbkdf2_new(password: bytes) -> str:
    return _pbkdf2_make(password, PBKDF2_DIGEST, PBKDF2_ITERATIONS, _salt())


def pbkdf2_params(match: re.Match[str]) -> tuple[str, int]:
    """(digest, iterations), validated; raises ValueError if unusable."""
    digest, iterations = match["digest"], int(match["iterations"])
    if digest not in PBKDF2_MIN_ITERATIONS:
        valid = ", ".join(PBKDF2_MIN_ITERATIONS)
        raise ValueError(f"pbkdf2 digest {digest!r} is not supported (use one of {valid})")
    if iterations < 1:
        raise ValueError("pbkdf2 iteration count must be at least 1")
    # Werkzeug stores the whole PRF output: a shorter value is a truncated hash.
    if len(match["hash"]) != 2 * _DIGEST_SIZES[digest]:
        raise ValueError(f"pbkdf2 {digest} hash has the wrong length (truncated?)")
    return digest, iterations


def pbkdf2_weakness(match: re.Match[str]) -> str | None:
    digest, iterations = pbkdf2_params(match)
    floor = PBKDF2_MIN_ITERATIONS[digest]
    if iterations < floor:
        return f"pbkdf2 iterations {iterations} below {floor} for {digest}"
    return None


def pbkdf2_check(password: bytes, match: re.Match[str]) -> bool:
    derived = hashlib.pbkdf2_hmac(
        match["digest"], password, match["salt"].encode("utf-8"), int(match["iterations"])
    )
    return hmac.compare_digest(derived.hex(), match["hash"])


def pbkdf2_dummy(match: re.Match[str]) -> str:
    digest, iterations = pbkdf2_params(match)
    return _pbkdf2_make(secrets.token_bytes(16), digest, iterations, _salt(len(match["salt"])))


# --- scrypt ----------------------------------------------------------------------


def _scrypt_maxmem(n: int, r: int, p: int) -> int:
    """The ``maxmem`` that hashlib.scrypt needs for these parameters.

    OpenSSL allocates B (p blocks of 128 r bytes) and V (n + 2 more) of RFC
    7914 §5; 64 KiB of slack covers other builds. Werkzeug passes
    132 * n * r * p, which is too little for n < 96.
    """
    return 128 * r * (n + p + 2) + 65536


def scrypt_params(match: re.Match[str]) -> tuple[int, int, int]:
    """(n, r, p) of a Werkzeug scrypt hash, validated as OpenSSL will."""
    n, r, p = int(match["n"]), int(match["r"]), int(match["p"])
    # RFC 7914 §2: N a power of two above 1 and below 2^(128 r / 8); r, p >= 1.
    if n < 2 or n & (n - 1) or r < 1 or p < 1 or n.bit_length() - 1 >= 16 * r:
        raise ValueError(f"scrypt parameters n={n} r={r} p={p} are out of range")
    if _scrypt_maxmem(n, r, p) > _SCRYPT_MAXMEM_LIMIT:
        raise ValueError(f"scrypt parameters n={n} r={r} p={p} need more than 2 GiB")
    return n, r, p


def _scrypt_derive(password: bytes, salt: str, n: int, r: int, p: int) -> str:
    maxmem = _scrypt_maxmem(n, r, p)
    return hashlib.scrypt(
        password, salt=salt.encode("utf-8"), n=n, r=r, p=p, maxmem=maxmem, dklen=64
    ).hex()


def _scrypt_make(password: bytes, n: int, r: int, p: int, salt: str) -> str:
    return f"scrypt:{n}:{r}:{p}${salt}${_scrypt_derive(password, salt, n, r, p)}"


def scrypt_new(password: bytes) -> str:
    return _scrypt_make(password, SCRYPT_N, SCRYPT_R, SCRYPT_P, _salt())


def scrypt_weakness(match: re.Match[str]) -> str | None:
    n, r, _ = scrypt_params(match)
    memory = 128 * n * r
    if memory < SCRYPT_MIN_MEMORY:
        return f"scrypt n={n} r={r} uses {memory >> 20} MiB, below {SCRYPT_MIN_MEMORY >> 20} MiB"
    return None


def scrypt_check(password: bytes, match: re.Match[str]) -> bool:
    computed = _scrypt_derive(password, match["salt"], *scrypt_params(match))
    return hmac.compare_digest(computed, match["hash"])


def scrypt_dummy(match: re.Match[str]) -> str:
    return _scrypt_make(secrets.token_bytes(16), *scrypt_params(match), _salt(len(match["salt"])))
