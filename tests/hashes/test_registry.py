"""basicauth_wsgi.hashes.registry: one record per format, and HashInfo.work.

``work`` estimates the CPU seconds one verification costs; a file's
largest is its slowest check, the one failures are padded to.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from basicauth_wsgi.hashes import SCHEMES, HashInfo, hash_password, identify
from basicauth_wsgi.hashes.registry import BY_TAG, FORMATS, Format

VECTORS = Path(__file__).resolve().parent / "vectors"
# Every file of hashes that verify (htpasswd-refused.txt holds ones that must not).
VECTOR_FILES = sorted(
    path.name for path in VECTORS.glob("*.txt") if path.name != "htpasswd-refused.txt"
)


def vector_rows() -> list[object]:
    rows = []
    for name in VECTOR_FILES:
        for line in (VECTORS / name).read_text("utf-8").splitlines():
            if line and not line.startswith("#"):
                user, hashed = line.split(":", 1)
                rows.append(pytest.param(hashed, id=f"{name.removesuffix('.txt')}:{user}"))
    return rows


# Hashes whose cost field is substituted; identify() reads syntax only, so
# the digests need not be real.
BCRYPT = "$2y${:02d}$qVAA9cXetHmr6FH9Abc6SOFeTE0wRyXZ0KAmuC53KnFPd8xPTRjN6"
SHA512 = "$6$rounds={}$saltsalt$" + "." * 86
SHA256 = "$5$rounds={}$saltsalt$" + "." * 43
PBKDF2_SHA256 = "pbkdf2:sha256:{}$salt$" + "0" * 64
PBKDF2_SHA1 = "pbkdf2:sha1:{}$salt$" + "0" * 40
PBKDF2_SHA512 = "pbkdf2:sha512:{}$salt$" + "0" * 128
SCRYPT_N = "scrypt:{}:8:1$salt$" + "0" * 128
SCRYPT_R = "scrypt:16384:{}:1$salt$" + "0" * 128
SCRYPT_P = "scrypt:16384:8:{}$salt$" + "0" * 128
ARGON2_T = "$argon2id$v=19$m=65536,t={},p=4$" + "A" * 22 + "$" + "A" * 43
ARGON2_M = "$argon2id$v=19$m={},t=3,p=4$" + "A" * 22 + "$" + "A" * 43

GROWS = [
    pytest.param(BCRYPT, 10, 12, id="bcrypt-cost"),
    pytest.param(SHA512, 5000, 10000, id="sha512-crypt-rounds"),
    pytest.param(SHA256, 5000, 10000, id="sha256-crypt-rounds"),
    pytest.param(PBKDF2_SHA256, 600_000, 1_000_000, id="pbkdf2-sha256-iterations"),
    pytest.param(PBKDF2_SHA1, 600_000, 1_300_000, id="pbkdf2-sha1-iterations"),
    pytest.param(PBKDF2_SHA512, 210_000, 600_000, id="pbkdf2-sha512-iterations"),
    pytest.param(SCRYPT_N, 16384, 32768, id="scrypt-n"),
    pytest.param(SCRYPT_R, 8, 16, id="scrypt-r"),
    pytest.param(SCRYPT_P, 1, 2, id="scrypt-p"),
    pytest.param(ARGON2_T, 2, 3, id="argon2id-t"),
    pytest.param(ARGON2_M, 19456, 65536, id="argon2id-m"),
]


@pytest.mark.parametrize(("template", "low", "high"), GROWS)
def test_work_grows_with_cost(template: str, low: int, high: int) -> None:
    cheap, dear = identify(template.format(low)), identify(template.format(high))
    assert cheap.scheme == dear.scheme
    assert 0 < cheap.work < dear.work


def test_work_orders_schemes_by_their_cost() -> None:
    bcrypt_12 = identify(BCRYPT.format(12)).work
    sha512_default = identify(hash_password("pw", "sha512-crypt")).work
    apr1 = identify(hash_password("pw", "apr1")).work
    sha1 = identify(hash_password("pw", "sha1")).work
    assert bcrypt_12 > sha512_default > apr1 > sha1 > 0


@pytest.mark.parametrize(
    ("hashed", "seconds"),
    [
        pytest.param(BCRYPT.format(12), 0.234, id="bcrypt-12"),
        pytest.param(SHA512.format(5000), 2.5e-3, id="sha512-crypt-5000"),
        pytest.param(SHA256.format(5000), 2.1e-3, id="sha256-crypt-5000"),
        pytest.param(PBKDF2_SHA256.format(600_000), 0.138, id="pbkdf2-sha256-600000"),
        pytest.param(SCRYPT_N.format(32768), 93e-3, id="scrypt-32768-8-1"),
        pytest.param(ARGON2_T.format(3), 110e-3, id="argon2id-t3-m65536-p4"),
    ],
)
def test_work_matches_the_calibration_points(hashed: str, seconds: float) -> None:
    assert identify(hashed).work == pytest.approx(seconds)


@pytest.mark.parametrize("hashed", vector_rows())
def test_every_vector_has_positive_work(hashed: str) -> None:
    assert identify(hashed).work > 0


def test_hash_info_equality_ignores_the_work_estimate() -> None:
    info = identify(BCRYPT.format(12))
    assert info.work > 0
    assert info == HashInfo("bcrypt", 12, None)
    assert hash(info) == hash(HashInfo("bcrypt", 12, None))
    assert info != HashInfo("bcrypt", 11, None)


def test_schemes_and_tags_come_from_the_one_table() -> None:
    assert tuple(fmt.scheme for fmt in FORMATS) == SCHEMES
    assert len(set(SCHEMES)) == len(SCHEMES)
    tags = [tag for fmt in FORMATS for tag in fmt.tags]
    assert len(tags) == len(set(tags)) == len(BY_TAG)


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda fmt: fmt.scheme)
def test_each_tag_selects_its_format(fmt: Format) -> None:
    for tag in fmt.tags:
        assert BY_TAG[tag] is fmt
