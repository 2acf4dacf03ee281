"""BasicAuth's decisions: the challenge, success, errors, construction, constant time."""

from __future__ import annotations

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
