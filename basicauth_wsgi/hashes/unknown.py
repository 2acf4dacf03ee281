"""Diagnoses for a value no supported format claims: what it looks like, what to do."""

from __future__ import annotations

import re
from typing import Final

# Formats that are recognisable but deliberately not supported, by tag.
_UNSUPPORTED: Final[dict[str, str]] = {
    "$2x$": "crypt_blowfish's $2x$ (buggy 8-bit bcrypt compatibility)",
    "$2$": "the original $2$ bcrypt",
    "$argon2i$": "argon2i (only argon2id is supported)",
    "$argon2d$": "argon2d (only argon2id is supported)",
    "$y$": "yescrypt ($y$)",
    "$gy$": "gost-yescrypt ($gy$)",
    "$7$": "crypt(3) scrypt ($7$)",
    "$sha1$": "NetBSD sha1crypt ($sha1$)",
    "$md5$": "Sun MD5-crypt ($md5$)",
    "$md5,": "Sun MD5-crypt ($md5$)",
    "$3$": "FreeBSD NT-hash ($3$)",
}

_REHASH: Final = "set a new password with `basicauth-wsgi passwd`"
_DES: Final = re.compile(r"[./0-9A-Za-z]{13}")
_BSDI_DES: Final = re.compile(r"_[./0-9A-Za-z]{19}")
_WERKZEUG_LEGACY: Final = re.compile(r"(?:plain|md5|sha1|sha224|sha256|sha384|sha512)\$[^$]*\$.*")
# What a shell (double quotes, or none: `set -a; . ./.env`) leaves of
# "$2y$12$<53 characters>": "$2" and "$1" are empty positional parameters
# and "$<body>" an unset variable named by the body's leading letters and
# digits (or, if it starts with a digit, one more positional parameter), so
# "y2" remains, then what is left of the body. Any crypt(3) hash loses its
# "$"-tags the same way, leaving a run of the crypt alphabet ("./0-9A-Za-z",
# with "=" and "," of rounds= and argon2's m=,t=,p=) that no password
# manager would pick.
_EATEN_BCRYPT: Final = re.compile(r"[aby][0-9][./0-9A-Za-z$]{0,53}")
_EATEN_CRYPT: Final = re.compile(r"(?=.*[./=])[./0-9A-Za-z=,$]{20,}")
_EATEN: Final = (
    "looks like a password hash whose '$' signs were removed by a shell or docker-compose "
    '("alice:$2y$12$..." in double quotes becomes alice:y2...): put the value in single '
    "quotes, write each $ as $$ in a compose file (see 'Quoting hashes' in the README), "
    "or set a new password with `basicauth-wsgi passwd -n`"
)


def unknown_hash_error(hashed: str, tag: str, *, padded_known: bool) -> ValueError:
    """The error for ``hashed``, whose ``tag`` selects no supported format.

    ``padded_known`` says the value is a known format with whitespace around
    it. The message never quotes the value: it may be a password in clear.
    """
    if not hashed:
        return ValueError(f"empty hash: the account has no password; {_REHASH}")
    if padded_known:
        return ValueError("hash has leading or trailing whitespace")
    for prefix, name in _UNSUPPORTED.items():
        if hashed.startswith(prefix):
            return ValueError(f"{name} hashes are not supported; {_REHASH}")
    if tag.startswith("$"):
        return ValueError(f"unknown crypt(3) hash type {tag}; {_REHASH}")
    if tag == "{CRYPT}":
        return ValueError("{CRYPT} is an LDAP prefix: store the crypt(3) hash after it alone")
    if tag.startswith("{"):
        return ValueError(f"{tag} hashes are not supported; {_REHASH}")
    if hashed[0] in "!*":
        return ValueError(
            f"looks like a locked or disabled account (leading {hashed[0]}); {_REHASH}"
        )
    if _WERKZEUG_LEGACY.fullmatch(hashed):
        return ValueError(
            f"looks like a pre-2.3 Werkzeug salted-digest hash, not supported; {_REHASH}"
        )
    if _EATEN_BCRYPT.fullmatch(hashed):
        return ValueError(_EATEN)
    if _DES.fullmatch(hashed):
        return ValueError(
            "looks like a traditional DES crypt hash (htpasswd -d), which reads only 8 "
            f"characters of the password and is not supported; {_REHASH}"
        )
    if _BSDI_DES.fullmatch(hashed):
        return ValueError(f"looks like a BSDi extended DES crypt hash, not supported; {_REHASH}")
    if _EATEN_CRYPT.fullmatch(hashed):
        return ValueError(_EATEN)
    return ValueError(
        "not a recognised hash: looks like plaintext (htpasswd -p); "
        f"prefix it with {{PLAIN}} or {_REHASH}"
    )
