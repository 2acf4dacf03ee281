"""Forward-auth through a real nginx: the shipped recipe against its peers, and under the spray.

Three nginx processes (one worker each), each in front of the same static
upstream (an nginx ``return 200`` server of its own), loaded alternately
with keep-alive connections (``wrk`` if installed, else bench/wire.py's
Python client), medians of the rounds as ratios to the second variant:

- ``serve --forward-auth`` behind ``docs/forward-auth-nginx.conf``, a
  bcrypt(12) users file, the cache warm;
- the same recipe whose ``auth_request`` asks a do-nothing 200 endpoint
  on the same waitress (``serve``'s own settings: threads, timeouts, switch
  interval);
- nginx's own ``auth_basic`` with the same bcrypt(12) file (no cache).

Then SPEC §9's spray (bench/attack.py's attacker process, distinct
127.0.0.0/8 source addresses) through the recipe's nginx, the logged-in
client beside it::

    python -m bench --skip inprocess --skip wire --skip growth \
        --skip attack --skip redis --skip asgi                    # this part only
    python -m bench.forward nothing                               # the do-nothing endpoint
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from basicauth_wsgi.hashes import bcrypt as bcrypt_scheme
from basicauth_wsgi.htpasswd import write_htpasswd

from . import attack, wire

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "docs" / "forward-auth-nginx.conf"
NGINX = "/usr/sbin/nginx"
CONNECTIONS = 16
AUTH = attack.header("alice", attack.PASSWORDS["alice"])
VARIANTS = ("forward-auth bcrypt(12)", "auth_request -> do-nothing 200", "nginx auth_basic")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _child_env() -> dict[str, str]:
    """This checkout first on the path: ``python -m bench.forward`` runs from a temporary folder."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}


class Process:
    """A child process whose output goes to a file; ready once ``ready`` appears in it."""

    def __init__(self, folder: Path, name: str, command: list[str], ready: str | None) -> None:
        self.output = folder / f"{name}.out"
        with open(self.output, "wb") as out:
            # In the benchmark's own session, as bench/attack.py's serve.py:
            # with autogroup scheduling (Linux) a session of its own would
            # make the service's nice-19 hashing spend the service's share.
            self.proc = subprocess.Popen(
                command, cwd=folder, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, env=_child_env(),
            )  # fmt: skip
        try:
            self.match = None if ready is None else self._wait(ready)
        except BaseException:
            self.stop()
            raise

    def _wait(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.output.read_text(errors="replace"))
            if match:
                return match
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.output.name}: {self.output.read_text()[-2000:]}")
            time.sleep(0.05)  # polling a file under a deadline
        raise RuntimeError(f"no {pattern!r} in {self.output.name} within {timeout} s")

    def cpu(self) -> tuple[float, float]:
        """CPU seconds so far: (serving, hashing), as bench/attack.py splits them."""
        hashing = wire.hashing_cpu_seconds(self.proc.pid)
        return wire.cpu_seconds(self.proc.pid) - hashing, hashing

    def stop(self) -> None:
        wire.stop_process(self.proc)


def service(folder: Path, htpasswd: Path) -> Process:
    """``serve --forward-auth`` with serve's defaults (32 threads), no access log."""
    command = [sys.executable, str(ROOT / "serve.py"), "--forward-auth", "--host", "127.0.0.1",
               "--port", "0", "--htpasswd", str(htpasswd), "--trusted-proxies", "127.0.0.1",
               "--no-access-log"]  # fmt: skip
    return Process(folder, "service", command, r"serving on http://127\.0\.0\.1:(\d+)")


def nothing_service(folder: Path) -> Process:
    """The do-nothing 200 endpoint, served by ``serve``'s own waitress settings."""
    command = [sys.executable, "-m", "bench.forward", "nothing"]
    return Process(folder, "nothing", command, r"serving on http://127\.0\.0\.1:(\d+)")


def nginx(folder: Path, name: str, server: str, port: int) -> Process:
    """nginx (one worker) with the ``server`` blocks, ready once ``port`` accepts."""
    need = shutil.which("nginx") or NGINX
    if not os.path.exists(need):
        raise RuntimeError("nginx is not installed (apt-get install nginx)")
    home = folder / name
    (home / "temp").mkdir(parents=True)
    home.chmod(0o755)
    temps = " ".join(f"{k}_temp_path {home / 'temp'};" for k in ("client_body", "proxy",
                     "fastcgi", "uwsgi", "scgi"))  # fmt: skip
    user = "user www-data www-data;" if os.geteuid() == 0 else ""
    (home / "nginx.conf").write_text(
        f"{user}\nworker_processes 1;\npid {home}/nginx.pid;\nerror_log {home}/error.log warn;\n"
        "events { worker_connections 4096; }\n"
        f"http {{\n access_log off;\n {temps}\n {server}\n}}\n"
    )
    command = [need, "-p", str(home), "-c", str(home / "nginx.conf"), "-g", "daemon off;"]
    process = Process(home, "nginx", command, None)
    try:
        _listening(process, port)
    except BaseException:
        process.stop()
        raise
    return process


def _listening(process: Process, port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        if process.proc.poll() is not None:
            raise RuntimeError(f"nginx exited: {process.output.read_text()[-2000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on {port}")


def static(port: int) -> str:
    return f'server {{ listen 127.0.0.1:{port}; location / {{ return 200 "ok\\n"; }} }}'


def recipe(proxy: int, auth: int, upstream: int) -> str:
    """docs/forward-auth-nginx.conf as written, with these ports."""
    text = RECIPE.read_text()
    for written, port in (("8000", proxy), ("9091", auth), ("8080", upstream)):
        text = text.replace(f"127.0.0.1:{written}", f"127.0.0.1:{port}")
    return text


def auth_basic(proxy: int, htpasswd: Path, upstream: int) -> str:
    return (
        f'server {{ listen 127.0.0.1:{proxy}; location / {{ auth_basic "bench"; '
        f"auth_basic_user_file {htpasswd}; proxy_pass http://127.0.0.1:{upstream}; }} }}"
    )


@dataclass
class Site:
    """One nginx in front of the static upstream, and what it asks (if anything)."""

    nginx: Process
    port: int
    backend: Process | None = None

    def cpu(self) -> tuple[float, float]:
        assert self.backend is not None
        return self.backend.cpu()


@dataclass
class Samples:
    rps: list[float] = field(default_factory=list)
    ratio: list[float] = field(default_factory=list)


def build(folder: Path, htpasswd: Path, stop: contextlib.ExitStack) -> dict[str, Site]:
    sites: dict[str, Site] = {}
    ours = service(folder, htpasswd)
    stop.callback(ours.stop)
    nothing = nothing_service(folder)
    stop.callback(nothing.stop)
    for name, backend in ((VARIANTS[0], ours), (VARIANTS[1], nothing), (VARIANTS[2], None)):
        proxy, upstream = free_port(), free_port()
        if backend is None:
            body = auth_basic(proxy, htpasswd, upstream)
        else:
            assert backend.match is not None
            body = recipe(proxy, int(backend.match.group(1)), upstream)
        process = nginx(folder, f"nginx-{len(sites)}", body + "\n" + static(upstream), proxy)
        stop.callback(process.stop)
        sites[name] = Site(process, proxy, backend)
        if attack.get(proxy, AUTH, "127.0.0.2") != 200:  # warm: the cache, the trust
            raise RuntimeError(f"{name}: warm-up was refused")
    return sites


def throughput(sites: dict[str, Site], rounds: int, seconds: float) -> dict[str, Samples]:
    load: Callable[..., tuple[int, float]] = (
        wire.wrk_load if shutil.which("wrk") else wire.python_load
    )
    samples = {name: Samples() for name in sites}
    for _ in range(rounds):
        for name, site in sites.items():
            # auth_basic checks bcrypt(12) per request: a few a second at most.
            span = seconds if name != VARIANTS[2] else max(seconds, 2.0)
            done, took = load(site.port, CONNECTIONS, span, authorization=AUTH)
            samples[name].rps.append(done / took)
        base = samples[VARIANTS[1]].rps[-1]
        for name in sites:
            samples[name].ratio.append(samples[name].rps[-1] / base)
    return samples


def spray(site: Site, rounds: int, seconds: float) -> tuple[list[attack.Run], list[attack.Run]]:
    calm, attacked = [], []
    for n in range(rounds):
        calm.append(attack.measure(site, seconds, None))  # type: ignore[arg-type]
        attacked.append(attack.measure(site, seconds, 60 + n))  # type: ignore[arg-type]
    return calm, attacked


def table(samples: dict[str, Samples], rounds: int, seconds: float) -> str:
    med = statistics.median
    lines = [
        f"**Through nginx `auth_request`** ({rounds} alternated round(s) of {seconds:g} s, "
        f"{CONNECTIONS} keep-alive connections; the upstream is nginx's own `return 200`; "
        "bcrypt(12) users file)",
        "",
        f"| variant | req/s | × {VARIANTS[1]} (median, min-max) |",
        "|---|---:|---:|",
    ]
    for name, s in samples.items():
        lines.append(
            f"| {name} | {med(s.rps):,.1f} | {med(s.ratio):.3f} "
            f"({min(s.ratio):.3f}-{max(s.ratio):.3f}) |"
        )
    ours, basic = samples[VARIANTS[0]], samples[VARIANTS[2]]
    over = [o / max(b, 1e-9) for o, b in zip(ours.rps, basic.rps, strict=True)]
    lines += ["", f"Forward-auth over nginx's own `auth_basic`, same rounds: {med(over):,.0f}x."]
    return "\n".join(lines)


def spray_table(calm: list[attack.Run], attacked: list[attack.Run], seconds: float) -> str:
    med = statistics.median
    ratios = [a.rps / c.rps for a, c in zip(attacked, calm, strict=True)]
    counts: Counter[int] = sum((a.attackers for a in attacked), Counter())
    return "\n".join(
        [
            f"**Spraying through nginx** ({len(calm)} round(s) of {seconds:g} s; "
            f"{attack.ATTACK_CONNECTIONS} attacker connections to nginx, a new source address "
            f"every {attack.GUESSES_PER_ADDRESS} guesses, counted per client from nginx's "
            "`X-Forwarded-For`; the logged-in client: one keep-alive connection, cache warm)",
            "",
            "| logged-in client | req/s | × no attack (median, min-max) | p50 | p99 | non-200 |",
            "|---|---:|---:|---:|---:|---:|",
            f"| no attack | {med(r.rps for r in calm):,.0f} | 1.000 | "
            f"{med(r.p50_ms for r in calm):.2f} ms | {med(r.p99_ms for r in calm):.2f} ms | "
            f"{sum(r.errors for r in calm)} |",
            f"| under attack | {med(r.rps for r in attacked):,.0f} | {med(ratios):.3f} "
            f"({min(ratios):.3f}-{max(ratios):.3f}) | {med(r.p50_ms for r in attacked):.2f} ms "
            f"| {med(r.p99_ms for r in attacked):.2f} ms | {sum(r.errors for r in attacked)} |",
            "",
            f"Attacker answers by status: 401: {counts[401]:,}, 503: {counts[503]:,}, "
            f"429: {counts[429]:,}, 500: {counts[500]:,}, failed: {counts[0]:,}.",
        ]
    )


def report(quick: bool, rounds: int, seconds: float) -> str:
    """The forward-auth section of the benchmark report (Markdown)."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-forward-") as name,
        contextlib.ExitStack() as stop,
    ):
        folder = Path(name)
        folder.chmod(0o755)  # nginx's workers (www-data under root) read the users file
        htpasswd = folder / "users.htpasswd"
        write_htpasswd(
            htpasswd, {u: bcrypt_scheme.make(p.encode(), 12) for u, p in attack.PASSWORDS.items()}
        )
        htpasswd.chmod(0o644)
        sites = build(folder, htpasswd, stop)
        samples = throughput(sites, rounds, seconds)
        spray_seconds = 1.0 if quick else seconds
        calm, attacked = spray(sites[VARIANTS[0]], 1 if quick else rounds, spray_seconds)
    return "\n\n".join(
        [
            f"## Forward-auth through nginx ({rounds} round(s) of {seconds:g} s, alternating)",
            table(samples, rounds, seconds),
            spray_table(calm, attacked, spray_seconds),
        ]
    )


def _nothing() -> int:
    """``python -m bench.forward nothing``: a do-nothing 200 on ``serve``'s waitress settings."""
    import io
    import logging

    from basicauth_wsgi.cli.serve import ServeConfig, serve

    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "0")])
        return [b""]

    logging.disable(logging.CRITICAL)
    config = ServeConfig(port=0, access_log=False, forward_auth=True)
    out = io.TextIOWrapper(sys.stdout.buffer, line_buffering=True)
    serve(app, config, out)
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["nothing"]:
        raise SystemExit("usage: python -m bench.forward nothing")
    raise SystemExit(_nothing())
