"""Authorization: which authenticated users may do what (SPEC §6).

Rules are checked in order; the first whose path and method match decides.
A user it does not allow gets 403::

    rules = [Rule("/api/v1/subscribers/", methods=["DELETE"], groups=["admin"])]
    app = BasicAuth(app, users, rules=rules, groups=HtgroupFile("/etc/apache2/groups"))

Groups are a mapping group -> usernames, or an :class:`HtgroupFile` in
Apache's ``group: user1 user2`` format, reloaded when it changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable

from .grammar import is_token, normalize
from .paths import PathList

__all__ = ["GroupLookup", "Groups", "Rule", "as_groups", "principal_groups"]


@runtime_checkable
class Groups(Protocol):
    """Group membership, as rules need it."""

    def members(self, group: str) -> frozenset[str]:
        """Return the usernames in ``group`` (empty if there is no such group)."""
        ...

    def __contains__(self, group: object) -> bool: ...


@runtime_checkable
class GroupLookup(Protocol):
    """Groups that can also say which groups one user is in (forward-auth's ``Remote-Groups``).

    The built-in groups (a mapping, :class:`~basicauth_wsgi.HtgroupFile`, a
    directory principal's) have it; a :class:`Groups` of your own may add it.
    """

    def groups_of(self, username: str) -> frozenset[str]:
        """Return the groups ``username`` is a member of (empty if none)."""
        ...


class _StaticGroups:
    """Groups from a mapping group -> iterable of usernames."""

    __slots__ = ("_groups", "_of")

    def __init__(self, mapping: Mapping[str, Iterable[str]]) -> None:
        groups: dict[str, frozenset[str]] = {}
        for group, users in mapping.items():
            if not isinstance(group, str) or not group:
                raise ValueError(f"groups: group names must be non-empty str, got {group!r}")
            if isinstance(users, str) or not all(isinstance(u, str) for u in users):
                raise TypeError(f"groups: {group!r} must list usernames, got {users!r}")
            groups[group] = frozenset(normalize(u) for u in users)
        self._groups = groups
        self._of = memberships(groups)

    def members(self, group: str) -> frozenset[str]:
        return self._groups.get(group, frozenset())

    def groups_of(self, username: str) -> frozenset[str]:
        return self._of.get(username, frozenset())

    def __contains__(self, group: object) -> bool:
        return group in self._groups

    def __repr__(self) -> str:
        return f"<groups {sorted(self._groups)}>"


class _Memberships:
    """One user's groups, as a :class:`Groups` (from a principal that carries them)."""

    __slots__ = ("_groups", "_username")

    def __init__(self, username: str, groups: frozenset[str]) -> None:
        self._username = username
        self._groups = groups

    def members(self, group: str) -> frozenset[str]:
        return frozenset((self._username,)) if group in self._groups else frozenset()

    def groups_of(self, username: str) -> frozenset[str]:
        return self._groups if username == self._username else frozenset()

    def __contains__(self, group: object) -> bool:
        return group in self._groups


def memberships(groups: Mapping[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    """Invert group -> usernames into username -> groups (computed once per version)."""
    found: dict[str, set[str]] = {}
    for group, users in groups.items():
        for user in users:
            found.setdefault(user, set()).add(group)
    return {user: frozenset(names) for user, names in found.items()}


def principal_groups(username: str, principal: object) -> Groups:
    """The groups ``principal`` carries (its ``groups`` attribute), as a :class:`Groups`.

    For verifiers that declare ``provides_groups`` (a directory): the
    memberships come with the login and are cached with it.
    """
    found = getattr(principal, "groups", None) or ()
    return _Memberships(username, frozenset(g for g in found if isinstance(g, str)))


def as_groups(groups: object) -> Groups:
    """Return a :class:`Groups` for ``groups``: a mapping or an :class:`HtgroupFile`."""
    if isinstance(groups, Groups):
        return groups
    if isinstance(groups, Mapping):
        return _StaticGroups(groups)
    raise TypeError(
        f"groups must be a mapping of group to usernames or an HtgroupFile, got {groups!r}"
    )


class Rule:
    """Who may use a path: ``users`` and members of ``groups``, for ``methods``.

    ``path`` has the syntax of ``exclude``: ``"/admin"`` is exactly that
    path, ``"/admin/"`` that folder and everything below it, matched on the
    same normalised path. ``methods`` limits the rule to those methods (all
    when omitted; GET includes HEAD). A rule with neither ``users`` nor
    ``groups`` allows any authenticated user.
    """

    __slots__ = ("groups", "methods", "path", "paths", "users")

    def __init__(
        self,
        path: str,
        methods: Iterable[str] | None = None,
        users: Iterable[str] | None = None,
        groups: Iterable[str] | None = None,
    ) -> None:
        if not isinstance(path, str):
            raise TypeError(f"Rule path must be str, got {path!r}")
        self.path = path
        self.paths = PathList([path], option="Rule path")
        if methods is None:
            self.methods: frozenset[str] | None = None
        else:
            names = _names(methods, "methods")
            for method in names:
                if not is_token(method):
                    raise ValueError(f"Rule {path!r}: {method!r} is not an HTTP method")
            # RFC 9110 §9.1: methods are case-sensitive tokens, the standard
            # ones upper-case; frameworks upper-case before dispatching. A
            # rule for GET covers HEAD, which is answered like GET.
            upper = {m.upper() for m in names}
            if not upper:
                raise ValueError(f"Rule {path!r}: methods is empty, so it would match nothing")
            self.methods = frozenset(upper | {"HEAD"} if "GET" in upper else upper)
        self.users = frozenset(normalize(u) for u in _names(users or (), "users"))
        self.groups = tuple(_names(groups or (), "groups"))
        if (users is not None or groups is not None) and not self.users and not self.groups:
            # An empty list reads as "nobody", but a rule naming nobody
            # would mean "anybody": refuse the ambiguity.
            raise ValueError(
                f"Rule {path!r}: users and groups are empty; omit both to allow any "
                "authenticated user"
            )

    def matches(self, path: str, method: str) -> bool:
        """Return whether this rule applies to ``method`` on ``path`` (one reading)."""
        return (self.methods is None or method in self.methods) and self.paths.matches(path)

    def allows(self, username: str, groups: Groups | None) -> bool:
        """Return whether ``username`` may do what this rule covers."""
        if not self.users and not self.groups:
            return True
        if username in self.users:
            return True
        return groups is not None and any(username in groups.members(g) for g in self.groups)

    def __repr__(self) -> str:
        parts = [repr(self.path)]
        if self.methods is not None:
            parts.append(f"methods={sorted(self.methods)}")
        if self.users:
            parts.append(f"users={sorted(self.users)}")
        if self.groups:
            parts.append(f"groups={list(self.groups)}")
        return f"Rule({', '.join(parts)})"


def _names(values: Iterable[str], what: str) -> list[str]:
    if isinstance(values, str):
        raise TypeError(f"Rule {what} must be a list, not a single string: {values!r}")
    names = list(values)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"Rule {what} must be str, got {name!r}")
        if not name:
            raise ValueError(f"Rule {what} must not contain an empty name")
    return names
