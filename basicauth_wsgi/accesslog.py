"""An access log in Common Log Format, with the authenticated user.

Wrap it outside :class:`~basicauth_wsgi.BasicAuth` so that ``REMOTE_USER``
is known when the line is written::

    app = AccessLog(BasicAuth(app, users), logging.getLogger("basicauth_wsgi.access"))

One line per request, written when the server closes the response (so the
byte count is the one actually sent)::

    127.0.0.1 - admin [29/Nov/2026:08:15:02 +0000] "GET /api/v1/private HTTP/1.1" 200 23
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .paths import quote_path

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["AccessLog", "format_line"]

# Anything that could break the line apart or spoof a field: controls,
# spaces, quotes and backslashes, escaped as Apache does (\xHH).
_UNSAFE = re.compile(r'[\x00-\x20\x7f-\x9f"\\]|[^\x00-\x7f]')


def _escape(text: str) -> str:
    return _UNSAFE.sub(lambda m: "".join(f"\\x{b:02x}" for b in m.group().encode()), text)


def format_line(environ: WSGIEnvironment, status: str, size: int, when: datetime) -> str:
    """Return the Common Log Format line for one request.

    ``%u`` is ``REMOTE_USER`` (``-`` when nobody authenticated); it is the
    only credential that ever appears, and it is escaped like every other
    client-supplied field. The password never reaches this function.
    """
    path = quote_path(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""))
    query = environ.get("QUERY_STRING")
    target = f"{path}?{_escape(query)}" if query else path
    request = (
        f"{_escape(environ.get('REQUEST_METHOD', '-'))} {target} "
        f"{_escape(environ.get('SERVER_PROTOCOL', '-'))}"
    )
    user = environ.get("REMOTE_USER")
    return (
        f"{environ.get('REMOTE_ADDR') or '-'} - {_escape(user) if user else '-'} "
        f"[{when.strftime('%d/%b/%Y:%H:%M:%S %z')}] "
        f'"{request}" {status[:3]} {size or "-"}'
    )


class AccessLog:
    """WSGI middleware writing one Common Log Format line per request to ``logger``."""

    def __init__(self, app: WSGIApplication, logger: logging.Logger) -> None:
        if not callable(app):
            raise TypeError(f"app must be a WSGI application (callable), got {app!r}")
        if not isinstance(logger, logging.Logger):
            raise TypeError(f"logger must be a logging.Logger, got {logger!r}")
        self.app = app
        self.logger = logger

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        state: list[str] = []

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            state[:] = [status]
            return start_response(status, headers, exc_info)

        body = self.app(environ, start)
        return _Logged(body, self, environ, state)


class _Logged:
    """The application's iterable, counted, logged on ``close()`` (PEP 3333)."""

    __slots__ = ("_body", "_environ", "_log", "_size", "_status")

    def __init__(
        self, body: Iterable[bytes], log: AccessLog, environ: WSGIEnvironment, status: list[str]
    ) -> None:
        self._body = body
        self._log = log
        self._environ = environ
        self._status = status
        self._size = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._body:
            self._size += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            status = self._status[0] if self._status else "500"
            # HEAD responses send no body whatever the application yielded.
            size = 0 if self._environ.get("REQUEST_METHOD") == "HEAD" else self._size
            self._log.logger.info(
                "%s", format_line(self._environ, status, size, datetime.now().astimezone())
            )
