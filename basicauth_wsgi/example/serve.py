"""Assembling the protected example: the API behind BasicAuth, users included.

``serve`` (without ``--app``) and ``from_env`` build the same application
here, from the settings of :mod:`basicauth_wsgi.serving` (the command line
is not imported). Without a users file, user ``admin`` gets a random
password, kept hashed in ``admin.htpasswd`` beside the database; the
process that creates that file prints the password once, and every other
worker and every later start uses the same file::

    app = build_app(ServeConfig(db="subscribers.db"), sys.stdout)
"""

from __future__ import annotations

import os
import secrets
from typing import TYPE_CHECKING, Any, TextIO

from ..htpasswd import HtpasswdFile, create_htpasswd
from ..middleware import BasicAuth
from ..rules import Rule

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from ..serving import ServeConfig

__all__ = ["ADMIN_FILE", "PUBLIC_PATHS", "admin_users", "build_app", "from_env", "protected_api"]

PUBLIC_PATHS = ("/health",)

#: The generated users file, beside the database.
ADMIN_FILE = "admin.htpasswd"


def admin_users(db: str, stdout: TextIO) -> HtpasswdFile:
    """The users file of user ``admin``, created with a random password if missing.

    Created atomically with ``O_EXCL`` and mode 0600, so of several workers
    starting at once exactly one creates it and prints
    ``admin password: <password>``; the others, and every later start, print
    where the file is and how to reset the password.
    """
    from ..hashes import hash_password

    path = os.path.join(os.path.dirname(os.path.abspath(db)), ADMIN_FILE)
    password = secrets.token_urlsafe(18)
    if create_htpasswd(path, {"admin": hash_password(password)}):
        stdout.write(f"admin password: {password}\n")
    else:
        stdout.write(
            f"users: {path} (reset the admin password with "
            f"`basicauth-wsgi passwd {path} admin`, or delete the file to get a new one)\n"
        )
    stdout.flush()
    return HtpasswdFile(path)


def build_app(config: ServeConfig, stdout: TextIO) -> WSGIApplication:
    """Return the protected example API for ``config`` (no access log).

    ``ValueError`` names a bad option (see :func:`protected_api`).
    """
    return protected_api(config.db, config.middleware_kwargs(require_users=False), stdout)


def protected_api(db: str, kwargs: dict[str, Any], stdout: TextIO) -> WSGIApplication:
    """The example API on ``db`` behind ``BasicAuth(**kwargs)``.

    Without ``users`` in ``kwargs`` it gets the generated ``admin`` (see
    :func:`admin_users`); ``/health`` is public unless ``exclude`` says
    otherwise. With groups, only members of the ``admin`` group may delete
    subscribers (unless ``rules`` are given).
    """
    from .api import create_app

    kwargs = dict(kwargs)
    if "users" not in kwargs:
        kwargs["users"] = admin_users(db, stdout)
    kwargs.setdefault("exclude", PUBLIC_PATHS)
    if "groups" in kwargs:
        kwargs.setdefault(
            "rules", [Rule("/api/v1/subscribers/", methods=["DELETE"], groups=["admin"])]
        )
    return BasicAuth(create_app(db), **kwargs)


def from_env() -> WSGIApplication:
    """Return the protected API configured from the environment (SPEC §8).

    For ``waitress-serve --call basicauth_wsgi.app:from_env`` and
    ``gunicorn 'basicauth_wsgi.app:from_env()'``. Reads ``BASICAUTH_DB`` and
    the ``BASICAUTH_*`` middleware variables; a bad value raises
    ``ValueError`` naming the variable.
    """
    import argparse
    import sys

    from ..serving import config_from

    config = config_from(argparse.Namespace(access_log=False), os.environ)
    if config.metrics_port is not None:
        # A second listener is serve's; under gunicorn every worker would
        # race for its port, and a silent no would hide the metrics.
        raise ValueError(
            "BASICAUTH_METRICS_PORT is for basicauth-wsgi serve; under gunicorn or "
            "waitress-serve, count with Metrics(registry=...) and serve /metrics yourself "
            "(README, Metrics)"
        )
    return build_app(config, sys.stdout)
