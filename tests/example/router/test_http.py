"""Request and Response: JSON request bodies, the query string, json_response."""

from __future__ import annotations

import json
from typing import Any

import pytest
import webtest

from basicauth_wsgi.example.http import HTTPError, Request, Response, json_response

from .support import LIMIT, TOO_LARGE, CountingInput, call, error_of, make_router, post, post_json

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
