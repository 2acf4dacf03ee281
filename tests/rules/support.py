"""What the rule tests share: the users, the groups and the example API's rule."""

from __future__ import annotations

from pathlib import Path

from basicauth_wsgi.rules import Rule

PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "jürgen": "pässwörd"}
GROUPS = {"admin": ["alice"]}
ADMIN_DELETE = Rule("/api/v1/subscribers/", methods=["DELETE"], groups=["admin"])
SUBSCRIBER = "/api/v1/subscribers/1"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
