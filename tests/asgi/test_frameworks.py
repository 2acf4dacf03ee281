"""Starlette and FastAPI applications behind the ASGI adapter, in process."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from helpers import CHALLENGE, USERS, basic
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from basicauth_wsgi.asgi import BasicAuth

from .support import request, run, scope_for, websocket

ADMIN = {"Authorization": basic("admin", "SuperSecretPwd")}


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "user": request.user.display_name,
            "authenticated": request.user.is_authenticated,
            "username": request.scope["basicauth.username"],
            "authorization": request.headers.get("authorization"),
        }
    )


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(f"hello {websocket.user.display_name}")
    await websocket.close()


def starlette_app() -> Starlette:
    return Starlette(
        routes=[Route("/", whoami), Route("/health", health), WebSocketRoute("/ws", echo)],
        middleware=[Middleware(BasicAuth, users=USERS, exclude=["/health"])],
    )


def fastapi_app() -> FastAPI:
    api = FastAPI()

    def current_username(request: Request) -> str:
        return str(request.scope["basicauth.username"])

    @api.get("/")
    async def root(request: Request, username: str = Depends(current_username)) -> Any:
        return {"user": request.user.display_name, "username": username}

    @api.get("/health")
    async def healthy() -> Any:
        return {"ok": True}

    api.add_middleware(BasicAuth, users=USERS, exclude=["/health"])
    return api


async def fetch(app: Any, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get(path, headers=headers)


def test_starlette_request_user_and_scope() -> None:
    app = starlette_app()
    res = run(fetch(app, "/", ADMIN))
    assert res.status_code == 200
    assert res.json() == {
        "user": "admin",
        "authenticated": True,
        "username": "admin",
        "authorization": None,
    }


@pytest.mark.parametrize("build", [starlette_app, fastapi_app], ids=["starlette", "fastapi"])
def test_refusals_and_public_paths(build: Any) -> None:
    app = build()

    async def scenario() -> None:
        missing, json_401, public = await asyncio.gather(
            fetch(app, "/"),
            fetch(app, "/", {"Accept": "application/json", "Authorization": basic("a", "b")}),
            fetch(app, "/health"),
        )
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == CHALLENGE
        assert missing.headers["content-type"] == "text/plain; charset=utf-8"
        assert json_401.status_code == 401 and json_401.json()["error"] == "unauthorized"
        assert public.status_code == 200

    run(scenario())


def test_fastapi_request_user_and_a_dependency() -> None:
    res = run(fetch(fastapi_app(), "/", ADMIN))
    assert res.status_code == 200
    assert res.json() == {"user": "admin", "username": "admin"}


@pytest.mark.parametrize("build", [starlette_app, fastapi_app], ids=["starlette", "fastapi"])
def test_attack_spellings_never_reach_a_route(build: Any) -> None:
    # httpx would tidy dot segments: the raw path goes in the scope as
    # uvicorn puts it there.
    app = build()
    for raw in ["//", "/health/../", "/health/%2e%2e/", "/health/..;/", "/health%2f..%2f"]:
        assert run(request(app, scope_for(raw))).status == 401, raw


def test_starlette_websocket_refused_then_accepted() -> None:
    app = starlette_app()
    ws: dict[str, Any] = {
        "kind": "websocket",
        "scheme": "ws",
        "extensions": {"websocket.http.response": {}},
    }
    refused = run(websocket(app, scope_for("/ws", **ws)))
    assert refused[0]["type"] == "websocket.http.response.start"
    assert refused[0]["status"] == 401
    assert (b"www-authenticate", CHALLENGE.encode()) in refused[0]["headers"]
    accepted = run(websocket(app, scope_for("/ws", headers=list(ADMIN.items()), **ws)))
    assert [m["type"] for m in accepted][:2] == ["websocket.accept", "websocket.send"]
    assert accepted[1]["text"] == "hello admin"


def test_starlettes_requires_decorator_sees_an_authenticated_request() -> None:
    from starlette.authentication import requires

    @requires("authenticated")
    async def private(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"hello {request.user.display_name}")

    app = Starlette(routes=[Route("/", private)], middleware=[Middleware(BasicAuth, users=USERS)])
    answered = run(request(app, scope_for("/", headers=ADMIN.items())))
    assert (answered.status, answered.body) == (200, b"hello admin")
