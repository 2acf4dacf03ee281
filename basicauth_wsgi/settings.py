"""The options of a front door, validated once: one settings object from the option table.

Every front door (the WSGI middleware, the ASGI adapter, forward-auth)
takes the same keywords; they are checked here, once, row by row from
:data:`basicauth_wsgi.options.OPTIONS`, and the core and the front door
read the result. Strings (ini keys, ``BASICAUTH_*`` variables, ``serve``
flags) become these keywords through the same table first::

    settings = Settings({"admin": "pw"}, exclude=["/health"])
    settings = Settings(**from_environ(os.environ))   # BASICAUTH_HTPASSWD, ...
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypedDict

from .admission import default_slots
from .cache import VerificationCache
from .header import build_challenge
from .logs import logger as default_logger
from .options import KEYWORDS, check_keywords
from .paths import PathList, path_readings
from .rules import Groups, Rule
from .throttle import Throttle
from .verifiers import Capabilities, Verifier, as_verifier, capabilities

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .metrics import Metrics

__all__ = ["DEFAULT", "ForwardKeywords", "Keywords", "Settings"]


class _Default:
    """The "not given" marker for options whose default depends on others."""

    def __repr__(self) -> str:
        return "<default>"


DEFAULT: Any = _Default()


class Keywords(TypedDict, total=False):
    """The keyword options every front door takes (SPEC §3), for type checkers.

    One key per keyword row of the option table (a test keeps the two the
    same); the table checks the values at run time.
    """

    realm: str
    exclude: Iterable[str]
    include: Iterable[str] | None
    allow_cors_preflight: bool
    rules: Iterable[Rule]
    groups: Mapping[str, Iterable[str]] | Groups | None
    throttle: Throttle | None
    cache: VerificationCache | None
    max_concurrent_checks: int | None
    require_https: bool
    strip_authorization: bool
    unauthorized: Any
    logger: logging.Logger | logging.LoggerAdapter[Any] | None
    metrics: Metrics | None


class ForwardKeywords(TypedDict, total=False):
    """The keyword options of ``ForwardAuth`` besides ``trusted_proxies`` (SPEC §11).

    The deciding options of :class:`Keywords` and the forward-auth ones;
    one key per row of the option table that the forward-auth door takes
    (a test keeps the two the same; the table checks the values).
    """

    realm: str
    exclude: Iterable[str]
    include: Iterable[str] | None
    rules: Iterable[Rule]
    groups: Mapping[str, Iterable[str]] | Groups | None
    throttle: Throttle | None
    cache: VerificationCache | None
    max_concurrent_checks: int | None
    require_https: bool
    logger: logging.Logger | logging.LoggerAdapter[Any] | None
    metrics: Metrics | None
    style: str
    user_headers: Iterable[str]
    groups_header: str | None
    path_prefix: str


class Settings:
    """The validated options of one front door, and what follows from them.

    A bad option is a ``ValueError`` or ``TypeError`` naming it, raised here
    and nowhere later; nothing is re-parsed per request. Read-only by
    convention: the core keeps references to the parts.
    """

    verifier: Verifier
    capabilities: Capabilities
    realm: str
    challenge: str
    exclude: PathList
    include: PathList | None
    allow_cors_preflight: bool
    require_https: bool
    strip_authorization: bool
    rules: tuple[Rule, ...]
    groups: Groups | None
    throttle: Throttle | None
    cache: VerificationCache | None
    max_concurrent_checks: int | None
    unauthorized: Any
    logger: logging.Logger | logging.LoggerAdapter[Any]
    metrics: Metrics | None

    def __init__(self, users: object, **options: Unpack[Keywords]) -> None:
        given = check_keywords(options)
        self.verifier = as_verifier(users)
        self.capabilities = caps = capabilities(self.verifier)
        self.realm = given.get("realm", "Restricted area")
        try:
            self.challenge = build_challenge(self.realm)
        except ValueError as exc:
            raise ValueError(f"realm: {exc}") from None
        self.exclude = PathList(given.get("exclude", ()), option="exclude")
        if "/" in self.exclude.patterns:
            raise ValueError("exclude: '/' would leave every path public")
        include = given.get("include")
        self.include = None if include is None else PathList(include, option="include")
        if self.include is not None and not self.include:
            raise ValueError("include is empty: it would protect nothing (omit it to protect all)")
        self.allow_cors_preflight = given.get("allow_cors_preflight", False)
        self.require_https = given.get("require_https", False)
        self.strip_authorization = given.get("strip_authorization", True)
        self.unauthorized = given.get("unauthorized")
        logger = given.get("logger")
        self.logger = default_logger if logger is None else logger
        self.metrics = given.get("metrics")
        throttle = given.get("throttle", DEFAULT)
        self.throttle = Throttle() if throttle is DEFAULT else throttle
        cache = given.get("cache", DEFAULT)
        if cache is DEFAULT:
            cache = VerificationCache() if caps.cache_by_default else None
        self.cache = cache
        slots = given.get("max_concurrent_checks", DEFAULT)
        self.max_concurrent_checks = default_slots() if slots is DEFAULT else slots
        self.groups = given.get("groups")
        self.rules = given.get("rules", ())
        self._check_rules()

    @property
    def path_lists(self) -> bool:
        """Whether any path is public (with no path lists every path is protected)."""
        return bool(self.exclude) or self.include is not None

    def protects(self, reading: str) -> bool:
        """Return whether one reading of a path needs credentials."""
        include = self.include
        return (include is None or include.matches(reading)) and not self.exclude.matches(reading)

    def _check_rules(self) -> None:
        named = sorted({g for rule in self.rules for g in rule.groups})
        if named and self.groups is None and not self.capabilities.provides_groups:
            raise ValueError(f"rules name groups {named} but no groups were given")
        missing = [g for g in named if self.groups is not None and g not in self.groups]
        if missing:
            raise ValueError(f"rules name groups that do not exist: {missing}")
        for rule in self.rules:
            if self.path_lists and not any(self.protects(r) for r in path_readings(rule.path)):
                raise ValueError(
                    f"{rule!r} is for a public path (see exclude/include): it would never apply"
                )

    def __repr__(self) -> str:
        return f"<Settings realm={self.realm!r} verifier={self.verifier!r}>"


#: The keywords the table checks, for a test to compare with :class:`Keywords`.
KEYWORD_NAMES = frozenset(KEYWORDS)
