"""crypt(3) formats: Drepper's SHA-crypt ($5$, $6$) and PHK's MD5-crypt ($1$, $apr1$).

Pure standard library. Each format is an object whose methods are the
registry's fields (see ``registry.FORMATS``); none of them knows its tags.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

#: SHA-crypt rounds: the specification's default, also the weakness floor.
SHA_CRYPT_ROUNDS: Final = 5000
#: Drepper's specification clamps a ``rounds=N`` request into this range.
SHA_CRYPT_MIN_ROUNDS: Final = 1000
SHA_CRYPT_MAX_ROUNDS: Final = 999_999_999

# The crypt(3) base-64 alphabet (Drepper's spec, "b64_from_24bit"; also
# MD5-crypt's). bcrypt uses the same characters in another order.
_CRYPT64: Final = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class _Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...


_HashFactory = Callable[[bytes], _Digest]


# ---------------------------------------------------------------------------
# Shared crypt(3) machinery.
# ---------------------------------------------------------------------------


def _crypt64(digest: bytes, order: tuple[tuple[int, ...], ...]) -> str:
    """Encode ``digest`` as crypt(3) does: bytes regrouped by ``order``.

    Each group of up to three bytes (the first most significant) becomes
    one character per 6 bits, least significant first; a group of n bytes
    yields n + 1 characters ("b64_from_24bit" in Drepper's spec, "to64" in
    MD5-crypt).
    """
    out = []
    for group in order:
        value = 0
        for index in group:
            value = (value << 8) | digest[index]
        for _ in range(len(group) + 1):
            out.append(_CRYPT64[value & 63])
            value >>= 6
    return "".join(out)


# Byte orders from the output step (22) of Drepper's spec and from MD5-crypt.
_SHA256_ORDER: Final = (
    (0, 10, 20), (21, 1, 11), (12, 22, 2), (3, 13, 23), (24, 4, 14),
    (15, 25, 5), (6, 16, 26), (27, 7, 17), (18, 28, 8), (9, 19, 29), (31, 30),
)  # fmt: skip
_SHA512_ORDER: Final = (
    (0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4), (47, 5, 26),
    (6, 27, 48), (28, 49, 7), (50, 8, 29), (9, 30, 51), (31, 52, 10), (53, 11, 32),
    (12, 33, 54), (34, 55, 13), (56, 14, 35), (15, 36, 57), (37, 58, 16), (59, 17, 38),
    (18, 39, 60), (40, 61, 19), (62, 20, 41), (63,),
)  # fmt: skip
_MD5_ORDER: Final = ((0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5), (11,))


def _crypt_rounds(hf: _HashFactory, c: bytes, p: bytes, s: bytes, rounds: int) -> bytes:
    """The stretching loop shared by SHA-crypt (step 21) and MD5-crypt.

    Round i (from 0) hashes: P if i is odd else C; S unless i % 3 == 0;
    P unless i % 7 == 0; C if i is odd else P. So even rounds are
    ``C + suffix`` and odd rounds ``prefix + C``, and the byte strings
    around C repeat every 42 = lcm(2, 3, 7) rounds: build those 21
    (even suffix, odd prefix) pairs once, so each round is one
    concatenation and one hash, with no branching.
    """
    pairs = []
    for even in range(0, 42, 2):
        odd = even + 1
        suffix = (s if even % 3 else b"") + (p if even % 7 else b"") + p
        prefix = p + (s if odd % 3 else b"") + (p if odd % 7 else b"")
        pairs.append((suffix, prefix))
    cycles, rest = divmod(rounds, 42)
    for _ in range(cycles):
        for suffix, prefix in pairs:
            c = hf(c + suffix).digest()
            c = hf(prefix + c).digest()
    for suffix, prefix in pairs[: rest // 2]:
        c = hf(c + suffix).digest()
        c = hf(prefix + c).digest()
    if rest % 2:
        c = hf(c + pairs[rest // 2][0]).digest()
    return c


def _sha_crypt_digest(
    hf: _HashFactory, size: int, password: bytes, salt: bytes, rounds: int
) -> bytes:
    """The raw digest of "Unix crypt using SHA-256 and SHA-512" (Drepper).

    ``salt`` is at most 16 bytes and ``rounds`` already clamped; step
    numbers below are the specification's.
    """
    n = len(password)
    b = hf(password + salt + password).digest()  # steps 4-8
    a = hf(password + salt)  # steps 1-3
    a.update(b * (n // size) + b[: n % size])  # steps 9-10
    bits = n
    while bits:  # step 11: the bits of len(password), lowest first
        a.update(b if bits & 1 else password)
        bits >>= 1
    a_digest = a.digest()  # step 12
    dp = hf(password * n).digest()  # steps 13-15
    p = dp * (n // size) + dp[: n % size]  # step 16
    ds = hf(salt * (16 + a_digest[0])).digest()  # steps 17-19
    s = ds[: len(salt)]  # step 20: the salt is never longer than one digest
    return _crypt_rounds(hf, a_digest, p, s, rounds)  # step 21


def _md5_crypt_digest(password: bytes, magic: bytes, salt: bytes) -> bytes:
    """The raw digest of PHK's FreeBSD MD5-crypt; ``magic`` is $1$ or $apr1$."""
    n = len(password)
    # MD5 is the algorithm this legacy format is defined by, not our choice.
    alt = hashlib.md5(password + salt + password).digest()  # noqa: S324
    ctx = hashlib.md5(password + magic + salt)  # noqa: S324
    ctx.update(alt * (n // 16) + alt[: n % 16])
    bits = n
    while bits:  # a NUL byte for a 1 bit, the first password byte for a 0
        ctx.update(b"\0" if bits & 1 else password[:1])
        bits >>= 1
    return _crypt_rounds(hashlib.md5, ctx.digest(), password, salt, 1000)


def _crypt_salt(length: int) -> str:
    return "".join(secrets.choice(_CRYPT64) for _ in range(length))


def new_salt(length: int) -> str:
    """A random crypt salt of ``length`` characters of ./0-9A-Za-z."""
    return _crypt_salt(length)


# ---------------------------------------------------------------------------
# SHA-256-crypt $5$ and SHA-512-crypt $6$.
# ---------------------------------------------------------------------------

# "$5$" / "$6$", an optional "rounds=<N>$", a salt of at most 16 characters
# without "$", "$", the digest. A salt beginning "rounds=" is refused: that is
# a rounds field with a bad number (the C code would hash it as salt).
# Salts are printable ASCII, so 16 characters are the spec's 16 bytes.
_SHA_CRYPT_TEMPLATE = (
    r"\${ident}\$(?:rounds=(?P<rounds>[0-9]{{1,20}})\$)?"
    r"(?!rounds=)(?P<salt>[!-#%-~]{{0,16}})\$(?P<hash>{digest})"
)
# Digests as crypt(3) encodes them. The last character carries the leftover
# bits of a short final group, the rest zero (SHA-256: 4 bits, SHA-512 and
# MD5: 2 bits); any other last character could never verify, so it is a
# malformed hash, not a wrong password.
_SHA256_DIGEST: Final = r"[./0-9A-Za-z]{42}[./0-9A-D]"
_SHA512_DIGEST: Final = r"[./0-9A-Za-z]{85}[./01]"
_MD5_DIGEST: Final = r"[./0-9A-Za-z]{21}[./01]"


@dataclass(frozen=True, slots=True)
class ShaCrypt:
    """SHA-256-crypt or SHA-512-crypt: one digest, one byte order, one ident."""

    scheme: str
    ident: str
    hf: _HashFactory
    size: int
    order: tuple[tuple[int, ...], ...]
    digest: str  # regex of the encoded digest

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(_SHA_CRYPT_TEMPLATE.format(ident=self.ident, digest=self.digest))

    @property
    def syntax(self) -> str:
        length = 43 if self.size == 32 else 86
        return f"${self.ident}$[rounds=N$]salt$ then {length} characters of ./0-9A-Za-z"

    def rounds(self, match: re.Match[str]) -> int:
        # Drepper: "If the value is less than 1000 ... use 1000; more than
        # 999,999,999 ... use 999,999,999"; absent means 5000.
        text = match["rounds"]
        if text is None:
            return SHA_CRYPT_ROUNDS
        return max(SHA_CRYPT_MIN_ROUNDS, min(int(text), SHA_CRYPT_MAX_ROUNDS))

    def encode(self, password: bytes, salt: str, rounds: int) -> str:
        digest = _sha_crypt_digest(self.hf, self.size, password, salt.encode("ascii"), rounds)
        return _crypt64(digest, self.order)

    def make(self, password: bytes, salt: str, rounds: int, explicit: bool) -> str:
        # Step 22: "rounds=<N>$" is in the output exactly when it was in the
        # setting; new hashes use the default and so leave it out.
        head = f"${self.ident}$rounds={rounds}$" if explicit else f"${self.ident}$"
        return f"{head}{salt}${self.encode(password, salt, rounds)}"

    def weakness(self, match: re.Match[str]) -> str | None:
        rounds = self.rounds(match)
        if rounds < SHA_CRYPT_ROUNDS:
            return f"{self.scheme} rounds {rounds} below {SHA_CRYPT_ROUNDS}"
        return None

    def check(self, password: bytes, match: re.Match[str]) -> bool:
        computed = self.encode(password, match["salt"], self.rounds(match))
        return hmac.compare_digest(computed, match["hash"])

    def dummy(self, match: re.Match[str]) -> str:
        rounds = self.rounds(match)
        salt = _crypt_salt(len(match["salt"]))
        return self.make(secrets.token_bytes(16), salt, rounds, match["rounds"] is not None)

    def new(self, password: bytes) -> str:
        return self.make(password, _crypt_salt(16), SHA_CRYPT_ROUNDS, False)


SHA256_CRYPT: Final = ShaCrypt(
    "sha256-crypt", "5", hashlib.sha256, 32, _SHA256_ORDER, _SHA256_DIGEST
)
SHA512_CRYPT: Final = ShaCrypt(
    "sha512-crypt", "6", hashlib.sha512, 64, _SHA512_ORDER, _SHA512_DIGEST
)


# ---------------------------------------------------------------------------
# MD5-crypt $1$ and Apache's $apr1$ (the same algorithm, another magic).
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Md5Crypt:
    """MD5-crypt under one magic: ``$1$`` (FreeBSD, openssl -1) or ``$apr1$``."""

    scheme: str
    magic: str

    @property
    def pattern(self) -> re.Pattern[str]:
        # At most 8 salt characters, as MD5-crypt reads no more.
        return re.compile(re.escape(self.magic) + r"(?P<salt>[!-#%-~]{0,8})\$" + _MD5_DIGEST)

    @property
    def syntax(self) -> str:
        return f"{self.magic}salt$ then 22 characters of ./0-9A-Za-z"

    def make(self, password: bytes, salt: str) -> str:
        digest = _md5_crypt_digest(password, self.magic.encode("ascii"), salt.encode("ascii"))
        return f"{self.magic}{salt}${_crypt64(digest, _MD5_ORDER)}"

    def weakness(self, match: re.Match[str]) -> str:
        # A fixed 1000 MD5 rounds: GPUs try billions of these a second.
        return f"{self.magic} MD5-crypt is fast to brute-force"

    def check(self, password: bytes, match: re.Match[str]) -> bool:
        return hmac.compare_digest(self.make(password, match["salt"]), match[0])

    def dummy(self, match: re.Match[str]) -> str:
        return self.make(secrets.token_bytes(16), _crypt_salt(len(match["salt"])))

    def new(self, password: bytes) -> str:
        return self.make(password, _crypt_salt(8))


MD5_CRYPT: Final = Md5Crypt("md5-crypt", "$1$")
APR1: Final = Md5Crypt("apr1", "$apr1$")
