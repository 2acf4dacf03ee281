"""What serving takes: the server's options, the settings they make, the application loader.

The command line (:mod:`basicauth_wsgi.cli`) and the example's assembly
(:mod:`basicauth_wsgi.example.serve`, behind ``from_env``) both start from
these settings, so neither imports the other. The middleware's own options
come from the one table, :mod:`basicauth_wsgi.options`; the server's are
:data:`SERVER_OPTIONS` below::

    config = config_from(argparse.Namespace(), os.environ)   # HOST, PORT, BASICAUTH_* ...
    app = BasicAuth(load_app("myapp:app"), **config.middleware_kwargs(require_users=True))
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from . import options as middleware_options
from .addresses import Networks

if TYPE_CHECKING:
    import socket

    from _typeshed.wsgi import WSGIApplication

    from .metrics import Metrics

__all__ = ["SERVER_OPTIONS", "ServeConfig", "ServerOption", "config_from", "load_app"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_DB = "subscribers.db"
DEFAULT_REALM = "Restricted area"
# waitress's own default is 4; why 32 (its throughput at 4 threads, and a
# logged-in client's rate while attackers wait for check slots in worker
# threads) is measured in BENCHMARKS.md, "Over waitress" and "Under attack".
DEFAULT_THREADS = 32
# Defaults an attacker cannot use before authenticating (SPEC §8). waitress
# keeps 100 connections and 120 s idle, so 150 half-sent requests from one
# address starve everyone; and it spools bodies up to 1 GiB before the app
# (and so the 401) runs.
DEFAULT_CONNECTION_LIMIT = 1000
DEFAULT_CHANNEL_TIMEOUT = 30
DEFAULT_MAX_BODY = 2 * 1024 * 1024  # the API's 1 MiB cap, plus a margin


def _port(text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,5}", text.strip()) or int(text) > 65535:
        raise ValueError("expected a TCP port (0-65535)")
    return int(text)


def _bounded(low: int, high: int, what: str) -> Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"expected a {what} ({low}-{high})") from None
        if not low <= value <= high:
            raise ValueError(f"{value} is not a {what} ({low}-{high})")
        return value

    return convert


def _text(text: str) -> str:
    if not text:
        raise ValueError("must not be empty")
    return text


def _app_ref(text: str) -> str:
    module, colon, name = text.partition(":")
    if not colon or not module or not name:
        raise ValueError("expected MODULE:NAME, as for waitress-serve")
    return text


def _proxies(text: str) -> Networks:
    # Names and wildcards are refused (SPEC §8): anyone could claim to be
    # such a proxy, and so choose the address the throttle counts them as.
    return Networks.parse(text, option="--trusted-proxy")


class ServerOption(NamedTuple):
    """One option of the server itself (not of the middleware)."""

    name: str
    flag: str
    env: str | None
    convert: Callable[[str], object]
    help: str
    metavar: str
    #: The flag may be repeated; its values are joined with commas.
    repeat: bool = False


#: The server's options; the middleware's come from :data:`basicauth_wsgi.options.OPTIONS`.
SERVER_OPTIONS: tuple[ServerOption, ...] = (
    ServerOption(
        "host", "--host", "HOST", _text, f"interface to bind (default {DEFAULT_HOST})", "HOST"
    ),
    ServerOption(
        "port",
        "--port",
        "PORT",
        _port,
        f"TCP port, 0 for any free one (default {DEFAULT_PORT})",
        "PORT",
    ),
    ServerOption(
        "metrics_port",
        "--metrics-port",
        "BASICAUTH_METRICS_PORT",
        _port,
        "serve Prometheus metrics on /metrics on a second listener: this TCP port, same "
        "host, 0 for any free one (default: off)",
        "PORT",
    ),
    ServerOption(
        "app",
        "--app",
        None,
        _app_ref,
        "serve this WSGI application (MODULE:NAME, imported from the current directory "
        "first) instead of the example API",
        "MODULE:NAME",
    ),
    ServerOption(
        "db",
        "--db",
        "BASICAUTH_DB",
        _text,
        f"the example API's SQLite database (default ./{DEFAULT_DB})",
        "FILE",
    ),
    ServerOption(
        "threads",
        "--threads",
        None,
        _bounded(1, 1024, "thread count"),
        f"worker threads (default {DEFAULT_THREADS})",
        "N",
    ),
    ServerOption(
        "trusted_proxy",
        "--trusted-proxy",
        None,
        _proxies,
        "IP address or CIDR network of a reverse proxy whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed (repeat, or separate by commas; no host names)",
        "ADDRESS",
        repeat=True,
    ),
    ServerOption(
        "connection_limit",
        "--connection-limit",
        None,
        _bounded(1, 1_000_000, "connection count"),
        f"open connections at most (default {DEFAULT_CONNECTION_LIMIT})",
        "N",
    ),
    ServerOption(
        "channel_timeout",
        "--channel-timeout",
        None,
        _bounded(1, 3600, "number of seconds"),
        f"close idle connections after this many seconds (default {DEFAULT_CHANNEL_TIMEOUT})",
        "SECONDS",
    ),
    ServerOption(
        "max_request_body_size",
        "--max-request-body-size",
        None,
        _bounded(0, 2**40, "size in bytes"),
        f"largest request body accepted, bytes (default {DEFAULT_MAX_BODY})",
        "BYTES",
    ),
)

#: Middleware options that ``serve`` keeps as fields of its own.
_OWN_FIELDS = ("realm", "htpasswd", "htgroup")


@dataclass(frozen=True)
class ServeConfig:
    """What ``serve`` needs, from flags, the environment or keywords."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    db: str = DEFAULT_DB
    realm: str = DEFAULT_REALM
    threads: int = DEFAULT_THREADS
    htpasswd: str | None = None
    htgroup: str | None = None
    access_log: bool = True
    app: str | None = None
    #: The reverse proxies whose forwarded headers are believed (see :mod:`.forwarded`).
    trusted_proxy: Networks | None = field(default=None, compare=False)
    connection_limit: int = DEFAULT_CONNECTION_LIMIT
    channel_timeout: int = DEFAULT_CHANNEL_TIMEOUT
    max_request_body_size: int = DEFAULT_MAX_BODY
    #: The other middleware options, as strings by option name (the table converts them).
    options: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    #: Where each option came from (a flag or a variable, as spelled), for error messages.
    spelled: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)
    #: The socket bound before anything else happens (see ``cli.serve.bind``).
    listener: socket.socket | None = field(default=None, compare=False, repr=False)
    #: Serve the forward-auth service (``--forward-auth``, SPEC §11) instead of an application.
    forward_auth: bool = False
    #: The port of the metrics listener (``--metrics-port``, SPEC §12); ``None``: off.
    metrics_port: int | None = None
    #: What the front door counts into, served there (made by ``cli.serve`` with the port).
    metrics: Metrics | None = field(default=None, compare=False, repr=False)
    #: The metrics listener, bound with the main one (see ``cli.serve.bind``).
    metrics_listener: socket.socket | None = field(default=None, compare=False, repr=False)

    def middleware_kwargs(
        self, *, require_users: bool, door: str = middleware_options.MIDDLEWARE
    ) -> dict[str, Any]:
        """The keyword arguments of the front door ``door`` these settings ask for."""
        settings = dict(self.options)
        for name in _OWN_FIELDS:
            value = getattr(self, name)
            if value is not None and not (name == "realm" and value == DEFAULT_REALM):
                settings[name] = value
        kwargs = middleware_options.from_strings(
            settings, spell=self.spelling(), require_users=require_users, door=door
        )
        if self.metrics is not None:
            kwargs["metrics"] = self.metrics
        return kwargs

    def spelling(self) -> Callable[[middleware_options.Option], str]:
        """How an error names an option: as the operator spelled it (flag or variable)."""
        spelled = dict(self.spelled)
        return lambda option: spelled.get(option.name, option.flag)


def config_from(args: argparse.Namespace, environ: Mapping[str, str]) -> ServeConfig:
    """The settings of ``args`` over those of ``environ``; ``ValueError`` names a bad one.

    ``args`` holds a server option under its name and a middleware option
    under ``mw_<name>`` (as ``cli.serve`` parses them); ``args.spelled``, if
    present, maps option names to the flag as typed (``--redis``).
    """
    refused = getattr(args, "refused", None)
    if refused is not None:
        raise ValueError(refused)
    values: dict[str, object] = {}
    for option in SERVER_OPTIONS:
        given = getattr(args, option.name, None)
        if isinstance(given, list):
            given = ",".join(given)
        for source, raw in ((option.env, environ.get(option.env or "")), (option.flag, given)):
            if raw is None or source is None:
                continue
            try:
                values[option.name] = option.convert(raw)
            except ValueError as exc:
                message = str(exc)
                if not message.startswith(source):
                    message = f"{source} {raw!r}: {message}"
                raise ValueError(message) from None
    spelled: dict[str, str] = {}
    settings = middleware_options.environ_settings(
        environ, ignore=[o.env for o in SERVER_OPTIONS if o.env], spelled=spelled
    )
    typed: dict[str, str] = getattr(args, "spelled", None) or {}
    for opt in middleware_options.STRING_OPTIONS:
        given = getattr(args, "mw_" + opt.name, None)
        if given is None:
            continue
        if opt.arity == "bool":
            given = "true" if given else "false"
        elif opt.arity == "many":
            given = "\n".join(given)
        settings[opt.name] = given
        spelled[opt.name] = typed.get(opt.name, opt.flag)
    for name in _OWN_FIELDS:
        if name in settings:
            values[name] = settings.pop(name)
    return ServeConfig(
        access_log=getattr(args, "access_log", True),
        forward_auth=getattr(args, "forward_auth", False),
        options=tuple(sorted(settings.items())),
        spelled=tuple(sorted(spelled.items())),
        **values,  # type: ignore[arg-type]
    )


def load_app(reference: str, *, folder: str | None = None) -> WSGIApplication:
    """Import ``MODULE:NAME`` (``NAME`` may be ``a.b`` attributes); ``ValueError`` if not found.

    ``folder`` (default: the current directory) is searched first, as
    ``gunicorn`` and ``uvicorn`` do (``waitress-serve`` searches it last): the
    application beside the configuration is the one meant, and a systemd
    unit's ``WorkingDirectory`` is where it lives.
    """
    folder = os.getcwd() if folder is None else folder
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module_name, _, name = reference.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"--app {reference}: cannot import {module_name}: {exc}") from None
    for part in name.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(f"--app {reference}: {module_name} has no {name}") from None
    if not callable(target):
        raise ValueError(f"--app {reference}: {name} is not a WSGI application")
    app: WSGIApplication = target
    return app
