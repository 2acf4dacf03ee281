"""The forward-auth part of the benchmark runs through a real nginx (tiny budget, no timing)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from helpers import ROOT

from ..ops.support import NGINX, need


def test_quick_forward_benchmark_reports_every_variant(tmp_path: Path) -> None:
    need(NGINX)
    out = tmp_path / "report.md"
    skips = [a for part in ("inprocess", "wire", "growth", "attack", "redis", "asgi")
             for a in ("--skip", part)]  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", *skips, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = out.read_text()
    assert "## Forward-auth through nginx" in report
    for variant in ("forward-auth bcrypt(12)", "auth_request -> do-nothing 200", "nginx auth_basic",
                    "no attack", "under attack"):  # fmt: skip
        [row] = [line for line in report.splitlines() if line.startswith(f"| {variant} |")]
        assert re.search(r"\| \d[\d,.]* \|", row), row
    assert re.search(r"over nginx's own `auth_basic`, same rounds: [\d,]+x", report)
    # The spray went through nginx to the service: the attackers got answers.
    assert re.search(r"Attacker answers by status: 401: [\d,]+", report)
