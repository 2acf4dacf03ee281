"""Text rules shared by every module: one definition each, with the RFC that decides it.

Security rules drift when each module writes its own: what counts as a
control character, a valid username, an HTTP token, a JSON media type, or
how bytes of unknown encoding are read. They live here once::

    >>> is_username("alice"), is_username("a:b")
    (True, False)
    >>> decode_text(b"caf\\xe9")
    'café'
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "CTL",
    "CTL_OR_C1",
    "decode_text",
    "has_ctl",
    "has_ctl_or_c1",
    "is_json_media_type",
    "is_token",
    "is_username",
    "normalize",
]

# RFC 5234 Appendix B.1:  CTL = %x00-1F / %x7F
# RFC 7617 §2: "The user-id and password MUST NOT contain any control
# characters (see 'CTL' in Appendix B.1 of RFC 5234)."
CTL = re.compile(r"[\x00-\x1f\x7f]")

# CTL plus the C1 controls U+0080-U+009F. Text that goes into a header
# (a realm), a file line or a log line refuses these too: some terminals and
# parsers act on C1 (U+0085 is a line break to Python's str.splitlines()).
CTL_OR_C1 = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# RFC 9110 §5.6.2:
#   token = 1*tchar
#   tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
#           "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

# RFC 9110 §8.3.1: media-type = type "/" subtype, each a token, matched
# case-insensitively; RFC 6839 §3.1: the "+json" structured syntax suffix
# (application/problem+json) is JSON too.
_JSON_TYPE = re.compile(r"application/(?:[!#$%&'*+\-.^_`|~0-9a-z]+\+)?json")


def has_ctl(text: str) -> bool:
    """Return whether ``text`` contains a CTL (U+0000-U+001F, U+007F)."""
    # isprintable() is False for every CTL (and for some other characters,
    # which the regex then clears): a fast pass for ordinary text.
    return not text.isprintable() and CTL.search(text) is not None


def has_ctl_or_c1(text: str) -> bool:
    """Return whether ``text`` contains a C0 or C1 control character or DEL."""
    return not text.isprintable() and CTL_OR_C1.search(text) is not None


def is_token(text: str) -> bool:
    """Return whether ``text`` is an RFC 9110 token (a method name, a scheme)."""
    return _TOKEN.fullmatch(text) is not None


def is_json_media_type(content_type: str) -> bool:
    """Return whether a ``Content-Type`` or ``Accept`` media range names JSON.

    Parameters (``; charset=utf-8``) are ignored; matching is case-insensitive
    (RFC 9110 §8.3.1).
    """
    media = content_type.split(";", 1)[0].strip().lower()
    return _JSON_TYPE.fullmatch(media) is not None


def decode_text(raw: bytes) -> str:
    """Read bytes of unknown encoding: UTF-8, else ISO-8859-1.

    RFC 7617 §2.1 for credentials (UTF-8 when the challenge said
    ``charset="UTF-8"``, ISO-8859-1 from older clients), and the same for
    lines of htpasswd and group files, which Apache compares as bytes.
    Every byte string is valid ISO-8859-1, so this never raises.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("iso-8859-1")


def normalize(text: str) -> str:
    """NFC, as RFC 7617 §2.1 and RFC 8265 §3.3.2 require for user-ids and passwords."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def is_username(name: str) -> bool:
    """Return whether ``name`` can be a Basic user-id.

    RFC 7617 §2: ``user-pass = user-id ":" password``, the user-id ends at
    the first colon, so it cannot contain one; it must not be empty and must
    not contain a CTL. Stores and tools also refuse C1 controls, which no
    file line or log line should carry.
    """
    return bool(name) and ":" not in name and not has_ctl_or_c1(name)
