"""Tests for basicauth_wsgi.router: templates, dispatch, JSON bodies and errors."""

from __future__ import annotations

import io
import json
import logging
import warnings
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import WSGIWarning, validator

import pytest
import webtest
from hypothesis import given
from hypothesis import strategies as st

from basicauth_wsgi.router import (
    HTTPError,
    Request,
    Response,
    Router,
    json_response,
)

LIMIT = 64  # small body limit so 413 tests need no megabyte bodies
# The 413 reason phrase changed with RFC 9110 (Python 3.13); take the running one.
TOO_LARGE = f"413 {HTTPStatus(413).phrase}"


# --- the application under test ---------------------------------------------


def make_router(max_body_size: int = LIMIT) -> Router:
    router = Router(max_body_size=max_body_size)

    @router.route("/health")
    def health(request: Request) -> Response:
        return json_response({"status": "ok"})

    @router.route("/items/<int:id>", methods=["GET", "delete"])
    def item(request: Request) -> Response:
        if request.method == "DELETE":
            return json_response(None, status=204)
        item_id = request.params["id"]
        return json_response(
            {"id": item_id, "type": type(item_id).__name__},
            headers=[("X-Item", str(item_id))],
        )

    @router.route("/users/me")
    def me(request: Request) -> Response:
        return json_response({"me": True})

    @router.route("/users/<name>")
    def user(request: Request) -> Response:
        return json_response({"name": request.params["name"]})

    # Two templates that both match /things/1: GET belongs to the first, POST
    # to the second.
    @router.route("/things/<int:id>")
    def thing_by_id(request: Request) -> Response:
        return json_response({"by": "id"})

    @router.route("/things/<slug>", methods=["POST"])
    def thing_by_slug(request: Request) -> Response:
        return json_response({"by": "slug"})

    @router.route("/café")
    def cafe(request: Request) -> Response:
        return json_response({"cafe": True})

    @router.route("/echo", methods=["POST"])
    def echo(request: Request) -> Response:
        return json_response({"json": request.json()})

    @router.route("/echo-twice", methods=["POST"])
    def echo_twice(request: Request) -> Response:
        first = request.json()
        return json_response({"same": first is request.json()})

    @router.route("/query")
    def query(request: Request) -> Response:
        return json_response({"query": request.query, "same": request.query is request.query})

    @router.route("/whoami")
    def whoami(request: Request) -> Response:
        return json_response({"user": request.remote_user})

    @router.route("/where")
    def where(request: Request) -> Response:
        return json_response({"path": request.path, "script_name": request.script_name})

    @router.route("/method")
    def method(request: Request) -> Response:
        return json_response({"method": request.method})

    @router.route("/explicit-head", methods=["GET"])
    def explicit_get(request: Request) -> Response:
        return json_response({"from": "get"})

    @router.route("/explicit-head", methods=["HEAD"])
    def explicit_head(request: Request) -> Response:
        return Response(200, b"", [("Content-Type", "text/plain"), ("X-From", "head")])

    @router.route("/conflict")
    def conflict(request: Request) -> Response:
        raise HTTPError(
            409,
            "duplicate_email",
            "A subscriber with this email already exists.",
            headers=[("X-Reason", "dup")],
            extra={"field": "email", "ids": [1, 2]},
        )

    @router.route("/boom")
    def boom(request: Request) -> Response:
        raise RuntimeError("secret-token-123")

    @router.route("/not-a-response")
    def not_a_response(request: Request) -> Response:
        return "hello"  # type: ignore[return-value]

    @router.route("/custom")
    def custom(request: Request) -> Response:
        headers = [("Content-Type", "text/plain"), ("Content-Length", "99"), ("X-Custom", "1")]
        return Response(200, b"abc", headers)

    @router.route("/untyped")
    def untyped(request: Request) -> Response:
        return Response(200, b"x")

    @router.route("/sloppy-204")
    def sloppy_204(request: Request) -> Response:
        headers = [("Content-Type", "text/plain"), ("Content-Length", "4"), ("X-Kept", "1")]
        return Response(204, b"oops", headers)

    @router.route("/created", methods=["POST"])
    def created(request: Request) -> Response:
        return json_response({"id": 7}, status=201, headers=[("Location", "/items/7")])

    return router


ROUTER = make_router()  # one shared instance: the router must be stateless per request


@pytest.fixture
def app() -> webtest.TestApp:
    return webtest.TestApp(ROUTER)


# --- direct WSGI calls through wsgiref.validate -------------------------------


class CountingInput(io.BytesIO):
    """A wsgi.input that counts reads, can hand out one byte at a time, or refuse."""

    def __init__(self, data: bytes = b"", *, explode: bool = False, trickle: bool = False):
        super().__init__(data)
        self.reads = 0
        self.bytes_read = 0
        self.explode = explode
        self.trickle = trickle

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        if self.explode:
            raise AssertionError("wsgi.input must not be read")
        if self.trickle and size is not None and size > 1:
            size = 1
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


Result = tuple[str, dict[str, str], bytes]


def call(environ: dict[str, Any], *, app: Router = ROUTER, validate: bool = True) -> Result:
    """Call ``app`` with a hand-built environ; return status, headers, body.

    With ``validate`` the app is wrapped in ``wsgiref.validate.validator`` and
    its warnings are errors, so any PEP 3333 slip fails the test.
    """
    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        **environ,
    }
    setup_testing_defaults(environ)
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen["status"], seen["headers"] = status, headers
        return lambda data: None

    wrapped = validator(app) if validate else app
    with warnings.catch_warnings():
        warnings.simplefilter("error", WSGIWarning)
        result = wrapped(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    names = [name.lower() for name, _ in seen["headers"]]
    assert len(names) == len(set(names)), f"duplicate headers: {seen['headers']}"
    return seen["status"], {k.lower(): v for k, v in seen["headers"]}, body


def post(
    stream: CountingInput,
    content_length: str | None,
    content_type: str | None = "application/json",
    *,
    app: Router = ROUTER,
    path: str = "/echo",
    validate: bool = True,
) -> Result:
    """POST ``stream`` to ``path``; ``None`` leaves that variable out of the environ."""
    environ: dict[str, Any] = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "wsgi.input": stream}
    if content_type is not None:
        environ["CONTENT_TYPE"] = content_type
    if content_length is not None:
        environ["CONTENT_LENGTH"] = content_length
    return call(environ, app=app, validate=validate)


def post_json(
    body: bytes,
    content_type: str | None = "application/json",
    *,
    app: Router = ROUTER,
    with_length: bool = True,
) -> Result:
    length = str(len(body)) if with_length else None
    return post(CountingInput(body), length, content_type, app=app)


def error_of(body: bytes) -> str:
    document = json.loads(body)
    assert isinstance(document["message"], str)
    assert document["message"]
    return str(document["error"])


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


# --- JSON request bodies ------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/json;charset=UTF-8",
        "  application/json  ",
        "application/vnd.api+json",
        "application/problem+json; charset=utf-8",
        "APPLICATION/MERGE-PATCH+JSON",
    ],
    ids=[
        "plain",
        "charset",
        "upper-case",
        "no-space-before-param",
        "padded",
        "vendor-suffix",
        "suffix-with-param",
        "suffix-upper-case",
    ],
)
def test_json_content_types_accepted(content_type: str) -> None:
    status, _, body = post_json(b'{"a": [1, "\xc3\xa9"]}', content_type)
    assert status == "200 OK"
    assert json.loads(body) == {"json": {"a": [1, "é"]}}


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "text/plain",
        "text/json",
        "application/jsonx",
        "application/+json",
        "application/json+xml",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/ json",
    ],
    ids=[
        "absent",
        "empty",
        "text-plain",
        "text-json",
        "jsonx",
        "bare-suffix",
        "json-then-suffix",
        "form",
        "multipart",
        "space-in-type",
    ],
)
def test_other_content_types_get_415_without_reading(content_type: str | None) -> None:
    stream = CountingInput(b"{}", explode=True)
    status, headers, body = post(stream, "2", content_type)
    assert status == "415 Unsupported Media Type"
    assert error_of(body) == "unsupported_media_type"
    assert headers["accept"] == "application/json"  # RFC 9110 §15.5.16
    assert stream.reads == 0


@pytest.mark.parametrize(
    "content_length",
    [str(LIMIT + 1), "1" + "0" * 30, "9" * 5000],
    ids=["one-over", "huge", "beyond-int-digit-limit"],
)
def test_413_from_content_length_does_not_read_body(content_length: str) -> None:
    stream = CountingInput(explode=True)
    # wsgiref.validate itself runs int() on CONTENT_LENGTH and trips the digit limit.
    status, _, body = post(stream, content_length, validate=len(content_length) < 4000)
    assert status == TOO_LARGE
    assert error_of(body) == "payload_too_large"
    assert str(LIMIT) in json.loads(body)["message"]
    assert stream.reads == 0


def test_413_without_content_length_reads_at_most_limit_plus_one() -> None:
    stream = CountingInput(b"[" + b"1," * LIMIT + b"1]")
    status, _, body = post(stream, None)
    assert status == TOO_LARGE
    assert error_of(body) == "payload_too_large"
    assert stream.bytes_read == LIMIT + 1


@pytest.mark.parametrize("with_length", [True, False], ids=["content-length", "no-length"])
def test_body_exactly_at_limit_is_accepted(with_length: bool) -> None:
    document = b'"' + b"x" * (LIMIT - 2) + b'"'
    assert len(document) == LIMIT
    status, _, body = post_json(document, with_length=with_length)
    assert status == "200 OK"
    assert json.loads(body) == {"json": "x" * (LIMIT - 2)}


def test_content_length_with_leading_zeros_is_read_as_decimal() -> None:
    stream = CountingInput(b"[1]")
    # validate=False: wsgiref.validate runs int() on CONTENT_LENGTH and trips the digit limit.
    status, _, body = post(stream, "0" * 5000 + "3", validate=False)
    assert status == "200 OK"
    assert json.loads(body) == {"json": [1]}


@pytest.mark.parametrize(
    "content_length",
    ["abc", "-1", "+3", " 3", "3 ", "1e3", "0x3", "3.0", "\u0661"],
    ids=[
        "letters",
        "negative",
        "plus-sign",
        "leading-space",
        "trailing-space",
        "exponent",
        "hex",
        "decimal",
        "arabic-indic-digit",
    ],
)
def test_invalid_content_length_is_400(content_length: str) -> None:
    stream = CountingInput(b"[1]", explode=True)
    # validate=False: wsgiref.validate would reject these before the router saw them.
    status, _, body = post(stream, content_length, validate=False)
    assert status == "400 Bad Request"
    assert error_of(body) == "invalid_content_length"
    assert stream.reads == 0


def test_body_shorter_than_content_length_is_400() -> None:
    status, _, body = post(CountingInput(b"[1]"), "10")
    assert status == "400 Bad Request"
    assert error_of(body) == "incomplete_body"


def test_short_reads_are_reassembled() -> None:
    stream = CountingInput(b'{"k": "value"}', trickle=True)
    status, _, body = post(stream, "14")
    assert status == "200 OK"
    assert json.loads(body) == {"json": {"k": "value"}}
    assert stream.bytes_read == 14


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"", "empty"),
        (b"{", "line 1, column 2"),
        (b'{\n  "a": 1,\n}', "line 3, column 1"),
        (b"{'a': 1}", "property name"),
        (b"[1,]", "line 1"),
        (b"1 2", "Extra data"),
        (b"\xff\xfe", "UTF-8"),
        (b'"caf\xe9"', "UTF-8"),
        (b'\xef\xbb\xbf{"a": 1}', "BOM"),
        (b"1" * 5000, "too long"),
        (b"[" * 60_000, "nested too deeply"),
    ],
    ids=[
        "empty-body",
        "unterminated-object",
        "trailing-comma-in-object",
        "single-quotes",
        "trailing-comma-in-array",
        "two-documents",
        "not-utf8",
        "latin1-text",
        "utf8-bom",
        "integer-beyond-digit-limit",
        "deeply-nested",
    ],
)
def test_malformed_json_is_400(payload: bytes, fragment: str) -> None:
    router = make_router(max_body_size=1 << 20)
    status, _, body = post_json(payload, app=router)
    assert status == "400 Bad Request"
    assert error_of(body) == "malformed_json"
    assert fragment in json.loads(body)["message"]


@pytest.mark.parametrize(
    "payload",
    [b"NaN", b"Infinity", b"-Infinity", b'{"x": [1, NaN]}'],
    ids=["nan", "infinity", "negative-infinity", "nested-nan"],
)
def test_nan_and_infinity_are_rejected(payload: bytes) -> None:
    status, _, body = post_json(payload)
    assert status == "400 Bad Request"
    assert error_of(body) == "malformed_json"
    assert "is not allowed" in json.loads(body)["message"]


@pytest.mark.parametrize(
    "payload",
    [b'"\\ud800"', b'"\\uDC00x"', b'{"\\ud83d": 1}', b'[[{"a": ["\\udfff"]}]]'],
    ids=["lone-high", "lone-low", "in-key", "nested"],
)
def test_unpaired_surrogate_escape_is_rejected(payload: bytes) -> None:
    status, _, body = post_json(payload)
    assert status == "400 Bad Request"
    assert "surrogate" in json.loads(body)["message"]


def test_surrogate_pair_escape_is_accepted() -> None:
    status, _, body = post_json(b'"\\ud83d\\ude00 \\u00e9"')
    assert status == "200 OK"
    assert json.loads(body) == {"json": "😀 é"}
    assert "😀".encode() in body  # ensure_ascii=False: sent as UTF-8, not escaped


def test_json_is_read_once_and_cached() -> None:
    stream = CountingInput(b'{"a": 1}')
    status, _, body = post(stream, "8", path="/echo-twice")
    assert status == "200 OK"
    assert json.loads(body) == {"same": True}
    assert stream.bytes_read == 8


def test_json_error_is_cached_without_rereading() -> None:
    stream = CountingInput(b"{oops")
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "application/json",
        "wsgi.input": stream,
    }
    request = Request(environ)
    for _ in range(2):
        with pytest.raises(HTTPError) as excinfo:
            request.json()
        assert excinfo.value.status == 400
    assert stream.reads == 2  # one read for the body, one to see end of input
    assert stream.bytes_read == 5


def test_request_json_uses_its_own_limit() -> None:
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": "3",
        "wsgi.input": CountingInput(b"[1]", explode=True),
    }
    with pytest.raises(HTTPError) as excinfo:
        Request(environ, max_body_size=2).json()
    assert (excinfo.value.status, excinfo.value.error) == (413, "payload_too_large")


# --- query string and environ -------------------------------------------------


def test_query_is_parsed_with_blank_values(app: webtest.TestApp) -> None:
    res = app.get("/query?a=1&a=2&b=&c&d=x+y&e=%E2%82%AC&%C3%A9=k")
    assert res.json["query"] == {
        "a": ["1", "2"],
        "b": [""],
        "c": [""],
        "d": ["x y"],
        "e": ["€"],
        "é": ["k"],
    }


def test_query_raw_utf8_is_decoded() -> None:
    # A server hands raw UTF-8 bytes over as latin-1 characters (PEP 3333).
    raw = "q=€".encode().decode("latin-1")
    _, _, body = call({"PATH_INFO": "/query", "QUERY_STRING": raw})
    assert json.loads(body)["query"] == {"q": ["€"]}


def test_query_is_parsed_once(app: webtest.TestApp) -> None:
    assert app.get("/query?a=1").json["same"] is True


def test_empty_query(app: webtest.TestApp) -> None:
    assert app.get("/query").json["query"] == {}


@pytest.mark.parametrize(
    "query",
    ["a=%FF", "%FF=1", "a=%C3", "a=%ED%A0%80", "a=\xff"],
    ids=["bad-value", "bad-name", "truncated", "encoded-surrogate", "raw-invalid-byte"],
)
def test_query_not_utf8_is_400(query: str) -> None:
    status, _, body = call({"PATH_INFO": "/query", "QUERY_STRING": query})
    assert status == "400 Bad Request"
    assert error_of(body) == "invalid_query_string"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [({"REMOTE_USER": "alice"}, "alice"), ({}, None)],
    ids=["set", "absent"],
)
def test_remote_user(environ: dict[str, str], expected: str | None) -> None:
    _, _, body = call({"PATH_INFO": "/whoami", **environ})
    assert json.loads(body) == {"user": expected}


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


# --- responses ------------------------------------------------------------------


def test_204_has_no_body_type_or_length(app: webtest.TestApp) -> None:
    res = app.delete("/items/3", status=204)
    assert res.body == b""
    assert "Content-Type" not in res.headers
    assert "Content-Length" not in res.headers  # RFC 9110 §8.6


def test_204_from_a_sloppy_handler_is_cleaned(app: webtest.TestApp) -> None:
    res = app.get("/sloppy-204", status=204)
    assert res.body == b""
    assert "Content-Type" not in res.headers
    assert "Content-Length" not in res.headers
    assert res.headers["X-Kept"] == "1"


def test_router_replaces_wrong_content_length(app: webtest.TestApp) -> None:
    res = app.get("/custom")
    assert res.body == b"abc"
    assert res.headers.getall("Content-Length") == ["3"]
    assert res.headers["Content-Type"] == "text/plain"
    assert res.headers["X-Custom"] == "1"


def test_router_adds_default_content_type(app: webtest.TestApp) -> None:
    res = app.get("/untyped")
    assert res.headers["Content-Type"] == "application/octet-stream"
    assert res.headers["Content-Length"] == "1"


def test_status_line_has_reason_phrase() -> None:
    status, headers, _ = post(CountingInput(), "0", None, path="/created")
    assert status == "201 Created"
    assert headers["location"] == "/items/7"


def test_json_response_is_compact_utf8() -> None:
    response = json_response({"name": "Zoë", "tags": ["a", "b"]}, status=201)
    assert response.status == 201
    assert response.body == '{"name":"Zoë","tags":["a","b"]}'.encode()
    assert response.headers[:2] == [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(response.body))),
    ]


@pytest.mark.parametrize("status", [204, 304], ids=str)
def test_json_response_without_content(status: int) -> None:
    response = json_response({"ignored": True}, status=status, headers=[("ETag", '"x"')])
    assert response.body == b""
    assert response.headers == [("ETag", '"x"')]


def test_json_response_escapes_lone_surrogates() -> None:
    response = json_response({"name": "a\udc80b"})
    assert response.body == b'{"name":"a\\udc80b"}'
    assert response.headers[1] == ("Content-Length", str(len(response.body)))


def test_json_response_refuses_nan() -> None:
    with pytest.raises(ValueError):
        json_response({"x": float("nan")})


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((199,), ValueError),
        ((600,), ValueError),
        (("200",), ValueError),
        ((True,), ValueError),
        ((200, "text"), TypeError),
        ((200, bytearray(b"x")), TypeError),
    ],
    ids=["informational", "above-599", "string-status", "bool-status", "str-body", "bytearray"],
)
def test_response_validates_arguments(args: tuple[Any, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        Response(*args)


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
