"""``hash_password(..., cost=, rounds=)``: the work factors of ``passwd -C`` and ``--rounds``."""

from __future__ import annotations

import pytest

from basicauth_wsgi.hashes import hash_password, identify, verify_password


@pytest.mark.parametrize(
    ("scheme", "kwargs", "prefix"),
    [
        ("bcrypt", {"cost": 4}, "$2y$04$"),
        ("bcrypt", {"cost": 11}, "$2y$11$"),
        ("sha512-crypt", {"rounds": 1000}, "$6$rounds=1000$"),
        ("sha256-crypt", {"rounds": 12345}, "$5$rounds=12345$"),
    ],
    ids=["bcrypt-4", "bcrypt-11", "sha512-1000", "sha256-12345"],
)
def test_work_factor_is_written_and_verifies(
    scheme: str, kwargs: dict[str, int], prefix: str
) -> None:
    hashed = hash_password("pässword", scheme, **kwargs)
    assert hashed.startswith(prefix)
    assert verify_password("pässword", hashed) and not verify_password("other", hashed)
    assert identify(hashed).scheme == scheme


@pytest.mark.parametrize(
    ("scheme", "kwargs", "message"),
    [
        ("bcrypt", {"cost": 3}, "cost must be from 4 to 31"),
        ("bcrypt", {"cost": 32}, "cost must be from 4 to 31"),
        ("apr1", {"cost": 10}, "cost applies to bcrypt only"),
        ("bcrypt", {"rounds": 5000}, "rounds applies to sha256-crypt and sha512-crypt only"),
        ("sha512-crypt", {"rounds": 999}, "rounds must be from 1000"),
        ("sha512-crypt", {"rounds": 1_000_000_000}, "rounds must be from 1000"),
    ],
    ids=["cost-low", "cost-high", "cost-apr1", "rounds-bcrypt", "rounds-low", "rounds-high"],
)
def test_bad_work_factor_is_a_value_error_naming_it(
    scheme: str, kwargs: dict[str, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        hash_password("pw", scheme, **kwargs)


def test_work_factor_must_be_an_int() -> None:
    with pytest.raises(TypeError, match="cost must be an int"):
        hash_password("pw", "bcrypt", cost="12")  # type: ignore[arg-type]
