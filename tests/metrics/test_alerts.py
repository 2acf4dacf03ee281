"""The Prometheus alert rules of docs/prometheus-alerts.yml (issue 22).

promtool checks the rule file and runs its unit tests,
tests/metrics/alerts-test.yml, in which every alert fires from the series
the library exports and stays quiet on normal traffic. promtool (Debian
package ``prometheus``) is skipped when missing, except in CI, where
.ci/run installs it. Without promtool, the rules are still checked to name
only series and label values that basicauth_wsgi/metrics.py exports.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml
from helpers import ROOT

from basicauth_wsgi.metrics import _HELP, CHECK_RESULTS, FAILURE_REASONS, LIMITS, OUTCOMES

RULES = ROOT / "docs" / "prometheus-alerts.yml"
UNIT_TESTS = ROOT / "tests" / "metrics" / "alerts-test.yml"
TIMEOUT = 60

#: The label values each series can have (the reload results are read from the verifier).
VALUES: dict[tuple[str, str], tuple[str, ...]] = {
    ("basicauth_requests_total", "outcome"): OUTCOMES,
    ("basicauth_failures_total", "reason"): FAILURE_REASONS,
    ("basicauth_blocks_total", "limit"): LIMITS,
    ("basicauth_checks_total", "result"): CHECK_RESULTS,
    ("basicauth_cache_total", "result"): ("hit", "miss"),
    ("basicauth_users_reload_total", "result"): ("success", "failure"),
}
SERIES = set(_HELP) | {f"basicauth_check_seconds_{suffix}" for suffix in ("bucket", "sum", "count")}


def promtool() -> str:
    """The promtool binary; skipped when missing outside CI, a failure in CI."""
    found = shutil.which("promtool")
    if found is not None:
        return found
    if os.path.exists("/usr/bin/promtool"):  # not on PATH, where Debian puts it
        return "/usr/bin/promtool"
    if os.environ.get("CI"):
        pytest.fail("promtool is required in CI (.ci/run installs the prometheus package)")
    pytest.skip("promtool is not installed (Debian package prometheus)")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT
    )


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_checks_the_rules() -> None:
    result = run("check", "rules", str(RULES.relative_to(ROOT)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout, result.stdout


def test_promtool_unit_tests_pass() -> None:
    result = run("test", "rules", str(UNIT_TESTS.relative_to(ROOT)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout and "FAILED" not in result.stdout, result.stdout


def test_every_alert_is_shown_firing_by_a_unit_test() -> None:
    tests = yaml.safe_load(UNIT_TESTS.read_text(encoding="utf-8"))["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert {rule["alert"] for rule in rules()} <= fired


def test_every_alert_says_how_long_how_bad_and_what_to_do() -> None:
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names))
    for rule in rules():
        assert re.fullmatch(r"BasicAuth[A-Z]\w+", rule["alert"])
        assert "for" in rule, rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert set(rule["annotations"]) >= {"summary", "description"}, rule["alert"]
        assert "by (job, instance)" in rule["expr"], rule["alert"]  # one alert per target


def test_rules_name_only_exported_series_and_label_values() -> None:
    for rule in rules():
        expr = rule["expr"]
        for name in re.findall(r"\bbasicauth_\w+", expr):
            assert name in SERIES, f"{rule['alert']}: {name} is not exported"
        for name, matchers in re.findall(r"\b(basicauth_\w+)\s*\{([^}]*)\}", expr):
            for label, value in re.findall(r'(\w+)\s*=~?\s*"([^"]*)"', matchers):
                known = VALUES.get((name, label))
                assert known is not None, f"{rule['alert']}: {name} has no label {label}"
                for one in value.split("|"):
                    assert one in known, f"{rule['alert']}: {name}{{{label}={one!r}}}"
