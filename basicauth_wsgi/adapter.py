"""What every front door shares: its options, checked once, and the core built from them.

The WSGI middleware and the ASGI adapter take the same signature; it is
written here, once, with the core (:class:`~basicauth_wsgi.core.Gate`) it
builds, ``from_environ``, and the option attributes each shows::

    class BasicAuth(FrontDoor["WSGIApplication"]):
        kind = "WSGI"
        def __call__(self, environ, start_response): ...  # the transport
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .core import DEFAULT, Gate
from .options import check_keywords, from_environ

if TYPE_CHECKING:
    from typing_extensions import Self

    from .cache import VerificationCache
    from .rules import Groups, Rule
    from .throttle import Throttle

__all__ = ["FrontDoor"]

App = TypeVar("App")


class FrontDoor(Generic[App]):
    """The options of ``BasicAuth``, validated, and the :class:`Gate` they build.

    A subclass adds the transport: how a request's facts are read and how
    a decision is answered. ``kind`` names the interface in error messages.
    """

    #: The interface, in error messages ("a WSGI application").
    kind = "WSGI"
    #: Its article: "an ASGI application".
    article = "a"

    def __init__(
        self,
        app: App,
        users: object,
        *,
        realm: str = "Restricted area",
        exclude: Iterable[str] = (),
        include: Iterable[str] | None = None,
        allow_cors_preflight: bool = False,
        rules: Iterable[Rule] = (),
        groups: Mapping[str, Iterable[str]] | Groups | None = None,
        throttle: Throttle | None = DEFAULT,
        cache: VerificationCache | None = DEFAULT,
        max_concurrent_checks: int | None = DEFAULT,
        require_https: bool = False,
        strip_authorization: bool = True,
        unauthorized: App | None = None,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    ) -> None:
        if not callable(app):
            raise TypeError(
                f"app must be {self.article} {self.kind} application (callable), got {app!r}"
            )
        check_keywords({"strip_authorization": strip_authorization})
        if unauthorized is not None and not callable(unauthorized):
            raise TypeError(
                f"unauthorized must be {self.article} {self.kind} application, got {unauthorized!r}"
            )
        self.app = app
        self.gate = Gate(
            users,
            realm=realm,
            exclude=exclude,
            include=include,
            allow_cors_preflight=allow_cors_preflight,
            rules=rules,
            groups=groups,
            throttle=throttle,
            cache=cache,
            max_concurrent_checks=max_concurrent_checks,
            require_https=require_https,
            logger=logger,
        )
        self.strip_authorization = strip_authorization
        self.unauthorized = unauthorized
        self._bind()

    def _bind(self) -> None:
        """Prepare what the transport reads per request (a subclass's hook)."""

    @classmethod
    def from_environ(
        cls, app: App, environ: Mapping[str, str] = os.environ, **options: Any
    ) -> Self:
        """Build the middleware from ``BASICAUTH_*`` environment variables (SPEC §3).

        One variable per option (``BASICAUTH_HTPASSWD`` or ``BASICAUTH_USERS``,
        ``BASICAUTH_REALM``, ``BASICAUTH_EXCLUDE``, ...); keyword ``options``
        win over the environment. A bad or unknown ``BASICAUTH_*`` variable
        is a ``ValueError`` naming it.
        """
        settings = from_environ(environ, require_users="users" not in options)
        return cls(app, **{**settings, **options})

    def __repr__(self) -> str:
        return f"<{type(self).__name__} realm={self.gate.realm!r} app={self.app!r}>"


def _option(name: str) -> property:
    def read(self: FrontDoor[Any]) -> Any:
        return getattr(self.gate, name)

    read.__doc__ = f"The core's ``{name}`` (read-only)."
    return property(read)


# The options live on the core; every front door shows them too
# (app.throttle, app.cache, app.realm, ...), read-only.
for _name in (
    "allow_cors_preflight",
    "cache",
    "challenge",
    "exclude",
    "groups",
    "include",
    "logger",
    "realm",
    "require_https",
    "rules",
    "slots",
    "throttle",
    "verifier",
):
    setattr(FrontDoor, _name, _option(_name))
del _name
