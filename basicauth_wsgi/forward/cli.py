"""``basicauth-wsgi serve --forward-auth``: the forward-auth service, from flags and variables.

Every option is a flag and a ``BASICAUTH_*`` variable from the one option
table (SPEC §8, §11); this module only checks what the mode rules out::

    basicauth-wsgi serve --forward-auth --trusted-proxies 127.0.0.1 --htpasswd users --port 9091
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..options import FORWARD
from .wsgi import ForwardAuth

if TYPE_CHECKING:
    from ..serving import ServeConfig

__all__ = ["build"]


def build(config: ServeConfig) -> ForwardAuth:
    """The service ``config`` asks for; ``ValueError`` (one line, naming the flag) if it cannot be.

    Users are required (no generated ``admin``: the proxy's upstream is not
    the example API), and so are ``--trusted-proxies``.
    """
    if config.app is not None:
        raise ValueError(
            "--app and --forward-auth exclude each other: the forward-auth service serves no "
            "application (the proxy's upstream is the application)"
        )
    if config.trusted_proxy is not None:
        raise ValueError(
            "--trusted-proxy is for --app (waitress believes that proxy's X-Forwarded-For); "
            "with --forward-auth give --trusted-proxies, the proxies that ask"
        )
    if "trusted_proxies" not in dict(config.options):
        # Before the users file is read: the first line is the one to fix.
        raise ValueError(
            "--forward-auth needs --trusted-proxies (BASICAUTH_TRUSTED_PROXIES): the addresses "
            "of the proxies that ask, such as 127.0.0.1"
        )
    return ForwardAuth(**config.middleware_kwargs(require_users=True, door=FORWARD))
