"""Shared helpers: hand-built Authorization headers and a recording WSGI app."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import pytest

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


def basic(username: str, password: str, scheme: str = "Basic") -> str:
    """A UTF-8 Basic credential, built by hand: webtest and requests send latin-1."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"{scheme} {token}"


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


@pytest.fixture
def inner() -> Recorder:
    return Recorder()


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
