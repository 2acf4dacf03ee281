"""The shipped nginx and Caddy recipes, run as written in front of the echoing upstream (SPEC §11).

A real nginx 1.22 and a real Caddy 2.6 (Debian's), each with its recipe
from docs/ (ports substituted, nothing else), ask ``serve --forward-auth``
about every request to an upstream that gives a secret for every path a
forgiving router reads as protected, and echoes every header it got.
Clients are raw sockets from distinct 127.0.0.x addresses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import LiveServer, basic

from basicauth_wsgi.forward.facts import spelling

from ..ops.attack_app import SECRET
from ..ops.attack_support import Response, held_request, raw, request, together
from ..ops.support import Server, fail2ban_regex, shared_folder
from ..ops.test_attacks import PRIVATE_SPELLINGS
from .support import NginxHttp, stack

ALICE = {"Authorization": basic("alice", "alice-pw")}
IDENTITY = ("remote-user", "x-forwarded-user", "remote-groups")
FORGED = {
    "Remote-User": "admin",
    "X-Forwarded-User": "admin",
    "Remote-Groups": "admin",
    "Remote.User": "admin",
    "Remote_User": "admin",
    "X_Forwarded_User": "admin",
    "Remote_Groups": "admin",
}
SERVICE_FLAGS = ("--exclude", "/health", "--exclude", "/static/", "--exclude", "/public/",
                 "--throttle-per-client", "3", "--throttle-per-user", "0")  # fmt: skip


class Stack:
    def __init__(self, proxy: Server, service: LiveServer, upstream: LiveServer) -> None:
        self.proxy, self.service, self.upstream = proxy, service, upstream

    def get(self, target: str, headers: dict[str, str] | None = None,
            source: str = "127.0.1.1") -> Response:  # fmt: skip
        return raw(self.proxy.port, request("GET", target, headers), source)


@pytest.fixture(scope="module", params=["nginx", "caddy"])
def site(request: pytest.FixtureRequest) -> Iterator[Stack]:
    with shared_folder() as folder, stack(Path(folder), request.param, *SERVICE_FLAGS) as parts:
        yield Stack(*parts)


def upstream_saw(answer: Response) -> dict[str, Any]:
    assert answer.status == 200, answer
    data: dict[str, Any] = json.loads(answer.body)
    data["by_spelling"] = by = {}
    for name, value in data["headers"]:
        by.setdefault(spelling(name), []).append(value)
    return data


@pytest.mark.parametrize("target", PRIVATE_SPELLINGS)
def test_no_spelling_of_a_protected_path_reaches_the_upstream(site: Stack, target: str) -> None:
    refused = site.get(target)
    assert refused.status != 200 and refused.status < 500, refused
    assert SECRET.encode() not in refused.body and SECRET not in str(refused.headers)
    authed = site.get(target, ALICE)
    if refused.status == 400 and authed.status == 400:
        return  # the proxy refused the spelling itself, whoever asked
    # With credentials the same spelling is served the secret: the refusal was ours.
    assert refused.status == 401, refused
    assert json.loads(authed.body).get("secret") == SECRET, authed


@pytest.mark.parametrize("target", ["/health", "/public/x", "/static/app.css", "/public/a/../b"])
def test_public_paths_pass_without_credentials(site: Stack, target: str) -> None:
    seen = upstream_saw(site.get(target))
    assert "secret" not in seen


@pytest.mark.parametrize("target", ["/public/x", "/private"])
@pytest.mark.parametrize("credentials", [False, True], ids=["anonymous", "alice"])
def test_the_upstream_never_sees_forged_identity_or_the_password(
    site: Stack, target: str, credentials: bool
) -> None:
    headers = {**FORGED, **(ALICE if credentials else {})}
    answer = site.get(target, headers)
    if target == "/private" and not credentials:
        assert answer.status == 401
        return
    seen = upstream_saw(answer)
    # A public path is decided before any credential is read: nobody is named.
    named = credentials and target == "/private"
    user = "alice" if named else ""
    expected = {"remote-user": user, "x-forwarded-user": user,
                "remote-groups": "admin,staff" if named else ""}  # fmt: skip
    for name in IDENTITY:
        # Every spelling of the name together: the service's one value, or
        # (on a public path) none at all or an empty one.
        values = seen["by_spelling"].get(name, [])
        allowed = [[expected[name]]] if expected[name] else [[], [""]]
        assert values in allowed, (name, values, seen["headers"])
    assert "authorization" not in seen["by_spelling"], seen["headers"]


def test_401_carries_the_challenge_so_the_browser_prompts(site: Stack) -> None:
    answer = site.get("/private", {"Accept": "text/html"})
    assert answer.status == 401
    assert answer.header("www-authenticate") == 'Basic realm="Restricted area", charset="UTF-8"'
    assert answer.header("cache-control") == "no-store"


def test_throttled_clients_get_429_with_retry_after_never_500(site: Stack) -> None:
    attacker, user = "127.0.2.1", "127.0.2.2"
    statuses = [site.get("/private", {"Authorization": basic("alice", f"wrong{n}")}, attacker)
                for n in range(4)]  # fmt: skip
    assert [s.status for s in statuses] == [401, 401, 401, 429], statuses
    blocked = statuses[-1]
    assert int(blocked.header("retry-after") or 0) >= 1, blocked
    assert blocked.header("cache-control") == "no-store"
    # The right password from there is blocked too; another client is not.
    assert site.get("/private", ALICE, attacker).status == 429
    assert upstream_saw(site.get("/private", ALICE, user))["secret"] == SECRET
    # Counted, and named, as the client the proxy saw.
    site.service.expect(r"authentication blocked: user='alice' client=127\.0\.2\.1 ", timeout=10)
    lines = [x for x in site.service.errors if "client=127.0.2.1 " in x]
    hosts = {m["host"] for m in map(fail2ban_regex().search, lines) if m}
    assert hosts == {"127.0.2.1"} and len(lines) == 4


def test_a_client_sending_the_other_proxys_facts_gets_400_never_500(site: Stack) -> None:
    # nginx passes the client's headers to the service beside its own; so
    # do Caddy and Traefik. A fact in another proxy's shape is a forgery.
    forged = {"X-Forwarded-Uri": "/public/x", "X-Original-URI": "/public/x", **ALICE}
    answer = site.get("/private", forged, "127.0.3.1")
    assert SECRET.encode() not in answer.body
    # In style auto the service cannot tell which of the two the proxy set,
    # so it answers as nginx must be answered (a 400 would be nginx's 500):
    # nginx's recipe gives the 400, Caddy passes the 403 that carries it.
    expected = 400 if isinstance(site.proxy, NginxHttp) else 403
    assert answer.status == expected, answer
    assert answer.header("x-basicauth-status") in (None, "400")


def test_head_requests_are_refused_and_leave_the_service_connection_sound(site: Stack) -> None:
    # nginx and Caddy ask with GET for a HEAD (the service answers it whole,
    # body and all); the client gets no body, and the kept-alive connection
    # to the service serves the next request.
    for _ in range(3):
        head = raw(site.proxy.port, request("HEAD", "/private"), "127.0.4.1")
        assert head.status == 401 and head.body == b"", head
    assert upstream_saw(site.get("/private", ALICE, "127.0.4.1"))["secret"] == SECRET
    head = raw(site.proxy.port, request("HEAD", "/private", ALICE), "127.0.4.1")
    assert head.status == 200


@pytest.fixture(scope="module", params=["nginx", "caddy"])
def busy(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """One check slot and bcrypt(12) hashes: a second new login at once finds no slot."""
    with (
        shared_folder() as folder,
        stack(Path(folder), request.param, "--max-concurrent-checks", "1", cost=12) as parts,
    ):
        yield Stack(*parts)


def test_an_overloaded_service_is_503_with_retry_after_never_500(busy: Stack) -> None:
    # Four new wrong passwords from four clients at once: one takes the only
    # slot for a bcrypt(12) check, the others wait 50 ms for it and get 503.
    jobs = [
        held_request(busy.proxy.port, f"127.0.5.{n + 1}",
                     request("GET", "/private", {"Authorization": basic("bob", f"wrong{n}")}))
        for n in range(4)
    ]  # fmt: skip
    answers = together(jobs)
    statuses = sorted(a.status for a in answers)
    assert 503 in statuses and set(statuses) <= {401, 503}, answers
    for answer in answers:
        if answer.status == 503:
            assert int(answer.header("retry-after") or 0) >= 1, answer
            assert answer.header("cache-control") == "no-store"
