"""Router: template compilation, matching, 404/405, HEAD, errors and PEP 3333."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import webtest
from hypothesis import given
from hypothesis import strategies as st

from basicauth_wsgi.example.http import HTTPError, Request, Response, json_response
from basicauth_wsgi.example.router import Router

from .support import ROUTER, TOO_LARGE, call, error_of

# --- configuration and template compilation --------------------------------


def _noop(request: Request) -> Response:
    return Response(200)


@pytest.mark.parametrize(
    "template",
    [
        "api/v1",
        "",
        b"/bytes",
        "/a/<id>/<int:id>",
        "/a/<float:x>",
        "/a/<str:x>",
        "/a/<id",
        "/a/id>",
        "/a/<>",
        "/a/<int:>",
        "/a/<:x>",
        "/a/x<id>",
        "/a/<id>.json",
        "/a/<1x>",
        "/a/<na me>",
        "/a/<ünï>",
        "/a/\ud800",
    ],
    ids=[
        "no-leading-slash",
        "empty",
        "bytes",
        "duplicate-param",
        "unknown-converter",
        "str-converter-is-not-a-converter",
        "unclosed",
        "stray-close",
        "empty-name",
        "int-without-name",
        "empty-converter",
        "param-after-literal",
        "param-before-literal",
        "name-starts-with-digit",
        "name-with-space",
        "non-ascii-name",
        "lone-surrogate-literal",
    ],
)
def test_bad_template_raises_value_error_naming_it(template: Any) -> None:
    router = Router()
    with pytest.raises(ValueError, match="route template") as excinfo:
        router.add(template, _noop)
    assert repr(template) in str(excinfo.value)


def test_same_template_and_method_twice_raises() -> None:
    router = Router()
    router.add("/a/<int:id>", _noop, methods=["GET"])
    with pytest.raises(ValueError, match=r"'/a/<int:id>'.*GET"):
        router.add("/a/<int:id>", _noop, methods=["get"])


def test_same_method_twice_in_one_call_raises() -> None:
    with pytest.raises(ValueError, match="'/a'"):
        Router().add("/a", _noop, methods=["POST", "post"])


def test_same_template_with_another_method_is_merged() -> None:
    router = Router()
    router.add("/a", lambda request: json_response({"m": "get"}), methods=["GET"])
    router.add("/a", lambda request: json_response({"m": "put"}), methods=["PUT"])
    app = webtest.TestApp(router)
    assert app.get("/a").json == {"m": "get"}
    assert app.put("/a").json == {"m": "put"}
    assert app.post("/a", status=405).headers["Allow"] == "GET, HEAD, PUT"


def test_failed_add_leaves_router_unchanged() -> None:
    router = Router()
    router.add("/a", _noop, methods=["GET"])
    with pytest.raises(ValueError):
        router.add("/a", _noop, methods=["POST", "GET"])
    # POST was not half-registered before GET was found to clash.
    res = webtest.TestApp(router).post("/a", status=405)
    assert res.headers["Allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    ("methods", "error"),
    [("GET", TypeError), ([], ValueError), (["GE T"], ValueError), ([""], ValueError)],
    ids=["bare-string", "empty", "not-a-token", "empty-name"],
)
def test_bad_methods_rejected(methods: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="'/a'"):
        Router().add("/a", _noop, methods=methods)


def test_handler_must_be_callable() -> None:
    with pytest.raises(TypeError, match="'/a'"):
        Router().add("/a", "not a function")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [0, -1, True, 1.5, "1024", None],
    ids=["zero", "negative", "bool", "float", "string", "none"],
)
def test_max_body_size_must_be_positive_int(value: Any) -> None:
    with pytest.raises(ValueError, match="max_body_size"):
        Router(max_body_size=value)


def test_default_max_body_size_is_one_mebibyte() -> None:
    assert Router().max_body_size == 1 << 20


def test_route_decorator_returns_handler_unchanged() -> None:
    router = Router()

    def handler(request: Request) -> Response:
        return json_response({"ok": True})

    assert router.route("/x")(handler) is handler
    assert webtest.TestApp(router).get("/x").json == {"ok": True}


# --- matching -----------------------------------------------------------------


def test_static_route(app: webtest.TestApp) -> None:
    res = app.get("/health")
    assert res.status_int == 200
    assert res.content_type == "application/json"
    assert res.json == {"status": "ok"}


def test_int_param_is_converted(app: webtest.TestApp) -> None:
    assert app.get("/items/0042").json == {"id": 42, "type": "int"}


@pytest.mark.parametrize(
    "segment",
    ["abc", "4a", "-1", "+1", "1.0", "1_000", "%201", "%D9%A3", "%C2%B2", "%B2", "9" * 5000],
    ids=[
        "letters",
        "trailing-letter",
        "negative",
        "plus-sign",
        "decimal",
        "underscore",
        "leading-space",
        "arabic-indic-digit",
        "superscript-two",
        "latin1-superscript-byte",
        "beyond-int-digit-limit",
    ],
)
def test_int_param_rejects_non_ascii_digits_with_404(app: webtest.TestApp, segment: str) -> None:
    res = app.get(f"/items/{segment}", status=404)
    assert error_of(res.body) == "not_found"


def test_int_param_rejects_unicode_digits_from_a_lax_server() -> None:
    # A server breaking PEP 3333 could put "٣" (ARABIC-INDIC DIGIT THREE)
    # in PATH_INFO; int() would take it, the converter must not.
    status, _, _ = call({"PATH_INFO": "/items/\u0663"}, validate=False)
    assert status == "404 Not Found"


@pytest.mark.parametrize(
    ("segment", "expected"),
    [
        ("alice", "alice"),
        ("J%C3%BCrgen", "Jürgen"),
        ("%E2%82%AC", "€"),
        ("%F0%9F%98%80", "😀"),
        ("a%20b", "a b"),
        ("%3Cb%3E", "<b>"),
    ],
    ids=["ascii", "umlaut", "euro", "emoji", "space", "angle-brackets"],
)
def test_str_param_is_utf8_decoded(app: webtest.TestApp, segment: str, expected: str) -> None:
    assert app.get(f"/users/{segment}").json == {"name": expected}


@pytest.mark.parametrize(
    "path",
    ["/users/%FF", "/users/%C3", "/users/%C3%28", "/users/%ED%A0%80"],
    ids=["invalid-byte", "truncated-sequence", "bad-continuation", "encoded-surrogate"],
)
def test_str_param_not_utf8_is_404(app: webtest.TestApp, path: str) -> None:
    assert error_of(app.get(path, status=404).body) == "not_found"


@pytest.mark.parametrize(
    "path",
    ["/users/", "/users/a/b", "/users"],
    ids=["empty-segment", "two-segments", "missing-segment"],
)
def test_str_param_is_exactly_one_nonempty_segment(app: webtest.TestApp, path: str) -> None:
    app.get(path, status=404)


def test_non_ascii_literal_template_matches_utf8_path(app: webtest.TestApp) -> None:
    assert app.get("/caf%C3%A9").json == {"cafe": True}
    app.get("/caf%E9", status=404)  # latin-1 é is not the UTF-8 the template means


@pytest.mark.parametrize(
    "path", ["/health/", "/health//", "//health"], ids=["trailing", "double-trailing", "leading"]
)
def test_slashes_are_significant(app: webtest.TestApp, path: str) -> None:
    app.get(path, status=404)


def test_static_route_wins_over_template(app: webtest.TestApp) -> None:
    assert app.get("/users/me").json == {"me": True}
    assert app.get("/users/mo").json == {"name": "mo"}


def test_later_template_serves_method_an_earlier_one_lacks(app: webtest.TestApp) -> None:
    assert app.get("/things/1").json == {"by": "id"}
    assert app.post("/things/1").json == {"by": "slug"}


def test_matching_uses_path_info_not_script_name() -> None:
    status, _, body = call({"SCRIPT_NAME": "/mounted", "PATH_INFO": "/where"})
    assert status == "200 OK"
    assert json.loads(body) == {"path": "/where", "script_name": "/mounted"}
    status, _, _ = call({"SCRIPT_NAME": "", "PATH_INFO": "/mounted/where"})
    assert status.startswith("404")


def test_empty_path_info_is_404() -> None:
    status, _, body = call({"SCRIPT_NAME": "/health", "PATH_INFO": ""})
    assert status == "404 Not Found"
    assert error_of(body) == "not_found"


def test_not_found_body(app: webtest.TestApp) -> None:
    res = app.get("/nope", status=404)
    assert res.content_type == "application/json"
    assert res.json["error"] == "not_found"
    assert "/nope" not in res.json["message"]  # the client's input is not reflected
    assert res.headers["Content-Length"] == str(len(res.body))


def test_method_not_allowed_has_allow_with_head(app: webtest.TestApp) -> None:
    res = app.post("/items/3", status=405)
    # RFC 9110 §15.5.6: Allow is mandatory on a 405; HEAD comes with GET.
    assert res.headers["Allow"] == "DELETE, GET, HEAD"
    assert res.json["error"] == "method_not_allowed"


def test_method_not_allowed_without_get_has_no_head(app: webtest.TestApp) -> None:
    res = app.get("/echo", status=405)
    assert res.headers["Allow"] == "POST"


def test_allow_unites_every_matching_route(app: webtest.TestApp) -> None:
    res = app.delete("/things/1", status=405)
    assert res.headers["Allow"] == "GET, HEAD, POST"
    # A slug that is not an int only matches the second template.
    assert app.delete("/things/x", status=405).headers["Allow"] == "POST"


def test_path_that_converts_nowhere_is_404_not_405(app: webtest.TestApp) -> None:
    assert app.delete("/items/x", status=404).json["error"] == "not_found"


def test_request_method_is_case_sensitive() -> None:
    # RFC 9110 §9.1: methods are case-sensitive; only registration upper-cases.
    status, headers, _ = call({"REQUEST_METHOD": "get", "PATH_INFO": "/health"}, validate=False)
    assert status == "405 Method Not Allowed"
    assert headers["allow"] == "GET, HEAD"


# --- HEAD -----------------------------------------------------------------------


def test_head_is_served_by_get(app: webtest.TestApp) -> None:
    got = app.get("/items/5")
    head = app.head("/items/5")
    assert head.status_int == 200
    assert head.body == b""
    assert list(head.headers.items()) == list(got.headers.items())
    assert head.headers["Content-Length"] == str(len(got.body))
    assert head.headers["X-Item"] == "5"


def test_head_handler_sees_head_method() -> None:
    _, headers, body = call({"REQUEST_METHOD": "HEAD", "PATH_INFO": "/method"})
    assert body == b""
    assert headers["content-length"] == str(len(b'{"method":"HEAD"}'))


def test_explicit_head_route_wins_over_get(app: webtest.TestApp) -> None:
    res = app.head("/explicit-head")
    assert res.headers["X-From"] == "head"
    assert res.headers["Content-Length"] == "0"


def test_head_error_has_no_body() -> None:
    status, headers, body = call({"REQUEST_METHOD": "HEAD", "PATH_INFO": "/nope"})
    assert status == "404 Not Found"
    assert body == b""
    assert int(headers["content-length"]) > 0


# --- errors ---------------------------------------------------------------------


def test_http_error_renders_extra_and_headers(app: webtest.TestApp) -> None:
    res = app.get("/conflict", status=409)
    assert res.headers["X-Reason"] == "dup"
    assert res.content_type == "application/json"
    assert list(res.json.items()) == [
        ("error", "duplicate_email"),
        ("message", "A subscriber with this email already exists."),
        ("field", "email"),
        ("ids", [1, 2]),
    ]


@pytest.mark.parametrize("key", ["error", "message"])
def test_http_error_extra_cannot_replace_error_fields(key: str) -> None:
    with pytest.raises(ValueError, match="extra"):
        HTTPError(400, "bad", "Bad.", extra={key: "x"})


@pytest.mark.parametrize("status", [200, 302, 399, 600], ids=str)
def test_http_error_status_must_be_an_error(status: int) -> None:
    with pytest.raises(ValueError, match="status"):
        HTTPError(status, "bad", "Bad.")


def test_http_error_is_an_exception_with_its_message() -> None:
    error = HTTPError(404, "not_found", "Nothing here.")
    assert isinstance(error, Exception)
    assert str(error) == "Nothing here."


def test_unexpected_exception_is_500_json_and_logged(
    app: webtest.TestApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="basicauth_wsgi.router")
    res = app.get("/boom", status=500)
    assert res.json["error"] == "internal_error"
    assert "secret-token-123" not in res.text
    assert "Traceback" not in res.text
    [record] = [r for r in caplog.records if r.name == "basicauth_wsgi.router"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert record.exc_info[0] is RuntimeError
    assert "/boom" in record.getMessage()


def test_handler_returning_non_response_is_500_and_logged(
    app: webtest.TestApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="basicauth_wsgi.router")
    res = app.get("/not-a-response", status=500)
    assert res.json["error"] == "internal_error"
    assert any(
        r.exc_info and r.exc_info[0] is TypeError and "not Response" in str(r.exc_info[1])
        for r in caplog.records
    )


# --- PEP 3333 and concurrency -------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "environ", "expected"),
    [
        ("GET", "/health", {}, "200 OK"),
        ("HEAD", "/health", {}, "200 OK"),
        ("GET", "/items/9", {"QUERY_STRING": "x=1"}, "200 OK"),
        ("DELETE", "/items/9", {}, "204 No Content"),
        ("GET", "/sloppy-204", {}, "204 No Content"),
        ("GET", "/custom", {}, "200 OK"),
        ("GET", "/untyped", {}, "200 OK"),
        ("GET", "/nope", {}, "404 Not Found"),
        ("PUT", "/health", {}, "405 Method Not Allowed"),
        ("GET", "/conflict", {}, "409 Conflict"),
        ("GET", "/boom", {}, "500 Internal Server Error"),
        ("GET", "/query", {"QUERY_STRING": "a=%FF"}, "400 Bad Request"),
        ("POST", "/echo", {"CONTENT_TYPE": "text/plain"}, "415 Unsupported Media Type"),
        (
            "POST",
            "/echo",
            {"CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "999"},
            TOO_LARGE,
        ),
    ],
    ids=[
        "ok",
        "head",
        "param-and-query",
        "no-content",
        "sloppy-no-content",
        "custom-headers",
        "untyped",
        "not-found",
        "method-not-allowed",
        "http-error",
        "internal-error",
        "bad-query",
        "unsupported-media-type",
        "too-large",
    ],
)
def test_wsgiref_validator_is_clean(
    method: str, path: str, environ: dict[str, str], expected: str
) -> None:
    status, headers, body = call({"REQUEST_METHOD": method, "PATH_INFO": path, **environ})
    assert status == expected
    if expected.startswith("204"):
        assert "content-length" not in headers
    elif method != "HEAD":
        assert headers["content-length"] == str(len(body))


def test_concurrent_requests_get_their_own_params() -> None:
    app = webtest.TestApp(ROUTER)

    def fetch(n: int) -> int:
        return int(app.get(f"/items/{n}").json["id"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(fetch, range(200))) == list(range(200))


# --- properties -------------------------------------------------------------------

_segment_text = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="/"),
    min_size=1,
).filter(lambda s: s != "me")


@given(_segment_text)
def test_any_utf8_segment_round_trips(name: str) -> None:
    path_info = "/users/" + name.encode().decode("latin-1")
    status, _, body = call({"PATH_INFO": path_info}, validate=False)
    assert status == "200 OK"
    assert json.loads(body) == {"name": name}


@given(st.integers(min_value=0, max_value=10**40))
def test_any_non_negative_int_round_trips(number: int) -> None:
    status, _, body = call({"PATH_INFO": f"/items/{number}"}, validate=False)
    assert status == "200 OK"
    assert json.loads(body) == {"id": number, "type": "int"}
