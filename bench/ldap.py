"""LdapUsers against a local slapd: ``python -m bench`` part ``ldap``.

Starts its own OpenLDAP ``slapd`` (127.0.0.1, a free port, a temporary
mdb database with the memberOf overlay and ``cn=monitor``, stopped by its
PID) and measures:

- req/s over waitress with a warm cache, LdapUsers (search as a service
  account, then bind) side by side with an htpasswd file of the same user
  (bcrypt(12)), threads=8 at 16 connections and at 1, alternated rounds,
  as a ratio (target >= 0.95x);
- LDAP operations per cached request, from ``cn=monitor`` around the
  load runs (target 0);
- the cost of an uncached login in process (search-then-bind, direct
  bind; a bcrypt(12) check beside them), median of rounds;
- the time from killing slapd to the first 503 a server answers, and the
  same for a frozen slapd (SIGSTOP), with ``timeout=1`` (target <= 1 s
  and a little).

``python -m bench.ldap VARIANT THREADS`` is the server it runs.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import apps, wire

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
BASE = "dc=example,dc=org"
PEOPLE = f"ou=people,{BASE}"
ADMIN_DN, ADMIN_PASSWORD = f"cn=admin,{BASE}", "bench-admin"
SERVICE_DN, SERVICE_PASSWORD = f"cn=service,{BASE}", "bench-service"
USER_DN = "uid={username}," + PEOPLE
#: The server's LDAP timeout in the outage measurement, seconds.
TIMEOUT = 1.0

CONFIG = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile {workdir}/slapd.pid
argsfile {workdir}/slapd.args
database mdb
suffix "{base}"
rootdn "{admin}"
rootpw {admin_password}
directory {workdir}/db
maxsize 16777216
overlay memberof
access to attrs=userPassword by anonymous auth by * none
access to * by * read
database monitor
access to dn.subtree="cn=monitor" by dn.exact="{admin}" read by * none
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Slapd:
    """slapd on 127.0.0.1 and a free port, its own folder, stopped (or killed) by its PID."""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-slapd-"))
        (self.workdir / "db").mkdir()
        (self.workdir / "slapd.conf").write_text(
            CONFIG.format(workdir=self.workdir, base=BASE, admin=ADMIN_DN,
                          admin_password=ADMIN_PASSWORD)
        )  # fmt: skip
        self.port = _free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._monitor: Any = None
        self.start()
        self._load()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [SLAPD, "-d", "0", "-h", self.url + "/", "-f", str(self.workdir / "slapd.conf")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while True:
            try:
                self.admin().unbind_s()
                return
            except Exception:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("slapd did not start") from None
                time.sleep(0.02)

    def admin(self) -> Any:
        import ldap

        conn = ldap.initialize(self.url)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 2.0)
        conn.set_option(ldap.OPT_TIMEOUT, 5.0)
        conn.simple_bind_s(ADMIN_DN, ADMIN_PASSWORD)
        return conn

    def _load(self) -> None:
        import ldap.modlist

        def add(dn: str, **attributes: list[str]) -> None:
            entry = {name: [v.encode() for v in values] for name, values in attributes.items()}
            conn.add_s(dn, ldap.modlist.addModlist(entry))

        conn = self.admin()
        try:
            add(BASE, objectClass=["dcObject", "organization"], o=["Example"], dc=["example"])
            add(PEOPLE, objectClass=["organizationalUnit"], ou=["people"])
            add(f"ou=groups,{BASE}", objectClass=["organizationalUnit"], ou=["groups"])
            add(SERVICE_DN, objectClass=["person"], cn=["service"], sn=["s"],
                userPassword=[SERVICE_PASSWORD])  # fmt: skip
            user = USER_DN.format(username=apps.USER)
            add(user, objectClass=["inetOrgPerson"], uid=[apps.USER], cn=[apps.USER], sn=["u"],
                userPassword=[apps.PASSWORD])  # fmt: skip
            add(f"cn=admins,ou=groups,{BASE}", objectClass=["groupOfNames"], cn=["admins"],
                member=[user])  # fmt: skip
        finally:
            conn.unbind_s()

    def operations(self) -> int:
        """Operations initiated so far, unbinds left out (the read itself included)."""
        import ldap

        if self._monitor is None:
            self._monitor = self.admin()
        found = self._monitor.search_s(
            "cn=Operations,cn=Monitor", ldap.SCOPE_ONELEVEL, "(objectClass=*)",
            ["cn", "monitorOpInitiated"],
        )  # fmt: skip
        return sum(
            int(attrs["monitorOpInitiated"][0])
            for _, attrs in found
            if attrs["cn"][0].lower() != b"unbind"
        )

    def kill(self) -> None:
        self._close_monitor()
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def _close_monitor(self) -> None:
        monitor, self._monitor = self._monitor, None
        if monitor is not None:
            with contextlib.suppress(Exception):  # the server may be gone already
                monitor.unbind_s()

    def stop(self) -> None:
        self._close_monitor()
        if self.proc is not None:
            self.resume()  # a frozen slapd handles SIGTERM only once it runs again
            wire.stop_process(self.proc)
            self.proc = None
        shutil.rmtree(self.workdir, ignore_errors=True)


# -- the servers ------------------------------------------------------------------------


def _ldap_users(timeout: float = 2.0) -> Any:
    from basicauth_wsgi.ldap import LdapUsers

    return LdapUsers(
        os.environ["BENCH_LDAP_URL"], search_base=PEOPLE, bind_dn=SERVICE_DN,
        bind_password=SERVICE_PASSWORD, timeout=timeout,
    )  # fmt: skip


def _htpasswd() -> Any:
    from basicauth_wsgi import HtpasswdFile
    from basicauth_wsgi.hashes import hash_password
    from basicauth_wsgi.htpasswd import write_htpasswd

    path = Path(tempfile.mkdtemp(prefix="bench-htpasswd-")) / "users"
    write_htpasswd(path, {apps.USER: hash_password(apps.PASSWORD, "bcrypt")})
    return HtpasswdFile(str(path))


def _protected(users: Callable[[], Any]) -> Any:
    from basicauth_wsgi import BasicAuth

    from .server import _example

    return _example(lambda api: BasicAuth(api, users()))


VARIANTS: dict[str, Callable[[], Any]] = {
    "htpasswd bcrypt(12)": lambda: _protected(_htpasswd),
    "LdapUsers": lambda: _protected(_ldap_users),
    f"LdapUsers, timeout={TIMEOUT:g}": lambda: _protected(lambda: _ldap_users(TIMEOUT)),
}


class Server(wire.Server):
    """A benchmark server of this part (``python -m bench.ldap``)."""

    def __init__(self, variant: str, threads: int, url: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.ldap", variant, str(threads)],
            cwd=wire.ROOT,
            env={**os.environ, "BENCH_LDAP_URL": url},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline()
            if not line.startswith("port "):
                raise RuntimeError(f"{variant}: server did not start ({line!r})")
            self.port = int(line.split()[1])
            status = wire.get(self.port, timeout=30)  # warm the cache
            if status != 200:
                raise RuntimeError(f"{variant}: warm-up answered {status}")
        except BaseException:
            self.stop()
            raise


# -- the measurements --------------------------------------------------------------------


def throughput(
    slapd: Slapd, connections: list[int], rounds: int, seconds: float
) -> list[tuple[dict[str, wire.Sample], float]]:
    """For each connection count: req/s of both stores, alternated; LDAP operations per request."""
    names = ["htpasswd bcrypt(12)", "LdapUsers"]
    servers: dict[str, Server] = {}
    try:
        for name in names:
            servers[name] = Server(name, 8, slapd.url)
        return wire.side_by_side(
            dict(servers), connections, rounds, seconds, slapd.operations, "LdapUsers"
        )
    finally:
        for server in servers.values():
            server.stop()


def login_cost(slapd: Slapd, rounds: int, number: int) -> dict[str, float]:
    """µs per uncached login in process (``verify``), median of alternated rounds."""
    from basicauth_wsgi import HashedUsers
    from basicauth_wsgi.hashes import hash_password
    from basicauth_wsgi.ldap import LdapUsers

    os.environ["BENCH_LDAP_URL"] = slapd.url
    stores: dict[str, Any] = {
        "LdapUsers, search as a service account then bind (2 operations)": _ldap_users(),
        "LdapUsers, direct bind and read memberOf (2 operations)": LdapUsers(
            slapd.url, user_dn=USER_DN
        ),
        "LdapUsers, direct bind, no groups (1 operation)": LdapUsers(
            slapd.url, user_dn=USER_DN, memberof_attribute=None
        ),
        "HashedUsers bcrypt(12), for scale": HashedUsers(
            {apps.USER: hash_password(apps.PASSWORD, "bcrypt")}
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in stores}
    for _ in range(rounds):
        for name, store in stores.items():
            count = 2 if "bcrypt" in name else number
            start = time.perf_counter()
            for _ in range(count):
                if not store.verify(apps.USER, apps.PASSWORD):
                    raise RuntimeError(f"{name}: the login failed")
            times[name].append((time.perf_counter() - start) / count * 1e6)
    return {name: statistics.median(values) for name, values in times.items()}


def first_503(slapd: Slapd, how: str, tries: int) -> list[float]:
    """Seconds from slapd killed (or frozen) to a server's first 503, for fresh credentials."""
    taken: list[float] = []
    for attempt in range(tries):
        server = Server(f"LdapUsers, timeout={TIMEOUT:g}", 8, slapd.url)
        try:
            (slapd.kill if how == "killed" else slapd.pause)()
            start = time.perf_counter()
            status = _get(server.port, f"someone-{attempt}", "a-password")
            taken.append(time.perf_counter() - start)
            if status != 503:
                raise RuntimeError(f"{how} slapd: the server answered {status}, not 503")
        finally:
            server.stop()
            if how == "killed":
                slapd.start()
            else:
                slapd.resume()
    return taken


def _get(port: int, username: str, password: str) -> int:
    import base64

    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", wire.PATH, headers={"Authorization": f"Basic {token}"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def report(rounds: int, seconds: float, quick: bool) -> str:
    """The Markdown section of this part."""
    if not os.path.exists(SLAPD):
        return "## LDAP\n\nskipped: slapd is not installed."
    try:
        import ldap  # noqa: F401
    except ImportError:
        return "## LDAP\n\nskipped: python-ldap is not installed (the ldap extra)."
    slapd = Slapd()
    try:
        text = [f"## LDAP ({rounds} rounds of {seconds:g} s, alternating)"]
        per_request = []
        counts = [16, 1]
        for count, (samples, operations) in zip(
            counts, throughput(slapd, counts, rounds, seconds), strict=True
        ):
            per_request.append(operations)
            text.append(wire.table(f"cache warm, over waitress: threads=8, {count} connection(s)",
                                   samples))  # fmt: skip
        cost = login_cost(slapd, rounds=max(rounds, 3), number=50 if quick else 1000)
        tries = 1 if quick else 3
        killed, frozen = first_503(slapd, "killed", tries), first_503(slapd, "frozen", tries)
        lines = ["| figure | value | target |", "|---|---:|---:|"]
        lines.append(
            f"| LDAP operations per cached request (16 conns; 1 conn) | "
            f"{per_request[0]:.4f}; {per_request[1]:.4f} | 0 |"
        )
        for name, us in cost.items():
            lines.append(f"| an uncached login in process: {name}, µs | {us:,.0f} | - |")
        for how, taken in (("killed", killed), ("frozen (SIGSTOP)", frozen)):
            spread = f"{min(taken) * 1000:.0f}-{max(taken) * 1000:.0f}"
            lines.append(
                f"| slapd {how}: time to the first 503, ms (median, min-max of {tries}) | "
                f"{statistics.median(taken) * 1000:.0f} ({spread}) | <= {TIMEOUT * 1000:.0f} "
                "and a little |"
            )
        text.append("\n".join(lines))
        return "\n\n".join(text)
    finally:
        slapd.stop()


def main(argv: list[str]) -> int:
    import logging

    from waitress.server import create_server

    variant, threads = argv[0], int(argv[1])
    logging.disable(logging.CRITICAL)
    server = create_server(VARIANTS[variant](), host="127.0.0.1", port=0, threads=threads)
    sys.stdout.write(f"port {server.getsockname()[1]}\n")  # type: ignore[union-attr]
    sys.stdout.flush()
    server.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
