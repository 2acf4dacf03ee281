"""Traefik's and Envoy's requests, replayed from their documentation against the real service.

Neither proxy is installed here, so their recipes in docs/ are checked for
what the service relies on, and their request shapes are sent byte for byte
over the wire to ``serve --forward-auth`` on waitress:

- Traefik ForwardAuth: ``GET`` to the configured address with the client's
  headers and X-Forwarded-Method, -Proto, -Host, -Uri and -For (Traefik's
  "Forward-Request Headers" table); a non-2xx answer goes to the client as is.
- Envoy ext_authz, HTTP service: the original method, ``path_prefix`` plus
  the original path, the original Host and Authorization, and the
  ``allowed_headers``; only a 200 allows, and a denial's status, body and
  ``allowed_client_headers`` go to the client.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import ROOT, LiveServer, basic

from ..ops.attack_support import Response, raw
from .support import service

TRAEFIK_RECIPE = (ROOT / "docs" / "forward-auth-traefik.yml").read_text()
ENVOY_RECIPE = (ROOT / "docs" / "forward-auth-envoy.yaml").read_text()
ALICE = basic("alice", "alice-pw")
BOB = basic("bob", "bob-pw")
FLAGS = ("--exclude", "/public/", "--rules", "/admin/ DELETE @admin",
         "--throttle-per-client", "2", "--throttle-per-user", "0")  # fmt: skip


@pytest.fixture(scope="module")
def traefik_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = service(tmp_path_factory.mktemp("traefik"), *FLAGS)
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def envoy_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = service(tmp_path_factory.mktemp("envoy"), *FLAGS, "--forward-auth-style", "envoy",
                   "--forward-auth-path-prefix", "/ext-authz")  # fmt: skip
    try:
        yield live
    finally:
        live.stop()


def send(server: LiveServer, start: str, headers: list[tuple[str, str]]) -> Response:
    lines = [start, *(f"{n}: {v}" for n, v in headers), "Connection: close"]
    return raw(server.port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))


def traefik(
    server: LiveServer, method: str, uri: str, *client: tuple[str, str], source: str = "203.0.113.9"
) -> Response:
    """What Traefik sends: the client's headers, then its five facts (trustForwardHeader false)."""
    return send(server, "GET / HTTP/1.1", [
        ("Host", "127.0.0.1:9091"), ("User-Agent", "Mozilla/5.0"), *client,
        ("X-Forwarded-Method", method), ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "app.example.com"), ("X-Forwarded-Uri", uri),
        ("X-Forwarded-For", source), ("X-Forwarded-Port", "443"), ("X-Real-Ip", source),
        ("Accept-Encoding", "gzip"),
    ])  # fmt: skip


def envoy(
    server: LiveServer, method: str, path: str, *client: tuple[str, str], chain: str = "203.0.113.9"
) -> Response:
    """What Envoy sends: the original method, path_prefix + path, Host, Authorization, allowed."""
    return send(server, f"{method} /ext-authz{path} HTTP/1.1", [
        ("Host", "app.example.com"), ("Content-Length", "0"), *client,
        ("X-Forwarded-For", chain), ("X-Forwarded-Proto", "https"),
        ("X-Request-Id", "6a1b2c3d-0000-4000-8000-000000000001"),
        ("X-Envoy-Expected-Rq-Timeout-Ms", "2000"),
    ])  # fmt: skip


# -- the documented recipes say what the service relies on --------------------------------


def test_the_traefik_recipe_copies_the_three_headers_and_trusts_no_client_facts() -> None:
    assert 'address: "http://127.0.0.1:9091/"' in TRAEFIK_RECIPE
    assert "trustForwardHeader: false" in TRAEFIK_RECIPE
    for name in ("Remote-User", "X-Forwarded-User", "Remote-Groups"):
        assert f"- {name}\n" in TRAEFIK_RECIPE
    assert 'Authorization: ""' in TRAEFIK_RECIPE


def test_the_envoy_recipe_matches_the_flags_it_names() -> None:
    assert "--forward-auth-style envoy" in ENVOY_RECIPE
    assert "--forward-auth-path-prefix /ext-authz" in ENVOY_RECIPE
    assert "path_prefix: /ext-authz\n" in ENVOY_RECIPE
    assert "use_remote_address: true" in ENVOY_RECIPE
    assert "failure_mode_allow: false" in ENVOY_RECIPE
    for name in ("remote-user", "x-forwarded-user", "remote-groups", "www-authenticate",
                 "retry-after", "x-forwarded-for", "accept"):  # fmt: skip
        assert f"- exact: {name}\n" in ENVOY_RECIPE
    assert 'request_headers_to_remove: ["authorization"]' in ENVOY_RECIPE


# -- Traefik ----------------------------------------------------------------------------


def test_traefik_a_login_names_the_user(traefik_service: LiveServer) -> None:
    answer = traefik(traefik_service, "GET", "/grafana/d/x?orgId=1", ("Authorization", ALICE))
    assert answer.status == 200
    assert (answer.header("remote-user"), answer.header("remote-groups")) == (
        "alice",
        "admin,staff",
    )
    assert answer.header("cache-control") == "no-store"


def test_traefik_refusals_are_answered_as_the_client_should_see_them(
    traefik_service: LiveServer,
) -> None:
    missing = traefik(traefik_service, "GET", "/x", ("Accept", "application/json"))
    assert missing.status == 401 and b'"unauthorized"' in missing.body
    assert missing.header("www-authenticate") == 'Basic realm="Restricted area", charset="UTF-8"'
    assert traefik(traefik_service, "DELETE", "/admin/x", ("Authorization", BOB)).status == 403
    assert traefik(traefik_service, "DELETE", "/admin/x", ("Authorization", ALICE)).status == 200
    spelled = traefik(traefik_service, "GET", "/public/%2e%2e/admin/x")
    assert spelled.status == 401
    public = traefik(traefik_service, "GET", "/public/x", ("Remote-User", "admin"))
    assert public.status == 200 and public.header("remote-user") == ""


def test_traefik_a_throttled_client_gets_429_with_retry_after(traefik_service: LiveServer) -> None:
    wrong = [traefik(traefik_service, "GET", "/x", ("Authorization", basic("alice", f"w{n}")),
                     source="198.51.100.20") for n in range(3)]  # fmt: skip
    assert [w.status for w in wrong] == [401, 401, 429]
    assert int(wrong[-1].header("retry-after") or 0) >= 1


# -- Envoy ------------------------------------------------------------------------------


def test_envoy_a_login_names_the_user(envoy_service: LiveServer) -> None:
    answer = envoy(envoy_service, "DELETE", "/admin/users?page=2", ("Authorization", ALICE))
    assert answer.status == 200 and answer.header("remote-user") == "alice"
    assert answer.header("x-forwarded-user") == "alice"


def test_envoy_refusals_keep_their_status(envoy_service: LiveServer) -> None:
    assert envoy(envoy_service, "DELETE", "/admin/users", ("Authorization", BOB)).status == 403
    head = envoy(envoy_service, "HEAD", "/x")
    assert head.status == 401 and head.body == b"" and head.header("www-authenticate")
    assert envoy(envoy_service, "GET", "/public/..%2fadmin/x").status == 401
    public = envoy(envoy_service, "GET", "/public/x")
    assert public.status == 200 and public.header("remote-user") == ""
    # The client's forged Envoy hop (left of the one Envoy appended) is not believed.
    chained = [envoy(envoy_service, "GET", "/x", ("Authorization", basic("bob", f"w{n}")),
                     chain=f"10.9.9.{n}, 198.51.100.30") for n in range(3)]  # fmt: skip
    assert [c.status for c in chained] == [401, 401, 429]


def test_envoy_refuses_facts_a_client_could_have_sent(envoy_service: LiveServer) -> None:
    # An Envoy that lets more headers through (allowed_headers: prefix "x-")
    # would pass a client's X-Forwarded-Uri on: never read in Envoy's shape.
    forged = envoy(envoy_service, "GET", "/admin/x", ("X-Forwarded-Uri", "/public/x"))
    assert forged.status == 400
    outside = send(envoy_service, "GET /other/x HTTP/1.1",
                   [("Host", "app.example.com"), ("X-Forwarded-For", "203.0.113.9")])  # fmt: skip
    assert outside.status == 400
