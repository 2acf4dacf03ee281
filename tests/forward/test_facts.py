"""Reading a proxy's facts (forward/facts.py): targets, client chains, aliases, shapes."""

from __future__ import annotations

import pytest

from basicauth_wsgi.addresses import Networks
from basicauth_wsgi.forward.facts import (
    BadFacts,
    Original,
    Reader,
    Said,
    forwarded_client,
    request_path,
    spelling,
)

TRUSTED = Networks.parse("127.0.0.1, 10.0.0.0/8", option="trusted_proxies")


@pytest.mark.parametrize(
    ("target", "path"),
    [
        ("/private", "/private"),
        ("/private?next=/public/", "/private"),
        ("/public/%2e%2e/private", "/public/../private"),
        ("/static/..%252fprivate", "/static/..%2fprivate"),  # once: the core decodes again
        ("/static/..%5cprivate", "/static/..\\private"),
        ("/public/..;/private", "/public/..;/private"),
        ("//private", "//private"),
        ("/caf%C3%A9", "/caf\xc3\xa9"),  # latin-1 text of the bytes (PEP 3333)
        ("/caf\xc3\xa9", "/caf\xc3\xa9"),  # nginx passes raw bytes on as they came
        ("/x#/../../private", "/x#/../../private"),  # '#' is a path character here
        ("http://127.0.0.1/static/../private", "/static/../private"),
        ("https://example.com", "/"),
        ("https://example.com?x=1", "/"),
        ("/%00", "/\x00"),
    ],
)
def test_a_target_is_read_as_a_wsgi_server_decodes_path_info(target: str, path: str) -> None:
    assert request_path(target) == path


@pytest.mark.parametrize(
    "target",
    ["", "*", "private", "example.com:443", "/a b", "/a, /b", "/a\t", "/a\x7f", "http:/x"],
    ids=["empty", "asterisk", "relative", "authority", "space", "joined", "tab", "del", "scheme"],
)
def test_what_is_no_request_target_is_refused(target: str) -> None:
    assert request_path(target) is None


@pytest.mark.parametrize(
    ("chain", "client"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("198.51.100.1, 203.0.113.9", "203.0.113.9"),  # the left part is the client's text
        ("203.0.113.9, 10.1.2.3", "203.0.113.9"),  # a trusted hop is walked past
        ("10.1.2.3, 127.0.0.1", "10.1.2.3"),  # all trusted: the leftmost
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("[2001:db8::1]:4711", "2001:db8::1"),
        ("203.0.113.9:4711", "203.0.113.9"),
        ("2001:DB8:0::1", "2001:db8::1"),
        ("evil\n, 203.0.113.9", "203.0.113.9"),
        ("203.0.113.9, evil", "invalid"),
        ("unknown", "invalid"),
        (" ", None),
        ("", None),
        (",".join(["10.0.0.1"] * 40), "invalid"),
    ],
)
def test_the_client_is_the_rightmost_hop_not_a_trusted_proxy(chain: str, client: str) -> None:
    assert forwarded_client(chain, TRUSTED) == client


@pytest.mark.parametrize(
    ("name", "spelled"),
    [
        ("X-Forwarded-Uri", "x-forwarded-uri"),
        ("X_Forwarded_Uri", "x-forwarded-uri"),
        ("X.Forwarded.Uri", "x-forwarded-uri"),
        ("x_forwarded-URI", "x-forwarded-uri"),
        ("X+FORWARDED+URI", "x-forwarded-uri"),
        ("REMOTE.USER", "remote-user"),
    ],
)
def test_aliases_share_one_spelling(name: str, spelled: str) -> None:
    assert spelling(name) == spelled


def said(**values: str) -> Said:
    names = Said._fields[:6]
    fields = {name: values.pop(name, None) for name in names}
    return Said(**fields, **values)  # type: ignore[arg-type]


NGINX = {"original_uri": "/private", "original_method": "GET", "forwarded_for": "203.0.113.9"}
TRAEFIK = {"forwarded_uri": "/private", "forwarded_method": "GET", "forwarded_for": "203.0.113.9"}


@pytest.mark.parametrize(
    ("style", "values", "nginx"),
    [("auto", NGINX, True), ("nginx", NGINX, True), ("auto", TRAEFIK, False),
     ("traefik", TRAEFIK, False)],
    ids=["auto-nginx", "nginx", "auto-traefik", "traefik"],
)  # fmt: skip
def test_each_shape_gives_the_original_request(
    style: str, values: dict[str, str], nginx: bool
) -> None:
    original = Reader(style, TRUSTED).read(said(**values, forwarded_proto="https"))
    assert original == Original("203.0.113.9", "GET", "/private", True, nginx)


def test_envoy_is_the_request_itself_after_the_prefix() -> None:
    reader = Reader("envoy", TRUSTED, "/ext-authz")
    shape = said(forwarded_for="203.0.113.9", method="DELETE", target="/ext-authz/a/%2e%2e/b?x")
    assert reader.read(shape) == Original("203.0.113.9", "DELETE", "/a/../b", False, False)
    outside = said(forwarded_for="203.0.113.9", method="GET", target="/other/private")
    assert isinstance(reader.read(outside), BadFacts)
    glued = said(forwarded_for="203.0.113.9", method="GET", target="/ext-authzprivate")
    assert isinstance(reader.read(glued), BadFacts)


@pytest.mark.parametrize(
    ("style", "values", "reason"),
    [
        ("auto", {**NGINX, "forwarded_uri": "/public/"}, "mixed_facts"),
        ("auto", {"forwarded_for": "203.0.113.9"}, "no_original_uri"),
        ("nginx", {**NGINX, "forwarded_method": "GET"}, "mixed_facts"),
        ("traefik", {**TRAEFIK, "original_uri": "/public/"}, "mixed_facts"),
        ("envoy", {**TRAEFIK}, "mixed_facts"),
        ("nginx", {**NGINX, "original_uri": "/private, /public/"}, "bad_original_uri"),
        ("nginx", {**NGINX, "original_method": "GET, GET"}, "bad_original_method"),
        ("nginx", {"original_uri": "/x", "forwarded_for": "203.0.113.9"}, "bad_original_method"),
        ("nginx", {**NGINX, "forwarded_proto": "https, http"}, "bad_forwarded_proto"),
        ("nginx", {**NGINX, "forwarded_proto": "gopher"}, "bad_forwarded_proto"),
        ("nginx", {"original_uri": "/x", "original_method": "GET"}, "no_client"),
        ("traefik", {**TRAEFIK, "forwarded_for": ""}, "no_client"),
    ],
    ids=[
        "both-uris",
        "no-uri",
        "nginx-with-traefik-method",
        "traefik-with-nginx-uri",
        "envoy-with-traefik-facts",
        "uri-sent-twice",
        "method-sent-twice",
        "no-method",
        "proto-sent-twice",
        "unknown-proto",
        "no-client",
        "empty-client",
    ],
)
def test_facts_that_cannot_be_believed_are_refused(
    style: str, values: dict[str, str], reason: str
) -> None:
    bad = Reader(style, TRUSTED).read(said(**values))
    assert isinstance(bad, BadFacts) and bad.reason == reason
    # nginx turns a 400 into a 500: what came in its shape is answered in it.
    assert bad.nginx == (style == "nginx" or (style == "auto" and "original_uri" in values))
