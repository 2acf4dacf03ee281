"""The router under test and direct WSGI calls through wsgiref.validate."""

from __future__ import annotations

import io
import json
import warnings
from http import HTTPStatus
from typing import Any
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import WSGIWarning, validator

from basicauth_wsgi.example.http import HTTPError, Request, Response, json_response
from basicauth_wsgi.example.router import Router

LIMIT = 64  # small body limit so 413 tests need no megabyte bodies
# The 413 reason phrase changed with RFC 9110 (Python 3.13); take the running one.
TOO_LARGE = f"413 {HTTPStatus(413).phrase}"


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
