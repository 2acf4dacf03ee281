"""The ASGI part of the benchmark runs (on a tiny budget): no timing is asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from helpers import ROOT

from .support import uvicorn_binary


def test_quick_asgi_benchmark_reports_every_variant(tmp_path: Path) -> None:
    uvicorn_binary()
    out = tmp_path / "report.md"
    skips = ["--skip", "inprocess", "--skip", "wire", "--skip", "growth"]
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
    assert "## ASGI" in report
    for variant in [
        "Starlette + BasicAuth (ASGI)",
        "Starlette AuthenticationMiddleware (docs backend)",
        "FastAPI HTTPBasic + compare_digest (docs)",
        "Starlette + BasicAuth bcrypt(12)",
    ]:
        [row] = [line for line in report.splitlines() if line.startswith(f"| {variant} |")]
        assert re.search(r"\| \d[\d,.]* \|", row), row
    assert re.search(r"Warm bcrypt\(12\) over plaintext, same rounds: \d", report)
