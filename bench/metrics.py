"""Metrics (issue 22, item 5): what counting costs a request, and scraping during the spray.

In process: the authenticated request through ``BasicAuth(app, users,
metrics=Metrics())`` against ``BasicAuth(app, users)``, alternated (on,
off, off, on, ...) round after round, for a plaintext users dict (the
cheapest path, where the overhead shows most) and a bcrypt(12) user
answered from the verification cache; the median per-request cost of
each, the median of the per-round ratios on/off and their spread.

Over the wire: ``python -m basicauth_wsgi serve`` with its defaults, a
bcrypt(12) users file and ``--metrics-port 0``; ``/metrics`` on that
second listener scraped every 50 ms (on a new connection and on a kept
one in turn), in alternated rounds: with no traffic, then while
bench/attack.py's attacker process sprays wrong passwords from 24
connections on distinct 127.N.x.y source addresses; the scrape latency,
and the final scrape's outcome counters beside what the attackers got::

    python -m bench --only metrics [--quick]
"""

from __future__ import annotations

import gc
import http.client
import re
import statistics
import sys
import tempfile
import time
import timeit
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from basicauth_wsgi import BasicAuth, HashedUsers
from basicauth_wsgi.hashes import bcrypt as bcrypt_scheme
from basicauth_wsgi.htpasswd import write_htpasswd
from basicauth_wsgi.metrics import Metrics

from . import apps, attack, forward
from .inprocess import HEADER, request

TARGET = 1.05  # issue 22 item 5: metrics on / off, in process
P99_TARGET_MS = 50.0  # ... and a scrape's p99 during the spray
INTERVAL = 0.05  # seconds between scrapes
SCRAPER = "127.0.0.3"  # the scraper's source address
NET = 90  # the attackers' addresses: 127.(90 + round).x.y
OUTCOMES = ("failed", "throttled", "overloaded", "granted")
MODES = ("new connection", "keep-alive")  # how each scrape connects, in turn

# -- in process ---------------------------------------------------------------------------


def _plain() -> dict[str, str]:
    return dict(apps.USERS)


def _bcrypt() -> HashedUsers:
    return HashedUsers({apps.USER: bcrypt_scheme.make(apps.PASSWORD.encode(), 12)})


#: The users each measurement runs with: (label, a fresh store for each middleware).
CASES: list[tuple[str, Callable[[], Any]]] = [
    ("plaintext dict", _plain),
    ("bcrypt(12), cache warm", _bcrypt),
]


@dataclass
class Overhead:
    """One case's per-request costs (ns), a sample per round each, metrics off and on."""

    label: str
    off: list[float] = field(default_factory=list)
    on: list[float] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [on / off for on, off in zip(self.on, self.off, strict=True)]


def overhead(label: str, users: Callable[[], Any], rounds: int, budget: float) -> Overhead:
    """``rounds`` alternated rounds of ``budget`` seconds a side; the first call warms the cache."""
    calls = {
        "off": request(BasicAuth(apps.bare_app, users()), HEADER, "200"),
        "on": request(BasicAuth(apps.bare_app, users(), metrics=Metrics()), HEADER, "200"),
    }
    per_call = min(timeit.repeat(calls["off"], number=50, repeat=3)) / 50
    number = max(20, int(budget / per_call))  # the same count on both sides
    result = Overhead(label)
    for r in range(rounds):
        gc.collect()
        for side in ("on", "off") if r % 2 == 0 else ("off", "on"):
            elapsed = timeit.timeit(calls[side], number=number)
            getattr(result, side).append(elapsed / number * 1e9)
    return result


def overhead_table(results: list[Overhead], rounds: int, budget: float) -> str:
    med = statistics.median
    lines = [
        f"**Metrics on vs off, in process** ({rounds} alternated rounds of {budget:g} s a "
        "side; the authenticated request, a fresh environ each, `BasicAuth(app, users, "
        f"metrics=Metrics())` over `BasicAuth(app, users)`; target <= {TARGET:.2f}x)",
        "",
        "| users | metrics off, µs/request | req/s | metrics on, µs/request | req/s "
        "| on/off (median, min-max) | target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for one in results:
        off, on, ratios = med(one.off), med(one.on), one.ratios
        verdict = "met" if med(ratios) <= TARGET else "**missed**"
        lines.append(
            f"| {one.label} | {off / 1000:.2f} | {1e9 / off:,.0f} | {on / 1000:.2f} "
            f"| {1e9 / on:,.0f} | {med(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f}) "
            f"| {verdict} |"
        )
    return "\n".join(lines)


# -- scraping during the spray ----------------------------------------------------------------


def _connection(port: int) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(SCRAPER, 0))


def scrape(conn: http.client.HTTPConnection) -> tuple[float, int, str]:
    """One scrape of /metrics on ``conn`` (connecting if it is new): (seconds, status, body)."""
    start = time.perf_counter()
    conn.request("GET", "/metrics")
    response = conn.getresponse()
    body = response.read().decode()
    return time.perf_counter() - start, response.status, body


def exposition(port: int) -> str:
    """The exposition now, on a connection of its own (a 200 or an error)."""
    conn = _connection(port)
    try:
        _, status, body = scrape(conn)
    finally:
        conn.close()
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    return body


@dataclass
class Scrapes:
    """Scrape latencies (seconds, the 200s) and the scrapes that failed, by connection mode."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in MODES})
    failed: Counter[str] = field(default_factory=Counter)


def scraping(port: int, seconds: float, into: Scrapes, going: Callable[[], bool]) -> None:
    """A scrape every ``INTERVAL`` for ``seconds`` at most, while ``going()``; modes alternate."""
    kept = _connection(port)
    try:
        scrape(kept)  # connected: the kept connection's scrapes time no handshake
        start = due = time.monotonic()
        deadline, tick = start + seconds, 0
        while going() and (now := time.monotonic()) < deadline:
            if now < due:
                time.sleep(min(due, deadline) - now)  # pacing to the next tick
                continue
            mode = MODES[tick % len(MODES)]
            conn = kept if mode == "keep-alive" else _connection(port)
            try:
                took, status, _ = scrape(conn)
            except (OSError, http.client.HTTPException):
                took, status = 0.0, 0
                conn.close()  # the kept one reconnects at its next request
            finally:
                if conn is not kept:
                    conn.close()
            if status == 200:
                into.latencies[mode].append(took)
            else:
                into.failed[mode] += 1
            tick += 1
            due = max(due + INTERVAL, time.monotonic() - INTERVAL)  # late: no burst to catch up
    finally:
        kept.close()


def outcomes(body: str) -> dict[str, float]:
    """``basicauth_requests_total`` by outcome, from the Prometheus text format."""
    found = re.findall(r'^basicauth_requests_total\{outcome="(\w+)"\} (\S+)$', body, re.M)
    return {outcome: float(value) for outcome, value in found}


def served(folder: Path, htpasswd: Path) -> tuple[forward.Process, int, int]:
    """``python -m basicauth_wsgi serve``, its defaults: (the process, its port, metrics port)."""
    command = [sys.executable, "-m", "basicauth_wsgi", "serve", "--host", "127.0.0.1",
               "--port", "0", "--metrics-port", "0", "--htpasswd", str(htpasswd)]  # fmt: skip
    ready = r"(?s)serving on http://127\.0\.0\.1:(\d+)\n.*metrics on http://127\.0\.0\.1:(\d+)/"
    process = forward.Process(folder, "serve", command, ready)  # stopped by its own PID
    assert process.match is not None
    return process, int(process.match.group(1)), int(process.match.group(2))


@dataclass
class Sprayed:
    calm: Scrapes = field(default_factory=Scrapes)
    attacked: Scrapes = field(default_factory=Scrapes)
    attackers: Counter[int] = field(default_factory=Counter)  # answers by status (0: none)
    before: dict[str, float] = field(default_factory=dict)  # outcomes before the first spray
    after: dict[str, float] = field(default_factory=dict)  # ... in the final scrape


def sprayed(port: int, metrics_port: int, seconds: float, net: int, run: Sprayed) -> None:
    """Scrapes while bench/attack.py's attacker process sprays from 127.NET.x.y for ``seconds``."""
    spray = attack.Attack(port, seconds, net)
    try:
        scraping(metrics_port, seconds, run.attacked, lambda: spray.proc.poll() is None)
    finally:
        run.attackers.update(spray.result())  # waits for it, bounded; kills it if late


def spraying(rounds: int, seconds: float) -> Sprayed:
    """``rounds`` alternated rounds on one server: ``seconds`` of calm scrapes, then of spray."""
    run = Sprayed()
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as name:
        folder = Path(name)
        htpasswd = folder / "users.htpasswd"
        write_htpasswd(
            htpasswd, {u: bcrypt_scheme.make(p.encode(), 12) for u, p in attack.PASSWORDS.items()}
        )
        process, port, metrics_port = served(folder, htpasswd)
        try:
            alice = attack.header("alice", attack.PASSWORDS["alice"])
            if attack.get(port, alice, "127.0.0.2") != 200:  # the cache warm, one granted
                raise RuntimeError("serve refused alice")
            run.before = outcomes(exposition(metrics_port))
            for n in range(rounds):
                scraping(metrics_port, seconds, run.calm, lambda: True)
                sprayed(port, metrics_port, seconds, NET + n, run)  # new addresses each round
            run.after = outcomes(exposition(metrics_port))
        finally:
            process.stop()
    return run


def scrape_rows(run: Sprayed) -> list[str]:
    rows = []
    for label, one in (("no traffic", run.calm), ("during the spray", run.attacked)):
        for mode in MODES:
            took, failed = one.latencies[mode], one.failed[mode]
            p99 = attack.percentile(took, 0.99) * 1000
            over = sum(t > P99_TARGET_MS / 1000 for t in took)
            verdict = "met" if p99 <= P99_TARGET_MS and not failed else "**missed**"
            rows.append(
                f"| {label} | {mode} | {len(took)} | {failed} "
                f"| {attack.percentile(took, 0.5) * 1000:.2f} ms | {p99:.2f} ms "
                f"| {max(took, default=float('nan')) * 1000:.2f} ms | {over} | {verdict} |"
            )
    return rows


def spray_table(run: Sprayed, rounds: int, seconds: float) -> str:
    got = {"failed": 401, "throttled": 429, "overloaded": 503, "granted": 200}
    return "\n".join(
        [
            f"**Scraping /metrics during the spray** (`python -m basicauth_wsgi serve`, its "
            f"defaults, `--metrics-port 0`, bcrypt(12) users file; {rounds} alternated "
            f"round(s): {seconds:g} s with no traffic, then {seconds:g} s while "
            f"{attack.ATTACK_CONNECTIONS} attacker connections from their own process send "
            f"distinct wrong passwords, a new 127.{NET}+N.x.y source address every "
            f"{attack.GUESSES_PER_ADDRESS} guesses; a scrape every {INTERVAL * 1000:.0f} ms, "
            f"on a new connection and on a kept one in turn; target p99 <= "
            f"{P99_TARGET_MS:g} ms)",
            "",
            f"| traffic | scrape | scrapes | failed | p50 | p99 | max | over {P99_TARGET_MS:g} ms "
            "| target |",
            "|---|---|---:|---:|---:|---:|---:|---:|---|",
            *scrape_rows(run),
            "",
            "| `basicauth_requests_total` | before the spray | final scrape | the attackers got |",
            "|---|---:|---:|---:|",
            *(
                f'| `{{outcome="{o}"}}` | {run.before.get(o, 0):,.0f} '
                f"| {run.after.get(o, 0):,.0f} | {run.attackers[got[o]]:,} ({got[o]}) |"
                for o in OUTCOMES
            ),
            "",
            f"Attacker requests with no answer: {run.attackers[0]:,}.",
        ]
    )


def report(quick: bool, rounds_in: int, rounds_wire: int, seconds: float) -> str:
    """The metrics section of the benchmark report (Markdown)."""
    budget = 0.02 if quick else 0.25
    results = [overhead(label, users, rounds_in, budget) for label, users in CASES]
    spray_seconds = 1.0 if quick else 2 * seconds
    run = spraying(rounds_wire, spray_seconds)
    return "\n\n".join(
        [
            "## Metrics (issue 22, item 5)",
            overhead_table(results, rounds_in, budget),
            spray_table(run, rounds_wire, spray_seconds),
        ]
    )
