"""The ``basicauth-wsgi`` command line: ``serve`` the protected example API.

``python serve.py``, ``basicauth-wsgi serve`` and ``python -m basicauth_wsgi
serve`` all end here. :func:`main` takes ``argv``, the environment, the
output stream and the serve function as parameters and returns an exit
code, so tests call it directly::

    main(["serve", "--port", "0"], environ={}, serve=fake_serve)
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from . import __version__
from .accesslog import AccessLog
from .middleware import BasicAuth

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["ServeConfig", "build_app", "main", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_DB = "subscribers.db"
DEFAULT_REALM = "Restricted area"
# waitress's own default is 4; at 4 threads its throughput collapses once
# connections outnumber threads on a 2-core box (SPEC §9), 8 does not.
DEFAULT_THREADS = 8

PUBLIC_PATHS = ("/health",)


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(f"{port} is not a TCP port (0-65535)")
    return port


def _threads(text: str) -> int:
    threads = int(text)
    if not 1 <= threads <= 1024:
        raise ValueError(f"{threads} is not a thread count (1-1024)")
    return threads


def _text(text: str) -> str:
    if not text:
        raise ValueError("must not be empty")
    return text


@dataclass(frozen=True)
class ServeConfig:
    """What ``serve`` needs, from flags, the environment or keywords."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    db: str = DEFAULT_DB
    realm: str = DEFAULT_REALM
    threads: int = DEFAULT_THREADS
    access_log: bool = True


# (option, flag, environment variable, converter): the one table both the
# command line and the environment are read through.
OPTIONS: tuple[tuple[str, str, str | None, Callable[[str], object]], ...] = (
    ("host", "--host", "HOST", _text),
    ("port", "--port", "PORT", _port),
    ("db", "--db", "BASICAUTH_DB", _text),
    ("realm", "--realm", "BASICAUTH_REALM", str),
    ("threads", "--threads", None, _threads),
)


def config_from_environ(environ: Mapping[str, str]) -> dict[str, object]:
    """Return the options set by environment variables, converted.

    ``ValueError`` names the variable and the bad value.
    """
    found: dict[str, object] = {}
    for name, _flag, variable, convert in OPTIONS:
        if variable is not None and variable in environ:
            try:
                found[name] = convert(environ[variable])
            except ValueError as exc:
                raise ValueError(f"{variable}={environ[variable]!r}: {exc}") from None
    return found


def build_app(config: ServeConfig, stdout: TextIO) -> WSGIApplication:
    """Return the protected example API for ``config`` (no access log).

    With no users file, user ``admin`` gets a random password, written once
    to ``stdout`` as ``admin password: <password>``.
    """
    from .app import create_app

    password = secrets.token_urlsafe(18)
    stdout.write(f"admin password: {password}\n")
    stdout.flush()
    return BasicAuth(
        create_app(config.db), {"admin": password}, realm=config.realm, exclude=PUBLIC_PATHS
    )


def serve(app: WSGIApplication, config: ServeConfig, stdout: TextIO) -> None:
    """Serve ``app`` with waitress until interrupted.

    Writes ``serving on http://HOST:PORT`` to ``stdout`` for each socket,
    with the port actually bound (``--port 0`` picks a free one).
    """
    from waitress.server import BaseWSGIServer, create_server

    server = create_server(
        app, host=config.host, port=config.port, threads=config.threads, ident="basicauth-wsgi"
    )
    if isinstance(server, BaseWSGIServer):
        bound_host, bound_port = server.getsockname()[:2]
        listening = [(str(bound_host), int(bound_port))]
    else:
        listening = list(server.effective_listen)
    for host, port in listening:
        shown = f"[{host}]" if ":" in host else host
        stdout.write(f"serving on http://{shown}:{port}\n")
    stdout.flush()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


def _configure_logging(stdout: TextIO, stderr: TextIO, access_log: bool) -> None:
    # Auth failures (fail2ban's input) and server messages go to stderr; the
    # access log alone goes to stdout.
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="basicauth-wsgi",
        description="HTTP Basic authentication for WSGI applications.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = commands.add_parser(
        "serve",
        help="serve the protected example API with waitress",
        description="Serve the mailing-list API behind Basic authentication. "
        "Every option can also be set by the environment variable named in its help; "
        "a flag wins over the environment.",
    )
    run.add_argument("--host", help=f"interface to bind (HOST; default {DEFAULT_HOST})")
    run.add_argument("--port", help=f"TCP port, 0 for any free one (PORT; default {DEFAULT_PORT})")
    run.add_argument("--db", help=f"SQLite database file (BASICAUTH_DB; default ./{DEFAULT_DB})")
    run.add_argument(
        "--realm", help=f"realm shown by browsers (BASICAUTH_REALM; default {DEFAULT_REALM!r})"
    )
    run.add_argument("--threads", help=f"worker threads (default {DEFAULT_THREADS})")
    run.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        help="do not write the Common Log Format access log to stdout",
    )
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    serve: Callable[[WSGIApplication, ServeConfig, TextIO], None] = serve,
) -> int:
    """Run the command line; return the exit code (2 for bad usage)."""
    environ = os.environ if environ is None else environ
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    parser = _parser()
    args = parser.parse_args(argv)

    try:
        values = config_from_environ(environ)
        for name, flag, _variable, convert in OPTIONS:
            given = getattr(args, name)
            if given is not None:
                try:
                    values[name] = convert(given)
                except ValueError as exc:
                    raise ValueError(f"{flag} {given!r}: {exc}") from None
        config = ServeConfig(access_log=args.access_log, **values)  # type: ignore[arg-type]
        _configure_logging(stdout, stderr, config.access_log)
        app = build_app(config, stdout)
    except ValueError as exc:
        stderr.write(f"{parser.prog}: error: {exc}\n")
        return 2
    if config.access_log:
        app = AccessLog(app, logging.getLogger("basicauth_wsgi.access"))
    serve(app, config, stdout)
    return 0
