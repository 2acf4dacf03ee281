"""bcrypt ``$2y$ $2b$ $2a$`` through the optional ``bcrypt`` package (extra ``bcrypt``).

The package is imported inside each function, never at module level, so
``basicauth_wsgi`` imports without it; the registry raises ``MissingExtra``
before any of these run when it is missing.
"""

from __future__ import annotations

import re
import secrets
from typing import Final

#: bcrypt log2 rounds written by ``hash_password`` (about 250 ms on a server core).
BCRYPT_COST: Final = 12
#: bcrypt below cost 10 is weak (OWASP Password Storage Cheat Sheet's minimum).
#: Note that Apache's ``htpasswd -B`` defaults to cost 5.
BCRYPT_MIN_COST: Final = 10

# bcrypt hashes only the first 72 bytes of a password (its key schedule has
# room for 18 32-bit words). Apache truncates silently; bcrypt>=5 raises.
_BCRYPT_MAX_BYTES: Final = 72

# 22 characters of salt (16 bytes) then 31 of hash (23 bytes) in bcrypt's
# base-64 ("./A-Za-z0-9"). The last character of each carries only 2 or
# 4 bits, the rest zero; the bcrypt package refuses any other salt.
PATTERN: Final = re.compile(
    r"\$2[aby]\$(?P<cost>[0-9]{2})\$"
    r"[./A-Za-z0-9]{21}[.Oeu][./A-Za-z0-9]{30}[.CGKOSWaeimquy26]"
)
SYNTAX: Final = "$2y$NN$ then 53 characters of ./A-Za-z0-9"


def make(password: bytes, cost: int) -> str:
    import bcrypt

    salt = bcrypt.gensalt(rounds=cost, prefix=b"2b")
    hashed = bcrypt.hashpw(password[:_BCRYPT_MAX_BYTES], salt).decode("ascii")
    # $2b$ and $2y$ are the same algorithm for passwords under 256 bytes;
    # Apache writes $2y$, and apr-util before crypt_blowfish 1.3 knows no $2b$.
    return "$2y$" + hashed[4:]


def new(password: bytes) -> str:
    return make(password, BCRYPT_COST)


def check(password: bytes, match: re.Match[str]) -> bool:
    import bcrypt

    # Apache (crypt_blowfish) reads 72 bytes and ignores the rest; bcrypt>=5
    # raises instead, so truncate here to verify Apache's hashes.
    return bcrypt.checkpw(password[:_BCRYPT_MAX_BYTES], match[0].encode("ascii"))


def cost(match: re.Match[str]) -> int:
    """The log2 round count; raises ValueError outside 04..31."""
    value = int(match["cost"])
    if not 4 <= value <= 31:
        raise ValueError(f"bcrypt cost {value} is outside 04..31")
    return value


def weakness(match: re.Match[str]) -> str | None:
    value = cost(match)
    if value < BCRYPT_MIN_COST:
        return f"bcrypt cost {value} is below {BCRYPT_MIN_COST}"
    return None


def dummy(match: re.Match[str]) -> str:
    return make(secrets.token_bytes(16), cost(match))
