"""The LDAP part of the benchmark runs (on a tiny budget): no timing is asserted."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import quick_bench
from ldapserver import need_slapd


def test_quick_ldap_benchmark_reports_every_figure(tmp_path: Path) -> None:
    need_slapd()
    report = quick_bench(tmp_path, "ldap")
    assert "## LDAP" in report and "skipped" not in report
    for row in ("| LdapUsers |", "| htpasswd bcrypt(12) |"):
        assert report.count(row) == 2, row  # at 16 connections and at 1
    assert re.search(r"\| LDAP operations per cached request .* \| 0\.0000; 0\.0000 \|", report)
    assert re.search(r"\| slapd killed: time to the first 503, ms .* \| \d+ \(", report)
    assert re.search(r"\| slapd frozen \(SIGSTOP\): time to the first 503, ms .* \| \d+ \(", report)
