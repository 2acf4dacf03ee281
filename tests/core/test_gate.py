"""The transport-free core: the order of checks, decided from a request's facts alone."""

from __future__ import annotations

import pytest
from helpers import basic

from basicauth_wsgi import Rule, Throttle
from basicauth_wsgi.core import PREFLIGHT, PUBLIC, Gate, Grant, Refusal

USERS = {"admin": "pw", "bob": "bob-pw"}


def gate(**options: object) -> Gate:
    return Gate(USERS, exclude=["/health"], **options)  # type: ignore[arg-type]


def decide(
    g: Gate,
    header: str | None = None,
    *,
    path: str = "/private",
    method: str = "GET",
    client: str = "192.0.2.1",
    https: bool = False,
    preflight: bool = False,
) -> object:
    return g.decide(header, client, method, path, https, preflight)


def test_a_public_path_is_public_even_with_bad_credentials() -> None:
    assert decide(gate(), "Basic !!!", path="/health") is PUBLIC


def test_a_preflight_passes_only_when_allowed() -> None:
    assert decide(gate(allow_cors_preflight=True), method="OPTIONS", preflight=True) is PREFLIGHT
    refused = decide(gate(), method="OPTIONS", preflight=True)
    assert isinstance(refused, Refusal) and refused.status == 401


def test_https_is_checked_before_any_credential() -> None:
    refused = decide(gate(require_https=True), "Basic !!!")
    assert isinstance(refused, Refusal) and (refused.status, refused.reason) == (
        403,
        "https_required",
    )
    assert isinstance(decide(gate(require_https=True), basic("admin", "pw"), https=True), Grant)
    loopback = decide(gate(require_https=True), basic("admin", "pw"), client="127.0.0.1")
    assert isinstance(loopback, Grant)


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
    g = gate()
    refused = decide(g, header)
    assert isinstance(refused, Refusal)
    assert (refused.status, refused.reason, refused.page) == (401, reason, g.page_401)


def test_a_grant_carries_username_and_principal() -> None:
    granted = decide(Gate(lambda u, p: {"id": 7} if p == "pw" else None), basic("admin", "pw"))
    assert isinstance(granted, Grant)
    assert (granted.username, granted.principal) == ("admin", {"id": 7})


def test_rules_come_last_and_refuse_with_403() -> None:
    g = gate(rules=[Rule("/admin/", users=["admin"])])
    refused = decide(g, basic("bob", "bob-pw"), path="/admin/x")
    assert isinstance(refused, Refusal) and refused.status == 403
    assert isinstance(decide(g, basic("admin", "pw"), path="/admin/x"), Grant)
    # An odd spelling of the ruled path is ruled too.
    refused = decide(g, basic("bob", "bob-pw"), path="/x/..%2fadmin/y")
    assert isinstance(refused, Refusal) and refused.status == 403


def test_a_blocked_client_is_refused_before_its_password_is_checked() -> None:
    checked: list[str] = []

    def users(username: str, password: str) -> bool:
        checked.append(password)
        return False

    g = Gate(users, throttle=Throttle(per_client=2, per_user=0))
    for password in ("a", "b"):
        refused = decide(g, basic("admin", password))
        assert isinstance(refused, Refusal) and refused.status == 401
    refused = decide(g, basic("admin", "c"))
    assert isinstance(refused, Refusal) and refused.status == 429
    assert dict(refused.headers)["Retry-After"].isdigit()
    assert checked == ["a", "b"]


def test_begin_never_checks_a_password() -> None:
    checked: list[str] = []

    def users(username: str, password: str) -> bool:
        checked.append(password)
        return True

    g = Gate(users)
    pending = g.begin(basic("admin", "pw"), "192.0.2.1", "GET", "/", False, False)
    assert checked == []
    assert pending.__class__.__name__ == "Pending"
    assert g.admit(pending, 0.05)  # type: ignore[arg-type]
    try:
        granted = g.check(pending)  # type: ignore[arg-type]
    finally:
        g.leave(pending)  # type: ignore[arg-type]
    assert isinstance(granted, Grant) and checked == ["pw"]
