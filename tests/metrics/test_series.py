"""The series of SPEC §12, in process: what each decision counts, and what never becomes a label.

Every front door (WSGI, ASGI, forward-auth) counts through the core, so the
same requests give the same samples; the exposition parses with
``prometheus_client.parser`` (the reference reader); thousands of requests
with random usernames, paths and addresses leave the number of series
where the configuration put it.
"""

from __future__ import annotations

import random
import string
from pathlib import Path
from typing import Any

import pytest
import webtest
from helpers import basic
from prometheus_client.parser import text_string_to_metric_families

from basicauth_wsgi import BasicAuth, HashedUsers, HtgroupFile, HtpasswdFile, Rule, Throttle
from basicauth_wsgi.asgi import BasicAuth as AsgiBasicAuth
from basicauth_wsgi.forward import ForwardAuth
from basicauth_wsgi.hashes import hash_password
from basicauth_wsgi.htpasswd import write_htpasswd
from basicauth_wsgi.metrics import (
    BUCKETS,
    CHECK_RESULTS,
    FAILURE_REASONS,
    LIMITS,
    OUTCOMES,
    Metrics,
)

from ..asgi.support import Recorder as AsgiRecorder
from ..asgi.support import call as asgi_call

USERS = {"alice": "alice-pw", "bob": "bob-pw"}
CLIENT = "203.0.113.9"


def ok(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def values(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, as parsed by prometheus_client: (name, labels) -> value."""
    out = {}
    for family in text_string_to_metric_families(metrics.exposition()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return values(metrics)[(name, tuple(sorted(labels.items())))]


def outcomes(metrics: Metrics) -> dict[str, float]:
    found = values(metrics)
    return {
        dict(labels)["outcome"]: v
        for (name, labels), v in found.items()
        if name == "basicauth_requests_total" and v
    }


def get(app: webtest.TestApp, path: str = "/", user: str | None = None, password: str = "",
        client: str = "192.0.2.10", status: int | str = "*", **environ: Any) -> Any:  # fmt: skip
    headers = {} if user is None else {"Authorization": basic(user, password)}
    return app.get(path, headers=headers, extra_environ={"REMOTE_ADDR": client, **environ},
                   status=status, expect_errors=True)  # fmt: skip


def test_each_decision_counts_once_under_its_outcome(tmp_path: Path) -> None:
    metrics = Metrics()
    groups = tmp_path / "groups"
    groups.write_text("admin: alice\n")
    app = webtest.TestApp(BasicAuth(
        ok, USERS, metrics=metrics, exclude=["/health"], groups=HtgroupFile(str(groups)),
        rules=[Rule("/admin/", groups=["admin"])], throttle=Throttle(per_client=2),
        allow_cors_preflight=True,
    ))  # fmt: skip
    get(app, "/", "alice", "alice-pw", status=200)
    get(app, "/", "alice", "alice-pw", status=200)  # from the cache
    get(app, "/health", status=200)
    get(app, "/", status=401)
    get(app, "/", "bob", "wrong", client="192.0.2.20", status=401)
    get(app, "/", "nobody", "x", client="192.0.2.21", status=401)
    app.get("/", headers={"Authorization": "Bearer x"}, status=401)
    get(app, "/admin/", "bob", "bob-pw", status=403)
    for password in ("one", "two"):
        get(app, "/", "alice", password, client="192.0.2.30", status=401)
    get(app, "/", "alice", "three", client="192.0.2.30", status=429)
    app.options("/", headers={"Origin": "https://a.example",
                              "Access-Control-Request-Method": "GET"}, status="*")  # fmt: skip

    assert outcomes(metrics) == {
        "granted": 2, "public": 1, "missing": 1, "failed": 5, "forbidden": 1, "throttled": 1,
        "preflight": 1,
    }  # fmt: skip
    assert value(metrics, "basicauth_failures_total", reason="wrong_password") == 3
    assert value(metrics, "basicauth_failures_total", reason="unknown_user") == 1
    assert value(metrics, "basicauth_failures_total", reason="unsupported_scheme") == 1
    assert value(metrics, "basicauth_blocks_total", limit="client") == 1
    # Every outcome of the spec is a series from the start (rate() needs a zero).
    assert value(metrics, "basicauth_requests_total", outcome="overloaded") == 0
    assert value(metrics, "basicauth_requests_total", outcome="unavailable") == 0


def test_checks_are_counted_by_kind_with_their_duration() -> None:
    metrics = Metrics()
    hashed = {"alice": hash_password("alice-pw", "sha256-crypt"), "bob": "{PLAIN}bob-pw"}
    app = webtest.TestApp(BasicAuth(ok, HashedUsers(hashed), metrics=metrics))
    get(app, "/", "alice", "alice-pw", status=200)
    get(app, "/", "alice", "alice-pw", status=200)
    get(app, "/", "alice", "nope", status=401)
    get(app, "/", "bob", "bob-pw", status=200)

    assert value(metrics, "basicauth_checks_total", kind="sha256-crypt", result="success") == 1
    assert value(metrics, "basicauth_checks_total", kind="sha256-crypt", result="failure") == 1
    assert value(metrics, "basicauth_checks_total", kind="plain", result="success") == 1
    assert value(metrics, "basicauth_check_seconds_count", kind="sha256-crypt") == 2
    assert value(metrics, "basicauth_check_seconds_sum", kind="sha256-crypt") > 0
    assert value(metrics, "basicauth_check_seconds_bucket", kind="sha256-crypt", le="+Inf") == 2
    assert value(metrics, "basicauth_cache_total", result="hit") == 1
    assert value(metrics, "basicauth_cache_total", result="miss") == 3
    assert value(metrics, "basicauth_users") == 2


def test_the_exposition_is_what_prometheus_reads() -> None:
    metrics = Metrics()
    app = webtest.TestApp(BasicAuth(ok, {"alice": hash_password("pw", "sha256-crypt")},
                                    metrics=metrics))  # fmt: skip
    for password in ("pw", "bad", "worse"):
        get(app, "/", "alice", password)
    families = {f.name: f for f in text_string_to_metric_families(metrics.exposition())}
    assert families["basicauth_requests"].type == "counter"
    assert families["basicauth_check_seconds"].type == "histogram"
    assert families["basicauth_check_slots"].type == "gauge"
    buckets = [s for s in families["basicauth_check_seconds"].samples if s.name.endswith("_bucket")]
    counts = [s.value for s in buckets]
    assert counts == sorted(counts) and buckets[-1].labels["le"] == "+Inf" and counts[-1] == 3
    text = metrics.exposition()
    assert text.endswith("\n") and "# TYPE basicauth_requests_total counter" in text
    # Served as the format asks, with nothing else on that application.
    scrape = webtest.TestApp(metrics.wsgi)
    response = scrape.get("/metrics")
    assert response.content_type == "text/plain" and "version=0.0.4" in response.headers[
        "Content-Type"]  # fmt: skip
    assert scrape.get("/", status=404).text == "not found\n"


def random_text(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(size))


def test_what_clients_send_never_adds_a_series() -> None:
    metrics = Metrics()
    hashed = {"alice": hash_password("alice-pw", "sha256-crypt")}
    app = webtest.TestApp(BasicAuth(ok, HashedUsers(hashed), metrics=metrics, exclude=["/health"],
                                    throttle=Throttle(per_client=3, per_user=5)))  # fmt: skip
    rng = random.Random(22)

    def burst(n: int) -> None:
        for _ in range(n):
            user = rng.choice(["alice", random_text(rng, rng.randint(1, 40))])
            path = rng.choice(["/", "/health", "/" + random_text(rng, 30), "/a/%2e%2e/b"])
            client = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            password = rng.choice(["alice-pw", random_text(rng, 12)])
            get(app, path, user, password, client=client)

    burst(200)
    first = set(values(metrics))
    burst(3000)
    after = set(values(metrics))
    assert after == first
    assert len(after) <= 60
    # Every label value is one the library names, never one a client sent.
    words = {*OUTCOMES, *FAILURE_REASONS, *CHECK_RESULTS, *LIMITS, "hit", "miss",
             "sha256-crypt", "+Inf", *(repr(b) for b in BUCKETS)}  # fmt: skip
    assert {v for _, labels in after for _, v in labels} <= words


def test_on_decision_is_handed_every_decision() -> None:
    seen: list[tuple[Any, ...]] = []
    metrics = Metrics(on_decision=lambda *decision: seen.append(decision))
    hashed = {"alice": hash_password("alice-pw", "sha256-crypt")}
    app = webtest.TestApp(BasicAuth(ok, HashedUsers(hashed), metrics=metrics))
    get(app, "/", "alice", "alice-pw", status=200)
    get(app, "/", "alice", "alice-pw", status=200)
    get(app, "/", "alice", "wrong", status=401)
    get(app, "/", status=401)
    assert [d[:3] for d in seen] == [
        ("granted", "granted", "sha256-crypt"),
        ("granted", "granted", None),  # the cache answered: no check
        ("failed", "wrong_password", "sha256-crypt"),
        ("missing", "missing", None),
    ]
    assert all(isinstance(d[3], float) and d[3] >= 0 for d in seen)
    with pytest.raises(TypeError, match="on_decision"):
        Metrics(on_decision="print")  # type: ignore[arg-type]


def test_asgi_and_forward_auth_count_as_the_middleware_does() -> None:
    for_wsgi, for_asgi, for_forward = Metrics(), Metrics(), Metrics()
    wsgi = webtest.TestApp(BasicAuth(ok, USERS, metrics=for_wsgi))
    asgi = AsgiBasicAuth(AsgiRecorder(), USERS, metrics=for_asgi)
    forward = webtest.TestApp(ForwardAuth(USERS, trusted_proxies=["127.0.0.1"],
                                          metrics=for_forward),
                              extra_environ={"REMOTE_ADDR": "127.0.0.1"})  # fmt: skip
    for user, password in (("alice", "alice-pw"), ("alice", "alice-pw"), ("bob", "x"), (None, "")):
        headers = {} if user is None else {"Authorization": basic(user, password)}
        get(wsgi, "/", user, password)
        asgi_call(asgi, "/", headers=list(headers.items()))
        asked = {"X-Original-URI": "/", "X-Original-Method": "GET", "X-Forwarded-For": CLIENT}
        forward.get("/", headers={**headers, **asked}, expect_errors=True)
    expected = {"granted": 2, "failed": 1, "missing": 1}
    assert outcomes(for_wsgi) == outcomes(for_asgi) == outcomes(for_forward) == expected


def test_reloads_and_users_are_read_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "users"
    write_htpasswd(path, {"alice": hash_password("alice-pw", "sha256-crypt")})
    users = HtpasswdFile(str(path))
    metrics = Metrics()
    app = webtest.TestApp(BasicAuth(ok, users, metrics=metrics))
    get(app, "/", "alice", "alice-pw", status=200)
    assert value(metrics, "basicauth_users") == 1
    assert value(metrics, "basicauth_users_reload_total", result="failure") == 0
    loaded = value(metrics, "basicauth_users_loaded_timestamp_seconds")
    assert loaded > 1_600_000_000  # Unix time, in seconds
    path.write_text("alice:" + hash_password("alice-pw", "sha256-crypt") + "\nbroken line\n")
    users.refresh()
    assert value(metrics, "basicauth_users_reload_total", result="failure") == 1
    assert value(metrics, "basicauth_users") == 1  # the old users stay in force
    write_htpasswd(path, {"alice": hash_password("a", "sha256-crypt"),
                          "bob": hash_password("b", "sha256-crypt")})  # fmt: skip
    users.refresh()
    assert value(metrics, "basicauth_users_reload_total", result="success") >= 1
    assert value(metrics, "basicauth_users") == 2
