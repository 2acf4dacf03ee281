"""The README's OpenTelemetry example, run against a meter that records what it is given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import opentelemetry.metrics
import pytest
import webtest
from helpers import basic

from basicauth_wsgi import BasicAuth
from basicauth_wsgi.hashes import hash_password
from basicauth_wsgi.htpasswd import write_htpasswd

from ..ops.test_readme import block
from .test_series import ok


class Recorded(opentelemetry.metrics.NoOpMeter):
    """A meter whose counters and histograms keep (name, value, attributes)."""

    def __init__(self) -> None:
        super().__init__("recorded")
        self.seen: list[tuple[str, float, dict[str, Any]]] = []

    def _instrument(self, name: str) -> Any:
        seen = self.seen

        class Instrument:
            def add(self, value: float, attributes: dict[str, Any] | None = None) -> None:
                seen.append((name, value, dict(attributes or {})))

            record = add

        return Instrument()

    def create_counter(self, name: str, unit: str = "", description: str = "") -> Any:
        return self._instrument(name)

    def create_histogram(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._instrument(name)


def test_the_opentelemetry_example_records_each_decision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_htpasswd(tmp_path / "users.htpasswd", {"alice": hash_password("pw", "sha256-crypt")})
    meter = Recorded()
    monkeypatch.setattr(opentelemetry.metrics, "get_meter", lambda *args, **kwargs: meter)
    namespace: dict[str, Any] = {"__name__": "readme", "app": ok}
    code = block("python", "opentelemetry")
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README is ours
    assert isinstance(namespace["app"], BasicAuth)
    client = webtest.TestApp(namespace["app"])
    client.get("/", headers={"Authorization": basic("alice", "pw")}, status=200)
    client.get("/", headers={"Authorization": basic("alice", "nope")}, status=401)
    counted = [(v, a) for name, v, a in meter.seen if name == "basicauth.requests"]
    assert counted == [
        (1, {"outcome": "granted", "reason": "granted", "check.kind": "sha256-crypt"}),
        (1, {"outcome": "failed", "reason": "wrong_password", "check.kind": "sha256-crypt"}),
    ]
    timed = [v for name, v, _ in meter.seen if name == "basicauth.decision.duration"]
    assert len(timed) == 2 and all(v > 0 for v in timed)
