"""BasicAuth's exclude and include path lists (SPEC §3)."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import CHALLENGE, USERS, Recorder, basic, call

from basicauth_wsgi import BasicAuth

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
