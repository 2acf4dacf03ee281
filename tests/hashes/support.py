"""The vector files (tests/hashes/vectors/) and what the hash tests share."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

VECTORS = Path(__file__).resolve().parent / "vectors"
PASSWORDS: dict[str, str] = json.loads((VECTORS / "passwords.json").read_text("utf-8"))
TIMEOUT = 60  # seconds, for every subprocess


def load_vectors(name: str) -> list[tuple[str, str, str]]:
    """(id, password, hash) for each ``VARIANT@KEY:HASH`` line of a vector file."""
    rows = []
    for line in (VECTORS / name).read_text("utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        user, hashed = line.split(":", 1)  # a hash may contain ":", a user not
        rows.append(
            (f"{name.removesuffix('.txt')}:{user}", PASSWORDS[user.split("@", 1)[1]], hashed)
        )
    return rows


VERIFIED_FILES = ["htpasswd-apache.txt", "openssl.txt", "werkzeug.txt", "perl.txt", "argon2.txt"]
TOOL_ROWS = [row for name in VERIFIED_FILES for row in load_vectors(name)]
TOOL_VECTORS = [pytest.param(password, hashed, id=id_) for id_, password, hashed in TOOL_ROWS]
BY_ID = {id_: (password, hashed) for id_, password, hashed in TOOL_ROWS}


REFUSED_VECTORS = [
    pytest.param(password, hashed, id=id_)
    for id_, password, hashed in load_vectors("htpasswd-refused.txt")
]


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def same_first_72_bytes(password: str) -> str:
    """Another password whose UTF-8 shares the first 72 bytes of ``password``."""
    prefix = ""
    for char in password:
        if utf8_len(prefix) >= 72:
            break
        prefix += char
    return prefix + " (a different tail)"


CROSS_PASSWORD = "pässwörd 🔐 with: colons"
