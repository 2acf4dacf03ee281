"""Forward-auth answers: the core's decision as the status and headers a proxy acts on.

A proxy passes the request on after a 2xx and copies the identity headers
to it; any other answer goes back to the client (SPEC §11)::

    answers = Answers(("Remote-User", "X-Forwarded-User"), "Remote-Groups", None)
    status, headers, body = answers.grant("alice", "alice")   # 200, Remote-User: alice, ...
    status, headers, body = answers.refuse(refusal, accept, None, "GET", nginx=True)

Every answer carries ``Cache-Control: no-store`` (no proxy may keep an
answer keyed by credentials) and ``X-Basicauth-Status`` (the real status,
which the shipped nginx recipe reads). No transport: the WSGI and ASGI
doors send what this module builds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..decide import Refusal
from ..grammar import has_ctl
from ..responses import ErrorPage

__all__ = ["STATUS_HEADER", "Answer", "Answers"]

#: The real status of every answer; the nginx recipe turns its 403 back into it.
STATUS_HEADER = "X-Basicauth-Status"

#: ``(status line, headers, body)``, what a door sends.
Answer = tuple[str, list[tuple[str, str]], bytes]

# nginx's auth_request passes 2xx, 401 and 403 and turns any other answer
# into a 500 (ngx_http_auth_request_module; nginx#941): the rest go out as
# a 403 that says what they are.
_NGINX_PASSES = ("200", "401", "403")
_FORBIDDEN = "403 Forbidden"

_EMPTY = [
    ("Content-Type", "text/plain; charset=utf-8"),
    ("Content-Length", "0"),
    ("Cache-Control", "no-store"),
    (STATUS_HEADER, "200"),
]


def _wire(text: str) -> str:
    """Header text as WSGI carries it: the UTF-8 bytes as latin-1 characters (PEP 3333).

    Usernames and group names are Unicode; upstreams read the header's
    bytes as UTF-8, as the login sent them (RFC 7617 §2.1).
    """
    return text if text.isascii() else text.encode("utf-8").decode("latin-1")


def groups_value(groups: Iterable[str]) -> str:
    """The ``Remote-Groups`` value: sorted, comma-separated.

    A group whose name has a comma or a control character is left out: an
    upstream that splits on commas would read another group (or a header
    line) out of it.
    """
    return ",".join(_wire(g) for g in sorted(groups) if g and "," not in g and not has_ctl(g))


class Answers:
    """The answers of one forward-auth service, headers built once where they can be.

    ``groups_of(username, principal)`` names the user's groups, or is
    ``None`` when no groups are known (``Remote-Groups`` is then sent
    empty: Caddy 2.6.2's ``copy_headers`` writes its placeholder's text
    when a header is missing).
    """

    def __init__(
        self,
        user_headers: Iterable[str],
        groups_header: str | None,
        groups_of: Callable[[str, object], Iterable[str]] | None,
    ) -> None:
        self._names = tuple(user_headers)
        self._groups_header = groups_header
        self._groups_of = groups_of
        identity = [(name, "") for name in self._names]
        if groups_header is not None:
            identity.append((groups_header, ""))
        #: The answer for a public path: 200, the identity headers present
        #: and empty, so a recipe that copies them overwrites a client's own.
        self.public: Answer = ("200 OK", [*identity, *_EMPTY], b"")

    def grant(self, username: str, principal: object) -> Answer:
        """200 with the identity headers for an authenticated request."""
        user = _wire(username)
        headers = [(name, user) for name in self._names]
        if self._groups_header is not None:
            groups = (
                ""
                if self._groups_of is None
                else groups_value(self._groups_of(username, principal))
            )
            headers.append((self._groups_header, groups))
        headers += _EMPTY
        return "200 OK", headers, b""

    def refuse(
        self,
        refusal: Refusal,
        accept: str | None,
        content_type: str | None,
        method: str | None,
        nginx: bool,
    ) -> Answer:
        """The core's refusal, negotiated on the original request's ``Accept``."""
        return self.page(refusal.page, refusal.headers, accept, content_type, method, nginx)

    def page(
        self,
        page: ErrorPage,
        extra: Iterable[tuple[str, str]],
        accept: str | None,
        content_type: str | None,
        method: str | None,
        nginx: bool,
    ) -> Answer:
        """A page (and extra headers such as ``Retry-After``), in the proxy's shape."""
        status, headers, body = page.render(accept, content_type, method, extra)
        code = status[:3]
        headers.append((STATUS_HEADER, code))
        if nginx and code not in _NGINX_PASSES:
            # SPEC §11: the recipe's error_page location answers the real
            # status (with Retry-After) from X-Basicauth-Status.
            status = _FORBIDDEN
        return status, headers, body
