"""A small JSON router that is itself a WSGI application.

The example API needs path templates, method dispatch and JSON error bodies,
and the package keeps its runtime to the standard library, so this module is
that much routing and no more (the message objects live in
:mod:`basicauth_wsgi.example.http`)::

    router = Router()
    router.add("/health", lambda request: json_response({"status": "ok"}))
    app = router  # a Router is the WSGI application

Templates are compiled when a route is added; a request costs one dict lookup
for static paths and a segment-by-segment comparison for templated ones.
Every error the router produces (404, 405, 413, 415, 400, 500) is a JSON body
``{"error": "<snake_case_code>", "message": "<sentence>"}``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final, TypeVar

from .http import (
    _BODYLESS,
    DEFAULT_MAX_BODY_SIZE,
    HTTPError,
    Request,
    Response,
    json_response,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "HTTPError",
    "Handler",
    "Request",
    "Response",
    "Router",
    "json_response",
]

# The logger keeps the name it had before the example moved into its own
# subpackage: logging configuration names it.
logger = logging.getLogger("basicauth_wsgi.router")

_STATUS_LINES: Final = {int(s): f"{s.value} {s.phrase}" for s in HTTPStatus}

# RFC 9110 §5.6.2:  token = 1*tchar
#   tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
#           "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

# A parameter fills a whole path segment: <name> or <converter:name>.
_PARAM: Final = re.compile(r"<(?:([A-Za-z_]\w*):)?([A-Za-z_]\w*)>", re.ASCII)


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
