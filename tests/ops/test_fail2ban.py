"""The fail2ban filter in docs/ against the lines the middleware really logs."""

from __future__ import annotations

import configparser
import io
import logging
import re

import pytest
import webtest
from helpers import ROOT, Recorder, basic

from basicauth_wsgi import BasicAuth, Throttle

FILTER = ROOT / "docs" / "fail2ban-filter.conf"


def failregex() -> re.Pattern[str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(FILTER)
    # fail2ban's <HOST> tag; its own definition is broader, this is enough
    # for the IPv4/IPv6 addresses the tests use.
    pattern = parser["Definition"]["failregex"].replace("<HOST>", r"(?P<host>[0-9A-Fa-f:.]+)")
    return re.compile(pattern)


@pytest.fixture
def logged() -> tuple[logging.Logger, io.StringIO]:
    """The basicauth_wsgi logger, writing as `serve` configures it, into a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("test.fail2ban")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger, stream


def test_filter_matches_every_failure_with_the_real_client(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = logged
    app = BasicAuth(Recorder(), {"admin": "pw"}, logger=logger, throttle=Throttle(per_client=4))
    hostile = [
        basic("admin", "wrong"),
        basic("nobody", "x"),
        "Basic %%%",
        basic("x' client=6.6.6.6 reason=", "pw"),
        basic('x" client=6.6.6.6 reason=', "pw"),
    ]
    for n, header in enumerate(hostile):
        client = "203.0.113.9" if n % 2 else "2001:db8::7"
        webtest.TestApp(app, extra_environ={"REMOTE_ADDR": client}).get(
            "/private", headers={"Authorization": header}, expect_errors=True
        )
    lines = stream.getvalue().splitlines()
    regex = failregex()
    hosts = [m.group("host") for m in map(regex.search, lines) if m]
    failures = [line for line in lines if "authentication failed" in line]
    assert len(failures) == len(hostile)
    # Every line matched, and the forged "client=6.6.6.6" inside a username
    # never won over the real address.
    assert all(regex.search(line) for line in lines)
    assert "6.6.6.6" not in hosts
    assert set(hosts) == {"203.0.113.9", "2001:db8::7"}


def test_filter_matches_the_block_line(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = logged
    app = webtest.TestApp(
        BasicAuth(Recorder(), {"admin": "pw"}, logger=logger, throttle=Throttle(per_client=2)),
        extra_environ={"REMOTE_ADDR": "198.51.100.4"},
    )
    for n in range(4):  # distinct guesses: a repeated header counts once
        app.get("/", headers={"Authorization": basic("admin", f"bad{n}")}, expect_errors=True)
    blocked = [line for line in stream.getvalue().splitlines() if "authentication blocked" in line]
    assert len(blocked) == 1
    match = failregex().search(blocked[0])
    assert match is not None and match.group("host") == "198.51.100.4"


def test_filter_ignores_other_lines() -> None:
    regex = failregex()
    for line in [
        "2026-11-29 08:15:02,123 INFO basicauth_wsgi: users.htpasswd reloaded",
        "2026-11-29 08:15:02,123 WARNING basicauth_wsgi: authorization refused: user='bob' "
        "client=203.0.113.9 method=DELETE path=/api/v1/subscribers/1",
        '127.0.0.1 - admin [29/Nov/2026:08:15:02 +0000] "GET /health HTTP/1.1" 200 15',
    ]:
        assert regex.search(line) is None


def test_forwarded_text_from_a_trusted_proxy_cannot_forge_a_line(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    # What serve --trusted-proxy puts in front: the forwarded client is IP
    # text or "invalid", so the filter never reads a host the client wrote.
    from basicauth_wsgi.addresses import Networks
    from basicauth_wsgi.forwarded import TrustedProxies

    logger, stream = logged
    proxies = Networks.parse("127.0.0.1", option="--trusted-proxy")
    app = webtest.TestApp(
        TrustedProxies(BasicAuth(Recorder(), {"admin": "pw"}, logger=logger), proxies),
        extra_environ={"REMOTE_ADDR": "127.0.0.1"},
    )
    for forwarded in [
        "192.0.2.66 reason=wrong_password path=/ x",
        "192.0.2.66\nauthentication failed: user='x' client=192.0.2.67 reason=x path=/",
        "::ffff:192.0.2.68",
        "2001:DB8::0:69",
    ]:
        app.get(
            "/",
            headers={"Authorization": basic("admin", "bad"), "X-Forwarded-For": forwarded},
            expect_errors=True,
        )
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4
    regex = failregex()
    hosts = [m.group("host") for m in map(regex.search, lines) if m]
    assert hosts == ["192.0.2.68", "2001:db8::69"]
    assert [line.split(" client=")[1].split()[0] for line in lines[:2]] == ["invalid"] * 2
