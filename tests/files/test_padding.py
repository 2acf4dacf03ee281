"""HashedUsers: every failure costs one check of every kind of hash in the store (SPEC §4).

What is asserted is the work done, counted by kind of hash, not the time it
took: the hash functions are the real ones, watched by a spy.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator

import pytest
from helpers import Recorder, basic, call

import basicauth_wsgi.hashes as hashes
from basicauth_wsgi import BasicAuth, HashedUsers
from basicauth_wsgi.hashes import hash_password, identify


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Every hash checked, by scheme and cost, while the real check runs."""
    seen: Counter[str] = Counter()
    real = hashes.verify_bytes

    def spy(secret: bytes, hashed: str) -> bool:
        info = identify(hashed)
        seen[f"{info.scheme}-{info.cost}"] += 1
        return real(secret, hashed)

    monkeypatch.setattr(hashes, "verify_bytes", spy)
    yield seen


BCRYPT = hash_password("bcrypt-pw", "bcrypt")  # cost 12: the slowest kind
SHA512 = hash_password("sha-pw", "sha512-crypt")  # 5000 rounds: 1% of bcrypt's cost
APR1 = hash_password("apr1-pw", "apr1")  # under 1% of bcrypt's cost


@pytest.fixture(scope="module")
def mixed() -> HashedUsers:
    return HashedUsers({"bee": BCRYPT, "sha": SHA512, "apr": APR1})


KIND_BCRYPT = f"bcrypt-{identify(BCRYPT).cost}"
KIND_SHA = f"sha512-crypt-{identify(SHA512).cost}"
KIND_APR1 = f"apr1-{identify(APR1).cost}"


@pytest.mark.parametrize(
    "username",
    ["bee", "sha", "apr", "nobody"],
    ids=["bcrypt-user", "sha512-user", "apr1-user", "unknown-user"],
)
def test_every_failure_checks_every_kind_that_costs_something(
    mixed: HashedUsers, checks: Counter[str], username: str
) -> None:
    assert mixed.verify(username, "wrong") is None
    # One bcrypt and one sha512-crypt check whoever it is: the user's own
    # hash stands in for the dummy of its kind. apr1 is under 1% of the
    # slowest check, too cheap to tell apart: checked only for its users.
    expected = Counter({KIND_BCRYPT: 1, KIND_SHA: 1})
    if username == "apr":
        expected[KIND_APR1] = 1
    assert checks == expected


@pytest.mark.parametrize(
    ("username", "password", "kind"),
    [("bee", "bcrypt-pw", KIND_BCRYPT), ("sha", "sha-pw", KIND_SHA), ("apr", "apr1-pw", KIND_APR1)],
    ids=["bcrypt", "sha512", "apr1"],
)
def test_a_success_is_not_padded(
    mixed: HashedUsers, checks: Counter[str], username: str, password: str, kind: str
) -> None:
    assert mixed.verify(username, password) == username
    assert checks == Counter({kind: 1})


def test_a_store_of_one_kind_checks_once(checks: Counter[str]) -> None:
    users = HashedUsers(
        {"a": hash_password("x", "sha256-crypt"), "b": hash_password("y", "sha256-crypt")}
    )
    for name in ("a", "nobody"):
        users.verify(name, "wrong")
    assert sum(checks.values()) == 2


# -- raw latin-1 bytes (SPEC §4) ----------------------------------------------------


def sha1_of(raw: bytes) -> str:
    return "{SHA}" + base64.b64encode(hashlib.sha1(raw).digest()).decode()  # noqa: S324


def latin1_header(username: str, password: bytes) -> str:
    return "Basic " + base64.b64encode(username.encode() + b":" + password).decode()


def test_a_hash_of_the_raw_latin1_bytes_verifies_as_in_apache(inner: Recorder) -> None:
    # A client that sent "café" as latin-1 (0xE9), against a hash that was
    # made from those same bytes, as Apache's htpasswd would.
    app = BasicAuth(inner, HashedUsers({"zoe": sha1_of(b"caf\xe9")}))
    status, _, _ = call(app, "/", HTTP_AUTHORIZATION=latin1_header("zoe", b"caf\xe9"))
    assert status == "200 OK"
    assert inner.calls[0]["REMOTE_USER"] == "zoe"


def test_latin1_text_still_verifies_against_its_utf8_hash(inner: Recorder) -> None:
    app = BasicAuth(inner, HashedUsers({"zoe": hash_password("café", "sha256-crypt")}))
    for header in (latin1_header("zoe", b"caf\xe9"), basic("zoe", "café")):
        assert call(app, "/", HTTP_AUTHORIZATION=header)[0] == "200 OK"


def test_a_non_latin1_password_is_checked_once(checks: Counter[str]) -> None:
    users = HashedUsers({"a": hash_password("x", "sha256-crypt")})
    users.verify("a", "日本")  # no latin-1 spelling: one round
    users.verify("a", "wrong")
    assert sum(checks.values()) == 2


@pytest.mark.parametrize("username", ["a", "nobody"], ids=["known", "unknown"])
def test_the_second_round_costs_the_same_for_known_and_unknown_users(
    checks: Counter[str], username: str
) -> None:
    users = HashedUsers({"a": hash_password("x", "sha256-crypt")})
    assert users.verify(username, "café") is None
    assert sum(checks.values()) == 2  # UTF-8, then latin-1: at most two checks


@pytest.mark.skipif(shutil.which("htpasswd") is None, reason="Apache htpasswd not installed")
def test_apache_htpasswd_made_from_latin1_bytes_verifies(inner: Recorder) -> None:
    made = subprocess.run(
        [b"htpasswd", b"-nbm", b"bob", b"gr\xfcn"], capture_output=True, timeout=30, check=True
    ).stdout.decode("ascii")
    name, hashed = made.strip().split(":", 1)
    app = BasicAuth(inner, HashedUsers({name: hashed}))
    assert call(app, "/", HTTP_AUTHORIZATION=latin1_header("bob", b"gr\xfcn"))[0] == "200 OK"
    assert call(app, "/", HTTP_AUTHORIZATION=latin1_header("bob", b"grun"))[0].startswith("401")
