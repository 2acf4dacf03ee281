"""The HTTP Basic authentication scheme: parsing credentials, building challenges.

Pure functions for the wire format of RFC 7617, with the framing of RFC 9110
§11. Nothing here touches a WSGI environ, so every rule can be tested alone::

    >>> parse_authorization("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
    Credentials(username='Aladdin', password='open sesame')
    >>> build_challenge('Staff "only"')
    'Basic realm="Staff \\\\"only\\\\"", charset="UTF-8"'
"""

from __future__ import annotations

import binascii
import re
import sys
from typing import NamedTuple

from .grammar import CTL_OR_C1, decode_text, has_ctl, normalize

__all__ = [
    "MAX_HEADER_LENGTH",
    "Credentials",
    "build_challenge",
    "parse_authorization",
    "quote_string",
    "split_credentials",
]

#: Longer Authorization values are refused before any decoding work: a
#: credential that long is an attack, not a password (servers cap whole
#: header blocks at about this size too).
MAX_HEADER_LENGTH = 8192

# RFC 4648 §4: the base64 alphabet, "=" padding only at the end. Checked by
# a regex first because binascii alone silently skips foreign characters.
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


class Credentials(NamedTuple):
    """A user-id and password pair, both NFC-normalised text."""

    username: str
    password: str


def parse_authorization(value: object) -> Credentials | None:
    """Return the credentials of a Basic ``Authorization`` header value.

    ``value`` is the header as a WSGI server hands it (text decoded as
    latin-1), or ``None`` when absent. The result is ``None`` for anything
    that is not a well-formed Basic credential; this function never raises.

    - RFC 9110 §11.1: the scheme is case-insensitive and separated from the
      token68 by one or more spaces; surrounding whitespace is ignored.
    - RFC 7617 §2: the token68 is base64 (missing padding tolerated) of
      ``user-id ":" password``; the user-id ends at the first colon, so the
      password may contain colons. An empty user-id or a control character
      in either part is refused; an empty password is left to the verifier.
    - RFC 7617 §2.1: the bytes are read as UTF-8, falling back to ISO-8859-1
      for clients that still send latin-1, and both parts are normalised to
      NFC (the Unicode Normalization Form C required by RFC 8265) so that
      differently composed spellings of one password compare equal.
    """
    if not isinstance(value, str):
        return None
    pair = split_credentials(value)
    return None if pair is None else Credentials(*pair)


def split_credentials(value: str) -> tuple[str, str] | None:
    """:func:`parse_authorization` for a ``str``, as a plain tuple.

    The middleware's hot path: the same rules without the type check and
    the named tuple.
    """
    if len(value) > MAX_HEADER_LENGTH:
        return None
    # OWS around the field value is not part of it (RFC 9110 §5.5).
    scheme, sep, token = value.strip(" \t").partition(" ")
    if not sep or scheme.lower() != "basic":
        return None
    # Restore the padding a lax client left off (all or part of it), but
    # refuse padding where none belongs. A remainder of 1 cannot be the
    # length of any base64 text.
    token = token.lstrip(" ")
    data = token.rstrip("=")
    needed = -len(data) % 4
    if not data or needed == 3 or len(token) - len(data) > needed:
        return None
    try:
        raw = _b64decode(data + "=" * needed)
    except ValueError:  # binascii.Error, or non-ASCII text
        return None
    decoded = decode_text(raw)
    username, colon, password = decoded.partition(":")
    if not colon or not username:
        return None
    # RFC 7617 §2: no CTL in the user-id or the password.
    if has_ctl(decoded):
        return None
    return normalize(username), normalize(password)


def _b64decode_checked(data: str) -> bytes:
    # Python 3.10 has no strict_mode: a regex enforces RFC 4648's alphabet,
    # since a2b_base64 alone silently skips characters outside it.
    if _BASE64.fullmatch(data) is None:
        raise ValueError("not base64")
    return binascii.a2b_base64(data)


if sys.version_info >= (3, 11):

    def _b64decode(data: str) -> bytes:
        return binascii.a2b_base64(data, strict_mode=True)

else:
    _b64decode = _b64decode_checked


def quote_string(value: str) -> str:
    """Return ``value`` as an RFC 9110 §5.6.4 quoted-string.

    ``\\`` and ``"`` are escaped with a backslash. Characters a header cannot
    carry (controls, anything outside latin-1) raise ``ValueError``: a quoted
    string must never be a way to inject a header.
    """
    # Control characters (C0, DEL and C1): a quoted-string cannot carry them
    # safely, and header injection starts with CR/LF.
    if CTL_OR_C1.search(value) is not None:
        raise ValueError(f"{value!r} contains a control character")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"{value!r} is not latin-1 text, which a header cannot carry") from None
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_challenge(realm: str) -> str:
    """Return the ``WWW-Authenticate`` value for a Basic challenge.

    RFC 7617 §2.1: the ``charset="UTF-8"`` parameter tells the client to send
    credentials as UTF-8, the only value the RFC allows. ``ValueError`` if
    the realm cannot be quoted (see :func:`quote_string`).
    """
    return f'Basic realm={quote_string(realm)}, charset="UTF-8"'
