"""Outages: a killed, frozen or absent slapd is BackendUnavailable, never a pass; the pool."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ldapserver import PEOPLE, SERVICE_DN, SERVICE_PASSWORD, USER_DN, USERS, Slapd, free_port

from basicauth_wsgi.ldap import LdapUser, LdapUsers
from basicauth_wsgi.verifiers import BackendUnavailable

#: How long a call may take before the test calls it hung (not a timing target:
#: every call here ends by its own timeout, a fraction of this).
HUNG = 30.0


def bounded(call: Callable[[], Any]) -> Any:
    """``call()`` in a thread, joined with a deadline: a hang fails the test instead of it."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(("ok", call()))
        except BaseException as exc:
            outcome.append(("raised", exc))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HUNG)
    assert outcome, f"the call did not return within {HUNG} s"
    kind, value = outcome[0]
    if kind == "raised":
        raise value
    return value


def service(url: str, **options: Any) -> LdapUsers:
    return LdapUsers(
        url, search_base=PEOPLE, bind_dn=SERVICE_DN, bind_password=SERVICE_PASSWORD, **options
    )


def test_a_killed_server_is_unavailable_then_back_after_a_restart(own_slapd: Slapd) -> None:
    users = service(own_slapd.url, timeout=1.0)
    assert users.verify("alice", "alice-pw") is not None  # the pools hold live connections
    own_slapd.kill()
    for password in ("alice-pw", "wrong", "bob-pw"):
        with pytest.raises(BackendUnavailable) as caught:
            bounded(lambda p=password: users.verify("alice", p))  # type: ignore[misc]
        assert own_slapd.url in str(caught.value)
        assert password not in str(caught.value) and SERVICE_PASSWORD not in str(caught.value)
    own_slapd.start()
    assert isinstance(users.verify("alice", "alice-pw"), LdapUser)
    assert users.verify("alice", "wrong") is None


def test_a_frozen_server_is_unavailable_within_the_timeout(own_slapd: Slapd) -> None:
    # SIGSTOP: the connections stay open and nothing answers (a hung server,
    # a black-holed network). Only the timeout can tell.
    users = LdapUsers(own_slapd.url, user_dn=USER_DN, timeout=0.5)
    assert users.verify("bob", "bob-pw") is not None
    own_slapd.pause()
    try:
        with pytest.raises(BackendUnavailable):
            bounded(lambda: users.verify("bob", "bob-pw"))
        # A fresh connection to the frozen server (the kernel still accepts it) too.
        fresh = LdapUsers(own_slapd.url, user_dn=USER_DN, timeout=0.5)
        with pytest.raises(BackendUnavailable):
            bounded(lambda: fresh.verify("bob", "bob-pw"))
    finally:
        own_slapd.resume()
    assert users.verify("bob", "bob-pw") is not None


def test_nothing_listening_is_unavailable() -> None:
    users = LdapUsers(f"ldap://127.0.0.1:{free_port()}", user_dn=USER_DN, timeout=1.0)
    with pytest.raises(BackendUnavailable, match="Can't contact LDAP server"):
        bounded(lambda: users.verify("alice", "alice-pw"))


@pytest.fixture
def second_slapd(tmp_path: Path) -> Iterator[Slapd]:
    server = Slapd(tmp_path / "second")
    try:
        yield server
    finally:
        server.stop()


def test_urls_fail_over_in_order(own_slapd: Slapd, second_slapd: Slapd) -> None:
    second = second_slapd
    users = service(f"{own_slapd.url} {second.url}", timeout=2.0)
    before = second.operations()
    assert users.verify("alice", "alice-pw") is not None
    assert second.operations() == _plus_read(before)  # the first URL served it
    own_slapd.kill()
    assert bounded(lambda: users.verify("alice", "alice-pw")) is not None
    assert bounded(lambda: users.verify("bob", "bob-pw")) is not None
    assert users.verify("bob", "alice-pw") is None
    second.kill()
    with pytest.raises(BackendUnavailable):
        bounded(lambda: users.verify("alice", "alice-pw"))
    own_slapd.start()
    assert bounded(lambda: users.verify("carol", "carol-pw")) is not None


def _plus_read(before: dict[str, int]) -> dict[str, int]:
    """``before`` after one more read of the counters (the search that reads them)."""
    return {**before, "search": before["search"] + 1}


def test_a_dead_first_url_is_skipped(own_slapd: Slapd) -> None:
    users = service(f"ldap://127.0.0.1:{free_port()} {own_slapd.url}")
    assert bounded(lambda: users.verify("alice", "alice-pw")) is not None
    assert users.verify("alice", "bob-pw") is None


def test_a_frozen_first_url_fails_over_within_the_timeout(
    own_slapd: Slapd, second_slapd: Slapd
) -> None:
    try:
        users = service(f"{own_slapd.url} {second_slapd.url}", timeout=1.0)
        assert users.verify("alice", "alice-pw") is not None
        own_slapd.pause()
        # Half the timeout for the frozen one, the rest for the next: one call.
        assert bounded(lambda: users.verify("bob", "bob-pw")) is not None
        # Then the frozen server is tried last, and nothing waits for it.
        assert bounded(lambda: users.verify("carol", "carol-pw")) is not None
    finally:
        own_slapd.resume()


def test_the_pool_is_bounded_and_shared_by_threads(own_slapd: Slapd) -> None:
    users = service(own_slapd.url, pool_size=2)
    errors: list[str] = []
    names = [name for name in USERS if name != "twin"]

    def work(offset: int) -> None:
        for i in range(30):
            name = names[(offset + i) % len(names)]
            right = users.verify(name, USERS[name])
            wrong = users.verify(name, "not-" + USERS[name])
            if right is None or right.username != name or wrong is not None:
                errors.append(name)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HUNG)
    assert not any(t.is_alive() for t in threads) and errors == []
    assert len(users._service_pool._idle) <= 2 and len(users._user_pool._idle) <= 2
    assert own_slapd.connections() <= 2 + 2 + 1  # both pools, and the counters' own
