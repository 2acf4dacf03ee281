"""The ``basicauth-wsgi`` command line.

- ``serve`` (:mod:`.serve`): a protected application with waitress: the
  example API, or any WSGI application with ``--app`` (``python serve.py``
  and ``python -m basicauth_wsgi serve`` end here too);
- ``passwd FILE USER``, ``check FILE USER``, ``audit FILE`` (:mod:`.passwd`):
  htpasswd files.

:func:`main` takes ``argv``, the environment, the streams, the password
prompt and the serve function as parameters and returns an exit code, so
tests call it directly::

    main(["serve", "--port", "0"], environ={}, serve=fake_serve)
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, NoReturn, TextIO

from .. import __version__
from ..logs import LOGGER_NAME
from ..serving import DEFAULT_THREADS, ServeConfig, config_from
from . import passwd
from .serve import add_parser, bind, build, configure_logging
from .serve import serve as serve_with_waitress

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["DEFAULT_THREADS", "ServeConfig", "main"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="basicauth-wsgi",
        description="HTTP Basic authentication for WSGI applications.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_parser(commands)
    passwd.add_parsers(commands)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: TextIO | None = None,
    ask: Callable[[str], str] = getpass.getpass,
    serve: Callable[[WSGIApplication, ServeConfig, TextIO], None] = serve_with_waitress,
) -> int:
    """Run the command line; return the exit code (2 for bad usage or an error)."""
    environ = os.environ if environ is None else environ
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    stdin = sys.stdin if stdin is None else stdin
    parser = _parser()
    args = parser.parse_args(argv)
    prog = f"{parser.prog} {args.command}"
    if args.command != "serve":
        # The library's warnings (a byte-order mark, say) reach the operator
        # as one line each, for this command only.
        library = logging.getLogger(LOGGER_NAME)
        warnings = logging.StreamHandler(stderr)
        warnings.setFormatter(logging.Formatter(f"{prog}: %(levelname)s: %(message)s"))
        warnings.setLevel(logging.WARNING)
        saved = library.propagate
        library.addHandler(warnings)
        library.propagate = False
        try:
            return passwd.run(args, stdin, stdout, ask)
        except passwd.Failed as exc:
            stderr.write(f"{prog}: error: {exc}\n")
            return exc.code
        except KeyboardInterrupt:
            stderr.write(f"\n{prog}: interrupted; nothing was changed\n")
            return 130
        except OSError as exc:
            stderr.write(f"{prog}: error: {exc}\n")
            return 2
        finally:
            library.removeHandler(warnings)
            library.propagate = saved

    return _serve(args, prog, environ, stdout, stderr, serve)


def _with_metrics(config: ServeConfig) -> ServeConfig:
    """``config`` with the ``Metrics`` its ``--metrics-port`` serves (unchanged without one)."""
    if config.metrics_port is None:
        return config
    if config.metrics_port == config.port != 0:
        # SPEC §12: never on the protected port (mounted there, it would be protected).
        raise ValueError(
            f"--metrics-port (BASICAUTH_METRICS_PORT) {config.metrics_port}: the port of the "
            "protected server; "
            "metrics are served on a second listener, on another port"
        )
    from ..metrics import Metrics

    return dataclasses.replace(config, metrics=Metrics())


def _serve(
    args: argparse.Namespace,
    prog: str,
    environ: Mapping[str, str],
    stdout: TextIO,
    stderr: TextIO,
    serve: Callable[[WSGIApplication, ServeConfig, TextIO], None],
) -> int:
    from ..accesslog import AccessLog
    from ..forwarded import TrustedProxies

    config: ServeConfig | None = None
    try:
        config = config_from(args, environ)
        configure_logging(stdout, stderr, config.access_log)
        config = _with_metrics(config)
        # The ports first: a busy one fails before a password is generated.
        if serve is serve_with_waitress:
            config = dataclasses.replace(config, listener=bind(config))
            if config.metrics_port is not None:
                listener = bind(config, config.metrics_port)
                config = dataclasses.replace(config, metrics_listener=listener)
        app = build(config, stdout)
    except (ValueError, OSError) as exc:
        for sock in (config.listener, config.metrics_listener) if config is not None else ():
            if sock is not None:
                sock.close()
        stderr.write(f"{prog}: error: {exc}\n")
        return 2
    if config.access_log:
        app = AccessLog(app, logging.getLogger("basicauth_wsgi.access"))
    if not config.forward_auth:
        # Outermost: the access log and the middleware see the real client.
        # (Forward-auth reads the proxy's facts itself, from its own
        # trusted_proxies: wrapped, it would find them removed.)
        app = TrustedProxies(app, config.trusted_proxy)
    serve(app, config, stdout)
    return 0
