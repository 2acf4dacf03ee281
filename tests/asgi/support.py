"""A raw ASGI driver (no framework), a recording ASGI app and a live uvicorn."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from urllib.parse import unquote

import pytest
from helpers import ROOT, LiveServer

Scope = dict[str, Any]
Message = dict[str, Any]
App = Callable[[Any, Any, Any], Awaitable[None]]
T = TypeVar("T")

#: Every await in these tests ends within this many seconds, or the test fails.
TIMEOUT = 10.0


def run(coro: Coroutine[Any, Any, T], timeout: float = TIMEOUT) -> T:
    """Run one coroutine on a fresh event loop, bounded by ``timeout``."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


class Response(NamedTuple):
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [
            v.decode("latin-1") for n, v in self.headers if n.lower() == name.lower().encode()
        ]
        return ", ".join(values) if values else None

    def json(self) -> Any:
        return json.loads(self.body)


def scope_for(
    path: str = "/",
    *,
    method: str = "GET",
    headers: Iterable[tuple[str, str]] = (),
    raw_path: bytes | bool | None = True,
    root_path: str = "",
    client: tuple[str, int] | None = ("192.0.2.10", 50000),
    scheme: str = "http",
    kind: str = "http",
    extensions: dict[str, Any] | None = None,
) -> Scope:
    """An ASGI scope as uvicorn builds one: ``path`` is the raw target path.

    ``raw_path=True`` (default) sends ``root_path + path`` as raw bytes and
    ``path`` percent-decoded once; ``False``/``None`` leaves ``raw_path`` out;
    bytes are sent as given.
    """
    scope: Scope = {
        "type": kind,
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": scheme,
        "path": root_path + unquote(path),
        "root_path": root_path,
        "query_string": b"",
        "headers": [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in headers],
        "client": client,
        "server": ("127.0.0.1", 8000),
    }
    if kind == "http":
        scope["method"] = method
    if raw_path is True:
        scope["raw_path"] = (root_path + path).encode("latin-1")
    elif isinstance(raw_path, bytes):
        scope["raw_path"] = raw_path
    if extensions is not None:
        scope["extensions"] = extensions
    return scope


async def request(app: App, scope: Scope, body: bytes = b"") -> Response:
    """Drive one http scope through ``app``; collect the response messages."""
    sent: list[Message] = []
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # a client that stays: disconnect never comes
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(dict(message))

    await app(scope, receive, send)
    assert sent and sent[0]["type"] == "http.response.start", sent
    body_out = b""
    for message in sent[1:]:
        assert message["type"] == "http.response.body", message
        body_out += message.get("body", b"")
    assert not sent[-1].get("more_body", False)
    return Response(sent[0]["status"], list(sent[0].get("headers", [])), body_out)


def call(app: App, path: str = "/", body: bytes = b"", **options: Any) -> Response:
    """``request`` for a scope from :func:`scope_for`, on its own loop."""
    return run(request(app, scope_for(path, **options), body))


async def websocket(app: App, scope: Scope) -> list[Message]:
    """Drive a WebSocket handshake (then one text frame) through ``app``; what it sent."""
    sent: list[Message] = []
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    inbox.put_nowait({"type": "websocket.connect"})

    async def receive() -> Message:
        return await inbox.get()

    async def send(message: Message) -> None:
        sent.append(dict(message))
        if message["type"] == "websocket.accept":
            inbox.put_nowait({"type": "websocket.receive", "text": "ping"})
        elif message["type"] == "websocket.send" or message["type"] == "websocket.close":
            inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})

    await app(scope, receive, send)
    return sent


class Recorder:
    """The protected ASGI application: records each scope; echoes what it saw.

    For WebSockets: accepts, answers the first frame with what it saw, closes.
    """

    def __init__(self) -> None:
        self.scopes: list[Scope] = []

    def seen(self, scope: Scope) -> bytes:
        user = scope.get("user")
        return json.dumps(
            {
                "username": scope.get("basicauth.username"),
                "principal": repr(scope.get("basicauth.user")),
                "user": getattr(user, "display_name", None),
                "authorization": [
                    v.decode("latin-1") for n, v in scope["headers"] if n == b"authorization"
                ],
                "path": scope.get("path"),
            }
        ).encode()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        if scope["type"] == "lifespan":
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            return
        if scope["type"] == "websocket":
            assert (await receive())["type"] == "websocket.connect"
            await send({"type": "websocket.accept"})
            message = await receive()
            if message["type"] == "websocket.receive":
                await send({"type": "websocket.send", "text": self.seen(scope).decode()})
                await send({"type": "websocket.close", "code": 1000})
            return
        body = self.seen(scope)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def uvicorn_binary() -> str:
    """The uvicorn command; in CI it must be there (SPEC: never skip in CI)."""
    found = shutil.which("uvicorn")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("uvicorn is not installed (it is in the test extra)")
        pytest.skip("uvicorn is not installed")
    return found


def live_uvicorn(app: str, cwd: Path, env: dict[str, str] | None = None) -> LiveServer:
    """``uvicorn app`` on 127.0.0.1, an ephemeral port; stop it with ``.stop()``."""
    uvicorn_binary()
    return LiveServer(
        ["--host", "127.0.0.1", "--port", "0", "--no-access-log", "--lifespan", "on", app],
        cwd=cwd,
        env={"PYTHONPATH": os.pathsep.join([str(cwd), str(ROOT)]), **(env or {})},
        command=[sys.executable, "-m", "uvicorn"],
        listening=r"Uvicorn running on http://127\.0\.0\.1:(\d+)",
        password="",
    )
