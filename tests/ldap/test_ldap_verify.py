"""LdapUsers against a real slapd: binds, searches, escaping, groups, empty passwords."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ldapserver import (
    BASE,
    GROUPS,
    PEOPLE,
    SERVICE_DN,
    SERVICE_PASSWORD,
    USER_DN,
    USERS,
    Slapd,
    operations_between,
    same_dn,
)

from basicauth_wsgi.ldap import IN_CHAIN, LdapUser, LdapUsers
from basicauth_wsgi.verifiers import BackendUnavailable


def direct(server: Slapd, **options: Any) -> LdapUsers:
    return LdapUsers(server.url, user_dn=USER_DN, **options)


def searching(server: Slapd, **options: Any) -> LdapUsers:
    options.setdefault("search_base", PEOPLE)
    return LdapUsers(server.url, **options)


AND_FILTER = "(&(objectClass=inetOrgPerson)(uid={username}))"

MODES = {
    "direct bind": direct,
    "anonymous search": searching,
    "service search": lambda server, **o: searching(
        server, bind_dn=SERVICE_DN, bind_password=SERVICE_PASSWORD, **o
    ),
}


@pytest.fixture(params=list(MODES))
def users(request: pytest.FixtureRequest, slapd: Slapd) -> LdapUsers:
    return MODES[request.param](slapd)  # type: ignore[no-any-return]


@pytest.mark.parametrize("uid", list(USERS))
def test_every_user_logs_in_with_their_password(users: LdapUsers, uid: str) -> None:
    # ("twin" has a namesake under ou=contractors, outside these searches.)
    principal = users.verify(uid, USERS[uid])
    assert isinstance(principal, LdapUser)
    assert principal.username == uid
    assert same_dn(principal.dn, Slapd.dn(uid))


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "wrong"), ("alice", "bob-pw"), ("nobody", "alice-pw"), ("Alice", "alice-pwx")],
    ids=["wrong password", "another's password", "unknown user", "case"],
)
def test_wrong_credentials_are_refused(users: LdapUsers, username: str, password: str) -> None:
    assert users.verify(username, password) is None


def test_the_server_accepts_an_unauthenticated_bind(slapd: Slapd) -> None:
    # The premise of the next test: this slapd, like many servers, answers a
    # DN with an empty password with success (RFC 4513 §5.1.2).
    import ldap

    conn = ldap.initialize(slapd.url)
    try:
        conn.simple_bind_s(Slapd.dn("alice"), "")
        assert conn.whoami_s() == ""  # anonymous, but "successful"
    finally:
        conn.unbind_s()


def test_an_empty_password_is_refused_before_any_ldap_call(slapd: Slapd, users: LdapUsers) -> None:
    before = slapd.operations()
    assert users.verify("alice", "") is None
    assert operations_between(before, slapd.operations()) == {}


def test_a_search_finding_two_entries_refuses(
    slapd: Slapd, caplog: pytest.LogCaptureFixture
) -> None:
    # "twin" is under ou=people and ou=contractors, with the same password.
    whole = searching(slapd, search_base=BASE)
    with caplog.at_level(logging.WARNING, logger="basicauth_wsgi"):
        assert whole.verify("twin", "twin-pw") is None
    assert "more than one entry" in caplog.text and "twin-pw" not in caplog.text
    # Under ou=people alone there is one, and it logs in.
    assert searching(slapd).verify("twin", "twin-pw") is not None


def test_a_search_filter_for_active_directory_shape(slapd: Slapd) -> None:
    # AD's usual filter has an objectClass clause beside the name.
    users = searching(slapd, search_filter=AND_FILTER)
    assert users.verify("bob", "bob-pw") is not None
    assert users.verify("bob", "alice-pw") is None


# -- hostile usernames ---------------------------------------------------------------------

#: Each of these would find alice (or any user) if it reached a filter or a
#: DN unescaped; with alice's password, none may log in.
HOSTILE = [
    "*",
    "alic*",
    "*lice",
    "a*e",
    "alice)(uid=*",
    "*)(uid=*))(|(uid=*",
    "alice)(|(objectClass=*)",
    "(alice)",
    "alice\\",
    "\\2a",
    "alic\\65",
    "alice\x00",
    "alice,ou=people",
    "alice,ou=people,dc=example,dc=org",
    "alice+uid=bob",
    "uid=alice",
    "=alice",
    "#alice",
    "\\#alice",
]


@pytest.mark.parametrize("username", HOSTILE)
def test_hostile_usernames_log_nobody_in(slapd: Slapd, users: LdapUsers, username: str) -> None:
    assert users.verify(username, "alice-pw") is None


@pytest.mark.parametrize("username", ["ALICE", " alice", "alice  "])
def test_a_name_the_directory_matches_loosely_is_that_entry_as_typed(
    users: LdapUsers, username: str
) -> None:
    # uid's matching rule ignores case and outer spaces (RFC 4518), so the
    # directory takes these for alice, with alice's password only, as it does
    # under Apache's mod_authnz_ldap: the principal's DN is alice's; the
    # username stays as typed (a rule naming user "alice" does not match it).
    principal = users.verify(username, "alice-pw")
    assert principal is not None
    assert same_dn(principal.dn, Slapd.dn("alice")) and principal.username == username
    assert users.verify(username, "bob-pw") is None


def test_the_hostile_names_would_have_matched_unescaped(slapd: Slapd) -> None:
    # The tests around mean something: unescaped, these filters find alice.
    import ldap

    conn = slapd.admin()
    try:
        for template, name in [("(uid={username})", n) for n in ("alic*", "*lice", "a*e")] + [
            (AND_FILTER, "alice)(uid=*"),
            (AND_FILTER, "*)(uid=alice"),
        ]:
            query = template.replace("{username}", name)
            found = conn.search_s(PEOPLE, ldap.SCOPE_SUBTREE, query, ["1.1"])
            assert Slapd.dn("alice") in [dn for dn, _ in found], query
    finally:
        conn.unbind_s()


@pytest.mark.parametrize("username", ["alice)(uid=*", "*)(uid=alice", "*"])
def test_hostile_usernames_in_an_and_filter_log_nobody_in(slapd: Slapd, username: str) -> None:
    assert searching(slapd, search_filter=AND_FILTER).verify(username, "alice-pw") is None


HOSTILE_PIECES = st.lists(
    st.sampled_from(["*", "(", ")", "\\", "\x00", ",", "+", "=", "alice", "a", "uid=", " ", "#"]),
    min_size=1,
    max_size=6,
).map("".join)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(username=HOSTILE_PIECES)
def test_fuzzed_hostile_usernames_log_nobody_in(slapd: Slapd, username: str) -> None:
    for mode in MODES.values():
        principal = mode(slapd).verify(username, "alice-pw")
        # Nobody, or alice herself spelled with outer spaces (see above).
        assert principal is None or (
            same_dn(principal.dn, Slapd.dn("alice")) and username.strip(" ") == "alice"
        )


# -- groups -------------------------------------------------------------------------------


def test_groups_from_member_of(users: LdapUsers) -> None:
    principal = users.verify("alice", "alice-pw")
    assert principal is not None
    assert {"admins", "staff", f"cn=admins,{GROUPS}", f"cn=staff,{GROUPS}"} <= principal.groups
    bob = users.verify("bob", "bob-pw")
    assert bob is not None and "staff" in bob.groups and "admins" not in bob.groups


@pytest.mark.parametrize("mode", list(MODES))
def test_groups_by_search_include_posix_groups(slapd: Slapd, mode: str) -> None:
    users = MODES[mode](slapd, group_base=GROUPS)
    bob = users.verify("bob", "bob-pw")
    assert bob is not None
    assert bob.groups == {"staff", "devs", f"cn=staff,{GROUPS}", f"cn=devs,{GROUPS}"}
    carol = users.verify("carol", "carol-pw")
    assert carol is not None and carol.groups == {"devs", f"cn=devs,{GROUPS}"}


def test_a_group_filter_of_ones_own(slapd: Slapd) -> None:
    users = searching(
        slapd, group_base=GROUPS, group_filter="(&(objectClass=posixGroup)(memberUid={username}))"
    )
    bob = users.verify("bob", "bob-pw")
    assert bob is not None and bob.groups == {"devs", f"cn=devs,{GROUPS}"}


def test_nested_groups_search_with_the_in_chain_rule(slapd: Slapd) -> None:
    # OpenLDAP has no in-chain rule: RFC 4511 §4.5.1.7.7 makes the filter
    # Undefined, so no group, and no error. What matters is what is asked.
    users = searching(slapd, group_base=GROUPS, nested_groups=True)
    assert users._group_filter is not None
    assert f"(member:{IN_CHAIN}:=uid=alice" in users._group_filter.fill(
        dn="uid=alice", username="x"
    )
    alice = users.verify("alice", "alice-pw")
    assert alice is not None and alice.groups == frozenset()


def test_groups_are_read_as_the_user_without_a_service_account(slapd: Slapd) -> None:
    # Direct bind, no bind_dn: the memberOf read happens on the user's own
    # connection, right after its bind: two operations, one connection.
    users = direct(slapd)
    before = slapd.operations()
    assert users.verify("alice", "alice-pw") is not None
    assert operations_between(before, slapd.operations()) == {"bind": 1, "search": 1}


def test_search_then_bind_reads_member_of_in_the_search(slapd: Slapd) -> None:
    users = searching(slapd, bind_dn=SERVICE_DN, bind_password=SERVICE_PASSWORD)
    assert users.verify("bob", "bob-pw") is not None  # opens and binds the service connection
    before = slapd.operations()
    assert users.verify("alice", "alice-pw") is not None
    assert operations_between(before, slapd.operations()) == {"bind": 1, "search": 1}


def test_no_groups_when_asked_for_none(slapd: Slapd) -> None:
    users = direct(slapd, memberof_attribute=None)
    assert not users.provides_groups
    before = slapd.operations()
    alice = users.verify("alice", "alice-pw")
    assert alice is not None and alice.groups == frozenset()
    assert operations_between(before, slapd.operations()) == {"bind": 1}


# -- the service account ---------------------------------------------------------------------


def test_a_refused_service_account_is_an_outage_that_names_it_not_its_password(
    slapd: Slapd,
) -> None:
    users = searching(slapd, bind_dn=SERVICE_DN, bind_password="expired-password")
    with pytest.raises(BackendUnavailable) as caught:
        users.verify("alice", "alice-pw")
    assert SERVICE_DN in str(caught.value) and "expired-password" not in str(caught.value)


def test_a_bound_user_never_searches_for_the_next_one(slapd: Slapd) -> None:
    # After alice's bind, the connection that searches for bob is still the
    # service account's: the two identities live in two pools.
    users = searching(slapd, bind_dn=SERVICE_DN, bind_password=SERVICE_PASSWORD)
    assert users.verify("alice", "alice-pw") is not None
    assert users.verify("bob", "wrong") is None
    service = [c.handle.whoami_s() for c in users._service_pool._idle]
    bound = [c.handle.whoami_s() for c in users._user_pool._idle]
    assert service == [f"dn:{SERVICE_DN}"]
    assert bound == [""]  # bob's refused bind left it anonymous (RFC 4513 §4)
