"""A real OpenLDAP slapd for the tests: 127.0.0.1, free ports, its own config and database.

Each server gets a slapd.conf and an mdb database in a folder the test owns
(nothing from /etc/ldap but the schema files; never port 389), the memberOf
overlay, a ``cn=monitor`` database for counting operations, and is stopped
by its own PID. Imported as ``ldapserver`` from every folder, like
``redisserver``::

    from ldapserver import Slapd, slapd  # the fixture
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SCHEMA = Path("/etc/ldap/schema")
MODULES = Path("/usr/lib/ldap")

BASE = "dc=example,dc=org"
PEOPLE = f"ou=people,{BASE}"
GROUPS = f"ou=groups,{BASE}"
CONTRACTORS = f"ou=contractors,{BASE}"
ADMIN_DN, ADMIN_PASSWORD = f"cn=admin,{BASE}", "admin-secret"
SERVICE_DN, SERVICE_PASSWORD = f"cn=service,{BASE}", "service-secret"
USER_DN = "uid={username}," + PEOPLE

#: uid -> password, under ou=people. Some uids hold the characters that must
#: be escaped, so escaping is shown to let them in, not only to keep others out.
USERS = {
    "alice": "alice-pw",
    "bob": "bob-pw",
    "carol": "carol-pw",
    "jürgen": "pässwörd",
    "dave, jr.": "dave-pw",
    "#hash": "hash-pw",
    "paren(1)": "paren-pw",
    "star*": "star-pw",
    "twin": "twin-pw",
}
#: groupOfNames (the memberOf overlay maintains the users' memberOf) -> members.
GROUPS_OF_NAMES = {"admins": ["alice"], "staff": ["alice", "bob"]}
#: posixGroup -> memberUid values (no memberOf: the overlay knows groupOfNames only).
POSIX_GROUPS = {"devs": ["bob", "carol"]}


def free_port() -> int:
    """A port nobody listens on now (slapd needs a number)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def need_slapd() -> str:
    """The slapd binary and python-ldap; skip when missing, except in CI (where they must be)."""
    missing = []
    if not os.path.exists(SLAPD):
        missing.append("slapd (Debian: slapd, ldap-utils)")
    try:
        import ldap  # noqa: F401
    except ImportError:
        missing.append("python-ldap (the ldap and test extras)")
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{' and '.join(missing)} missing; .ci/run installs them")
        pytest.skip(f"{' and '.join(missing)} not installed")
    return SLAPD


@dataclass(frozen=True)
class Tls:
    """A CA and a server certificate for 127.0.0.1 signed by it, made with the openssl CLI."""

    ca: Path
    cert: Path
    key: Path
    other_ca: Path  # a CA that did not sign the server's certificate


def make_tls(folder: Path) -> Tls:
    """Make the files in ``folder``: two CAs, and a certificate for 127.0.0.1 from the first."""
    openssl = shutil.which("openssl")
    if openssl is None:
        if os.environ.get("CI"):
            pytest.fail("openssl is missing")
        pytest.skip("openssl is not installed")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=folder, check=True, capture_output=True, timeout=60)

    for name in ("ca", "other-ca"):
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", f"/CN=basicauth-wsgi test {name}", "-keyout", f"{name}.key",
            "-out", f"{name}.pem")  # fmt: skip
    (folder / "san.cnf").write_text("subjectAltName = IP:127.0.0.1, DNS:localhost\n")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "server.key", "-out", "server.csr")  # fmt: skip
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.cnf", "-out", "server.pem")  # fmt: skip
    return Tls(folder / "ca.pem", folder / "server.pem", folder / "server.key",
               folder / "other-ca.pem")  # fmt: skip


CONFIG = """\
include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/inetorgperson.schema
include {schema}/nis.schema
modulepath {modules}
moduleload back_mdb
moduleload memberof
pidfile {workdir}/slapd.pid
argsfile {workdir}/slapd.args
# RFC 4513 §5.1.2: a DN with an empty password is an unauthenticated bind;
# allowed here on purpose, as many servers do, to show it never logs anyone in.
allow bind_anon_dn
{tls}
database mdb
suffix "{base}"
rootdn "{admin}"
rootpw {admin_password}
directory {workdir}/db
maxsize 16777216
overlay memberof
access to attrs=userPassword by anonymous auth by self read by * none
access to * by * read

database monitor
access to dn.subtree="cn=monitor" by dn.exact="{admin}" read by * none
"""


class Slapd:
    """One slapd child process; :meth:`stop`, :meth:`kill`, :meth:`start` it again on its ports.

    The database lives in ``workdir`` and survives a restart.
    """

    def __init__(self, workdir: Path, tls: Tls | None = None) -> None:
        self.binary = need_slapd()
        self.workdir = workdir
        self.tls = tls
        self.port = free_port()
        self.tls_port = free_port() if tls is not None else None
        self.proc: subprocess.Popen[bytes] | None = None
        self.paused = False
        self._monitor: Any = None
        (workdir / "db").mkdir(parents=True, exist_ok=True)
        tls_lines = ""
        if tls is not None:
            tls_lines = (
                f"TLSCACertificateFile {tls.ca}\nTLSCertificateFile {tls.cert}\n"
                f"TLSCertificateKeyFile {tls.key}\n"
                # Simple binds over TLS only: a bind that was not is refused.
                "security simple_bind=128\n"
            )
        (workdir / "slapd.conf").write_text(
            CONFIG.format(
                schema=SCHEMA, modules=MODULES, workdir=workdir, tls=tls_lines, base=BASE,
                admin=ADMIN_DN, admin_password=ADMIN_PASSWORD,
            )
        )  # fmt: skip
        self.start()
        self._load()

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        assert self.tls_port is not None
        return f"ldaps://127.0.0.1:{self.tls_port}"

    def start(self, timeout: float = 15.0) -> None:
        """Start on its ports and wait until it answers a bind."""
        listen = self.url + "/"
        if self.tls_port is not None:
            listen += f" {self.ldaps_url}/"
        log = open(self.workdir / "slapd.log", "ab")  # noqa: SIM115 (the child holds it)
        try:
            # -d 0: in the foreground (its PID is ours to stop), no debug output.
            self.proc = subprocess.Popen(
                [self.binary, "-d", "0", "-h", listen, "-f", str(self.workdir / "slapd.conf")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )  # fmt: skip
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.proc.poll() is not None:
                log_text = (self.workdir / "slapd.log").read_text(errors="replace")
                raise AssertionError(f"slapd exited with {self.proc.returncode}: {log_text}")
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"slapd on port {self.port} did not answer")
            time.sleep(0.02)

    def _answers(self) -> bool:
        try:
            self.admin().unbind_s()
        except Exception:
            return False
        return True

    def admin(self) -> Any:
        """A python-ldap connection bound as the directory's root DN."""
        import ldap

        # Over TLS to a TLS server: it takes simple binds over TLS only.
        conn = ldap.initialize(self.url if self.tls is None else self.ldaps_url)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 2.0)
        conn.set_option(ldap.OPT_TIMEOUT, 5.0)
        if self.tls is not None:
            conn.set_option(ldap.OPT_X_TLS_CACERTFILE, str(self.tls.ca))
            conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
        conn.simple_bind_s(ADMIN_DN, ADMIN_PASSWORD)
        return conn

    def stop(self) -> None:
        """Stop it by its PID (terminate, then kill), and make sure it is gone."""
        proc, self.proc = self.proc, None
        self._close_monitor()
        if proc is None:
            return
        if self.paused:
            proc.send_signal(signal.SIGCONT)
            self.paused = False
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def kill(self) -> None:
        """Kill it by its PID at once (SIGKILL: no goodbye to its clients' connections)."""
        proc, self.proc = self.proc, None
        self._close_monitor()
        assert proc is not None
        proc.kill()
        proc.wait(timeout=10)
        self.paused = False

    def pause(self) -> None:
        """Freeze it (SIGSTOP): connections stay open, nothing is answered.

        Returns once every thread of it is stopped: a signal is delivered to
        a thread running on another CPU a moment later, time enough to answer.
        """
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True
        tasks = Path(f"/proc/{self.proc.pid}/task")
        deadline = time.monotonic() + 5.0
        while not all(_stopped(task) for task in tasks.iterdir()):
            if time.monotonic() > deadline:
                raise AssertionError("slapd did not stop within 5 s of SIGSTOP")
            time.sleep(0.005)  # polling the threads' state under a deadline

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    # -- the directory's contents ------------------------------------------------------

    def _load(self) -> None:
        """Users, groups and a service account, added through slapd (so memberOf is kept)."""
        conn = self.admin()
        try:
            add = _adder(conn)
            add(BASE, objectClass=["dcObject", "organization"], o=["Example"], dc=["example"])
            for ou in ("people", "groups", "contractors"):
                add(f"ou={ou},{BASE}", objectClass=["organizationalUnit"], ou=[ou])
            add(SERVICE_DN, objectClass=["person"], cn=["service"], sn=["service"],
                userPassword=[SERVICE_PASSWORD])  # fmt: skip
            for number, (uid, password) in enumerate(USERS.items()):
                self.add_user(uid, password, uid_number=1000 + number, conn=conn)
            # A second "twin" elsewhere: a search of the whole tree finds two.
            self.add_user("twin", "twin-pw", uid_number=2000, conn=conn, under=CONTRACTORS)
            for name, members in GROUPS_OF_NAMES.items():
                # The service account too: a groupOfNames needs a member to
                # remain when a test takes its last user out.
                add(f"cn={name},{GROUPS}", objectClass=["groupOfNames"], cn=[name],
                    member=[SERVICE_DN, *(self.dn(m) for m in members)])  # fmt: skip
            for number, (name, uids) in enumerate(POSIX_GROUPS.items()):
                add(f"cn={name},{GROUPS}", objectClass=["posixGroup"], cn=[name],
                    gidNumber=[str(5000 + number)], memberUid=uids)  # fmt: skip
        finally:
            conn.unbind_s()

    @staticmethod
    def dn(uid: str, under: str = PEOPLE) -> str:
        import ldap.dn

        return f"uid={ldap.dn.escape_dn_chars(uid)},{under}"

    def add_user(
        self,
        uid: str,
        password: str,
        *,
        uid_number: int = 3000,
        conn: Any = None,
        under: str = PEOPLE,
    ) -> str:
        own = conn is None
        conn = self.admin() if own else conn
        try:
            _adder(conn)(
                self.dn(uid, under), objectClass=["inetOrgPerson", "posixAccount"], uid=[uid],
                cn=[uid], sn=["test"], userPassword=[password], uidNumber=[str(uid_number)],
                gidNumber=["100"], homeDirectory=[f"/home/{uid_number}"],
            )  # fmt: skip
        finally:
            if own:
                conn.unbind_s()
        return self.dn(uid, under)

    def delete(self, dn: str) -> None:
        conn = self.admin()
        try:
            conn.delete_s(dn)
        finally:
            conn.unbind_s()

    def remove_member(self, group: str, uid: str) -> None:
        """Take ``uid`` out of the groupOfNames ``group`` (the overlay updates its memberOf)."""
        import ldap

        conn = self.admin()
        try:
            change = [(ldap.MOD_DELETE, "member", [self.dn(uid).encode()])]
            conn.modify_s(f"cn={group},{GROUPS}", change)
        finally:
            conn.unbind_s()

    # -- counting operations (cn=monitor) ------------------------------------------------

    def operations(self) -> dict[str, int]:
        """Operations initiated so far by kind (``{"bind": 12, "search": 30, ...}``)."""
        import ldap

        if self._monitor is None:
            # One connection kept for this: a new one would count its bind.
            self._monitor = self.admin()
        found = self._monitor.search_s(
            "cn=Operations,cn=Monitor", ldap.SCOPE_ONELEVEL, "(objectClass=*)",
            ["cn", "monitorOpInitiated"],
        )  # fmt: skip
        return {
            attrs["cn"][0].decode().lower(): int(attrs["monitorOpInitiated"][0])
            for _, attrs in found
        }

    def connections(self) -> int:
        """Connections open now (``cn=Current,cn=Connections,cn=Monitor``), its own included."""
        import ldap

        if self._monitor is None:
            self._monitor = self.admin()
        [(_, attrs)] = self._monitor.search_s(
            "cn=Current,cn=Connections,cn=Monitor", ldap.SCOPE_BASE, "(objectClass=*)",
            ["monitorCounter"],
        )  # fmt: skip
        return int(attrs["monitorCounter"][0])

    def _close_monitor(self) -> None:
        monitor, self._monitor = self._monitor, None
        if monitor is not None:
            with contextlib.suppress(Exception):  # the server may be gone already
                monitor.unbind_s()


def same_dn(one: str, other: str) -> bool:
    """Whether two DNs name the same entry here (servers spell escapes their own way).

    Values compare as this directory's attributes do: case and outer spaces
    ignored (caseIgnoreMatch, RFC 4518's insignificant spaces).
    """
    import ldap.dn

    def normal(dn: str) -> list[list[tuple[str, str]]]:
        return [
            [(a.lower(), v.strip(" ").lower()) for a, v, _ in rdn] for rdn in ldap.dn.str2dn(dn)
        ]

    return normal(one) == normal(other)


def operations_between(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The operations between two :meth:`Slapd.operations`, minus the search that read ``after``.

    Unbinds are left out: they are connections closing (a verifier of an
    earlier test freed meanwhile), not work done for a request.
    """
    delta = {name: after[name] - before.get(name, 0) for name in after if name != "unbind"}
    delta["search"] -= 1
    return {name: n for name, n in delta.items() if n}


def _adder(conn: Any) -> Any:
    import ldap.modlist

    def add(dn: str, **attributes: list[str]) -> None:
        entry = {name: [v.encode() for v in values] for name, values in attributes.items()}
        conn.add_s(dn, ldap.modlist.addModlist(entry))

    return add


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """One slapd for the session: its tests only read (see ``own_slapd`` for the others)."""
    server = Slapd(tmp_path_factory.mktemp("slapd"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_slapd(tmp_path: Path) -> Iterator[Slapd]:
    """A slapd of the test's own, to kill, restart, freeze or change."""
    server = Slapd(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def tls_slapd(tmp_path_factory: pytest.TempPathFactory, tls: Tls) -> Iterator[Slapd]:
    """A slapd with TLS: StartTLS on ``url``, and ``ldaps_url``."""
    server = Slapd(tmp_path_factory.mktemp("slapd-tls"), tls=tls)
    try:
        yield server
    finally:
        server.stop()


def _stopped(task: Path) -> bool:
    """Whether a thread (``/proc/PID/task/TID``) is stopped; one that is gone is."""
    try:
        # The state follows the command name in parentheses, which may hold spaces.
        return (task / "stat").read_text().rsplit(")", 1)[1].split()[0] in ("T", "t")
    except (OSError, IndexError):
        return True
