"""Admission control (max_concurrent_checks), exact limits under concurrency, coalesced checks.

No timing assertions: slow checks are verifiers that block on an event the
test sets, and every wait has a deadline.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from helpers import Clock, Recorder, basic, call

from basicauth_wsgi import BasicAuth, Throttle
from basicauth_wsgi.admission import CheckSlots, default_slots

DEADLINE = 10.0


class SlowUsers:
    """A verifier whose checks block until the test releases them; counts every check."""

    def __init__(self, passwords: dict[str, str]) -> None:
        self.passwords = passwords
        self.release = threading.Event()
        self.started = threading.Semaphore(0)
        self.checked: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def verify(self, username: str, password: str) -> str | None:
        with self.lock:
            self.checked.append((username, password))
        self.started.release()
        assert self.release.wait(DEADLINE), "the test never released the check"
        return username if self.passwords.get(username) == password else None

    def wait_started(self, count: int = 1) -> None:
        for _ in range(count):
            assert self.started.acquire(timeout=DEADLINE), "a check never started"


@pytest.fixture
def slow() -> Iterator[SlowUsers]:
    users = SlowUsers({"admin": "right", "alice": "alice-pw"})
    try:
        yield users
    finally:
        users.release.set()


def get(app: Any, username: str, password: str, client: str = "192.0.2.10", **env: Any) -> Any:
    return call(app, "/", HTTP_AUTHORIZATION=basic(username, password), REMOTE_ADDR=client, **env)


# -- slots -------------------------------------------------------------------


def test_the_default_is_the_cpus_at_least_two() -> None:
    assert default_slots() >= 2
    app = BasicAuth(Recorder(), {"a": "b"})
    assert app.slots is not None and app.slots.limit == default_slots()


@pytest.mark.parametrize(
    ("value", "error"),
    [(0, ValueError), (-1, ValueError), (4097, ValueError), (1.5, TypeError), (True, TypeError)],
    ids=["zero", "negative", "huge", "float", "bool"],
)
def test_bad_max_concurrent_checks(value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="max_concurrent_checks"):
        BasicAuth(Recorder(), {"a": "b"}, max_concurrent_checks=value)  # type: ignore[arg-type]


def test_none_turns_admission_off() -> None:
    assert BasicAuth(Recorder(), {"a": "b"}, max_concurrent_checks=None).slots is None


def test_a_busy_check_slot_gives_a_negotiated_503_and_checks_nothing(
    inner: Recorder, slow: SlowUsers, caplog: pytest.LogCaptureFixture
) -> None:
    throttle = Throttle(per_client=5, per_user=5)
    app = BasicAuth(inner, slow, max_concurrent_checks=1, throttle=throttle, cache=None)
    with ThreadPoolExecutor(max_workers=1) as pool, caplog.at_level(logging.WARNING):
        first = pool.submit(get, app, "admin", "right", "192.0.2.1")
        slow.wait_started()
        status, headers, body = get(
            app, "alice", "guess", "192.0.2.2", HTTP_ACCEPT="application/json"
        )
        assert status == "503 Service Unavailable"
        assert dict(headers)["Retry-After"] == "1"
        assert "WWW-Authenticate" not in dict(headers)
        assert json.loads(body)["error"] == "unavailable"
        # Not checked, not a failure: the throttle counted nothing for it.
        assert slow.checked == [("admin", "right")]
        assert throttle.check_client("192.0.2.2") is None
        assert throttle.store.idle() is False  # only the first request's reservation
        slow.release.set()
        assert first.result(timeout=DEADLINE)[0] == "200 OK"
    assert throttle.store.idle()  # the success gave its attempt back
    lines = [r.getMessage() for r in caplog.records]
    assert not any("authentication failed" in line for line in lines)
    assert sum("overloaded:" in line for line in lines) == 1


def test_cache_hits_never_wait_for_a_slot(inner: Recorder, slow: SlowUsers) -> None:
    # A plaintext store remembers verified headers, so the second admin
    # request is a hit while every check slot is taken.
    app = BasicAuth(inner, {"admin": "right", "bob": "bob-pw"}, max_concurrent_checks=1)
    assert get(app, "admin", "right")[0] == "200 OK"  # now cached
    blocking = BasicAuth(inner, slow, max_concurrent_checks=1, cache=None)
    with ThreadPoolExecutor(max_workers=1) as pool:
        busy = pool.submit(get, blocking, "alice", "alice-pw")
        slow.wait_started()
        assert get(app, "admin", "right")[0] == "200 OK"
        slow.release.set()
        assert busy.result(timeout=DEADLINE)[0] == "200 OK"


def test_a_trusted_pair_gets_the_extra_slot(
    inner: Recorder, slow: SlowUsers, caplog: pytest.LogCaptureFixture
) -> None:
    app = BasicAuth(inner, slow, max_concurrent_checks=1, cache=None)
    clock = Clock()
    assert app.slots is not None
    app.slots.clock = clock
    slow.release.set()
    assert get(app, "alice", "alice-pw", "192.0.2.7")[0] == "200 OK"  # alice is now trusted there
    slow.release.clear()
    slow.started = threading.Semaphore(0)
    with ThreadPoolExecutor(max_workers=2) as pool, caplog.at_level(logging.WARNING):
        spraying = pool.submit(get, app, "admin", "guess-1", "198.51.100.1")
        slow.wait_started()
        # Every general slot is busy: a stranger waits 50 ms, then 503.
        assert get(app, "admin", "guess-2", "198.51.100.2")[0].startswith("503")
        # The known user from where she logged in takes the extra slot.
        returning = pool.submit(get, app, "alice", "alice-pw", "192.0.2.7")
        slow.wait_started()
        # Both slots are busy now, the trusted one too: alice elsewhere waits.
        assert get(app, "alice", "alice-pw", "203.0.113.5")[0].startswith("503")
        slow.release.set()
        assert returning.result(timeout=DEADLINE)[0] == "200 OK"
        assert spraying.result(timeout=DEADLINE)[0].startswith("401")
        clock.now += 0.5  # admitted, but refusals were too recent for overload to be over
        assert get(app, "bob", "x", "198.51.100.3")[0].startswith("401")
        clock.now += 1.0  # a quiet second since the last refusal: over
        assert get(app, "bob", "y", "198.51.100.3")[0].startswith("401")
    lines = [r.getMessage() for r in caplog.records]
    assert sum("overloaded:" in line for line in lines) == 1
    assert [line for line in lines if "overload over" in line] == [
        "overload over: 2 request(s) refused with 503 meanwhile"
    ]


def test_slots_are_given_back_whatever_happens(inner: Recorder) -> None:
    def broken(username: str, password: str) -> bool:
        raise RuntimeError("store down")

    app = BasicAuth(inner, broken, max_concurrent_checks=1)
    for _ in range(3):
        assert get(app, "admin", "x")[0].startswith("500")
    assert app.slots is not None and app.slots.busy == 0


def test_check_slots_bound_concurrency_exactly() -> None:
    slots = CheckSlots(3, logger=logging.getLogger("test"))
    taken = [slots.try_acquire(False) for _ in range(5)]
    assert [bool(t) for t in taken] == [True, True, True, False, False]
    assert slots.try_acquire(True)  # the extra one, for a trusted pair
    assert not slots.try_acquire(True)
    assert slots.busy == 4
    for slot in taken[:3]:
        slots.release(slot)
    assert slots.busy == 1


# -- exact limits under concurrency ---------------------------------------------


def gate_open(users: SlowUsers, count: int) -> None:
    """Release the checks once ``count`` have started (or, failing that, at the deadline)."""
    for _ in range(count):
        if not users.started.acquire(timeout=2.0):
            break
    users.release.set()


@pytest.mark.parametrize("threads", [8, 32], ids=["threads-8", "threads-32"])
def test_concurrent_wrong_passwords_from_one_address_check_exactly_per_client(
    inner: Recorder, slow: SlowUsers, threads: int
) -> None:
    throttle = Throttle(per_client=20, per_user=0)
    app = BasicAuth(inner, slow, throttle=throttle, cache=None, max_concurrent_checks=None)
    opener = threading.Thread(target=gate_open, args=(slow, min(threads, 20)))
    opener.start()
    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            statuses = list(
                pool.map(lambda i: get(app, "admin", f"guess-{i}")[0], range(64), timeout=60)
            )
    finally:
        slow.release.set()
        opener.join(timeout=DEADLINE)
    assert len(slow.checked) == 20
    assert sum(s.startswith("401") for s in statuses) == 20
    assert sum(s.startswith("429") for s in statuses) == 44


def test_concurrent_guesses_of_one_user_from_many_addresses_check_exactly_per_user(
    inner: Recorder, slow: SlowUsers
) -> None:
    throttle = Throttle(per_client=0, per_user=10)
    app = BasicAuth(inner, slow, throttle=throttle, cache=None, max_concurrent_checks=None)
    opener = threading.Thread(target=gate_open, args=(slow, 10))
    opener.start()
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(
                pool.map(
                    lambda i: get(app, "admin", f"guess-{i}", f"203.0.113.{i}")[0],
                    range(40),
                    timeout=60,
                )
            )
    finally:
        slow.release.set()
        opener.join(timeout=DEADLINE)
    assert len(slow.checked) == 10
    assert sum(s.startswith("429") for s in statuses) == 30


def test_a_success_gives_its_attempt_back(inner: Recorder) -> None:
    # per_client=2: two right passwords, then two wrong ones, are all checked.
    throttle = Throttle(per_client=2, per_user=0)
    app = BasicAuth(inner, {"admin": "right"}, throttle=throttle, cache=None)
    app.gate.decider.results = None  # no memo either: every request is checked
    assert [get(app, "admin", "right")[0][:3] for _ in range(2)] == ["200", "200"]
    assert [get(app, "admin", p)[0][:3] for p in ("x", "y", "z")] == ["401", "401", "429"]


# -- one check per credentials at a time -------------------------------------------


def test_concurrent_requests_with_the_same_new_credentials_share_one_check(
    inner: Recorder, slow: SlowUsers
) -> None:
    from basicauth_wsgi import VerificationCache

    app = BasicAuth(inner, slow, cache=VerificationCache(), max_concurrent_checks=1)
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(get, app, "admin", "right") for _ in range(8)]
        slow.wait_started()
        slow.release.set()
        statuses = [f.result(timeout=DEADLINE)[0] for f in futures]
    # A browser's parallel connections after the password prompt: one
    # check, no 503 for the others, all logged in.
    assert statuses == ["200 OK"] * 8
    assert slow.checked == [("admin", "right")]


def test_followers_of_a_failed_check_count_one_failure(inner: Recorder, slow: SlowUsers) -> None:
    from basicauth_wsgi import VerificationCache

    throttle = Throttle(per_client=3, per_user=0)
    app = BasicAuth(inner, slow, cache=VerificationCache(), throttle=throttle)
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(get, app, "admin", "wrong") for _ in range(6)]
        slow.wait_started()
        slow.release.set()
        statuses = sorted(f.result(timeout=DEADLINE)[0][:3] for f in futures)
    # One check; the same header from the same client is one failure (SPEC §5).
    assert slow.checked == [("admin", "wrong")]
    assert statuses == ["401"] * 6
    for n in range(2):  # two more wrong passwords reach the limit of 3
        assert get(app, "admin", f"wrong{n}")[0][:3] == "401"
    assert get(app, "admin", "SuperSecretPwd")[0][:3] == "429"


# -- a store that fails -----------------------------------------------------------


class BrokenStore:
    """A ThrottleStore whose every call fails, as a store behind a dead network would."""

    def idle(self) -> bool:
        return False

    def peek(self, key: str, bucket: int, span: int) -> list[int]:
        raise ConnectionError("store unreachable")

    def reserve(self, keys: Any, bucket: int, span: int, ttl: int, once: Any = None) -> Any:
        raise ConnectionError("store unreachable")

    def release(self, keys: Any, bucket: int, span: int, trust: Any, until: float) -> None:
        raise ConnectionError("store unreachable")

    def trust(self, key: str, until: float) -> None:
        raise ConnectionError("store unreachable")

    def trusted(self, key: str, now: float) -> bool:
        raise ConnectionError("store unreachable")

    def secret(self) -> bytes:
        return b"k" * 32  # known without I/O, like a shared store's


@pytest.mark.parametrize(
    "password", ["SuperSecretPwd", "wrong"], ids=["right-password", "wrong-password"]
)
def test_a_failing_store_answers_503_never_a_pass_never_a_500(
    inner: Recorder, caplog: pytest.LogCaptureFixture, password: str
) -> None:
    app = BasicAuth(inner, {"admin": "SuperSecretPwd"}, throttle=Throttle(store=BrokenStore()))
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            status, headers, _ = get(app, "admin", password)
            assert status == "503 Service Unavailable"
            assert dict(headers)["Retry-After"] == "1"
    assert inner.calls == []
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1  # once, not once per request
    assert "throttle store failed" in errors[0].getMessage()
    assert password not in caplog.text


# -- where checks run ----------------------------------------------------------------


class Recording:
    """A slow store whose hash releases the interpreter lock (it says so, as bcrypt's would).

    Records which thread checked, at which priority.
    """

    cache_by_default = True
    releases_gil = True

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def verify(self, username: str, password: str) -> str | None:
        import os

        priority = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        self.seen.append((threading.current_thread().name, priority))
        return username if password == "right" else None


def test_a_slow_store_hashes_in_its_own_threads_at_a_lower_priority(inner: Recorder) -> None:
    import os

    users = Recording()
    app = BasicAuth(inner, users, max_concurrent_checks=2)
    assert get(app, "admin", "wrong", "192.0.2.1")[0].startswith("401")
    assert get(app, "admin", "right", "192.0.2.2")[0] == "200 OK"
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert len(users.seen) == 2
    for name, priority in users.seen:
        assert name.startswith("basicauth-check")
        assert priority > mine  # nicer: a flood of hashes yields the CPU to cached requests


def test_a_pair_the_throttle_trusts_hashes_at_the_requests_own_priority(inner: Recorder) -> None:
    import os

    users = Recording()
    app = BasicAuth(inner, users, max_concurrent_checks=2)
    assert get(app, "admin", "right", "192.0.2.1")[0] == "200 OK"  # now trusted there
    users.seen.clear()
    # Another password (as after a change), and one from elsewhere:
    assert get(app, "admin", "wrong", "192.0.2.1")[0].startswith("401")
    assert get(app, "admin", "wrong-too", "192.0.2.99")[0].startswith("401")
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert users.seen[0] == (threading.current_thread().name, mine)
    assert users.seen[1][0].startswith("basicauth-check") and users.seen[1][1] > mine


def test_a_cheap_store_checks_in_the_callers_thread(inner: Recorder) -> None:
    seen: list[str] = []

    def users(username: str, password: str) -> bool:
        seen.append(threading.current_thread().name)
        return password == "right"

    app = BasicAuth(inner, users, max_concurrent_checks=2)
    assert get(app, "admin", "right")[0] == "200 OK"
    assert seen == [threading.current_thread().name]
    assert app.gate.scheduler.hashing_threads is None


class PurePython(Recording):
    """Slow, but in pure Python (SHA-crypt, MD5-crypt): its check holds the interpreter lock."""

    releases_gil = False


def test_a_hash_that_holds_the_interpreter_lock_is_never_niced(inner: Recorder) -> None:
    # A niced thread holding the lock while the scheduler passes it over
    # would stall every request behind it.
    users = PurePython()
    app = BasicAuth(inner, users, max_concurrent_checks=2)
    assert get(app, "admin", "wrong", "192.0.2.1")[0].startswith("401")
    assert users.seen == [(threading.current_thread().name, _priority())]
    assert app.gate.scheduler.hashing_threads is None


@pytest.mark.parametrize(
    ("line", "niced"),
    [
        ("alice:{bcrypt}", True),
        ("alice:{sha512}", False),
        ("alice:{apr1}", False),
        ("alice:{bcrypt}\nbob:{apr1}", False),
    ],
    ids=["bcrypt", "sha512-crypt", "apr1", "bcrypt-and-apr1"],
)
def test_the_hash_registry_says_which_files_are_niced(
    tmp_path: Any, line: str, niced: bool
) -> None:
    from basicauth_wsgi import HtpasswdFile
    from basicauth_wsgi.hashes import hash_password

    text = line.format(
        bcrypt=hash_password("pw", "bcrypt"),
        sha512=hash_password("pw", "sha512-crypt"),
        apr1=hash_password("pw", "apr1"),
    )
    path = tmp_path / "users"
    path.write_text(text + "\n")
    users = HtpasswdFile(path, reload=False)
    assert users.releases_gil is niced


def _priority() -> int:
    import os

    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
