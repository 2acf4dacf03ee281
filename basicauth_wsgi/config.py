"""Middleware options from strings: one table for ini files and the environment.

PasteDeploy hands a filter its ``[filter:...]`` section as strings. This
module converts them, by one table of (option, converter), into the keyword
arguments :class:`~basicauth_wsgi.BasicAuth` takes, which then validates them
exactly as it validates Python callers'::

    kwargs = options_from_strings({"htpasswd": "/etc/users", "exclude": "/health /static/"})
    app = BasicAuth(app, **kwargs)

An unknown option or a value that does not convert is a ``ValueError`` naming
it, at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from .cache import VerificationCache
from .htpasswd import HtpasswdFile
from .rules import HtgroupFile, Rule
from .throttle import Throttle

__all__ = ["OPTIONS", "Option", "options_from_strings"]

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def boolean(text: str) -> bool:
    """``true/yes/on/1`` or ``false/no/off/0``, any case (PasteDeploy's asbool)."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected true or false")


def paths(text: str) -> list[str]:
    """Paths separated by spaces, commas or newlines (ini values may span lines)."""
    return [p for p in re.split(r"[\s,]+", text) if p]


def integer(text: str) -> int:
    """A whole number, written in ASCII digits."""
    text = text.strip()
    if not re.fullmatch(r"[0-9]{1,12}", text):
        raise ValueError("expected a whole number")
    return int(text)


def number(text: str) -> float:
    """A non-negative number of seconds."""
    text = text.strip()
    if not re.fullmatch(r"[0-9]{1,12}(?:\.[0-9]{1,9})?", text):
        raise ValueError("expected a number of seconds")
    return float(text)


def text(value: str) -> str:
    """Any text (the middleware checks what it must)."""
    return value


def path(value: str) -> str:
    """A file path."""
    if not value.strip():
        raise ValueError("expected a file path")
    return value.strip()


def rules(text: str) -> list[Rule]:
    """One rule a line: ``PATH METHODS WHO...``.

    ``METHODS`` is ``*`` or a comma-separated list; each ``WHO`` is a
    username or ``@group``; no ``WHO`` allows any authenticated user::

        /api/v1/subscribers/ DELETE @admin
        /admin/ * alice @ops
    """
    found = []
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if len(words) < 2:
            raise ValueError(f"rule {line.strip()!r}: expected 'PATH METHODS [user|@group ...]'")
        where, methods, *who = words
        found.append(
            Rule(
                where,
                methods=None if methods == "*" else methods.split(","),
                users=[w for w in who if not w.startswith("@")],
                groups=[w[1:] for w in who if w.startswith("@")],
            )
        )
    return found


class Option(NamedTuple):
    """One string option: its converter, the keyword it feeds, and what it means."""

    convert: Callable[[str], Any]
    help: str


#: Every option a PasteDeploy section (or another string source) may set.
OPTIONS: dict[str, Option] = {
    "htpasswd": Option(path, "users file (Apache htpasswd format), reloaded when it changes"),
    "realm": Option(text, "realm in the challenge; latin-1, no control characters"),
    "exclude": Option(paths, "public paths: /health exact, /static/ a subtree"),
    "include": Option(paths, "if set, the only protected paths"),
    "allow_cors_preflight": Option(boolean, "let CORS preflights through"),
    "require_https": Option(boolean, "403 for plain HTTP from non-loopback clients"),
    "strip_authorization": Option(boolean, "hide the Authorization header from the app"),
    "htgroup": Option(path, "group file (Apache format) for rules"),
    "rules": Option(rules, "authorization rules, one a line: PATH METHODS user @group"),
    "throttle": Option(boolean, "false turns brute-force throttling off"),
    "throttle_per_client": Option(integer, "failures per address per window (0: off)"),
    "throttle_per_user": Option(integer, "failures per username per window (0: off)"),
    "throttle_window": Option(number, "throttle window, seconds"),
    "throttle_max_entries": Option(integer, "keys the throttle keeps at most"),
    "cache": Option(boolean, "false turns the verification cache off"),
    "cache_max_entries": Option(integer, "verification results kept at most"),
    "cache_ttl": Option(number, "seconds a verification result is kept"),
}

_PLAIN = (
    "realm",
    "exclude",
    "include",
    "allow_cors_preflight",
    "require_https",
    "strip_authorization",
    "rules",
)


def options_from_strings(settings: Mapping[str, str]) -> dict[str, Any]:
    """Return :class:`~basicauth_wsgi.BasicAuth` keyword arguments for string ``settings``.

    ``users`` comes from ``htpasswd`` (required); ``groups`` from
    ``htgroup``; ``throttle_*`` and ``cache_*`` build a
    :class:`~basicauth_wsgi.Throttle` and a
    :class:`~basicauth_wsgi.VerificationCache`. ``ValueError`` names an
    unknown option or a value that does not convert.
    """
    values: dict[str, Any] = {}
    for key, raw in settings.items():
        option = OPTIONS.get(key)
        if option is None:
            known = ", ".join(sorted(OPTIONS))
            raise ValueError(f"unknown option {key!r}; known options: {known}")
        if not isinstance(raw, str):
            raise TypeError(f"option {key!r} must be a string, got {raw!r}")
        try:
            values[key] = option.convert(raw)
        except ValueError as exc:
            raise ValueError(f"option {key} = {raw!r}: {exc}") from None

    if "htpasswd" not in values:
        raise ValueError("option 'htpasswd' is required: the users file")
    kwargs: dict[str, Any] = {"users": HtpasswdFile(values["htpasswd"])}
    kwargs.update((k, values[k]) for k in _PLAIN if k in values)
    if "htgroup" in values:
        kwargs["groups"] = HtgroupFile(values["htgroup"])

    limits = {k[len("throttle_") :]: v for k, v in values.items() if k.startswith("throttle_")}
    if values.get("throttle", True):
        kwargs["throttle"] = Throttle(**limits)
    elif limits:
        raise ValueError(f"throttle = false, but throttle_{next(iter(limits))} is set")
    else:
        kwargs["throttle"] = None

    tuning = {k[len("cache_") :]: v for k, v in values.items() if k.startswith("cache_")}
    if not values.get("cache", True):
        if tuning:
            raise ValueError(f"cache = false, but cache_{next(iter(tuning))} is set")
        kwargs["cache"] = None
    elif tuning:
        kwargs["cache"] = VerificationCache(**tuning)
    return kwargs
