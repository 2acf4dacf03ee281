"""The 401 body negotiated by Accept (JSON, HTML, text) and a custom renderer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pytest
from helpers import CHALLENGE, Recorder, auth, make

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


# -- negotiated bodies ----------------------------------------------------

NEGOTIATION = [
    ({"Accept": "application/json"}, "application/json", "json"),
    ({"Accept": "application/json, text/plain, */*"}, "application/json", "axios-default"),
    ({"Accept": "application/problem+json"}, "application/json", "json-suffix"),
    ({"Content-Type": "application/json"}, "application/json", "json-request"),
    (
        {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
        "text/html; charset=utf-8",
        "browser",
    ),
    ({"Accept": "text/html;q=0.5, application/json"}, "application/json", "q-values"),
    ({"Accept": "application/json;q=0, text/html"}, "text/html; charset=utf-8", "q-zero"),
    ({"Accept": "*/*"}, "text/plain; charset=utf-8", "curl-default"),
    ({}, "text/plain; charset=utf-8", "no-accept"),
    ({"Accept": "image/png"}, "text/plain; charset=utf-8", "unrelated"),
]


@pytest.mark.parametrize(
    ("headers", "content_type"), [n[:2] for n in NEGOTIATION], ids=[n[2] for n in NEGOTIATION]
)
def test_401_body_is_negotiated(
    inner: Recorder, headers: dict[str, str], content_type: str
) -> None:
    method = "post" if "Content-Type" in headers else "get"
    kwargs: dict[str, Any] = {"headers": headers, "status": 401}
    if method == "post":
        kwargs["params"] = b"{}"
    res = getattr(make(inner), method)("/", **kwargs)
    assert res.headers["Content-Type"] == content_type
    assert res.headers["Content-Length"] == str(len(res.body))
    assert res.headers["Vary"] == "Accept"


def test_json_401_body(inner: Recorder) -> None:
    res = make(inner).get("/", headers={"Accept": "application/json"}, status=401)
    assert res.json["error"] == "unauthorized"
    assert res.json["message"]
    assert set(res.json) == {"error", "message"}


def test_html_401_body_is_a_small_page(inner: Recorder) -> None:
    res = make(inner).get("/", headers={"Accept": "text/html"}, status=401)
    assert res.body.startswith(b"<!DOCTYPE html>")
    assert b"401 Unauthorized" in res.body


def test_plain_401_body(inner: Recorder) -> None:
    res = make(inner).get("/", status=401)
    assert res.text.startswith("401 Unauthorized: ")


def test_head_401_has_no_body_but_the_get_length(inner: Recorder) -> None:
    app = make(inner)
    got = app.get("/", headers={"Accept": "application/json"}, status=401)
    head = app.head("/", headers={"Accept": "application/json"}, status=401)
    assert head.body == b""
    assert head.headers["Content-Length"] == got.headers["Content-Length"] != "0"
    assert head.headers["WWW-Authenticate"] == CHALLENGE


# -- custom 401 renderer --------------------------------------------------


def test_custom_unauthorized_app_gets_the_challenge_added(inner: Recorder) -> None:
    def render(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = b"please log in"
        start_response(
            "401 Unauthorized", [("Content-Type", "text/plain"), ("Content-Length", "13")]
        )
        return [body]

    res = make(inner, unauthorized=render).get("/", status=401)
    assert res.body == b"please log in"
    assert res.headers["WWW-Authenticate"] == CHALLENGE
    assert res.headers["Cache-Control"] == "no-store"


def test_custom_unauthorized_app_cannot_turn_a_401_into_a_success(inner: Recorder) -> None:
    def render(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        assert "HTTP_AUTHORIZATION" not in environ
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    res = make(inner, unauthorized=render).get("/", headers=auth("admin", "bad"), status=401)
    assert res.headers["WWW-Authenticate"] == CHALLENGE
    assert inner.calls == []


def test_the_html_pages_fit_a_phone() -> None:
    from basicauth_wsgi.responses import HTML, Pages

    pages = Pages('Basic realm="x"')
    assert b'<meta name="viewport" content="width=device-width">' in pages.unauthorized.body(HTML)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(1, "1 second"), (42, "42 seconds"), (330, "6 minutes"), (95041, "27 hours")],
    ids=["one-second", "seconds", "minutes", "hours"],
)
def test_the_429_page_says_how_long_to_wait(seconds: int, words: str) -> None:
    from basicauth_wsgi.responses import TEXT, Pages

    body = Pages('Basic realm="x"').throttled(seconds).body(TEXT).decode()
    assert f"try again in {words}." in body
