"""TLS: ldaps:// and StartTLS against a certificate made here with the openssl CLI."""

from __future__ import annotations

import logging

import ldap
import pytest
from ldapserver import USER_DN, Slapd, Tls

from basicauth_wsgi.ldap import LdapUsers
from basicauth_wsgi.verifiers import BackendUnavailable


def test_ldaps_with_the_ca_file(tls_slapd: Slapd, tls: Tls) -> None:
    users = LdapUsers(tls_slapd.ldaps_url, user_dn=USER_DN, ca_file=str(tls.ca))
    assert users.verify("alice", "alice-pw") is not None
    assert users.verify("alice", "wrong") is None
    [connection] = users._user_pool._idle
    assert connection.handle.get_option(ldap.OPT_X_TLS_VERSION).startswith("TLS")


def test_start_tls_with_the_ca_file(tls_slapd: Slapd, tls: Tls) -> None:
    users = LdapUsers(tls_slapd.url, user_dn=USER_DN, start_tls=True, ca_file=str(tls.ca))
    assert users.verify("bob", "bob-pw") is not None
    [connection] = users._user_pool._idle
    assert connection.handle.get_option(ldap.OPT_X_TLS_VERSION).startswith("TLS")


def test_without_tls_this_server_refuses_binds(tls_slapd: Slapd) -> None:
    # It requires TLS for simple binds (security simple_bind=128): so the two
    # tests above did bind over TLS. A server that refuses to work with us is
    # a 503 with its diagnostic, never a pass and never a 500.
    users = LdapUsers(tls_slapd.url, user_dn=USER_DN)
    with pytest.raises(BackendUnavailable, match="onfidentiality required"):
        users.verify("alice", "alice-pw")


@pytest.mark.parametrize("how", ["ldaps", "start_tls"])
def test_a_certificate_from_another_ca_is_an_outage_never_a_pass(
    tls_slapd: Slapd, tls: Tls, how: str
) -> None:
    url = tls_slapd.ldaps_url if how == "ldaps" else tls_slapd.url
    users = LdapUsers(
        url, user_dn=USER_DN, start_tls=how == "start_tls", ca_file=str(tls.other_ca), timeout=2.0
    )
    for password in ("alice-pw", "wrong"):
        with pytest.raises(BackendUnavailable) as caught:
            users.verify("alice", password)
        assert url in str(caught.value)


def test_the_system_cas_do_not_trust_a_test_ca(tls_slapd: Slapd) -> None:
    # Without ca_file the system's CAs decide; certificates are always verified.
    users = LdapUsers(tls_slapd.ldaps_url, user_dn=USER_DN)
    with pytest.raises(BackendUnavailable):
        users.verify("alice", "alice-pw")


def test_plain_ldap_to_another_host_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="basicauth_wsgi"):
        LdapUsers("ldap://192.0.2.1", user_dn=USER_DN)
        LdapUsers("ldap://127.0.0.1 ldaps://192.0.2.1", user_dn=USER_DN)
        LdapUsers("ldap://192.0.2.1", user_dn=USER_DN, start_tls=True)
    assert [r.getMessage().split()[1] for r in caplog.records] == ["ldap://192.0.2.1"]
