"""Serve the protected example API: ``python serve.py [--port 8080] ...``.

The same as ``basicauth-wsgi serve``; see ``python serve.py --help``.
"""

import sys

from basicauth_wsgi.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["serve", *sys.argv[1:]]))
