"""BasicAuth's failure log lines: fail2ban-shaped, never a password (SPEC §2)."""

from __future__ import annotations

import logging

import pytest
from helpers import USERS, Recorder, auth, basic, call, make

from basicauth_wsgi import BasicAuth

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
