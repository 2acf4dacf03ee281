"""A real uvicorn on 127.0.0.1 (started and stopped by PID): httpx and websockets as clients."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import httpx
import pytest
from helpers import CHALLENGE, LiveServer, basic
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from .support import live_uvicorn

APP = textwrap.dedent(
    """
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route, WebSocketRoute

    from basicauth_wsgi.asgi import BasicAuth


    async def private(request):
        return PlainTextResponse("secret for " + request.user.display_name)


    async def health(request):
        return PlainTextResponse("ok")


    async def echo(websocket):
        await websocket.accept()
        await websocket.send_text("hello " + websocket.scope["basicauth.username"])
        await websocket.close()


    routes = [
        Route("/health", health),
        Route("/public/{rest:path}", health),
        Route("/static/{rest:path}", health),
        Route("/{rest:path}", private),
        WebSocketRoute("/ws", echo),
    ]
    app = BasicAuth(
        Starlette(routes=routes),
        {"admin": "SuperSecretPwd"},
        exclude=["/health", "/public/", "/static/"],
    )
    """
)
ADMIN = {"Authorization": basic("admin", "SuperSecretPwd")}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("uvicorn")
    (folder / "asgiapp.py").write_text(APP)
    live = live_uvicorn("asgiapp:app", cwd=folder)
    try:
        yield live
    finally:
        live.stop()
        assert live.proc.returncode is not None


def base(server: LiveServer) -> str:
    return f"http://127.0.0.1:{server.port}"


def test_httpx_refused_then_admitted(server: LiveServer) -> None:
    with httpx.Client(base_url=base(server), timeout=10) as client:
        missing = client.get("/private", headers={"Accept": "application/json"})
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == CHALLENGE
        assert missing.json()["error"] == "unauthorized"
        head = client.head("/private")
        assert head.status_code == 401 and head.content == b""
        assert int(head.headers["content-length"]) > 0
        ok = client.get("/private", headers=ADMIN)
        assert (ok.status_code, ok.text) == (200, "secret for admin")
        assert client.get("/health").text == "ok"


ATTACKS = [
    "//private",
    "/health/../private",
    "/health/%2e%2e/private",
    "/public/..;/private",
    "/static/..%252fprivate",
    "/static/..%5cprivate",
    "/static/..%2fprivate",
    "//health",
]


@pytest.mark.parametrize("path", ATTACKS, ids=ATTACKS)
def test_attack_spellings_never_reach_the_app(server: LiveServer, path: str) -> None:
    # http.client sends the target byte for byte (httpx would tidy it).
    status, headers, body = server.request("GET", path)
    assert status == 401, (path, body)
    assert headers["WWW-Authenticate"] == CHALLENGE
    assert b"secret" not in body


def test_websocket_refused_handshake(server: LiveServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://127.0.0.1:{server.port}/ws", open_timeout=10, close_timeout=5)
    response = refused.value.response
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == CHALLENGE


def test_websocket_accepted_handshake(server: LiveServer) -> None:
    with connect(
        f"ws://127.0.0.1:{server.port}/ws",
        additional_headers=ADMIN,
        open_timeout=10,
        close_timeout=5,
    ) as ws:
        assert ws.recv(timeout=10) == "hello admin"


def test_uvicorn_writes_our_failure_lines(server: LiveServer) -> None:
    server.request("GET", "/private", headers={"Authorization": basic("admin", "nope")})
    line = server.expect(r"authentication failed: user='admin' client=127\.0\.0\.1 ").string
    assert "reason=wrong_password path=/private" in line and "nope" not in line
