"""Forwarded client facts (X-Forwarded-For, -Proto), believed from trusted proxies only."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
from helpers import Clock, Recorder, call

from basicauth_wsgi.addresses import Networks
from basicauth_wsgi.forwarded import (
    FORWARDED_HEADERS,
    NOTHING,
    Forwarded,
    TrustedProxies,
    forwarded_client,
    forwarded_scheme,
    read_forwarded,
)

PROXIES = Networks.parse("127.0.0.1, 10.0.0.0/8, 2001:db8:f::/48", option="--trusted-proxy")


@pytest.mark.parametrize(
    ("chain", "client"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("  192.0.2.7  ", "192.0.2.7"),
        # The rightmost entry that is not a trusted proxy; what is left of it
        # is the client's own text.
        ("198.51.100.1, 192.0.2.7", "192.0.2.7"),
        ("198.51.100.1, 192.0.2.7, 10.1.2.3", "192.0.2.7"),
        ("evil text, 192.0.2.7, 10.1.2.3, 127.0.0.1", "192.0.2.7"),
        # Every entry a trusted proxy: the leftmost is the client.
        ("10.9.9.9, 127.0.0.1", "10.9.9.9"),
        # Canonical text: IPv4-mapped is IPv4, IPv6 compressed and lower-case.
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("::FFFF:c000:0207", "192.0.2.7"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("[2001:db8::1]:4711", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("192.0.2.7:4711", "192.0.2.7"),
        # Not an IP address where the walk stops: invalid, never the text.
        ("192.0.2.66 reason=wrong_password path=/ x", "invalid"),
        ("localhost", "invalid"),
        ("unknown", "invalid"),
        ("192.0.2.7, ", "invalid"),
        ("192.0.2.7,,10.0.0.1", "invalid"),
        ("192.0.2.7\n", "192.0.2.7"),
        ("192.0.2.7\r\nX: y", "invalid"),
        ("x" * 10_000, "invalid"),
        # A chain padded with more trusted hops than any deployment has.
        (", ".join(["10.0.0.1"] * 40), "invalid"),
        (", ".join(["10.0.0.1"] * 32), "10.0.0.1"),
        (", ".join(["192.0.2.1"] * 5000), "192.0.2.1"),
        ("", None),
        ("   ", None),
    ],
    ids=lambda v: repr(v)[:40] if isinstance(v, str) else repr(v),
)
def test_forwarded_client(chain: str, client: str | None) -> None:
    assert forwarded_client(chain, PROXIES) == client


@pytest.mark.parametrize(
    ("value", "scheme"),
    [
        ("https", "https"),
        ("HTTPS", "https"),
        (" http ", "http"),
        ("http, https", "https"),  # the rightmost: what the trusted peer reports
        ("https, http", "http"),
        ("wss", None),
        ("javascript", None),
        ("", None),
    ],
)
def test_forwarded_scheme(value: str, scheme: str | None) -> None:
    assert forwarded_scheme(value) == scheme


def test_read_forwarded_believes_trusted_peers_only() -> None:
    assert read_forwarded("127.0.0.1", "192.0.2.7", "https", PROXIES) == Forwarded(
        "192.0.2.7", "https"
    )
    assert read_forwarded("::ffff:127.0.0.1", "192.0.2.7", None, PROXIES) == ("192.0.2.7", None)
    assert read_forwarded("192.0.2.9", "192.0.2.7", "https", PROXIES) is NOTHING
    assert read_forwarded("127.0.0.1", "192.0.2.7", "https", None) is NOTHING
    assert read_forwarded("not an address", "192.0.2.7", "https", PROXIES) is NOTHING
    assert read_forwarded("127.0.0.1", None, None, PROXIES) == (None, None)


# -- the WSGI wrapper ------------------------------------------------------------


class Seen:
    """A logger that keeps what it is told."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.logger = logging.getLogger("test.forwarded")
        self.logger.handlers[:] = [logging.StreamHandler(self.stream)]
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False

    @property
    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()


HOSTILE = {
    "HTTP_X_FORWARDED_FOR": "192.0.2.7",
    "HTTP_X_FORWARDED_PROTO": "https",
    "HTTP_X_FORWARDED_HOST": "evil.example",
    "HTTP_FORWARDED": "for=192.0.2.7;proto=https",
    "HTTP_X_REAL_IP": "192.0.2.7",
}


def wrapped(trusted: Networks | None, **options: Any) -> tuple[TrustedProxies, Recorder]:
    inner = Recorder()
    return TrustedProxies(inner, trusted, **options), inner


def test_a_trusted_peer_sets_the_client_and_the_scheme() -> None:
    app, inner = wrapped(PROXIES)
    status, _, _ = call(app, REMOTE_ADDR="127.0.0.1", **HOSTILE)
    assert status == "200 OK"
    [seen] = inner.calls
    assert (seen["REMOTE_ADDR"], seen["wsgi.url_scheme"]) == ("192.0.2.7", "https")
    assert seen["basicauth.peer"] == "127.0.0.1"
    # The app may read the proxy's other headers itself: they stay.
    assert seen["HTTP_X_FORWARDED_HOST"] == "evil.example"


def test_a_trusted_peer_that_forwards_text_gives_invalid() -> None:
    app, inner = wrapped(PROXIES)
    call(
        app,
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="192.0.2.66 reason=wrong_password path=/ x",
        HTTP_X_FORWARDED_PROTO="gopher",
    )
    [seen] = inner.calls
    assert (seen["REMOTE_ADDR"], seen["wsgi.url_scheme"]) == ("invalid", "http")


def test_a_trusted_peer_without_headers_is_the_client() -> None:
    app, inner = wrapped(PROXIES)
    call(app, REMOTE_ADDR="10.1.2.3")
    [seen] = inner.calls
    assert seen["REMOTE_ADDR"] == "10.1.2.3" and "basicauth.peer" not in seen


@pytest.mark.parametrize("trusted", [PROXIES, None], ids=["other-peer", "nobody-trusted"])
def test_an_untrusted_peer_has_every_forwarded_header_removed(trusted: Networks | None) -> None:
    app, inner = wrapped(trusted, log=Seen().logger)
    call(app, REMOTE_ADDR="192.0.2.9", **HOSTILE)
    [seen] = inner.calls
    assert (seen["REMOTE_ADDR"], seen["wsgi.url_scheme"]) == ("192.0.2.9", "http")
    assert not [name for name in FORWARDED_HEADERS if name in seen]


def test_untrusted_forwarding_is_warned_once_per_peer_at_most_once_a_minute() -> None:
    seen, clock = Seen(), Clock()
    app, _ = wrapped(None, log=seen.logger, clock=clock)
    for _ in range(5):
        call(app, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.7")
    [line] = seen.lines
    assert "X-Forwarded-For from 127.0.0.1, which is not a trusted proxy" in line
    assert "--trusted-proxy 127.0.0.1" in line
    # Another peer within the minute: not yet; after it, once.
    call(app, REMOTE_ADDR="::ffff:192.0.2.9", HTTP_X_FORWARDED_FOR="192.0.2.7")
    assert len(seen.lines) == 1
    clock.now += 61
    for _ in range(3):
        call(app, REMOTE_ADDR="::ffff:192.0.2.9", HTTP_X_FORWARDED_FOR="192.0.2.7")
        call(app, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.7")
    assert len(seen.lines) == 2 and "from 192.0.2.9," in seen.lines[1]
    # Requests without the header never warn.
    clock.now += 61
    call(app, REMOTE_ADDR="192.0.2.10", HTTP_X_FORWARDED_PROTO="https")
    assert len(seen.lines) == 2


def test_the_warning_names_no_text_a_client_chose() -> None:
    seen = Seen()
    app, _ = wrapped(None, log=seen.logger)
    call(app, REMOTE_ADDR="evil\nauthentication failed", HTTP_X_FORWARDED_FOR="x")
    [line] = seen.lines
    assert "from invalid," in line and "evil" not in line


def test_the_warned_peers_are_bounded() -> None:
    seen, clock = Seen(), Clock()
    app, _ = wrapped(None, log=seen.logger, clock=clock)
    for n in range(1100):
        clock.now += 61
        call(app, REMOTE_ADDR=f"192.0.{n // 256}.{n % 256}", HTTP_X_FORWARDED_FOR="x")
    assert len(seen.lines) == 1100
    assert len(app._warned) <= 1024


def test_trusted_must_be_networks() -> None:
    with pytest.raises(TypeError, match="trusted must be Networks"):
        TrustedProxies(Recorder(), "127.0.0.1")  # type: ignore[arg-type]
