"""Throttle keys: exact, bounded store keys for addresses, usernames, passwords and repeats.

What a key is made of decides what an attacker can do with it: alias
another key (a short name that spells a long name's digest), grow memory
(a 60 KB forwarded address), or read a password back out of the store. So
every key here is exact (two different things share one only by a
collision of a keyed digest), bounded (its size never depends on what was
sent), and keeps no password::

    client_key("::ffff:192.0.2.7")   # "c192.0.2.7"
    user_key("admin", secret)        # "uadmin"; a name over 64 characters: "h" + 64 hex digits
    password_key("hunter2", secret)  # "p" + 8 hex digits: 32 bits of a keyed hash

The first letter says the kind, so keys of two kinds never meet: ``c`` an
address, ``u`` a username as it is, ``h`` a long username's keyed digest,
``p`` a password's tag, ``r`` a repeated header, ``t`` a trusted pair.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress

from ..addresses import INVALID, ip

__all__ = [
    "INVALID_KEY",
    "MAX_NAME",
    "client_key",
    "password_key",
    "repeat_key",
    "trust_key",
    "user_key",
]

#: Usernames up to this many characters are keys as they are (at most 256
#: bytes of UTF-8); longer ones are a keyed digest of fixed size.
MAX_NAME = 64

#: Longer than the text of any IP address (an IPv6 address with an IPv4
#: tail and a zone id): longer text is ``invalid`` without being parsed.
MAX_ADDRESS = 64

#: The one key of every client address that is not an IP address.
INVALID_KEY = "c" + INVALID

# 32 bits: even with the secret, a tag this short cannot be searched back
# to one password (a dictionary of 2**32 candidates matches it about once
# per tag), and a collision of two passwords costs only a spurious count.
_TAG_BYTES = 4


def client_key(address: str) -> str:
    """The throttle key of a client address: its canonical IP text, or ``cinvalid``.

    IPv4-mapped IPv6 addresses count as their IPv4 address and zone ids are
    dropped (:mod:`basicauth_wsgi.addresses`); IPv6 clients are counted per
    /64 (one site gets a whole /64, so counting single addresses would give
    an attacker 2**64 fresh keys). Anything that is not an IP address (a
    forwarded header's garbage, ``-`` for an unknown peer) shares one key.
    """
    # Refused before the memo: a memo keyed by 60 KB texts would keep them.
    if len(address) > MAX_ADDRESS:
        return INVALID_KEY
    return _client_key(address)


@functools.lru_cache(maxsize=4096)
def _client_key(address: str) -> str:
    found = ip(address)
    if found is None:
        return INVALID_KEY
    if isinstance(found, ipaddress.IPv6Address):
        return f"c{ipaddress.IPv6Network((int(found) >> 64 << 64, 64))}"
    return f"c{found}"


def user_key(username: str, secret: bytes) -> str:
    """The throttle key of a username: ``u`` and the name, or ``h`` and its keyed digest.

    A name over :data:`MAX_NAME` characters is a full 256-bit keyed digest
    under another letter, so no shorter name can spell its key.
    """
    if len(username) <= MAX_NAME:
        return "u" + username
    return "h" + _digest(username, secret, b"username", 32)


def password_key(password: str, secret: bytes) -> str:
    """The throttle key of a password: ``p`` and 32 bits of a keyed hash of it.

    Never the password, never a digest from which it could be recovered:
    without the secret the tag says nothing, and with it a tag matches
    about one password in 2**32.
    """
    return "p" + _digest(password, secret, b"password", _TAG_BYTES)


def repeat_key(client: str, header: str, secret: bytes) -> str:
    """The key marking that ``client`` sent this ``Authorization`` header (32 bits of it).

    As short as a password's tag, since the header holds the password.
    """
    return f"r{client_key(client)[1:]}\0{_digest(header, secret, b'header', _TAG_BYTES)}"


def trust_key(client: str, username: str, secret: bytes) -> str:
    """The key of a trusted (client, user) pair.

    No address key holds ``\\0``, so the pair splits one way only.
    """
    return f"t{client_key(client)}\0{user_key(username, secret)}"


def _digest(text: str, secret: bytes, purpose: bytes, size: int) -> str:
    # BLAKE2 keyed mode is a PRF (RFC 7693 §2.5); the personalisation keeps
    # the digests of different purposes apart under one secret.
    data = text.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, key=secret[:64], digest_size=size, person=purpose).hexdigest()
