"""Fixtures of the LDAP tests: real slapd servers (see ``tests/ldapserver.py``).

This folder has no ``__init__.py`` on purpose: ``tests`` is on the import
path, and a package ``tests/ldap`` would hide python-ldap's ``ldap``. As a
plain folder it is at most a namespace portion, which a regular package
always wins over. Its test modules are named ``test_ldap_*`` so that they
cannot collide with another folder's.
"""

from __future__ import annotations

from ldapserver import own_slapd, slapd, tls, tls_slapd  # noqa: F401 (fixtures)
