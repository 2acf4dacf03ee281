"""The forward-auth part of the benchmark runs through a real nginx (tiny budget, no timing)."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import quick_bench

from ..ops.support import NGINX, need


def test_quick_forward_benchmark_reports_every_variant(tmp_path: Path) -> None:
    need(NGINX)
    report = quick_bench(tmp_path, "forward")
    assert "## Forward-auth through nginx" in report
    for variant in ("forward-auth bcrypt(12)", "auth_request -> do-nothing 200", "nginx auth_basic",
                    "no attack", "under attack"):  # fmt: skip
        [row] = [line for line in report.splitlines() if line.startswith(f"| {variant} |")]
        assert re.search(r"\| \d[\d,.]* \|", row), row
    assert re.search(r"over nginx's own `auth_basic`, same rounds: [\d,]+x", report)
    # The spray went through nginx to the service: the attackers got answers.
    assert re.search(r"Attacker answers by status: 401: [\d,]+", report)
