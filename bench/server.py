"""One benchmark server: ``python -m bench.server VARIANT THREADS``.

Serves GET /api/v1/private with waitress on an ephemeral 127.0.0.1 port,
prints ``port N`` once listening, and runs until terminated.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from waitress.server import create_server

from . import apps


def _example(wrap: Callable[[Any], Any] | None) -> Any:
    from basicauth_wsgi.example.api import create_app

    api = create_app(tempfile.mkdtemp(prefix="bench-") + "/api.db")
    return api if wrap is None else wrap(api)


VARIANTS: dict[str, Callable[[], Any]] = {
    "unprotected": lambda: _example(None),
    "BasicAuth plaintext": lambda: _example(apps.ours_plain),
    "BasicAuth bcrypt(12)": lambda: _example(apps.ours_bcrypt),
    "Flask-HTTPAuth bcrypt(12)": lambda: apps.flask_httpauth(hashed=True),
    "tutorial stack": apps.tutorial_stack,
    "Flask-RESTful + BasicAuth": apps.tutorial_ours,
}


def main(argv: list[str]) -> int:
    variant, threads = argv[0], int(argv[1])
    # The server's own logs would cost CPU the benchmark charges to it.
    logging.disable(logging.CRITICAL)
    server = create_server(VARIANTS[variant](), host="127.0.0.1", port=0, threads=threads)
    port = server.getsockname()[1]  # type: ignore[union-attr]
    sys.stdout.write(f"port {port}\n")
    sys.stdout.flush()
    server.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
