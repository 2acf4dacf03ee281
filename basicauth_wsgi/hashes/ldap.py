"""LDAP-style ``{SCHEME}`` values: ``{SHA}``, ``{SSHA}`` (nginx, OpenLDAP) and ``{PLAIN}``.

``{PLAIN}`` is nginx's and Dovecot's prefix for a password kept in clear.
All three are one fast hash (or none): the registry marks each weak.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from typing import Final

# 20 bytes of base64 (RFC 4648 §4): the last data character carries 4 bits, 2 zero.
SHA1_PATTERN: Final = re.compile(r"\{SHA\}[A-Za-z0-9+/]{26}[AEIMQUYcgkosw048]=")
SHA1_SYNTAX: Final = "{SHA} then 28 characters of base64"
SSHA_PATTERN: Final = re.compile(r"\{SSHA\}(?P<data>[A-Za-z0-9+/]+={0,2})")
SSHA_SYNTAX: Final = "{SSHA} then base64 of a SHA-1 digest and a salt"
# Any text but lone surrogates, which have no UTF-8 form to compare.
PLAIN_PATTERN: Final = re.compile(r"\{PLAIN\}(?P<text>[^\ud800-\udfff]*)")
PLAIN_SYNTAX: Final = "{PLAIN} then the password"


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"{what} is not valid base64 ({exc})") from exc


# --- {SHA}: base64 of unsalted SHA-1 -----------------------------------------


def sha1_new(password: bytes) -> str:
    return "{SHA}" + base64.b64encode(hashlib.sha1(password).digest()).decode("ascii")  # noqa: S324 ({SHA} is SHA-1)


def sha1_check(password: bytes, match: re.Match[str]) -> bool:
    return hmac.compare_digest(sha1_new(password), match[0])


def sha1_dummy(match: re.Match[str]) -> str:
    return sha1_new(secrets.token_bytes(16))


# --- {SSHA}: base64 of SHA-1(password + salt) + salt ---------------------------


def _ssha_make(password: bytes, salt: bytes) -> str:
    digest = hashlib.sha1(password + salt).digest()  # noqa: S324 ({SSHA} is SHA-1)
    return "{SSHA}" + base64.b64encode(digest + salt).decode("ascii")


def ssha_split(match: re.Match[str]) -> tuple[bytes, bytes]:
    """(digest, salt) of a {SSHA} value: base64 of SHA-1(password + salt) + salt."""
    raw = _b64decode(match["data"], "{SSHA} value")
    if len(raw) <= 20:
        raise ValueError("{SSHA} value is too short to hold a SHA-1 digest and a salt")
    return raw[:20], raw[20:]


def ssha_new(password: bytes) -> str:
    return _ssha_make(password, secrets.token_bytes(8))


def ssha_check(password: bytes, match: re.Match[str]) -> bool:
    digest, salt = ssha_split(match)
    return hmac.compare_digest(hashlib.sha1(password + salt).digest(), digest)  # noqa: S324


def ssha_dummy(match: re.Match[str]) -> str:
    return _ssha_make(secrets.token_bytes(16), secrets.token_bytes(len(ssha_split(match)[1])))


# --- {PLAIN}: the password itself ------------------------------------------------


def plain_new(password: bytes) -> str:
    return "{PLAIN}" + password.decode("utf-8")


def plain_check(password: bytes, match: re.Match[str]) -> bool:
    # Compare fixed-length digests so the timing reveals not even the length.
    stored = hashlib.sha256(match["text"].encode("utf-8")).digest()
    return hmac.compare_digest(hashlib.sha256(password).digest(), stored)


def plain_dummy(match: re.Match[str]) -> str:
    return "{PLAIN}" + secrets.token_urlsafe(16)
