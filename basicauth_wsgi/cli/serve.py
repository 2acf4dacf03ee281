"""``basicauth-wsgi serve``: a protected application on waitress.

Serves the example API, or any WSGI application with ``--app MODULE:NAME``,
behind :class:`~basicauth_wsgi.BasicAuth`. Every middleware option is a flag
and a ``BASICAUTH_*`` variable, generated from the one option table
(:mod:`basicauth_wsgi.options`); the server's own options are the table
below. A flag wins over the environment::

    basicauth-wsgi serve --app myapp:app --htpasswd users --exclude /health
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

from .. import options as middleware_options

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["SERVER_OPTIONS", "ServeConfig", "add_parser", "bind", "config_from", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_DB = "subscribers.db"
DEFAULT_REALM = "Restricted area"
# waitress's own default is 4, and at 4 throughput collapses once
# connections outnumber threads (SPEC §9). Measured on 2 vCPUs (python -m
# bench, BENCHMARKS.md): 32 threads serve what 8 do with 16 connections and
# 1.07x with one; and while 24 attacker connections spray guesses, each
# waiting up to 50 ms for a check slot inside a worker thread, a logged-in
# client keeps 0.6x its rate at 32 threads but 0.002x at 8 (its request
# queues behind the waits).
DEFAULT_THREADS = 32
# Defaults an attacker cannot use before authenticating (SPEC §8). waitress
# keeps 100 connections and 120 s idle, so 150 half-sent requests from one
# address starve everyone; and it spools bodies up to 1 GiB before the app
# (and so the 401) runs.
DEFAULT_CONNECTION_LIMIT = 1000
DEFAULT_CHANNEL_TIMEOUT = 30
DEFAULT_MAX_BODY = 2 * 1024 * 1024  # the API's 1 MiB cap, plus a margin
#: The interpreter's thread switch interval while serving, seconds (default 0.005).
SWITCH_INTERVAL = 0.0005


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(f"{port} is not a TCP port (0-65535)")
    return port


def _bounded(low: int, high: int, what: str) -> Callable[[str], int]:
    def convert(text: str) -> int:
        value = int(text)
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


class ServerOption(NamedTuple):
    """One option of the server itself (not of the middleware)."""

    name: str
    flag: str
    env: str | None
    convert: Callable[[str], object]
    help: str


#: The server's options; the middleware's come from :data:`basicauth_wsgi.options.OPTIONS`.
SERVER_OPTIONS: tuple[ServerOption, ...] = (
    ServerOption("host", "--host", "HOST", _text, f"interface to bind (default {DEFAULT_HOST})"),
    ServerOption(
        "port", "--port", "PORT", _port, f"TCP port, 0 for any free one (default {DEFAULT_PORT})"
    ),
    ServerOption(
        "app",
        "--app",
        None,
        _app_ref,
        "serve this WSGI application (MODULE:NAME) instead of the example API",
    ),
    ServerOption(
        "db",
        "--db",
        "BASICAUTH_DB",
        _text,
        f"the example API's SQLite database (default ./{DEFAULT_DB})",
    ),
    ServerOption(
        "threads",
        "--threads",
        None,
        _bounded(1, 1024, "thread count"),
        f"worker threads (default {DEFAULT_THREADS})",
    ),
    ServerOption(
        "trusted_proxy",
        "--trusted-proxy",
        None,
        _text,
        "address of a reverse proxy whose X-Forwarded-For and X-Forwarded-Proto "
        "are believed (waitress trusted_proxy)",
    ),
    ServerOption(
        "connection_limit",
        "--connection-limit",
        None,
        _bounded(1, 1_000_000, "connection count"),
        f"open connections at most (default {DEFAULT_CONNECTION_LIMIT})",
    ),
    ServerOption(
        "channel_timeout",
        "--channel-timeout",
        None,
        _bounded(1, 3600, "number of seconds"),
        f"close idle connections after this many seconds (default {DEFAULT_CHANNEL_TIMEOUT})",
    ),
    ServerOption(
        "max_request_body_size",
        "--max-request-body-size",
        None,
        _bounded(0, 2**40, "size in bytes"),
        f"largest request body accepted, bytes (default {DEFAULT_MAX_BODY})",
    ),
)


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
    trusted_proxy: str | None = None
    connection_limit: int = DEFAULT_CONNECTION_LIMIT
    channel_timeout: int = DEFAULT_CHANNEL_TIMEOUT
    max_request_body_size: int = DEFAULT_MAX_BODY
    #: The other middleware options, as strings by option name (the table converts them).
    options: tuple[tuple[str, str], ...] = ()
    #: Where each option came from (a flag or a variable), for error messages.
    spelled: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)
    #: The socket bound before anything else happens (see :func:`bind`).
    listener: socket.socket | None = field(default=None, compare=False, repr=False)
    #: Serve the forward-auth service (``--forward-auth``, SPEC §11) instead of an application.
    forward_auth: bool = False

    def middleware_kwargs(
        self, *, require_users: bool, door: str = middleware_options.MIDDLEWARE
    ) -> dict[str, Any]:
        """The keyword arguments of the front door ``door`` these settings ask for."""
        settings = dict(self.options)
        for name in ("realm", "htpasswd", "htgroup"):
            value = getattr(self, name)
            if value is not None and not (name == "realm" and value == DEFAULT_REALM):
                settings[name] = value
        spelled = dict(self.spelled)
        return middleware_options.from_strings(
            settings,
            spell=lambda option: spelled.get(option.name, option.flag),
            require_users=require_users,
            door=door,
        )


_FIELDS = {f.name for f in fields(ServeConfig)}


class _Secret(argparse.Action):
    """A secret given as a flag: one error line that names the flag, never its value."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        parser.error(
            f"{self.option_strings[0]}: a secret is never a command-line argument (other "
            f"users of the machine can read it); set {self.metavar} instead"
        )


def add_parser(commands: argparse._SubParsersAction[Any]) -> None:
    """Add ``serve`` and its flags: the server's, then one per middleware option."""
    run = commands.add_parser(
        "serve",
        help="serve the protected example API (or --app) with waitress",
        description="Serve the mailing-list API, or any WSGI application (--app), behind "
        "Basic authentication. Every option can also be set by the environment variable "
        "named in its help; a flag wins over the environment.",
        # Secrets are never flags (other users can read command lines).
        epilog="Secrets, by variable only: "
        + "; ".join(
            f"{o.env}: {o.help}" for o in middleware_options.OPTIONS if o.arity == "secret"
        ),
    )
    server = run.add_argument_group("server")
    for option in SERVER_OPTIONS:
        env = f" ({option.env})" if option.env else ""
        server.add_argument(option.flag, dest=option.name, help=option.help + env)
    server.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        help="do not write the Common Log Format access log to stdout",
    )
    server.add_argument(
        "--forward-auth",
        dest="forward_auth",
        action="store_true",
        help="serve the forward-auth service for nginx, Caddy, Traefik or Envoy "
        "(needs --trusted-proxies) instead of an application",
    )
    auth = run.add_argument_group("authentication (each also BASICAUTH_<NAME>)")
    for opt in middleware_options.STRING_OPTIONS:
        if opt.arity == "secret":  # never on a command line: a variable or an ini key
            # Taken (hidden) so that it is refused, not read as an abbreviation
            # of a longer flag (--ldap-bind-password-file) and echoed back.
            auth.add_argument(
                opt.flag, nargs="?", action=_Secret, metavar=opt.env, help=argparse.SUPPRESS
            )
            continue
        dest = "mw_" + opt.name
        names = [opt.flag, *opt.flag_aliases]
        text = f"{opt.help} ({', '.join((opt.env, *opt.env_aliases))})"
        if opt.arity == "bool":
            auth.add_argument(*names, dest=dest, action=argparse.BooleanOptionalAction, help=text)
        elif opt.arity == "many":
            auth.add_argument(
                *names,
                dest=dest,
                action="append",
                metavar=opt.metavar,
                help=text + "; repeat for more",
            )
        else:
            auth.add_argument(*names, dest=dest, help=text)


def config_from(args: argparse.Namespace, environ: Mapping[str, str]) -> ServeConfig:
    """The settings of ``args`` over those of ``environ``; ``ValueError`` names a bad one."""
    values: dict[str, object] = {}
    for option in SERVER_OPTIONS:
        for source, raw in (
            (option.env, environ.get(option.env or "")),
            (option.flag, getattr(args, option.name, None)),
        ):
            if raw is None or source is None:
                continue
            try:
                values[option.name] = option.convert(raw)
            except ValueError as exc:
                raise ValueError(f"{source} {raw!r}: {exc}") from None
    settings = middleware_options.environ_settings(
        environ, ignore=[o.env for o in SERVER_OPTIONS if o.env]
    )
    variables = {opt.name: opt.env for opt in middleware_options.STRING_OPTIONS}
    spelled = {name: variables[name] for name in settings}
    for opt in middleware_options.STRING_OPTIONS:
        given = getattr(args, "mw_" + opt.name, None)
        if given is None:
            continue
        if opt.arity == "bool":
            given = "true" if given else "false"
        elif opt.arity == "many":
            given = "\n".join(given)
        settings[opt.name] = given
        spelled[opt.name] = opt.flag
    for name in ("realm", "htpasswd", "htgroup"):
        if name in settings:
            values[name] = settings.pop(name)
    return ServeConfig(
        access_log=getattr(args, "access_log", True),
        forward_auth=getattr(args, "forward_auth", False),
        options=tuple(sorted(settings.items())),
        spelled=tuple(sorted(spelled.items())),
        **values,  # type: ignore[arg-type]
    )


def load_app(reference: str) -> WSGIApplication:
    """Import ``MODULE:NAME`` (``NAME`` may be ``a.b`` attributes); ``ValueError`` if not found."""
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


def bind(config: ServeConfig) -> socket.socket:
    """Bind the listening socket first, so a busy port fails before anything is created.

    ``OSError`` (with a one-line message) when the address cannot be bound.
    """
    try:
        infos = socket.getaddrinfo(
            config.host, config.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError as exc:
        raise OSError(f"cannot bind {config.host}:{config.port}: {exc.strerror or exc}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise OSError(f"cannot listen on {config.host}:{config.port}: {reason}") from None
    return sock


def serve(app: WSGIApplication, config: ServeConfig, stdout: TextIO) -> None:
    """Serve ``app`` with waitress until interrupted.

    Writes ``serving on http://HOST:PORT`` to ``stdout`` for each socket,
    with the port actually bound (``--port 0`` picks a free one).
    """
    from waitress.server import BaseWSGIServer, create_server

    settings: dict[str, Any] = {
        "threads": config.threads,
        "ident": "basicauth-wsgi",
        "connection_limit": config.connection_limit,
        "channel_timeout": config.channel_timeout,
        "max_request_body_size": config.max_request_body_size,
    }
    if config.trusted_proxy is not None:
        settings.update(
            trusted_proxy=config.trusted_proxy,
            trusted_proxy_headers={"x-forwarded-for", "x-forwarded-proto"},
            clear_untrusted_proxy_headers=True,
        )
    if config.forward_auth:
        # The proxy's X-Forwarded-For and -Proto are facts the service reads
        # (and believes from trusted_proxies only); waitress would drop them.
        settings["clear_untrusted_proxy_headers"] = False
    listener = config.listener if config.listener is not None else bind(config)
    server = create_server(app, sockets=[listener], **settings)
    if isinstance(server, BaseWSGIServer):
        bound_host, bound_port = server.getsockname()[:2]
        listening = [(str(bound_host), int(bound_port))]
    else:
        listening = list(server.effective_listen)
    for host, port in listening:
        shown = f"[{host}]" if ":" in host else host
        stdout.write(f"serving on http://{shown}:{port}\n")
    stdout.flush()
    # A program's choice, not the library's: with 32 worker threads, a
    # logged-in user's request (a few hundred microseconds of Python) would
    # wait up to the default 5 ms for the interpreter lock behind each busy
    # thread, as when a flood of guesses keeps them busy. Measured (BENCHMARKS.md,
    # "Under attack"): 0.28x -> 0.45x its rate under the spray; no change at
    # 16 connections without attack.
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


def configure_logging(stdout: TextIO, stderr: TextIO, access_log: bool) -> None:
    """Failures and server lines to stderr with a timestamp; the access log to stdout."""
    errors = logging.StreamHandler(stderr)
    errors.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("basicauth_wsgi", "waitress"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [errors]
        logger.setLevel(logging.INFO)
        logger.propagate = False
    access = logging.getLogger("basicauth_wsgi.access")
    access.handlers[:] = [logging.StreamHandler(stdout)] if access_log else []
    access.setLevel(logging.INFO)
    access.propagate = False
