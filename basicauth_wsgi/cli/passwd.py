"""``basicauth-wsgi passwd``, ``check`` and ``audit``: htpasswd files from the command line.

The same files Apache's ``htpasswd`` and ``mod_authn_file`` (and nginx's
``auth_basic_user_file``) read::

    basicauth-wsgi passwd users.htpasswd alice
    basicauth-wsgi check users.htpasswd alice
    basicauth-wsgi audit users.htpasswd
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable
from typing import Any, TextIO

from ..grammar import has_ctl, is_username, normalize
from ..htpasswd import entry_line, parse_htpasswd, update_htpasswd

__all__ = ["Failed", "add_parsers", "run"]

logger = logging.getLogger("basicauth_wsgi.cli")


def add_parsers(commands: argparse._SubParsersAction[Any]) -> None:
    """Add ``passwd``, ``check`` and ``audit`` to the command line."""
    from ..hashes import SCHEMES

    passwd = commands.add_parser(
        "passwd",
        help="add a user to an htpasswd file, change or delete one",
        usage="%(prog)s [-c] [-D] [--stdin] [--scheme S] [-C N] [-r N] FILE USER\n"
        "       %(prog)s -n [--stdin] [--scheme S] [-C N] [-r N] USER\n"
        "       %(prog)s -b [-c|-n|-v] ... [FILE] USER PASSWORD\n"
        "       %(prog)s -v [--stdin] FILE USER",
        description="Set USER's password in FILE, or delete USER with -D; with -n, print the "
        "'user:hash' line instead and touch no file; with -v, check USER's password (as the "
        "check command). The password is asked twice (once for -v). FILE must exist unless -c "
        "is given. The file is rewritten atomically, through a symbolic link to its target, "
        "keeping its mode, owner, group and line endings, and stays readable by Apache's "
        "htpasswd and mod_authn_file and by nginx. The flags are Apache htpasswd's; unlike "
        "it, an empty password is refused.",
    )
    passwd.add_argument(
        "names",
        nargs="+",
        metavar="FILE USER",
        help="the file, then the user (then the password, with -b)",
    )
    passwd.add_argument(
        "-c",
        "--create",
        action="store_true",
        help="create FILE (mode 0600) if it is missing; an existing FILE keeps its users",
    )
    passwd.add_argument(
        "-n",
        "--print",
        dest="print_only",
        action="store_true",
        help="print 'user:hash' to stdout (for environment variables, Kubernetes Secrets, "
        "BASICAUTH_USERS); no FILE",
    )
    passwd.add_argument("-D", "--delete", action="store_true", help="delete USER")
    passwd.add_argument(
        "-v",
        "--verify",
        action="store_true",
        help="check USER's password in FILE: exit 0 on a match, 1 if not, 2 on an error "
        "(the check command; Apache's htpasswd -v)",
    )
    passwd.add_argument(
        "-b",
        "--batch",
        action="store_true",
        help="take the password from the command line, after USER (Apache's htpasswd -b): "
        "other users of this machine can see it (ps) and it stays in the shell's history; "
        "prefer the prompt or --stdin",
    )
    passwd.add_argument(
        "--stdin", action="store_true", help="read the password from one line of stdin, no prompt"
    )
    passwd.add_argument(
        "--scheme",
        choices=SCHEMES,
        help="hash scheme (default: bcrypt when the bcrypt extra is installed, else "
        "sha512-crypt; with --rounds, sha512-crypt)",
    )
    passwd.add_argument(
        "-C",
        "--cost",
        type=int,
        metavar="N",
        help="bcrypt cost, 4-31 (default 12)",
    )
    passwd.add_argument(
        "-r",
        "--rounds",
        type=int,
        metavar="N",
        help="SHA-crypt rounds, 1000-999999999 (default 5000, not written)",
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
    args: argparse.Namespace,
    stdin: TextIO,
    ask: Callable[[str], str],
    confirm: bool,
    given: str | None = None,
) -> str:
    """The password, NFC-normalised (RFC 7617 §2.1), as incoming ones are.

    ``given`` is one from the command line (``-b``); else ``--stdin`` reads
    a line, or the prompt asks (twice with ``confirm``). Empty passwords are
    refused, where Apache's ``htpasswd`` accepts them: nobody should log in
    with none.
    """
    if given is not None:
        password = given
    elif args.stdin:
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


def _passwd_arguments(args: argparse.Namespace) -> tuple[str | None, str, str | None]:
    """FILE (``None`` with ``-n``), USER and the ``-b`` password, or a one-line usage error."""
    names: list[str] = list(args.names)
    password = names.pop() if args.batch and len(names) > 1 else None
    if args.batch and args.stdin:
        raise Failed("-b takes the password from the command line: not with --stdin")
    if args.batch and args.delete:
        raise Failed("-D takes no password, -b none either")
    if args.verify and (args.print_only or args.create or args.delete):
        raise Failed("-v checks a password: it takes neither -n, -c nor -D")
    after = " PASSWORD" if args.batch else ""
    if args.print_only:
        if len(names) != 1:
            raise Failed(f"-n takes USER{after} only, no FILE (it prints the line, writes nothing)")
        if args.create or args.delete:
            raise Failed("-n writes no file: it takes neither -c nor -D")
        return None, names[0], password
    if len(names) != 2:
        raise Failed(f"expected FILE USER{after} (or -n USER{after} to print the line)")
    return names[0], names[1], password


def _visible(password: str | None) -> None:
    if password is not None:
        logger.warning(
            "the password given with -b is visible to other users of this machine (ps, "
            "/proc) and stays in the shell's history; prefer the prompt or --stdin"
        )


def _scheme(args: argparse.Namespace) -> str | None:
    """The scheme asked for; ``--rounds`` alone means sha512-crypt, ``-C`` alone bcrypt."""
    from ..hashes import _check_work

    scheme: str | None = args.scheme
    if scheme is None and args.rounds is not None:
        scheme = "sha512-crypt"
    if scheme is None and args.cost is not None:
        scheme = "bcrypt"
    if scheme is not None:
        try:
            _check_work(scheme, args.cost, args.rounds)
        except ValueError as exc:
            flag = "-C/--cost" if str(exc).startswith("cost") else "--rounds"
            raise Failed(f"{flag}: {exc}") from None
    return scheme


def _check_target(path: str, create: bool) -> None:
    """Fail before any prompt when the file cannot be written as asked."""
    target = os.path.realpath(path)
    if not os.path.exists(target):
        if not create:
            raise Failed(f"{path} does not exist (-c creates it)")
        folder = os.path.dirname(target)
        if not os.path.isdir(folder):
            raise Failed(f"cannot create {path}: folder {folder} does not exist")
    elif os.path.isdir(target):
        raise Failed(f"{path} is a folder, not a users file")


def _passwd(
    args: argparse.Namespace, stdin: TextIO, stdout: TextIO, ask: Callable[[str], str]
) -> int:
    from ..hashes import hash_password

    path, name, given = _passwd_arguments(args)
    user = _username(name)
    _visible(given)
    if args.verify and path is not None:
        return _verify(path, user, stdout, lambda: _read_password(args, stdin, ask, False, given))
    if args.delete:
        if args.stdin or args.scheme or args.cost is not None or args.rounds is not None:
            raise Failed("-D takes no password, --scheme, -C or --rounds")
        if path is None:  # _passwd_arguments refuses -n with -D
            raise Failed("-D needs FILE")
        _check_target(path, create=False)
        if not update_htpasswd(path, user, None, create=False):
            stdout.write(f"no user {user!r} in {path}; nothing was changed\n")
            return 1
        stdout.write(f"deleted user {user!r} from {path}\n")
        return 0
    scheme = _scheme(args)
    if path is not None:
        _check_target(path, args.create)
    password = _read_password(args, stdin, ask, confirm=True, given=given)
    try:
        hashed = hash_password(password, scheme, cost=args.cost, rounds=args.rounds)
    except ValueError as exc:  # the scheme's extra is not installed
        raise Failed(str(exc)) from None
    if path is None:
        stdout.write(entry_line(user, hashed) + "\n")
        return 0
    added = update_htpasswd(path, user, hashed, create=args.create)
    stdout.write(f"{'added' if added else 'updated'} user {user!r} in {path}\n")
    return 0


def _check(
    args: argparse.Namespace, stdin: TextIO, stdout: TextIO, ask: Callable[[str], str]
) -> int:
    user = _username(args.user)
    return _verify(args.file, user, stdout, lambda: _read_password(args, stdin, ask, False))


def _verify(path: str, user: str, stdout: TextIO, read: Callable[[], str]) -> int:
    """``check``: 0 if the password ``read`` returns matches ``user``'s hash in ``path``, else 1.

    The file is read first: a broken one fails before any prompt.
    """
    from ..hashes import verify_password

    data = _load_file(path)
    try:
        entries = {normalize(e.username): e for e in parse_htpasswd(data, path)}
    except ValueError as exc:
        raise Failed(str(exc)) from None
    password = read()
    entry = entries.get(user)
    if entry is None:
        stdout.write(f"no user {user!r} in {path}\n")
        return 1
    try:
        ok = verify_password(password, entry.hashed)
    except ValueError as exc:
        raise Failed(f"{path}, line {entry.line}: user {user!r}: {exc}") from None
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
