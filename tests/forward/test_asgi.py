"""ForwardAuth for ASGI: the WSGI service's answers on an event loop, in process and on uvicorn."""

from __future__ import annotations

import asyncio
import http.client
import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import webtest
from helpers import ROOT, LiveServer, basic

from basicauth_wsgi import Throttle
from basicauth_wsgi.forward import ForwardAuth as WsgiForwardAuth
from basicauth_wsgi.forward.asgi import ForwardAuth

from ..asgi.support import call, run, uvicorn_binary

USERS = {"alice": "alice-pw", "bob": "bob-pw"}
OPTIONS: dict[str, Any] = {
    "trusted_proxies": ["127.0.0.1"],
    "exclude": ["/public/"],
    "groups": {"staff": ["alice"]},
}
ALICE = basic("alice", "alice-pw")
TRAEFIK = {"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https",
           "X-Forwarded-Host": "app.example", "X-Forwarded-For": "203.0.113.9"}  # fmt: skip
NGINX = {"X-Original-Method": "GET", "X-Forwarded-For": "203.0.113.9"}

# (headers, peer): each answered alike by both doors.
CASES = [
    ({**TRAEFIK, "X-Forwarded-Uri": "/public/x"}, "127.0.0.1"),
    ({**TRAEFIK, "X-Forwarded-Uri": "/private", "Authorization": ALICE}, "127.0.0.1"),
    ({**TRAEFIK, "X-Forwarded-Uri": "/public/../private"}, "127.0.0.1"),
    ({**TRAEFIK, "X-Forwarded-Uri": "/private", "Accept": "application/json"}, "127.0.0.1"),
    ({**NGINX, "X-Original-URI": "/public/%2e%2e/private"}, "127.0.0.1"),
    ({**NGINX, "X-Original-URI": "/x", "X-Forwarded-Uri": "/public/"}, "127.0.0.1"),
    ({**TRAEFIK, "X-Forwarded-Uri": "/x", "X.Forwarded.Uri": "/public/"}, "127.0.0.1"),
    ({**TRAEFIK, "X-Forwarded-Uri": "/x", "Authorization": ALICE}, "192.0.2.7"),
    ({"X-Forwarded-Uri": "/x", "X-Forwarded-Method": "GET"}, "127.0.0.1"),
]


def comparable(status: int, headers: list[tuple[str, str]], body: bytes) -> tuple[Any, ...]:
    kept = sorted((n.lower(), v) for n, v in headers if n.lower() != "content-length")
    return status, kept, body


@pytest.mark.parametrize(("headers", "peer"), CASES)
def test_both_doors_answer_alike(headers: dict[str, str], peer: str) -> None:
    wsgi = webtest.TestApp(WsgiForwardAuth(USERS, **OPTIONS), extra_environ={"REMOTE_ADDR": peer})
    expected = wsgi.get("/", headers=headers, expect_errors=True)
    got = call(ForwardAuth(USERS, **OPTIONS), headers=headers.items(), client=(peer, 5000))
    assert comparable(got.status, [(n.decode(), v.decode("latin-1")) for n, v in got.headers],
                      got.body) == comparable(expected.status_int, expected.headerlist,
                                              expected.body)  # fmt: skip


@pytest.mark.parametrize(
    "alias", ["x_forwarded_uri", "X_Forwarded_Uri", "remote_user", "x-forwarded_for"]
)
def test_an_underscore_alias_is_seen_and_refused(alias: str) -> None:
    # ASGI hands names over raw: what waitress would drop unseen is refused here.
    headers = {**TRAEFIK, "X-Forwarded-Uri": "/private", "Authorization": ALICE, alias: "/public/"}
    answer = call(ForwardAuth(USERS, **OPTIONS), headers=headers.items(), client=("127.0.0.1", 1))
    assert answer.status == 400 and answer.header("remote-user") is None
    assert answer.header("x-basicauth-status") == "400"


def test_two_copies_of_a_fact_are_refused() -> None:
    headers = [*TRAEFIK.items(), ("X-Forwarded-Uri", "/private"), ("X-Forwarded-Uri", "/public/")]
    answer = call(ForwardAuth(USERS, **OPTIONS), headers=headers, client=("127.0.0.1", 1))
    assert answer.status == 400


def test_envoy_reads_the_scope_path_after_the_prefix() -> None:
    app = ForwardAuth(USERS, **OPTIONS, style="envoy", path_prefix="/authz")
    headers = [("X-Forwarded-For", "203.0.113.9"), ("Authorization", ALICE)]
    granted = call(app, "/authz/private", method="DELETE", headers=headers, client=("127.0.0.1", 1))
    assert granted.status == 200 and granted.header("remote-user") == "alice"
    public = call(app, "/authz/public/x", headers=headers[:1], client=("127.0.0.1", 1))
    assert public.status == 200 and public.header("remote-user") == ""
    dotted = call(app, "/authz/public/%2e%2e/private", headers=headers[:1], client=("127.0.0.1", 1))
    assert dotted.status == 401


def test_lifespan_completes_and_a_websocket_is_closed() -> None:
    app = ForwardAuth(USERS, **OPTIONS)
    sent: list[dict[str, Any]] = []

    async def drive(kind: str, inbox: list[dict[str, Any]]) -> None:
        async def receive() -> dict[str, Any]:
            return inbox.pop(0)

        async def send(message: Any) -> None:
            sent.append(dict(message))

        await asyncio.wait_for(app({"type": kind}, receive, send), 10)

    run(drive("lifespan", [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]))
    run(drive("websocket", [{"type": "websocket.connect"}]))
    assert [m["type"] for m in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
        "websocket.close",
    ]


def test_429_goes_out_as_403_for_nginx_on_the_loop() -> None:
    app = ForwardAuth(USERS, **OPTIONS, throttle=Throttle(per_client=1, per_user=0))
    wrong = [*NGINX.items(), ("X-Original-URI", "/x"), ("Authorization", basic("alice", "no"))]
    assert call(app, headers=wrong, client=("127.0.0.1", 1)).status == 401
    right = [*wrong[:-1], ("Authorization", ALICE)]
    blocked = call(app, headers=right, client=("127.0.0.1", 1))
    assert (blocked.status, blocked.header("x-basicauth-status")) == (403, "429")
    assert blocked.header("retry-after") is not None


APP = """
from basicauth_wsgi.forward.asgi import ForwardAuth
app = ForwardAuth({"alice": "alice-pw"}, trusted_proxies=["127.0.0.1"], exclude=["/public/"])
"""


@pytest.fixture(scope="module")
def uvicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("forward-uvicorn")
    (folder / "forwardapp.py").write_text(APP)
    # uvicorn's --proxy-headers (on by default) would make the client of
    # X-Forwarded-For the peer: the service must see the proxy itself.
    uvicorn_binary()
    live = LiveServer(
        ["--host", "127.0.0.1", "--port", "0", "--no-access-log", "--no-proxy-headers",
         "forwardapp:app"],
        cwd=folder,
        env={"PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)])},
        command=[sys.executable, "-m", "uvicorn"],
        listening=r"Uvicorn running on http://127\.0\.0\.1:(\d+)",
        password="",
    )  # fmt: skip
    try:
        yield live
    finally:
        live.stop()


def ask(port: int, headers: list[tuple[str, str]]) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("GET", "/", skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        response.read()
        return response
    finally:
        conn.close()


def test_over_uvicorn_a_login_is_answered_and_an_underscore_alias_refused(
    uvicorn: LiveServer,
) -> None:
    facts = [*TRAEFIK.items(), ("X-Forwarded-Uri", "/private")]
    granted = ask(uvicorn.port, [*facts, ("Authorization", ALICE)])
    assert granted.status == 200 and granted.getheader("remote-user") == "alice"
    assert ask(uvicorn.port, facts).status == 401
    forged = ask(uvicorn.port, [*TRAEFIK.items(), ("X-Forwarded-Uri", "/private"),
                                ("X_Forwarded_Uri", "/public/x")])  # fmt: skip
    assert forged.status == 400
    public = ask(uvicorn.port, [*TRAEFIK.items(), ("X-Forwarded-Uri", "/public/x")])
    assert public.status == 200 and public.getheader("remote-user") == ""
