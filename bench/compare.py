"""Before and after: the in-process hot paths of two source trees, alternated.

For a restructure that must not be slower: each tree runs in its own
process (its own ``basicauth_wsgi``), alternately, ``--times`` times; each
run reports its median ratio to the bare app over 7 rounds::

    git worktree add /tmp/before cf2ad64
    python -m bench.compare /tmp/before .
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import timeit

CASES = ("plaintext, valid", "missing -> 401", "bcrypt(12), cache warm")


def measure(rounds: int) -> dict[str, float]:
    """This process's tree: each case's median ratio to the bare app."""
    import logging

    from bench import apps, inprocess

    logging.disable(logging.CRITICAL)
    calls = {
        CASES[0]: inprocess.request(apps.ours_plain(), inprocess.HEADER, "200"),
        CASES[1]: inprocess.request(apps.ours_plain(), None, "401"),
        CASES[2]: inprocess.request(apps.ours_bcrypt(), inprocess.HEADER, "200"),
    }
    bare = inprocess.request(apps.bare_app, inprocess.HEADER, "200")
    ratios: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        base = min(timeit.repeat(bare, number=20_000, repeat=3))
        for name, call in calls.items():
            ratios[name].append(min(timeit.repeat(call, number=20_000, repeat=3)) / base)
    return {name: statistics.median(values) for name, values in ratios.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("trees", nargs=2, metavar="TREE", help="two checkouts: before, after")
    parser.add_argument("--times", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--child", metavar="TREE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        # The tree's basicauth_wsgi; this checkout's harness (already imported).
        sys.path.insert(0, os.path.abspath(args.child))
        import basicauth_wsgi

        del sys.path[0]
        assert basicauth_wsgi.__file__ is not None
        assert basicauth_wsgi.__file__.startswith(os.path.abspath(args.child))
        print(json.dumps(measure(args.rounds)))
        return 0
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    results: dict[str, list[dict[str, float]]] = {tree: [] for tree in args.trees}
    for _ in range(args.times):
        for tree in args.trees:
            out = subprocess.run(
                [sys.executable, "-m", "bench.compare", *args.trees, "--child", tree,
                 "--rounds", str(args.rounds)],
                cwd=here, capture_output=True, text=True, check=True, timeout=600,
            ).stdout  # fmt: skip
            results[tree].append(json.loads(out))
    before, after = args.trees
    print("| in process, × bare app | before | after |\n|---|---|---|")
    for name in CASES:
        shown = [" / ".join(f"{run[name]:.2f}" for run in results[t]) for t in (before, after)]
        print(f"| {name} | {shown[0]} | {shown[1]} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
