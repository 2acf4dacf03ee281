"""What every front door shares: one signature, the settings it makes, and the gate it builds.

The WSGI middleware and the ASGI adapter take the same keywords; they are
checked once, by :class:`~basicauth_wsgi.settings.Settings`, and a front door
only adds its transport::

    class BasicAuth(FrontDoor["WSGIApplication"]):
        kind = "WSGI"
        def __call__(self, environ, start_response): ...  # read facts, write the answer
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from .core import Gate
from .options import from_environ
from .settings import Settings

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack

    from .settings import Keywords

__all__ = ["FrontDoor"]

App = TypeVar("App")
T = TypeVar("T")


class _Setting(Generic[T]):
    """A read-only attribute of a front door, read from its settings (``app.realm``, ...)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, door: None, owner: type) -> _Setting[T]: ...

    @overload
    def __get__(self, door: FrontDoor[Any], owner: type) -> T: ...

    def __get__(self, door: FrontDoor[Any] | None, owner: type) -> _Setting[T] | T:
        if door is None:
            return self
        value: T = getattr(door.settings, self._name)
        return value


class FrontDoor(Generic[App]):
    """The options of ``BasicAuth``, validated once, and the :class:`Gate` they build.

    A subclass adds the transport: how a request's facts are read and how
    a decision is answered. ``kind`` names the interface in error messages.
    """

    #: The interface, in error messages ("a WSGI application").
    kind = "WSGI"
    #: Its article: "an ASGI application".
    article = "a"

    realm: _Setting[str] = _Setting()
    challenge: _Setting[str] = _Setting()
    exclude: _Setting[Any] = _Setting()
    include: _Setting[Any] = _Setting()
    allow_cors_preflight: _Setting[bool] = _Setting()
    require_https: _Setting[bool] = _Setting()
    strip_authorization: _Setting[bool] = _Setting()
    rules: _Setting[Any] = _Setting()
    groups: _Setting[Any] = _Setting()
    throttle: _Setting[Any] = _Setting()
    cache: _Setting[Any] = _Setting()
    logger: _Setting[Any] = _Setting()
    verifier: _Setting[Any] = _Setting()
    unauthorized: _Setting[Any] = _Setting()

    def __init__(self, app: App, users: object, **options: Unpack[Keywords]) -> None:
        if not callable(app):
            raise TypeError(
                f"app must be {self.article} {self.kind} application (callable), got {app!r}"
            )
        self.app = app
        self.settings = Settings(users, **options)
        self.gate = Gate(self.settings)
        self._nested_warned = False
        self._bind()

    def _bind(self) -> None:
        """Prepare what the transport reads per request (a subclass's hook)."""

    def _nested(self) -> None:
        """An outer BasicAuth authenticated this request and removed its header: say so, once.

        SPEC §3: the right password would otherwise get a 401 in silence.
        """
        if not self._nested_warned:
            self._nested_warned = True
            self.settings.logger.warning(
                "a request authenticated by an outer BasicAuth reached this one without its "
                "Authorization header (the outer one's strip_authorization removed it), so it "
                "gets a 401: wrap the application once, or pass strip_authorization=False "
                "to the outer one"
            )

    @property
    def slots(self) -> Any:
        """The check slots of ``max_concurrent_checks`` (``None`` when off)."""
        return self.gate.scheduler.slots

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
        return f"<{type(self).__name__} realm={self.settings.realm!r} app={self.app!r}>"
