"""Forward-auth: one users file, throttle and rules for any service behind a proxy (SPEC §11).

nginx (``auth_request``), Caddy (``forward_auth``), Traefik (``ForwardAuth``)
and Envoy (``ext_authz``) ask an external service whether to pass each
request on. :class:`ForwardAuth` is that service, on the same core as
``BasicAuth``, so a Go service, Grafana or static files get what a Python
application gets::

    from basicauth_wsgi.forward import ForwardAuth
    app = ForwardAuth(HtpasswdFile("users"), trusted_proxies=["127.0.0.1"])
    # or: basicauth-wsgi serve --forward-auth --trusted-proxies 127.0.0.1 --htpasswd users

``basicauth_wsgi.forward.asgi.ForwardAuth`` is the same service for an ASGI
server. The proxy's facts are read in :mod:`.facts`, the answers built in
:mod:`.answers`, the options shared in :mod:`.door`.
"""

from __future__ import annotations

from .wsgi import ForwardAuth

__all__ = ["ForwardAuth"]
