"""The ASGI part of the benchmark runs (on a tiny budget): no timing is asserted."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import quick_bench

from .support import uvicorn_binary


def test_quick_asgi_benchmark_reports_every_variant(tmp_path: Path) -> None:
    uvicorn_binary()
    report = quick_bench(tmp_path, "asgi")
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
