"""Shared test helpers: hand-built credentials, the middleware under test, a live server."""

from __future__ import annotations

import base64
import http.client
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import webtest

from basicauth_wsgi import BasicAuth

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

ROOT = Path(__file__).resolve().parent.parent


CLIENT = "192.0.2.10"
CHALLENGE = 'Basic realm="Restricted area", charset="UTF-8"'
# The users the middleware is built with unless a test names its own.
USERS = {"admin": "SuperSecretPwd", "jürgen": "pässwörd"}
# Every password the suites use, so auth(username) can fill the right one in.
PASSWORDS = {
    "admin": "SuperSecretPwd",
    "alice": "alice-pw",
    "bob": "bob-pw",
    "jürgen": "pässwörd",
}


def basic(username: str, password: str, scheme: str = "Basic") -> str:
    """A UTF-8 Basic credential, built by hand: webtest and requests send latin-1."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"{scheme} {token}"


def auth(username: str = "admin", password: str | None = None) -> dict[str, str]:
    """An Authorization header; without ``password``, ``username``'s from PASSWORDS."""
    if password is None:
        password = PASSWORDS[username]
    return {"Authorization": basic(username, password)}


class Clock:
    """An injected clock: time moves when a test says so, without sleeping."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(
    app: WSGIApplication,
    users: object = USERS,
    *,
    validate: bool = True,
    client: str | None = CLIENT,
    **options: Any,
) -> webtest.TestApp:
    """``BasicAuth(app, users, **options)`` in a webtest.TestApp.

    With ``validate`` (the default), wsgiref's validator sits on both sides:
    the middleware must be a clean server to the app and a clean app to the
    server (PEP 3333). Requests come from ``client`` unless it is ``None``.
    """
    inner = validator(app) if validate else app
    middleware: WSGIApplication = BasicAuth(inner, users, **options)
    if validate:
        middleware = validator(middleware)
    extra = {} if client is None else {"REMOTE_ADDR": client}
    return webtest.TestApp(middleware, extra_environ=extra)


class ClosingBody:
    """A response iterable that records whether the server called close()."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        self.closed = True


class Recorder:
    """The protected application: records each environ it is called with."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.bodies: list[ClosingBody] = []

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        self.calls.append(dict(environ))
        seen = {
            "path": environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""),
            "remote_user": environ.get("REMOTE_USER"),
            "auth_type": environ.get("AUTH_TYPE"),
            "principal": repr(environ.get("basicauth.user")),
            "authorization": environ.get("HTTP_AUTHORIZATION"),
        }
        body = json.dumps(seen).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        result = ClosingBody([body])
        self.bodies.append(result)
        return result


def call(
    app: WSGIApplication, path: str = "/", **environ: Any
) -> tuple[str, list[tuple[str, str]], bytes]:
    """Call ``app`` through wsgiref.validate with a hand-built environ (raw paths)."""
    env: dict[str, Any] = {
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "REMOTE_ADDR": "192.0.2.10",
    }
    env.update(environ)
    setup_testing_defaults(env)
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"], captured["headers"] = status, headers
        return lambda data: None

    result = validator(app)(env, start_response)
    try:
        body = b"".join(result)
    finally:
        result.close()  # type: ignore[attr-defined]
    return captured["status"], captured["headers"], body


class LiveServer:
    """A server in a child process on an ephemeral 127.0.0.1 port.

    By default ``python serve.py``; ``command`` runs anything else that
    prints its password and the address it serves on. Stdout and stderr are
    read by threads so a chatty log can never fill a pipe and stall the
    server; every wait is bounded.
    """

    STARTUP_TIMEOUT = 30.0

    def __init__(
        self,
        args: list[str],
        cwd: Path,
        env: dict[str, str] | None = None,
        command: list[str] | None = None,
        listening: str = r"serving on http://127\.0\.0\.1:(\d+)",
        password: str | None = None,
    ) -> None:
        if command is None:
            command = [sys.executable, str(ROOT / "serve.py"), "--host", "127.0.0.1", "--port", "0"]
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []  # stdout lines
        self.errors: list[str] = []  # stderr lines
        self.proc = subprocess.Popen(
            [*command, *args],
            cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.output), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.errors), daemon=True),
        ]
        for reader in self.readers:
            reader.start()
        try:
            if password is None:
                password = self.expect(r"^admin password: (\S+)$").group(1)
            self.password = password
            self.port = int(self.expect(listening).group(1))
        except BaseException:
            self.stop()
            raise

    def _pump(self, stream: Any, sink: list[str]) -> None:
        for line in stream:
            line = line.rstrip("\n")
            sink.append(line)
            self.lines.put(line)

    def expect(self, pattern: str, timeout: float = STARTUP_TIMEOUT) -> re.Match[str]:
        """Wait for an output line (stdout or stderr) matching ``pattern``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line matching {pattern!r}: {self.output} {self.errors}")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            match = re.search(pattern, line)
            if match:
                return match

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One HTTP request over a fresh connection; the raw path goes out as given.

        The headers come back case-insensitive (waitress sends ``Www-Authenticate``).
        """
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.msg, response.read()
        finally:
            conn.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        # The pipes reach EOF once the process is gone; let the readers see it.
        for reader in self.readers:
            reader.join(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def quick_bench(folder: Path, *parts: str) -> str:
    """``python -m bench --quick`` for ``parts`` only (all of them if none); the report.

    No timing is asserted on it: it shows that every part runs and reports.
    """
    out = folder / "report.md"
    only = [arg for part in parts for arg in ("--only", part)]
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", *only, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return out.read_text()
