"""AccessLog: one Common Log Format line per request, the user in %u."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone

import pytest
import webtest
from helpers import Recorder, basic

from basicauth_wsgi import BasicAuth
from basicauth_wsgi.accesslog import AccessLog, format_line

# Common Log Format: host ident authuser [date] "request" status bytes
CLF = re.compile(r'^(\S+) - (\S+) \[([^]]+)\] "([^"]*)" (\d{3}) (\d+|-)$')


@pytest.fixture
def access(caplog: pytest.LogCaptureFixture) -> logging.Logger:
    caplog.set_level(logging.INFO, logger="test.access")
    return logging.getLogger("test.access")


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "test.access"]


def test_one_line_per_request_with_the_user(
    inner: Recorder, access: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    app = webtest.TestApp(
        AccessLog(BasicAuth(inner, {"admin": "pw"}), access),
        extra_environ={"REMOTE_ADDR": "192.0.2.7"},
    )
    app.get("/private", status=401)
    res = app.get("/private?x=1", headers={"Authorization": basic("admin", "pw")})
    first, second = lines(caplog)
    assert CLF.match(first) and CLF.match(second)
    assert first.startswith("192.0.2.7 - - [")
    assert first.endswith('"GET /private HTTP/1.0" 401 ' + str(len(app.get("/", status=401).body)))
    assert second.startswith("192.0.2.7 - admin [")
    assert second.endswith(f'"GET /private?x=1 HTTP/1.0" 200 {len(res.body)}')


def test_password_never_in_the_access_log(
    inner: Recorder, access: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    app = webtest.TestApp(AccessLog(BasicAuth(inner, {"admin": "s3cret-pw"}), access))
    app.get("/", headers={"Authorization": basic("admin", "s3cret-pw")})
    app.get("/", headers={"Authorization": basic("admin", "wrong-pw")}, status=401)
    text = "\n".join(lines(caplog))
    assert "s3cret-pw" not in text and "wrong-pw" not in text
    assert basic("admin", "s3cret-pw").split()[1] not in text


def test_fields_cannot_be_forged() -> None:
    environ = {
        "REMOTE_ADDR": "192.0.2.1",
        "REMOTE_USER": 'eve" 200 1\n192.0.2.9 - admin',
        "REQUEST_METHOD": "GET",
        "PATH_INFO": '/a"\r\nb c',
        "QUERY_STRING": 'q="x"',
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    when = datetime(2026, 11, 29, 8, 15, 2, tzinfo=timezone(timedelta(hours=1)))
    line = format_line(environ, "200 OK", 0, when)
    assert "\n" not in line and "\r" not in line
    match = CLF.match(line)
    assert match is not None
    assert match.group(2) == "eve\\x22\\x20200\\x201\\x0a192.0.2.9\\x20-\\x20admin"
    assert match.group(3) == "29/Nov/2026:08:15:02 +0100"
    assert match.group(4) == "GET /a%22%0D%0Ab%20c?q=\\x22x\\x22 HTTP/1.1"
    assert match.group(6) == "-"


def test_head_logs_no_bytes(
    inner: Recorder, access: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    webtest.TestApp(AccessLog(inner, access)).head("/")
    assert lines(caplog)[0].endswith(" 200 -")


def test_inner_iterable_is_closed(inner: Recorder, access: logging.Logger) -> None:
    webtest.TestApp(AccessLog(inner, access)).get("/")
    assert inner.bodies[0].closed


def test_rejects_bad_arguments(inner: Recorder) -> None:
    with pytest.raises(TypeError, match="logger"):
        AccessLog(inner, "stdout")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="app"):
        AccessLog(None, logging.getLogger("x"))  # type: ignore[arg-type]
