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
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, NamedTuple, Protocol

__all__ = [
    "SCHEMES",
    "HashInfo",
    "MissingExtra",
    "dummy_hash",
    "hash_password",
    "identify",
    "verify_password",
]

#: Scheme names ``hash_password`` accepts, and the names ``identify`` reports.
SCHEMES: Final[tuple[str, ...]] = (
    "bcrypt",
    "sha512-crypt",
    "sha256-crypt",
    "apr1",
    "md5-crypt",
    "sha1",
    "ssha",
    "pbkdf2",
    "scrypt",
    "argon2id",
    "plain",
)

# --- Work factors written by hash_password, and the floors below which
# --- identify() calls a hash weak. Each floor is the one its source states.

#: bcrypt log2 rounds written by ``hash_password`` (about 250 ms on a server core).
BCRYPT_COST: Final = 12
#: bcrypt below cost 10 is weak (OWASP Password Storage Cheat Sheet's minimum).
#: Note that Apache's ``htpasswd -B`` defaults to cost 5.
BCRYPT_MIN_COST: Final = 10
#: SHA-crypt rounds: the specification's default, also the weakness floor.
SHA_CRYPT_ROUNDS: Final = 5000
#: Drepper's specification clamps a ``rounds=N`` request into this range.
SHA_CRYPT_MIN_ROUNDS: Final = 1000
SHA_CRYPT_MAX_ROUNDS: Final = 999_999_999
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
#: argon2id is weak below OWASP's smallest configuration: all five it lists
#: (46 MiB x 1 pass ... 7 MiB x 5 passes) have m >= 7 MiB and m * t >= 35
#: MiB-passes. hash_password uses argon2-cffi's defaults (RFC 9106 §4
#: second recommendation: t=3, m=64 MiB, p=4), well above both.
ARGON2_MIN_MEMORY_KIB: Final = 7 * 1024
ARGON2_MIN_MEMORY_PASSES: Final = 35 * 1024

# bcrypt hashes only the first 72 bytes of a password (its key schedule has
# room for 18 32-bit words). Apache truncates silently; bcrypt>=5 raises.
_BCRYPT_MAX_BYTES: Final = 72

# The crypt(3) base-64 alphabet (Drepper's spec, "b64_from_24bit"; also
# MD5-crypt's). bcrypt uses the same characters in another order.
_CRYPT64: Final = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# RFC 4648 §4, the alphabet of {SHA}, {SSHA} and argon2's PHC strings.
_STD_B64: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# Werkzeug's salt alphabet (werkzeug.security.SALT_CHARS).
_WERKZEUG_SALT_CHARS: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# hashlib.scrypt takes maxmem as a C int.
_SCRYPT_MAXMEM_LIMIT: Final = 2**31 - 1


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
    operator.
    """

    scheme: str
    cost: int
    weakness: str | None


class _Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...


_HashFactory = Callable[[bytes], _Digest]


@dataclass(frozen=True, slots=True)
class _Format:
    """One stored-hash format: its syntax and what to do with a match."""

    scheme: str
    pattern: re.Pattern[str]
    syntax: str  # what a well-formed hash looks like, for error messages
    info: Callable[[re.Match[str]], HashInfo]  # may raise ValueError
    check: Callable[[bytes, re.Match[str]], bool]
    dummy: Callable[[re.Match[str]], str]
    extra: str | None = None  # pip extra needed, checked by _require()


# ---------------------------------------------------------------------------
# Shared crypt(3) machinery: Drepper's SHA-crypt and PHK's MD5-crypt.
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
class _ShaCrypt:
    scheme: str
    ident: str
    hf: _HashFactory
    size: int
    order: tuple[tuple[int, ...], ...]
    digest: str  # regex of the encoded digest

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

    def info(self, match: re.Match[str]) -> HashInfo:
        rounds = self.rounds(match)
        weakness = None
        if rounds < SHA_CRYPT_ROUNDS:
            weakness = f"{self.scheme} rounds {rounds} below {SHA_CRYPT_ROUNDS}"
        return HashInfo(self.scheme, rounds, weakness)

    def check(self, password: bytes, match: re.Match[str]) -> bool:
        computed = self.encode(password, match["salt"], self.rounds(match))
        return hmac.compare_digest(computed, match["hash"])

    def dummy(self, match: re.Match[str]) -> str:
        rounds = self.rounds(match)
        salt = _crypt_salt(len(match["salt"]))
        return self.make(secrets.token_bytes(16), salt, rounds, match["rounds"] is not None)

    def new(self, password: bytes) -> str:
        return self.make(password, _crypt_salt(16), SHA_CRYPT_ROUNDS, False)

    def as_format(self) -> _Format:
        length = 43 if self.size == 32 else 86
        return _Format(
            scheme=self.scheme,
            pattern=re.compile(_SHA_CRYPT_TEMPLATE.format(ident=self.ident, digest=self.digest)),
            syntax=f"${self.ident}$[rounds=N$]salt$ then {length} characters of ./0-9A-Za-z",
            info=self.info,
            check=self.check,
            dummy=self.dummy,
        )


_SHA256_CRYPT: Final = _ShaCrypt(
    "sha256-crypt", "5", hashlib.sha256, 32, _SHA256_ORDER, _SHA256_DIGEST
)
_SHA512_CRYPT: Final = _ShaCrypt(
    "sha512-crypt", "6", hashlib.sha512, 64, _SHA512_ORDER, _SHA512_DIGEST
)


# ---------------------------------------------------------------------------
# MD5-crypt $1$ and Apache's $apr1$ (the same algorithm, another magic).
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Md5Crypt:
    scheme: str
    magic: str

    def make(self, password: bytes, salt: str) -> str:
        digest = _md5_crypt_digest(password, self.magic.encode("ascii"), salt.encode("ascii"))
        return f"{self.magic}{salt}${_crypt64(digest, _MD5_ORDER)}"

    def info(self, match: re.Match[str]) -> HashInfo:
        # A fixed 1000 MD5 rounds: GPUs try billions of these a second.
        return HashInfo(self.scheme, 0, f"{self.magic} MD5-crypt is fast to brute-force")

    def check(self, password: bytes, match: re.Match[str]) -> bool:
        return hmac.compare_digest(self.make(password, match["salt"]), match[0])

    def dummy(self, match: re.Match[str]) -> str:
        return self.make(secrets.token_bytes(16), _crypt_salt(len(match["salt"])))

    def new(self, password: bytes) -> str:
        return self.make(password, _crypt_salt(8))

    def as_format(self) -> _Format:
        magic = re.escape(self.magic)
        return _Format(
            scheme=self.scheme,
            # At most 8 salt characters, as MD5-crypt reads no more.
            pattern=re.compile(magic + r"(?P<salt>[!-#%-~]{0,8})\$" + _MD5_DIGEST),
            syntax=f"{self.magic}salt$ then 22 characters of ./0-9A-Za-z",
            info=self.info,
            check=self.check,
            dummy=self.dummy,
        )


_MD5_CRYPT: Final = _Md5Crypt("md5-crypt", "$1$")
_APR1: Final = _Md5Crypt("apr1", "$apr1$")


# ---------------------------------------------------------------------------
# bcrypt $2y$ $2b$ $2a$ (extra "bcrypt").
# ---------------------------------------------------------------------------


def _bcrypt_hash(password: bytes, cost: int) -> str:
    try:
        import bcrypt
    except ImportError as exc:
        raise MissingExtra("bcrypt", "bcrypt") from exc
    salt = bcrypt.gensalt(rounds=cost, prefix=b"2b")
    hashed = bcrypt.hashpw(password[:_BCRYPT_MAX_BYTES], salt).decode("ascii")
    # $2b$ and $2y$ are the same algorithm for passwords under 256 bytes;
    # Apache writes $2y$, and apr-util before crypt_blowfish 1.3 knows no $2b$.
    return "$2y$" + hashed[4:]


def _bcrypt_check(password: bytes, match: re.Match[str]) -> bool:
    try:
        import bcrypt
    except ImportError as exc:
        raise MissingExtra("bcrypt", "bcrypt") from exc
    # Apache (crypt_blowfish) reads 72 bytes and ignores the rest; bcrypt>=5
    # raises instead, so truncate here to verify Apache's hashes.
    return bcrypt.checkpw(password[:_BCRYPT_MAX_BYTES], match[0].encode("ascii"))


def _bcrypt_info(match: re.Match[str]) -> HashInfo:
    cost = int(match["cost"])
    if not 4 <= cost <= 31:  # the cost is a log2 round count, 04..31
        raise ValueError(f"bcrypt cost {cost} is outside 04..31")
    weakness = None
    if cost < BCRYPT_MIN_COST:
        weakness = f"bcrypt cost {cost} is below {BCRYPT_MIN_COST}"
    return HashInfo("bcrypt", cost, weakness)


_BCRYPT: Final = _Format(
    scheme="bcrypt",
    # 22 characters of salt (16 bytes) then 31 of hash (23 bytes) in bcrypt's
    # base-64 ("./A-Za-z0-9"). The last character of each carries only 2 or
    # 4 bits, the rest zero; the bcrypt package refuses any other salt.
    pattern=re.compile(
        r"\$2[aby]\$(?P<cost>[0-9]{2})\$"
        r"[./A-Za-z0-9]{21}[.Oeu][./A-Za-z0-9]{30}[.CGKOSWaeimquy26]"
    ),
    syntax="$2y$NN$ then 53 characters of ./A-Za-z0-9",
    info=_bcrypt_info,
    check=_bcrypt_check,
    dummy=lambda match: _bcrypt_hash(secrets.token_bytes(16), int(match["cost"])),
    extra="bcrypt",
)


# ---------------------------------------------------------------------------
# argon2id $argon2id$ (extra "argon2"), in the PHC string format.
# ---------------------------------------------------------------------------


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


def _argon2_hash(
    password: bytes,
    time_cost: int | None = None,
    memory_cost: int | None = None,
    parallelism: int | None = None,
    hash_len: int | None = None,
    salt_len: int | None = None,
) -> str:
    try:
        from argon2 import PasswordHasher, Type
    except ImportError as exc:
        raise MissingExtra("argon2id", "argon2") from exc
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


def _argon2_check(password: bytes, match: re.Match[str]) -> bool:
    try:
        from argon2 import PasswordHasher
        from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
    except ImportError as exc:
        raise MissingExtra("argon2id", "argon2") from exc
    try:
        return PasswordHasher().verify(match[0], password)
    except VerifyMismatchError:
        return False
    except (InvalidHashError, VerificationError) as exc:
        # Anything but a mismatch means the library could not use the hash.
        raise ValueError(f"malformed argon2id hash: {exc}") from exc


def _argon2_info(match: re.Match[str]) -> HashInfo:
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
    weakness = None
    if m < ARGON2_MIN_MEMORY_KIB:
        weakness = f"argon2id memory {m} KiB is below {ARGON2_MIN_MEMORY_KIB} KiB"
    elif m * t < ARGON2_MIN_MEMORY_PASSES:
        weakness = f"argon2id m*t = {m * t} KiB-passes is below {ARGON2_MIN_MEMORY_PASSES}"
    return HashInfo("argon2id", t, weakness)


_ARGON2ID: Final = _Format(
    scheme="argon2id",
    # PHC string format; the version field is absent in pre-1.3 hashes.
    # Salts are at least 8 bytes (RFC 9106 §3.1), tags at least 4.
    pattern=re.compile(
        r"\$argon2id\$(?:v=(?P<version>[0-9]{1,3})\$)?"
        r"m=(?P<m>[0-9]{1,10}),t=(?P<t>[0-9]{1,10}),p=(?P<p>[0-9]{1,8})"
        r"\$(?P<salt>[A-Za-z0-9+/]{11,})\$(?P<hash>[A-Za-z0-9+/]{6,})"
    ),
    syntax="$argon2id$v=19$m=M,t=T,p=P$salt$hash (unpadded base64)",
    info=_argon2_info,
    check=_argon2_check,
    dummy=lambda match: _argon2_hash(
        secrets.token_bytes(16),
        time_cost=int(match["t"]),
        memory_cost=int(match["m"]),
        parallelism=int(match["p"]),
        hash_len=_b64_length(len(match["hash"])),
        salt_len=_b64_length(len(match["salt"])),
    ),
    extra="argon2",
)


# ---------------------------------------------------------------------------
# {SHA}, {SSHA} (nginx, OpenLDAP) and {PLAIN} (nginx, Dovecot).
# ---------------------------------------------------------------------------


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"{what} is not valid base64 ({exc})") from exc


def _sha1_make(password: bytes) -> str:
    return "{SHA}" + base64.b64encode(hashlib.sha1(password).digest()).decode("ascii")  # noqa: S324 ({SHA} is SHA-1)


def _sha1_check(password: bytes, match: re.Match[str]) -> bool:
    return hmac.compare_digest(_sha1_make(password), match[0])


_SHA1: Final = _Format(
    scheme="sha1",
    # 20 bytes of base64: the last data character carries 4 bits, 2 zero.
    pattern=re.compile(r"\{SHA\}[A-Za-z0-9+/]{26}[AEIMQUYcgkosw048]="),
    syntax="{SHA} then 28 characters of base64",
    info=lambda match: HashInfo("sha1", 0, "{SHA} is unsalted SHA-1"),
    check=_sha1_check,
    dummy=lambda match: _sha1_make(secrets.token_bytes(16)),
)


def _ssha_make(password: bytes, salt: bytes) -> str:
    digest = hashlib.sha1(password + salt).digest()  # noqa: S324 ({SSHA} is SHA-1)
    return "{SSHA}" + base64.b64encode(digest + salt).decode("ascii")


def _ssha_split(match: re.Match[str]) -> tuple[bytes, bytes]:
    """(digest, salt) of a {SSHA} value: base64 of SHA-1(password + salt) + salt."""
    raw = _b64decode(match["data"], "{SSHA} value")
    if len(raw) <= 20:
        raise ValueError("{SSHA} value is too short to hold a SHA-1 digest and a salt")
    return raw[:20], raw[20:]


def _ssha_info(match: re.Match[str]) -> HashInfo:
    _ssha_split(match)
    return HashInfo("ssha", 0, "{SSHA} is one round of salted SHA-1, fast to brute-force")


def _ssha_check(password: bytes, match: re.Match[str]) -> bool:
    digest, salt = _ssha_split(match)
    return hmac.compare_digest(hashlib.sha1(password + salt).digest(), digest)  # noqa: S324


_SSHA: Final = _Format(
    scheme="ssha",
    pattern=re.compile(r"\{SSHA\}(?P<data>[A-Za-z0-9+/]+={0,2})"),
    syntax="{SSHA} then base64 of a SHA-1 digest and a salt",
    info=_ssha_info,
    check=_ssha_check,
    dummy=lambda match: _ssha_make(
        secrets.token_bytes(16), secrets.token_bytes(len(_ssha_split(match)[1]))
    ),
)


def _plain_check(password: bytes, match: re.Match[str]) -> bool:
    # Compare fixed-length digests so the timing reveals not even the length.
    stored = hashlib.sha256(match["text"].encode("utf-8")).digest()
    return hmac.compare_digest(hashlib.sha256(password).digest(), stored)


_PLAIN: Final = _Format(
    scheme="plain",
    # Any text but lone surrogates, which have no UTF-8 form to compare.
    pattern=re.compile(r"\{PLAIN\}(?P<text>[^\ud800-\udfff]*)"),
    syntax="{PLAIN} then the password",
    info=lambda match: HashInfo("plain", 0, "{PLAIN} stores the password in clear"),
    check=_plain_check,
    dummy=lambda match: "{PLAIN}" + secrets.token_urlsafe(16),
)


# ---------------------------------------------------------------------------
# Werkzeug's pbkdf2:<digest>:<iterations>$salt$hex and scrypt:n:r:p$salt$hex.
# ---------------------------------------------------------------------------


def _werkzeug_salt(length: int = 16) -> str:
    return "".join(secrets.choice(_WERKZEUG_SALT_CHARS) for _ in range(length))


def _pbkdf2_make(password: bytes, digest: str, iterations: int, salt: str) -> str:
    derived = hashlib.pbkdf2_hmac(digest, password, salt.encode("utf-8"), iterations)
    return f"pbkdf2:{digest}:{iterations}${salt}${derived.hex()}"


def _pbkdf2_info(match: re.Match[str]) -> HashInfo:
    digest, iterations = match["digest"], int(match["iterations"])
    floor = PBKDF2_MIN_ITERATIONS.get(digest)
    if floor is None:
        valid = ", ".join(PBKDF2_MIN_ITERATIONS)
        raise ValueError(f"pbkdf2 digest {digest!r} is not supported (use one of {valid})")
    if iterations < 1:
        raise ValueError("pbkdf2 iteration count must be at least 1")
    # Werkzeug stores the whole PRF output: a shorter value is a truncated hash.
    if len(match["hash"]) != 2 * _DIGEST_SIZES[digest]:
        raise ValueError(f"pbkdf2 {digest} hash has the wrong length (truncated?)")
    weakness = None
    if iterations < floor:
        weakness = f"pbkdf2 iterations {iterations} below {floor} for {digest}"
    return HashInfo("pbkdf2", iterations, weakness)


def _pbkdf2_check(password: bytes, match: re.Match[str]) -> bool:
    derived = hashlib.pbkdf2_hmac(
        match["digest"], password, match["salt"].encode("utf-8"), int(match["iterations"])
    )
    return hmac.compare_digest(derived.hex(), match["hash"])


_PBKDF2: Final = _Format(
    scheme="pbkdf2",
    pattern=re.compile(
        r"pbkdf2:(?P<digest>[a-z0-9_]{1,20}):(?P<iterations>[0-9]{1,10})"
        r"\$(?P<salt>[^$\ud800-\udfff]*)\$(?P<hash>[0-9a-f]+)"
    ),
    syntax="pbkdf2:<digest>:<iterations>$salt$hexdigest",
    info=_pbkdf2_info,
    check=_pbkdf2_check,
    dummy=lambda match: _pbkdf2_make(
        secrets.token_bytes(16),
        match["digest"],
        int(match["iterations"]),
        _werkzeug_salt(len(match["salt"])),
    ),
)


def _scrypt_maxmem(n: int, r: int, p: int) -> int:
    """The ``maxmem`` that hashlib.scrypt needs for these parameters.

    OpenSSL allocates B (p blocks of 128 r bytes) and V (n + 2 more) of RFC
    7914 §5; 64 KiB of slack covers other builds. Werkzeug passes
    132 * n * r * p, which is too little for n < 96.
    """
    return 128 * r * (n + p + 2) + 65536


def _scrypt_params(match: re.Match[str]) -> tuple[int, int, int, int]:
    """(n, r, p, maxmem) of a Werkzeug scrypt hash, validated as OpenSSL will."""
    n, r, p = int(match["n"]), int(match["r"]), int(match["p"])
    # RFC 7914 §2: N a power of two above 1 and below 2^(128 r / 8); r, p >= 1.
    if n < 2 or n & (n - 1) or r < 1 or p < 1 or n.bit_length() - 1 >= 16 * r:
        raise ValueError(f"scrypt parameters n={n} r={r} p={p} are out of range")
    maxmem = _scrypt_maxmem(n, r, p)
    if maxmem > _SCRYPT_MAXMEM_LIMIT:
        raise ValueError(f"scrypt parameters n={n} r={r} p={p} need more than 2 GiB")
    return n, r, p, maxmem


def _scrypt_make(password: bytes, n: int, r: int, p: int, salt: str) -> str:
    maxmem = _scrypt_maxmem(n, r, p)
    derived = hashlib.scrypt(
        password, salt=salt.encode("utf-8"), n=n, r=r, p=p, maxmem=maxmem, dklen=64
    )
    return f"scrypt:{n}:{r}:{p}${salt}${derived.hex()}"


def _scrypt_info(match: re.Match[str]) -> HashInfo:
    n, r, _, _ = _scrypt_params(match)
    weakness = None
    memory = 128 * n * r
    if memory < SCRYPT_MIN_MEMORY:
        weakness = (
            f"scrypt n={n} r={r} uses {memory >> 20} MiB, below {SCRYPT_MIN_MEMORY >> 20} MiB"
        )
    return HashInfo("scrypt", n, weakness)


def _scrypt_check(password: bytes, match: re.Match[str]) -> bool:
    n, r, p, maxmem = _scrypt_params(match)
    derived = hashlib.scrypt(
        password, salt=match["salt"].encode("utf-8"), n=n, r=r, p=p, maxmem=maxmem, dklen=64
    )
    return hmac.compare_digest(derived.hex(), match["hash"])


_SCRYPT: Final = _Format(
    scheme="scrypt",
    # Werkzeug stores 64 bytes of output as 128 hex digits.
    pattern=re.compile(
        r"scrypt:(?P<n>[0-9]{1,10}):(?P<r>[0-9]{1,4}):(?P<p>[0-9]{1,4})"
        r"\$(?P<salt>[^$\ud800-\udfff]*)\$(?P<hash>[0-9a-f]{128})"
    ),
    syntax="scrypt:<n>:<r>:<p>$salt$ then 128 hex digits",
    info=_scrypt_info,
    check=_scrypt_check,
    dummy=lambda match: _scrypt_make(
        secrets.token_bytes(16),
        *_scrypt_params(match)[:3],
        _werkzeug_salt(len(match["salt"])),
    ),
)


# ---------------------------------------------------------------------------
# Dispatch.
# ---------------------------------------------------------------------------

# Each format by the tag that starts it: "$id$", "{NAME}" or "name:".
_BY_TAG: Final[dict[str, _Format]] = {
    "$2y$": _BCRYPT,
    "$2b$": _BCRYPT,
    "$2a$": _BCRYPT,
    "$apr1$": _APR1.as_format(),
    "$1$": _MD5_CRYPT.as_format(),
    "$5$": _SHA256_CRYPT.as_format(),
    "$6$": _SHA512_CRYPT.as_format(),
    "$argon2id$": _ARGON2ID,
    "{SHA}": _SHA1,
    "{SSHA}": _SSHA,
    "{PLAIN}": _PLAIN,
    "pbkdf2:": _PBKDF2,
    "scrypt:": _SCRYPT,
}

_HASHERS: Final[dict[str, Callable[[bytes], str]]] = {
    "bcrypt": lambda password: _bcrypt_hash(password, BCRYPT_COST),
    "sha512-crypt": _SHA512_CRYPT.new,
    "sha256-crypt": _SHA256_CRYPT.new,
    "apr1": _APR1.new,
    "md5-crypt": _MD5_CRYPT.new,
    "sha1": _sha1_make,
    "ssha": lambda password: _ssha_make(password, secrets.token_bytes(8)),
    "pbkdf2": lambda password: _pbkdf2_make(
        password, PBKDF2_DIGEST, PBKDF2_ITERATIONS, _werkzeug_salt()
    ),
    "scrypt": lambda password: _scrypt_make(
        password, SCRYPT_N, SCRYPT_R, SCRYPT_P, _werkzeug_salt()
    ),
    "argon2id": _argon2_hash,
    "plain": lambda password: "{PLAIN}" + password.decode("utf-8"),
}

# Formats that are recognisable but deliberately not supported, by tag.
_UNSUPPORTED: Final[dict[str, str]] = {
    "$2x$": "crypt_blowfish's $2x$ (buggy 8-bit bcrypt compatibility)",
    "$2$": "the original $2$ bcrypt",
    "$argon2i$": "argon2i (only argon2id is supported)",
    "$argon2d$": "argon2d (only argon2id is supported)",
    "$y$": "yescrypt ($y$)",
    "$gy$": "gost-yescrypt ($gy$)",
    "$7$": "crypt(3) scrypt ($7$)",
    "$sha1$": "NetBSD sha1crypt ($sha1$)",
    "$md5$": "Sun MD5-crypt ($md5$)",
    "$md5,": "Sun MD5-crypt ($md5$)",
    "$3$": "FreeBSD NT-hash ($3$)",
}

_REHASH = "set a new password with `basicauth-wsgi passwd`"
_DES = re.compile(r"[./0-9A-Za-z]{13}")
_BSDI_DES = re.compile(r"_[./0-9A-Za-z]{19}")
_WERKZEUG_LEGACY = re.compile(r"(?:plain|md5|sha1|sha224|sha256|sha384|sha512)\$[^$]*\$.*")


def _tag(hashed: str) -> str:
    """The prefix that names a format: "$id$", "{NAME}", "name:" or ""."""
    if hashed.startswith("$"):
        end = hashed.find("$", 1)
        return hashed[: end + 1] if end > 0 else ""
    if hashed.startswith("{"):
        end = hashed.find("}")
        return hashed[: end + 1] if end > 0 else ""
    end = hashed.find(":")
    return hashed[: end + 1] if end > 0 else ""


def _unknown(hashed: str, tag: str) -> ValueError:
    """The error for a value of no supported format: what it looks like, what to do."""
    if not hashed:
        return ValueError(f"empty hash: the account has no password; {_REHASH}")
    if hashed != hashed.strip() and _tag(hashed.strip()) in _BY_TAG:
        return ValueError("hash has leading or trailing whitespace")
    for prefix, name in _UNSUPPORTED.items():
        if hashed.startswith(prefix):
            return ValueError(f"{name} hashes are not supported; {_REHASH}")
    if tag.startswith("$"):
        return ValueError(f"unknown crypt(3) hash type {tag}; {_REHASH}")
    if tag == "{CRYPT}":
        return ValueError("{CRYPT} is an LDAP prefix: store the crypt(3) hash after it alone")
    if tag.startswith("{"):
        return ValueError(f"{tag} hashes are not supported; {_REHASH}")
    if hashed[0] in "!*":
        return ValueError(
            f"looks like a locked or disabled account (leading {hashed[0]}); {_REHASH}"
        )
    if _WERKZEUG_LEGACY.fullmatch(hashed):
        return ValueError(
            f"looks like a pre-2.3 Werkzeug salted-digest hash, not supported; {_REHASH}"
        )
    if _DES.fullmatch(hashed):
        return ValueError(
            "looks like a traditional DES crypt hash (htpasswd -d), which reads only 8 "
            f"characters of the password and is not supported; {_REHASH}"
        )
    if _BSDI_DES.fullmatch(hashed):
        return ValueError(f"looks like a BSDi extended DES crypt hash, not supported; {_REHASH}")
    return ValueError(
        "not a recognised hash: looks like plaintext (htpasswd -p); "
        f"prefix it with {{PLAIN}} or {_REHASH}"
    )


def _require(fmt: _Format) -> None:
    """Raise MissingExtra unless the package ``fmt`` needs can be imported.

    The import runs on every call (a dict lookup in ``sys.modules`` once
    loaded), so a test can hide a package by setting ``sys.modules[name]``
    to ``None``.
    """
    if fmt.extra == "bcrypt":
        try:
            import bcrypt  # noqa: F401
        except ImportError as exc:
            raise MissingExtra(fmt.scheme, fmt.extra) from exc
    elif fmt.extra == "argon2":
        try:
            import argon2  # noqa: F401
        except ImportError as exc:
            raise MissingExtra(fmt.scheme, fmt.extra) from exc


def _parse(hashed: str) -> tuple[_Format, re.Match[str], HashInfo]:
    """Validate ``hashed`` completely, without hashing; raise ValueError if unusable.

    verify_password, identify and dummy_hash all start here, so identify
    raises exactly when verify_password would.
    """
    if not isinstance(hashed, str):
        raise TypeError(f"hash must be str, not {type(hashed).__name__}")
    tag = _tag(hashed)
    fmt = _BY_TAG.get(tag)
    if fmt is None:
        raise _unknown(hashed, tag)
    match = fmt.pattern.fullmatch(hashed)
    if match is None:
        if hashed != hashed.strip():
            raise ValueError("hash has leading or trailing whitespace")
        raise ValueError(f"malformed {fmt.scheme} hash: expected {fmt.syntax}")
    info = fmt.info(match)
    if fmt.extra is not None:
        _require(fmt)
    return fmt, match, info


def _default_scheme() -> str:
    try:
        import bcrypt  # noqa: F401
    except ImportError:
        return "sha512-crypt"
    return "bcrypt"


# ---------------------------------------------------------------------------
# Public API.
# ---------------------------------------------------------------------------


def hash_password(password: str, scheme: str | None = None) -> str:
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
    """
    if not isinstance(password, str):
        raise TypeError(f"password must be str, not {type(password).__name__}")
    if scheme is None:
        scheme = _default_scheme()
    hasher = _HASHERS.get(scheme)
    if hasher is None:
        raise ValueError(f"unknown hash scheme {scheme!r}; valid schemes: {', '.join(SCHEMES)}")
    try:
        secret = password.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("password is not valid Unicode text (it has lone surrogates)") from exc
    return hasher(secret)


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
    fmt, match, _ = _parse(hashed)
    try:
        secret = password.encode("utf-8")
    except UnicodeEncodeError:
        return False
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
    return _parse(hashed)[2]


def dummy_hash(hashed: str) -> str:
    """Return a hash of a random password with the scheme and cost of ``hashed``.

    Same bcrypt cost, crypt rounds and salt length, pbkdf2 digest and
    iterations, scrypt n/r/p, argon2 m/t/p and lengths: checking a password
    against it costs what checking against ``hashed`` does, so an unknown
    username takes as long to refuse as a known one. Making it costs one
    hash computation. Raises like ``identify``.
    """
    fmt, match, _ = _parse(hashed)
    return fmt.dummy(match)
