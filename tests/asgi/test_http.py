"""The ASGI adapter on http scopes, driven raw (no framework): same answers as WSGI."""

from __future__ import annotations

import inspect
import json
import logging
from typing import Any

import pytest
from helpers import CHALLENGE, USERS, basic
from helpers import Recorder as WSGIRecorder
from helpers import call as wsgi_call

from basicauth_wsgi import BasicAuth as WSGIBasicAuth
from basicauth_wsgi import Rule, Throttle
from basicauth_wsgi.asgi import BasicAuth, BasicUser, request_path

from .support import Recorder, Response, call, request, run, scope_for

ADMIN = ("Authorization", basic("admin", "SuperSecretPwd"))


@pytest.fixture
def inner() -> Recorder:
    return Recorder()


# -- same signature, same validation --------------------------------------


def test_signature_is_the_wsgi_middlewares() -> None:
    ours = inspect.signature(BasicAuth).parameters
    theirs = inspect.signature(WSGIBasicAuth).parameters
    assert list(ours) == list(theirs)
    assert [(p.kind, p.default) for p in ours.values()] == [
        (p.kind, p.default) for p in theirs.values()
    ]


BAD_OPTIONS = [
    ({"realm": 'a"\nb'}, "realm-control"),
    ({"exclude": "/health"}, "exclude-string"),
    ({"exclude": ["/"]}, "exclude-everything"),
    ({"include": []}, "include-empty"),
    ({"strip_authorization": 1}, "strip-int"),
    ({"max_concurrent_checks": 0}, "slots-zero"),
    ({"unauthorized": "page"}, "unauthorized-str"),
    ({"logger": "basicauth"}, "logger-str"),
    ({"rules": [Rule("/admin/", groups=["admin"])]}, "rules-without-groups"),
    ({"throttel": None}, "unknown-option"),
]


@pytest.mark.parametrize("options", [b[0] for b in BAD_OPTIONS], ids=[b[1] for b in BAD_OPTIONS])
def test_bad_options_fail_as_in_wsgi(inner: Recorder, options: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError)) as wsgi:
        WSGIBasicAuth(WSGIRecorder(), USERS, **options)
    with pytest.raises(wsgi.type) as asgi:
        BasicAuth(inner, USERS, **options)
    assert str(asgi.value) == str(wsgi.value).replace("a WSGI", "an ASGI")


def test_empty_users_fail_closed(inner: Recorder) -> None:
    with pytest.raises(ValueError, match="empty"):
        BasicAuth(inner, {})


def test_app_must_be_callable() -> None:
    with pytest.raises(TypeError, match="app"):
        BasicAuth("not an app", USERS)  # type: ignore[arg-type]


def test_options_show_through(inner: Recorder) -> None:
    app = BasicAuth(inner, USERS, realm="Staff", exclude=["/health"])
    assert app.realm == "Staff"  # type: ignore[attr-defined]
    assert app.exclude.patterns == ("/health",)  # type: ignore[attr-defined]
    assert app.challenge == 'Basic realm="Staff", charset="UTF-8"'  # type: ignore[attr-defined]


def test_from_environ(inner: Recorder) -> None:
    app = BasicAuth.from_environ(
        inner, {"BASICAUTH_USERS": "admin:{PLAIN}SuperSecretPwd", "BASICAUTH_EXCLUDE": "/health"}
    )
    assert call(app, "/health").status == 200
    assert call(app, "/x").status == 401
    assert call(app, "/x", headers=[ADMIN]).status == 200
    with pytest.raises(ValueError, match="BASICAUTH_REALMM"):
        BasicAuth.from_environ(inner, {"BASICAUTH_USERS": "a:{PLAIN}b", "BASICAUTH_REALMM": "x"})


# -- the same pages as the WSGI middleware --------------------------------

PAGES = [
    ({}, "GET", "missing"),
    ({"HTTP_AUTHORIZATION": basic("admin", "wrong")}, "GET", "wrong-password"),
    ({"HTTP_AUTHORIZATION": "Basic !!"}, "GET", "malformed"),
    ({"HTTP_AUTHORIZATION": "Bearer abc"}, "GET", "other-scheme"),
    ({"HTTP_ACCEPT": "application/json"}, "GET", "json"),
    ({"CONTENT_TYPE": "application/json"}, "POST", "json-request"),
    ({"HTTP_ACCEPT": "text/html,*/*;q=0.8"}, "GET", "browser"),
    ({"HTTP_ACCEPT": "*/*"}, "HEAD", "head"),
    ({"HTTP_AUTHORIZATION": basic("admin", "SuperSecretPwd")}, "DELETE", "forbidden-by-rule"),
]


def _asgi_headers(environ: dict[str, str]) -> list[tuple[str, str]]:
    names = {"CONTENT_TYPE": "content-type"}
    return [
        (names.get(k) or k[5:].replace("_", "-").lower(), v)
        for k, v in environ.items()
        if k.startswith("HTTP_") or k in names
    ]


@pytest.mark.parametrize(("environ", "method"), [p[:2] for p in PAGES], ids=[p[2] for p in PAGES])
def test_refusals_are_the_wsgi_pages(
    inner: Recorder, environ: dict[str, str], method: str, caplog: pytest.LogCaptureFixture
) -> None:
    options: dict[str, Any] = {"rules": [Rule("/", methods=["DELETE"], users=["nobody"])]}
    with caplog.at_level(logging.WARNING, logger="basicauth_wsgi"):
        status, headers, body = wsgi_call(
            WSGIBasicAuth(WSGIRecorder(), USERS, **options),
            "/x",
            REQUEST_METHOD=method,
            **environ,
        )
        wsgi_lines = [r.getMessage() for r in caplog.records]
        caplog.clear()
        res = call(
            BasicAuth(inner, USERS, **options), "/x", method=method, headers=_asgi_headers(environ)
        )
        asgi_lines = [r.getMessage() for r in caplog.records]
    assert inner.scopes == []
    assert res.status == int(status[:3]) and res.status in (401, 403)
    assert res.headers == [(n.lower().encode(), v.encode()) for n, v in headers]
    assert res.body == body
    assert asgi_lines == wsgi_lines  # the core writes both
    if method == "HEAD":
        assert res.body == b"" and int(res.header("content-length") or 0) > 0
    if res.status == 401:
        assert res.header("www-authenticate") == CHALLENGE


def test_429_and_503_carry_retry_after(inner: Recorder) -> None:
    app = BasicAuth(inner, USERS, throttle=Throttle(per_client=2))
    guesses = [[("Authorization", basic("admin", f"nope{n}"))] for n in range(3)]
    statuses = [call(app, "/", headers=guess).status for guess in guesses]
    assert statuses == [401, 401, 429]
    wrong = guesses[0]
    res = call(app, "/", headers=[("Accept", "application/json"), *wrong])
    assert res.status == 429 and res.header("retry-after")
    assert res.json()["error"] == "too_many_requests"
    assert res.header("www-authenticate") is None


def test_verifier_exception_is_500(inner: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    def broken(username: str, password: str) -> bool:
        raise RuntimeError("db down")

    with caplog.at_level(logging.ERROR, logger="basicauth_wsgi"):
        res = call(BasicAuth(inner, broken), "/", headers=[ADMIN])
    assert res.status == 500 and inner.scopes == []
    assert "verifier raised" in caplog.text and "SuperSecretPwd" not in caplog.text


def test_custom_unauthorized_app_keeps_the_challenge(inner: Recorder) -> None:
    async def page(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"please log in"})

    res = call(BasicAuth(inner, USERS, unauthorized=page), "/")
    assert (res.status, res.body) == (401, b"please log in")
    assert res.header("www-authenticate") == CHALLENGE
    assert res.header("cache-control") == "no-store"


# -- success --------------------------------------------------------------


def test_success_sets_the_scope_keys_and_user(inner: Recorder) -> None:
    res = call(BasicAuth(inner, USERS), "/x", headers=[ADMIN])
    assert res.status == 200
    assert res.json() == {
        "username": "admin",
        "principal": "'admin'",
        "user": "admin",
        "authorization": [],
        "path": "/x",
    }
    user = inner.scopes[0]["user"]
    assert isinstance(user, BasicUser)
    assert (user.is_authenticated, user.display_name, user.identity) == (True, "admin", "admin")


def test_principal_from_a_callable(inner: Recorder) -> None:
    def check(username: str, password: str) -> object:
        return {"id": 7} if password == "pw" else None

    call(BasicAuth(inner, check), "/", headers=[("Authorization", basic("bob", "pw"))])
    assert inner.scopes[0]["basicauth.user"] == {"id": 7}
    assert inner.scopes[0]["basicauth.username"] == "bob"


def test_a_user_set_by_an_outer_middleware_is_kept(inner: Recorder) -> None:
    scope = scope_for("/", headers=[ADMIN])
    scope["user"] = outer = object()
    run(request(BasicAuth(inner, USERS), scope))
    assert inner.scopes[0]["user"] is outer
    assert inner.scopes[0]["basicauth.username"] == "admin"


def test_the_servers_scope_and_headers_are_never_changed(inner: Recorder) -> None:
    scope = scope_for("/", headers=[ADMIN, ("Accept", "*/*")])
    before, headers = dict(scope), list(scope["headers"])
    run(request(BasicAuth(inner, USERS), scope))
    assert scope == before and scope["headers"] == headers
    assert inner.scopes[0] is not scope
    assert inner.scopes[0]["headers"] == [(b"accept", b"*/*")]


def test_authorization_kept_when_asked(inner: Recorder) -> None:
    res = call(BasicAuth(inner, USERS, strip_authorization=False), "/", headers=[ADMIN])
    assert res.json()["authorization"] == [ADMIN[1]]


def test_public_paths_never_see_credentials(inner: Recorder) -> None:
    res = call(BasicAuth(inner, USERS, exclude=["/health"]), "/health", headers=[ADMIN])
    assert res.status == 200
    assert res.json()["authorization"] == [] and res.json()["username"] is None


def test_repeated_authorization_headers_are_refused(inner: Recorder) -> None:
    # RFC 9110 §5.3: combined into one list value, which is no credential.
    twice = [ADMIN, ADMIN]
    assert call(BasicAuth(inner, USERS), "/", headers=twice).status == 401
    assert inner.scopes == []


def test_lifespan_passes_through(inner: Recorder) -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    run(BasicAuth(inner, USERS)(scope, receive, send))
    assert inner.scopes == [scope] and inner.scopes[0] is scope
    assert sent == [{"type": "lifespan.startup.complete"}]


# -- the facts: client, scheme, preflight -----------------------------------


def test_client_and_https(inner: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    app = BasicAuth(inner, USERS, require_https=True)
    assert call(app, "/", headers=[ADMIN]).status == 403
    assert call(app, "/", headers=[ADMIN], scheme="https").status == 200
    assert call(app, "/", headers=[ADMIN], client=("127.0.0.1", 1)).status == 200
    with caplog.at_level(logging.WARNING, logger="basicauth_wsgi"):
        call(app, "/", headers=[("Authorization", basic("a", "b"))], client=None, scheme="https")
    assert "client=- " in caplog.records[0].getMessage()


PREFLIGHT = [("Origin", "https://app.example"), ("Access-Control-Request-Method", "GET")]


async def leaky(scope: Any, receive: Any, send: Any) -> None:
    """An application that answers OPTIONS like GET, in several chunks."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"set-cookie", b"session=abc"),
                (b"access-control-allow-origin", b"https://app.example"),
                (b"allow", b"GET, OPTIONS"),
                (b"vary", b"Origin"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b'{"secret":', "more_body": True})
    await send({"type": "http.response.body", "body": b" 42}"})


def test_a_passed_preflight_reveals_only_status_and_cors_headers() -> None:
    app = BasicAuth(leaky, USERS, allow_cors_preflight=True)
    res = call(app, "/api", method="OPTIONS", headers=PREFLIGHT)
    assert res == Response(
        200,
        [
            (b"access-control-allow-origin", b"https://app.example"),
            (b"allow", b"GET, OPTIONS"),
            (b"vary", b"Origin"),
            (b"content-type", b"text/plain"),
            (b"content-length", b"0"),
        ],
        b"",
    )


@pytest.mark.parametrize(
    ("method", "headers", "allowed"),
    [
        ("OPTIONS", PREFLIGHT, False),
        ("OPTIONS", PREFLIGHT[:1], True),
        ("GET", PREFLIGHT, True),
    ],
    ids=["preflight-off-by-default", "origin-only", "not-options"],
)
def test_other_requests_need_credentials(
    inner: Recorder, method: str, headers: list[tuple[str, str]], allowed: bool
) -> None:
    app = BasicAuth(inner, USERS, allow_cors_preflight=allowed)
    assert call(app, "/api", method=method, headers=headers).status == 401
    assert inner.scopes == []


# -- the path -------------------------------------------------------------

PATHS = [
    ({"path": "/a/b", "raw_path": b"/a/b"}, "/a/b", "plain"),
    ({"path": "/a b", "raw_path": b"/a%20b"}, "/a b", "decoded-once"),
    ({"path": "/a%2fb", "raw_path": b"/a%252fb"}, "/a%2fb", "not-twice"),
    ({"path": "/a", "raw_path": b"/a?x=1"}, "/a", "query-left-in-raw-path"),
    ({"path": "/caf\u00e9"}, "/caf\u00c3\u00a9", "no-raw-path-latin1-of-utf8"),
    ({"path": "/caf\u00e9", "raw_path": b"/caf%C3%A9"}, "/caf\u00c3\u00a9", "raw-utf8"),
    ({"path": "/app/x", "raw_path": b"/app/x", "root_path": "/app"}, "/app/x", "root-included"),
    ({"path": "/x", "raw_path": b"/x", "root_path": "/app"}, "/app/x", "root-prefixed"),
    ({"path": "", "root_path": "/app"}, "/app", "root-only"),
    ({"path": ""}, "/", "empty"),
]


@pytest.mark.parametrize(("scope", "path"), [p[:2] for p in PATHS], ids=[p[2] for p in PATHS])
def test_request_path(scope: dict[str, Any], path: str) -> None:
    assert request_path(scope)[0] == path


def test_a_rewritten_path_is_protected_too(inner: Recorder) -> None:
    # An outer middleware that rewrote path but not raw_path: both readings count.
    app = BasicAuth(inner, USERS, exclude=["/health"])
    scope = scope_for("/health")
    scope["path"] = "/private"
    assert run(request(app, scope)).status == 401
    assert inner.scopes == []


# SPEC §3's spellings as they arrive on the wire (the raw path); the scope's
# path is what uvicorn decodes from it.
ATTACKS = [
    ("/private", "", "plain"),
    ("//private", "", "double-slash"),
    ("/health/../private", "", "dotdot"),
    ("/health/%2e%2e/private", "", "encoded-dotdot"),
    ("/health/%252e%252e/private", "", "double-encoded-dotdot"),
    ("/public/..;/private", "", "tomcat-params"),
    ("/static/..%252fprivate", "", "double-encoded-slash"),
    ("/static/..%2fprivate", "", "encoded-slash"),
    ("/static/..%5cprivate", "", "encoded-backslash"),
    ("/static/..\\private", "", "backslash"),
    ("/healthz", "", "prefix-of-exact"),
    ("//health", "", "odd-spelling-of-public"),
    ("/health%3bx", "", "encoded-params"),
    ("/v1/private", "/api", "root-path-mounted"),
    ("/../private", "/static", "root-path-dotdot"),
]


@pytest.mark.parametrize(("path", "root"), [a[:2] for a in ATTACKS], ids=[a[2] for a in ATTACKS])
@pytest.mark.parametrize("raw", [True, False], ids=["raw_path", "path-only"])
def test_no_spelling_of_a_protected_path_skips_auth(
    inner: Recorder, path: str, root: str, raw: bool
) -> None:
    app = BasicAuth(inner, USERS, exclude=["/health", "/static/", "/public/"])
    res = call(app, path, root_path=root, raw_path=raw)
    assert inner.scopes == []
    assert res.status == 401 and res.header("www-authenticate") == CHALLENGE


@pytest.mark.parametrize(
    "path", ["/health", "/static/app.css", "/public/x"], ids=["exact", "subtree", "other-subtree"]
)
def test_public_paths_pass(inner: Recorder, path: str) -> None:
    app = BasicAuth(inner, USERS, exclude=["/health", "/static/", "/public/"])
    assert call(app, path).status == 200
    assert json.loads(call(app, path).body)["username"] is None


async def no_content(scope: Any, receive: Any, send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 204,
            "headers": [(b"access-control-allow-origin", b"*"), (b"x-secret", b"1")],
        }
    )
    await send({"type": "http.response.body", "body": b""})


def test_a_204_preflight_gets_no_length() -> None:
    # RFC 9110 §8.6: a 204 carries no Content-Length.
    app = BasicAuth(no_content, USERS, allow_cors_preflight=True)
    res = call(app, "/api", method="OPTIONS", headers=PREFLIGHT)
    assert res == Response(204, [(b"access-control-allow-origin", b"*")], b"")
