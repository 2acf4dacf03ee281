"""LDAP and Active Directory: users and groups from the directory a company already has.

:class:`LdapUsers` is a verifier (SPEC §13, extra ``ldap``: python-ldap). It
finds the user's entry (a DN template, or a search as a service account),
binds as that entry with the password, and reads the user's groups for
``rules``. Outages are ``BackendUnavailable`` (503), never a pass::

    users = LdapUsers("ldaps://ldap1.example.org ldaps://ldap2.example.org",
                      search_base="ou=people,dc=example,dc=org")
    app = BasicAuth(app, users, rules=[Rule("/admin/", groups=["admins"])])
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import math
import os
import re
import threading
import time
import urllib.parse
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from .logs import logger
from .verifiers import BackendUnavailable

__all__ = ["LdapUser", "LdapUsers", "escape_dn_value", "escape_filter_value"]


T = TypeVar("T")

#: Active Directory's LDAP_MATCHING_RULE_IN_CHAIN: ``member`` followed
#: through nested groups, by the server (one search, whatever the depth).
IN_CHAIN = "1.2.840.113556.1.4.1941"

#: The group search when ``group_base`` is given without ``group_filter``:
#: the three kinds of static group OpenLDAP and 389-DS directories hold.
DEFAULT_GROUP_FILTER = (
    "(|(&(objectClass=groupOfNames)(member={dn}))"
    "(&(objectClass=groupOfUniqueNames)(uniqueMember={dn}))"
    "(&(objectClass=posixGroup)(memberUid={username})))"
)
#: The group search with ``nested_groups`` (Active Directory).
NESTED_GROUP_FILTER = f"(&(objectClass=group)(member:{IN_CHAIN}:={{dn}}))"

#: A server that failed is tried after the others for this long, seconds.
DOWN_FOR = 30.0
#: Pooled connections are closed after this many seconds, so that the pool
#: returns to the first URL some time after it comes back (fail-back).
MAX_AGE = 300.0


# -- escaping (pure) ------------------------------------------------------------------

# RFC 4515 §3: in an assertion value NUL, "(", ")", "*" and a backslash must
# be written as a backslash and two hex digits (a bare "*" is a wildcard, a
# ")" closes the filter). Control characters are escaped too, for readable logs.
_FILTER_SPECIAL = re.compile(r"[\x00-\x1f()*\\\x7f]")
# RFC 4514 §2.4: in a DN attribute value '"', "+", ",", ";", "<", ">" and a
# backslash are escaped with a backslash, and so are a leading "#" or space
# and a trailing space; NUL is backslash-00. "=" is escaped too (§3's
# ``special`` allows it), so no value reads as the start of another
# attribute; other control characters as hex.
_DN_SPECIAL = frozenset('"+,;<>\\=')


def escape_filter_value(value: str) -> str:
    """``value`` as an RFC 4515 assertion value: matched literally, never a wildcard."""
    return _FILTER_SPECIAL.sub(lambda m: f"\\{ord(m.group()):02x}", value)


def escape_dn_value(value: str) -> str:
    """``value`` as an RFC 4514 attribute value: one value of one RDN, whatever it holds."""
    out = []
    last = len(value) - 1
    for position, char in enumerate(value):
        if char in _DN_SPECIAL:
            out.append("\\" + char)
        elif char < " " or char == "\x7f":
            out.append(f"\\{ord(char):02x}")
        elif (position == 0 and char in " #") or (position == last and char == " "):
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class _Template:
    """A filter or DN with ``{name}`` placeholders, checked once; filled per request."""

    __slots__ = ("names", "text")

    def __init__(self, option: str, text: object, allowed: tuple[str, ...]) -> None:
        if not isinstance(text, str):
            raise TypeError(f"{option} must be str, got {text!r}")
        names = _PLACEHOLDER.findall(text)
        for name in names:
            if name not in allowed:
                shown = " or ".join("{" + a + "}" for a in allowed)
                raise ValueError(f"{option}: unknown placeholder {{{name}}} (expected {shown})")
        if "{" in _PLACEHOLDER.sub("", text) or "}" in _PLACEHOLDER.sub("", text):
            raise ValueError(f"{option}: a brace that is not a placeholder in {text!r}")
        if not names:
            shown = " or ".join("{" + a + "}" for a in allowed)
            raise ValueError(f"{option} must contain {shown}, got {text!r}")
        self.text = text
        self.names = frozenset(names)

    def fill(self, **values: str) -> str:
        """The text with each placeholder replaced (in one pass: values are never re-read)."""
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.text)


def _check_filter(option: str, template: _Template) -> None:
    """A filter is one parenthesised expression (RFC 4515 §3), its parentheses balanced."""
    text = template.fill(**dict.fromkeys(template.names, "x"))
    depth = 0
    for position, char in enumerate(text):
        if char == "\\":
            continue
        depth += (char == "(") - (char == ")")
        if depth < 0 or (depth == 0 and position != len(text) - 1):
            break
    else:
        if text.startswith("(") and depth == 0:
            return
    raise ValueError(f"{option}: {template.text!r} is not one parenthesised LDAP filter")


# -- the principal ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LdapUser:
    """A user the directory let in: the name they logged in with, their entry, their groups.

    ``groups`` holds each group's DN as the directory spells it and the value
    of its first RDN (``cn=admins,ou=groups,dc=example,dc=org`` gives
    ``"admins"`` and the DN), so a rule may name either. It is cached with
    the login (``cache_ttl``).
    """

    username: str
    dn: str
    groups: frozenset[str]

    def __str__(self) -> str:
        return self.username


# -- the library (python-ldap, imported when the first LdapUsers is built) ---------------


class _Lib:
    """python-ldap and the error classes this module sorts its answers into."""

    def __init__(self) -> None:
        try:
            import ldap  # type: ignore[import-untyped]
            import ldap.dn  # type: ignore[import-untyped]
        except ImportError:
            raise ImportError(
                "LdapUsers needs python-ldap: pip install 'basicauth-wsgi[ldap]'"
            ) from None
        self.ldap: Any = ldap
        #: The server is away, hung, busy or refuses TLS: try the next one.
        self.outage: tuple[type[Exception], ...] = (
            ldap.SERVER_DOWN,
            ldap.TIMEOUT,
            ldap.CONNECT_ERROR,
            ldap.UNAVAILABLE,
            ldap.BUSY,
        )
        #: The server answered a user's bind with "no": a wrong password,
        #: an unknown, disabled, expired or locked account (AD's 49 with
        #: data 52e/530/531/532/533/701/773/775), a name that is no DN.
        self.refused: tuple[type[Exception], ...] = (
            ldap.INVALID_CREDENTIALS,
            ldap.INAPPROPRIATE_AUTH,
            ldap.UNWILLING_TO_PERFORM,
            ldap.NO_SUCH_OBJECT,
            ldap.INVALID_DN_SYNTAX,
            ldap.INSUFFICIENT_ACCESS,
            ldap.CONSTRAINT_VIOLATION,
        )
        self.error: type[Exception] = ldap.LDAPError

    def first_rdn_value(self, dn: str) -> str | None:
        """The value of ``dn``'s first RDN (``admins`` for ``cn=admins,ou=groups,...``)."""
        try:
            return str(self.ldap.dn.str2dn(dn)[0][0][1])
        except (self.ldap.DECODING_ERROR, IndexError):
            return None

    def is_dn(self, text: str) -> bool:
        try:
            return bool(self.ldap.dn.str2dn(text))
        except self.ldap.DECODING_ERROR:
            return False


@functools.cache
def _lib() -> _Lib:
    """python-ldap, imported once, on first use (``ImportError`` names the extra)."""
    return _Lib()


def _describe(exc: BaseException) -> str:
    """python-ldap's error as one line: its description and the server's diagnostic."""
    detail = exc.args[0] if exc.args else {}
    if not isinstance(detail, dict):
        return str(detail) or type(exc).__name__
    text = str(detail.get("desc") or type(exc).__name__)
    info = detail.get("info")
    return f"{text} ({info})" if info else text


# -- servers and connections ------------------------------------------------------------


class _Servers:
    """The URLs in order, and which of them failed lately (tried after the others).

    Shared by every thread; ``_down`` is changed under ``_lock`` only. A
    server is marked down when a fresh connection to it fails or an
    operation on it times out, and marked up when it next answers.
    """

    def __init__(self, urls: tuple[str, ...], clock: Callable[[], float]) -> None:
        self.urls = urls
        self._clock = clock
        self._down: dict[int, float] = {}
        self._lock = threading.Lock()

    def first(self, failed: set[int]) -> int | None:
        """The server a new connection goes to: the first in order not failed in this call,
        preferring those that did not fail in the last :data:`DOWN_FOR` seconds."""
        now = self._clock()
        left = [i for i in range(len(self.urls)) if i not in failed]
        healthy = [i for i in left if now - self._down.get(i, -math.inf) >= DOWN_FOR]
        if healthy:
            return healthy[0]
        return left[0] if left else None

    def down(self, index: int, reason: str) -> None:
        with self._lock:
            new = index not in self._down
            self._down[index] = self._clock()
        if new and len(self.urls) > 1:
            logger.warning("LDAP server %s failed (%s); failing over", self.urls[index], reason)

    def up(self, index: int) -> None:
        if index not in self._down:  # the fast path: no lock
            return
        with self._lock:
            was = self._down.pop(index, None)
        if was is not None and len(self.urls) > 1:
            logger.info("LDAP server %s answers again", self.urls[index])


class _Connection:
    """One python-ldap connection, the server it went to, and when it was opened."""

    __slots__ = ("born", "handle", "server")

    def __init__(self, handle: Any, server: int, born: float) -> None:
        self.handle = handle
        self.server = server
        self.born = born

    def close(self) -> None:
        # An unbind is one message and a close: it does not wait for the server.
        with contextlib.suppress(Exception):
            self.handle.unbind_ext()


class _Lease:
    """What :meth:`_Pool.lease` hands out: a connection, or ``None`` and the right to open one."""

    __slots__ = ("connection",)

    def __init__(self, connection: _Connection | None) -> None:
        self.connection = connection


class _Pool:
    """Connections of one identity (the service account, or user binds); ``size`` at most.

    Who holds a connection: exactly one thread, between taking it and the
    end of the ``with pool.lease(...)`` block that took it. That same block
    gives it back when it ends normally, and closes it when it raises: an
    error or a timeout leaves a connection in an unknown state (an answer
    may still be on its way), so it is never reused. ``_open`` counts the
    connections that exist (idle or leased), changed under ``_cond`` only.
    A thread that finds all ``size`` leased waits for one, until its deadline.
    """

    def __init__(self, size: int, clock: Callable[[], float]) -> None:
        self.size = size
        self._clock = clock
        self._idle: list[_Connection] = []
        self._open = 0
        self._cond = threading.Condition()
        #: Connections inherited through fork(): never used, never unbound
        #: (an unbind would close the parent's connection on the server).
        self._orphans: list[_Connection] = []

    @contextlib.contextmanager
    def lease(self, deadline: float, avoid: set[int]) -> Iterator[_Lease]:
        """A connection (not to a server in ``avoid``), or ``None`` and a place for a new one."""
        lease = _Lease(self._take(deadline, avoid))
        try:
            yield lease
        except BaseException:
            self._discard(lease.connection)
            raise
        self._give(lease.connection)

    def _take(self, deadline: float, avoid: set[int]) -> _Connection | None:
        stale: list[_Connection] = []
        try:
            with self._cond:
                while True:
                    while self._idle:
                        connection = self._idle.pop()  # the most recently used
                        if connection.server not in avoid:
                            return connection
                        stale.append(connection)
                        self._open -= 1
                    if self._open < self.size:
                        self._open += 1
                        return None
                    left = deadline - self._clock()
                    if left <= 0:
                        raise BackendUnavailable(
                            f"all {self.size} LDAP connections stayed busy until the timeout"
                        )
                    self._cond.wait(left)
        finally:
            for connection in stale:
                connection.close()

    def _give(self, connection: _Connection | None) -> None:
        old = connection is not None and self._clock() - connection.born > MAX_AGE
        with self._cond:
            if connection is None or old:
                self._open -= 1
            else:
                self._idle.append(connection)
            self._cond.notify()
        if old and connection is not None:
            connection.close()

    def _discard(self, connection: _Connection | None) -> None:
        with self._cond:
            self._open -= 1
            self._cond.notify()
        if connection is not None:
            connection.close()

    def flush(self, server: int) -> None:
        """Close the idle connections to ``server`` (it failed: they are likely dead too)."""
        with self._cond:
            dead = [c for c in self._idle if c.server == server]
            self._idle = [c for c in self._idle if c.server != server]
            self._open -= len(dead)
            self._cond.notify_all()
        for connection in dead:
            connection.close()

    def forget(self) -> None:
        """After fork(), in the child: the parent's connections are its own."""
        self._cond = threading.Condition()
        self._orphans.extend(self._idle)
        self._idle = []
        self._open = 0


# -- the verifier -----------------------------------------------------------------------


class LdapUsers:
    """Users and their groups from an LDAP directory or Active Directory: a verifier.

    ``url`` is one or more ``ldap://``, ``ldaps://`` or ``ldapi://`` URLs
    separated by spaces, tried in order (as in OpenLDAP's ``ldap.conf``).
    The user's entry is found in one of two ways, exactly one of them given:

    ``user_dn``
        A template bound to directly: ``uid={username},ou=people,dc=example,dc=org``,
        or Active Directory's ``{username}@corp.example.com`` (then no groups
        are read, the entry's DN being unknown: search for it instead).
    ``search_base`` with ``search_filter``
        The one entry under ``search_base`` that ``search_filter`` matches
        (``(uid={username})``; AD: ``(sAMAccountName={username})``), looked
        up as ``bind_dn``/``bind_password`` (anonymously without them), then
        bound to with the password. No entry, or more than one, refuses.

    The username is escaped for the filter (RFC 4515) and the DN (RFC 4514),
    so no username widens a search or names another entry. An empty password
    is refused before any LDAP call: it would be an unauthenticated bind
    (RFC 4513 §5.1.2), which many servers answer with success.

    Groups, for ``rules`` (``provides_groups``; the principal is an
    :class:`LdapUser`): without ``group_base``, the DNs in the entry's
    ``memberof_attribute`` (``memberOf``; ``None`` reads no groups); with
    it, the groups under ``group_base`` that ``group_filter`` matches, with
    ``{dn}`` (the user's DN) and ``{username}`` filled in. By default that
    is :data:`DEFAULT_GROUP_FILTER` (``groupOfNames``, ``groupOfUniqueNames``,
    ``posixGroup``), or with ``nested_groups`` (Active Directory)
    :data:`NESTED_GROUP_FILTER`, whose in-chain matching rule finds groups
    within groups too. Lookups run as the service account when ``bind_dn``
    is given, else as the user just bound.

    Each ``verify`` ends within ``timeout`` seconds, failover included: an
    attempt gets an equal share of the time left among the servers not yet
    tried, and a server that failed is tried after the others for
    :data:`DOWN_FOR` seconds. When none answers: ``BackendUnavailable`` (a
    503, never a pass). TLS through ``ldaps://`` or ``start_tls``; the
    server's certificate is always verified, against ``ca_file`` (PEM) when
    given, else the system's CAs. Referrals are never followed. At most
    ``pool_size`` connections per identity are kept (see :class:`_Pool`).
    """

    #: A check is a network round trip and the directory's own hash: cache results.
    cache_by_default = True
    #: A check waits on the network, not in a C hash: it runs in the request's thread.
    releases_gil = False
    provides_groups: bool

    def __init__(
        self,
        url: str,
        *,
        user_dn: str | None = None,
        search_base: str | None = None,
        search_filter: str = "(uid={username})",
        bind_dn: str | None = None,
        bind_password: str | None = None,
        group_base: str | None = None,
        group_filter: str | None = None,
        nested_groups: bool = False,
        memberof_attribute: str | None = "memberOf",
        start_tls: bool = False,
        ca_file: str | None = None,
        timeout: float = 2.0,
        pool_size: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lib = lib = _lib()
        self._clock = clock
        self._start_tls = _flag("start_tls", start_tls)
        self._servers = _Servers(_check_urls(url, self._start_tls, lib), clock)
        self._ca_file = _check_ca_file(ca_file, self._servers.urls, self._start_tls)
        self.timeout = _check_number("timeout", timeout, 0.001, 300.0)
        self._pick_entry(user_dn, search_base, search_filter)
        self._pick_service(bind_dn, bind_password)
        self._pick_groups(group_base, group_filter, nested_groups, memberof_attribute)
        size = int(_check_number("pool_size", pool_size, 1, 64, whole=True))
        # Two pools, so that a connection bound as a user never searches for
        # the next one: service connections are bound once, as bind_dn (or
        # not at all: anonymous), and only ever search; user connections only
        # ever bind as a user, and search only within the lease whose bind
        # just succeeded (lookups as that user). Every lease of a user
        # connection begins with a bind, so no identity carries over.
        self._service_pool = _Pool(size, clock)
        self._user_pool = _Pool(size, clock)
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _forget(ref))

    # -- configuration ------------------------------------------------------------------

    def _pick_entry(self, user_dn: str | None, search_base: str | None, search_filter: str) -> None:
        if (user_dn is None) == (search_base is None):
            raise ValueError(
                "user_dn or search_base: give exactly one (a DN template to bind to, "
                "or where to search for the user's entry)"
            )
        self._user_dn: _Template | None = None
        self._user_dn_is_dn = False
        self._search_base: str | None = None
        self._search_filter = _Template("search_filter", search_filter, ("username",))
        _check_filter("search_filter", self._search_filter)
        if user_dn is not None:
            self._user_dn = _Template("user_dn", user_dn, ("username",))
            # A DN (uid=...,dc=...) or an AD bind name (user@domain, DOMAIN\user).
            self._user_dn_is_dn = "=" in user_dn
            if self._user_dn_is_dn and not self._lib.is_dn(self._user_dn.fill(username="x")):
                raise ValueError(f"user_dn: {user_dn!r} is not a DN template")
        else:
            self._search_base = self._dn("search_base", search_base)

    def _pick_service(self, bind_dn: str | None, bind_password: str | None) -> None:
        self._bind_dn = None if bind_dn is None else _text("bind_dn", bind_dn)
        if bind_password is not None and not isinstance(bind_password, str):
            raise TypeError("bind_password must be str")  # never shown: it is a secret
        if bind_password is not None and self._bind_dn is None:
            raise ValueError("bind_password is set but bind_dn is not")
        if self._bind_dn is not None and not bind_password:
            # RFC 4513 §5.1.2: a name without a password is an unauthenticated
            # bind, which a server may answer with success as anonymous.
            raise ValueError(
                "bind_dn is set without bind_password (that would be an unauthenticated bind)"
            )
        self._bind_password = bind_password

    def _pick_groups(
        self,
        group_base: str | None,
        group_filter: str | None,
        nested_groups: bool,
        memberof_attribute: str | None,
    ) -> None:
        nested = _flag("nested_groups", nested_groups)
        self._group_base = None if group_base is None else self._dn("group_base", group_base)
        if group_filter is not None and self._group_base is None:
            raise ValueError("group_filter is set but group_base is not (where to search)")
        if nested and self._group_base is None:
            raise ValueError("nested_groups needs group_base: AD finds nested groups by a search")
        if nested and group_filter is not None:
            raise ValueError(
                f"nested_groups and group_filter: give one (write member:{IN_CHAIN}:= "
                "in the filter yourself)"
            )
        default = NESTED_GROUP_FILTER if nested else DEFAULT_GROUP_FILTER
        self._group_filter: _Template | None = None
        if self._group_base is not None:
            self._group_filter = _Template(
                "group_filter",
                default if group_filter is None else group_filter,
                ("dn", "username"),
            )
            _check_filter("group_filter", self._group_filter)
        if memberof_attribute is not None:
            _text("memberof_attribute", memberof_attribute)
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", memberof_attribute):
                raise ValueError(
                    f"memberof_attribute: {memberof_attribute!r} is not an attribute name"
                )
        self._memberof = memberof_attribute
        # With an AD bind name (user@domain) the entry's DN is not known.
        no_dn = self._user_dn is not None and not self._user_dn_is_dn
        if self._group_filter is not None:
            if no_dn and "dn" in self._group_filter.names:
                blame = (
                    "group_base: the default group_filter"
                    if group_filter is None
                    else ("group_filter")
                )
                raise ValueError(
                    f"{blame} needs {{dn}}, unknown when user_dn is not a DN: search for "
                    "the user (search_base), or match {username} only"
                )
            self.provides_groups = True
        else:
            self.provides_groups = self._memberof is not None and not no_dn

    def _dn(self, option: str, value: object) -> str:
        text = _text(option, value)
        if not self._lib.is_dn(text):
            raise ValueError(f"{option}: {text!r} is not a DN")
        return text

    # -- verifying ------------------------------------------------------------------------

    def verify(self, username: str, password: str) -> LdapUser | None:
        """The user, if the directory accepts ``password`` for ``username``; else ``None``.

        ``BackendUnavailable`` when no server answers within ``timeout``, or
        when the directory will not work with us (the service account's bind
        refused, a search failing); its message names the server and the
        server's diagnostic, never a password.
        """
        # RFC 4513 §5.1.2: a name with an empty password is an unauthenticated
        # bind, which many servers answer with success. Never sent.
        if not password or not username:
            return None
        deadline = self._clock() + self.timeout
        listed: list[str] | None = None
        if self._user_dn is not None:
            dn = self._user_dn.fill(username=escape_dn_value(username))
        else:
            found = self._search_user(username, deadline)
            if found is None:
                return None
            dn, listed = found
        groups = self._bind_user(dn, password, username, listed, deadline)
        return None if groups is None else LdapUser(username, dn, groups)

    def _search_user(self, username: str, deadline: float) -> tuple[str, list[str] | None] | None:
        """The DN of the one entry the search finds (and its memberOf values), or ``None``."""
        lib = self._lib.ldap
        query = self._search_filter.fill(username=escape_filter_value(username))
        read = self._group_filter is None and self.provides_groups
        assert self._search_base is not None
        base = self._search_base
        # RFC 4511 §4.5.1.8: "1.1" asks for no attributes at all.
        wanted = [self._memberof] if read and self._memberof is not None else ["1.1"]

        def search(handle: Any, seconds: float) -> list[tuple[str, Any]] | None:
            try:
                # A size limit of 2: one entry is an answer, a second one a refusal.
                return self._search(handle, base, lib.SCOPE_SUBTREE, query, wanted, seconds, 2)
            except lib.SIZELIMIT_EXCEEDED:
                return None

        entries = self._run(self._service_pool, search, deadline)
        if entries is None or len(entries) > 1:
            logger.warning(
                "LDAP search %s under %r finds more than one entry: refusing user %r",
                query,
                base,
                username,
            )
            return None
        if not entries:
            return None
        dn, attributes = entries[0]
        return dn, (_values(attributes, self._memberof) if read and self._memberof else None)

    def _bind_user(
        self, dn: str, password: str, username: str, listed: list[str] | None, deadline: float
    ) -> frozenset[str] | None:
        """Bind as ``dn`` with ``password``: the user's groups if accepted, ``None`` if refused."""
        as_user = self._bind_dn is None

        def bind(handle: Any, seconds: float) -> frozenset[str] | None:
            if not self._simple_bind(handle, dn, password, seconds):
                return None
            if as_user:
                return self._memberships(handle, dn, username, listed, seconds)
            return frozenset()

        groups = self._run(self._user_pool, bind, deadline)
        if groups is None or as_user:
            return groups
        if not self._looks_up(listed):
            return self._memberships(None, dn, username, listed, 0.0)
        # As the service account: a lease of the other pool, taken only now
        # that the user's lease is given back (never two held at once).
        return self._run(
            self._service_pool,
            lambda handle, seconds: self._memberships(handle, dn, username, listed, seconds),
            deadline,
        )

    def _looks_up(self, listed: list[str] | None) -> bool:
        """Whether the user's groups take an LDAP operation (not known from the search)."""
        return self.provides_groups and (self._group_filter is not None or listed is None)

    def _memberships(
        self, handle: Any, dn: str, username: str, listed: list[str] | None, seconds: float
    ) -> frozenset[str]:
        """The user's groups: from ``listed``, by a group search, or by reading the entry.

        ``handle`` is used only when :meth:`_looks_up` says an operation is needed.
        """
        lib = self._lib.ldap
        if not self.provides_groups:
            return frozenset()
        if self._group_filter is not None:
            assert self._group_base is not None
            query = self._group_filter.fill(
                dn=escape_filter_value(dn), username=escape_filter_value(username)
            )
            found = self._search(
                handle, self._group_base, lib.SCOPE_SUBTREE, query, ["1.1"], seconds
            )
            return self._names(group for group, _ in found)
        assert self._memberof is not None
        if listed is None:
            found = self._search(
                handle, dn, lib.SCOPE_BASE, "(objectClass=*)", [self._memberof], seconds
            )
            listed = _values(found[0][1], self._memberof) if found else []
        return self._names(listed)

    def _names(self, dns: Iterable[str]) -> frozenset[str]:
        """Each group's DN and its first RDN's value (``admins`` for ``cn=admins,...``)."""
        names: set[str] = set()
        for dn in dns:
            names.add(dn)
            short = self._lib.first_rdn_value(dn)
            if short:
                names.add(short)
        return frozenset(names)

    # -- LDAP operations ------------------------------------------------------------------

    def _simple_bind(self, handle: Any, dn: str, password: str, seconds: float) -> bool:
        """Bind ``handle`` as ``dn``: ``True`` if accepted, ``False`` if refused.

        A refused bind leaves the connection anonymous (RFC 4513 §4).
        """
        try:
            handle.result3(handle.simple_bind(dn, password), all=1, timeout=seconds)
        except self._lib.refused:
            return False
        return True

    def _search(
        self,
        handle: Any,
        base: str,
        scope: int,
        query: str,
        attributes: list[str],
        seconds: float,
        sizelimit: int = 0,
    ) -> list[tuple[str, Any]]:
        """The entries found, as (DN, attributes); none when ``base`` does not exist."""
        lib = self._lib.ldap
        try:
            msgid = handle.search_ext(base, scope, query, attributes, sizelimit=sizelimit)
            found = handle.result3(msgid, all=1, timeout=seconds)[1]
        except lib.NO_SUCH_OBJECT:
            return []
        # Search references (DN None: AD's other partitions) are never followed.
        return [(dn, attrs) for dn, attrs in found if dn]

    def _run(self, pool: _Pool, work: Callable[[Any, float], T], deadline: float) -> T:
        """``work(handle, seconds)`` on a connection of ``pool``, failing over between servers.

        An attempt that meets an outage (a server down, hung, busy, or whose
        TLS fails) closes its connection and moves on: to a fresh connection
        to the same server when a pooled one had gone stale (closed while
        idle), else to the next server. Each attempt gets an equal share of
        the time left among the servers not yet failed in this call, so the
        call ends by ``deadline``. Any other LDAP error is the directory
        refusing to work with us: ``BackendUnavailable`` at once.
        """
        servers, lib = self._servers, self._lib
        retry = max(1, math.ceil(self.timeout))
        failed: set[int] = set()
        reason = "no LDAP server answered within the timeout"
        for _ in range(len(servers.urls) + 2):
            left = deadline - self._clock()
            if left <= 0:
                break
            seconds = left / max(1, len(servers.urls) - len(failed))
            server, fresh = -1, False
            try:
                with pool.lease(deadline, failed) as lease:
                    if lease.connection is None:
                        choice = servers.first(failed)
                        if choice is None:
                            break
                        server, fresh = choice, True
                        lease.connection = self._open(pool, server, seconds)
                    server = lease.connection.server
                    result = work(lease.connection.handle, seconds)
            except lib.outage as exc:
                reason = f"LDAP server {servers.urls[server]}: {_describe(exc)}"
                self._service_pool.flush(server)
                self._user_pool.flush(server)
                if fresh or isinstance(exc, lib.ldap.TIMEOUT):
                    failed.add(server)
                    servers.down(server, _describe(exc))
                continue
            except lib.error as exc:
                where = servers.urls[server]
                raise BackendUnavailable(f"LDAP server {where}: {_describe(exc)}", retry) from None
            servers.up(server)
            return result
        raise BackendUnavailable(reason, retry)

    def _open(self, pool: _Pool, server: int, seconds: float) -> _Connection:
        """A new connection to ``server``, with TLS as configured; bound as ``bind_dn`` for
        the service pool."""
        lib = self._lib.ldap
        url = self._servers.urls[server]
        handle = lib.initialize(url)
        try:
            handle.set_option(lib.OPT_PROTOCOL_VERSION, lib.VERSION3)
            # Never chase a referral: libldap would take the bind elsewhere.
            handle.set_option(lib.OPT_REFERRALS, 0)
            handle.set_option(lib.OPT_NETWORK_TIMEOUT, seconds)  # connecting, TLS included
            handle.set_option(lib.OPT_TIMEOUT, seconds)  # synchronous calls (StartTLS)
            if self._start_tls or url.lower().startswith("ldaps:"):
                handle.set_option(lib.OPT_X_TLS_REQUIRE_CERT, lib.OPT_X_TLS_DEMAND)
                if self._ca_file is not None:
                    handle.set_option(lib.OPT_X_TLS_CACERTFILE, self._ca_file)
                # Last: a TLS context of this connection's own, with the options above.
                handle.set_option(lib.OPT_X_TLS_NEWCTX, 0)
            if self._start_tls:
                handle.start_tls_s()
            if pool is self._service_pool and self._bind_dn is not None:
                self._bind_service(handle, seconds)
        except BaseException:
            with contextlib.suppress(Exception):
                handle.unbind_ext()
            raise
        return _Connection(handle, server, self._clock())

    def _bind_service(self, handle: Any, seconds: float) -> None:
        """Bind as the service account; ``BackendUnavailable`` if the directory refuses it."""
        assert self._bind_dn is not None and self._bind_password is not None
        if not self._simple_bind(handle, self._bind_dn, self._bind_password, seconds):
            # An expired or changed service password: every login waits on it.
            raise BackendUnavailable(
                f"LDAP: the service account {self._bind_dn!r} was refused (check "
                "bind_dn and its password)",
                max(1, math.ceil(self.timeout)),
            )

    # -- the verifier's interface ---------------------------------------------------------

    def check_kind(self, username: str) -> str:
        """Every check is a bind to the directory."""
        return "ldap"

    def username_key(self, username: str) -> str:
        """The throttle's name for ``username``: as the directory compares names.

        ``uid`` and ``sAMAccountName`` match case-insensitively with
        insignificant spaces (RFC 4517 caseIgnoreMatch, RFC 4518 §2.6.1), so
        ``ALICE`` and `` alice`` log in as alice: the throttle must count
        them as one user, or every spelling would be another ``per_user``.
        """
        return " ".join(username.split()).casefold()

    def __repr__(self) -> str:
        how = (
            f"user_dn={self._user_dn.text!r}"
            if self._user_dn is not None
            else f"search_base={self._search_base!r}"
        )
        return f"<LdapUsers {' '.join(self._servers.urls)} {how}>"


# -- helpers -----------------------------------------------------------------------------


def _values(attributes: dict[str, list[bytes]], name: str) -> list[str]:
    """The values of attribute ``name`` (names are case-insensitive, RFC 4512 §2.5)."""
    wanted = name.lower()
    for key, values in attributes.items():
        if key.lower() == wanted:
            return [value.decode("utf-8", "replace") for value in values]
    return []


def _forget(ref: weakref.ref[LdapUsers]) -> None:
    users = ref()
    if users is not None:
        users._service_pool.forget()
        users._user_pool.forget()


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be str, got {value!r}")
    if not value.strip():
        raise ValueError(f"{name} is empty")
    return value


def _check_number(
    name: str, value: object, low: float, high: float, *, whole: bool = False
) -> float:
    kinds: tuple[type, ...] = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not low <= value <= high:  # type: ignore[operator]
        raise ValueError(f"{name} must be from {low:g} to {high:g}, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def _check_urls(url: object, start_tls: bool, lib: _Lib) -> tuple[str, ...]:
    """The URLs of ``url`` (space-separated), each ``ldap[s|i]://host[:port]`` and nothing more."""
    urls = tuple(_text("url", url).split())
    for one in urls:
        parts = urllib.parse.urlsplit(one)
        if parts.scheme.lower() not in ("ldap", "ldaps", "ldapi"):
            raise ValueError(f"url: {one!r} is not an ldap://, ldaps:// or ldapi:// URL")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            # Apache's AuthLDAPURL carries the base and filter; here they are options.
            raise ValueError(
                f"url: {one!r} has a path or query; give the DN as search_base "
                "and the filter as search_filter"
            )
        if start_tls and parts.scheme.lower() == "ldaps":
            raise ValueError(f"start_tls with {one!r}: ldaps:// is TLS already")
        try:
            lib.ldap.initialize(one)  # parses the URL; connects to nothing
        except lib.error as exc:
            raise ValueError(f"url: {one!r}: {_describe(exc)}") from None
        if parts.scheme.lower() == "ldap" and not start_tls and not _loopback(parts.hostname):
            logger.warning(
                "LDAP %s without start_tls: passwords cross the network unencrypted "
                "(use ldaps:// or start_tls)",
                one,
            )
    return urls


def _loopback(host: str | None) -> bool:
    """Whether ``host`` is this machine (``ldapi://`` has none: a local socket)."""
    if not host or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_ca_file(ca_file: object, urls: tuple[str, ...], start_tls: bool) -> str | None:
    if ca_file is None:
        return None
    path = _text("ca_file", ca_file)
    if not start_tls and not any(u.lower().startswith("ldaps:") for u in urls):
        raise ValueError("ca_file is set but no URL uses TLS (use ldaps:// or start_tls)")
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise ValueError(f"ca_file: cannot read {path!r}")
    return path
