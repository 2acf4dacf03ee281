"""``basicauth-wsgi passwd``, ``check`` and ``audit``: htpasswd files from the command line.

The same files Apache's ``htpasswd`` and ``mod_authn_file`` (and nginx's
``auth_basic_user_file``) read::

    basicauth-wsgi passwd users.htpasswd alice
    basicauth-wsgi check users.htpasswd alice
    basicauth-wsgi audit users.htpasswd
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TextIO

from ..grammar import has_ctl, is_username, normalize
from ..htpasswd import parse_htpasswd, update_htpasswd

__all__ = ["Failed", "add_parsers", "run"]


def add_parsers(commands: argparse._SubParsersAction[Any]) -> None:
    """Add ``passwd``, ``check`` and ``audit`` to the command line."""
    from ..hashes import SCHEMES

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


class Failed(Exception):
    """A command failed with a message for stderr and an exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _username(text: str) -> str:
    user = normalize(text)
    if not is_username(user):
        raise Failed(f"{text!r} is not a valid username (empty, ':' or a control character)")
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
                raise Failed("the passwords do not match; nothing was changed")
        except EOFError:
            raise Failed("no password given; nothing was changed") from None
    if not password:
        raise Failed("empty passwords are not allowed; nothing was changed")
    if has_ctl(password):
        # RFC 7617 §2: no control characters; a client could never send it.
        raise Failed("the password contains a control character; nothing was changed")
    return normalize(password)


def _load_file(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise Failed(f"cannot read {path}: {exc.strerror}") from None


def _passwd(
    args: argparse.Namespace, stdin: TextIO, stdout: TextIO, ask: Callable[[str], str]
) -> int:
    from ..hashes import hash_password

    user = _username(args.user)
    if args.delete:
        if args.stdin or args.scheme:
            raise Failed("-D takes no password and no --scheme")
        if not update_htpasswd(args.file, user, None):
            stdout.write(f"no user {user!r} in {args.file}; nothing was changed\n")
            return 1
        stdout.write(f"deleted user {user!r} from {args.file}\n")
        return 0
    password = _read_password(args, stdin, ask, confirm=True)
    try:
        hashed = hash_password(password, args.scheme)
    except ValueError as exc:  # the scheme's extra is not installed
        raise Failed(str(exc)) from None
    added = update_htpasswd(args.file, user, hashed)
    stdout.write(f"{'added' if added else 'updated'} user {user!r} in {args.file}\n")
    return 0


def _check(
    args: argparse.Namespace, stdin: TextIO, stdout: TextIO, ask: Callable[[str], str]
) -> int:
    from ..hashes import verify_password

    user = _username(args.user)
    data = _load_file(args.file)
    try:
        entries = {normalize(e.username): e for e in parse_htpasswd(data, args.file)}
    except ValueError as exc:
        raise Failed(str(exc)) from None
    password = _read_password(args, stdin, ask, confirm=False)
    entry = entries.get(user)
    if entry is None:
        stdout.write(f"no user {user!r} in {args.file}\n")
        return 1
    try:
        ok = verify_password(password, entry.hashed)
    except ValueError as exc:
        raise Failed(f"{args.file}, line {entry.line}: user {user!r}: {exc}") from None
    stdout.write("password ok\n" if ok else "password does not match\n")
    return 0 if ok else 1


def _audit(args: argparse.Namespace, stdout: TextIO) -> int:
    from ..hashes import identify

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
        raise Failed(str(exc)) from None
    return 1 if found else 0


def run(args: argparse.Namespace, stdin: TextIO, stdout: TextIO, ask: Callable[[str], str]) -> int:
    """Run ``passwd``, ``check`` or ``audit``; ``Failed`` carries an error and its exit code."""
    if args.command == "passwd":
        return _passwd(args, stdin, stdout, ask)
    if args.command == "check":
        return _check(args, stdin, stdout, ask)
    return _audit(args, stdout)
