"""The attacks of issue 11, over the real wire against ``python serve.py``.

Each attacker is a raw socket (or an ``http.client`` connection) bound to
its own 127.0.0.0/8 source address, bounded in count and in time. Nothing
here asserts a duration: the figures are the benchmark's (``bench/attack.py``).
Pinned: no spelling of a protected path reaches a protected handler
unauthenticated (nor past a rule); a CORS preflight leaks nothing; limits
are exact however many guesses arrive at once; an overloaded server answers
503 to guessers while logged-in users keep working; ``serve`` refuses what
waitress would otherwise hold open or spool; the negotiation memo stays
bounded.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import LiveServer, basic

from basicauth_wsgi import BasicAuth

from .attack_app import SECRET, is_protected, resolve
from .attack_support import (
    Response,
    connect,
    failures,
    held_request,
    raw,
    read_response,
    request,
    served,
    sync_log,
    together,
)

USERS = {"alice": "alice-pw", "bob": "bob-pw"}
ALICE = {"Authorization": basic("alice", "alice-pw")}
BOB = {"Authorization": basic("bob", "bob-pw")}
ATTACK_APP = "tests.ops.attack_app:app"
OPTIONS_HEADERS = {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}


# -- every spelling of a protected path ---------------------------------------------

# Request targets as they go out on the wire, each of which the forgiving
# application (attack_app.resolve) reads as a protected path. Public: /health exactly,
# everything under /static/ and /public/.
PRIVATE_SPELLINGS = [
    "//private",
    "///private",
    "/./private",
    "/health/../private",
    "/health/./../private",
    "/health/%2e%2e/private",
    "/health/%2E%2E/private",
    "/health/.%2e/private",
    "/health/%2e./private",
    "/public/..;/private",
    "/public/..;x=1/private",
    "/public/%2e%2e;/private",
    "/public/..%3b/private",
    "/public/..%253b/private",
    "/static/../private",
    "/static//../private",
    "/static/x/../../private",
    "/static/..%2fprivate",
    "/static/..%2Fprivate",
    "/static/..%252fprivate",
    "/static/..%252Fprivate",
    "/static/..%5cprivate",
    "/static/..%5Cprivate",
    "/static/..%255cprivate",
    "/static/%2e%2e%5cprivate",
    "/static/%252e%252e/private",
    "/static/%252e%252e%252fprivate",
    "/static/..%2f..%2fprivate",
    "/static/..%252f..%252fprivate",
    "/static/..\\private",
    "/static\\..\\private",
    "/static/..\\..\\private",
    "/health\\..\\private",
    "/static/%2e%2e\\private",
    "/static/..;/private",
    "/static/..;/..;/private",
    "/static/.;/../private",
    "/static/..%252fapi%252fv1%252fprivate",
    "/static/..%2fapi%2fv1%2fprivate",
    "/static/..%5capi%5cv1%5cprivate",
    "http://127.0.0.1/static/../private",
    "/static/../private?next=/static/",
    "/private",
    "/private/",
    "/private;x",
    "/private%3bx",
    "/%70rivate",
    "/%2570rivate",
]


@pytest.fixture(scope="module")
def forgiving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The forgiving application behind exclude=[/health, /static/, /public/]."""
    tmp_path = tmp_path_factory.mktemp("forgiving")
    with served(
        tmp_path,
        USERS,
        "--app", ATTACK_APP,
        "--exclude", "/health", "--exclude", "/static/", "--exclude", "/public/",
        "--throttle-per-client", "0", "--throttle-per-user", "0",
    ) as server:  # fmt: skip
        yield server


def test_the_forgiving_application_reads_every_spelling_as_private() -> None:
    # The control: without the middleware, each spelling below is a bypass.
    for target in PRIVATE_SPELLINGS:
        path = target.removeprefix("http://127.0.0.1").split("?")[0]
        # waitress decodes once; the application then decodes again.
        assert is_protected(resolve(path)), target


@pytest.mark.parametrize("target", PRIVATE_SPELLINGS)
def test_no_spelling_of_a_protected_path_is_public(forgiving: LiveServer, target: str) -> None:
    answer = raw(forgiving.port, request("GET", target), "127.0.1.1")
    assert answer.status == 401, answer
    assert answer.header("www-authenticate") == 'Basic realm="Restricted area", charset="UTF-8"'
    assert SECRET.encode() not in answer.body
    assert SECRET not in str(answer.headers)
    # With credentials the same spelling reaches the application, which
    # serves the secret: the 401 above was the middleware's doing.
    authed = raw(forgiving.port, request("GET", target, ALICE), "127.0.1.2")
    assert authed.status == 200, authed
    assert json.loads(authed.body)["secret"] == SECRET
    assert json.loads(authed.body)["user"] == "alice"


@pytest.mark.parametrize(
    "target", ["/health", "/static/app.css", "/static/", "/public/x", "/public/a/../b"]
)
def test_public_paths_stay_public(forgiving: LiveServer, target: str) -> None:
    answer = raw(forgiving.port, request("GET", target), "127.0.1.4")
    assert answer.status == 200, answer
    assert json.loads(answer.body)["user"] is None


@pytest.mark.parametrize(
    "target", ["/health/", "/./health", "/health;x", "/health%2f", "/%68ealth/.", "/x/../health"]
)
def test_an_odd_spelling_of_a_public_path_costs_a_401_not_a_bypass(
    forgiving: LiveServer, target: str
) -> None:
    assert raw(forgiving.port, request("GET", target), "127.0.1.5").status == 401


def test_leading_slashes_are_collapsed_by_waitress_before_the_middleware(
    forgiving: LiveServer,
) -> None:
    # waitress (task.py) turns PATH_INFO "//health" into "/health" before any
    # WSGI code runs: the application is asked for /health itself, so the
    # public answer is no bypass (in process, where nothing collapses it,
    # "//health" is a 401). "//private" is collapsed too, and still a 401.
    answer = raw(forgiving.port, request("GET", "//health"), "127.0.1.6")
    assert answer.status == 200 and json.loads(answer.body) == {"resolved": "/health", "user": None}
    assert raw(forgiving.port, request("GET", "//private"), "127.0.1.6").status == 401


# The example API (its own router), with the spellings.
@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp_path = tmp_path_factory.mktemp("example")
    with served(
        tmp_path,
        USERS,
        "--exclude", "/health", "--exclude", "/static/",
        "--throttle-per-client", "0", "--throttle-per-user", "0",
    ) as server:  # fmt: skip
        yield server


@pytest.mark.parametrize(
    "target",
    [
        "/api/v1/private",
        "//api/v1/private",
        "/health/../api/v1/private",
        "/health/%2e%2e/api/v1/private",
        "/static/..%252fapi%252fv1%252fprivate",
        "/static/..%2fapi%2fv1%2fprivate",
        "/static/..%5capi%5cv1%5cprivate",
        "/static/..\\api\\v1\\private",
        "/static/..;/api/v1/private",
        "/static/%252e%252e/api/v1/subscribers",
        "/health/",
        "/health;x",
    ],
)
def test_the_example_api_needs_credentials_for_every_spelling(
    example: LiveServer, target: str
) -> None:
    answer = raw(example.port, request("GET", target), "127.0.2.1")
    assert answer.status == 401, answer
    assert b"42" not in answer.body and b"subscribers" not in answer.body


def test_the_example_api_health_is_public(example: LiveServer) -> None:
    answer = raw(example.port, request("GET", "/health"), "127.0.2.2")
    assert (answer.status, json.loads(answer.body)) == (200, {"status": "ok"})


# include: only /admin/ is protected; every spelling of it still is.
ADMIN_SPELLINGS = [
    "/admin/secret",
    "//admin/secret",
    "/x/../admin/secret",
    "/x/%2e%2e/admin/secret",
    "/public/..;/admin/secret",
    "/public/..%252fadmin%252fsecret",
    "/public/..%5cadmin%5csecret",
    "/public\\..\\admin\\secret",
    "/%61dmin/secret",
    "/%2561dmin/secret",
    "/admin;x/secret",
    "/admin%3bx/secret",
    "/admin%253bx/secret",
    "/admin%2fsecret",
    "/admin%252fsecret",
]


@pytest.fixture(scope="module")
def included(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp_path = tmp_path_factory.mktemp("include")
    with served(
        tmp_path,
        USERS,
        "--app", ATTACK_APP, "--include", "/admin/",
        "--throttle-per-client", "0", "--throttle-per-user", "0",
    ) as server:  # fmt: skip
        yield server


@pytest.mark.parametrize("target", ADMIN_SPELLINGS)
def test_include_no_spelling_makes_a_protected_path_public(
    included: LiveServer, target: str
) -> None:
    assert resolve(target) == "/admin/secret", target  # the app would serve it
    answer = raw(included.port, request("GET", target), "127.0.3.1")
    assert answer.status == 401, answer
    assert SECRET.encode() not in answer.body


def test_include_leaves_other_paths_public(included: LiveServer) -> None:
    answer = raw(included.port, request("GET", "/public/page"), "127.0.3.2")
    assert answer.status == 200 and json.loads(answer.body)["user"] is None


# A Rule: only group admin (alice) may touch /admin/; bob must get 403 however he spells it.
@pytest.fixture(scope="module")
def ruled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp_path = tmp_path_factory.mktemp("rules")
    groups = tmp_path / "groups"
    groups.write_text("admin: alice\n")
    with served(
        tmp_path,
        USERS,
        "--app", ATTACK_APP, "--exclude", "/public/",
        "--htgroup", str(groups), "--rules", "/admin/ * @admin",
        "--throttle-per-client", "0", "--throttle-per-user", "0",
    ) as server:  # fmt: skip
        yield server


@pytest.mark.parametrize("target", ADMIN_SPELLINGS)
def test_no_spelling_slips_past_a_rule(ruled: LiveServer, target: str) -> None:
    answer = raw(ruled.port, request("GET", target, BOB), "127.0.4.1")
    assert answer.status == 403, answer
    assert SECRET.encode() not in answer.body
    unauthenticated = raw(ruled.port, request("GET", target), "127.0.4.2")
    assert unauthenticated.status == 401, unauthenticated
    allowed = raw(ruled.port, request("GET", target, ALICE), "127.0.4.3")
    assert allowed.status == 200 and json.loads(allowed.body)["secret"] == SECRET


# -- CORS preflights ----------------------------------------------------------------


def test_a_preflight_needs_credentials_by_default(forgiving: LiveServer) -> None:
    answer = raw(forgiving.port, request("OPTIONS", "/private", OPTIONS_HEADERS), "127.0.5.1")
    assert answer.status == 401, answer
    assert SECRET not in str(answer.headers) and SECRET.encode() not in answer.body


@pytest.fixture(scope="module")
def preflights(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp_path = tmp_path_factory.mktemp("cors")
    with served(
        tmp_path, USERS, "--app", ATTACK_APP, "--allow-cors-preflight", "--no-throttle"
    ) as server:
        yield server


def test_an_allowed_preflight_gets_the_status_and_cors_headers_only(
    preflights: LiveServer,
) -> None:
    answer = raw(preflights.port, request("OPTIONS", "/private", OPTIONS_HEADERS), "127.0.5.2")
    assert answer.status == 200, answer
    assert answer.body == b""
    assert answer.header("access-control-allow-origin") == "https://app.example"
    assert answer.header("access-control-allow-methods") == "GET, POST"
    assert answer.header("allow") == "GET, OPTIONS"
    assert answer.header("content-length") == "0"
    assert "set-cookie" not in answer.headers and "x-secret" not in answer.headers
    assert SECRET not in str(answer.headers)
    # The same request with credentials gets the whole answer (the control).
    full = raw(preflights.port, request("OPTIONS", "/private", ALICE), "127.0.5.3")
    assert full.status == 200 and json.loads(full.body)["secret"] == SECRET


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Origin": "https://evil.example"}, id="origin-only"),
        pytest.param({"Access-Control-Request-Method": "GET"}, id="method-only"),
        pytest.param({}, id="plain-options"),
    ],
)
def test_other_options_requests_need_credentials(
    preflights: LiveServer, headers: dict[str, str]
) -> None:
    answer = raw(preflights.port, request("OPTIONS", "/private", headers), "127.0.5.4")
    assert answer.status == 401, answer
    assert SECRET not in str(answer.headers) and SECRET.encode() not in answer.body


@pytest.mark.parametrize("target", ["/static/..%252fprivate", "//private", "/private"])
def test_a_preflight_to_any_spelling_leaks_nothing(preflights: LiveServer, target: str) -> None:
    answer = raw(preflights.port, request("OPTIONS", target, OPTIONS_HEADERS), "127.0.5.5")
    assert answer.status == 200 and answer.body == b""
    assert SECRET not in str(answer.headers)


# -- exact limits under concurrency -------------------------------------------------


def guess(username: str, number: int) -> dict[str, str]:
    # Distinct passwords: identical credentials are checked once, by design.
    return {"Authorization": basic(username, f"wrong-{number}"), "Accept": "application/json"}


@pytest.mark.parametrize("threads", [8, 32])
def test_64_concurrent_guesses_from_one_address_check_exactly_per_client(
    tmp_path: Path, threads: int
) -> None:
    with served(
        tmp_path,
        USERS,
        "--threads", str(threads), "--throttle-per-client", "20",
        "--max-concurrent-checks", "off", "--no-access-log",
    ) as server:  # fmt: skip
        jobs = [
            held_request(
                server.port, "127.0.6.1", request("GET", "/api/v1/private", guess("alice", n))
            )
            for n in range(64)
        ]
        answers = together(jobs)
        statuses = sorted(a.status for a in answers)
        assert statuses == [401] * 20 + [429] * 44, statuses
        assert all(int(a.header("retry-after") or 0) >= 1 for a in answers if a.status == 429)
        sync_log(server, "127.0.6.2")
        assert len(failures(server, "wrong_password", "alice")) == 20


@pytest.mark.parametrize("threads", [8, 32])
def test_64_concurrent_guesses_for_one_user_check_exactly_per_user(
    tmp_path: Path, threads: int
) -> None:
    with served(
        tmp_path,
        USERS,
        "--threads", str(threads), "--throttle-per-user", "10", "--throttle-per-client", "0",
        "--max-concurrent-checks", "off", "--no-access-log",
    ) as server:  # fmt: skip
        jobs = [
            held_request(
                server.port, f"127.0.7.{n + 1}", request("GET", "/api/v1/private", guess("bob", n))
            )
            for n in range(64)
        ]
        statuses = sorted(a.status for a in together(jobs))
        assert statuses == [401] * 10 + [429] * 54, statuses
        sync_log(server, "127.0.7.100")
        assert len(failures(server, "wrong_password", "bob")) == 10
        # bob's own address is not locked out by his per-user limit once he logged in
        # from it before; here he never did, so he is blocked like everyone (429).
        late = raw(server.port, request("GET", "/api/v1/private", BOB), "127.0.7.101")
        assert late.status == 429


# -- admission control: guessers get 503, logged-in users keep working ---------------


class LoggedIn:
    """A logged-in client: keep-alive GETs in a loop, each (sent, received, status)."""

    def __init__(self, port: int, source: str) -> None:
        self.conn = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=30, source_address=(source, 0)
        )
        self.seen: list[tuple[float, float, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def get(self) -> int:
        self.conn.request("GET", "/api/v1/private", headers=ALICE)
        response = self.conn.getresponse()
        response.read()
        return response.status

    def _run(self) -> None:
        while not self.stop.is_set():
            sent = time.monotonic()
            status = self.get()
            self.seen.append((sent, time.monotonic(), status))

    def __enter__(self) -> LoggedIn:
        # One success first: from now on its header is a cache hit.
        assert self.get() == 200
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(60)
        self.conn.close()
        assert not self.thread.is_alive()

    def within(self, start: float, end: float) -> list[int]:
        return [status for sent, got, status in self.seen if sent >= start and got <= end]


def assert_overloaded_answer(answer: Response) -> None:
    assert answer.status == 503, answer
    assert answer.header("retry-after") == "1"
    assert answer.header("content-type") == "application/json"
    assert json.loads(answer.body)["error"] == "unavailable"
    assert answer.header("www-authenticate") is None


def test_a_burst_of_guesses_gets_503_while_a_logged_in_user_gets_200(tmp_path: Path) -> None:
    # bcrypt(12): each check takes a quarter of a CPU-second, far longer than
    # the 50 ms a request waits for a slot, so a burst overflows two slots.
    with served(
        tmp_path,
        USERS,
        "--threads", "32", "--max-concurrent-checks", "2", "--no-access-log",
        cost=12,
    ) as server:  # fmt: skip
        with LoggedIn(server.port, "127.0.8.1") as user:
            jobs = [
                held_request(
                    server.port,
                    f"127.0.8.{n + 10}",
                    request("GET", "/api/v1/private", guess("alice" if n % 2 else "mallory", n)),
                )
                for n in range(24)
            ]
            start = time.monotonic()
            answers = together(jobs)
            end = time.monotonic()
        statuses = [a.status for a in answers]
        assert statuses.count(503) >= 1, statuses
        assert set(statuses) <= {401, 503}, statuses  # no other 5xx, no 429 yet
        for answer in answers:
            if answer.status == 503:
                assert_overloaded_answer(answer)
        during = user.within(start, end)
        assert during and set(during) == {200}, user.seen
        assert {status for _, _, status in user.seen} == {200}
        # Checks admitted again: once one comes a quiet second after the
        # last refusal, the overload is over, and said once.
        follow_ups = 0
        deadline = time.monotonic() + 20
        while not any("overload over:" in line for line in server.errors):
            assert time.monotonic() < deadline, server.errors
            follow_up = request("GET", "/api/v1/private", guess("x", 99 + follow_ups))
            assert raw(server.port, follow_up, f"127.0.9.{follow_ups + 1}").status == 401
            follow_ups += 1
            sync_log(server, f"127.0.10.{follow_ups}")
        sync_log(server, "127.0.8.100")
        log = "\n".join(server.errors)
        assert log.count("overloaded:") == 1, log
        assert log.count("overload over:") == 1, log
        refused = int(log.split("overload over: ")[1].split()[0])
        assert refused == statuses.count(503)
        # A 503 is not a failure: only checked passwords were logged and counted.
        checked = len(failures(server, "wrong_password")) + len(failures(server, "unknown_user"))
        # + the follow-up guesses and the log sentinels
        assert checked == statuses.count(401) + 2 * follow_ups + 1


def test_a_trusted_user_logs_in_again_during_a_burst(tmp_path: Path) -> None:
    # Carol logged in from 127.0.8.3 before, so that pair is trusted. Her next
    # login misses the cache (another spelling of the same credentials, as
    # after the entry expired) while guesses hold both general slots: the
    # extra slot is hers, so she gets 200. Alice, with her right password but
    # from an address she never logged in from, gets the guessers' 503.
    users = {**USERS, "carol": "carol-pw"}
    with served(
        tmp_path, users, "--threads", "32", "--max-concurrent-checks", "2", "--no-access-log",
        cost=12,
    ) as server:  # fmt: skip
        login = request("GET", "/api/v1/private", {"Authorization": basic("carol", "carol-pw")})
        assert raw(server.port, login, "127.0.8.3").status == 200
        again = {"Authorization": "basic " + basic("carol", "carol-pw").split()[1]}
        jobs = [
            held_request(
                server.port, f"127.0.8.{n + 10}", request("GET", "/api/v1/private", guess("bob", n))
            )
            for n in range(8)
        ]
        burst: list[list[Response]] = []
        attack = threading.Thread(target=lambda: burst.append(together(jobs)), daemon=True)
        attack.start()
        try:
            # Both general slots are busy (for a quarter of a CPU-second at least).
            server.expect(r"overloaded: all 2 password check slots busy")
            carol, alice = together(
                [
                    held_request(
                        server.port, "127.0.8.3", request("GET", "/api/v1/private", again)
                    ),
                    held_request(
                        server.port, "127.0.8.4", request("GET", "/api/v1/private", ALICE)
                    ),
                ]
            )
        finally:
            attack.join(120)
        assert not attack.is_alive()
        assert carol.status == 200, carol
        assert json.loads(carol.body) == {"meaning_of_life": 42}
        assert_overloaded_answer(alice) if alice.header(
            "content-type"
        ) == "application/json" else None
        assert alice.status == 503, alice
        statuses = [a.status for a in burst[0]]
        assert statuses.count(503) >= 1 and set(statuses) <= {401, 503}, statuses


def spray(port: int, first: int, count: int, stop: threading.Event) -> list[int]:
    """One attacker connection: distinct wrong passwords, a new address every 5 guesses."""
    statuses: list[int] = []
    for n in range(count):
        if stop.is_set():
            break
        if n % 5 == 0:
            address = f"127.9.{first}.{n // 5 + 1}"
        statuses.append(
            raw(
                port,
                request("GET", "/api/v1/private", guess(f"user{n}", first * 1000 + n)),
                address,
            ).status
        )
    return statuses


def test_a_sustained_spray_never_answers_other_5xx_and_never_starves_the_logged_in(
    tmp_path: Path,
) -> None:
    with served(
        tmp_path, USERS, "--max-concurrent-checks", "2", "--no-access-log", cost=10
    ) as server:
        stop = threading.Event()
        with LoggedIn(server.port, "127.0.9.250") as user:
            start = time.monotonic()
            results = together(
                [lambda barrier, n=n: (barrier.wait(), spray(server.port, n + 1, 30, stop))[1]
                 for n in range(12)]
            )  # fmt: skip
            end = time.monotonic()
        statuses = [s for attacker in results for s in attacker]
        assert statuses.count(503) >= 1
        assert set(statuses) <= {401, 503}, sorted(set(statuses))
        during = user.within(start, end)
        assert during and set(during) == {200}
        sync_log(server, "127.0.9.251")
        log = "\n".join(server.errors)
        # The overload lines come in pairs, each "over" after a check was admitted:
        # never more than one pair per checked password, whatever was refused.
        starts, ends = log.count("overloaded:"), log.count("overload over:")
        assert starts >= 1 and ends in (starts - 1, starts)
        assert starts <= statuses.count(401) + 2  # + the login and the sentinel
        assert "Traceback" not in log


# -- serve hardening ------------------------------------------------------------------


@pytest.fixture
def idle_sockets() -> Iterator[list[socket.socket]]:
    sockets: list[socket.socket] = []
    try:
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def half_sent(port: int, source: str, count: int, into: list[socket.socket]) -> None:
    for _ in range(count):
        sock = connect(port, source, timeout=10)
        into.append(sock)
        sock.sendall(b"GET /api/v1/private HTTP/1.1\r\nHost: 127.0.0.1\r\n")


def test_150_idle_half_sent_requests_do_not_starve_other_clients(
    example: LiveServer, idle_sockets: list[socket.socket]
) -> None:
    half_sent(example.port, "127.0.10.1", 150, idle_sockets)
    answer = raw(example.port, request("GET", "/health"), "127.0.10.2")
    assert answer.status == 200
    answer = raw(example.port, request("GET", "/api/v1/private", ALICE), "127.0.10.3")
    assert answer.status == 200 and json.loads(answer.body) == {"meaning_of_life": 42}


def test_connection_limit_is_a_flag(tmp_path: Path, idle_sockets: list[socket.socket]) -> None:
    with served(tmp_path, USERS, "--connection-limit", "20", "--channel-timeout", "5") as server:
        half_sent(server.port, "127.0.11.1", 30, idle_sockets)
        waiting = connect(server.port, "127.0.11.2", timeout=1)
        idle_sockets.append(waiting)
        waiting.sendall(request("GET", "/health"))
        # Over the limit waitress accepts nothing: the request waits...
        with pytest.raises(socket.timeout):
            waiting.recv(1)
        for sock in idle_sockets[:-1]:
            sock.close()
        # ...and is answered once the idle connections are gone.
        waiting.settimeout(30)
        assert read_response(waiting).status == 200


def test_a_huge_unauthenticated_body_is_refused_before_it_is_read(example: LiveServer) -> None:
    head = (
        b"POST /api/v1/subscribers HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 536870912\r\n\r\n"
    )
    with connect(example.port, "127.0.12.1", timeout=30) as sock:
        sock.sendall(head)  # and not one byte of the 512 MiB
        answer = read_response(sock)
    assert answer.status == 413, answer


def test_max_request_body_size_is_a_flag(tmp_path: Path) -> None:
    with served(tmp_path, USERS, "--max-request-body-size", "1000") as server:
        body = json.dumps({"name": "A", "email": "a@example.org", "pad": "x" * 1200}).encode()
        headers = {**ALICE, "Content-Type": "application/json", "Content-Length": str(len(body))}
        answer = raw(
            server.port, request("POST", "/api/v1/subscribers", headers, body), "127.0.13.1"
        )
        assert answer.status == 413
        small = json.dumps({"name": "A", "email": "a@example.org"}).encode()
        headers["Content-Length"] = str(len(small))
        answer = raw(
            server.port, request("POST", "/api/v1/subscribers", headers, small), "127.0.13.2"
        )
        assert answer.status == 201, answer


@pytest.mark.parametrize("size", [8193, 65536])
def test_an_oversized_authorization_header_is_a_401_and_never_logged(
    example: LiveServer, size: int
) -> None:
    value = "Basic " + "QWxhZGRpbjpvcGVuIHNlc2FtZQ" * (size // 26 + 1)
    answer = raw(
        example.port, request("GET", "/api/v1/private", {"Authorization": value}), "127.0.14.1"
    )
    assert answer.status == 401, answer
    sync_log(example, "127.0.14.2")
    assert not any("QWxhZGRpbjpvcGVu" in line for line in example.errors)


# -- bounded memos ---------------------------------------------------------------------


def test_distinct_4kb_accept_values_do_not_grow_memory() -> None:
    def app(environ: object, start_response: object) -> list[bytes]:
        raise AssertionError("never reached")

    middleware = BasicAuth(app, {"alice": "alice-pw"}, throttle=None)

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: object = None
    ) -> None:
        pass

    def one(n: int) -> None:
        filler = f"{n:08d}".encode().hex() * 256  # 4 KiB, distinct per request
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/private",
            "SCRIPT_NAME": "",
            "REMOTE_ADDR": "192.0.2.1",
            "wsgi.url_scheme": "http",
            "HTTP_ACCEPT": f"text/x-{filler}, application/json",
            "CONTENT_TYPE": f"application/x-{filler}",
        }
        body = b"".join(middleware(environ, start_response))  # type: ignore[arg-type]
        assert body.startswith(b"{")

    for n in range(2_000):  # warm up: imports, first allocations
        one(n)
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for n in range(2_000, 22_000):
            one(n)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert grown < 8 * 1024 * 1024, f"{grown / 2**20:.1f} MiB kept of attacker text"
