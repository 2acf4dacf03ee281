"""Rule construction, and why a 403 is not a throttled failure (SPEC §6)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pytest
from helpers import CLIENT, Clock, Recorder, auth, basic, call, make

from basicauth_wsgi import BasicAuth
from basicauth_wsgi.rules import Rule
from basicauth_wsgi.throttle import Throttle

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment
from .support import ADMIN_DELETE, GROUPS, PASSWORDS, SUBSCRIBER

# -- 403 is not a failure ---------------------------------------------------


def test_403_is_not_a_throttle_failure(inner: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    throttle = Throttle(per_client=20, per_user=20, clock=Clock())
    app = make(inner, PASSWORDS, rules=(ADMIN_DELETE,), groups=GROUPS, throttle=throttle)
    with caplog.at_level(logging.DEBUG, logger="basicauth_wsgi"):
        for _ in range(30):
            app.delete(SUBSCRIBER, headers=auth("bob"), status=403)
    assert throttle.check_client(CLIENT) is None
    assert throttle.check_user(CLIENT, "bob") is None
    app.get(SUBSCRIBER, headers=auth("bob"), status=200)
    messages = [r.getMessage() for r in caplog.records]
    assert (
        messages
        == [
            "authorization refused: user='bob' client=192.0.2.10 method=DELETE "
            "path=/api/v1/subscribers/1"
        ]
        * 30
    )
    assert all(r.levelno == logging.WARNING for r in caplog.records)


def test_refusal_log_escapes_user_and_path(
    inner: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    app = BasicAuth(inner, {"b\u2028ob": "pw"}, rules=[Rule("/x/", users=["alice"])])
    with caplog.at_level(logging.WARNING, logger="basicauth_wsgi"):
        status, _, _ = call(app, "/x/a\r\nforged", HTTP_AUTHORIZATION=basic("b\u2028ob", "pw"))
    assert status == "403 Forbidden"
    [record] = caplog.records
    assert record.getMessage() == (
        "authorization refused: user='b\\u2028ob' client=192.0.2.10 method=GET "
        "path=/x/a%0D%0Aforged"
    )


def test_refused_request_is_stripped_of_its_credentials() -> None:
    seen: list[dict[str, Any]] = []

    def render(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        seen.append(dict(environ))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    app = BasicAuth(render, PASSWORDS, rules=[ADMIN_DELETE], groups=GROUPS)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "DELETE",
        "PATH_INFO": SUBSCRIBER,
        "HTTP_AUTHORIZATION": basic("bob", "bob-pw"),
    }
    app(environ, lambda status, headers, exc_info=None: lambda data: None)
    assert "HTTP_AUTHORIZATION" not in environ
    assert seen == []


# -- construction -----------------------------------------------------------


BAD_RULES = [
    (lambda: Rule("api/v1/"), ValueError, "must start with '/'", "relative-path"),
    (lambda: Rule("/a/../b"), ValueError, "not a normalised path", "dotdot-path"),
    (lambda: Rule("/a//b"), ValueError, "not a normalised path", "double-slash-path"),
    (lambda: Rule("/a/./b"), ValueError, "not a normalised path", "dot-path"),
    (lambda: Rule("/a;b"), ValueError, "';'", "params-path"),
    (lambda: Rule("/a\nb"), ValueError, "control character", "control-path"),
    (lambda: Rule(b"/a"), TypeError, "path", "bytes-path"),  # type: ignore[arg-type]
    (lambda: Rule("/a", methods=[]), ValueError, "empty", "no-methods"),
    (lambda: Rule("/a", methods=["GET POST"]), ValueError, "not an HTTP method", "method-space"),
    (lambda: Rule("/a", methods=["DÉLETE"]), ValueError, "not an HTTP method", "method-non-ascii"),
    (lambda: Rule("/a", methods=["GET/"]), ValueError, "not an HTTP method", "method-separator"),
    (lambda: Rule("/a", methods="DELETE"), TypeError, "single string", "methods-str"),
    (lambda: Rule("/a", methods=[None]), TypeError, "methods", "method-none"),  # type: ignore[list-item]
    (lambda: Rule("/a", users="alice"), TypeError, "single string", "users-str"),
    (lambda: Rule("/a", users=[1]), TypeError, "users", "users-int"),  # type: ignore[list-item]
    (lambda: Rule("/a", users=[""]), ValueError, "empty name", "users-empty-name"),
    (lambda: Rule("/a", users=[]), ValueError, "omit both", "users-empty-list"),
    (lambda: Rule("/a", users=[], groups=[]), ValueError, "omit both", "both-empty-lists"),
    (lambda: Rule("/a", groups="admin"), TypeError, "single string", "groups-str"),
]


@pytest.mark.parametrize(
    ("build", "error", "match"), [b[:3] for b in BAD_RULES], ids=[b[3] for b in BAD_RULES]
)
def test_bad_rules_are_refused(build: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        build()


BAD_OPTIONS = [
    (
        {"rules": [ADMIN_DELETE]},
        ValueError,
        r"groups \['admin'\] but no groups were given",
        "group-without-groups",
    ),
    (
        {"rules": [ADMIN_DELETE, Rule("/x", groups=["ops", "audit"])], "groups": GROUPS},
        ValueError,
        r"do not exist: \['audit', 'ops'\]",
        "unknown-groups-listed",
    ),
    ({"rules": ADMIN_DELETE, "groups": GROUPS}, TypeError, "rules", "rules-not-a-list"),
    ({"rules": "/admin"}, TypeError, "rules", "rules-str"),
    ({"rules": ["/admin"]}, TypeError, "rules", "rules-of-str"),
    ({"rules": [ADMIN_DELETE], "groups": {"admin": "alice"}}, TypeError, "admin", "members-str"),
    (
        {"rules": [ADMIN_DELETE], "groups": {"admin": ["alice", 7]}},
        TypeError,
        "admin",
        "member-int",
    ),
    (
        {"rules": [ADMIN_DELETE], "groups": {"": ["alice"]}},
        ValueError,
        "groups",
        "group-empty-name",
    ),
    ({"rules": [ADMIN_DELETE], "groups": "admin"}, TypeError, "groups", "groups-str"),
    ({"rules": [ADMIN_DELETE], "groups": ["admin"]}, TypeError, "groups", "groups-list"),
]


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [b[:3] for b in BAD_OPTIONS],
    ids=[b[3] for b in BAD_OPTIONS],
)
def test_bad_rule_options_name_themselves(
    inner: Recorder, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        BasicAuth(inner, PASSWORDS, **options)


def test_rules_accept_any_iterable(inner: Recorder) -> None:
    app = BasicAuth(inner, PASSWORDS, rules=(r for r in [ADMIN_DELETE]), groups=GROUPS)
    status, _, _ = call(
        app, SUBSCRIBER, REQUEST_METHOD="DELETE", HTTP_AUTHORIZATION=basic("bob", "bob-pw")
    )
    assert status == "403 Forbidden"


def test_rule_repr_shows_what_it_covers() -> None:
    assert repr(ADMIN_DELETE) == (
        "Rule('/api/v1/subscribers/', methods=['DELETE'], groups=['admin'])"
    )
    assert repr(Rule("/x", users=["b", "a"])) == "Rule('/x', users=['a', 'b'])"
