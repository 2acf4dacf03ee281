"""BasicAuth's CORS preflight pass-through and require_https."""

from __future__ import annotations

import json
import logging

import pytest
from helpers import USERS, Recorder, basic, call

from basicauth_wsgi import BasicAuth

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
