"""The benchmark command runs (on a tiny budget): no timing is asserted here."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from helpers import quick_bench


def test_quick_benchmark_runs_and_reports_every_section(tmp_path: Path) -> None:
    report = quick_bench(tmp_path, "inprocess", "wire", "growth", "attack", "redis")
    for heading in ("## In process", "## Over waitress", "## Growth"):
        assert heading in report
    variants = ["lean hand-written check", "wsgi-basic-auth", "paste.auth.basic",
                "Flask + Flask-HTTPAuth", "tutorial stack", "BasicAuth bcrypt(12)"]  # fmt: skip
    for variant in variants:
        assert variant in report
    # Every data row (below a |---| line) carries numbers, not placeholders.
    lines = report.splitlines()
    rows = [
        line
        for above, line in itertools.pairwise(lines)
        if line.startswith("| ") and (above.startswith("|-") or above.startswith("| "))
    ]
    assert len(rows) > 20 and all(re.search(r"\d", row) for row in rows)
