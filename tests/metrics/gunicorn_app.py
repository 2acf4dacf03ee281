"""The application of the gunicorn multi-process test, as the README writes it.

Every worker counts into prometheus_client's default registry (which writes
to ``PROMETHEUS_MULTIPROC_DIR``); ``/metrics`` reads every worker's counts,
behind the same Basic authentication as everything else. Each response
names the worker that answered.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, make_wsgi_app, multiprocess

from basicauth_wsgi import BasicAuth
from basicauth_wsgi.metrics import Metrics

USERS = {"alice": "alice-pw"}

every_worker = CollectorRegistry()
multiprocess.MultiProcessCollector(every_worker)
scrape = make_wsgi_app(every_worker)


def work(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ["PATH_INFO"] == "/metrics":
        return scrape(environ, start_response)  # type: ignore[no-any-return]
    # Some CPU work holds this worker, so concurrent requests go to the others.
    hashlib.pbkdf2_hmac("sha256", b"work", b"salt", 20_000)
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


app = BasicAuth(work, USERS, metrics=Metrics(registry=REGISTRY))
