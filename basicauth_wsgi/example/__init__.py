"""The bundled example: the tutorial's mailing-list API, its router and SQLite store.

Not part of the auth library: it is the application the README protects with
:class:`~basicauth_wsgi.BasicAuth`, kept in the package so ``serve.py`` and
``waitress-serve --call basicauth_wsgi.app:from_env`` have something to serve::

    from basicauth_wsgi.example.api import create_app
    app = create_app("subscribers.db")

Modules: :mod:`.api` (the endpoints), :mod:`.router` (routing and WSGI
emission), :mod:`.http` (Request, Response, HTTPError), :mod:`.store` (SQLite).
Importing this package imports none of them.
"""
