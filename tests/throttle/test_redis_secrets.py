"""What Redis holds after an attack: no password, no digest to brute-force, one shared secret.

Every key and value of a real redis-server is scanned after a spraying
attack through the middleware: no password (nor the ``user:password`` pair,
nor its base64 header) appears, nor any unkeyed digest of one; the parts
derived from a password are 32-bit tags. The deployment's secret is made
once, shared by every process, and survives the loss of Redis's copy.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import webtest
from helpers import auth, basic
from redisserver import RedisServer

from basicauth_wsgi import BasicAuth, HashedUsers, Throttle, VerificationCache
from basicauth_wsgi.hashes import hash_password
from basicauth_wsgi.throttle import Ticket, password_key

from .support import at

redis = pytest.importorskip("redis") if not os.environ.get("CI") else __import__("redis")
from basicauth_wsgi.throttle.redis import RedisStore  # noqa: E402

PASSWORDS = ["Summer2026!", "Winter2026!", "Password1", "hunter2", "correct horse"]
USERS = [f"user{n}" for n in range(40)]
RIGHT = {"user7": "Password1"}  # one of the sprayed passwords is user7's


def ok(environ: dict[str, object], start_response: Callable[..., object]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


@pytest.fixture
def stores(redis_url: str) -> Iterator[Callable[[], RedisStore]]:
    made: list[RedisStore] = []

    def make() -> RedisStore:
        store = RedisStore.from_url(redis_url)
        made.append(store)
        return store

    try:
        yield make
    finally:
        for store in made:
            store.close()


def forms(secret: str) -> set[bytes]:
    """Every spelling of ``secret`` that must not be in Redis: itself, encoded, unkeyed digests."""
    raw = secret.encode()
    spelled = {raw, base64.b64encode(raw), raw.hex().encode()}
    for name in ("md5", "sha1", "sha256", "sha512", "blake2b", "blake2s"):
        digest = hashlib.new(name, raw).digest()
        spelled |= {digest, digest.hex().encode(), base64.b64encode(digest)}
        # A truncated unkeyed digest is as searchable as the whole one.
        spelled |= {digest.hex()[:8].encode(), digest.hex()[:16].encode()}
    return spelled


def flatten(value: Any) -> list[bytes]:
    if isinstance(value, bytes):
        return [value]
    if isinstance(value, dict):
        return [part for pair in value.items() for item in pair for part in flatten(item)]
    if isinstance(value, (list, tuple)):
        return [part for item in value for part in flatten(item)]
    return [str(value).encode()]


# What a key may be, after the prefix and the hash tag: the blocked set, the
# secret, counts of an address, a short or hashed username, a password's tag,
# a header's mark, and trusted pairs.
KEY_SHAPES = re.compile(
    rb"basicauth:\{throttle\}:(blocked|secret"
    rb"|k:c[0-9a-f.:/]+|k:u[\w.-]*|k:h[0-9a-f]{64}|k:p[0-9a-f]{8}|k:r[0-9a-f.:/]+\x00[0-9a-f]{8}"
    rb"|t:tc[0-9a-f.:/]+\x00(u[\w.-]*|h[0-9a-f]{64}))"
)


def test_after_a_spraying_attack_redis_holds_no_password(
    redis_server: RedisServer, stores: Callable[[], RedisStore]
) -> None:
    store = stores()
    assert store.ready(5.0)
    entries = {user: hash_password(RIGHT.get(user, "unguessable-" + user), "sha256-crypt")
               for user in USERS}  # fmt: skip
    throttle = Throttle(per_password=10, store=store)
    # The cache is on (as by default for hashed stores): refusals it remembers count too.
    app = webtest.TestApp(
        BasicAuth(ok, HashedUsers(entries), throttle=throttle, cache=VerificationCache())
    )
    statuses = []
    for n, (user, password) in enumerate((u, p) for p in PASSWORDS for u in USERS):
        response = app.get(
            "/", headers=auth(user, password), extra_environ=at(f"10.0.{n // 250}.{n % 250}"),
            expect_errors=True,
        )  # fmt: skip
        statuses.append(response.status_int)
    assert statuses.count(401) == 10 * len(PASSWORDS)  # per_password checks of each, at most
    # A stale client repeating itself, a long username, a trusted login.
    for _ in range(5):
        app.get("/", headers=auth("user3", "Summer2025!"), extra_environ=at("10.9.0.1"),
                status=401)  # fmt: skip
    app.get("/", headers=auth("x" * 80, "hunter2"), extra_environ=at("10.9.0.2"), status=429)
    app.get("/", headers=auth("x" * 80, "hunter3"), extra_environ=at("10.9.0.2"), status=401)
    # user7 logged in during the spray (n = 2 * 40 + 7): from there the cache
    # still lets them in; from elsewhere their sprayed password is refused.
    app.get("/", headers=auth("user7", "Password1"), extra_environ=at("10.0.0.87"), status=200)
    app.get("/", headers=auth("user7", "Password1"), extra_environ=at("10.0.0.7"), status=429)

    everything = redis_server.everything()
    assert everything, "the attack left nothing to scan"
    forbidden: set[bytes] = set()
    for password in [*PASSWORDS, "Summer2025!", "hunter3"]:
        forbidden |= forms(password)
        for user in [*USERS, "x" * 80]:
            forbidden |= forms(f"{user}:{password}")
            forbidden.add(basic(user, password).encode())
    texts = [key for key in everything] + [
        v for value in everything.values() for v in flatten(value)
    ]
    leaks = [(text[:60], bad[:20]) for text in texts for bad in forbidden if bad in text]
    assert leaks == []
    # Nothing but the known shapes, and a password's parts are 32-bit tags.
    assert [key for key in everything if not KEY_SHAPES.fullmatch(key)] == []
    tags = [key for key in everything if key.startswith(b"basicauth:{throttle}:k:p")]
    assert len(tags) == len(PASSWORDS) + 2  # every password that failed: a tag each
    # The secret is there (so the tags are keyed), and is not a password.
    assert everything[b"basicauth:{throttle}:secret"] == {b"s": store.secret()}
    # The process's own view keeps names only, and no password either.
    view = " ".join(store._view)
    assert not [p for p in PASSWORDS if p in view]


def test_every_process_keys_with_one_secret(stores: Callable[[], RedisStore]) -> None:
    first, second = stores(), stores()
    assert first.ready(5.0) and second.ready(5.0)
    assert first.secret() == second.secret()
    assert len(first.secret()) >= 32
    # Therefore a password counted in one process blocks it in the other.
    one = Throttle(per_password=2, store=first)
    other = Throttle(per_password=2, store=second)
    for n in range(2):
        one.failure(f"10.0.0.{n}", f"user{n}", "Summer2026!")
    verdict = other.reserve("10.0.1.1", "user9", "Summer2026!", basic("user9", "Summer2026!"))
    assert not isinstance(verdict, Ticket) and verdict.limit == "password"


def test_a_lost_secret_is_put_back_by_a_process_that_holds_it(
    redis_server: RedisServer, stores: Callable[[], RedisStore]
) -> None:
    store = stores()
    assert store.ready(5.0)
    secret = store.secret()
    assert redis_server.command("FLUSHDB") == "+OK"  # a restart without persistence
    throttle = Throttle(per_password=3, store=store)
    assert isinstance(throttle.reserve("10.0.0.1", "u", "pw", "Basic x"), Ticket)
    assert redis_server.client().hget("basicauth:{throttle}:secret", "s") == secret
    # A process started now adopts it: the two still count as one.
    later = stores()
    assert later.ready(5.0)
    assert later.secret() == secret


def test_a_process_keying_with_another_secret_adopts_the_shared_one_and_counts_once(
    redis_server: RedisServer, stores: Callable[[], RedisStore]
) -> None:
    store = stores()
    assert store.ready(5.0)
    shared = b"f" * 64
    # Another process won the race after Redis lost its copy.
    redis_server.client().hset("basicauth:{throttle}:secret", "s", shared)
    throttle = Throttle(per_password=3, store=store)
    ticket = throttle.reserve("10.0.0.1", "u", "pw", "Basic x")
    assert isinstance(ticket, Ticket)
    assert store.secret() == shared
    assert ticket.keys[-1][0] == password_key("pw", shared)
    throttle.settle(ticket, False)
    # Counted once, under the shared secret's tag.
    everything = redis_server.everything()
    tag = b"basicauth:{throttle}:k:" + password_key("pw", shared).encode()
    assert sum(int(v) for f, v in everything[tag].items() if f != b"l") == 1
    assert len([k for k in everything if b":k:p" in k]) == 1
