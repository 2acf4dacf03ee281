"""LdapUsers behind BasicAuth (WSGI, webtest): 200/401/403/503, rules on groups, the cache."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import webtest
from helpers import Clock, Recorder, auth, basic, make
from ldapserver import PEOPLE, SERVICE_DN, SERVICE_PASSWORD, USER_DN, Slapd, operations_between

from basicauth_wsgi import BasicAuth, Rule, Throttle, VerificationCache
from basicauth_wsgi.ldap import LdapUser, LdapUsers

JSON = {"Accept": "application/json"}
RULES = [
    Rule("/admin/", groups=["admins"]),
    Rule("/devs/", groups=["cn=devs,ou=groups,dc=example,dc=org"]),
]


def protected(users: LdapUsers, **options: Any) -> webtest.TestApp:
    return make(Recorder(), users, **options)


def service(server: Slapd, **options: Any) -> LdapUsers:
    return LdapUsers(
        server.url, search_base=PEOPLE, bind_dn=SERVICE_DN, bind_password=SERVICE_PASSWORD,
        **options,
    )  # fmt: skip


def test_a_directory_user_gets_in(slapd: Slapd) -> None:
    inner = Recorder()
    app = make(inner, service(slapd))
    seen = app.get("/", headers=auth("alice")).json
    assert seen["remote_user"] == "alice" and seen["auth_type"] == "Basic"
    principal = inner.calls[0]["basicauth.user"]
    assert isinstance(principal, LdapUser) and "admins" in principal.groups
    app.get("/", headers=auth("alice", "wrong"), status=401)
    app.get("/", headers=auth("nobody", "alice-pw"), status=401)


def test_a_utf8_user_gets_in(slapd: Slapd) -> None:
    app = protected(LdapUsers(slapd.url, user_dn=USER_DN))
    assert (
        app.get("/", headers={"Authorization": basic("jürgen", "pässwörd")}).json["remote_user"]
        == "jürgen"
    )


def test_an_empty_password_is_a_401_though_the_server_would_accept_it(slapd: Slapd) -> None:
    # This slapd answers an unauthenticated bind with success (see test_ldap_verify).
    app = protected(LdapUsers(slapd.url, user_dn=USER_DN))
    before = slapd.operations()
    app.get("/", headers={"Authorization": basic("alice", "")}, status=401)
    assert operations_between(before, slapd.operations()) == {}


@pytest.mark.parametrize("configure", ["memberOf", "group search"])
def test_rules_use_the_directory_groups(slapd: Slapd, configure: str) -> None:
    options = {"group_base": "ou=groups,dc=example,dc=org"} if configure == "group search" else {}
    app = protected(service(slapd, **options), rules=RULES)
    app.get("/admin/x", headers=auth("alice"))
    app.get("/admin/x", headers=auth("bob"), status=403)
    app.get("/elsewhere", headers=auth("bob"))
    if configure == "group search":  # posixGroup: found by the search only
        app.get("/devs/x", headers=auth("bob"))
        app.get("/devs/x", headers=auth("alice"), status=403)


def test_rules_naming_groups_need_a_verifier_that_reads_them(slapd: Slapd) -> None:
    with pytest.raises(ValueError, match="no groups were given"):
        BasicAuth(Recorder(), LdapUsers(slapd.url, user_dn=USER_DN, memberof_attribute=None),
                  rules=RULES)  # fmt: skip


def test_a_cached_request_makes_no_ldap_operation(slapd: Slapd) -> None:
    app = protected(service(slapd), rules=RULES)
    app.get("/admin/x", headers=auth("alice"))  # the one check
    before = slapd.operations()
    for _ in range(20):
        app.get("/admin/x", headers=auth("alice"))
        app.get("/", headers=auth("alice", "wrong"), status=401)  # cached as wrong after one
    delta = operations_between(before, slapd.operations())
    assert delta == {"search": 1, "bind": 1}  # the wrong password's one check, nothing else


def test_a_removed_membership_and_a_deleted_user_end_within_cache_ttl(own_slapd: Slapd) -> None:
    clock = Clock()
    app = protected(
        LdapUsers(own_slapd.url, user_dn=USER_DN),
        rules=RULES,
        cache=VerificationCache(ttl=60, clock=clock),
    )
    app.get("/admin/x", headers=auth("alice"))
    app.get("/", headers=auth("bob"))
    own_slapd.remove_member("admins", "alice")
    own_slapd.delete(Slapd.dn("bob"))
    clock.now += 59  # still cached: the directory is not asked
    app.get("/admin/x", headers=auth("alice"))
    app.get("/", headers=auth("bob"))
    clock.now += 2  # past cache_ttl: asked again
    app.get("/admin/x", headers=auth("alice"), status=403)
    app.get("/", headers=auth("alice"))
    app.get("/", headers=auth("bob"), status=401)


def test_an_outage_is_a_503_not_counted_not_cached_and_logged_without_secrets(
    own_slapd: Slapd, caplog: pytest.LogCaptureFixture
) -> None:
    app = protected(service(own_slapd, timeout=1.0), throttle=Throttle(per_client=2, per_user=2))
    app.get("/", headers=auth("alice"))  # cached before the outage
    own_slapd.kill()
    with caplog.at_level(logging.INFO, logger="basicauth_wsgi"):
        for _ in range(5):  # more than per_client: none of them counts
            refused = app.get("/", headers={**auth("bob", "wrong"), **JSON}, status=503)
            assert refused.headers["Retry-After"] == "1"
            assert json.loads(refused.body)["error"] == "unavailable"
            assert "WWW-Authenticate" not in refused.headers
        app.get("/", headers=auth("bob"), status=503)
        app.get("/", headers=auth("alice"))  # a cached login keeps working
    lines = [r.getMessage() for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(lines) == 1 and own_slapd.url in lines[0]  # once a minute at most
    for secret in ("bob-pw", "wrong", SERVICE_PASSWORD):
        assert secret not in caplog.text
    own_slapd.start()
    app.get("/", headers=auth("bob"))  # not blocked, not cached as refused
    app.get("/", headers=auth("bob", "wrong"), status=401)


def test_a_frozen_server_is_a_503_never_a_500(own_slapd: Slapd) -> None:
    app = protected(LdapUsers(own_slapd.url, user_dn=USER_DN, timeout=0.5))
    app.get("/", headers=auth("alice"))
    own_slapd.pause()
    try:
        app.get("/", headers=auth("bob"), status=503)
        app.get("/", headers=auth("bob", "wrong"), status=503)
    finally:
        own_slapd.resume()
    app.get("/", headers=auth("bob"))


def test_spelling_a_name_another_way_buys_no_more_guesses(slapd: Slapd) -> None:
    # The directory logs ALICE and " alice" in as alice; the throttle must
    # count them as one user, or each spelling is a fresh per_user allowance.
    throttle = Throttle(per_client=0, per_user=3)
    app = protected(service(slapd), throttle=throttle)
    for n, spelling in enumerate(["alice", "ALICE", " Alice "]):
        app.get("/", headers=auth(spelling, f"guess-{n}"), status=401)
    app.get("/", headers=auth("aLiCe", "guess-3"), status=429)
    app.get("/", headers=auth("bob", "guess"), status=401)  # another user is not blocked
