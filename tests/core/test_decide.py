"""The decision step: the order of checks as a pure sequence, from a request's facts alone.

No threads here: :meth:`Decider.decide` never blocks, and hands back a
:class:`Check` with an explicit kind for whatever it cannot answer itself.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from helpers import basic

from basicauth_wsgi import Rule, Throttle
from basicauth_wsgi.core import Gate
from basicauth_wsgi.decide import (
    COUNT,
    LOOKUP,
    PREFLIGHT,
    PUBLIC,
    TRUST,
    VERIFY,
    Check,
    Decider,
    Facts,
    Grant,
    Refusal,
)
from basicauth_wsgi.settings import Settings
from basicauth_wsgi.throttle import MemoryStore

USERS = {"admin": "pw", "bob": "bob-pw"}


def decider(users: object = USERS, **options: Any) -> Decider:
    options.setdefault("exclude", ["/health"])
    return Decider(Settings(users, **options))


def facts(
    header: str | None = None,
    *,
    path: str = "/private",
    method: str = "GET",
    client: str = "192.0.2.1",
    https: bool = False,
    preflight: bool = False,
) -> Facts:
    return Facts(header, client, method, path, https, preflight)


def run(options: dict[str, Any], header: str | None, **fact: Any) -> object:
    """The whole decision (the blocking scheduler included), for the order's tests."""
    options.setdefault("exclude", ["/health"])
    return Gate(Settings(options.pop("users", USERS), **options)).run(facts(header, **fact))


def test_the_decision_module_imports_neither_threading_nor_os() -> None:
    import basicauth_wsgi.decide as module

    tree = ast.parse(Path(module.__file__ or "").read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 0
    }
    assert not imported & {"threading", "os", "asyncio", "concurrent"}


def test_a_public_path_is_public_even_with_bad_credentials() -> None:
    assert decider().decide(facts("Basic !!!", path="/health")) is PUBLIC


def test_a_preflight_passes_only_when_allowed() -> None:
    allowed = decider(allow_cors_preflight=True)
    assert allowed.decide(facts(method="OPTIONS", preflight=True)) is PREFLIGHT
    refused = decider().decide(facts(method="OPTIONS", preflight=True))
    assert isinstance(refused, Refusal) and refused.status == 401


def test_https_is_checked_before_any_credential() -> None:
    refused = decider(require_https=True).decide(facts("Basic !!!"))
    assert isinstance(refused, Refusal)
    assert (refused.status, refused.reason) == (403, "https_required")
    assert isinstance(run({"require_https": True}, basic("admin", "pw"), https=True), Grant)
    assert isinstance(run({"require_https": True}, basic("admin", "pw"), client="::1"), Grant)


def test_a_missing_header_is_a_401_and_no_check() -> None:
    refused = decider().decide(facts(None))
    assert isinstance(refused, Refusal) and (refused.status, refused.reason) == (401, "missing")


@pytest.mark.parametrize(
    ("header", "reason"),
    [("Basic !!!", "malformed"), ("Bearer " + basic("admin", "pw")[6:], "unsupported_scheme")],
    ids=["malformed", "bearer"],
)
def test_a_header_that_does_not_parse_is_a_failure_to_count(header: str, reason: str) -> None:
    step = decider().decide(facts(header))
    assert isinstance(step, Check)
    assert (step.kind, step.username, step.reason) == (COUNT, None, reason)


def test_credentials_to_check_are_a_verify_record() -> None:
    step = decider().decide(facts(basic("admin", "pw")))
    assert isinstance(step, Check)
    assert (step.kind, step.username, step.password, step.trusted) == (VERIFY, "admin", "pw", False)
    assert step.ticket is not None  # the plaintext memo's name for these credentials
    with pytest.raises(AttributeError):
        step.kind = COUNT  # type: ignore[misc]  # immutable: nobody patches it later


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("Basic !!!", "malformed"),
        ("Bearer " + basic("admin", "pw")[6:], "unsupported_scheme"),
        (basic("admin", "nope"), "wrong_password"),
        (basic("eve", "pw"), "unknown_user"),
    ],
    ids=["missing", "malformed", "bearer", "wrong-password", "unknown-user"],
)
def test_every_failure_is_the_same_401_with_its_own_reason(header: str | None, reason: str) -> None:
    refused = run({}, header)
    assert isinstance(refused, Refusal)
    assert (refused.status, refused.reason) == (401, reason)
    assert refused.page.status == "401 Unauthorized"


def test_a_cached_login_is_granted_by_the_decision_alone() -> None:
    g = Gate(Settings(USERS))
    assert isinstance(g.run(facts(basic("admin", "pw"))), Grant)
    # Now remembered: the decision answers it, no check.
    granted = g.decider.decide(facts(basic("admin", "pw")))
    assert isinstance(granted, Grant) and granted.username == "admin"


def test_a_grant_carries_username_and_principal() -> None:
    granted = run({"users": lambda u, p: {"id": 7} if p == "pw" else None}, basic("admin", "pw"))
    assert isinstance(granted, Grant)
    assert (granted.username, granted.principal) == ("admin", {"id": 7})


def test_rules_come_last_and_refuse_with_403() -> None:
    options = {"rules": [Rule("/admin/", users=["admin"])]}
    refused = run(dict(options), basic("bob", "bob-pw"), path="/admin/x")
    assert isinstance(refused, Refusal) and refused.status == 403
    assert isinstance(run(dict(options), basic("admin", "pw"), path="/admin/x"), Grant)
    # An odd spelling of the ruled path is ruled too.
    refused = run(dict(options), basic("bob", "bob-pw"), path="/x/..%2fadmin/y")
    assert isinstance(refused, Refusal) and refused.status == 403


def test_a_blocked_client_is_refused_before_its_password_is_checked() -> None:
    checked: list[str] = []

    def users(username: str, password: str) -> bool:
        checked.append(password)
        return False

    g = Gate(Settings(users, throttle=Throttle(per_client=2, per_user=0)))
    for password in ("a", "b"):
        refused = g.run(facts(basic("admin", password)))
        assert isinstance(refused, Refusal) and refused.status == 401
    refused = g.decider.decide(facts(basic("admin", "c")))
    assert isinstance(refused, Refusal) and refused.status == 429
    assert dict(refused.headers)["Retry-After"].isdigit()
    assert checked == ["a", "b"]


def test_decide_never_checks_a_password_settle_does() -> None:
    checked: list[str] = []

    def users(username: str, password: str) -> bool:
        checked.append(password)
        return True

    d = Decider(Settings(users))
    step = d.decide(facts(basic("admin", "pw")))
    assert isinstance(step, Check) and step.kind == VERIFY and checked == []
    ticket = d.reserve(step)
    assert not isinstance(ticket, Refusal)
    granted = d.settle(step, ticket, users(step.username or "", step.password))
    assert isinstance(granted, Grant) and checked == ["pw"]


def test_a_trust_refresh_is_handed_back_with_its_answer() -> None:
    from helpers import Clock

    clock = Clock(1_000_000.0)
    throttle = Throttle(clock=clock)
    d = Decider(Settings(USERS, throttle=throttle))
    login = d.decide(facts(basic("admin", "pw")))
    assert isinstance(login, Check)
    d.settle(login, d.reserve(login), "admin")  # logged in: trusted for an hour
    assert isinstance(d.decide(facts(basic("admin", "pw"))), Grant)
    clock.now += 3601
    step = d.decide(facts(basic("admin", "pw")))
    assert isinstance(step, Check) and step.kind == TRUST
    assert isinstance(step.answer, Grant)  # the answer is known; only the write remains
    d.trust(step)
    assert isinstance(d.decide(facts(basic("admin", "pw"))), Grant)


class SharedStore(MemoryStore):
    """A store another process fills: its trust is known only by asking it (counted)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    def trusted(self, key: str, now: float) -> bool:
        self.asked += 1
        return super().trusted(key, now)


def test_a_question_only_the_store_can_answer_is_a_lookup() -> None:
    store = SharedStore()
    throttle = Throttle(per_client=0, per_user=1, store=store)
    d = Decider(Settings(USERS, throttle=throttle))
    failed = d.decide(facts(basic("admin", "wrong"), client="198.51.100.1"))
    assert isinstance(failed, Check)
    d.settle(failed, d.reserve(failed), None)  # admin is now blocked (per_user=1)
    step = d.decide(facts(basic("admin", "pw")))
    assert isinstance(step, Check) and step.kind == LOOKUP
    assert store.asked == 0  # the decision asked nothing
    resumed = d.resume(step)
    assert store.asked == 1
    assert isinstance(resumed, Refusal) and resumed.status == 429
