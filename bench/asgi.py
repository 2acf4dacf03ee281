"""ASGI: the adapter around a Starlette route, its peers, and over uvicorn.

In process, each variant is called directly (one ASGI call per request, no
server, no HTTP client) on one event loop; rounds alternate the variants and
each row is the median of its rounds, as a ratio to its framework's bare
route measured in the same round. The peers are written here from their
documentation's shape: FastAPI's ``HTTPBasic`` with
``secrets.compare_digest`` (its sync ``def`` dependency and route, as the
docs show them) and Starlette's ``AuthenticationMiddleware`` with the
docs' ``BasicAuthBackend`` (which checks no password; ours here adds the
``compare_digest`` the docs leave as a TODO, so it does the same work).

Over the wire, ``uvicorn --factory bench.asgi:<variant>`` on 127.0.0.1, one
process each, loaded alternately by wrk (``-t1 -c16``) as bench/wire.py does.
"""

# No ``from __future__ import annotations``: FastAPI reads the peers'
# annotations at run time, and they name classes imported inside builders.

import asyncio
import base64
import binascii
import logging
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from basicauth_wsgi import HashedUsers
from basicauth_wsgi.asgi import BasicAuth
from basicauth_wsgi.hashes import hash_password

from . import apps, wire

ROOT = Path(__file__).resolve().parent.parent
PATH = "/api/v1/private"
HEADER = "Basic " + base64.b64encode(f"{apps.USER}:{apps.PASSWORD}".encode()).decode()
PAYLOAD = {"meaning_of_life": 42}
PYTHONPATH = os.environ.get("PYTHONPATH", "")


# -- the applications --------------------------------------------------------


def starlette_route() -> Any:
    """A bare Starlette application with the tutorial's one JSON route."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def private(request: Any) -> Any:
        return JSONResponse(PAYLOAD)

    return Starlette(routes=[Route(PATH, private)])


def starlette_ours() -> Any:
    return BasicAuth(starlette_route(), apps.USERS)


def starlette_ours_bcrypt() -> Any:
    return BasicAuth(
        starlette_route(), HashedUsers({apps.USER: hash_password(apps.PASSWORD, "bcrypt")})
    )


def starlette_docs_backend() -> Any:
    """Starlette's ``AuthenticationMiddleware`` with the docs' basic-auth backend."""
    from starlette.applications import Starlette
    from starlette.authentication import (
        AuthCredentials,
        AuthenticationBackend,
        AuthenticationError,
        SimpleUser,
        requires,
    )
    from starlette.middleware import Middleware
    from starlette.middleware.authentication import AuthenticationMiddleware
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    class BasicAuthBackend(AuthenticationBackend):
        async def authenticate(self, conn: Any) -> Any:
            if "Authorization" not in conn.headers:
                return None
            auth = conn.headers["Authorization"]
            try:
                scheme, credentials = auth.split()
                if scheme.lower() != "basic":
                    return None
                decoded = base64.b64decode(credentials).decode("ascii")
            except (ValueError, UnicodeDecodeError, binascii.Error):
                raise AuthenticationError("Invalid basic auth credentials") from None
            username, _, password = decoded.partition(":")
            expected = apps.USERS.get(username, "")
            if not secrets.compare_digest(expected.encode(), password.encode()):
                return None
            return AuthCredentials(["authenticated"]), SimpleUser(username)

    @requires("authenticated", status_code=401)
    async def private(request: Any) -> Any:
        return JSONResponse(PAYLOAD)

    return Starlette(
        routes=[Route(PATH, private)],
        middleware=[Middleware(AuthenticationMiddleware, backend=BasicAuthBackend())],
    )


def fastapi_route() -> Any:
    """A bare FastAPI application with the same route (a sync ``def``, as the docs')."""
    from fastapi import FastAPI

    api = FastAPI()

    @api.get(PATH)
    def private() -> Any:
        return PAYLOAD

    return api


def fastapi_ours() -> Any:
    return BasicAuth(fastapi_route(), apps.USERS)


def fastapi_docs_httpbasic() -> Any:
    """FastAPI's documented ``HTTPBasic`` example: a dependency, compare_digest."""
    from typing import Annotated

    from fastapi import Depends, FastAPI, HTTPException, status
    from fastapi.security import HTTPBasic, HTTPBasicCredentials

    api = FastAPI()
    security = HTTPBasic()

    def get_current_username(
        credentials: Annotated[HTTPBasicCredentials, Depends(security)],
    ) -> str:
        is_correct_username = secrets.compare_digest(
            credentials.username.encode("utf8"), apps.USER.encode("utf8")
        )
        is_correct_password = secrets.compare_digest(
            credentials.password.encode("utf8"), apps.PASSWORD.encode("utf8")
        )
        if not (is_correct_username and is_correct_password):
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="Incorrect username or password",
                headers={"WWW-Authenticate": "Basic"},
            )
        return credentials.username

    @api.get(PATH)
    def private(username: Annotated[str, Depends(get_current_username)]) -> Any:
        return PAYLOAD

    return api


#: In process: (row, builder, the bare row it is divided by).
IN_PROCESS: list[tuple[str, Callable[[], Any], str]] = [
    ("Starlette alone", starlette_route, "Starlette alone"),
    ("Starlette + BasicAuth (ASGI)", starlette_ours, "Starlette alone"),
    ("Starlette + BasicAuth bcrypt(12), warm", starlette_ours_bcrypt, "Starlette alone"),
    (
        "Starlette AuthenticationMiddleware (docs backend)",
        starlette_docs_backend,
        "Starlette alone",
    ),
    ("FastAPI alone", fastapi_route, "FastAPI alone"),
    ("FastAPI + BasicAuth (ASGI)", fastapi_ours, "FastAPI alone"),
    ("FastAPI HTTPBasic + compare_digest (docs)", fastapi_docs_httpbasic, "FastAPI alone"),
]

#: Over uvicorn: the factories ``uvicorn --factory bench.asgi:NAME`` serves.
WIRE = {
    "Starlette alone": "starlette_route",
    "Starlette + BasicAuth plaintext": "starlette_ours",
    "Starlette + BasicAuth bcrypt(12)": "starlette_ours_bcrypt",
}


# -- in process ----------------------------------------------------------------


def _scope() -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"user-agent", b"bench"),
            (b"accept", b"*/*"),
            (b"authorization", HEADER.encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _calls(app: Any, count: int) -> float:
    """Seconds per request for ``count`` requests, each a fresh scope as a server makes."""
    template = _scope()
    statuses: list[int] = []
    request = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    start = time.perf_counter()
    for _ in range(count):
        scope = dict(template)
        scope["headers"] = list(template["headers"])
        await app(scope, receive, send)
    took = time.perf_counter() - start
    if set(statuses) != {200}:
        raise RuntimeError(f"{app!r} answered {sorted(set(statuses))}")
    return took / count


async def _via_httpx(app: Any, count: int) -> float:
    """Seconds per request through httpx's ASGITransport, as an app's tests call it."""
    import httpx

    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    headers = {"Authorization": HEADER, "Accept": "*/*"}
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        start = time.perf_counter()
        for _ in range(count):
            response = await client.get(PATH, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"{app!r} answered {response.status_code}")
        return (time.perf_counter() - start) / count


DRIVERS = {"direct": _calls, "httpx": _via_httpx}


def run_inprocess(rounds: int, count: int) -> dict[str, dict[str, list[float]]]:
    """Seconds per request, per driver and variant, over ``rounds`` alternated rounds.

    ``direct`` is one ASGI call per request (the adapter's own cost shows);
    ``httpx`` goes through httpx's ASGITransport (``count`` / 5 requests).
    """
    built = {name: build() for name, build, _ in IN_PROCESS}
    times = {d: {name: [] for name in built} for d in DRIVERS}  # type: ignore[var-annotated]
    counts = {"direct": count, "httpx": max(20, count // 5)}

    async def measure() -> None:
        for driver in DRIVERS.values():
            for app in built.values():
                await driver(app, 20)  # warm up (and fill the cache)
        for round_ in range(rounds):
            order = list(built)
            order = order[round_ % len(order) :] + order[: round_ % len(order)]
            for name in order:
                for key, driver in DRIVERS.items():
                    times[key][name].append(await driver(built[name], counts[key]))

    asyncio.run(measure())
    return times


def inprocess_table(times: dict[str, dict[str, list[float]]]) -> str:
    lines = [
        "| variant | direct µs/request | × its framework alone | via httpx µs/request "
        "| × its framework alone |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, _, base in IN_PROCESS:
        cells = [name]
        for driver in DRIVERS:
            mine, theirs = times[driver][name], times[driver][base]
            ratios = [t / b for t, b in zip(mine, theirs, strict=True)]
            cells += [
                f"{statistics.median(mine) * 1e6:.1f}",
                f"{statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f})",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- over uvicorn ------------------------------------------------------------------


class Uvicorn:
    """``uvicorn --factory bench.asgi:FACTORY`` on 127.0.0.1:0, stopped by its PID."""

    STARTUP = 30.0

    def __init__(self, factory: str) -> None:
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", f"bench.asgi:{factory}",
             "--host", "127.0.0.1", "--port", "0", "--no-access-log", "--lifespan", "off"],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), PYTHONPATH])},
        )  # fmt: skip
        try:
            self.port = self._port()
            status = wire.get(self.port, timeout=30)  # warm: fills the cache
            if status != 200:
                raise RuntimeError(f"{factory}: warm-up answered {status}")
        except BaseException:
            self.stop()
            raise

    def _port(self) -> int:
        deadline = time.monotonic() + self.STARTUP
        while time.monotonic() < deadline:
            self.log.seek(0)
            match = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", self.log.read())
            if match:
                return int(match.group(1))
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)  # polling a log file, bounded by the deadline
        self.log.seek(0)
        raise RuntimeError(f"uvicorn did not start: {self.log.read()[-2000:]}")

    def cpu(self) -> float:
        return wire.cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        wire.stop_process(self.proc)
        self.log.close()


def run_wire(rounds: int, seconds: float, connections: int = 16) -> dict[str, wire.Sample]:
    """Requests/s of each uvicorn variant, alternated; ratios to the first, per round."""
    load = wire.wrk_load if shutil.which("wrk") else wire.python_load
    samples = {name: wire.Sample() for name in WIRE}
    servers: dict[str, Uvicorn] = {}
    try:
        for name, factory in WIRE.items():
            servers[name] = Uvicorn(factory)
        for _ in range(rounds):
            for name, server in servers.items():
                before = server.cpu()
                done, elapsed = load(server.port, connections, seconds)
                samples[name].rps.append(done / elapsed)
                samples[name].cpu_us.append((server.cpu() - before) / max(done, 1) * 1e6)
            base = samples["Starlette alone"].rps[-1]
            for sample in samples.values():
                sample.ratio.append(sample.rps[-1] / base)
    finally:
        for server in servers.values():
            server.stop()
    return samples


def bcrypt_over_plain(samples: dict[str, wire.Sample]) -> str:
    ratios = [
        b / p
        for b, p in zip(
            samples["Starlette + BasicAuth bcrypt(12)"].rps,
            samples["Starlette + BasicAuth plaintext"].rps,
            strict=True,
        )
    ]
    return (
        f"Warm bcrypt(12) over plaintext, same rounds: {statistics.median(ratios):.3f} "
        f"({min(ratios):.3f}-{max(ratios):.3f})."
    )


def report(quick: bool, rounds_in: int, rounds_wire: int, seconds: float) -> str:
    """The ASGI section of the benchmark report (Markdown)."""
    logging.disable(logging.CRITICAL)
    count = 200 if quick else 3_000
    times = run_inprocess(rounds_in, count)
    samples = run_wire(rounds_wire, seconds)
    return "\n\n".join(
        [
            f"## ASGI ({rounds_in} rounds in process of {count:,} direct and "
            f"{max(20, count // 5):,} httpx requests; "
            f"{rounds_wire} rounds of {seconds:g} s over uvicorn, alternating)",
            "**In process, no server** (× is the median ratio over rounds, min-max)",
            inprocess_table(times),
            wire.table("Over uvicorn (h11, one worker): 16 connections", samples),
            bcrypt_over_plain(samples),
        ]
    )
