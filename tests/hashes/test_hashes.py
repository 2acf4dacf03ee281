"""hash_password, malformed hashes, optional packages, identify and dummy_hash."""

from __future__ import annotations

import hashlib
import re
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basicauth_wsgi.hashes import (
    SCHEMES,
    HashInfo,
    MissingExtra,
    dummy_hash,
    hash_password,
    identify,
    verify_password,
)

from .support import BY_ID, CROSS_PASSWORD

# --- hash_password -------------------------------------------------------------

DEFAULTS = [
    ("bcrypt", "$2y$12$", 12, None),
    ("sha512-crypt", "$6$", 5000, None),
    ("sha256-crypt", "$5$", 5000, None),
    ("apr1", "$apr1$", 0, "$apr1$ MD5-crypt is fast to brute-force"),
    ("md5-crypt", "$1$", 0, "$1$ MD5-crypt is fast to brute-force"),
    ("sha1", "{SHA}", 0, "{SHA} is unsalted SHA-1"),
    ("ssha", "{SSHA}", 0, "{SSHA} is one round of salted SHA-1, fast to brute-force"),
    ("pbkdf2", "pbkdf2:sha256:600000$", 600_000, None),
    ("scrypt", "scrypt:32768:8:1$", 32768, None),
    ("argon2id", "$argon2id$v=19$m=65536,t=3,p=4$", 3, None),
    ("plain", "{PLAIN}", 0, "{PLAIN} stores the password in clear"),
]


def test_defaults_table_covers_every_scheme() -> None:
    assert [row[0] for row in DEFAULTS] == list(SCHEMES)


@pytest.mark.parametrize(("scheme", "prefix", "cost", "weakness"), DEFAULTS, ids=SCHEMES)
def test_hash_password_writes_modern_defaults(
    scheme: str, prefix: str, cost: int, weakness: str | None
) -> None:
    hashed = hash_password(CROSS_PASSWORD, scheme)
    assert hashed.startswith(prefix)
    assert identify(hashed) == HashInfo(scheme, cost, weakness)
    assert "rounds=" not in hashed  # the SHA-crypt default is left implicit
    assert verify_password(CROSS_PASSWORD, hashed) is True
    assert verify_password(CROSS_PASSWORD + "!", hashed) is False


@pytest.mark.parametrize("scheme", ["sha512-crypt", "sha256-crypt", "apr1", "md5-crypt", "ssha"])
def test_hash_password_salts_every_hash(scheme: str) -> None:
    assert hash_password("same", scheme) != hash_password("same", scheme)


def test_default_scheme_is_bcrypt_when_installed() -> None:
    assert hash_password("pw").startswith("$2y$12$")


def test_unknown_scheme_names_it_and_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"'md5'.*bcrypt, sha512-crypt, sha256-crypt, apr1"):
        hash_password("pw", "md5")


def test_unencodable_password_is_refused_by_hash_and_never_matches() -> None:
    with pytest.raises(ValueError, match="surrogate"):
        hash_password("lone \ud800 surrogate", "sha1")
    assert verify_password("lone \ud800 surrogate", hash_password("x", "sha1")) is False


def test_bytes_are_a_type_error() -> None:
    hashed = hash_password("pw", "sha1")
    with pytest.raises(TypeError, match="password must be str"):
        verify_password(b"pw", hashed)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="hash must be str"):
        identify(hashed.encode())  # type: ignore[arg-type]


def test_our_bcrypt_reads_the_first_72_bytes_like_apache() -> None:
    hashed = hash_password("ü" * 36 + " and a tail", "bcrypt")  # bcrypt>=5 alone would raise
    assert verify_password("ü" * 36, hashed) is True  # the same 72 bytes
    assert verify_password("ü" * 35, hashed) is False


FAST_SCHEMES = ["sha512-crypt", "sha256-crypt", "apr1", "md5-crypt", "sha1", "ssha", "plain"]
ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"]))


@pytest.mark.parametrize("scheme", FAST_SCHEMES)
@settings(max_examples=40, deadline=None)
@given(password=ANY_TEXT)
def test_round_trip_for_any_text(scheme: str, password: str) -> None:
    hashed = hash_password(password, scheme)
    assert identify(hashed).scheme == scheme
    assert verify_password(password, hashed) is True
    assert verify_password(password + "x", hashed) is False


# --- Malformed and unsupported hashes ------------------------------------------

BCRYPT = "$2y$04$qVAA9cXetHmr6FH9Abc6SOFeTE0wRyXZ0KAmuC53KnFPd8xPTRjN6"
SHA512 = (  # Drepper's first SHA-512 vector
    "$6$saltstring$"
    "svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
)
SHA512_DIGEST = SHA512.rsplit("$", 1)[1]
APR1 = "$apr1$z8dhI/MU$B0zLJ.vr7U6/PKuc5a/3w/"
ARGON2 = BY_ID["argon2:t1-m8192-p1@ascii"][1]
HEX64, HEX128 = "0" * 64, "0" * 128

MALFORMED = [
    ("", "empty hash", "empty"),
    ("correct horse", r"plaintext \(htpasswd -p\); prefix it with \{PLAIN\}", "plaintext"),
    ("k3ne7xW5tjW8o", "DES crypt", "des-crypt"),
    ("_J9..CCCCXBrJUJV154M", "BSDi extended DES", "bsdi-des"),
    (BCRYPT[:-1], "malformed bcrypt", "bcrypt-truncated"),
    (BCRYPT + "x", "malformed bcrypt", "bcrypt-too-long"),
    (BCRYPT.replace("$04$", "$4$"), "malformed bcrypt", "bcrypt-one-digit-cost"),
    (BCRYPT.replace("$04$", "$03$"), "outside 04..31", "bcrypt-cost-3"),
    (BCRYPT.replace("$04$", "$32$"), "outside 04..31", "bcrypt-cost-32"),
    (BCRYPT[:20] + "!" + BCRYPT[21:], "malformed bcrypt", "bcrypt-bad-character"),
    (BCRYPT[:28] + "Z" + BCRYPT[29:], "malformed bcrypt", "bcrypt-salt-spare-bits-set"),
    (BCRYPT[:-1] + "Z", "malformed bcrypt", "bcrypt-digest-spare-bits-set"),
    (BCRYPT.replace("$2y$", "$2x$"), r"\$2x\$.*not supported", "bcrypt-2x"),
    (BCRYPT + "\n", "trailing whitespace", "bcrypt-trailing-newline"),
    (" " + APR1, "leading or trailing whitespace", "apr1-leading-space"),
    ("$6$saltstring$", "malformed sha512-crypt", "sha512-no-digest"),
    ("$6$saltstring", "malformed sha512-crypt", "sha512-no-separator"),
    (SHA512[:-1], "malformed sha512-crypt", "sha512-truncated"),
    (f"$6$rounds=abc$saltstring${SHA512_DIGEST}", "malformed sha512-crypt", "sha512-rounds-abc"),
    (f"$6$rounds=$saltstring${SHA512_DIGEST}", "malformed sha512-crypt", "sha512-rounds-empty"),
    (
        f"$6$rounds=-5$saltstring${SHA512_DIGEST}",
        "malformed sha512-crypt",
        "sha512-rounds-negative",
    ),
    (f"$6${'s' * 17}${SHA512_DIGEST}", "malformed sha512-crypt", "sha512-salt-17-chars"),
    (f"$5$saltstring${SHA512_DIGEST}", "malformed sha256-crypt", "sha256-digest-too-long"),
    (SHA512[:-1] + "2", "malformed sha512-crypt", "sha512-spare-bits-set"),
    (APR1[:-2], "malformed apr1", "apr1-truncated"),
    ("$apr1$toolongsalt$B0zLJ.vr7U6/PKuc5a/3w/", "malformed apr1", "apr1-salt-9-chars"),
    ("$1$", "malformed md5-crypt", "md5-crypt-bare"),
    ("{SHA}GpHWL3ymc5liWkNopqtdSjuqYHM", "malformed sha1", "sha1-no-padding"),
    ("{SHA}" + "A" * 40, "malformed sha1", "sha1-too-long"),
    ("{SHA}GpHWL3ymc5liWkNopqtdSjuqYHN=", "malformed sha1", "sha1-spare-bits-set"),
    ("{SSHA}not*base64", "malformed ssha", "ssha-bad-character"),
    ("{SSHA}QUJDRA", "not valid base64", "ssha-bad-padding"),
    ("{SSHA}QUJD", "too short", "ssha-no-salt"),
    ("{SSHA}", "malformed ssha", "ssha-empty"),
    ("{SHA256}abc", r"\{SHA256\} hashes are not supported", "ldap-sha256"),
    ("{CRYPT}" + SHA512, "LDAP prefix", "ldap-crypt-prefix"),
    ("$9$abc$def", r"unknown crypt\(3\) hash type \$9\$", "unknown-crypt-id"),
    ("$y$j9T$abc$def", "yescrypt", "yescrypt"),
    (
        "$argon2i$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "only argon2id",
        "argon2i",
    ),
    (ARGON2[: ARGON2.rindex("$")], "malformed argon2id", "argon2id-no-hash"),
    (ARGON2.replace("v=19", "v=18"), "version 18", "argon2id-version-18"),
    (ARGON2.replace("m=8192", "m=4"), "out of range", "argon2id-memory-below-8p"),
    (ARGON2[:-2], "not valid base64", "argon2id-hash-bad-length"),
    (ARGON2[:-1] + "N", "not valid base64", "argon2id-spare-bits-set"),
    (f"pbkdf2:sha256$salt${HEX64}", "malformed pbkdf2", "pbkdf2-no-iterations"),
    (f"pbkdf2:md5:1000$salt${HEX64[:32]}", "'md5' is not supported", "pbkdf2-md5"),
    (f"pbkdf2:sha256:1000$salt${HEX64[:62]}", "wrong length", "pbkdf2-truncated"),
    (f"pbkdf2:sha256:0$salt${HEX64}", "at least 1", "pbkdf2-zero-iterations"),
    (f"pbkdf2:sha256:1000$salt${HEX64[:63]}G", "malformed pbkdf2", "pbkdf2-not-hex"),
    (f"scrypt:32768:8:1$salt${HEX128[:127]}", "malformed scrypt", "scrypt-truncated"),
    (f"scrypt:1000:8:1$salt${HEX128}", "out of range", "scrypt-n-not-power-of-2"),
    (f"scrypt:32768:0:1$salt${HEX128}", "out of range", "scrypt-r-zero"),
    (f"scrypt:2097152:8:1$salt${HEX128}", "more than 2 GiB", "scrypt-too-much-memory"),
    ("sha256$salt$abcdef", "pre-2.3 Werkzeug", "werkzeug-legacy"),
    ("{PLAIN}lone \ud800 surrogate", "malformed plain", "plain-lone-surrogate"),
    ("!" + SHA512, "locked", "shadow-locked"),
    ("*", "locked", "shadow-star"),
]


@pytest.mark.parametrize(("hashed", "message"), [pytest.param(h, m, id=i) for h, m, i in MALFORMED])
def test_malformed_hash_raises_value_error(hashed: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        verify_password("password", hashed)
    assert not isinstance(raised.value, MissingExtra)
    # identify and dummy_hash refuse exactly what verify_password refuses.
    with pytest.raises(ValueError, match=re.escape(str(raised.value))):
        identify(hashed)
    with pytest.raises(ValueError, match=re.escape(str(raised.value))):
        dummy_hash(hashed)


def test_scrypt_with_a_small_n_verifies() -> None:
    # OpenSSL needs 128 r (n + p + 2) bytes, more than Werkzeug's 132 n r p
    # allowance when n < 96: such a hash must verify, not raise.
    derived = hashlib.scrypt(b"password", salt=b"salt", n=16, r=1, p=1, dklen=64)
    hashed = f"scrypt:16:1:1$salt${derived.hex()}"
    assert verify_password("password", hashed) is True
    assert verify_password("Password", hashed) is False


def test_plain_prefix_makes_plaintext_usable() -> None:
    assert verify_password("correct horse", "{PLAIN}correct horse") is True
    assert verify_password("correct hors", "{PLAIN}correct horse") is False
    assert verify_password("", "{PLAIN}") is True


# --- Optional packages ----------------------------------------------------------


@pytest.fixture
def no_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bcrypt", None)  # makes "import bcrypt" fail


@pytest.fixture
def no_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "argon2", None)


BCRYPT_EXTRA = re.escape("pip install 'basicauth-wsgi[bcrypt]'")
ARGON2_EXTRA = re.escape("pip install 'basicauth-wsgi[argon2]'")


@pytest.mark.usefixtures("no_bcrypt")
def test_bcrypt_hash_without_bcrypt_names_the_extra() -> None:
    for call in (identify, dummy_hash, lambda hashed: verify_password("pw", hashed)):
        with pytest.raises(MissingExtra, match=BCRYPT_EXTRA) as raised:
            call(BCRYPT)
        assert raised.value.extra == "bcrypt"
        assert isinstance(raised.value, ValueError)
    with pytest.raises(MissingExtra, match=BCRYPT_EXTRA):
        hash_password("pw", "bcrypt")


@pytest.mark.usefixtures("no_bcrypt")
def test_default_scheme_without_bcrypt_is_sha512_crypt() -> None:
    hashed = hash_password("pw")
    assert identify(hashed) == HashInfo("sha512-crypt", 5000, None)


@pytest.mark.usefixtures("no_argon2")
def test_argon2_hash_without_argon2_names_the_extra() -> None:
    for call in (identify, dummy_hash, lambda hashed: verify_password("pw", hashed)):
        with pytest.raises(MissingExtra, match=ARGON2_EXTRA) as raised:
            call(ARGON2)
        assert raised.value.extra == "argon2"
    with pytest.raises(MissingExtra, match=ARGON2_EXTRA):
        hash_password("pw", "argon2id")


@pytest.mark.usefixtures("no_bcrypt", "no_argon2")
def test_other_formats_need_no_extra() -> None:
    assert verify_password(*BY_ID["htpasswd-apache:sha512@ascii"]) is True
    assert identify(APR1).scheme == "apr1"


# --- identify: weakness ----------------------------------------------------------

WEAKNESS = [
    ("htpasswd-apache:bcrypt@ascii", HashInfo("bcrypt", 5, "bcrypt cost 5 is below 10")),
    ("htpasswd-apache:bcrypt-C10@ascii", HashInfo("bcrypt", 10, None)),
    ("perl:bcrypt-2a@ascii", HashInfo("bcrypt", 4, "bcrypt cost 4 is below 10")),
    ("htpasswd-apache:md5@ascii", HashInfo("apr1", 0, "$apr1$ MD5-crypt is fast to brute-force")),
    ("openssl:md5@ascii", HashInfo("md5-crypt", 0, "$1$ MD5-crypt is fast to brute-force")),
    ("htpasswd-apache:sha1@ascii", HashInfo("sha1", 0, "{SHA} is unsalted SHA-1")),
    (
        "perl:ssha4@ascii",
        HashInfo("ssha", 0, "{SSHA} is one round of salted SHA-1, fast to brute-force"),
    ),
    ("htpasswd-apache:sha256@ascii", HashInfo("sha256-crypt", 5000, None)),
    ("htpasswd-apache:sha512@ascii", HashInfo("sha512-crypt", 5000, None)),
    ("htpasswd-apache:sha256-r10000@ascii", HashInfo("sha256-crypt", 10000, None)),
    (
        "htpasswd-apache:sha512-r1000@ascii",
        HashInfo("sha512-crypt", 1000, "sha512-crypt rounds 1000 below 5000"),
    ),
    ("openssl:sha512-rounds@ascii", HashInfo("sha512-crypt", 10000, None)),
    ("werkzeug:pbkdf2-sha256@ascii", HashInfo("pbkdf2", 1_000_000, None)),
    (
        "werkzeug:pbkdf2-sha512-1000@ascii",
        HashInfo("pbkdf2", 1000, "pbkdf2 iterations 1000 below 210000 for sha512"),
    ),
    ("werkzeug:scrypt@ascii", HashInfo("scrypt", 32768, None)),
    (
        "argon2:t1-m8192-p1@ascii",
        HashInfo("argon2id", 1, "argon2id m*t = 8192 KiB-passes is below 35840"),
    ),
    ("argon2:t2-m19456-p1@ascii", HashInfo("argon2id", 2, None)),
    ("argon2:v16@ascii", HashInfo("argon2id", 1, "argon2id memory 1024 KiB is below 7168 KiB")),
]


@pytest.mark.parametrize(("vector", "info"), WEAKNESS, ids=[row[0] for row in WEAKNESS])
def test_identify_reports_cost_and_weakness(vector: str, info: HashInfo) -> None:
    assert identify(BY_ID[vector][1]) == info


@pytest.mark.parametrize(
    ("hashed", "weakness"),
    [
        (f"pbkdf2:sha1:1000000$s${'0' * 40}", "pbkdf2 iterations 1000000 below 1300000 for sha1"),
        (f"pbkdf2:sha256:599999$s${HEX64}", "pbkdf2 iterations 599999 below 600000 for sha256"),
        (f"pbkdf2:sha512:210000$s${HEX128}", None),
        (f"scrypt:16384:8:1$s${HEX128}", "scrypt n=16384 r=8 uses 16 MiB, below 32 MiB"),
        (f"scrypt:4096:64:1$s${HEX128}", None),
        ("{PLAIN}x", "{PLAIN} stores the password in clear"),
    ],
    ids=["pbkdf2-sha1", "pbkdf2-sha256", "pbkdf2-sha512-ok", "scrypt-16mib", "scrypt-r64", "plain"],
)
def test_identify_thresholds(hashed: str, weakness: str | None) -> None:
    assert identify(hashed).weakness == weakness


# --- dummy_hash ------------------------------------------------------------------


def parameters(hashed: str) -> str:
    """The cost-bearing text of a hash: everything but salt and digest."""
    if hashed.startswith(("pbkdf2:", "scrypt:")):
        return hashed.split("$", 1)[0]
    if hashed.startswith("$argon2id$"):  # m, t, p and the salt and tag lengths
        *_, costs, salt, tag = hashed.split("$")
        return f"{costs}${len(salt)}${len(tag)}"
    if hashed.startswith("$2"):
        return hashed[4:7]  # the cost; the $2a$/$2b$ ident may become $2y$
    if hashed.startswith("$"):  # crypt(3): rounds field and salt length count
        fields = hashed.split("$")
        return "$".join([*fields[1:-2], str(len(fields[-2]))])
    return hashed[: hashed.index("}") + 1]


DUMMY_SOURCES = [
    "htpasswd-apache:bcrypt@ascii",
    "perl:bcrypt-2a@ascii",
    "htpasswd-apache:md5@ascii",
    "htpasswd-apache:sha1@ascii",
    "htpasswd-apache:sha256@ascii",
    "htpasswd-apache:sha512@ascii",
    "htpasswd-apache:sha512-r1000@ascii",
    "openssl:md5-salt@ascii",
    "openssl:sha256-rounds@ascii",
    "perl:ssha4@ascii",
    "perl:sha512-r6000@ascii",
    "werkzeug:pbkdf2-sha512-1000@ascii",
    "werkzeug:scrypt@ascii",
    "argon2:t1-m8192-p1@ascii",
    "argon2:v16@ascii",
]


@pytest.mark.parametrize("vector", DUMMY_SOURCES)
def test_dummy_hash_keeps_scheme_and_cost(vector: str) -> None:
    password, hashed = BY_ID[vector]
    dummy = dummy_hash(hashed)
    assert dummy != hashed
    assert identify(dummy)[:2] == identify(hashed)[:2]
    assert parameters(dummy) == parameters(hashed)
    assert verify_password(password, dummy) is False


def test_dummy_hash_of_plain_is_plain() -> None:
    dummy = dummy_hash("{PLAIN}secret")
    assert identify(dummy).scheme == "plain"
    assert verify_password("secret", dummy) is False
