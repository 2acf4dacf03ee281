"""Attackers for the attack suite: raw sockets from distinct 127.0.0.0/8 addresses.

Every socket has a timeout, every thread is joined with a deadline, and
every server is a :class:`helpers.LiveServer` stopped by its own PID::

    with served(tmp_path, {"alice": "pw"}, "--exclude", "/static/") as server:
        status, headers, body = raw(server.port, request("GET", "/x"), "127.0.0.9")
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from helpers import LiveServer, basic

from basicauth_wsgi.hashes import bcrypt as bcrypt_scheme
from basicauth_wsgi.hashes import hash_password
from basicauth_wsgi.htpasswd import write_htpasswd

T = TypeVar("T")

TIMEOUT = 30.0


def users_file(path: Path, users: dict[str, str], cost: int | None = None) -> Path:
    """Write an htpasswd file of bcrypt hashes (``cost`` given) or the default scheme."""
    write_htpasswd(
        path,
        {
            name: (
                bcrypt_scheme.make(password.encode(), cost)
                if cost is not None
                else hash_password(password)
            )
            for name, password in users.items()
        },
    )
    return path


@contextmanager
def served(
    tmp_path: Path,
    users: dict[str, str],
    *args: str,
    cost: int | None = 4,
) -> Iterator[LiveServer]:
    """``python serve.py --htpasswd FILE *args``, stopped when the block ends."""
    htpasswd = users_file(tmp_path / "users.htpasswd", users, cost)
    server = LiveServer(
        ["--htpasswd", str(htpasswd), "--db", str(tmp_path / "api.db"), *args],
        cwd=tmp_path,
        password="",  # the users are ours: serve prints no admin password
    )
    try:
        yield server
    finally:
        server.stop()


def request(
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> bytes:
    """A raw HTTP/1.1 request: ``target`` goes out byte for byte (latin-1)."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def connect(port: int, source: str, timeout: float = TIMEOUT) -> socket.socket:
    """A TCP connection to the server from ``source`` (a 127.0.0.0/8 address)."""
    sock = socket.create_connection(
        ("127.0.0.1", port), timeout=timeout, source_address=(source, 0)
    )
    sock.settimeout(timeout)
    return sock


class Response:
    """A parsed HTTP response: status, headers (lower-case names), body."""

    def __init__(self, data: bytes) -> None:
        head, _, self.body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        match = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
        if match is None:
            raise AssertionError(f"not an HTTP response: {data[:200]!r}")
        self.status = int(match.group(1))
        self.headers: dict[str, list[str]] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers.setdefault(name.strip().lower(), []).append(value.strip())

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return None if values is None else values[0]

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.headers} {self.body[:200]!r}>"


def read_response(sock: socket.socket) -> Response:
    """Read one response on a ``Connection: close`` socket, to EOF (bounded by its timeout)."""
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
    return Response(b"".join(chunks))


def raw(port: int, data: bytes, source: str = "127.0.0.1") -> Response:
    """Send ``data`` from ``source`` and read the whole answer."""
    with connect(port, source) as sock:
        sock.sendall(data)
        return read_response(sock)


def together(jobs: Sequence[Callable[[threading.Barrier], T]], timeout: float = 120) -> list[T]:
    """Run each job in its own thread, released together by a barrier; bounded.

    A job does its slow set-up, calls ``barrier.wait()``, then attacks.
    Returns the results in order; a job that raised re-raises here.
    """
    barrier = threading.Barrier(len(jobs), timeout=timeout)
    results: list[object] = [None] * len(jobs)
    failures: list[BaseException] = []

    def run(index: int, job: Callable[[threading.Barrier], T]) -> None:
        try:
            results[index] = job(barrier)
        except BaseException as exc:  # re-raised in the caller
            failures.append(exc)
            barrier.abort()

    threads = [
        threading.Thread(target=run, args=(i, job), daemon=True) for i, job in enumerate(jobs)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if any(thread.is_alive() for thread in threads):
        raise AssertionError(f"attack threads still running after {timeout} s")
    if failures:
        raise failures[0]
    return results  # type: ignore[return-value]


def held_request(port: int, source: str, data: bytes) -> Callable[[threading.Barrier], Response]:
    """A job for :func:`together`: connect and send all but the last byte, then finish at once."""

    def job(barrier: threading.Barrier) -> Response:
        with connect(port, source) as sock:
            sock.sendall(data[:-1])
            barrier.wait()
            sock.sendall(data[-1:])
            return read_response(sock)

    return job


def failures(server: LiveServer, reason: str, user: str | None = None) -> list[str]:
    """The server's ``authentication failed`` lines with this reason (and user)."""
    who = "" if user is None else f"user={user!r} "
    return [
        line
        for line in list(server.errors)
        if f"authentication failed: {who}" in line and f"reason={reason} " in line
    ]


def sync_log(server: LiveServer, source: str) -> None:
    """Wait until every line the server logged so far has been read.

    Makes one failure of a username nobody else uses, from ``source``, and
    waits for its line: stderr is one ordered stream, so every earlier line
    is in ``server.errors`` once this one is.
    """
    marker = f"sentinel{source.replace('.', '')}"
    status = raw(
        server.port,
        request("GET", "/api/v1/private", {"Authorization": basic(marker, "x")}),
        source,
    ).status
    assert status == 401, status
    server.expect(rf"authentication failed: user='{marker}' ")
