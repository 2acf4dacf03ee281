"""Under attack: password spraying over the real wire against ``serve.py`` (issue 11).

``python serve.py`` with a bcrypt(12) users file and its defaults; attackers
in their own process (so they do not share the measuring client's GIL),
bound to distinct 127.0.0.0/8 addresses, a new one every 20 guesses. It
reports, side by side with a run without attack, the logged-in client's
req/s and latency, the re-login time of a trusted user whose cache entry
expired during the attack, the server's CPU per attacker request, the
passwords checked for 64 concurrent guesses from one address, and what the
mixed-file timing padding costs::

    python -m bench --skip inprocess --skip wire --skip growth   # this part only
    python -m bench.attack spray PORT SECONDS CONNECTIONS NET     # one attacker process
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from basicauth_wsgi.hashes import bcrypt as bcrypt_scheme
from basicauth_wsgi.hashes import hash_password, verify_password
from basicauth_wsgi.htpasswd import write_htpasswd
from basicauth_wsgi.verifiers import HashedUsers

from . import wire

ROOT = Path(__file__).resolve().parent.parent
PATH = "/api/v1/private"
PASSWORDS = {"alice": "alice-pw-12", "carol": "carol-pw-12", "admin": "admin-pw-12"}
#: What the sprayers try: the real names now and then, mostly names that do not exist.
SPRAYED = ["alice", "carol", "admin"] + [f"user{n}" for n in range(997)]
GUESSES_PER_ADDRESS = 20
ATTACK_CONNECTIONS = 24


def header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


# -- the server ------------------------------------------------------------------------


class Served:
    """``python serve.py`` on an ephemeral port, its output in files, stopped by its PID."""

    def __init__(self, folder: Path, htpasswd: Path, *args: str) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="serve-", dir=folder))
        self.out = self.folder / "stdout"
        self.err = self.folder / "stderr"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(ROOT / "serve.py"), "--host", "127.0.0.1", "--port", "0",
                 "--htpasswd", str(htpasswd), "--db", str(self.folder / "api.db"), *args],
                cwd=self.folder, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        try:
            match = self.wait_for(self.out, r"serving on http://127\.0\.0\.1:(\d+)")
            self.port = int(match.group(1))
        except BaseException:
            self.stop()
            raise

    def wait_for(self, path: Path, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, path.read_text(errors="replace"))
            if match:
                return match
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve.py exited: {self.err.read_text()[-2000:]}")
            time.sleep(0.05)
        raise RuntimeError(f"no {pattern!r} from serve.py within {timeout} s")

    def cpu(self) -> tuple[float, float]:
        """CPU seconds (user + system) the server has used so far: (serving, hashing)."""
        hashing = wire.hashing_cpu_seconds(self.proc.pid)
        return wire.cpu_seconds(self.proc.pid) - hashing, hashing

    def log(self) -> str:
        return self.err.read_text(errors="replace")

    def sync_log(self, source: str) -> str:
        """The failure log, once every line written so far is in the file."""
        marker = f"sentinel{source.replace('.', '')}"
        get(self.port, header(marker, "x"), source)
        self.wait_for(self.err, rf"user='{marker}'")
        return self.log()

    def stop(self) -> None:
        wire.stop_process(self.proc)


def get(port: int, authorization: str, source: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        conn.request("GET", PATH, headers={"Authorization": authorization})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


# -- the attackers (their own process) ---------------------------------------------------


def spray(port: int, seconds: float, connections: int, net: int) -> dict[str, object]:
    """``connections`` threads of distinct wrong passwords, a new address every 20 guesses."""
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    counts: Counter[int] = Counter()
    addresses = [0]

    def next_address() -> str:
        with lock:
            addresses[0] += 1
            n = addresses[0]
        return f"127.{net}.{n // 250}.{n % 250 + 1}"

    def attacker(slot: int) -> None:
        seen: Counter[int] = Counter()
        conn: http.client.HTTPConnection | None = None
        guesses = 0
        try:
            while time.monotonic() < deadline:
                if guesses % GUESSES_PER_ADDRESS == 0:
                    if conn is not None:
                        conn.close()
                    address = next_address()
                    conn = http.client.HTTPConnection(
                        "127.0.0.1", port, timeout=30, source_address=(address, 0)
                    )
                assert conn is not None
                name = SPRAYED[(slot * 7919 + guesses) % len(SPRAYED)]
                value = header(name, f"spray-{net}-{slot}-{guesses}")
                try:
                    conn.request("GET", PATH, headers={"Authorization": value, "Accept": "*/*"})
                    response = conn.getresponse()
                    response.read()
                    seen[response.status] += 1
                except (OSError, http.client.HTTPException):
                    seen[0] += 1  # 0: the connection failed
                    conn.close()
                    conn = http.client.HTTPConnection(
                        "127.0.0.1", port, timeout=30, source_address=(address, 0)
                    )
                guesses += 1
        finally:
            if conn is not None:
                conn.close()
            with lock:
                counts.update(seen)

    threads = [threading.Thread(target=attacker, args=(n,)) for n in range(connections)]
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    return {"statuses": {str(k): v for k, v in counts.items()}, "addresses": addresses[0]}


class Attack:
    """The attacker process: started, then waited for; its counts by status."""

    def __init__(self, port: int, seconds: float, net: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.attack", "spray", str(port), str(seconds),
             str(ATTACK_CONNECTIONS), str(net)],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        if self.proc.stdout.readline() != "ready\n":  # bounded: it prints at once or dies
            self.proc.kill()
            raise RuntimeError("attacker process did not start")
        self.seconds = seconds

    def result(self) -> Counter[int]:
        try:
            out, _ = self.proc.communicate(timeout=self.seconds + 90)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate(timeout=10)
            raise
        return Counter({int(k): v for k, v in json.loads(out)["statuses"].items()})


# -- the logged-in client ------------------------------------------------------------------


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    #: The server's CPU seconds in its serving threads and in its hashing threads.
    serving: float = 0.0
    hashing: float = 0.0
    attackers: Counter[int] = field(default_factory=Counter)

    @property
    def refused(self) -> int:
        return self.attackers[503] + self.attackers[429]


def logged_in(port: int, seconds: float, source: str = "127.0.0.2") -> tuple[int, int, list[float]]:
    """Keep-alive GETs for ``seconds``: (200s, other answers, latencies in seconds)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(source, 0))
    latencies: list[float] = []
    errors = 0
    auth = {"Authorization": header("alice", PASSWORDS["alice"])}
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            start = time.perf_counter()
            conn.request("GET", PATH, headers=auth)
            response = conn.getresponse()
            response.read()
            latencies.append(time.perf_counter() - start)
            if response.status != 200:
                errors += 1
    finally:
        conn.close()
    return len(latencies) - errors, errors, latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def measure(server: Served, seconds: float, net: int | None, client: bool = True) -> Run:
    """The logged-in client for ``seconds``, under attack from ``net`` (127.NET.x.y) if given.

    Without ``client``, the attack alone. The server's CPU is read before the
    attacker process starts and after it ended, so every check an attacker
    caused is inside it.
    """
    before = server.cpu()
    attack = None if net is None else Attack(server.port, seconds + 1.0, net)
    ok, errors, took = 0, 0, 1.0
    latencies: list[float] = []
    try:
        if client:
            if attack is not None:
                time.sleep(0.3)  # let the attack reach its steady state
            started = time.perf_counter()
            ok, errors, latencies = logged_in(server.port, seconds)
            took = time.perf_counter() - started
    finally:
        counts = attack.result() if attack is not None else Counter()
    after = server.cpu()
    return Run(
        ok / took,
        percentile(latencies, 0.5) * 1000,
        percentile(latencies, 0.99) * 1000,
        len(latencies),
        errors,
        after[0] - before[0],
        after[1] - before[1],
        counts,
    )


# -- the parts -------------------------------------------------------------------------


#: The servers the spray runs against: ``serve``'s defaults first (the §9 figure).
SPRAY_VARIANTS: list[tuple[str, list[str]]] = [
    ("serve defaults (threads 32)", []),
    ("--threads 8", ["--threads", "8"]),
]


@dataclass
class Sprayed:
    calm: list[Run] = field(default_factory=list)
    attacked: list[Run] = field(default_factory=list)
    alone: list[Run] = field(default_factory=list)  # the attack, no logged-in client
    log: str = ""


def spraying(
    folder: Path, htpasswd: Path, rounds: int, seconds: float, variants: int
) -> tuple[str, dict[str, float]]:
    chosen = SPRAY_VARIANTS[:variants]
    results = {label: Sprayed() for label, _ in chosen}
    servers: dict[str, Served] = {}
    try:
        for label, args in chosen:
            servers[label] = server = Served(folder, htpasswd, *args)
            assert get(server.port, header("alice", PASSWORDS["alice"]), "127.0.0.2") == 200
        for n in range(rounds):
            for index, (label, _) in enumerate(chosen):
                server, result = servers[label], results[label]
                result.calm.append(measure(server, seconds, None))
                result.attacked.append(measure(server, seconds, 20 + 10 * index + n))
                result.alone.append(measure(server, seconds, 120 + 10 * index + n, client=False))
        for label, server in servers.items():
            results[label].log = server.sync_log("127.0.0.9")
    finally:
        for server in servers.values():
            server.stop()
    med = statistics.median
    lines = [
        f"**Password spraying** ({rounds} alternated round(s) of {seconds:g} s per variant; "
        f"bcrypt(12) users file; {ATTACK_CONNECTIONS} attacker connections from their own "
        f"process, distinct wrong passwords, a new source address every "
        f"{GUESSES_PER_ADDRESS} guesses; the logged-in client: one keep-alive connection, "
        f"cache warm)",
        "",
        "| server | logged-in client | req/s | × no attack (median, min-max) | p50 | p99 "
        "| non-200 |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    attack_rows = [
        "| server | attacker requests answered | 401 (checked) | 503 (no slot) "
        "| 429 (throttled) | failed | hashing CPU per check | serving CPU per refused "
        "request, attack alone | the same beside the client | overload lines (start/end) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    figures: dict[str, float] = {}
    for label, result in results.items():
        calm, attacked, alone = result.calm, result.attacked, result.alone
        ratios = [a.rps / c.rps for a, c in zip(attacked, calm, strict=True)]
        attackers: Counter[int] = sum((a.attackers for a in attacked), Counter())
        answered = sum(v for k, v in attackers.items() if k)
        checked = attackers[401]
        hashing = sum(a.hashing for a in attacked) / max(checked, 1)
        refusing = sum(a.serving for a in alone) / max(sum(a.refused for a in alone), 1)
        # Beside the client: the serving threads' CPU under attack less the
        # client's requests at their no-attack cost, over the refusals.
        per_request = med(c.serving / max(c.requests, 1) for c in calm)
        extra = sum(a.serving for a in attacked) - per_request * sum(a.requests for a in attacked)
        beside = max(0.0, extra) / max(sum(a.refused for a in attacked), 1)
        lines += [
            f"| {label} | no attack | {med(r.rps for r in calm):,.0f} | 1.000 | "
            f"{med(r.p50_ms for r in calm):.2f} ms | {med(r.p99_ms for r in calm):.2f} ms | "
            f"{sum(r.errors for r in calm)} |",
            f"| {label} | under attack | {med(r.rps for r in attacked):,.0f} | "
            f"{med(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f}) | "
            f"{med(r.p50_ms for r in attacked):.2f} ms | "
            f"{med(r.p99_ms for r in attacked):.2f} ms | {sum(r.errors for r in attacked)} |",
        ]
        attack_rows.append(
            f"| {label} | {answered:,} | {checked:,} | {attackers[503]:,} "
            f"| {attackers[429]:,} | {attackers[0]:,} | {hashing * 1000:.0f} ms "
            f"| {refusing * 1000:.2f} ms | {beside * 1000:.2f} ms "
            f"| {result.log.count('overloaded:')}/{result.log.count('overload over:')} |"
        )
        if not figures:
            figures = {
                "ratio": med(ratios),
                "p99": med(r.p99_ms for r in attacked),
                "refused_ms": refusing * 1000,
                "refused_beside_ms": beside * 1000,
            }
    lines += [
        "",
        *attack_rows,
        "",
        "Server CPU is read from `/proc/PID/task/*/stat` around each run and split "
        "between the hashing threads (the ones `serve` runs at nice 19) and the rest, "
        "the serving threads. *Attack alone*: the same attack with no logged-in client, "
        "the serving threads' CPU over the 503s and 429s (it includes the serving side "
        "of the 401s and every new connection: an upper bound). *Beside the client*: "
        "the serving threads' CPU under attack less the client's requests at their "
        "no-attack cost, over the refusals; it includes what the attack costs the "
        "client's own requests (more thread switches), so it is the larger figure.",
    ]
    return "\n".join(lines), figures


def relogin(folder: Path, htpasswd: Path, rounds: int) -> tuple[str, dict[str, float]]:
    """A trusted user's next request after their cache entry expired, with and without attack."""
    server = Served(folder, htpasswd, "--cache-ttl", "1")
    auth = header("carol", PASSWORDS["carol"])
    calm: list[float] = []
    attacked: list[float] = []
    try:
        assert get(server.port, auth, "127.0.0.3") == 200  # carol is now trusted there
        for n in range(rounds):
            for under_attack in (False, True):
                attack = Attack(server.port, 3.0, 40 + n) if under_attack else None
                try:
                    time.sleep(1.5)  # carol's entry (ttl 1 s) expires meanwhile
                    start = time.perf_counter()
                    status = get(server.port, auth, "127.0.0.3")
                    took = time.perf_counter() - start
                finally:
                    if attack is not None:
                        attack.result()
                if status != 200:
                    raise RuntimeError(f"trusted re-login answered {status}")
                (attacked if under_attack else calm).append(took)
    finally:
        server.stop()
    med = statistics.median
    text = (
        f"**Trusted re-login** (`--cache-ttl 1`; user carol logged in from 127.0.0.3 before; "
        f"her next request once the entry expired, {rounds} round(s)): "
        f"{med(calm) * 1000:.0f} ms without attack (one bcrypt(12) check), "
        f"{med(attacked) * 1000:.0f} ms (max {max(attacked) * 1000:.0f} ms) during the spray."
    )
    return text, {"relogin_ms": med(attacked) * 1000}


def concurrency(folder: Path, cost: int) -> tuple[str, dict[str, float]]:
    """64 concurrent distinct wrong passwords from one address, per_client=20."""
    htpasswd = folder / f"users-{cost}.htpasswd"
    write_htpasswd(htpasswd, {"alice": bcrypt_scheme.make(b"alice-pw", cost)})
    lines = [
        f"**64 concurrent wrong passwords from one address** (`--throttle-per-client 20`, "
        f"bcrypt({cost}); all 64 requests sent but their last byte, then released at once)",
        "",
        "| threads | max_concurrent_checks | passwords checked | 401 | 429 | 503 |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    worst = 0.0
    for threads in (8, 32):
        for slots in ("off", "default"):
            extra = ["--max-concurrent-checks", "off"] if slots == "off" else []
            server = Served(
                folder, htpasswd, "--threads", str(threads), "--throttle-per-client", "20",
                "--no-access-log", *extra,
            )  # fmt: skip
            try:
                statuses = burst(server.port, "127.0.0.5", 64)
                log = server.sync_log("127.0.0.6")
            finally:
                server.stop()
            checked = len(
                re.findall(r"user='alice' client=127\.0\.0\.5 reason=wrong_password", log)
            )
            if slots == "off":
                worst = max(worst, abs(checked - 20))
            lines.append(
                f"| {threads} | {slots} | {checked} | {statuses[401]} | {statuses[429]} "
                f"| {statuses[503]} |"
            )
    return "\n".join(lines), {"checks_off_by": worst}


def burst(port: int, source: str, count: int) -> Counter[int]:
    barrier = threading.Barrier(count, timeout=60)
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def one(n: int) -> None:
        value = header("alice", f"burst-{n}")
        data = (f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                f"Authorization: {value}\r\n\r\n").encode()  # fmt: skip
        with socket.create_connection(("127.0.0.1", port), 60, (source, 0)) as sock:
            sock.sendall(data[:-1])
            barrier.wait()
            sock.sendall(data[-1:])
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        with lock:
            statuses[int(answer.split(b" ", 2)[1])] += 1

    threads = [threading.Thread(target=one, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return statuses


def padding(repeat: int) -> str:
    """Failures per CPU-second, mixed apr1+bcrypt(12) file vs pure bcrypt(12), in process."""
    bcrypt12 = [bcrypt_scheme.make(f"pw{n}".encode(), 12) for n in range(2)]
    mixed = HashedUsers({**{f"a{n}": hash_password(f"pw{n}", "apr1") for n in range(9)},
                         "b0": bcrypt12[0]})  # fmt: skip
    pure = HashedUsers({"b0": bcrypt12[0], "b1": bcrypt12[1]})

    def cost(verify: object, username: str) -> float:
        times = []
        for n in range(repeat):
            start = time.process_time()
            assert verify(username, f"wrong{n}") is None  # type: ignore[operator]
            times.append(time.process_time() - start)
        return statistics.median(times)

    apr1 = hash_password("pw0", "apr1")
    rows = [
        ("mixed: 9 apr1 + 1 bcrypt(12)", "unknown user", cost(mixed.verify, "nobody")),
        ("mixed: 9 apr1 + 1 bcrypt(12)", "apr1 user, wrong password", cost(mixed.verify, "a0")),
        ("mixed: 9 apr1 + 1 bcrypt(12)", "bcrypt user, wrong password", cost(mixed.verify, "b0")),
        ("pure bcrypt(12)", "unknown user", cost(pure.verify, "nobody")),
        ("pure bcrypt(12)", "wrong password", cost(pure.verify, "b0")),
        (
            "unpadded (before): one apr1 check",
            "apr1 user, wrong password",
            cost(lambda u, p: None if not verify_password(p, apr1) else u, "a0"),
        ),
    ]
    lines = [
        f"**Mixed-file timing padding** (in process, `HashedUsers.verify` of wrong passwords, "
        f"median of {repeat})",
        "",
        "| store | failure | CPU per failure | failures per CPU-second |",
        "|---|---|---:|---:|",
    ]
    for store, failure, seconds in rows:
        rate = 1 / seconds if seconds > 0 else float("inf")
        lines.append(f"| {store} | {failure} | {seconds * 1000:.1f} ms | {rate:,.1f} |")
    return "\n".join(lines)


def run(quick: bool, rounds: int, seconds: float) -> tuple[str, dict[str, float]]:
    """The whole part: Markdown, and the figures the §9 targets are about."""
    with tempfile.TemporaryDirectory(prefix="bench-attack-") as name:
        folder = Path(name)
        htpasswd = folder / "users.htpasswd"
        write_htpasswd(
            htpasswd, {u: bcrypt_scheme.make(p.encode(), 12) for u, p in PASSWORDS.items()}
        )
        figures: dict[str, float] = {}
        parts = []
        text, found = spraying(folder, htpasswd, rounds, seconds, 1 if quick else 2)
        parts.append(text)
        figures.update(found)
        text, found = relogin(folder, htpasswd, 1 if quick else 3)
        parts.append(text)
        figures.update(found)
        text, found = concurrency(folder, 4 if quick else 12)
        parts.append(text)
        figures.update(found)
        parts.append(padding(1 if quick else 5))
    return "\n\n".join(parts), figures


if __name__ == "__main__":
    if sys.argv[1:2] != ["spray"]:
        raise SystemExit("usage: python -m bench.attack spray PORT SECONDS CONNECTIONS NET")
    port, secs, conns, net = sys.argv[2:6]
    print(json.dumps(spray(int(port), float(secs), int(conns), int(net))), flush=True)
