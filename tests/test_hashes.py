"""basicauth_wsgi.hashes against real tools' output and published vectors.

The vectors in tests/vectors/ were made by Apache's htpasswd, openssl,
Werkzeug, argon2-cffi and perl's crypt() (libxcrypt); each file's header
names the command (regenerate with tests/make_vectors.py). Where a tool is
installed, our own hashes are also fed back to it.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

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

VECTORS = Path(__file__).resolve().parent / "vectors"
PASSWORDS: dict[str, str] = json.loads((VECTORS / "passwords.json").read_text("utf-8"))
TIMEOUT = 60  # seconds, for every subprocess


def load_vectors(name: str) -> list[tuple[str, str, str]]:
    """(id, password, hash) for each ``VARIANT@KEY:HASH`` line of a vector file."""
    rows = []
    for line in (VECTORS / name).read_text("utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        user, hashed = line.split(":", 1)  # a hash may contain ":", a user not
        rows.append(
            (f"{name.removesuffix('.txt')}:{user}", PASSWORDS[user.split("@", 1)[1]], hashed)
        )
    return rows


VERIFIED_FILES = ["htpasswd-apache.txt", "openssl.txt", "werkzeug.txt", "perl.txt", "argon2.txt"]
TOOL_ROWS = [row for name in VERIFIED_FILES for row in load_vectors(name)]
TOOL_VECTORS = [pytest.param(password, hashed, id=id_) for id_, password, hashed in TOOL_ROWS]
BY_ID = {id_: (password, hashed) for id_, password, hashed in TOOL_ROWS}
REFUSED_VECTORS = [
    pytest.param(password, hashed, id=id_)
    for id_, password, hashed in load_vectors("htpasswd-refused.txt")
]


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def same_first_72_bytes(password: str) -> str:
    """Another password whose UTF-8 shares the first 72 bytes of ``password``."""
    prefix = ""
    for char in password:
        if utf8_len(prefix) >= 72:
            break
        prefix += char
    return prefix + " (a different tail)"


# --- Real tools' output ------------------------------------------------------


def test_vector_files_cover_every_verified_format() -> None:
    schemes = {identify(hashed).scheme for _, _, hashed in TOOL_ROWS}
    assert schemes == set(SCHEMES) - {"plain"}
    assert len(TOOL_ROWS) > 150


@pytest.mark.parametrize(("password", "hashed"), TOOL_VECTORS)
def test_tool_vector_verifies_with_its_password(password: str, hashed: str) -> None:
    assert verify_password(password, hashed) is True


@pytest.mark.parametrize(("password", "hashed"), TOOL_VECTORS)
def test_tool_vector_refuses_a_wrong_password(password: str, hashed: str) -> None:
    assert verify_password("x" + password, hashed) is False
    if not (identify(hashed).scheme == "bcrypt" and utf8_len(password) >= 72):
        assert verify_password(password + "x", hashed) is False


LONG_VECTORS = [
    pytest.param(password, hashed, id=id_)
    for id_, password, hashed in TOOL_ROWS
    if utf8_len(password) > 72
]


@pytest.mark.parametrize(("password", "hashed"), LONG_VECTORS)
def test_only_bcrypt_ignores_bytes_after_the_72nd(password: str, hashed: str) -> None:
    # Apache's bcrypt (crypt_blowfish) reads 72 bytes, even mid-character;
    # every other format reads the whole password.
    other = same_first_72_bytes(password)
    assert other != password
    assert verify_password(other, hashed) is (identify(hashed).scheme == "bcrypt")


def test_passwords_are_not_normalised_again() -> None:
    # The caller NFC-normalises (RFC 7613 via RFC 7617 §2.1); a decomposed
    # password reaching this layer is different bytes, so it must not match.
    password, hashed = BY_ID["htpasswd-apache:sha512@umlaut"]
    decomposed = unicodedata.normalize("NFD", password)
    assert decomposed != password
    assert verify_password(decomposed, hashed) is False


@pytest.mark.parametrize(("password", "hashed"), REFUSED_VECTORS)
def test_refused_tool_output_raises_without_echoing_it(password: str, hashed: str) -> None:
    with pytest.raises(ValueError, match=r"plaintext \(htpasswd -p\)|DES crypt") as raised:
        verify_password(password, hashed)
    # The value may be a password in clear: it must not reach a log line.
    assert hashed not in str(raised.value)
    with pytest.raises(ValueError, match=re.escape(str(raised.value))):
        identify(hashed)


# --- Published vectors: Drepper, "Unix crypt using SHA-256 and SHA-512" -----

# (password, expected output) from the specification's test suite; the
# salts of more than 16 characters there appear truncated in the output.
DREPPER = [
    pytest.param(
        "Hello world!",
        "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
        id="sha256-default-rounds",
    ),
    pytest.param(
        "Hello world!",
        "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA",
        id="sha256-rounds-10000",
    ),
    pytest.param(
        "This is just a test",
        "$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5",
        id="sha256-rounds-5000-explicit",
    ),
    pytest.param(
        "a very much longer text to encrypt.  This one even stretches over morethan one line.",
        "$5$rounds=1400$anotherlongsalts$Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1",
        id="sha256-rounds-1400",
    ),
    pytest.param(
        "we have a short salt string but not a short password",
        "$5$rounds=77777$short$JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/",
        id="sha256-rounds-77777",
    ),
    pytest.param(
        "a short string",
        "$5$rounds=123456$asaltof16chars..$gP3VQ/6X7UUEW3HkBn2w1/Ptq2jxPyzV/cZKmF/wJvD",
        id="sha256-rounds-123456",
    ),
    pytest.param(
        "the minimum number is still observed",
        "$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC",
        id="sha256-rounds-10-clamped",
    ),
    pytest.param(
        "Hello world!",
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
        id="sha512-default-rounds",
    ),
    pytest.param(
        "Hello world!",
        "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
        id="sha512-rounds-10000",
    ),
    pytest.param(
        "This is just a test",
        "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0",
        id="sha512-rounds-5000-explicit",
    ),
    pytest.param(
        "a very much longer text to encrypt.  This one even stretches over morethan one line.",
        "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1",
        id="sha512-rounds-1400",
    ),
    pytest.param(
        "we have a short salt string but not a short password",
        "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0",
        id="sha512-rounds-77777",
    ),
    pytest.param(
        "a short string",
        "$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1",
        id="sha512-rounds-123456",
    ),
    pytest.param(
        "the minimum number is still observed",
        "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.",
        id="sha512-rounds-10-clamped",
    ),
]


@pytest.mark.parametrize(("password", "hashed"), DREPPER)
def test_drepper_vector(password: str, hashed: str) -> None:
    assert verify_password(password, hashed) is True
    assert verify_password(password.upper(), hashed) is False


@pytest.mark.parametrize(
    "hashed",
    [
        "$5$rounds=10$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC",
        "$6$rounds=10$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.",
    ],
    ids=["sha256", "sha512"],
)
def test_rounds_below_1000_mean_1000(hashed: str) -> None:
    # Drepper: "If the value is less than 1000 ... use 1000" (and the output
    # then says rounds=1000, which is the vector verified above).
    assert identify(hashed).cost == 1000
    assert verify_password("the minimum number is still observed", hashed) is True


def test_rounds_above_the_maximum_are_clamped() -> None:
    hashed = "$6$rounds=12345678901$salt$" + "a" * 85 + "."
    assert identify(hashed).cost == 999_999_999  # identify only: no 10^9 rounds here


# --- Our hashes, checked by the real tools ------------------------------------

CROSS_PASSWORD = "pässwörd 🔐 with: colons"

HTPASSWD = shutil.which("htpasswd")
OPENSSL = shutil.which("openssl")
PERL = shutil.which("perl")
needs_htpasswd = pytest.mark.skipif(HTPASSWD is None, reason="Apache htpasswd is not installed")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")
needs_perl = pytest.mark.skipif(PERL is None, reason="perl is not installed")


def htpasswd_verify(path: Path, user: str, password: str) -> int:
    result = subprocess.run(
        [str(HTPASSWD), "-vb", str(path), user, password],
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    return result.returncode


@needs_htpasswd
@pytest.mark.parametrize(
    "scheme", ["bcrypt", "sha512-crypt", "sha256-crypt", "apr1", "md5-crypt", "sha1"]
)
def test_htpasswd_accepts_our_hash(scheme: str, tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    path.write_text(f"alice:{hash_password(CROSS_PASSWORD, scheme)}\n", encoding="utf-8")
    assert htpasswd_verify(path, "alice", CROSS_PASSWORD) == 0
    assert htpasswd_verify(path, "alice", CROSS_PASSWORD + "!") != 0


@needs_openssl
@pytest.mark.parametrize(
    ("scheme", "option"),
    [("md5-crypt", "-1"), ("apr1", "-apr1"), ("sha256-crypt", "-5"), ("sha512-crypt", "-6")],
)
def test_openssl_makes_our_hash_from_our_salt(scheme: str, option: str) -> None:
    ours = hash_password(CROSS_PASSWORD, scheme)
    salt = ours.split("$")[-2]
    theirs = subprocess.run(
        [str(OPENSSL), "passwd", option, "-salt", salt, CROSS_PASSWORD],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=TIMEOUT,
        check=True,
    ).stdout.strip()
    assert theirs == ours


# {SSHA} as nginx and OpenLDAP read it: base64(SHA-1(password + salt) + salt).
PERL_SSHA_CHECK = r"""
use Digest::SHA qw(sha1); use MIME::Base64;
my ($password, $hash) = @ARGV;
my $raw = decode_base64(substr($hash, 6));
exit(sha1($password . substr($raw, 20)) eq substr($raw, 0, 20) ? 0 : 1);
"""


@needs_perl
def test_perl_digest_sha_accepts_our_ssha() -> None:
    hashed = hash_password(CROSS_PASSWORD, "ssha")

    def perl(password: str) -> int:
        command = [str(PERL), "-e", PERL_SSHA_CHECK, password, hashed]
        return subprocess.run(command, capture_output=True, timeout=TIMEOUT, check=False).returncode

    assert perl(CROSS_PASSWORD) == 0
    assert perl(CROSS_PASSWORD + "!") == 1


@pytest.mark.parametrize("scheme", ["pbkdf2", "scrypt"])
def test_werkzeug_accepts_our_hash(scheme: str) -> None:
    security = pytest.importorskip("werkzeug.security")
    hashed = hash_password(CROSS_PASSWORD, scheme)
    assert security.check_password_hash(hashed, CROSS_PASSWORD) is True
    assert security.check_password_hash(hashed, CROSS_PASSWORD + "!") is False


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
