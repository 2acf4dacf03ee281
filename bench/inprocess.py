"""In-process cost per request: each variant called directly, no server.

Every round times every variant (in a rotating order) and divides by the
bare application measured in the same round; the table reports the median
ratio over rounds and its spread, so machine noise shows instead of hiding.
"""

from __future__ import annotations

import base64
import gc
import statistics
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import apps

HEADER = "Basic " + base64.b64encode(f"{apps.USER}:{apps.PASSWORD}".encode()).decode()
WRONG = "Basic " + base64.b64encode(f"{apps.USER}:not-the-password".encode()).decode()


def _environ(path: str, authorization: str | None) -> dict[str, Any]:
    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8080",
        "HTTP_ACCEPT": "*/*",
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if authorization is not None:
        environ["HTTP_AUTHORIZATION"] = authorization
    return environ


def request(
    app: Any, authorization: str | None, expect: str, path: str = "/api/v1/private"
) -> Callable[[], None]:
    """One request as a server makes it: a fresh environ, the body drained, close()."""
    template = _environ(path, authorization)
    # Flask and the peers read wsgi.input/errors: give them real streams.
    import io
    import sys

    status: list[str] = []

    def start_response(s: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        status.append(s)
        return None

    def call() -> None:
        environ = dict(template)
        environ["wsgi.input"] = io.BytesIO()
        environ["wsgi.errors"] = sys.stderr
        body = app(environ, start_response)
        try:
            for _ in body:
                pass
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()

    call()
    if not status or not status[-1].startswith(expect):
        raise RuntimeError(f"expected {expect}, got {status[-1:]} from {app!r}")
    return call


@dataclass
class Variant:
    name: str
    build: Callable[[], Callable[[], None]]
    baseline: str = "bare app"


def variants() -> list[Variant]:
    """What the in-process table compares (SPEC §9, issue 7)."""
    return [
        Variant("bare app", lambda: request(apps.bare_app, HEADER, "200")),
        Variant(
            "lean hand-written check",
            lambda: request(apps.lean(apps.bare_app, apps.USERS), HEADER, "200"),
        ),
        Variant(
            "lean hand-written check, missing -> 401",
            lambda: request(apps.lean(apps.bare_app, apps.USERS), None, "401"),
        ),
        Variant("BasicAuth, plaintext, valid", lambda: request(apps.ours_plain(), HEADER, "200")),
        # SPEC §9, round 3: the 401 against the floor for answering one, the
        # lean check's own 401; the warm bcrypt request against its 200.
        Variant(
            "BasicAuth, missing -> 401",
            lambda: request(apps.ours_plain(), None, "401"),
            "lean hand-written check, missing -> 401",
        ),
        Variant(
            "BasicAuth, wrong -> 401", lambda: request(apps.ours_plain_unthrottled(), WRONG, "401")
        ),
        Variant(
            "BasicAuth, bcrypt(12), cache warm",
            lambda: request(apps.ours_bcrypt(), HEADER, "200"),
            "lean hand-written check",
        ),
        Variant(
            "BasicAuth, throttle + rules + exclude",
            lambda: request(apps.ours_everything(), HEADER, "200"),
        ),
        Variant("wsgi-basic-auth, valid", lambda: request(apps.wsgi_basic_auth(), HEADER, "200")),
        Variant("paste.auth.basic, valid", lambda: request(apps.paste_basic(), HEADER, "200")),
        Variant("Flask alone", lambda: request(apps.flask_app(), None, "200"), "Flask alone"),
        Variant(
            "Flask + BasicAuth", lambda: request(apps.flask_ours(), HEADER, "200"), "Flask alone"
        ),
        Variant(
            "Flask + Flask-HTTPAuth",
            lambda: request(apps.flask_httpauth(), HEADER, "200"),
            "Flask alone",
        ),
        Variant(
            "tutorial stack (Flask-RESTful + Flask-HTTPAuth)",
            lambda: request(apps.tutorial_stack(), HEADER, "200"),
            "Flask alone",
        ),
        Variant(
            "Flask-RESTful + BasicAuth",
            lambda: request(apps.tutorial_ours(), HEADER, "200"),
            "Flask alone",
        ),
    ]


#: Every variant another is measured against (always timed).
BASELINES = (
    "bare app",
    "Flask alone",
    "lean hand-written check",
    "lean hand-written check, missing -> 401",
)


@dataclass
class Result:
    name: str
    baseline: str
    ns: float  # median cost per request
    ratio: float  # median of per-round ratios to the baseline
    low: float
    high: float


def run(rounds: int = 7, budget: float = 0.2, only: list[str] | None = None) -> list[Result]:
    """Time every variant for ``budget`` seconds a round, ``rounds`` rounds."""
    chosen = [v for v in variants() if only is None or v.name in only or v.name in BASELINES]
    calls = {v.name: v.build() for v in chosen}
    # Calibrate: how many calls fill the budget, per variant.
    numbers = {}
    for name, call in calls.items():
        per_call = min(timeit.repeat(call, number=50, repeat=3)) / 50
        numbers[name] = max(20, int(budget / per_call))
    samples: dict[str, list[float]] = {name: [] for name in calls}
    ratios: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        gc.collect()
        for name in order:
            elapsed = timeit.timeit(calls[name], number=numbers[name])
            samples[name].append(elapsed / numbers[name] * 1e9)
        for v in chosen:
            ratios[v.name].append(samples[v.name][-1] / samples[v.baseline][-1])
    return [
        Result(
            v.name,
            v.baseline,
            statistics.median(samples[v.name]),
            statistics.median(ratios[v.name]),
            min(ratios[v.name]),
            max(ratios[v.name]),
        )
        for v in chosen
    ]


def table(results: list[Result]) -> str:
    by_name = {r.name: r for r in results}
    peer = by_name.get("wsgi-basic-auth, valid")
    lines = [
        "| variant | µs/request | × baseline (median, min-max) | baseline |",
        "|---|---:|---:|---|",
    ]
    for r in results:
        spread = f"{r.low:.2f}-{r.high:.2f}"
        lines.append(f"| {r.name} | {r.ns / 1000:.2f} | {r.ratio:.2f} ({spread}) | {r.baseline} |")
    ours = by_name.get("BasicAuth, plaintext, valid")
    if peer and ours:
        lines.append("")
        lines.append(f"BasicAuth vs wsgi-basic-auth, both valid: {ours.ns / peer.ns:.2f}×")
    return "\n".join(lines)
