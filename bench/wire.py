"""Over the wire: waitress on 127.0.0.1, requests/s and server CPU per request.

Variants run alternately (A B C A B C ...) for several rounds; each is
reported as the median of its rounds and as a ratio to the unprotected
application measured in the same round. The load comes from ``wrk`` when it
is installed, else from a small threaded Python client (which competes with
the server for the same two cores: its absolute figures are lower, its
ratios still side by side).
"""

from __future__ import annotations

import base64
import http.client
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from . import apps

ROOT = Path(__file__).resolve().parent.parent
PATH = "/api/v1/private"
AUTH = "Basic " + base64.b64encode(f"{apps.USER}:{apps.PASSWORD}".encode()).decode()
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def hashing_cpu_seconds(pid: int) -> float:
    """CPU seconds of process ``pid``'s threads that run at a lower priority than it.

    In ``serve`` those are the password-hashing threads (the core lowers
    their priority as they start, and they only ever hash), so this splits
    the process's CPU exactly between hashing and serving.
    """
    tasks = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        tasks[task.name] = (int(fields[16]), int(fields[11]) + int(fields[12]))  # nice, ticks
    main = tasks[str(pid)][0]
    return sum(ticks for nice, ticks in tasks.values() if nice > main) / TICKS


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """Stop a server by its own PID: terminate, then kill if it does not go within 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class Server:
    """A benchmark server in its own process, stopped by its own PID."""

    def __init__(self, variant: str, threads: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.server", variant, str(threads)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline()  # bounded: the child prints at once or dies
            match = re.fullmatch(r"port (\d+)\n", line)
            if match is None:
                raise RuntimeError(f"{variant}: server did not start ({line!r})")
            self.port = int(match.group(1))
            # Warm up (and fill the verification cache) before measuring.
            status = get(self.port, timeout=30)
            if status != 200:
                raise RuntimeError(f"{variant}: warm-up answered {status}")
        except BaseException:
            self.stop()
            raise

    def cpu(self) -> float:
        """CPU seconds (user + system) the server has used so far."""
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        stop_process(self.proc)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def get(port: int, timeout: float = 10) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", PATH, headers={"Authorization": AUTH})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def python_load(
    port: int, connections: int, seconds: float, authorization: str = AUTH
) -> tuple[int, float]:
    """Keep-alive GETs from ``connections`` threads for ``seconds``.

    Returns the number of 200s and the seconds they took.
    """
    start = time.perf_counter()
    deadline = time.monotonic() + seconds
    counts = [0] * connections
    errors: list[str] = []

    def client(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            while time.monotonic() < deadline:
                conn.request("GET", PATH, headers={"Authorization": authorization})
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors.append(str(response.status))
                    return
                counts[slot] += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    if errors:
        raise RuntimeError(f"load got status {errors[0]}")
    return sum(counts), time.perf_counter() - start


def wrk_load(
    port: int, connections: int, seconds: float, authorization: str = AUTH
) -> tuple[int, float]:
    wrk = shutil.which("wrk")
    assert wrk is not None
    result = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
         "-H", f"Authorization: {authorization}", f"http://127.0.0.1:{port}{PATH}"],
        capture_output=True, text=True, timeout=seconds + 60, check=True,
    )  # fmt: skip
    if "Non-2xx" in result.stdout:
        raise RuntimeError(f"wrk saw errors:\n{result.stdout}")
    match = re.search(r"(\d+) requests in ([\d.]+)(m?s)", result.stdout)
    if match is None:
        raise RuntimeError(f"cannot read wrk's output:\n{result.stdout}")
    took = float(match.group(2)) / (1000 if match.group(3) == "ms" else 1)
    return int(match.group(1)), took


@dataclass
class Sample:
    rps: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # server CPU per request
    ratio: list[float] = field(default_factory=list)


def run(
    variants: list[str],
    threads: int | list[int],
    connections: int,
    rounds: int = 5,
    seconds: float = 3.0,
) -> dict[str, Sample]:
    """Measure every variant ``rounds`` times, alternating; the first is the baseline.

    With a list of thread counts, the one variant runs at each of them
    (rows named ``threads=N``), to choose ``serve``'s default.
    """
    load = wrk_load if shutil.which("wrk") else python_load
    if isinstance(threads, list):
        [variant] = variants
        variants = [f"threads={n}" for n in threads]
        starts = {f"threads={n}": (variant, n) for n in threads}
    else:
        starts = {v: (v, threads) for v in variants}
    samples = {v: Sample() for v in variants}
    servers: dict[str, Server] = {}
    try:
        for name, (variant, count) in starts.items():
            servers[name] = Server(variant, count)
        for _ in range(rounds):
            for variant in variants:
                server = servers[variant]
                before = server.cpu()
                done, elapsed = load(server.port, connections, seconds)
                used = server.cpu() - before
                samples[variant].rps.append(done / elapsed)
                samples[variant].cpu_us.append(used / max(done, 1) * 1e6)
            base = samples[variants[0]].rps[-1]
            for variant in variants:
                samples[variant].ratio.append(samples[variant].rps[-1] / base)
    finally:
        for server in servers.values():
            server.stop()
    return samples


class Served(Protocol):
    """A server under measurement: its port, the CPU it used so far, and a stop."""

    port: int

    def cpu(self) -> float: ...

    def stop(self) -> None: ...


def side_by_side(
    servers: dict[str, Served],
    connections: list[int],
    rounds: int,
    seconds: float,
    counter: Callable[[], int],
    counted: str,
) -> list[tuple[dict[str, Sample], float]]:
    """For each connection count: req/s of every server, alternated, ratios to the first.

    ``counter`` reads a count of backend operations (Redis commands, LDAP
    operations) that includes the one read; the second value of each result
    is how many ``counted``'s requests each made.
    """
    load = wrk_load if shutil.which("wrk") else python_load
    names = list(servers)
    results = []
    for count in connections:
        samples = {name: Sample() for name in names}
        operations, requests = 0, 0
        for _ in range(rounds):
            for name in names:
                server = servers[name]
                before, cpu = counter(), server.cpu()
                done, elapsed = load(server.port, count, seconds)
                used = server.cpu() - cpu
                if name == counted:
                    operations += counter() - before - 1  # minus the read itself
                    requests += done
                samples[name].rps.append(done / elapsed)
                samples[name].cpu_us.append(used / max(done, 1) * 1e6)
            base = samples[names[0]].rps[-1]
            for name in names:
                samples[name].ratio.append(samples[name].rps[-1] / base)
        results.append((samples, operations / max(requests, 1)))
    return results


def table(title: str, samples: dict[str, Sample]) -> str:
    baseline = next(iter(samples))
    base_cpu = statistics.median(samples[baseline].cpu_us)
    lines = [
        f"**{title}**",
        "",
        f"| variant | req/s | × {baseline} (median, min-max) "
        f"| server CPU µs/request | CPU over {baseline} |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, s in samples.items():
        cpu = statistics.median(s.cpu_us)
        lines.append(
            f"| {name} | {statistics.median(s.rps):,.0f} | {statistics.median(s.ratio):.3f} "
            f"({min(s.ratio):.3f}-{max(s.ratio):.3f}) | {cpu:.0f} | {cpu - base_cpu:+.0f} |"
        )
    return "\n".join(lines)
