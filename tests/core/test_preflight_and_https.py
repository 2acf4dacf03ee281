"""BasicAuth's CORS preflight pass-through and require_https."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from helpers import USERS, Recorder, basic, call

from basicauth_wsgi import BasicAuth

# -- CORS preflight -------------------------------------------------------

PREFLIGHT = {"HTTP_ORIGIN": "https://app.example", "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "GET"}


def test_cors_preflight_passes_when_allowed(inner: Recorder) -> None:
    app = BasicAuth(inner, USERS, allow_cors_preflight=True)
    status, _, _ = call(app, "/api", REQUEST_METHOD="OPTIONS", **PREFLIGHT)
    assert status == "200 OK"
    assert inner.calls[0]["REQUEST_METHOD"] == "OPTIONS"


def test_cors_preflight_needs_credentials_by_default(inner: Recorder) -> None:
    # SPEC §3: off by default, as in Apache and nginx.
    status, _, _ = call(BasicAuth(inner, USERS), "/api", REQUEST_METHOD="OPTIONS", **PREFLIGHT)
    assert status.startswith("401")
    assert inner.calls == []


def leaky(environ: dict[str, object], start_response: Any) -> list[bytes]:
    """An application that answers OPTIONS like GET: the protected body and all."""
    body = b'{"secret": 42}'
    start_response(
        "200 OK",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Set-Cookie", "session=abc"),
            ("X-Secret", "yes"),
            ("Access-Control-Allow-Origin", "https://app.example"),
            ("Access-Control-Allow-Methods", "GET, POST"),
            ("Allow", "GET, POST, OPTIONS"),
            ("Vary", "Origin"),
        ],
    )
    return [body]


def test_a_passed_preflight_reveals_only_status_and_cors_headers() -> None:
    app = BasicAuth(leaky, USERS, allow_cors_preflight=True)
    status, headers, body = call(app, "/api", REQUEST_METHOD="OPTIONS", **PREFLIGHT)
    assert status == "200 OK"
    assert body == b""
    assert sorted(headers) == [
        ("Access-Control-Allow-Methods", "GET, POST"),
        ("Access-Control-Allow-Origin", "https://app.example"),
        ("Allow", "GET, POST, OPTIONS"),
        ("Content-Length", "0"),
        ("Content-Type", "text/plain"),
        ("Vary", "Origin"),
    ]


def test_a_passed_preflight_closes_the_app_iterable(inner: Recorder) -> None:
    app = BasicAuth(inner, USERS, allow_cors_preflight=True)
    status, _, body = call(app, "/api", REQUEST_METHOD="OPTIONS", **PREFLIGHT)
    assert (status, body) == ("200 OK", b"")
    assert inner.bodies[0].closed


@pytest.mark.parametrize(
    "environ",
    [{}, {"HTTP_ORIGIN": "https://a.example"}, {"HTTP_ACCESS_CONTROL_REQUEST_METHOD": "GET"}],
    ids=["bare", "origin-only", "acrm-only"],
)
def test_other_options_need_credentials(inner: Recorder, environ: dict[str, str]) -> None:
    app = BasicAuth(inner, USERS, allow_cors_preflight=True)
    status, _, _ = call(app, "/api", REQUEST_METHOD="OPTIONS", **environ)
    assert status.startswith("401")
    assert inner.calls == []


def test_preflight_not_public_when_disabled(inner: Recorder) -> None:
    app = BasicAuth(inner, USERS, allow_cors_preflight=False)
    status, _, _ = call(app, "/api", REQUEST_METHOD="OPTIONS", **PREFLIGHT)
    assert status.startswith("401")


def test_preflight_headers_on_get_do_not_skip_auth(inner: Recorder) -> None:
    app = BasicAuth(inner, USERS, allow_cors_preflight=True)
    status, _, _ = call(app, "/api", REQUEST_METHOD="GET", **PREFLIGHT)
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
