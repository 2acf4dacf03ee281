"""VerificationCache, alone and inside BasicAuth (SPEC §4, verification cache)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from helpers import Clock, Recorder, basic, make

from basicauth_wsgi import BasicAuth, HashedUsers, PlainUsers, VerificationCache
from basicauth_wsgi.hashes import hash_password


class Counting:
    """A verifier that counts its calls; ``generation`` can be moved by hand."""

    cache_by_default = True

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users
        self.calls = 0
        self.generation = 0

    def verify(self, username: str, password: str) -> str | None:
        self.calls += 1
        return username if self.users.get(username) == password else None


def test_positive_result_is_cached() -> None:
    store = Counting({"admin": "pw"})
    app = make(Recorder(), store, validate=False, client=None)
    for _ in range(5):
        assert (
            app.get("/", headers={"Authorization": basic("admin", "pw")}).json["remote_user"]
            == "admin"
        )
    assert store.calls == 1


def test_negative_result_is_cached_and_still_logged(caplog: pytest.LogCaptureFixture) -> None:
    store = Counting({"admin": "pw"})
    app = make(Recorder(), store, validate=False, client=None)
    with caplog.at_level("WARNING", logger="basicauth_wsgi"):
        for _ in range(3):
            app.get("/", headers={"Authorization": basic("admin", "bad")}, status=401)
    assert store.calls == 1
    assert len(caplog.records) == 3


def test_principal_comes_back_from_the_cache() -> None:
    class Directory(Counting):
        def verify(self, username: str, password: str) -> Any:
            self.calls += 1
            return {"cn": username} if password == "pw" else None

    store = Directory({})
    app = make(Recorder(), store, validate=False, client=None)
    first = app.get("/", headers={"Authorization": basic("eve", "pw")}).json
    second = app.get("/", headers={"Authorization": basic("eve", "pw")}).json
    assert first == second
    assert second["principal"] == repr({"cn": "eve"})
    assert store.calls == 1


def test_generation_change_drops_the_cache() -> None:
    store = Counting({"admin": "pw"})
    app = make(Recorder(), store, validate=False, client=None)
    app.get("/", headers={"Authorization": basic("admin", "pw")})
    store.users = {"admin": "new"}
    store.generation += 1
    app.get("/", headers={"Authorization": basic("admin", "pw")}, status=401)
    app.get("/", headers={"Authorization": basic("admin", "new")})
    assert store.calls == 3


def test_entries_expire() -> None:
    clock = Clock()
    store = Counting({"admin": "pw"})
    app = make(
        Recorder(), store, validate=False, client=None, cache=VerificationCache(ttl=60, clock=clock)
    )
    app.get("/", headers={"Authorization": basic("admin", "pw")})
    clock.now += 59
    app.get("/", headers={"Authorization": basic("admin", "pw")})
    assert store.calls == 1
    clock.now += 1
    app.get("/", headers={"Authorization": basic("admin", "pw")})
    assert store.calls == 2


def test_size_is_bounded_oldest_first() -> None:
    cache = VerificationCache(max_entries=3)
    keys = [cache.key(f"Basic {i}") for i in range(5)]
    for i, key in enumerate(keys):
        cache.put(key, f"user{i}", None)
    assert len(cache) == 3
    assert cache.get(keys[0]) is None and cache.get(keys[1]) is None
    assert [cache.get(k).username for k in keys[2:]] == ["user2", "user3", "user4"]  # type: ignore[union-attr]


def test_no_password_or_header_is_kept() -> None:
    cache = VerificationCache()
    header = basic("admin", "Secret-Pw-1")
    key = cache.key(header)
    cache.put(key, "admin", "admin")
    assert key != cache.key(basic("admin", "Secret-Pw-2"))
    assert VerificationCache().key(header) != key  # a fresh random key per cache
    stored = repr(list(cache._entries.items()))
    assert "Secret-Pw-1" not in stored and header.split()[1] not in stored


def test_put_under_a_stale_generation_is_dropped() -> None:
    cache = VerificationCache()
    key = cache.key("Basic x")
    assert cache.get(key, 2) is None  # the store is now at generation 2
    cache.put(key, "admin", "admin", generation=1)  # verified against generation 1
    assert cache.get(key, 2) is None


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"max_entries": 0}, "max_entries"),
        ({"max_entries": 1.5}, "max_entries"),
        ({"ttl": 0}, "ttl"),
        ({"ttl": -1}, "ttl"),
        ({"ttl": "60"}, "ttl"),
    ],
    ids=["zero-entries", "float-entries", "zero-ttl", "negative-ttl", "str-ttl"],
)
def test_bad_options(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        VerificationCache(**options)


def test_default_is_on_for_hashed_stores_only() -> None:
    hashed = HashedUsers({"admin": hash_password("pw", "apr1")})
    assert isinstance(BasicAuth(Recorder(), hashed).cache, VerificationCache)
    assert BasicAuth(Recorder(), hashed, cache=None).cache is None
    assert BasicAuth(Recorder(), {"admin": "pw"}).cache is None
    assert BasicAuth(Recorder(), PlainUsers({"admin": "pw"})).cache is None
    assert BasicAuth(Recorder(), lambda u, p: True).cache is None
    explicit = VerificationCache(max_entries=5)
    assert BasicAuth(Recorder(), lambda u, p: True, cache=explicit).cache is explicit


def test_cache_option_is_checked() -> None:
    with pytest.raises(TypeError, match="cache"):
        BasicAuth(Recorder(), {"a": "b"}, cache={})  # type: ignore[arg-type]


def test_verifier_errors_are_not_cached() -> None:
    calls = []

    def flaky(username: str, password: str) -> bool:
        calls.append(username)
        if len(calls) == 1:
            raise RuntimeError("directory down")
        return True

    app = make(Recorder(), flaky, validate=False, client=None, cache=VerificationCache())
    app.get("/", headers={"Authorization": basic("a", "b")}, status=500)
    app.get("/", headers={"Authorization": basic("a", "b")}, status=200)
    assert len(calls) == 2


def test_thread_safe_under_contention() -> None:
    cache = VerificationCache(max_entries=50)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(2000):
                key = cache.key(f"Basic {worker}-{i % 80}")
                hit = cache.get(key)
                if hit is None:
                    cache.put(key, f"u{worker}", f"u{worker}")
                else:
                    assert hit.username == f"u{worker}"
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(cache) <= 50


def test_the_key_is_a_keyed_hash_of_the_header() -> None:
    import os
    import subprocess
    import sys

    header = basic("admin", "pw")
    cache = VerificationCache()
    assert cache.key(header) == cache.key(header) != VerificationCache().key(header)
    # Another process (another secret) keys the same header otherwise: the
    # table means nothing outside the process that made it.
    script = (
        "import sys; from basicauth_wsgi.cache import keyed_digest; "
        "print(keyed_digest(bytes(32))(sys.argv[1]))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script, header],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=True,
        ).stdout
        for _ in range(3)
    }
    assert len(outputs) == 3


def test_a_fixed_hash_seed_gets_a_keyed_blake2b_instead() -> None:
    import subprocess
    import sys

    script = (
        "from basicauth_wsgi.cache import keyed_digest; import hashlib; "
        "key = keyed_digest(bytes(range(32)))('Basic eDp5'); "
        "expected = hashlib.blake2b(b'Basic eDp5', key=bytes(range(32)), digest_size=16).digest(); "
        "print(key == expected)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONHASHSEED": "0", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert done.stdout.strip() == "True"
