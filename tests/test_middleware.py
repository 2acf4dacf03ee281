"""BasicAuth: challenge, negotiation, environ, paths, options, logging (SPEC §2, §3)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pytest
from helpers import CHALLENGE, USERS, Recorder, auth, basic, call, make

from basicauth_wsgi import BasicAuth, PlainUsers

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


# -- the challenge --------------------------------------------------------


def test_missing_credentials_get_the_challenge(inner: Recorder) -> None:
    res = make(inner).get("/", status=401)
    assert res.headers["WWW-Authenticate"] == CHALLENGE
    assert res.headers["Cache-Control"] == "no-store"
    assert inner.calls == []


def test_realm_is_quoted_and_escaped(inner: Recorder) -> None:
    res = make(inner, realm='Ops "internal" \\ tools').get("/", status=401)
    assert res.headers["WWW-Authenticate"] == (
        'Basic realm="Ops \\"internal\\" \\\\ tools", charset="UTF-8"'
    )


FAILURES = {
    "missing": {},
    "malformed": {"Authorization": "Basic %%%"},
    "no-colon": {"Authorization": "Basic YWRtaW4="},
    "unknown-user": auth("nobody", "SuperSecretPwd"),
    "wrong-password": auth("admin", "wrong"),
    "empty-password": auth("admin", ""),
    "bearer-scheme": {"Authorization": basic("admin", "SuperSecretPwd", "Bearer")},
    "other-scheme": {"Authorization": basic("admin", "SuperSecretPwd", "Custom")},
}


@pytest.mark.parametrize("headers", FAILURES.values(), ids=FAILURES.keys())
def test_every_failure_gets_the_same_401(inner: Recorder, headers: dict[str, str]) -> None:
    app = make(inner)
    reference = app.get("/", status=401)
    res = app.get("/", headers=headers, status=401)
    assert res.status == reference.status
    assert sorted(res.headerlist) == sorted(reference.headerlist)
    assert res.body == reference.body
    assert inner.calls == []


def test_only_basic_authenticates(inner: Recorder) -> None:
    token = basic("admin", "SuperSecretPwd").split()[1]
    for scheme in ("Bearer", "Digest", "Negotiate", "Basic2"):
        make(inner).get("/", headers={"Authorization": f"{scheme} {token}"}, status=401)
    assert inner.calls == []


# -- negotiated bodies ----------------------------------------------------

NEGOTIATION = [
    ({"Accept": "application/json"}, "application/json", "json"),
    ({"Accept": "application/json, text/plain, */*"}, "application/json", "axios-default"),
    ({"Accept": "application/problem+json"}, "application/json", "json-suffix"),
    ({"Content-Type": "application/json"}, "application/json", "json-request"),
    (
        {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
        "text/html; charset=utf-8",
        "browser",
    ),
    ({"Accept": "text/html;q=0.5, application/json"}, "application/json", "q-values"),
    ({"Accept": "application/json;q=0, text/html"}, "text/html; charset=utf-8", "q-zero"),
    ({"Accept": "*/*"}, "text/plain; charset=utf-8", "curl-default"),
    ({}, "text/plain; charset=utf-8", "no-accept"),
    ({"Accept": "image/png"}, "text/plain; charset=utf-8", "unrelated"),
]


@pytest.mark.parametrize(
    ("headers", "content_type"), [n[:2] for n in NEGOTIATION], ids=[n[2] for n in NEGOTIATION]
)
def test_401_body_is_negotiated(
    inner: Recorder, headers: dict[str, str], content_type: str
) -> None:
    method = "post" if "Content-Type" in headers else "get"
    kwargs: dict[str, Any] = {"headers": headers, "status": 401}
    if method == "post":
        kwargs["params"] = b"{}"
    res = getattr(make(inner), method)("/", **kwargs)
    assert res.headers["Content-Type"] == content_type
    assert res.headers["Content-Length"] == str(len(res.body))
    assert res.headers["Vary"] == "Accept"


def test_json_401_body(inner: Recorder) -> None:
    res = make(inner).get("/", headers={"Accept": "application/json"}, status=401)
    assert res.json["error"] == "unauthorized"
    assert res.json["message"]
    assert set(res.json) == {"error", "message"}


def test_html_401_body_is_a_small_page(inner: Recorder) -> None:
    res = make(inner).get("/", headers={"Accept": "text/html"}, status=401)
    assert res.body.startswith(b"<!DOCTYPE html>")
    assert b"401 Unauthorized" in res.body


def test_plain_401_body(inner: Recorder) -> None:
    res = make(inner).get("/", status=401)
    assert res.text.startswith("401 Unauthorized: ")


def test_head_401_has_no_body_but_the_get_length(inner: Recorder) -> None:
    app = make(inner)
    got = app.get("/", headers={"Accept": "application/json"}, status=401)
    head = app.head("/", headers={"Accept": "application/json"}, status=401)
    assert head.body == b""
    assert head.headers["Content-Length"] == got.headers["Content-Length"] != "0"
    assert head.headers["WWW-Authenticate"] == CHALLENGE


# -- success --------------------------------------------------------------


def test_success_sets_remote_user_and_auth_type(inner: Recorder) -> None:
    res = make(inner).get("/private", headers=auth())
    assert res.json["remote_user"] == "admin"
    assert res.json["auth_type"] == "Basic"
    assert res.json["principal"] == "'admin'"


def test_utf8_credentials_authenticate(inner: Recorder) -> None:
    res = make(inner).get("/", headers={"Authorization": basic("jürgen", "pässwörd")})
    assert res.json["remote_user"] == "jürgen"


def test_latin1_credentials_fall_back(inner: Recorder) -> None:
    import base64

    token = base64.b64encode("jürgen:pässwörd".encode("latin-1")).decode()
    res = make(inner).get("/", headers={"Authorization": f"Basic {token}"})
    assert res.json["remote_user"] == "jürgen"


def test_decomposed_password_matches_composed_one(inner: Recorder) -> None:
    res = make(inner).get(
        "/", headers={"Authorization": basic("ju\u0308rgen", "pa\u0308sswo\u0308rd")}
    )
    assert res.json["remote_user"] == "jürgen"


def test_authorization_is_stripped_by_default(inner: Recorder) -> None:
    res = make(inner).get("/", headers=auth())
    assert res.json["authorization"] is None
    assert "HTTP_AUTHORIZATION" not in inner.calls[0]


def test_authorization_kept_when_asked(inner: Recorder) -> None:
    res = make(inner, strip_authorization=False).get("/", headers=auth())
    assert res.json["authorization"] == basic("admin", "SuperSecretPwd")


def test_callable_principal_is_stored(inner: Recorder) -> None:
    principal = {"id": 7, "name": "admin"}

    def check(username: str, password: str) -> object:
        return principal if (username, password) == ("admin", "pw") else None

    res = make(inner, check).get("/", headers=auth("admin", "pw"))
    assert res.json["principal"] == repr(principal)
    assert res.json["remote_user"] == "admin"


def test_callable_true_means_username_is_principal(inner: Recorder) -> None:
    res = make(inner, lambda u, p: p == "pw").get("/", headers=auth("bob", "pw"))
    assert res.json["principal"] == "'bob'"


@pytest.mark.parametrize("falsy", [None, False, 0, "", []], ids=repr)
def test_callable_falsy_refuses(inner: Recorder, falsy: object) -> None:
    make(inner, lambda u, p: falsy).get("/", headers=auth(), status=401)
    assert inner.calls == []


def test_verifier_object(inner: Recorder) -> None:
    class Directory:
        def verify(self, username: str, password: str) -> str | None:
            return f"cn={username}" if password == "pw" else None

    res = make(inner, Directory()).get("/", headers=auth("eve", "pw"))
    assert res.json["principal"] == "'cn=eve'"
    make(inner, Directory()).get("/", headers=auth("eve", "nope"), status=401)


def test_plain_users_instance(inner: Recorder) -> None:
    make(inner, PlainUsers({"a": "b"})).get("/", headers=auth("a", "b"))


def test_tutorial_user_data_dict_works_as_is(inner: Recorder) -> None:
    user_data = {"admin": "SuperSecretPwd"}
    res = make(inner, user_data).get("/api/v1/private", headers=auth())
    assert res.json["remote_user"] == "admin"


# -- errors ---------------------------------------------------------------


def test_verifier_exception_is_500_and_never_authenticates(
    inner: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(username: str, password: str) -> bool:
        raise RuntimeError("directory down")

    with caplog.at_level(logging.ERROR, logger="basicauth_wsgi"):
        res = make(inner, broken).get(
            "/", headers={**auth(), "Accept": "application/json"}, status=500
        )
    assert res.json["error"] == "internal_error"
    assert "WWW-Authenticate" not in res.headers
    assert inner.calls == []
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.exc_info is not None and "directory down" in str(record.exc_info[1])


def test_app_exceptions_propagate(inner: Recorder) -> None:
    def failing(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise KeyError("app bug")

    app = BasicAuth(failing, USERS)
    with pytest.raises(KeyError, match="app bug"):
        call(app, "/", HTTP_AUTHORIZATION=basic("admin", "SuperSecretPwd"))


def test_app_iterable_is_passed_through_and_closed(inner: Recorder) -> None:
    app = BasicAuth(inner, USERS)
    environ: dict[str, Any] = {
        "PATH_INFO": "/",
        "HTTP_AUTHORIZATION": basic("admin", "SuperSecretPwd"),
    }
    result = app(environ, lambda status, headers, exc_info=None: lambda data: None)
    assert result is inner.bodies[0]
    status, _, _ = call(app, "/", HTTP_AUTHORIZATION=basic("admin", "SuperSecretPwd"))
    assert status == "200 OK"
    assert inner.bodies[1].closed


# -- custom 401 renderer --------------------------------------------------


def test_custom_unauthorized_app_gets_the_challenge_added(inner: Recorder) -> None:
    def render(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = b"please log in"
        start_response(
            "401 Unauthorized", [("Content-Type", "text/plain"), ("Content-Length", "13")]
        )
        return [body]

    res = make(inner, unauthorized=render).get("/", status=401)
    assert res.body == b"please log in"
    assert res.headers["WWW-Authenticate"] == CHALLENGE
    assert res.headers["Cache-Control"] == "no-store"


def test_custom_unauthorized_app_cannot_turn_a_401_into_a_success(inner: Recorder) -> None:
    def render(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        assert "HTTP_AUTHORIZATION" not in environ
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    res = make(inner, unauthorized=render).get("/", headers=auth("admin", "bad"), status=401)
    assert res.headers["WWW-Authenticate"] == CHALLENGE
    assert inner.calls == []


# -- exclude / include ----------------------------------------------------

PUBLIC = [
    ({"exclude": ["/health"]}, "/health", True, "exact"),
    ({"exclude": ["/health"]}, "/health/", False, "exact-not-slash"),
    ({"exclude": ["/health"]}, "/healthz", False, "exact-not-prefix"),
    ({"exclude": ["/health"]}, "/Health", False, "case-sensitive"),
    ({"exclude": ["/static/"]}, "/static/", True, "subtree-root"),
    ({"exclude": ["/static/"]}, "/static/css/app.css", True, "subtree-child"),
    ({"exclude": ["/static/"]}, "/static", False, "subtree-not-bare"),
    ({"exclude": ["/static/"]}, "/staticx/a", False, "subtree-not-sibling"),
    ({"include": ["/admin/"]}, "/", True, "include-outside"),
    ({"include": ["/admin/"]}, "/admin/users", False, "include-inside"),
    (
        {"include": ["/admin/"], "exclude": ["/admin/login"]},
        "/admin/login",
        True,
        "exclude-in-include",
    ),
    ({"include": ["/admin/"], "exclude": ["/admin/login"]}, "/admin/x", False, "include-rest"),
    ({}, "/anything", False, "default-protects-all"),
]


@pytest.mark.parametrize(
    ("options", "path", "public"), [p[:3] for p in PUBLIC], ids=[p[3] for p in PUBLIC]
)
def test_path_lists(inner: Recorder, options: dict[str, Any], path: str, public: bool) -> None:
    status, _, _ = call(BasicAuth(inner, USERS, **options), path)
    assert (status == "200 OK") is public
    assert bool(inner.calls) is public
    if public:
        assert inner.calls[0]["PATH_INFO"] == path
        assert "REMOTE_USER" not in inner.calls[0]


def test_public_path_never_sees_credentials(inner: Recorder) -> None:
    call(
        BasicAuth(inner, USERS, exclude=["/health"]), "/health", HTTP_AUTHORIZATION=basic("a", "b")
    )
    assert "HTTP_AUTHORIZATION" not in inner.calls[0]


def test_script_name_counts(inner: Recorder) -> None:
    app = BasicAuth(inner, USERS, exclude=["/health"])
    status, _, _ = call(app, "/health", SCRIPT_NAME="/mount")
    assert status.startswith("401")
    status, _, _ = call(app, "", SCRIPT_NAME="/health")
    assert status == "200 OK"


# No spelling of a protected path may reach the app without credentials.
# Each path arrives as PATH_INFO, i.e. after the server's percent-decoding.
ATTACKS = [
    ("/private", "", "plain"),
    ("//private", "", "double-slash"),
    ("///private", "", "triple-slash"),
    ("/health/../private", "", "dotdot-from-exact"),
    ("/health/./../private", "", "dot-then-dotdot"),
    ("/health/%2e%2e/private", "", "double-encoded-dotdot"),
    ("/health/%2E%2E/private", "", "double-encoded-upper"),
    ("/health/.%2e/private", "", "half-encoded"),
    ("/public/..;/private", "", "tomcat-params"),
    ("/public/..;jsessionid=1/private", "", "tomcat-params-value"),
    ("/static/../private", "", "dotdot-from-subtree"),
    ("/static/./../private", "", "dot-dotdot-from-subtree"),
    ("/static//../private", "", "slash-dotdot-from-subtree"),
    ("/static/a/../../private", "", "two-levels"),
    ("/private/../static/x", "", "protected-literal-public-normalised"),
    ("/private/..;/static/x", "", "protected-literal-params"),
    ("/health/..", "", "dotdot-to-root"),
    ("/health/.", "", "trailing-dot"),
    ("/health/", "", "trailing-slash-on-exact"),
    ("/health;x", "", "params-on-exact"),
    ("/healthz", "", "prefix-of-exact"),
    ("/Health", "", "case"),
    ("/v1/private", "/api", "mounted-app"),
    ("/../private", "/static", "script-name-dotdot"),
    ("/private", "/health/..", "script-name-dotdot-in-script"),
    ("/../private", "/health", "script-name-exact-dotdot"),
    ("", "/private", "script-name-only"),
    ("/static", "", "subtree-bare"),
    ("/%2e%2e/private", "/static", "script-name-encoded"),
]


@pytest.mark.parametrize(
    ("path_info", "script_name"), [a[:2] for a in ATTACKS], ids=[a[2] for a in ATTACKS]
)
def test_no_spelling_of_a_protected_path_skips_auth(
    inner: Recorder, path_info: str, script_name: str
) -> None:
    app = BasicAuth(inner, USERS, exclude=["/health", "/static/", "/public/"])
    status, headers, _ = call(app, path_info, SCRIPT_NAME=script_name)
    assert inner.calls == []
    assert status.startswith("401")
    assert ("WWW-Authenticate", CHALLENGE) in headers


# -- CORS preflight -------------------------------------------------------

PREFLIGHT = {"HTTP_ORIGIN": "https://app.example", "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "GET"}


def test_cors_preflight_passes(inner: Recorder) -> None:
    status, _, _ = call(BasicAuth(inner, USERS), "/api", REQUEST_METHOD="OPTIONS", **PREFLIGHT)
    assert status == "200 OK"
    assert inner.calls[0]["REQUEST_METHOD"] == "OPTIONS"


@pytest.mark.parametrize(
    "environ",
    [{}, {"HTTP_ORIGIN": "https://a.example"}, {"HTTP_ACCESS_CONTROL_REQUEST_METHOD": "GET"}],
    ids=["bare", "origin-only", "acrm-only"],
)
def test_other_options_need_credentials(inner: Recorder, environ: dict[str, str]) -> None:
    status, _, _ = call(BasicAuth(inner, USERS), "/api", REQUEST_METHOD="OPTIONS", **environ)
    assert status.startswith("401")
    assert inner.calls == []


def test_preflight_not_public_when_disabled(inner: Recorder) -> None:
    app = BasicAuth(inner, USERS, allow_cors_preflight=False)
    status, _, _ = call(app, "/api", REQUEST_METHOD="OPTIONS", **PREFLIGHT)
    assert status.startswith("401")


def test_preflight_headers_on_get_do_not_skip_auth(inner: Recorder) -> None:
    status, _, _ = call(BasicAuth(inner, USERS), "/api", REQUEST_METHOD="GET", **PREFLIGHT)
    assert status.startswith("401")


# -- require_https --------------------------------------------------------


def test_require_https_refuses_plain_http(inner: Recorder) -> None:
    app = BasicAuth(inner, USERS, require_https=True)
    status, headers, body = call(
        app,
        "/",
        HTTP_AUTHORIZATION=basic("admin", "SuperSecretPwd"),
        HTTP_ACCEPT="application/json",
    )
    assert status == "403 Forbidden"
    assert "WWW-Authenticate" not in dict(headers)
    assert json.loads(body)["error"] == "https_required"
    assert "HTTPS required" in json.loads(body)["message"]
    assert inner.calls == []


def test_require_https_checks_before_credentials(
    inner: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    app = BasicAuth(inner, USERS, require_https=True)
    with caplog.at_level(logging.WARNING, logger="basicauth_wsgi"):
        status, _, _ = call(app, "/", HTTP_AUTHORIZATION="Basic %%%")
    assert status == "403 Forbidden"
    assert caplog.records == []


def test_require_https_allows_https(inner: Recorder) -> None:
    app = BasicAuth(inner, USERS, require_https=True)
    status, _, _ = call(
        app,
        "/",
        HTTP_AUTHORIZATION=basic("admin", "SuperSecretPwd"),
        **{"wsgi.url_scheme": "https"},
    )
    assert status == "200 OK"


@pytest.mark.parametrize("addr", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_require_https_allows_loopback(inner: Recorder, addr: str) -> None:
    app = BasicAuth(inner, USERS, require_https=True)
    status, _, _ = call(
        app, "/", REMOTE_ADDR=addr, HTTP_AUTHORIZATION=basic("admin", "SuperSecretPwd")
    )
    assert status == "200 OK"


@pytest.mark.parametrize("addr", ["10.0.0.1", "::ffff:10.0.0.1", "", "not-an-ip"])
def test_require_https_refuses_other_addresses(inner: Recorder, addr: str) -> None:
    app = BasicAuth(inner, USERS, require_https=True)
    status, _, _ = call(app, "/", REMOTE_ADDR=addr)
    assert status == "403 Forbidden"


def test_require_https_leaves_public_paths_alone(inner: Recorder) -> None:
    app = BasicAuth(inner, USERS, require_https=True, exclude=["/health"])
    status, _, _ = call(app, "/health")
    assert status == "200 OK"


# -- construction ---------------------------------------------------------

BAD_OPTIONS = [
    ({"realm": "a\r\nX-Injected: 1"}, ValueError, "realm", "realm-crlf"),
    ({"realm": "a\nb"}, ValueError, "realm", "realm-lf"),
    ({"realm": "snow ☃"}, ValueError, "realm", "realm-not-latin1"),
    ({"realm": b"bytes"}, TypeError, "realm", "realm-bytes"),
    ({"exclude": "/health"}, TypeError, "exclude", "exclude-string"),
    ({"exclude": ["health"]}, ValueError, "exclude", "exclude-relative"),
    ({"exclude": ["/a/../b"]}, ValueError, "exclude", "exclude-not-normal"),
    ({"exclude": ["/"]}, ValueError, "exclude", "exclude-everything"),
    ({"include": []}, ValueError, "include", "include-empty"),
    ({"include": ["x"]}, ValueError, "include", "include-relative"),
    ({"require_https": "yes"}, TypeError, "require_https", "require-https-str"),
    ({"strip_authorization": 1}, TypeError, "strip_authorization", "strip-int"),
    ({"allow_cors_preflight": None}, TypeError, "allow_cors_preflight", "cors-none"),
    ({"unauthorized": "page"}, TypeError, "unauthorized", "unauthorized-str"),
    ({"logger": "basicauth"}, TypeError, "logger", "logger-str"),
]


@pytest.mark.parametrize(
    ("options", "error", "name"), [b[:3] for b in BAD_OPTIONS], ids=[b[3] for b in BAD_OPTIONS]
)
def test_bad_options_name_themselves(
    inner: Recorder, options: dict[str, Any], error: type[Exception], name: str
) -> None:
    with pytest.raises(error, match=name):
        BasicAuth(inner, USERS, **options)


def test_unknown_option_is_a_type_error(inner: Recorder) -> None:
    with pytest.raises(TypeError, match="throttel"):
        BasicAuth(inner, USERS, throttel=None)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("users", "error", "match"),
    [
        ({}, ValueError, "empty"),
        (None, TypeError, "users"),
        (["admin"], TypeError, "users"),
        ({"admin": 123}, TypeError, "must be str"),
        ({"": "pw"}, ValueError, "not a valid username"),
        ({"a:b": "pw"}, ValueError, "not a valid username"),
        ({"caf\u00e9": "1", "cafe\u0301": "2"}, ValueError, "twice"),
    ],
    ids=["empty", "none", "list", "non-str-password", "empty-name", "colon-name", "nfc-duplicate"],
)
def test_bad_users_fail_closed(
    inner: Recorder, users: object, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        BasicAuth(inner, users)


def test_app_must_be_callable() -> None:
    with pytest.raises(TypeError, match="app"):
        BasicAuth("not an app", USERS)  # type: ignore[arg-type]


# -- logging --------------------------------------------------------------


def _all_log_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(caplog.text.splitlines() + [r.getMessage() for r in caplog.records])


def test_failures_are_logged_with_the_reason(
    inner: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    app = make(inner)
    with caplog.at_level(logging.WARNING, logger="basicauth_wsgi"):
        app.get("/a", headers=auth("admin", "wrong"), status=401)
        app.get("/b", headers=auth("ghost", "x"), status=401)
        app.get("/c", headers={"Authorization": "Basic !!"}, status=401)
        app.get("/d", headers={"Authorization": "Bearer abc"}, status=401)
    assert [r.getMessage() for r in caplog.records] == [
        "authentication failed: user='admin' client=192.0.2.10 reason=wrong_password path=/a",
        "authentication failed: user='ghost' client=192.0.2.10 reason=unknown_user path=/b",
        "authentication failed: user=None client=192.0.2.10 reason=malformed path=/c",
        "authentication failed: user=None client=192.0.2.10 reason=unsupported_scheme path=/d",
    ]
    assert all(r.levelno == logging.WARNING and r.name == "basicauth_wsgi" for r in caplog.records)


def test_callable_failures_log_invalid_credentials(
    inner: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="basicauth_wsgi"):
        make(inner, lambda u, p: False).get("/", headers=auth(), status=401)
    assert "reason=invalid_credentials" in caplog.records[0].getMessage()


def test_missing_header_is_not_logged_as_a_failure(
    inner: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="basicauth_wsgi"):
        make(inner).get("/", status=401)
    assert caplog.records == []


def test_custom_logger_is_used(inner: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="myapp.auth"):
        make(inner, logger=logging.getLogger("myapp.auth")).get(
            "/", headers=auth("x", "y"), status=401
        )
    assert [r.name for r in caplog.records] == ["myapp.auth"]


@pytest.mark.parametrize(
    "password", ["SuperSecretPwd", "wrong-Secret-42"], ids=["successful-login", "failed-login"]
)
def test_no_password_or_header_in_any_log(
    inner: Recorder, caplog: pytest.LogCaptureFixture, password: str
) -> None:
    header = basic("admin", password)

    def exploding(username: str, pw: str) -> bool:
        raise RuntimeError("backend unavailable")

    with caplog.at_level(logging.DEBUG):
        make(inner).get("/", headers={"Authorization": header}, expect_errors=True)
        make(inner, exploding).get("/", headers={"Authorization": header}, status=500)
    text = _all_log_text(caplog)
    assert caplog.records  # the 500 at least was logged
    assert password not in text
    assert header not in text
    assert header.split()[1] not in text


def test_username_cannot_forge_a_log_line(
    inner: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    forged = "x\nauthentication failed: user='admin' client=6.6.6.6 reason=wrong_password path=/"
    # CR/LF never get past the parser (RFC 7617 §2), but Unicode line
    # breaks do (NEL is a C1 character, LS and PS are not controls at all):
    # repr() must escape every one of them.
    with caplog.at_level(logging.WARNING, logger="basicauth_wsgi"):
        for name in (forged, "x\u0085forged", "x\u2028forged", "x\u2029forged"):
            make(inner).get("/", headers=auth(name, "pw"), status=401)
    lines = caplog.text.splitlines()
    assert len(lines) == len(caplog.records)
    for record in caplog.records:
        message = record.getMessage()
        assert message.count("authentication failed:") == 1
        assert not any(c in message for c in "\n\r\u0085\u2028\u2029")


def test_path_in_log_is_escaped(inner: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="basicauth_wsgi"):
        call(BasicAuth(inner, USERS), "/a\r\nforged line", HTTP_AUTHORIZATION=basic("x", "y"))
    [record] = caplog.records
    assert record.getMessage().endswith("path=/a%0D%0Aforged%20line")


# -- constant time --------------------------------------------------------


def test_plain_users_compare_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    seen: list[tuple[int, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append((len(a), b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    users = PlainUsers({"admin": "SuperSecretPwd"})
    assert users.verify("admin", "SuperSecretPwd") == "admin"
    assert users.verify("admin", "guess") is None
    assert users.verify("nobody", "guess") is None
    assert users.verify("nobody", "SuperSecretPwd") is None
    # One constant-time comparison per check, known user or not, always
    # against the password the client sent.
    assert [b for _, b in seen] == [b"SuperSecretPwd", b"guess", b"guess", b"SuperSecretPwd"]


def test_plain_users_reports_known_users_for_the_log_only() -> None:
    users = PlainUsers({"admin": "pw"})
    assert users.has_user("admin") and not users.has_user("ghost")
    assert len(users) == 1
    assert "pw" not in repr(users)
