"""Real nginx and Apache httpd for the ops tests: started on 127.0.0.1, stopped by PID.

Each server gets its own minimal configuration in a folder the test owns
(nothing from /etc is used, nothing listens on port 80)::

    with Nginx(folder, "location / { ... }") as nginx:
        status = get(nginx.port, "/", ("alice", "pw"))
"""

from __future__ import annotations

import base64
import configparser
import contextlib
import http.client
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pytest

from basicauth_wsgi.cli import ServeConfig, main

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

NGINX = "/usr/sbin/nginx"
APACHE = "/usr/sbin/apache2"
APACHE_MODULES = Path("/usr/lib/apache2/modules")
HTPASSWD = shutil.which("htpasswd") or "/usr/bin/htpasswd"
IS_ROOT = os.geteuid() == 0
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def need(binary: str) -> str:
    """``binary`` if it is installed; skipped when missing outside CI, a failure in CI."""
    if os.path.exists(binary):
        return binary
    if os.environ.get("CI"):
        pytest.fail(f"{binary} is required in CI (.ci/run installs it)")
    pytest.skip(f"{binary} is not installed")


def child_env() -> dict[str, str]:
    """The environment for a child Python that must import ``tests.ops.apps`` and our tree."""
    root = str(Path(__file__).resolve().parents[2])
    return {"PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}


def fail2ban_regex() -> re.Pattern[str]:
    """docs/fail2ban-filter.conf's failregex, with ``<HOST>`` as group ``host``."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(Path(__file__).resolve().parents[2] / "docs" / "fail2ban-filter.conf")
    pattern = parser["Definition"]["failregex"].replace("<HOST>", r"(?P<host>[0-9A-Fa-f:.]+)")
    return re.compile(pattern)


#: What fail2ban's default date detection needs at the start of a line.
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


def free_port() -> int:
    """An ephemeral 127.0.0.1 port that was free a moment ago (nginx needs a number)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def shared_folder() -> Iterator[Path]:
    """A folder the web servers' workers (www-data when root) can traverse, removed after.

    pytest's tmp_path is 0700 under root's own folder: a worker that has
    dropped to www-data could not reach a users file there.
    """
    folder = Path(tempfile.mkdtemp(prefix="basicauth-interop-"))
    try:
        folder.chmod(0o711)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def authorization(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def get(
    port: int,
    path: str = "/",
    credentials: tuple[str, str] | None = None,
    source: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """One GET over a fresh connection (from ``source``, a 127.0.0.x address); status, body."""
    conn = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=10, source_address=(source, 0) if source else None
    )
    try:
        sent = dict(headers or {})
        if credentials is not None:
            sent["Authorization"] = authorization(*credentials)
        conn.request("GET", path, headers=sent)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Server:
    """A server process in the foreground, ready once its port accepts connections."""

    name = "server"

    def __init__(self, folder: Path, command: list[str], port: int) -> None:
        self.folder = folder
        self.port = port
        self.log = open(folder / f"{self.name}.out", "wb")  # noqa: SIM115 - closed in stop()
        # A session of its own: Apache's prefork parent signals its whole
        # process group on shutdown, which would otherwise include pytest.
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.proc.returncode}: {self.output()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return
            time.sleep(0.05)  # polling a port under a deadline, not waiting and hoping
        raise AssertionError(f"{self.name} did not listen on {self.port}: {self.output()}")

    def output(self) -> str:
        texts = []
        for log in [*sorted(self.folder.glob("*.log")), self.folder / f"{self.name}.out"]:
            with contextlib.suppress(OSError):
                texts.append(log.read_text(errors="replace")[-2000:])
        return "\n".join(texts)

    def stop(self) -> None:
        """SIGTERM to our own PID (both stop their workers on it), then SIGKILL if stuck."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
        # Workers left behind by a parent that had to be killed: the group is ours.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class Nginx(Server):
    """nginx with ``server_body`` inside one ``server`` on 127.0.0.1 and a free port."""

    name = "nginx"

    def __init__(self, folder: Path, server_body: str) -> None:
        port = free_port()
        temp = folder / "nginx-temp"
        temp.mkdir(exist_ok=True)
        temps = " ".join(
            f"{kind}_temp_path {temp};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        conf = folder / "nginx.conf"
        conf.write_text(
            f"""
{"user www-data www-data;" if IS_ROOT else ""}
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {folder}/nginx-access.log;
    {temps}
    server {{
        listen 127.0.0.1:{port};
        {server_body}
    }}
}}
"""
        )
        super().__init__(
            folder, [need(NGINX), "-p", str(folder), "-c", str(conf), "-g", "daemon off;"], port
        )


APACHE_MODULE_NAMES = (
    "mpm_prefork",
    "authn_core",
    "authn_file",
    "auth_basic",
    "authz_core",
    "authz_user",
)


class Apache(Server):
    """Apache httpd (prefork, in the foreground) protecting ``docroot`` with ``AuthUserFile``."""

    name = "apache"

    def __init__(self, folder: Path, docroot: Path, users: Path) -> None:
        need(APACHE)
        port = free_port()
        modules = "\n".join(
            f"LoadModule {m}_module {APACHE_MODULES / f'mod_{m}.so'}" for m in APACHE_MODULE_NAMES
        )
        identity = "User www-data\nGroup www-data" if IS_ROOT else ""
        conf = folder / "httpd.conf"
        conf.write_text(
            f"""
ServerRoot {folder}
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile {folder}/httpd.pid
ErrorLog {folder}/apache-error.log
LogLevel info
DefaultRuntimeDir {folder}
Mutex file:{folder} default
{modules}
StartServers 1
MinSpareServers 1
MaxSpareServers 2
{identity}
DocumentRoot {docroot}
<Directory {docroot}>
    AuthType Basic
    AuthName "interop"
    AuthBasicProvider file
    AuthUserFile {users}
    Require valid-user
</Directory>
"""
        )
        super().__init__(folder, [APACHE, "-f", str(conf), "-D", "FOREGROUND"], port)


# -- the command line, called in process -------------------------------------------


class FakeServe:
    """Stands in for waitress: records what it was asked to serve."""

    def __init__(self) -> None:
        self.calls: list[tuple[WSGIApplication, ServeConfig]] = []

    def __call__(self, app: WSGIApplication, config: ServeConfig, stdout: Any) -> None:
        self.calls.append((app, config))


class Prompt:
    """Stands in for getpass: answers from a list (an exception is raised), records prompts."""

    def __init__(self, *answers: str | BaseException) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if not self.answers:
            raise EOFError
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def tool(*argv: str, ask: Prompt | None = None, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(
        list(argv),
        environ={},
        stdout=out,
        stderr=err,
        stdin=io.StringIO(stdin),
        ask=ask or Prompt(),
    )
    return code, out.getvalue(), err.getvalue()
