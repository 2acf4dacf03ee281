"""WebSocket scopes: authenticated before the handshake, refused without accepting."""

from __future__ import annotations

import json

import pytest
from helpers import CHALLENGE, USERS, basic

from basicauth_wsgi import Rule
from basicauth_wsgi.asgi import BasicAuth

from .support import Recorder, run, scope_for, websocket

ADMIN = ("Authorization", basic("admin", "SuperSecretPwd"))
HTTP_RESPONSE = {"websocket.http.response": {}}


@pytest.fixture
def inner() -> Recorder:
    return Recorder()


def test_refused_with_an_http_response_where_the_server_offers_it(inner: Recorder) -> None:
    app = BasicAuth(inner, USERS)
    sent = run(
        websocket(
            app,
            scope_for(
                "/ws",
                kind="websocket",
                scheme="ws",
                extensions=HTTP_RESPONSE,
                headers=[("Accept", "application/json")],
            ),
        )
    )
    assert inner.scopes == []
    assert [m["type"] for m in sent] == [
        "websocket.http.response.start",
        "websocket.http.response.body",
    ]
    assert sent[0]["status"] == 401
    headers = dict(sent[0]["headers"])
    assert headers[b"www-authenticate"] == CHALLENGE.encode()
    assert json.loads(sent[1]["body"])["error"] == "unauthorized"


@pytest.mark.parametrize(
    "headers",
    [[], [("Authorization", basic("admin", "wrong"))], [("Authorization", "Bearer x")]],
    ids=["missing", "wrong-password", "other-scheme"],
)
def test_refused_with_1008_before_accept_otherwise(
    inner: Recorder, headers: list[tuple[str, str]]
) -> None:
    app = BasicAuth(inner, USERS)
    sent = run(websocket(app, scope_for("/ws", kind="websocket", scheme="ws", headers=headers)))
    assert inner.scopes == []
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_accepted_with_credentials(inner: Recorder) -> None:
    app = BasicAuth(inner, USERS)
    sent = run(websocket(app, scope_for("/ws", kind="websocket", scheme="ws", headers=[ADMIN])))
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send", "websocket.close"]
    seen = json.loads(sent[1]["text"])
    assert (seen["username"], seen["user"], seen["authorization"]) == ("admin", "admin", [])


def test_a_public_websocket_path_needs_nothing(inner: Recorder) -> None:
    app = BasicAuth(inner, USERS, exclude=["/ws/public"])
    sent = run(websocket(app, scope_for("/ws/public", kind="websocket", scheme="ws")))
    assert sent[0] == {"type": "websocket.accept"}
    assert json.loads(sent[1]["text"])["username"] is None


def test_rules_see_the_handshake_as_a_get(inner: Recorder) -> None:
    app = BasicAuth(inner, USERS, rules=[Rule("/ws", methods=["GET"], users=["nobody"])])
    sent = run(
        websocket(
            app,
            scope_for("/ws", kind="websocket", headers=[ADMIN], extensions=HTTP_RESPONSE),
        )
    )
    assert inner.scopes == [] and sent[0]["status"] == 403


def test_require_https_reads_wss(inner: Recorder) -> None:
    app = BasicAuth(inner, USERS, require_https=True)
    plain = run(websocket(app, scope_for("/ws", kind="websocket", scheme="ws", headers=[ADMIN])))
    assert plain == [{"type": "websocket.close", "code": 1008}]
    secure = run(websocket(app, scope_for("/ws", kind="websocket", scheme="wss", headers=[ADMIN])))
    assert secure[0] == {"type": "websocket.accept"}


def test_a_custom_unauthorized_app_is_for_http_only(inner: Recorder) -> None:
    calls: list[str] = []

    async def page(scope: dict[str, object], receive: object, send: object) -> None:
        calls.append(str(scope["type"]))

    app = BasicAuth(inner, USERS, unauthorized=page)
    sent = run(websocket(app, scope_for("/ws", kind="websocket", scheme="ws")))
    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert calls == []
