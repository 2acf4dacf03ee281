"""PasteDeploy entry points: the ``basicauth`` filter and the example API.

In a PasteDeploy ``.ini``::

    [filter:auth]
    use = egg:basicauth-wsgi#basicauth
    htpasswd = /etc/myapp/users.htpasswd
    exclude = /health /static/

Every key is an option of :mod:`basicauth_wsgi.config`; an unknown or bad key
stops start-up with an error naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .middleware import BasicAuth
from .options import from_strings as options_from_strings

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["app_factory", "filter_factory"]


def filter_factory(
    global_conf: Mapping[str, Any], **local_conf: str
) -> Callable[[WSGIApplication], BasicAuth]:
    """Return a filter that wraps an application in :class:`~basicauth_wsgi.BasicAuth`.

    The strings are converted here; PasteDeploy then wraps the application
    at once, while loading, so every bad option stops start-up.
    """
    kwargs = options_from_strings(local_conf)

    def wrap(app: WSGIApplication) -> BasicAuth:
        return BasicAuth(app, **kwargs)

    return wrap


def app_factory(global_conf: Mapping[str, Any], *, db: str = "subscribers.db") -> WSGIApplication:
    """Return the example mailing-list API (unprotected; add the filter in front)."""
    from .app import create_app

    return create_app(db)
