"""Throttle keys: client addresses (IPv6 /64) and hashed usernames."""

from __future__ import annotations

import hashlib

import pytest
from helpers import CLIENT, Clock, Recorder, auth, make

from basicauth_wsgi.throttle import (
    Throttle,
    client_key,
    user_key,
)

from .support import OTHER, T0, USERS, CountingUsers, at, attack_admin, fail, memory

# -- keys -------------------------------------------------------------------

CLIENT_KEYS = [
    ("192.0.2.10", "c192.0.2.10", "ipv4"),
    ("::ffff:192.0.2.10", "c192.0.2.10", "ipv4-mapped"),
    ("::FFFF:c000:020a", "c192.0.2.10", "ipv4-mapped-hex"),
    ("2001:db8::1", "c2001:db8::/64", "ipv6"),
    ("2001:db8:0:0:ffff:ffff:ffff:ffff", "c2001:db8::/64", "ipv6-end-of-the-64"),
    ("2001:0DB8:0000:0001:0000:0000:0000:0001", "c2001:db8:0:1::/64", "ipv6-expanded"),
    ("fe80::1%eth0", "cfe80::/64", "ipv6-with-a-zone"),
    ("::1", "c::/64", "ipv6-loopback"),
    ("-", "c-", "no-address"),
    ("not:an:address", "cnot:an:address", "garbage-with-colons"),
    (":" * 100, "c" + ":" * 64, "long-garbage-with-colons"),
]


@pytest.mark.parametrize(
    ("address", "key"), [k[:2] for k in CLIENT_KEYS], ids=[k[2] for k in CLIENT_KEYS]
)
def test_client_key(address: str, key: str) -> None:
    assert client_key(address) == key


LONG_NAME = "x" * 65

USER_KEYS = [
    ("admin", "uadmin", "short"),
    ("", "u", "empty"),
    ("é" * 64, "u" + "é" * 64, "64-characters"),
    ("x" * 64, "u" + "x" * 64, "64-ascii"),
    (LONG_NAME, "u#" + hashlib.blake2b(LONG_NAME.encode(), digest_size=16).hexdigest(), "65"),
]


@pytest.mark.parametrize(("name", "key"), [k[:2] for k in USER_KEYS], ids=[k[2] for k in USER_KEYS])
def test_user_key(name: str, key: str) -> None:
    assert user_key(name) == key


def test_long_usernames_get_distinct_bounded_keys() -> None:
    keys = {user_key(f"{i:06d}" + "x" * 6000) for i in range(100)}
    assert len(keys) == 100
    assert {len(key) for key in keys} == {2 + 32}  # "u#" and 16 bytes in hex


def test_an_ipv6_slash_64_shares_one_client_count(inner: Recorder) -> None:
    users = CountingUsers()
    app = make(
        inner, users, throttle=Throttle(per_client=3, per_user=0, clock=Clock(T0)), cache=None
    )
    fail(app, 3, addr="2001:db8::1")
    # Another address of the same /64: an attacker gets no fresh key from it.
    app.get("/", headers=auth(), extra_environ=at("2001:db8::ffff:2"), status=429)
    app.get("/", headers=auth(), extra_environ=at("2001:db8::1"), status=429)
    assert len(users.calls) == 3
    # The next /64 is another client.
    res = app.get("/", headers=auth(), extra_environ=at("2001:db8:0:1::1"), status=200)
    assert res.json["remote_user"] == "admin"


@pytest.mark.parametrize(
    ("failing", "probing"),
    [(CLIENT, "::ffff:" + CLIENT), ("::ffff:" + CLIENT, CLIENT)],
    ids=["ipv4-then-mapped", "mapped-then-ipv4"],
)
def test_an_ipv4_mapped_address_shares_its_ipv4_count(
    inner: Recorder, failing: str, probing: str
) -> None:
    app = make(
        inner, USERS, throttle=Throttle(per_client=3, per_user=0, clock=Clock(T0)), cache=None
    )
    fail(app, 3, addr=failing)
    app.get("/", headers=auth(), extra_environ=at(probing), status=429)
    app.get("/", headers=auth(), extra_environ=at("::ffff:" + OTHER), status=200)


def test_a_login_exempts_its_whole_slash_64_from_the_user_limit(inner: Recorder) -> None:
    clock = Clock(T0)
    throttle = Throttle(per_client=20, per_user=5, clock=clock)
    app = make(inner, USERS, throttle=throttle, cache=None)
    app.get("/", headers=auth(), extra_environ=at("2001:db8::1"), status=200)
    assert memory(throttle).trusted(
        "t" + client_key("2001:db8::1") + "\0" + user_key("admin"), clock.now
    )
    attack_admin(app)
    app.get("/", headers=auth(), extra_environ=at("2001:db8::2"), status=200)
    app.get("/", headers=auth(), extra_environ=at("2001:db8:1::1"), status=429)
