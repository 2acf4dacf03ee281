"""basicauth_wsgi.hashes against real tools' output and published vectors.

The vectors in tests/hashes/vectors/ were made by Apache's htpasswd, openssl,
Werkzeug, argon2-cffi and perl's crypt() (libxcrypt); each file's header
names the command (regenerate with tests/hashes/make_vectors.py). Where a tool
is installed, our own hashes are also fed back to it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest

from basicauth_wsgi.hashes import (
    SCHEMES,
    hash_password,
    identify,
    verify_password,
)

from .support import (
    BY_ID,
    CROSS_PASSWORD,
    REFUSED_VECTORS,
    TIMEOUT,
    TOOL_ROWS,
    TOOL_VECTORS,
    same_first_72_bytes,
    utf8_len,
)

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
