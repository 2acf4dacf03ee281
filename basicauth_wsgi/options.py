"""The one option table: every ``BasicAuth`` option, for every way it can be given.

Each option is one row: its keyword, how a string becomes its value, and its
help. From the row come the Python keyword check (a wrong type is a
``TypeError`` naming the option), the PasteDeploy ini key (the keyword
itself), the environment variable (``BASICAUTH_`` + the keyword in capitals)
and the ``serve`` flag (``--`` + the keyword with dashes). Adding an option
is one row here plus its behaviour::

    kwargs = from_strings({"htpasswd": "/etc/users", "exclude": "/health /static/"})
    kwargs = from_environ(os.environ)          # BASICAUTH_HTPASSWD, BASICAUTH_EXCLUDE, ...
    app = BasicAuth(app, **kwargs)

Rows whose ``into`` is set are parts of a composite keyword: ``htpasswd``
and ``users`` build ``users``, ``throttle_*`` a ``Throttle``, ``cache_*`` a
``VerificationCache``, ``htgroup`` the ``groups``. A row's ``door`` says which
front doors take it: the middleware (``BasicAuth``, WSGI and ASGI), the
forward-auth service (``ForwardAuth``, SPEC §11), or both.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, cast

__all__ = [
    "BOTH",
    "FORWARD",
    "FORWARD_KEYWORDS",
    "MIDDLEWARE",
    "OPTIONS",
    "Option",
    "check_keywords",
    "from_environ",
    "from_strings",
]

ENV_PREFIX = "BASICAUTH_"

#: The front doors a row is for (:attr:`Option.door`): both, the middleware
#: (``BasicAuth``) only, or the forward-auth service (``ForwardAuth``) only.
BOTH, MIDDLEWARE, FORWARD = "both", "middleware", "forward"
#: What a door is called in an error message.
_DOOR_NAMES = {MIDDLEWARE: "BasicAuth", FORWARD: "ForwardAuth (serve --forward-auth)"}
#: The forward-auth styles (SPEC §11): which proxy's request shape to read.
STYLES = ("auto", "nginx", "traefik", "envoy")

#: ``BASICAUTH_*`` variables that configure ``serve`` and the example, not
#: the middleware: :func:`from_environ` leaves them alone.
SERVER_VARIABLES = frozenset({"BASICAUTH_DB"})

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


# -- string converters (ini values, environment variables, flags) -----------


def boolean(text: str) -> bool:
    """``true/yes/on/1`` or ``false/no/off/0``, any case (PasteDeploy's asbool)."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected true or false")


def words(text: str) -> list[str]:
    """Items separated by spaces, commas or newlines (ini values may span lines)."""
    return [p for p in re.split(r"[\s,]+", text) if p]


def integer(text: str) -> int:
    """A whole number, written in ASCII digits."""
    text = text.strip()
    if not re.fullmatch(r"[0-9]{1,12}", text):
        raise ValueError("expected a whole number")
    return int(text)


def integer_or_off(text: str) -> int | None:
    """A whole number, or ``off``/``none`` for no limit."""
    if text.strip().lower() in ("off", "none"):
        return None
    return integer(text)


def number(text: str) -> float:
    """A non-negative number of seconds."""
    text = text.strip()
    if not re.fullmatch(r"[0-9]{1,12}(?:\.[0-9]{1,9})?", text):
        raise ValueError("expected a number of seconds")
    return float(text)


def text(value: str) -> str:
    """Any text (the middleware checks what it must)."""
    return value


def realm(value: str) -> str:
    """A realm a header can carry: latin-1, no control characters (RFC 9110 §5.6.4)."""
    from .header import quote_string

    try:
        quote_string(value)
    except ValueError as exc:
        raise ValueError(f"realm {exc}") from None
    return value


def path(value: str) -> str:
    """A file path."""
    if not value.strip():
        raise ValueError("expected a file path")
    return value.strip()


def url(value: str) -> str:
    """A URL such as ``redis://127.0.0.1:6379/0``."""
    value = value.strip()
    if not re.fullmatch(r"[a-z][a-z0-9+.-]*://\S*", value):
        raise ValueError("expected a URL such as redis://127.0.0.1:6379/0")
    return value


def style(value: str) -> str:
    """A forward-auth style: ``auto``, ``nginx``, ``traefik`` (also Caddy) or ``envoy``."""
    value = value.strip().lower()
    if value not in STYLES:
        raise ValueError(f"expected one of {', '.join(STYLES)}")
    return value


def header_or_off(value: str) -> str | None:
    """A header name, or ``off``/``none`` for none."""
    value = value.strip()
    return None if value.lower() in ("", "off", "none") else value


def rules(text: str) -> list[Any]:
    """One rule a line: ``PATH METHODS WHO...``.

    ``METHODS`` is ``*`` or a comma-separated list; each ``WHO`` is a
    username or ``@group``; no ``WHO`` allows any authenticated user::

        /api/v1/subscribers/ DELETE @admin
        /admin/ * alice @ops
    """
    from .rules import Rule

    found = []
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 2:
            raise ValueError(f"rule {line.strip()!r}: expected 'PATH METHODS [user|@group ...]'")
        where, methods, *who = parts
        found.append(
            Rule(
                where,
                methods=None if methods == "*" else methods.split(","),
                # No WHO at all: any authenticated user (SPEC §6), which
                # Rule spells as neither users nor groups.
                users=[w for w in who if not w.startswith("@")] if who else None,
                groups=[w[1:] for w in who if w.startswith("@")] if who else None,
            )
        )
    return found


def user_lines(value: str) -> list[tuple[str, str]]:
    """``user:hash`` entries separated by newlines or spaces (``passwd -n`` output).

    Errors name the entry by its number and its user, never its hash (it
    may be a password in clear) nor an entry without ``:`` (it may be half
    of one: a hash never contains a space).
    """
    entries = []
    for number, item in enumerate(value.split(), start=1):
        name, colon, hashed = item.partition(":")
        if not colon:
            raise ValueError(
                f"entry {number} has no ':' (expected 'user:hash' entries separated by "
                "spaces or newlines; a hash has no spaces)"
            )
        if not name:
            raise ValueError(f"entry {number} has no user before ':'")
        if not hashed:
            raise ValueError(f"entry {number}: user {name!r} has no hash after ':'")
        entries.append((name, hashed))
    if not entries:
        raise ValueError("no 'user:hash' entries")
    return entries


_NODE = re.compile(r"(?:\[[0-9A-Fa-f:.]*\]|[^:\[\]]*)(?::[0-9]*)?")


def masked(value: str) -> str | None:
    """What an error may show of a secret option's ``value``: a URL without its password.

    ``redis://user:pw@host/0`` becomes ``redis://***@host/0`` (and a
    ``password=`` query parameter ``password=***``); anything that is not a
    URL is not shown at all (``None``).
    """
    if "://" not in value:
        return None
    scheme, _, rest = value.partition("://")
    userinfo = ""
    if "@" in rest:
        # The last "@": a password may contain "@" (and "/", which would
        # otherwise end the authority early).
        userinfo, rest = "***@", rest.rpartition("@")[2]
    cut = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    # Each host[:port] ("h1:26379,h2:26379" for Sentinel): a port that is
    # not a number may be a misplaced password.
    nodes = [n if _NODE.fullmatch(n) else "***" for n in authority.split(",")]
    tail = re.sub(r"(?i)([?&](?:password|pass|pwd)=)[^&#]*", r"\1***", tail)
    return f"{scheme}://{userinfo}{','.join(nodes)}{tail}"


# -- Python keyword checks ------------------------------------------------------


def _bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def _str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be str, got {value!r}")
    return value


def _slots(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive int or None, got {value!r}")
    if not 1 <= value <= 4096:
        raise ValueError(f"{name} must be from 1 to 4096 (or None: no limit), got {value!r}")
    return value


def _paths(name: str, value: object) -> object:
    from .paths import PathList

    PathList(value, option=name)  # type: ignore[arg-type]
    return value


def _any(name: str, value: object) -> object:
    return value


def _rules(name: str, value: object) -> tuple[Any, ...]:
    from .rules import Rule

    if isinstance(value, (str, Rule)):
        raise TypeError(f"{name} must be a list of Rule, got {value!r}")
    try:
        found = tuple(cast("Iterable[Any]", value))
    except TypeError:
        raise TypeError(f"{name} must be a list of Rule, got {value!r}") from None
    for rule in found:
        if not isinstance(rule, Rule):
            raise TypeError(f"{name} must be a list of Rule, got {rule!r}")
    return found


def _groups(name: str, value: object) -> object:
    from .rules import as_groups

    return None if value is None else as_groups(value)


def _a_throttle(name: str, value: object) -> object:
    from .throttle import Throttle

    if value is not None and not isinstance(value, Throttle):
        raise TypeError(f"{name} must be a Throttle or None, got {value!r}")
    return value


def _cache(name: str, value: object) -> object:
    from .cache import VerificationCache

    if value is not None and not isinstance(value, VerificationCache):
        raise TypeError(f"{name} must be a VerificationCache or None, got {value!r}")
    return value


def _application(name: str, value: object) -> object:
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be an application (callable) or None, got {value!r}")
    return value


def _networks(name: str, value: object) -> object:
    from .addresses import Networks

    if isinstance(value, Networks):
        if not value:
            raise ValueError(f"{name}: expected IP addresses or CIDR networks, got nothing")
        return value
    if value is None:
        raise TypeError(f"{name} must be IP addresses or CIDR networks, got None")
    return Networks.parse(value, option=name)  # type: ignore[arg-type]


def _style(name: str, value: object) -> str:
    if value not in STYLES:
        raise ValueError(f"{name} must be one of {', '.join(STYLES)}, got {value!r}")
    return str(value)


def _header_name(name: str, value: object) -> str:
    from .grammar import is_token

    # RFC 9110 §5.1: field-name = token.
    if not isinstance(value, str) or not is_token(value):
        raise ValueError(f"{name}: {value!r} is not a header name")
    return value


def _header_names(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        raise TypeError(f"{name} must be a list of header names, not a single string: {value!r}")
    try:
        found = tuple(_header_name(name, v) for v in cast("Iterable[object]", value))
    except TypeError:
        raise TypeError(f"{name} must be a list of header names, got {value!r}") from None
    if len({v.lower() for v in found}) != len(found):
        raise ValueError(f"{name} names one header twice: {list(found)!r}")
    return found


def _header_name_or_none(name: str, value: object) -> str | None:
    return None if value is None else _header_name(name, value)


def _path_prefix(name: str, value: object) -> str:
    from .grammar import has_ctl

    if not isinstance(value, str):
        raise TypeError(f"{name} must be str, got {value!r}")
    if value and (not value.startswith("/") or value.endswith("/")):
        # Envoy puts it in front of the original path, which starts with "/".
        raise ValueError(
            f"{name} {value!r} must start with '/' and not end with one (as Envoy's path_prefix)"
        )
    if has_ctl(value) or any(c in value for c in " ?#%"):
        raise ValueError(f"{name} {value!r} must be a plain path (no space, '?', '#' or '%')")
    return value


def _metrics(name: str, value: object) -> object:
    from .metrics import Metrics

    if value is not None and not isinstance(value, Metrics):
        raise TypeError(f"{name} must be a basicauth_wsgi.metrics.Metrics or None, got {value!r}")
    return value


def _logger(name: str, value: object) -> object:
    import logging

    if value is not None and not isinstance(value, (logging.Logger, logging.LoggerAdapter)):
        raise TypeError(f"{name} must be a logging.Logger, got {value!r}")
    return value


class Option(NamedTuple):
    """One row of the option table."""

    name: str
    #: How a string (ini value, environment variable, flag) becomes the value;
    #: ``None``: a Python keyword only (an object no string can spell).
    parse: Callable[[str], Any] | None
    help: str
    #: How a Python keyword value is checked and converted; ``None``: not a
    #: keyword of its own (a string that helps build one, see ``into``).
    check: Callable[[str, Any], Any] | None = None
    #: The composite keyword this string option helps build, if any.
    into: str | None = None
    #: Flags take this many values: ``"one"``, ``"many"`` (repeatable) or ``"bool"``;
    #: ``"secret"``: no flag at all (a variable or an ini key only).
    arity: str = "one"
    #: Other names: flags (``--redis``) and environment variables.
    aliases: tuple[str, ...] = ()
    #: The front doors that take it: :data:`BOTH`, :data:`MIDDLEWARE` or :data:`FORWARD`.
    door: str = BOTH
    #: The stem of the flag and the variable, when it is not the keyword
    #: (``style`` is ``--forward-auth-style`` and ``BASICAUTH_FORWARD_AUTH_STYLE``).
    spelling: str | None = None
    #: What ``serve --help`` shows for the value (``FILE``, ``URL``, ``N``).
    metavar: str = "VALUE"
    #: The extra this option needs installed (``redis``: ``pip install 'basicauth-wsgi[redis]'``).
    extra: str | None = None
    #: The value may hold a secret: errors never quote it (a URL, masked; see :func:`masked`).
    secret: bool = False

    @property
    def flag_aliases(self) -> tuple[str, ...]:
        return tuple(a for a in self.aliases if a.startswith("--"))

    @property
    def env_aliases(self) -> tuple[str, ...]:
        return tuple(a for a in self.aliases if a.startswith(ENV_PREFIX))

    @property
    def env(self) -> str:
        """The environment variable: ``BASICAUTH_`` + the keyword in capitals."""
        return ENV_PREFIX + (self.spelling or self.name).upper()

    @property
    def flag(self) -> str:
        """The ``serve`` flag: ``--`` + the keyword with dashes."""
        return "--" + (self.spelling or self.name).replace("_", "-")

    def takes(self, door: str) -> bool:
        """Whether the front door ``door`` (:data:`MIDDLEWARE` or :data:`FORWARD`) takes it."""
        return self.door == BOTH or self.door == door


#: Every option, in the order ``serve --help`` lists them.
OPTIONS: tuple[Option, ...] = (
    Option(
        "htpasswd",
        path,
        "users file (Apache htpasswd format), reloaded when it changes",
        into="users",
        metavar="FILE",
    ),
    Option(
        "users",
        user_lines,
        "'user:hash' entries, separated by newlines or spaces",
        into="users",
        metavar="'USER:HASH ...'",
        secret=True,
    ),
    Option(
        "realm",
        realm,
        "realm in the challenge; latin-1, no control characters",
        _str,
        metavar="TEXT",
    ),
    Option(
        "exclude",
        words,
        "public path: /health exactly, /static/ a subtree",
        _paths,
        arity="many",
        metavar="PATH",
    ),
    Option(
        "include",
        words,
        "if given, the only protected paths: /api exactly (not /api/v1), /api/ a subtree",
        _paths,
        arity="many",
        metavar="PATH",
    ),
    Option(
        "allow_cors_preflight",
        boolean,
        "let CORS preflights through unauthenticated (headers only)",
        _bool,
        arity="bool",
        door=MIDDLEWARE,
    ),
    Option(
        "require_https",
        boolean,
        "403 for plain HTTP from non-loopback clients",
        _bool,
        arity="bool",
    ),
    Option(
        "strip_authorization",
        boolean,
        "hide the Authorization header from the app",
        _bool,
        arity="bool",
        door=MIDDLEWARE,
    ),
    Option(
        "max_concurrent_checks",
        integer_or_off,
        "password checks run at once at most (off: no limit)",
        _slots,
        metavar="N|off",
    ),
    Option("htgroup", path, "group file (Apache format) for rules", into="groups", metavar="FILE"),
    Option(
        "rules",
        rules,
        "authorization rules, one a line: PATH METHODS user @group",
        _rules,
        metavar="RULES",
    ),
    Option("groups", None, "mapping group -> usernames, or an HtgroupFile", _groups),
    Option(
        "throttle",
        boolean,
        "false turns brute-force throttling off",
        _a_throttle,
        into="throttle",
        arity="bool",
    ),
    Option(
        "throttle_per_client",
        integer,
        "failures per address per window (0: off)",
        into="throttle",
        metavar="N",
    ),
    Option(
        "throttle_per_user",
        integer,
        "failures per username per window (0: off)",
        into="throttle",
        metavar="N",
    ),
    Option(
        "throttle_window", number, "throttle window, seconds", into="throttle", metavar="SECONDS"
    ),
    Option(
        "throttle_per_password",
        integer,
        "failures per password, over every user and address, per window (0: off)",
        into="throttle",
        metavar="N",
    ),
    Option(
        "throttle_max_entries",
        integer,
        "keys the in-process throttle keeps at most",
        into="throttle",
        metavar="N",
    ),
    Option(
        "throttle_redis_url",
        url,
        "share throttle counts through this Redis server",
        into="throttle",
        aliases=("--redis", "BASICAUTH_REDIS_URL"),
        metavar="URL",
        extra="redis",
        secret=True,
    ),
    Option(
        "ldap_url",
        text,
        "LDAP or AD server URL(s), space-separated, tried in order (ldaps:// for TLS)",
        into="users",
        extra="ldap",
        metavar="URL",
    ),
    Option(
        "ldap_user_dn",
        text,
        "bind directly to this DN template: uid={username},ou=people,dc=example,dc=org",
        into="users",
        metavar="DN",
    ),
    Option(
        "ldap_search_base",
        text,
        "search for the user's entry under this DN, then bind",
        into="users",
        metavar="DN",
    ),
    Option(
        "ldap_search_filter",
        text,
        "filter that finds the user (default (uid={username}); AD: (sAMAccountName={username}))",
        into="users",
        metavar="FILTER",
    ),
    Option(
        "ldap_bind_dn",
        text,
        "service account that searches (default: anonymous)",
        into="users",
        metavar="DN",
    ),
    Option(
        "ldap_bind_password_file",
        path,
        "file holding the service account's password",
        into="users",
        metavar="FILE",
    ),
    # Never a flag (other users of the machine can read command lines), and
    # never shown: ``text`` never fails, so from_strings never quotes it.
    Option(
        "ldap_bind_password",
        text,
        "the service account's password (a variable or an ini key, never a flag)",
        into="users",
        arity="secret",
        secret=True,
    ),
    Option(
        "ldap_group_base",
        text,
        "search the user's groups under this DN (default: the entry's memberOf)",
        into="users",
        metavar="DN",
    ),
    Option(
        "ldap_group_filter",
        text,
        "filter for the user's groups, with {dn} and {username}",
        into="users",
        metavar="FILTER",
    ),
    Option(
        "ldap_nested_groups",
        boolean,
        "Active Directory: groups within groups (in-chain matching rule)",
        into="users",
        arity="bool",
    ),
    Option(
        "ldap_memberof_attribute",
        text,
        "attribute of the entry that lists its groups (default memberOf)",
        into="users",
        metavar="ATTRIBUTE",
    ),
    Option("ldap_start_tls", boolean, "StartTLS before binding", into="users", arity="bool"),
    Option(
        "ldap_ca_file",
        path,
        "CA certificates (PEM) that verify the LDAP server's certificate",
        into="users",
        metavar="FILE",
    ),
    Option(
        "ldap_timeout",
        number,
        "seconds the directory has to answer, failover included (default 2)",
        into="users",
        metavar="SECONDS",
    ),
    Option(
        "cache",
        boolean,
        "false turns the verification cache off",
        _cache,
        into="cache",
        arity="bool",
    ),
    Option(
        "cache_max_entries", integer, "verification results kept at most", into="cache", metavar="N"
    ),
    Option(
        "cache_ttl",
        number,
        "seconds a verification result is kept",
        into="cache",
        metavar="SECONDS",
    ),
    Option(
        "unauthorized",
        None,
        "an application that renders the 401s",
        _application,
        door=MIDDLEWARE,
    ),
    Option("metrics", None, "counts every decision (basicauth_wsgi.metrics.Metrics)", _metrics),
    Option("logger", None, "where failures are logged (default: basicauth_wsgi)", _logger),
    # -- forward-auth only (SPEC §11) --
    Option(
        "trusted_proxies",
        words,
        "forward-auth: the proxies whose requests are believed (IP addresses, CIDR networks)",
        _networks,
        arity="many",
        door=FORWARD,
        metavar="ADDR",
    ),
    Option(
        "style",
        style,
        "forward-auth: the proxy's request shape: auto, nginx, traefik (also Caddy), envoy",
        _style,
        door=FORWARD,
        spelling="forward_auth_style",
    ),
    Option(
        "user_headers",
        words,
        "forward-auth: the headers that name the user (default Remote-User X-Forwarded-User)",
        _header_names,
        door=FORWARD,
        spelling="forward_auth_user_headers",
    ),
    Option(
        "groups_header",
        header_or_off,
        "forward-auth: the header that lists the user's groups (default Remote-Groups; off)",
        _header_name_or_none,
        door=FORWARD,
        spelling="forward_auth_groups_header",
    ),
    Option(
        "path_prefix",
        text,
        "forward-auth, Envoy: the path_prefix Envoy puts before the original path",
        _path_prefix,
        door=FORWARD,
        spelling="forward_auth_path_prefix",
    ),
)

#: The module each extra provides, as an option's ``extra`` names it.
EXTRA_MODULES = {
    "bcrypt": "bcrypt",
    "argon2": "argon2",
    "redis": "redis",
    "ldap": "ldap",
    "prometheus": "prometheus_client",
}

_BY_NAME = {option.name: option for option in OPTIONS}


def _keywords(door: str) -> dict[str, Callable[[str, Any], Any]]:
    return {
        option.name: option.check
        for option in OPTIONS
        if option.check is not None and option.takes(door)
    }


#: Every keyword option of ``BasicAuth`` (``users`` aside), by name, with its check.
KEYWORDS = _keywords(MIDDLEWARE)
#: Every keyword option of ``ForwardAuth`` (``users`` aside), by name, with its check.
FORWARD_KEYWORDS = _keywords(FORWARD)
_ALL_KEYWORDS = {**KEYWORDS, **FORWARD_KEYWORDS}

#: Rows a string can set (ini key, ``BASICAUTH_*`` variable, ``serve`` flag).
STRING_OPTIONS = tuple(option for option in OPTIONS if option.parse is not None)


def check_keywords(values: Mapping[str, object], door: str = MIDDLEWARE) -> dict[str, Any]:
    """Check and convert Python keyword values by the table, for the front door ``door``.

    An unknown keyword is a ``TypeError`` (as for any Python function); a
    wrong type a ``TypeError`` and a bad value a ``ValueError``, naming it.
    """
    keywords = KEYWORDS if door == MIDDLEWARE else FORWARD_KEYWORDS
    checked: dict[str, Any] = {}
    for name, value in values.items():
        check = keywords.get(name)
        if check is None:
            if name in _ALL_KEYWORDS:
                other = MIDDLEWARE if door == FORWARD else FORWARD
                raise TypeError(
                    f"{name} is an option of {_DOOR_NAMES[other]}, not of {_DOOR_NAMES[door]}"
                )
            raise TypeError(f"unexpected keyword argument {name!r}")
        checked[name] = check(name, value)
    return checked


def from_strings(
    settings: Mapping[str, str],
    *,
    spell: Callable[[Option], str] = lambda option: option.name,
    require_users: bool = True,
    door: str = MIDDLEWARE,
) -> dict[str, Any]:
    """Return keyword arguments of the front door ``door`` for string ``settings``.

    ``settings`` are keyed by option name; ``spell`` says how an option is
    named in error messages (its ini key, environment variable or flag).
    ``ValueError`` names an unknown option, one of the other front door, a
    value that does not convert, an option whose extra is not installed,
    or a combination that contradicts itself; its message quotes no
    secret (see :attr:`Option.secret`).
    """
    values: dict[str, Any] = {}
    for key, raw in settings.items():
        option = _BY_NAME.get(key)
        if option is None or option.parse is None:
            known = ", ".join(sorted(o.name for o in STRING_OPTIONS if o.takes(door)))
            raise ValueError(f"unknown option {key!r}; known options: {known}")
        if not option.takes(door):
            raise ValueError(
                f"{spell(option)} is an option of {_DOOR_NAMES[option.door]}, "
                f"not of {_DOOR_NAMES[door]}"
            )
        if not isinstance(raw, str):
            raise TypeError(f"option {spell(option)} must be a string, got {_quoted(option, raw)}")
        try:
            value = option.parse(raw)
            # The keyword's own check too, so its error names the spelling used.
            if option.check is not None and option.into is None:
                value = option.check(key, value)
            values[key] = value
        except (ValueError, TypeError) as exc:
            shown = _quoted(option, raw)
            raise ValueError(f"{spell(option)}{f' = {shown}' if shown else ''}: {exc}") from None
        require_extra(option, spell)
    return build(values, spell=spell, require_users=require_users)


def _quoted(option: Option, raw: object) -> str:
    """``raw`` as an error may quote it: ``repr``, or masked for a secret option."""
    if not option.secret:
        return repr(raw)
    shown = masked(raw) if isinstance(raw, str) else None
    return "" if shown is None else repr(shown)


def require_extra(option: Option, spell: Callable[[Option], str]) -> None:
    """``ValueError`` naming the option and the extra to install when its package is missing.

    One place for every option backed by an extra (``--redis``, and
    ``--ldap-url`` and the like as they come): set ``extra`` in its row.
    """
    if option.extra is None:
        return
    try:
        importlib.import_module(EXTRA_MODULES.get(option.extra, option.extra))
    except ImportError:
        raise ValueError(
            f"{spell(option)} needs the {option.extra!r} extra, which is not installed: "
            f"pip install 'basicauth-wsgi[{option.extra}]' (or '.[{option.extra}]' "
            "from a checkout)"
        ) from None


def build(
    values: Mapping[str, Any],
    *,
    spell: Callable[[Option], str] = lambda option: option.name,
    require_users: bool = True,
) -> dict[str, Any]:
    """Assemble converted option values into ``BasicAuth`` keyword arguments.

    The throttle and the cache first: they are cheap, and the users file
    (whose load may log a weak-hash warning) should not be read for a
    start that fails anyway.
    """
    from .cache import VerificationCache

    def name(key: str) -> str:
        return spell(_BY_NAME[key])

    kwargs: dict[str, Any] = {
        key: value for key, value in values.items() if _BY_NAME[key].into is None
    }
    if "htpasswd" in values and "users" in values:
        raise ValueError(f"{name('htpasswd')} and {name('users')} are both set; choose one")
    ldap = any(key.startswith("ldap_") for key in values)
    if "users" not in values and "htpasswd" not in values and not ldap and require_users:
        raise ValueError(
            f"option '{name('htpasswd')}' is required: the users file "
            f"(or '{name('users')}': user:hash entries, or '{name('ldap_url')}': a directory)"
        )
    throttle = _throttle(values, name)
    if throttle is not _UNSET:
        kwargs["throttle"] = throttle

    tuning = {k[len("cache_") :]: v for k, v in values.items() if k.startswith("cache_")}
    if not values.get("cache", True):
        if tuning:
            raise ValueError(
                f"{name('cache')} = false, but {name('cache_' + next(iter(tuning)))} is set"
            )
        kwargs["cache"] = None
    elif tuning:
        kwargs["cache"] = _construct(VerificationCache, tuning, "cache_", name)
    if ldap:
        kwargs["users"] = _ldap_users(values, name)
    kwargs.update(_files(values, name))
    return kwargs


def _ldap_users(values: Mapping[str, Any], name: Callable[[str], str]) -> Any:
    """An ``LdapUsers`` from the ``ldap_*`` options; ``ValueError`` names the one at fault.

    The bind password comes from ``ldap_bind_password_file`` (its first line
    ending dropped) or ``ldap_bind_password``; no message ever shows it.
    """
    from .ldap import LdapUsers

    given = {k[len("ldap_") :]: v for k, v in values.items() if k.startswith("ldap_")}
    if "url" not in given:
        raise ValueError(
            f"{name('ldap_' + next(iter(given)))} is set but {name('ldap_url')} is not"
        )
    for other in ("htpasswd", "users"):
        if other in values:
            raise ValueError(f"{name('ldap_url')} and {name(other)} are both set; choose one")
    if ("user_dn" in given) == ("search_base" in given):
        raise ValueError(
            f"{name('ldap_url')}: give one of {name('ldap_user_dn')} (a DN to bind to) "
            f"and {name('ldap_search_base')} (where to search for the user)"
        )
    for secret_option in ("bind_password", "bind_password_file"):
        if secret_option in given and "bind_dn" not in given:
            raise ValueError(
                f"{name('ldap_' + secret_option)} is set but {name('ldap_bind_dn')} is not"
            )
    path_ = given.pop("bind_password_file", None)
    if path_ is not None:
        if "bind_password" in given:
            raise ValueError(
                f"{name('ldap_bind_password_file')} and {name('ldap_bind_password')} are "
                "both set; choose one"
            )
        try:
            with open(path_, encoding="utf-8") as handle:
                secret = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ValueError(
                f"{name('ldap_bind_password_file')}: cannot read {path_}: {reason}"
            ) from None
        secret = secret[:-1] if secret.endswith("\n") else secret
        given["bind_password"] = secret[:-1] if secret.endswith("\r") else secret
        if not given["bind_password"]:
            raise ValueError(f"{name('ldap_bind_password_file')}: {path_} is empty")
    try:
        return _construct(LdapUsers, given, "ldap_", name)
    except ImportError as exc:
        raise ValueError(f"{name('ldap_url')}: {exc}") from None


_UNSET: Any = object()


def _throttle(values: Mapping[str, Any], name: Callable[[str], str]) -> Any:
    """The ``throttle`` keyword the values ask for (``None``: off), or ``_UNSET``."""
    from .throttle import Throttle

    limits = {k[len("throttle_") :]: v for k, v in values.items() if k.startswith("throttle_")}
    redis_url = limits.pop("redis_url", None)
    if not values.get("throttle", True):
        if limits or redis_url is not None:
            first = next(iter(limits), "redis_url")
            raise ValueError(f"{name('throttle')} = false, but {name('throttle_' + first)} is set")
        return None
    if redis_url is not None:
        limits["store"] = _redis_store(redis_url, name("throttle_redis_url"))
    if limits or "throttle" in values:
        return _construct(Throttle, limits, "throttle_", name)
    return _UNSET


def _redis_store(url: str, spelled: str) -> Any:
    from .throttle.redis import RedisStore

    try:
        return RedisStore.from_url(url)
    except ValueError as exc:
        # redis-py's and urllib's messages may quote a piece of the URL
        # (a "port" that is half a password): mask the URL's secrets, and
        # any other quoted text.
        message = str(exc).removeprefix("throttle_redis_url: ")
        message = re.sub(r"'[^']*'", "'***'", message)
        shown = masked(url) or ""
        raise ValueError(f"{spelled} = {shown!r}: {message}") from None


def _files(values: Mapping[str, Any], name: Callable[[str], str]) -> dict[str, Any]:
    """``users`` and ``groups`` from their files or entries; errors name the option."""
    from .htpasswd import HtgroupFile, HtpasswdFile
    from .verifiers import HashedUsers

    found: dict[str, Any] = {}
    try:
        if "htpasswd" in values:
            found["users"] = HtpasswdFile(values["htpasswd"])
        elif "users" in values:
            found["users"] = HashedUsers.from_entries(
                (
                    (user, hashed, f"{name('users')}, entry {i}")
                    for i, (user, hashed) in enumerate(values["users"], start=1)
                ),
                source=name("users"),
            )
    except (ValueError, OSError) as exc:
        message = str(exc)
        if "htpasswd" in values and not message.startswith(name("htpasswd")):
            message = f"{name('htpasswd')}: {message}"
        raise ValueError(message) from None
    if "htgroup" in values:
        try:
            found["groups"] = HtgroupFile(values["htgroup"])
        except (ValueError, OSError) as exc:
            raise ValueError(f"{name('htgroup')}: {exc}") from None
    return found


def _construct(
    cls: Callable[..., Any], kwargs: dict[str, Any], prefix: str, name: Callable[[str], str]
) -> Any:
    try:
        return cls(**kwargs)
    except ValueError as exc:
        # "per_client must be ..." -> "BASICAUTH_THROTTLE_PER_CLIENT: per_client must be ..."
        for key in kwargs:
            if str(exc).startswith(key):
                raise ValueError(f"{name(prefix + key)}: {exc}") from None
        raise


def from_environ(
    environ: Mapping[str, str], *, require_users: bool = True, door: str = MIDDLEWARE
) -> dict[str, Any]:
    """Return keyword arguments of the front door ``door`` from ``BASICAUTH_*`` variables.

    List values are separated by commas or whitespace; booleans are
    ``true/false/1/0/yes/no``. An unknown ``BASICAUTH_*`` variable, one of
    the other front door, or one that does not convert, is a ``ValueError``
    naming it (those of :data:`SERVER_VARIABLES` belong to ``serve`` and are
    left alone).
    """
    spelled: dict[str, str] = {}
    settings = environ_settings(environ, ignore=SERVER_VARIABLES, spelled=spelled)
    return from_strings(
        settings,
        spell=lambda option: spelled.get(option.name, option.env),
        require_users=require_users,
        door=door,
    )


def environ_settings(
    environ: Mapping[str, str],
    *,
    ignore: Iterable[str] = (),
    spelled: dict[str, str] | None = None,
) -> dict[str, str]:
    """The middleware options set in ``environ``, by option name (still strings).

    ``spelled``, if given, is filled with option name -> the variable as set
    (an alias is reported as spelled: ``BASICAUTH_REDIS_URL``). An unknown
    ``BASICAUTH_*`` variable, or an option set twice (by a variable and its
    alias), is a ``ValueError`` naming them.
    """
    ignored = set(ignore)
    by_env = {
        env: option.name for option in STRING_OPTIONS for env in (option.env, *option.env_aliases)
    }
    found: dict[str, str] = {}
    seen: dict[str, str] = {}
    for variable, value in environ.items():
        if not variable.startswith(ENV_PREFIX) or variable in ignored:
            continue
        name = by_env.get(variable)
        if name is None:
            known = ", ".join(sorted(by_env))
            raise ValueError(f"unknown environment variable {variable}; known: {known}")
        if name in seen:
            first, second = sorted((seen[name], variable))
            raise ValueError(f"{first} and {second} are both set (the same option); choose one")
        found[name] = value
        seen[name] = variable
    if spelled is not None:
        spelled.update(seen)
    return found
