"""Round 3 under attack: a botnet spraying passwords, one guess per address, and a stale client.

``python serve.py`` with a bcrypt(12) users file of 500 users (one of them,
``victim``, has the first sprayed password), in process and with
``--redis`` (its own ``redis-server``). The botnet, in its own process,
sends 10,000 guesses, each from a new 127.N.x.y address and connection:
5 passwords, each against every user (4 rounds). It reports, per password,
how many were checked (401, or 200 for the one right guess) against
``per_password``, the logged-in client's req/s beside a run without attack,
the victim logging in from the address it used before, and a client that
repeats one stale password 1,000 times::

    python -m bench --skip inprocess --skip wire --skip growth --skip attack --skip redis \\
        --skip asgi                                            # this part only
    python -m bench.botnet spray PORT NET THREADS              # one botnet process
"""

from __future__ import annotations

import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from basicauth_wsgi.hashes import bcrypt as bcrypt_scheme
from basicauth_wsgi.htpasswd import write_htpasswd

from . import attack
from .attack import PATH, Served, get, header, logged_in

USERS = [f"user{n:03d}" for n in range(499)] + ["victim"]
SPRAYED = ["Summer2026!", "Winter2026!", "Password1", "Welcome123", "Qwerty2026"]
RIGHT = {"victim": SPRAYED[0]}  # one sprayed password is right for one user
ADDRESSES = 10_000
PER_PASSWORD = 10  # serve's default
#: Guesses in flight at once (each on a connection of its own, then closed).
CONCURRENCY = (4, 16)


def guesses() -> list[tuple[str, str]]:
    """The botnet's 10,000 (user, password) guesses: each password against every user, 4 times."""
    return [(USERS[(i // len(SPRAYED)) % len(USERS)], SPRAYED[i % len(SPRAYED)])
            for i in range(ADDRESSES)]  # fmt: skip


def spray(port: int, net: int, threads: int) -> dict[str, object]:
    """Every guess from its own address (127.NET.x.y) and its own connection."""
    todo = list(enumerate(guesses()))
    lock = threading.Lock()
    seen: dict[str, Counter[int]] = {password: Counter() for password in SPRAYED}

    def worker() -> None:
        while True:
            with lock:
                if not todo:
                    return
                n, (user, password) = todo.pop()
            source = f"127.{net}.{n // 250}.{n % 250 + 1}"
            try:
                status = get(port, header(user, password), source)
            except (OSError, http.client.HTTPException):
                status = 0
            with lock:
                seen[password][status] += 1

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(600)
    return {
        "seconds": time.perf_counter() - started,
        "statuses": {p: {str(k): v for k, v in c.items()} for p, c in seen.items()},
    }


class Botnet:
    """The botnet process: started, then waited for."""

    def __init__(self, port: int, net: int, threads: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.botnet", "spray", str(port), str(net), str(threads)],
            cwd=attack.ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        if self.proc.stdout.readline() != "ready\n":  # bounded: it prints at once or dies
            self.proc.kill()
            raise RuntimeError("botnet process did not start")

    def done(self) -> bool:
        return self.proc.poll() is not None

    def result(self) -> dict[str, object]:
        try:
            out, _ = self.proc.communicate(timeout=900)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate(timeout=10)
            raise
        found: dict[str, object] = json.loads(out)
        return found


def under_attack(
    server: Served, seconds: float, net: int, threads: int
) -> tuple[dict[str, object], float]:
    """The botnet's result and the logged-in client's req/s while it ran (at most ``seconds``)."""
    botnet = Botnet(server.port, net, threads)
    ok, took, runs = 0, 0.0, 0
    try:
        time.sleep(0.3)  # let the botnet reach its steady state
        deadline = time.monotonic() + seconds
        while not botnet.done() and time.monotonic() < deadline:
            started = time.perf_counter()
            done, _, _ = logged_in(server.port, 0.5)
            took += time.perf_counter() - started
            ok, runs = ok + done, runs + 1
    finally:
        result = botnet.result()
    return result, ok / took if took else float("nan")


def stale(server: Served, times: int) -> tuple[int, int, int]:
    """One keep-alive client repeating a stale password: its 401s, then the owner's two logins."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30,
                                      source_address=("127.0.0.7", 0))  # fmt: skip
    refused = 0
    try:
        for _ in range(times):
            conn.request("GET", PATH, headers={"Authorization": header("carol", "old-pw")})
            response = conn.getresponse()
            response.read()
            refused += response.status == 401
    finally:
        conn.close()
    right = header("carol", attack.PASSWORDS["carol"])
    return refused, get(server.port, right, "127.0.0.7"), get(server.port, right, "127.0.0.8")


def stale_in_process(times: int) -> int:
    """The same in process: the failures the throttle counted for that address."""
    from basicauth_wsgi import BasicAuth, Throttle
    from basicauth_wsgi.throttle import MemoryStore, client_key

    from . import apps
    from .inprocess import _environ

    throttle = Throttle()
    app = BasicAuth(apps.bare_app, apps.USERS, throttle=throttle)
    environ = _environ("/", header(apps.USER, "stale-password"))

    def start_response(status: str, headers: object, exc_info: object = None) -> None:
        assert status.startswith("401")

    for _ in range(times):
        app(dict(environ, REMOTE_ADDR="10.0.0.7"), start_response)
    store = throttle.store
    assert isinstance(store, MemoryStore)
    bucket = int(throttle.clock() // (throttle.window / 10))
    return sum(store.counts(client_key("10.0.0.7"), bucket, 11))


@dataclass
class Sprayed:
    """One store's run: per password the answers the botnet got; the logged-in client."""

    label: str
    threads: int
    answers: dict[str, Counter[int]]
    calm: float  # the logged-in client's req/s without attack
    attacked: float  # ... while the botnet ran
    seconds: float  # how long the botnet took
    victim: int  # the victim's status from its own address, after

    def checked(self, password: str) -> int:
        """Passwords checked and found wrong: the 401s (each guess is a new header)."""
        return self.answers[password][401]


def one_store(folder: Path, htpasswd: Path, label: str, args: list[str], seconds: float,
              net: int, threads: int) -> Sprayed:  # fmt: skip
    server = Served(folder, htpasswd, "--no-access-log", *args)
    try:
        alice = header("alice", attack.PASSWORDS["alice"])
        victim = header("victim", RIGHT["victim"])
        assert get(server.port, alice, "127.0.0.2") == 200
        assert get(server.port, victim, "127.0.0.4") == 200  # the victim's own address
        calm, _, _ = logged_in(server.port, seconds)
        result, attacked = under_attack(server, seconds * 20, net, threads)
        after = get(server.port, victim, "127.0.0.4")  # from where it logged in before
    finally:
        server.stop()
    statuses: dict[str, dict[str, int]] = result["statuses"]  # type: ignore[assignment]
    answers = {p: Counter({int(k): v for k, v in statuses[p].items()}) for p in SPRAYED}
    took = float(result["seconds"])  # type: ignore[arg-type]
    return Sprayed(label, threads, answers, calm / seconds, attacked, took, after)


def rows(run: Sprayed) -> list[str]:
    found = []
    for password in SPRAYED:
        seen = run.answers[password]
        right = " (right for victim)" if password == RIGHT["victim"] else ""
        found.append(
            f"| {run.label}, {run.threads} at once | `{password}`{right} | {sum(seen.values()):,} "
            f"| {run.checked(password)} | {seen[200]} | {seen[429]:,} | {seen[503]:,} "
            f"| {seen[0] + seen[500]} |"
        )
    return found


def run(quick: bool, seconds: float) -> tuple[str, dict[str, float]]:
    """The whole part: Markdown, and the figures the §9 round-3 rows are about."""
    from .redis import RedisServer

    with tempfile.TemporaryDirectory(prefix="bench-botnet-") as name:
        folder = Path(name)
        htpasswd = folder / "users.htpasswd"
        cost = 4 if quick else 12
        nobody = bcrypt_scheme.make(b"not-on-any-list-7fq", cost)  # the 499 others share it
        users = {user: nobody for user in USERS}
        users["victim"] = bcrypt_scheme.make(RIGHT["victim"].encode(), cost)
        for user, password in attack.PASSWORDS.items():
            users[user] = bcrypt_scheme.make(password.encode(), cost)
        write_htpasswd(htpasswd, users)
        redis = RedisServer()
        runs = []
        try:
            for n, threads in enumerate(CONCURRENCY[-1:] if quick else CONCURRENCY):
                # A fresh server (and Redis prefix) each: the counts of a window.
                shared = ["--redis", f"{redis.url}?prefix=run{n}:"]
                runs.append(one_store(folder, htpasswd, "in process", [], seconds, 60 + n, threads))
                runs.append(
                    one_store(folder, htpasswd, "RedisStore", shared, seconds, 70 + n, threads)
                )
        finally:
            redis.stop()
        served = Served(folder, htpasswd, "--no-access-log")
        try:
            refused, here, there = stale(served, 1000)
        finally:
            served.stop()
        counted = stale_in_process(1000)
    lines = [
        f"**A botnet spraying passwords** (`serve` defaults, `per_password` {PER_PASSWORD}; "
        f"bcrypt({cost}) users file of {len(USERS)} users; {ADDRESSES:,} guesses from "
        f"{ADDRESSES:,} distinct 127.N.x.y addresses, one connection each; "
        f"{len(SPRAYED)} passwords, each against every user; the botnet in its own process. "
        "*checked*: wrong guesses whose password was checked (401); *let in*: 200s, the "
        "victim's right password answered from the verification cache)",
        "",
        "| store, guesses in flight | password | guesses | checked | let in | 429 | 503 "
        "| failed/500 |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
        *(row for one in runs for row in rows(one)),
        "",
        "| store, guesses in flight | logged-in client, req/s, no attack | under attack | × "
        "| botnet took | victim from its own address, after |",
        "|---|---:|---:|---:|---:|---:|",
        *(
            f"| {one.label}, {one.threads} | {one.calm:,.0f} | {one.attacked:,.0f} "
            f"| {one.attacked / one.calm:.2f} | {one.seconds:.1f} s | {one.victim} |"
            for one in runs
        ),
        "",
        f"**A stale client** (carol's phone repeating an old password 1,000 times on one "
        f"keep-alive connection from 127.0.0.7): {refused} answered 401; then carol logs in "
        f"from that address: {here}, and from another: {there} (before round 3: 429 from the "
        f"21st). In process, the throttle counted {counted} failure(s) for that address.",
    ]
    checks = [one.checked(p) for one in runs for p in SPRAYED]  # each is wrong for most
    ratios = [one.attacked / one.calm for one in runs]
    figures = {
        "max_checks_per_wrong_password": float(max(checks)),
        "attacker_let_in": float(sum(one.answers[RIGHT["victim"]][200] for one in runs)),
        "stale_failures": float(counted),
        "client_ratio_min": min(ratios),
        "client_ratio_median": statistics.median(ratios),
    }
    return "\n".join(lines), figures


if __name__ == "__main__":
    if sys.argv[1:2] != ["spray"]:
        raise SystemExit("usage: python -m bench.botnet spray PORT NET THREADS")
    port, net, threads = sys.argv[2:5]
    print(json.dumps(spray(int(port), int(net), int(threads))), flush=True)
