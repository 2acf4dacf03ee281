"""``serve --forward-auth`` over the real waitress: aliases, copies, peers, clients (SPEC §11).

waitress is what decides here how a header name reaches the service: it
drops names with ``_`` (``parser.py``: "if b'_' in key: continue"), keeps
``.`` as is, joins two copies of one header with ", ", and (unless told
otherwise, as ``serve --forward-auth`` does) removes ``X-Forwarded-For``
and ``-Proto``. Raw requests from distinct 127.0.0.x addresses.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import LiveServer, basic

from ..ops.attack_support import Response, raw, request
from ..ops.support import TIMESTAMP, fail2ban_regex
from .support import service

ALICE = basic("alice", "alice-pw")
FACTS = {"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https",
         "X-Forwarded-For": "203.0.113.9"}  # fmt: skip


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("forward-waitress")
    live = service(folder, "--exclude", "/public/", "--throttle-per-client", "2",
                   "--throttle-per-user", "0")  # fmt: skip
    try:
        yield live
    finally:
        live.stop()


def ask(server: LiveServer, headers: list[tuple[str, str]], source: str = "127.0.0.1") -> Response:
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers)
    data = request("GET", "/").replace(b"\r\n\r\n", b"\r\n" + lines.encode("latin-1") + b"\r\n")
    return raw(server.port, data, source)


def test_a_request_in_the_traefik_shape_is_answered(served: LiveServer) -> None:
    facts = [*FACTS.items(), ("X-Forwarded-Uri", "/private")]
    granted = ask(served, [*facts, ("Authorization", ALICE)])
    assert granted.status == 200 and granted.header("remote-user") == "alice"
    assert granted.header("remote-groups") == "admin,staff"
    assert ask(served, facts).status == 401


def test_a_dotted_alias_reaches_the_service_and_is_refused(served: LiveServer) -> None:
    answer = ask(served, [*FACTS.items(), ("X-Forwarded-Uri", "/private"),
                          ("X.Forwarded.Uri", "/public/x")])  # fmt: skip
    assert answer.status == 400, answer
    assert b"another spelling" in answer.body


def test_an_underscore_alias_is_dropped_by_waitress_and_smuggles_nothing(
    served: LiveServer,
) -> None:
    # Beside the real fact it changes nothing: the path decided is /private.
    beside = ask(served, [*FACTS.items(), ("X-Forwarded-Uri", "/private"),
                          ("X_Forwarded_Uri", "/public/x")])  # fmt: skip
    assert beside.status == 401
    # Alone it is no fact at all: refused, never read as the public path.
    alone = ask(served, [*FACTS.items(), ("X_Forwarded_Uri", "/public/x")])
    assert alone.status == 400
    user = ask(served, [*FACTS.items(), ("X-Forwarded-Uri", "/public/x"), ("Remote_User", "bob")])
    assert user.status == 200 and user.header("remote-user") == ""


@pytest.mark.parametrize(
    "twice",
    [("X-Forwarded-Uri", "/public/x"), ("X-Forwarded-Method", "GET"),
     ("X-Forwarded-Proto", "http")],
    ids=["uri", "method", "proto"],
)  # fmt: skip
def test_two_copies_of_a_fact_are_refused(served: LiveServer, twice: tuple[str, str]) -> None:
    facts = [*FACTS.items(), ("X-Forwarded-Uri", "/private"), twice, ("Authorization", ALICE)]
    answer = ask(served, facts)
    assert answer.status == 400 and answer.header("remote-user") is None


def test_a_peer_that_is_not_trusted_gets_403_and_one_line(served: LiveServer) -> None:
    facts = [*FACTS.items(), ("X-Forwarded-Uri", "/public/x")]
    for _ in range(3):
        assert ask(served, facts, source="127.0.0.2").status == 403
    served.expect(r"forward-auth request from 127\.0\.0\.2 refused \(403\)", timeout=10)
    # Flush the log with a line that comes after: the peer was named once.
    ask(served, [*FACTS.items(), ("X-Forwarded-Uri", "/x"), ("Authorization", basic("zed", "x"))])
    served.expect(r"user='zed'", timeout=10)
    assert sum("from 127.0.0.2 refused" in line for line in served.errors) == 1


def test_the_forwarded_client_is_counted_and_named(served: LiveServer) -> None:
    def login(client: str, password: str) -> int:
        facts = {**FACTS, "X-Forwarded-For": client}
        answer = ask(served, [*facts.items(), ("X-Forwarded-Uri", "/private"),
                              ("Authorization", basic("bob", password))])  # fmt: skip
        return answer.status

    assert [login("198.51.100.7", f"wrong{n}") for n in range(3)] == [401, 401, 429]
    assert login("198.51.100.8", "bob-pw") == 200  # another client behind the same proxy
    served.expect(r"authentication blocked: user='bob' client=198\.51\.100\.7 ", timeout=10)
    lines = [x for x in served.errors if "user='bob'" in x and "authentication" in x]
    regex = fail2ban_regex()
    assert [m["host"] for m in map(regex.search, lines) if m] == ["198.51.100.7"] * 3
    assert all(TIMESTAMP.match(x) for x in lines)


def test_without_x_forwarded_for_the_service_says_so(served: LiveServer) -> None:
    answer = ask(served, [("X-Forwarded-Method", "GET"), ("X-Forwarded-Uri", "/x")])
    assert answer.status == 400 and b"X-Forwarded-For" in answer.body
