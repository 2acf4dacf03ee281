"""Throttle keys: exact (no alias), bounded (no matter what was sent), no password in them."""

from __future__ import annotations

import gc
import hashlib
import tracemalloc

import pytest
from helpers import Clock, Recorder, auth, make

from basicauth_wsgi.throttle import (
    Throttle,
    ThrottleStore,
    Ticket,
    client_key,
    password_key,
    user_key,
)
from basicauth_wsgi.throttle.keys import repeat_key, trust_key

from .support import OTHER, T0, USERS, CountingUsers, at, attack_admin, fail, memory, wrong

SECRET = b"s" * 32

# -- addresses ----------------------------------------------------------------

CLIENT_KEYS = [
    ("192.0.2.10", "c192.0.2.10", "ipv4"),
    ("::ffff:192.0.2.10", "c192.0.2.10", "ipv4-mapped"),
    ("::FFFF:c000:020a", "c192.0.2.10", "ipv4-mapped-hex"),
    ("::ffff:192.0.2.11", "c192.0.2.11", "another-ipv4-mapped"),
    ("2001:db8::1", "c2001:db8::/64", "ipv6"),
    ("2001:db8:0:0:ffff:ffff:ffff:ffff", "c2001:db8::/64", "ipv6-end-of-the-64"),
    ("2001:0DB8:0000:0001:0000:0000:0000:0001", "c2001:db8:0:1::/64", "ipv6-expanded"),
    ("fe80::1%eth0", "cfe80::/64", "ipv6-with-a-zone"),
    ("::1", "c::/64", "ipv6-loopback"),
    ("-", "cinvalid", "no-address"),
    ("", "cinvalid", "empty"),
    ("not:an:address", "cinvalid", "garbage-with-colons"),
    ("192.0.2.10, 198.51.100.7", "cinvalid", "a-forwarded-list"),
    ("192.0.2.10\n", "cinvalid", "a-newline"),
    (":" * 100, "cinvalid", "long-garbage-with-colons"),
    ("1" * 60_000, "cinvalid", "60-kb"),
]


@pytest.mark.parametrize(
    ("address", "key"), [k[:2] for k in CLIENT_KEYS], ids=[k[2] for k in CLIENT_KEYS]
)
def test_client_key(address: str, key: str) -> None:
    assert client_key(address) == key


def test_ipv4_mapped_clients_are_counted_apart(inner: Recorder) -> None:
    # What a dual-stack socket (or a proxy's X-Forwarded-For) hands over for
    # IPv4 clients: each is its own IPv4 address, not one shared "::ffff" key.
    users = CountingUsers()
    throttle = Throttle(per_client=3, per_user=0, clock=Clock(T0))
    app = make(inner, users, throttle=throttle, cache=None)
    fail(app, 3, addr="::ffff:203.0.113.1")
    app.get("/", headers=auth(), extra_environ=at("::ffff:203.0.113.1"), status=429)
    app.get("/", headers=auth(), extra_environ=at("203.0.113.1"), status=429)
    app.get("/", headers=auth(), extra_environ=at("::ffff:203.0.113.2"), status=200)
    assert [key for key in memory(throttle)._counts if key[0] == "c"] == ["c203.0.113.1"]


def test_every_address_that_is_no_ip_shares_one_key() -> None:
    throttle = Throttle(per_client=3, per_user=0, clock=Clock(T0))
    for junk in ("-", "evil\r\nforged", "x" * 60_000):
        throttle.failure(junk, None)
    assert throttle.check_client("anything else") is not None
    assert throttle.check_client("192.0.2.1") is None
    assert [key for key in memory(throttle)._counts if key[0] == "c"] == ["cinvalid"]


def test_60_kb_addresses_keep_memory_flat() -> None:
    # A proxy trusted for X-Forwarded-For hands over whatever text a client
    # sent: 60 KB of it must cost what "invalid" costs, in the counts, the
    # trusted pairs, the memos of the key functions and the throttle's own.
    addresses = [f"{i:08d}" + "9" * 60_000 for i in range(1200)]
    throttle = Throttle(per_client=20, per_user=100, clock=Clock(T0))

    def attack(batch: list[str]) -> None:
        for n, address in enumerate(batch):
            throttle.check_client(address)
            ticket = throttle.reserve(address, "admin", "guess", "Basic Z3Vlc3M=")
            if isinstance(ticket, Ticket):
                throttle.settle(ticket, n % 2 == 0)
            throttle.success(address, "admin")
            throttle.trusts(address, "admin", ask_store=True)

    attack(addresses[:50])  # the memos and tables exist before measuring
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        attack(addresses[50:250])
        gc.collect()
        after_200 = tracemalloc.get_traced_memory()[0] - base
        attack(addresses[250:])
        gc.collect()
        after_1150 = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    # 950 more addresses of 60 KB (57 MB of text) leave nothing that lasts.
    assert after_1150 < after_200 + 64 * 1024, (after_200, after_1150)
    # cinvalid, uadmin, the password's tag, one marker, one trusted pair.
    assert len(memory(throttle)) <= 5


# -- usernames --------------------------------------------------------------

LONG_NAME = "x" * 65


def long_key(name: str) -> str:
    digest = hashlib.blake2b(name.encode(), key=SECRET, digest_size=32, person=b"username")
    return "h" + digest.hexdigest()


USER_KEYS = [
    ("admin", "uadmin", "short"),
    ("", "u", "empty"),
    ("é" * 64, "u" + "é" * 64, "64-characters"),
    ("x" * 64, "u" + "x" * 64, "64-ascii"),
    (LONG_NAME, long_key(LONG_NAME), "65"),
]


@pytest.mark.parametrize(("name", "key"), [k[:2] for k in USER_KEYS], ids=[k[2] for k in USER_KEYS])
def test_user_key(name: str, key: str) -> None:
    assert user_key(name, SECRET) == key


def test_long_usernames_get_distinct_bounded_keys() -> None:
    keys = {user_key(f"{i:06d}" + "x" * 6000, SECRET) for i in range(100)}
    assert len(keys) == 100
    assert {len(key) for key in keys} == {1 + 64}  # "h" and a 256-bit digest in hex


def test_a_long_names_key_depends_on_the_secret() -> None:
    assert user_key(LONG_NAME, SECRET) != user_key(LONG_NAME, b"t" * 32)


#: A 70-character user, and the 33-character name that spelled its key before
#: ("u#" + 32 hex digits of an unkeyed 128-bit digest).
SEVENTY = "firstname.lastname.department.division.company.example.org.long.users1"
assert len(SEVENTY) == 70
SPELLER = "#" + hashlib.blake2b(SEVENTY.encode(), digest_size=16).hexdigest()
assert len(SPELLER) == 33


def test_no_short_name_spells_a_long_names_key(store: ThrottleStore) -> None:
    # Five failures of the short name must not block the long one (per_user=5).
    users = CountingUsers({SEVENTY: "its-password", "admin": "SuperSecretPwd"})
    throttle = Throttle(per_client=0, per_user=5, store=store, clock=Clock(T0))
    app = make(Recorder(), users, throttle=throttle, cache=None)
    for i in range(5):
        fail(app, 1, addr=f"203.0.113.{i}", username=SPELLER)
    app.get("/", headers=auth(SPELLER, wrong()), extra_environ=at(OTHER), status=429)
    res = app.get("/", headers=auth(SEVENTY, "its-password"), extra_environ=at(OTHER), status=200)
    assert res.json["remote_user"] == SEVENTY
    # And the other way round: five failures of the long name block it alone.
    for i in range(5):
        fail(app, 1, addr=f"198.51.100.{i}", username=SEVENTY)
    app.get("/", headers=auth(SEVENTY, "its-password"), extra_environ=at("192.0.2.99"), status=429)
    app.get("/", headers=auth(SPELLER[:-1], wrong()), extra_environ=at("192.0.2.99"), status=401)


# -- passwords and headers -----------------------------------------------------


def test_password_and_repeat_keys_hold_32_bits_of_a_keyed_hash() -> None:
    tag = password_key("Summer2026!", SECRET)
    assert tag[0] == "p" and len(tag) == 1 + 8 and int(tag[1:], 16) < 2**32
    assert tag != password_key("Summer2026!", b"t" * 32)  # keyed
    assert tag != password_key("Summer2026?", SECRET)
    marker = repeat_key("192.0.2.1", "Basic c3RhbGU6cGFzcw==", SECRET)
    ip, _, digest = marker[1:].partition("\0")
    assert (ip, len(digest)) == ("192.0.2.1", 8)
    assert repeat_key("::ffff:192.0.2.1", "Basic c3RhbGU6cGFzcw==", SECRET) == marker


def test_a_trust_key_splits_one_way() -> None:
    assert trust_key("::ffff:192.0.2.1", "admin", SECRET) == "tc192.0.2.1\0uadmin"
    assert trust_key("-", "admin", SECRET) == "tcinvalid\0uadmin"


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
    [("192.0.2.10", "::ffff:192.0.2.10"), ("::ffff:192.0.2.10", "192.0.2.10")],
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
    store = memory(throttle)
    assert store.trusted(trust_key("2001:db8::1", "admin", store.secret()), clock.now)
    attack_admin(app)
    app.get("/", headers=auth(), extra_environ=at("2001:db8::2"), status=200)
    app.get("/", headers=auth(), extra_environ=at("2001:db8:1::1"), status=429)
