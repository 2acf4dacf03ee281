"""The ``basicauth-wsgi`` command line.

- ``serve``: the protected example API with waitress (``python serve.py``,
  ``python -m basicauth_wsgi serve`` end here too);
- ``passwd FILE USER``, ``check FILE USER``, ``audit FILE``: htpasswd files.

:func:`main` takes ``argv``, the environment, the streams, the password
prompt and the serve function as parameters and returns an exit code, so
tests call it directly::

    main(["serve", "--port", "0"], environ={}, serve=fake_serve)
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import secrets
import sys
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn, TextIO

from . import __version__
from .accesslog import AccessLog
from .htpasswd import HtpasswdFile, parse_htpasswd, update_htpasswd
from .middleware import BasicAuth

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["ServeConfig", "build_app", "main", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_DB = "subscribers.db"
DEFAULT_REALM = "Restricted area"
# waitress's own default is 4. Measured on 2 vCPUs with 16 connections
# (python -m bench, BENCHMARKS.md): 8 threads served 1.035x what 4 did and
# 16 threads 1.006x; and at 4, throughput collapses once connections outnumber
# threads (SPEC §9).
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
    htpasswd: str | None = None
    htgroup: str | None = None
    access_log: bool = True


# (option, flag, environment variable, converter): the one table both the
# command line and the environment are read through.
OPTIONS: tuple[tuple[str, str, str | None, Callable[[str], object]], ...] = (
    ("host", "--host", "HOST", _text),
    ("port", "--port", "PORT", _port),
    ("db", "--db", "BASICAUTH_DB", _text),
    ("realm", "--realm", "BASICAUTH_REALM", str),
    ("threads", "--threads", None, _threads),
    ("htpasswd", "--htpasswd", "BASICAUTH_HTPASSWD", _text),
    ("htgroup", "--htgroup", "BASICAUTH_HTGROUP", _text),
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

    Users come from the ``htpasswd`` file, reloaded when it changes. With no
    users file, user ``admin`` gets a random password, written once to
    ``stdout`` as ``admin password: <password>``. With a group file, only
    members of its ``admin`` group may delete subscribers.
    """
    from .app import create_app
    from .rules import HtgroupFile, Rule

    users: object
    if config.htpasswd is not None:
        users = HtpasswdFile(config.htpasswd)
    else:
        password = secrets.token_urlsafe(18)
        users = {"admin": password}
        stdout.write(f"admin password: {password}\n")
        stdout.flush()
    rules: list[Rule] = []
    groups = None
    if config.htgroup is not None:
        groups = HtgroupFile(config.htgroup)
        rules.append(Rule("/api/v1/subscribers/", methods=["DELETE"], groups=["admin"]))
    return BasicAuth(
        create_app(config.db),
        users,
        realm=config.realm,
        exclude=PUBLIC_PATHS,
        rules=rules,
        groups=groups,
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
        "--htpasswd",
        metavar="FILE",
        help="users file in Apache's htpasswd format, reloaded when it changes "
        "(BASICAUTH_HTPASSWD; default: user admin with a password printed at start)",
    )
    run.add_argument(
        "--htgroup",
        metavar="FILE",
        help="group file in Apache's 'group: user1 user2' format; only its 'admin' group "
        "may DELETE subscribers (BASICAUTH_HTGROUP)",
    )
    run.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        help="do not write the Common Log Format access log to stdout",
    )

    from .hashes import SCHEMES

    passwd = commands.add_parser(
        "passwd",
        help="add a user to an htpasswd file, change or delete one",
        description="Set USER's password in FILE (created with mode 0600 if missing), or delete "
        "USER with -D. The password is asked twice; the file is rewritten atomically and "
        "stays readable by Apache's own htpasswd and mod_authn_file.",
    )
    passwd.add_argument("file", metavar="FILE")
    passwd.add_argument("user", metavar="USER")
    passwd.add_argument("-D", "--delete", action="store_true", help="delete USER")
    passwd.add_argument(
        "--stdin", action="store_true", help="read the password from one line of stdin, no prompt"
    )
    passwd.add_argument(
        "--scheme",
        choices=SCHEMES,
        help="hash scheme (default: bcrypt when the bcrypt extra is installed, else sha512-crypt)",
    )
    check = commands.add_parser(
        "check",
        help="check a user's password against an htpasswd file",
        description="Exit 0 if the password matches USER's hash in FILE, 1 if it does not "
        "(or USER is not there), 2 on an error.",
    )
    check.add_argument("file", metavar="FILE")
    check.add_argument("user", metavar="USER")
    check.add_argument("--stdin", action="store_true", help="read the password from stdin")
    audit = commands.add_parser(
        "audit",
        help="list weak or outdated hashes in an htpasswd file",
        description="Print 'line N: USER: reason' for each weak, outdated or unusable hash "
        "in FILE; exit 1 if anything was printed, 0 if not, 2 on an error.",
    )
    audit.add_argument("file", metavar="FILE")
    return parser


class _Failed(Exception):
    """A command failed with a message for stderr and an exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _username(text: str) -> str:
    user = unicodedata.normalize("NFC", text)
    if not user or ":" in user or any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in user):
        raise _Failed(f"{text!r} is not a valid username (empty, ':' or a control character)")
    return user


def _read_password(
    args: argparse.Namespace, stdin: TextIO, ask: Callable[[str], str], confirm: bool
) -> str:
    """The password, NFC-normalised (RFC 7617 §2.1), as incoming ones are."""
    if args.stdin:
        line = stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        password = password[:-1] if password.endswith("\r") else password
    else:
        try:
            password = ask("Password: ")
            if confirm and ask("Again: ") != password:
                raise _Failed("the passwords do not match; nothing was changed")
        except EOFError:
            raise _Failed("no password given; nothing was changed") from None
    if not password:
        raise _Failed("empty passwords are not allowed; nothing was changed")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in password):
        # RFC 7617 §2: no control characters; a client could never send it.
        raise _Failed("the password contains a control character; nothing was changed")
    return unicodedata.normalize("NFC", password)


def _load_file(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise _Failed(f"cannot read {path}: {exc.strerror}") from None


def _passwd(
    args: argparse.Namespace, stdin: TextIO, stdout: TextIO, ask: Callable[[str], str]
) -> int:
    from .hashes import hash_password

    user = _username(args.user)
    if args.delete:
        if args.stdin or args.scheme:
            raise _Failed("-D takes no password and no --scheme")
        if not update_htpasswd(args.file, user, None):
            stdout.write(f"no user {user!r} in {args.file}; nothing was changed\n")
            return 1
        stdout.write(f"deleted user {user!r} from {args.file}\n")
        return 0
    password = _read_password(args, stdin, ask, confirm=True)
    try:
        hashed = hash_password(password, args.scheme)
    except ValueError as exc:  # the scheme's extra is not installed
        raise _Failed(str(exc)) from None
    added = update_htpasswd(args.file, user, hashed)
    stdout.write(f"{'added' if added else 'updated'} user {user!r} in {args.file}\n")
    return 0


def _check(
    args: argparse.Namespace, stdin: TextIO, stdout: TextIO, ask: Callable[[str], str]
) -> int:
    from .hashes import verify_password

    user = _username(args.user)
    data = _load_file(args.file)
    try:
        entries = {
            unicodedata.normalize("NFC", e.username): e for e in parse_htpasswd(data, args.file)
        }
    except ValueError as exc:
        raise _Failed(str(exc)) from None
    password = _read_password(args, stdin, ask, confirm=False)
    entry = entries.get(user)
    if entry is None:
        stdout.write(f"no user {user!r} in {args.file}\n")
        return 1
    try:
        ok = verify_password(password, entry.hashed)
    except ValueError as exc:
        raise _Failed(f"{args.file}, line {entry.line}: user {user!r}: {exc}") from None
    stdout.write("password ok\n" if ok else "password does not match\n")
    return 0 if ok else 1


def _audit(args: argparse.Namespace, stdout: TextIO) -> int:
    from .hashes import identify

    data = _load_file(args.file)
    found = 0
    try:
        for entry in parse_htpasswd(data, args.file):
            try:
                weakness = identify(entry.hashed).weakness
            except ValueError as exc:
                weakness = f"unusable: {exc}"
            if weakness:
                found += 1
                stdout.write(f"line {entry.line}: {entry.username}: {weakness}\n")
    except ValueError as exc:
        raise _Failed(str(exc)) from None
    return 1 if found else 0


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: TextIO | None = None,
    ask: Callable[[str], str] = getpass.getpass,
    serve: Callable[[WSGIApplication, ServeConfig, TextIO], None] = serve,
) -> int:
    """Run the command line; return the exit code (2 for bad usage or an error)."""
    environ = os.environ if environ is None else environ
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    stdin = sys.stdin if stdin is None else stdin
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "passwd":
            return _passwd(args, stdin, stdout, ask)
        if args.command == "check":
            return _check(args, stdin, stdout, ask)
        if args.command == "audit":
            return _audit(args, stdout)
    except _Failed as exc:
        stderr.write(f"{parser.prog} {args.command}: error: {exc}\n")
        return exc.code
    except OSError as exc:
        stderr.write(f"{parser.prog} {args.command}: error: {exc}\n")
        return 2

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
        stderr.write(f"{parser.prog} serve: error: {exc}\n")
        return 2
    if config.access_log:
        app = AccessLog(app, logging.getLogger("basicauth_wsgi.access"))
    serve(app, config, stdout)
    return 0
