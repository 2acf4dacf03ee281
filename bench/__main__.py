"""The benchmark: ``python -m bench`` (``--quick`` for a smoke run).

Peers come from the ``bench`` extra: ``python -m pip install -e '.[bench]'``.
Prints Markdown tables; ``--out FILE`` also writes them to FILE.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import subprocess
import sys
import time

from . import asgi, attack, botnet, forward, growth, inprocess, wire
from . import ldap as ldap_part
from . import metrics as metrics_part
from . import redis as redis_part


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(
                line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    version = "import importlib.metadata as m; print(m.version('waitress'))"
    waitress = subprocess.run(
        [sys.executable, "-c", version], capture_output=True, text=True, timeout=30, check=False
    ).stdout.strip()
    load = "wrk" if shutil.which("wrk") else "the bundled Python load generator"
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"waitress {waitress}, {platform.system()} {platform.release()}; load from {load}"
    )


#: The report's parts, in order (``--skip`` and ``--only`` name them).
PARTS = (
    "inprocess",
    "wire",
    "growth",
    "attack",
    "botnet",
    "redis",
    "asgi",
    "ldap",
    "forward",
    "metrics",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny budget: checks that it runs")
    parser.add_argument(
        "--rounds", type=int, help="rounds per measurement (default 7 in process, 5 on the wire)"
    )
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="seconds per wire run (default 3)"
    )
    parser.add_argument("--skip", action="append", default=[], choices=PARTS)
    parser.add_argument(
        "--only", action="append", default=[], choices=PARTS, help="run these parts only"
    )
    parser.add_argument("--out", help="also write the report to this file")
    args = parser.parse_args(argv)
    if args.only:
        args.skip += [part for part in PARTS if part not in args.only]
    logging.disable(logging.CRITICAL)  # failure logs would be timed too

    quick = args.quick
    rounds_in = args.rounds or (2 if quick else 7)
    rounds_wire = args.rounds or (1 if quick else 5)
    seconds = 0.3 if quick else args.seconds
    command = "python -m bench" + (" --quick" if quick else "")
    parts = [
        f"# Benchmark report\n\nMachine: {machine()}.\n\n"
        f"Command: `{command}`, {time.strftime('%Y-%m-%d')}."
    ]

    def emit(text: str) -> None:
        parts.append(text)
        print(text, flush=True)

    print(parts[0], flush=True)
    if "inprocess" not in args.skip:
        results = inprocess.run(rounds=rounds_in, budget=0.02 if quick else 0.25)
        emit(f"## In process ({rounds_in} rounds)\n\n" + inprocess.table(results))
    if "wire" not in args.skip:
        ours = ["unprotected", "BasicAuth plaintext", "BasicAuth bcrypt(12)"]
        peers = [
            "tutorial stack",
            "Flask-RESTful + BasicAuth",
            "BasicAuth plaintext",
            "Flask-HTTPAuth bcrypt(12)",
        ]
        text = [f"## Over waitress ({rounds_wire} rounds of {seconds:g} s, alternating)"]
        for threads, connections in ((8, 16), (8, 1)):
            for title, group in (
                ("ours", ours),
                ("peers", peers if connections == 16 else peers[:3]),
            ):
                samples = wire.run(group, threads, connections, rounds=rounds_wire, seconds=seconds)
                heading = f"{title}: threads={threads}, {connections} connection(s)"
                text.append(wire.table(heading, samples))
        sweep = [8, 32] if quick else [8, 16, 32]
        samples = wire.run(["BasicAuth plaintext"], sweep, 16, rounds=rounds_wire, seconds=seconds)
        text.append(
            wire.table("serve's thread count: BasicAuth plaintext, 16 connections", samples)
        )
        emit("\n\n".join(text))
    if "growth" not in args.skip:
        sizes = [1_000, 10_000] if quick else [1_000, 10_000, 100_000]
        attackers = [10_000] if quick else [10_000, 100_000, 1_000_000]
        fills = [0, 1_000] if quick else [0, 1_000, 10_000]
        lines = [
            "## Growth",
            "",
            "| htpasswd users (bcrypt) | load, median (min-max) | memory |",
            "|---:|---:|---:|",
        ]
        for size, median, low, high, mb in growth.htpasswd_load(sizes, repeat=1 if quick else 3):
            spread = f"{low * 1000:.0f}-{high * 1000:.0f}"
            lines.append(f"| {size:,} | {median * 1000:.0f} ms ({spread}) | {mb:.1f} MB |")
        lines += [
            "",
            "| distinct failing addresses | entries kept (max 100,000) | memory |",
            "|---:|---:|---:|",
        ]
        for total, kept, mb in growth.throttle_memory(attackers):
            lines.append(f"| {total:,} | {kept:,} | {mb:.1f} MB |")
        lines += ["", "| entries in the verification cache | µs per hit |", "|---:|---:|"]
        for fill, us in growth.cache_fill(fills, number=2_000 if quick else 20_000):
            lines.append(f"| {fill:,} | {us:.2f} |")
        emit("\n".join(lines))
    if "attack" not in args.skip:
        # Over the wire against serve.py, as issue 11's table was measured.
        attack_rounds = args.rounds or (1 if quick else 5)
        attack_seconds = 1.0 if quick else args.seconds
        text, _ = attack.run(quick, attack_rounds, attack_seconds)
        emit(f"## Under attack ({attack_rounds} round(s) of {attack_seconds:g} s)\n\n" + text)
    if "botnet" not in args.skip:
        # Round 3: one guess per address, per_password, and a stale client.
        text, _ = botnet.run(quick, 1.0 if quick else args.seconds)
        emit("## A botnet and a stale client (round 3)\n\n" + text)
    if "redis" not in args.skip:
        emit(redis_part.report(rounds_wire, seconds, quick))
    if "asgi" not in args.skip:
        emit(asgi.report(quick, rounds_in, rounds_wire, seconds))
    if "ldap" not in args.skip:
        emit(ldap_part.report(rounds_wire, seconds, quick))
    if "forward" not in args.skip:
        emit(forward.report(quick, rounds_wire, seconds))
    if "metrics" not in args.skip:
        # Issue 22 item 5: metrics on vs off in process, and a scrape during the spray.
        emit(metrics_part.report(quick, rounds_in, rounds_wire, seconds))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write("\n\n".join(parts) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
