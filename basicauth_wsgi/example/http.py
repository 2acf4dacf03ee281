"""The example's HTTP message objects: Request, Response, HTTPError, json_response.

The router hands each handler a :class:`Request` (a lazy view of the WSGI
environ) and expects a :class:`Response` back; a handler answers an error by
raising :class:`HTTPError`, which becomes a JSON body::

    def show(request: Request) -> Response:
        if request.params["id"] != 1:
            raise HTTPError(404, "not_found", "No such subscriber.")
        return json_response({"id": 1})

Every error body is ``{"error": "<snake_case_code>", "message": "<sentence>"}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs

from ..grammar import is_json_media_type

if TYPE_CHECKING:
    from _typeshed.wsgi import InputStream, WSGIEnvironment

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "HTTPError",
    "Request",
    "Response",
    "json_response",
]

#: Largest request body :meth:`Request.json` accepts unless the router says otherwise.
DEFAULT_MAX_BODY_SIZE: Final = 1 << 20

# RFC 9110 §6.4.1, §15.3.5, §15.4.5: these responses never carry content.
_BODYLESS: Final = frozenset({204, 304})

# json.loads joins valid \uD83D\uDE00 pairs, so any surrogate left is a lone one.
_SURROGATE: Final = re.compile("[\ud800-\udfff]")

_UNSET: Final = object()


class HTTPError(Exception):
    """An HTTP error a handler (or :class:`Request`) raises to answer the client.

    The router renders it as the JSON body ``{"error": error, "message":
    message, **extra}`` with ``status`` and ``headers``. ``error`` is a
    snake_case code for programs, ``message`` a sentence for people; ``extra``
    may add fields but not replace those two (``ValueError``).
    """

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        extra: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        if not 400 <= status <= 599:
            raise ValueError(f"HTTPError status must be 400-599, got {status!r}")
        if extra is not None and ("error" in extra or "message" in extra):
            raise ValueError("HTTPError extra must not contain 'error' or 'message'")
        self.status = status
        self.error = error
        self.message = message
        self.headers = list(headers)
        self.extra: dict[str, object] = dict(extra) if extra is not None else {}

    def __repr__(self) -> str:
        return f"HTTPError({self.status}, {self.error!r}, {self.message!r})"

    def to_response(self) -> Response:
        """Return the JSON :class:`Response` this error stands for."""
        body = {"error": self.error, "message": self.message, **self.extra}
        return json_response(body, status=self.status, headers=self.headers)


class Response:
    """What a handler returns: an HTTP status, the body bytes and headers.

    ``status`` must be 200-599 (``ValueError``; 1xx belong to the server) and
    ``body`` must be ``bytes`` (``TypeError``). When the router sends it, it
    replaces any ``Content-Length`` with the real one, adds
    ``Content-Type: application/octet-stream`` if none was given, and for 204
    and 304 drops the body, ``Content-Type`` and ``Content-Length``.
    """

    __slots__ = ("body", "headers", "status")

    def __init__(
        self,
        status: int,
        body: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.status = _check_status(status)
        self.body = _check_body(body)
        self.headers: list[tuple[str, str]] = [] if headers is None else headers

    def __repr__(self) -> str:
        return f"<Response {self.status} {len(self.body)} bytes>"


def _check_status(status: object) -> int:
    # bool is an int, and Response(True) is always a bug.
    if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
        raise ValueError(f"Response status must be an int in 200-599, got {status!r}")
    return int(status)


def _check_body(body: object) -> bytes:
    if not isinstance(body, bytes):
        raise TypeError(f"Response body must be bytes, got {type(body).__name__}")
    return body


def json_response(
    data: object, status: int = 200, headers: Iterable[tuple[str, str]] = ()
) -> Response:
    """Serialise ``data`` as compact UTF-8 JSON (RFC 8259) into a :class:`Response`.

    Sets ``Content-Type: application/json`` and ``Content-Length`` ahead of
    ``headers``. For 204 and 304 ``data`` is ignored and the response has
    neither body nor ``Content-Type``. NaN and infinities raise ``ValueError``
    rather than emit invalid JSON.
    """
    extra = list(headers)
    if status in _BODYLESS:
        return Response(status, b"", extra)
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    try:
        body = text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate has no UTF-8 form; \u escapes keep the document valid.
        body = json.dumps(data, allow_nan=False, separators=(",", ":")).encode("ascii")
    return Response(
        status,
        body,
        [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *extra],
    )


class Request:
    """The request as a handler sees it: a thin, lazy view of the environ.

    ``path`` and ``script_name`` are PATH_INFO and SCRIPT_NAME exactly as the
    server gave them (latin-1 "bytes in a str", PEP 3333); ``params`` holds the
    converted template parameters. ``query`` and :meth:`json` parse on first
    use and cache the result, so each is computed at most once.
    """

    __slots__ = (
        "_json",
        "_json_error",
        "_query",
        "environ",
        "max_body_size",
        "method",
        "params",
        "path",
        "script_name",
    )

    def __init__(
        self,
        environ: WSGIEnvironment,
        params: dict[str, Any] | None = None,
        *,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    ) -> None:
        self.environ = environ
        self.method: str = environ["REQUEST_METHOD"]
        self.path: str = environ.get("PATH_INFO", "")
        self.script_name: str = environ.get("SCRIPT_NAME", "")
        self.params: dict[str, Any] = {} if params is None else params
        self.max_body_size = max_body_size
        self._query: dict[str, list[str]] | None = None
        self._json: object = _UNSET
        self._json_error: HTTPError | None = None

    @property
    def remote_user(self) -> str | None:
        """REMOTE_USER as set by an authentication layer, or ``None`` if unset."""
        user: str | None = self.environ.get("REMOTE_USER")
        return user

    @property
    def query(self) -> dict[str, list[str]]:
        """The query string as ``{name: [values...]}``, blank values kept.

        Raises :class:`HTTPError` 400 ``invalid_query_string`` if it is not
        UTF-8, either raw or once percent-decoded.
        """
        if self._query is None:
            self._query = _parse_query(self.environ.get("QUERY_STRING", ""))
        return self._query

    def json(self) -> object:
        """Read, decode and return the JSON request body; cached after the first call.

        Raises :class:`HTTPError`:

        - 415 ``unsupported_media_type`` unless Content-Type is
          ``application/json`` or ``application/*+json``;
        - 413 ``payload_too_large`` past ``max_body_size``, without reading
          the body when Content-Length already says so;
        - 400 ``invalid_content_length``, ``incomplete_body`` or
          ``malformed_json`` (not UTF-8, empty, not JSON, NaN/Infinity, too
          deeply nested, or a lone surrogate escape).

        ``wsgi.input`` is read at most once; a repeated call returns the same
        object or raises the same error.
        """
        if self._json is not _UNSET:
            return self._json
        if self._json_error is not None:
            raise self._json_error
        try:
            self._json = self._load_json()
        except HTTPError as exc:
            self._json_error = exc
            raise
        return self._json

    def _load_json(self) -> object:
        if not is_json_media_type(self.environ.get("CONTENT_TYPE", "")):
            # RFC 9110 §15.5.16: Accept in a 415 tells the client what would work.
            raise HTTPError(
                415,
                "unsupported_media_type",
                "The request body must be JSON, sent with Content-Type: application/json.",
                headers=[("Accept", "application/json")],
            )
        body = self._read_body()
        if not body:
            raise _malformed("The request body is empty; expected a JSON document.")
        try:
            # RFC 8259 §8.1: JSON exchanged between systems is UTF-8.
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _malformed(f"The request body is not valid UTF-8 (byte {exc.start}).") from None
        try:
            value = json.loads(text, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            raise _malformed(
                f"The request body is not valid JSON: {exc.msg} "
                f"at line {exc.lineno}, column {exc.colno}."
            ) from None
        except _ConstantError as exc:
            raise _malformed(str(exc)) from None
        except ValueError:
            # The only other ValueError json.loads raises: an integer longer
            # than sys.get_int_max_str_digits().
            raise _malformed("The request body contains a number too long to convert.") from None
        except RecursionError:
            raise _malformed("The request body is nested too deeply.") from None
        # Only a \u escape can smuggle in a surrogate, which no later UTF-8
        # encode (database, response) could handle; skip the walk otherwise.
        if "\\u" in text and _has_lone_surrogate(value):
            raise _malformed("The request body contains an unpaired surrogate escape.")
        return value

    def _read_body(self) -> bytes:
        limit = self.max_body_size
        stream: InputStream = self.environ["wsgi.input"]
        declared: str = self.environ.get("CONTENT_LENGTH", "")
        if declared:
            # RFC 9110 §8.6: Content-Length = 1*DIGIT; int() alone would also
            # take "+5", " 5" and "1_0".
            if not (declared.isascii() and declared.isdigit()):
                raise HTTPError(
                    400,
                    "invalid_content_length",
                    "The Content-Length header must be a non-negative integer.",
                )
            digits = declared.lstrip("0") or "0"
            # Compare lengths first so a thousand-digit value never reaches int().
            if len(digits) > len(str(limit)) or int(digits) > limit:
                raise _too_large(limit)
            length = int(digits)
            body = _read_up_to(stream, length)
            if len(body) < length:
                raise HTTPError(
                    400, "incomplete_body", "The request body is shorter than its Content-Length."
                )
            return body
        # No length given (e.g. chunked): one byte past the limit is enough to know.
        body = _read_up_to(stream, limit + 1)
        if len(body) > limit:
            raise _too_large(limit)
        return body


class _ConstantError(ValueError):
    pass


def _reject_constant(name: str) -> object:
    # RFC 8259 §6: NaN and Infinity are not JSON numbers, though json accepts them.
    raise _ConstantError(f"The request body is not valid JSON: {name} is not allowed.")


def _malformed(message: str) -> HTTPError:
    return HTTPError(400, "malformed_json", message)


def _too_large(limit: int) -> HTTPError:
    return HTTPError(
        413, "payload_too_large", f"The request body is larger than the limit of {limit} bytes."
    )


def _read_up_to(stream: InputStream, size: int) -> bytes:
    """Read until ``size`` bytes or end of input, whichever comes first."""
    # read(n) may return less than n before the end, so loop; the size
    # argument is mandatory, as PEP 3333 forbids reading past CONTENT_LENGTH.
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _has_lone_surrogate(value: object) -> bool:
    # Iterative, since the parsed value may be nested nearly as deep as the
    # interpreter's recursion limit.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _parse_query(raw: str) -> dict[str, list[str]]:
    try:
        # PEP 3333 passes the query as latin-1; the bytes behind it are UTF-8.
        text = raw.encode("latin-1").decode("utf-8")
        return parse_qs(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeError:
        raise HTTPError(
            400, "invalid_query_string", "The query string is not valid UTF-8."
        ) from None
