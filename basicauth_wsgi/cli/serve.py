"""``basicauth-wsgi serve``: a protected application on waitress.

Serves the example API, or any WSGI application with ``--app MODULE:NAME``,
behind :class:`~basicauth_wsgi.BasicAuth`. Every middleware option is a flag
and a ``BASICAUTH_*`` variable, generated from the one option table
(:mod:`basicauth_wsgi.options`); the server's own options are
:data:`basicauth_wsgi.serving.SERVER_OPTIONS`. A flag wins over the
environment::

    basicauth-wsgi serve --app myapp:app --htpasswd users --exclude /health
"""

from __future__ import annotations

import argparse
import errno
import logging
import socket
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from .. import options as middleware_options
from ..serving import (
    DEFAULT_CHANNEL_TIMEOUT,
    DEFAULT_CONNECTION_LIMIT,
    DEFAULT_MAX_BODY,
    DEFAULT_THREADS,
    SERVER_OPTIONS,
    ServeConfig,
    config_from,
    load_app,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = [
    "DEFAULT_CHANNEL_TIMEOUT",
    "DEFAULT_CONNECTION_LIMIT",
    "DEFAULT_MAX_BODY",
    "DEFAULT_THREADS",
    "SERVER_OPTIONS",
    "ServeConfig",
    "add_parser",
    "bind",
    "build",
    "config_from",
    "load_app",
    "serve",
]

#: The interpreter's thread switch interval while serving, seconds (default
#: 0.005); why, measured: BENCHMARKS.md, "Under attack".
SWITCH_INTERVAL = 0.0005

logger = logging.getLogger("basicauth_wsgi.serve")


class _Spelled(argparse.Action):
    """Store the value, and remember which spelling of the flag was typed (``--redis``)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        spelled = getattr(namespace, "spelled", None) or {}
        spelled[self.dest.removeprefix("mw_")] = option_string
        namespace.spelled = spelled


class _Secret(argparse.Action):
    """A secret given as a flag: one error line that names the flag, never its value."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, *args: Any
    ) -> None:
        # Refused by config_from, as every bad setting is (one line, exit 2).
        namespace.refused = (
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
        server.add_argument(
            option.flag,
            dest=option.name,
            metavar=option.metavar,
            action="append" if option.repeat else "store",
            help=option.help + env,
        )
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
                *names, dest=dest, action="append", metavar=opt.metavar, help=text + "; repeat"
            )
        else:
            auth.add_argument(*names, dest=dest, action=_Spelled, metavar=opt.metavar, help=text)


def build(config: ServeConfig, stdout: TextIO) -> WSGIApplication:
    """The protected application ``config`` asks for: ``--app``, or the example API.

    ``ValueError`` (one line, naming the option) for a bad setting. The
    application is imported before the users are loaded, so a mistyped
    ``--app`` fails at once.
    """
    from ..example.serve import protected_api
    from ..middleware import BasicAuth

    if config.forward_auth:
        from ..forward.cli import build as forward_service

        return forward_service(config)
    app = None if config.app is None else load_app(config.app)
    kwargs = config.middleware_kwargs(require_users=app is not None)
    _warn_about_include(kwargs.get("include") or (), config)
    if app is None:
        return protected_api(config.db, kwargs, stdout)
    return BasicAuth(app, **kwargs)


def _warn_about_include(include: Sequence[str], config: ServeConfig) -> None:
    # "/api" protects exactly /api, as exclude's "/health" is exactly that
    # path (SPEC §3); an operator who meant the folder has left everything
    # below it public, so say so once, at start.
    name = dict(config.spelled).get("include", "--include")
    for entry in include:
        if entry != "/" and not entry.endswith("/"):
            logger.warning(
                "%s %s protects only the exact path %s: %s/ and everything below it stay "
                "public; write %s/ to protect the folder",
                name,
                entry,
                entry,
                entry,
                entry,
            )


def bind(config: ServeConfig, port: int | None = None) -> socket.socket:
    """Bind a listening socket first, so a busy port fails before anything is created.

    On ``config.host``, at ``port`` (default ``config.port``). ``OSError``
    (with a one-line message) when the address cannot be bound.
    """
    port = config.port if port is None else port
    try:
        infos = socket.getaddrinfo(
            config.host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError as exc:
        raise OSError(f"cannot bind {config.host}:{port}: {exc.strerror or exc}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise OSError(f"cannot listen on {config.host}:{port}: {reason}") from None
    return sock


def serve(app: WSGIApplication, config: ServeConfig, stdout: TextIO) -> None:
    """Serve ``app`` with waitress until interrupted.

    Writes ``serving on http://HOST:PORT`` to ``stdout`` for each socket,
    with the port actually bound (``--port 0`` picks a free one). Forwarded
    headers are not waitress's job here: ``app`` arrives wrapped in
    :class:`~basicauth_wsgi.forwarded.TrustedProxies`.
    """
    from waitress.server import create_server

    settings: dict[str, Any] = {
        "threads": config.threads,
        "ident": "basicauth-wsgi",
        "connection_limit": config.connection_limit,
        "channel_timeout": config.channel_timeout,
        "max_request_body_size": config.max_request_body_size,
        # waitress would drop every forwarded header (it trusts no proxy
        # here); TrustedProxies, around app, decides what to believe.
        "clear_untrusted_proxy_headers": False,
    }
    listener = config.listener if config.listener is not None else bind(config)
    server = create_server(app, sockets=[listener], **settings)
    for host, port in _listening(server):
        stdout.write(f"serving on http://{_shown(host)}:{port}\n")
    scraped = _metrics_server(config)
    if scraped is not None:
        for host, port in _listening(scraped):
            stdout.write(f"metrics on http://{_shown(host)}:{port}/metrics\n")
    stdout.flush()
    # A program's choice, not the library's: with 32 worker threads, a
    # logged-in user's request would wait up to the default 5 ms for the
    # interpreter lock behind each busy thread, as when a flood of guesses
    # keeps them busy.
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        if scraped is not None:
            scraped.close()


def _metrics_server(config: ServeConfig) -> Any:
    """The metrics listener's own waitress server, running in a daemon thread; ``None`` if off.

    Its own socket map and worker threads: a scrape never queues behind the
    protected port's requests (a flood of guesses included). Nothing but
    ``/metrics`` is served there, with no access log (a scrape every 15 s
    is not traffic). The caller closes it, which ends its thread.
    """
    from waitress.server import create_server

    if config.metrics is None or config.metrics_port is None:
        return None
    listener = config.metrics_listener
    if listener is None:
        listener = bind(config, config.metrics_port)
    server = create_server(
        config.metrics.wsgi, map={}, sockets=[listener], threads=2, ident="basicauth-wsgi"
    )
    threading.Thread(target=server.run, name="basicauth-metrics", daemon=True).start()
    return server


def _listening(server: Any) -> list[tuple[str, int]]:
    from waitress.server import BaseWSGIServer

    if isinstance(server, BaseWSGIServer):
        bound_host, bound_port = server.getsockname()[:2]
        return [(str(bound_host), int(bound_port))]
    return [(str(host), int(port)) for host, port in server.effective_listen]


def _shown(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def configure_logging(stdout: TextIO, stderr: TextIO, access_log: bool) -> None:
    """Failures and server lines to stderr with a timestamp; the access log to stdout."""
    errors = logging.StreamHandler(stderr)
    errors.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("basicauth_wsgi", "waitress"):
        log = logging.getLogger(name)
        log.handlers[:] = [errors]
        log.setLevel(logging.INFO)
        log.propagate = False
    access = logging.getLogger("basicauth_wsgi.access")
    access.handlers[:] = [logging.StreamHandler(stdout)] if access_log else []
    access.setLevel(logging.INFO)
    access.propagate = False
