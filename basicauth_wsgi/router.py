"""A small JSON router that is itself a WSGI application.

The example API needs path templates, method dispatch and JSON error bodies,
and the package keeps its runtime to the standard library, so this module is
that much routing and no more::

    router = Router()
    router.add("/health", lambda request: json_response({"status": "ok"}))
    app = router  # a Router is the WSGI application

Templates are compiled when a route is added; a request costs one dict lookup
for static paths and a segment-by-segment comparison for templated ones.
Every error the router produces (404, 405, 413, 415, 400, 500) is a JSON body
``{"error": "<snake_case_code>", "message": "<sentence>"}``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from _typeshed.wsgi import InputStream, StartResponse, WSGIEnvironment

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "HTTPError",
    "Handler",
    "Request",
    "Response",
    "Router",
    "json_response",
]

logger = logging.getLogger(__name__)

#: Largest request body :meth:`Request.json` accepts unless the router says otherwise.
DEFAULT_MAX_BODY_SIZE: Final = 1 << 20

_STATUS_LINES: Final = {int(s): f"{s.value} {s.phrase}" for s in HTTPStatus}

# RFC 9110 §6.4.1, §15.3.5, §15.4.5: these responses never carry content.
_BODYLESS: Final = frozenset({204, 304})

# RFC 9110 §5.6.2:  token = 1*tchar
#   tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
#           "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

# RFC 9110 §8.3.1 (media-type = type "/" subtype, case-insensitive) and the
# RFC 6839 §3.1 "+json" structured syntax suffix; matched after lower-casing.
_JSON_MEDIA_TYPE: Final = re.compile(r"application/(?:[!#$%&'*+\-.^_`|~0-9a-z]+\+)?json")

# A parameter fills a whole path segment: <name> or <converter:name>.
_PARAM: Final = re.compile(r"<(?:([A-Za-z_]\w*):)?([A-Za-z_]\w*)>", re.ASCII)

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
        media_type = self.environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        if _JSON_MEDIA_TYPE.fullmatch(media_type) is None:
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


Handler = Callable[[Request], Response]
"""A route handler: takes the :class:`Request`, returns a :class:`Response`."""

_H = TypeVar("_H", bound=Handler)

# A compiled template segment: a literal (in PEP 3333's latin-1 form, so it
# compares with PATH_INFO as is) or a (name, converter) pair.
_Converter = Callable[[str], object]
_Segment = str | tuple[str, _Converter]


def _convert_str(segment: str) -> str | None:
    # PATH_INFO is latin-1 "bytes in a str" (PEP 3333) whose bytes are the
    # URL's UTF-8 (RFC 3986 §2.5); a segment that is not UTF-8 matches nothing.
    if not segment:
        return None
    try:
        return segment.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return None


def _convert_int(segment: str) -> int | None:
    # isdigit() alone accepts "²" and "٣"; int() alone accepts " 1", "+1", "1_0".
    if not (segment.isascii() and segment.isdigit()):
        return None
    try:
        return int(segment)
    except ValueError:  # more digits than sys.get_int_max_str_digits()
        return None


_CONVERTERS: Final[dict[str | None, _Converter]] = {None: _convert_str, "int": _convert_int}


def _compile(template: str) -> tuple[tuple[_Segment, ...], bool]:
    """Compile ``template`` into segments; also say whether it has parameters.

    Raises ``ValueError`` naming the template if it does not start with ``/``,
    has a malformed ``<...>``, an unknown converter or a repeated name.
    """
    if not isinstance(template, str) or not template.startswith("/"):
        raise ValueError(f"route template {template!r} must be a string starting with '/'")
    segments: list[_Segment] = []
    names: set[str] = set()
    for raw in template.split("/"):
        if "<" not in raw and ">" not in raw:
            try:
                segments.append(raw.encode("utf-8").decode("latin-1"))
            except UnicodeError:
                raise ValueError(f"route template {template!r} is not encodable as UTF-8") from None
            continue
        match = _PARAM.fullmatch(raw)
        if match is None:
            raise ValueError(
                f"route template {template!r}: malformed parameter {raw!r}; "
                "expected <name> or <int:name> filling a whole path segment"
            )
        converter_name, name = match.groups()
        converter = _CONVERTERS.get(converter_name)
        if converter is None:
            raise ValueError(f"route template {template!r}: unknown converter {converter_name!r}")
        if name in names:
            raise ValueError(f"route template {template!r}: duplicate parameter {name!r}")
        names.add(name)
        segments.append((name, converter))
    return tuple(segments), bool(names)


class _Route:
    """One template with its handlers per method."""

    __slots__ = ("allowed", "handlers", "segments", "template")

    def __init__(self, template: str, segments: tuple[_Segment, ...]) -> None:
        self.template = template
        self.segments = segments
        self.handlers: dict[str, Handler] = {}
        self.allowed: frozenset[str] = frozenset()

    def handler_for(self, method: str) -> Handler | None:
        handler = self.handlers.get(method)
        if handler is None and method == "HEAD":
            # RFC 9110 §9.3.2: HEAD is GET without the content.
            handler = self.handlers.get("GET")
        return handler

    def match(self, parts: list[str]) -> dict[str, Any] | None:
        """Return the converted parameters if ``parts`` fits, else ``None``."""
        if len(parts) != len(self.segments):
            return None
        params: dict[str, Any] = {}
        for part, segment in zip(parts, self.segments, strict=True):
            if isinstance(segment, str):
                if part != segment:
                    return None
            else:
                name, convert = segment
                value = convert(part)
                if value is None:
                    return None
                params[name] = value
        return params


class Router:
    """Dispatch requests to handlers by path template and method; a WSGI app.

    Matching uses PATH_INFO only, so the router works mounted under any
    SCRIPT_NAME; a trailing slash is significant. Static templates are tried
    before templated ones, which are tried in the order they were added; the
    first route whose path and method both match handles the request.

    Register routes before serving: the router keeps no per-request state, so
    concurrent requests are safe, but adding routes while serving is not.

    ``max_body_size`` (bytes, default 1 MiB) caps :meth:`Request.json`;
    anything but a positive int raises ``ValueError``.
    """

    def __init__(self, max_body_size: int = DEFAULT_MAX_BODY_SIZE) -> None:
        if (
            isinstance(max_body_size, bool)
            or not isinstance(max_body_size, int)
            or max_body_size <= 0
        ):
            raise ValueError(f"max_body_size must be a positive int, got {max_body_size!r}")
        self.max_body_size = max_body_size
        self._routes: dict[str, _Route] = {}  # by template as written
        self._static: dict[str, _Route] = {}  # by PATH_INFO
        self._dynamic: list[_Route] = []

    def add(self, template: str, handler: Handler, methods: Iterable[str] = ("GET",)) -> None:
        """Route ``methods`` (upper-cased) on ``template`` to ``handler``.

        Templates are literal segments, ``<name>`` (one non-empty segment,
        UTF-8 decoded, as ``str``) and ``<int:name>`` (ASCII digits, as
        ``int``). Raises ``ValueError`` naming the template for a bad
        template or method, or a (template, method) pair already routed; the
        router is unchanged when it raises.
        """
        if not callable(handler):
            raise TypeError(f"route {template!r}: handler {handler!r} is not callable")
        if isinstance(methods, str):
            raise TypeError(f"route {template!r}: methods must be a list of names, not a str")
        names = [_check_method(template, method) for method in methods]
        if not names:
            raise ValueError(f"route {template!r}: methods must not be empty")
        route = self._routes.get(template)
        is_new = route is None
        if route is None:
            segments, has_params = _compile(template)
            route = _Route(template, segments)
        seen = set(route.handlers)
        for name in names:
            if name in seen:
                raise ValueError(f"route {template!r}: method {name} is already routed")
            seen.add(name)
        for name in names:
            route.handlers[name] = handler
        # RFC 9110 §15.5.6 / §10.2.1: Allow lists HEAD too when GET answers it.
        route.allowed = frozenset(seen | {"HEAD"} if "GET" in seen else seen)
        if is_new:
            self._routes[template] = route
            if has_params:
                self._dynamic.append(route)
            else:
                self._static["/".join(s for s in segments if isinstance(s, str))] = route

    def route(self, template: str, methods: Iterable[str] = ("GET",)) -> Callable[[_H], _H]:
        """Decorator form of :meth:`add`; returns the handler unchanged."""

        def register(handler: _H) -> _H:
            self.add(template, handler, methods)
            return handler

        return register

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method: str = environ["REQUEST_METHOD"]
        try:
            response = self._respond(environ, method)
        except Exception:
            # The client gets no detail; the log gets the traceback.
            logger.exception("unhandled exception for %s %r", method, environ.get("PATH_INFO", ""))
            response = json_response(
                {"error": "internal_error", "message": "The server encountered an internal error."},
                status=500,
            )
        status, headers, body = _finalise(response)
        start_response(status, headers)
        # RFC 9110 §9.3.2: HEAD gets GET's status and headers, no content.
        return [body] if body and method != "HEAD" else []

    def _respond(self, environ: WSGIEnvironment, method: str) -> Response:
        try:
            handler, params = self._resolve(method, environ.get("PATH_INFO", ""))
            response: object = handler(Request(environ, params, max_body_size=self.max_body_size))
        except HTTPError as exc:
            return exc.to_response()
        if not isinstance(response, Response):
            raise TypeError(f"handler {handler!r} returned {type(response).__name__}, not Response")
        return response

    def _resolve(self, method: str, path: str) -> tuple[Handler, dict[str, Any]]:
        allowed: set[str] = set()
        route = self._static.get(path)
        if route is not None:
            handler = route.handler_for(method)
            if handler is not None:
                return handler, {}
            allowed |= route.allowed
        if self._dynamic:
            parts = path.split("/")
            for route in self._dynamic:
                params = route.match(parts)
                if params is None:
                    continue
                handler = route.handler_for(method)
                if handler is not None:
                    return handler, params
                allowed |= route.allowed
        if allowed:
            # RFC 9110 §15.5.6: a 405 MUST carry Allow with the supported methods.
            raise HTTPError(
                405,
                "method_not_allowed",
                "The method is not allowed for the requested URL.",
                headers=[("Allow", ", ".join(sorted(allowed)))],
            )
        raise HTTPError(404, "not_found", "The requested URL was not found on this server.")


def _check_method(template: str, method: object) -> str:
    # RFC 9110 §9.1: a method is a token. Registered names are upper-cased for
    # convenience; request methods stay case-sensitive, so "get" gets a 405.
    if not isinstance(method, str) or _TOKEN.fullmatch(method) is None:
        raise ValueError(f"route {template!r}: invalid method {method!r}")
    return method.upper()


def _finalise(response: Response) -> tuple[str, list[tuple[str, str]], bytes]:
    """Return the status line, headers and body to send for ``response``."""
    status = response.status
    bodyless = status in _BODYLESS
    headers: list[tuple[str, str]] = []
    has_type = False
    for name, value in response.headers:
        lowered = name.lower()
        if lowered == "content-length":
            # Recomputed below; a stale one would desynchronise the connection.
            continue
        if lowered == "content-type":
            if bodyless:
                continue
            has_type = True
        headers.append((name, value))
    body = response.body
    if bodyless:
        # RFC 9110 §8.6: no Content-Length on a 204; on a 304 it would have to
        # describe the unsent 200 representation, so it is left out too.
        body = b""
    else:
        if not has_type:
            # RFC 9110 §8.3 wants a type with content; PEP 3333's validator
            # wants one on every response that may have content.
            headers.append(("Content-Type", "application/octet-stream"))
        headers.append(("Content-Length", str(len(body))))
    line = _STATUS_LINES.get(status) or f"{status} Unknown"
    return line, headers, body
