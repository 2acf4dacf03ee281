"""argon2id ``$argon2id$`` in the PHC string format, through ``argon2-cffi`` (extra ``argon2``).

The package is imported inside each function, never at module level, so
``basicauth_wsgi`` imports without it; the registry raises ``MissingExtra``
before any of these run when it is missing.
"""

from __future__ import annotations

import re
import secrets
from typing import Final

#: argon2id is weak below OWASP's smallest configuration: all five it lists
#: (46 MiB x 1 pass ... 7 MiB x 5 passes) have m >= 7 MiB and m * t >= 35
#: MiB-passes. hash_password uses argon2-cffi's defaults (RFC 9106 §4
#: second recommendation: t=3, m=64 MiB, p=4), well above both.
ARGON2_MIN_MEMORY_KIB: Final = 7 * 1024
ARGON2_MIN_MEMORY_PASSES: Final = 35 * 1024

# RFC 4648 §4, the alphabet of argon2's PHC strings.
_STD_B64: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

# PHC string format; the version field is absent in pre-1.3 hashes.
# Salts are at least 8 bytes (RFC 9106 §3.1), tags at least 4.
PATTERN: Final = re.compile(
    r"\$argon2id\$(?:v=(?P<version>[0-9]{1,3})\$)?"
    r"m=(?P<m>[0-9]{1,10}),t=(?P<t>[0-9]{1,10}),p=(?P<p>[0-9]{1,8})"
    r"\$(?P<salt>[A-Za-z0-9+/]{11,})\$(?P<hash>[A-Za-z0-9+/]{6,})"
)
SYNTAX: Final = "$argon2id$v=19$m=M,t=T,p=P$salt$hash (unpadded base64)"


def _canonical_b64(text: str) -> bool:
    """Whether unpadded base64 ``text`` has a valid length and zero spare bits.

    The reference argon2 decoder (and so argon2-cffi) rejects anything else.
    """
    spare = {0: 0, 2: 4, 3: 2}.get(len(text) % 4)  # 4k+1 characters encode nothing
    if spare is None:
        return False
    return spare == 0 or _STD_B64.index(text[-1]) % (1 << spare) == 0


def _b64_length(chars: int) -> int:
    """Bytes encoded by ``chars`` characters of unpadded base64."""
    return chars * 3 // 4


def make(
    password: bytes,
    time_cost: int | None = None,
    memory_cost: int | None = None,
    parallelism: int | None = None,
    hash_len: int | None = None,
    salt_len: int | None = None,
) -> str:
    from argon2 import PasswordHasher, Type

    defaults = PasswordHasher()
    hasher = PasswordHasher(
        time_cost=defaults.time_cost if time_cost is None else time_cost,
        memory_cost=defaults.memory_cost if memory_cost is None else memory_cost,
        parallelism=defaults.parallelism if parallelism is None else parallelism,
        hash_len=defaults.hash_len if hash_len is None else hash_len,
        salt_len=defaults.salt_len if salt_len is None else salt_len,
        type=Type.ID,
    )
    return hasher.hash(password)


def new(password: bytes) -> str:
    return make(password)


def check(password: bytes, match: re.Match[str]) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    try:
        return PasswordHasher().verify(match[0], password)
    except VerifyMismatchError:
        return False
    except (InvalidHashError, VerificationError) as exc:
        # Anything but a mismatch means the library could not use the hash.
        raise ValueError(f"malformed argon2id hash: {exc}") from exc


def params(match: re.Match[str]) -> tuple[int, int, int]:
    """(m KiB, t passes, p lanes), validated; raises ValueError if unusable."""
    version = match["version"]
    if version is not None and version not in ("16", "19"):
        raise ValueError(f"argon2id version {version} is not 16 or 19")
    m, t, p = int(match["m"]), int(match["t"]), int(match["p"])
    # RFC 9106 §3.1: p in 1..2^24-1, m >= 8p KiB, t >= 1.
    if not (1 <= p < 2**24 and m >= 8 * p and t >= 1):
        raise ValueError(f"argon2id parameters m={m} t={t} p={p} are out of range")
    for name in ("salt", "hash"):
        if not _canonical_b64(match[name]):
            raise ValueError(f"argon2id {name} is not valid base64")
    return m, t, p


def cost(match: re.Match[str]) -> int:
    """The time cost t (passes), after validating the whole hash."""
    return params(match)[1]


def weakness(match: re.Match[str]) -> str | None:
    m, t, _ = params(match)
    if m < ARGON2_MIN_MEMORY_KIB:
        return f"argon2id memory {m} KiB is below {ARGON2_MIN_MEMORY_KIB} KiB"
    if m * t < ARGON2_MIN_MEMORY_PASSES:
        return f"argon2id m*t = {m * t} KiB-passes is below {ARGON2_MIN_MEMORY_PASSES}"
    return None


def dummy(match: re.Match[str]) -> str:
    m, t, p = params(match)
    return make(
        secrets.token_bytes(16),
        time_cost=t,
        memory_cost=m,
        parallelism=p,
        hash_len=_b64_length(len(match["hash"])),
        salt_len=_b64_length(len(match["salt"])),
    )
