"""The ``prometheus`` extra: the series in a prometheus_client registry, and gunicorn's workers.

In process, a registry holds what the standard library's exposition shows.
Under ``gunicorn -w 4`` with ``PROMETHEUS_MULTIPROC_DIR`` (the settings of
``docs/gunicorn.conf.py``, the application as the README writes it), one
scrape totals the requests that four workers answered.
"""

from __future__ import annotations

import http.client
import sys
import threading
from pathlib import Path
from typing import Any

import webtest
from helpers import ROOT, LiveServer, basic
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from basicauth_wsgi import BasicAuth, HashedUsers
from basicauth_wsgi.hashes import hash_password
from basicauth_wsgi.metrics import Metrics

from ..ops.support import child_env
from ..ops.test_multiprocess import GUNICORN_LISTENING, need_gunicorn, no_control_socket
from .test_series import ok

WORKERS = 4


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_registry_holds_what_the_exposition_shows() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry=registry)
    hashed = HashedUsers({"alice": hash_password("alice-pw", "sha256-crypt")})
    app = webtest.TestApp(BasicAuth(ok, hashed, metrics=metrics))
    for password in ("alice-pw", "alice-pw", "wrong"):
        app.get("/", headers={"Authorization": basic("alice", password)}, expect_errors=True)
    app.get("/", status=401)
    ours = samples(metrics.exposition())
    theirs = samples(generate_latest(registry).decode())
    compared = [key for key in ours if key[0].startswith(("basicauth_requests",
                "basicauth_failures", "basicauth_checks_total", "basicauth_cache"))]  # fmt: skip
    assert compared and {k: theirs[k] for k in compared} == {k: ours[k] for k in compared}
    assert theirs[("basicauth_requests_total", (("outcome", "granted"),))] == 2
    assert theirs[("basicauth_check_seconds_count", (("kind", "sha256-crypt"),))] == 2
    assert theirs[("basicauth_users", ())] == 1
    # A first block, reload or failure is a step from a zero Prometheus has seen.
    assert theirs[("basicauth_blocks_total", (("limit", "password"),))] == 0


def fetch(port: int, path: str, password: str = "alice-pw") -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": basic("alice", password)})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def test_one_scrape_totals_every_gunicorn_worker(tmp_path: Path) -> None:
    need_gunicorn()
    folder = tmp_path / "metrics"
    folder.mkdir()
    server = LiveServer(
        ["tests.metrics.gunicorn_app:app"],
        cwd=ROOT,
        env={**child_env(), "PROMETHEUS_MULTIPROC_DIR": str(folder)},
        command=[
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(ROOT / "docs" / "gunicorn.conf.py"),
            "-w",
            str(WORKERS),
            "-b",
            "127.0.0.1:0",
            *no_control_socket(),
        ],
        listening=GUNICORN_LISTENING,
        password="",
    )
    try:
        for _ in range(WORKERS):
            server.expect(r"Booting worker with pid")
        pids: list[str] = []
        lock = threading.Lock()

        def client(n: int) -> None:
            for _ in range(n):
                status, body = fetch(server.port, "/")
                assert status == 200
                with lock:
                    pids.append(body)

        clients = [threading.Thread(target=client, args=(25,)) for _ in range(8)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in clients)
        failed = [fetch(server.port, "/", "wrong")[0] for _ in range(3)]
        assert failed == [401] * 3
        status, text = fetch(server.port, "/metrics")
        assert status == 200
        found = samples(text)
        assert len(pids) == 200 and len(set(pids)) >= 2, set(pids)
        # Every worker's requests, and this scrape (counted before it is answered).
        assert found[("basicauth_requests_total", (("outcome", "granted"),))] == 200 + 1
        assert found[("basicauth_requests_total", (("outcome", "failed"),))] == 3
        assert found[("basicauth_failures_total", (("reason", "wrong_password"),))] == 3
        # The slots of the live workers, summed.
        one = Metrics()
        BasicAuth(ok, {"alice": "alice-pw"}, metrics=one)
        per_worker = samples(one.exposition())[("basicauth_check_slots", ())]
        assert found[("basicauth_check_slots", ())] == WORKERS * per_worker
    finally:
        server.stop()


def test_the_readme_shows_the_gunicorn_settings_it_tests() -> None:
    readme = (ROOT / "README.md").read_text()
    settings = (ROOT / "docs" / "gunicorn.conf.py").read_text()
    assert "multiprocess.mark_process_dead(worker.pid)" in readme
    assert "multiprocess.mark_process_dead(worker.pid)" in settings
    app: Any = (ROOT / "tests" / "metrics" / "gunicorn_app.py").read_text()
    for line in ("multiprocess.MultiProcessCollector(every_worker)",
                 "metrics=Metrics(registry=REGISTRY)"):  # fmt: skip
        assert line in app and line in readme
