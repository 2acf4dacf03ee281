"""The protected service behind the proxy in the forward-auth tests: it echoes what it receives.

A standard-library HTTP server (so header names arrive as sent: waitress
would drop ``Remote_User`` before anyone could see it reached the
upstream) that reads its path as the most forgiving router would
(:func:`tests.ops.attack_app.resolve`) and gives the secret for a protected
one. Run as ``python -m tests.forward.upstream``; prints ``upstream on PORT``.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.ops.attack_app import SECRET, is_protected, resolve


class Echo(BaseHTTPRequestHandler):
    """Answers every method alike: the path it resolved, its headers, the secret if protected."""

    protocol_version = "HTTP/1.1"

    def answer(self) -> None:
        path = self.path.split("?", 1)[0]
        if "://" in path:  # absolute form
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        resolved = resolve(path)
        seen = {
            "target": self.path,
            "resolved": resolved,
            "headers": [[name, value] for name, value in self.headers.items()],
        }
        if is_protected(resolved):
            seen["secret"] = SECRET
        body = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = answer

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the tests read the answers


def main() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    sys.stdout.write(f"upstream on {server.server_address[1]}\n")
    sys.stdout.flush()
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
