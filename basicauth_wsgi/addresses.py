"""Client addresses: the canonical text of an IP address, and networks of trusted proxies.

What a server or a proxy hands over as "the client" is text, and an
attacker may choose it (a forwarded header). The throttle counts, and the
log names, only what this module makes of it: the canonical text of an IP
address, or ``invalid``; a trusted proxy is given as IP addresses and CIDR
networks, never as a name or a wildcard::

    >>> canonical("::ffff:192.0.2.7"), canonical("fe80::1%eth0"), canonical("evil\\n")
    ('192.0.2.7', 'fe80::1', None)
    >>> Networks.parse("127.0.0.1, 10.0.0.0/8", option="--trusted-proxy").contains("10.1.2.3")
    True
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Iterator

__all__ = ["INVALID", "Networks", "canonical", "ip", "is_loopback", "shown"]

#: What an address that is not an IP address is counted and logged as.
INVALID = "invalid"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Longer than any IP address's text (an IPv6 address with an IPv4 tail and
# a zone id is under 64): longer text is refused unread.
_MAX_TEXT = 64


def _parse(address: str) -> IPAddress | None:
    # Refused before the memo: a memo keyed by 60 KB texts would keep them.
    if len(address) > _MAX_TEXT:
        return None
    return _parse_short(address)


@functools.lru_cache(maxsize=4096)
def _parse_short(address: str) -> IPAddress | None:
    # RFC 6874: a zone id ("%eth0") names an interface of this host, not a
    # different client; RFC 4291 §2.5.5.2: an IPv4-mapped IPv6 address is
    # that IPv4 client (a dual-stack socket reports IPv4 clients this way).
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def ip(address: str) -> IPAddress | None:
    """The IP address ``address`` spells (canonically), or ``None`` if it is not one."""
    return _parse(address)


def canonical(address: str) -> str | None:
    """The canonical text of the IP address ``address``, or ``None`` if it is not one.

    IPv4-mapped IPv6 addresses become their IPv4 address; zone ids are
    dropped; IPv6 is compressed and lower-cased (RFC 5952).
    """
    parsed = _parse(address)
    return None if parsed is None else str(parsed)


def shown(address: str) -> str:
    """``address`` as a log line may show it: its canonical text, or ``invalid``.

    No text a client chose (a forwarded header) can reach a log line: an
    attacker could otherwise forge or hide a line a log watcher matches.
    """
    parsed = _parse(address)
    return INVALID if parsed is None else str(parsed)


def is_loopback(address: str) -> bool:
    """Return whether ``address`` is a loopback address (``::ffff:127.0.0.1`` included)."""
    parsed = _parse(address)
    return parsed is not None and parsed.is_loopback


# One network per item: commas or white space between them.
_SEPARATORS = re.compile(r"[\s,]+")


class Networks:
    """A set of IP networks (trusted proxies): addresses and CIDR networks only.

    ``127.0.0.1`` is that address; ``10.0.0.0/8`` that network; IPv4 and
    IPv6 alike. A host name, ``*`` or any other text is a ``ValueError``
    naming ``option``: a proxy anyone can claim to be would let every client
    choose the address it is counted as.
    """

    __slots__ = ("_networks",)

    def __init__(self, networks: Iterable[IPNetwork]) -> None:
        self._networks = tuple(networks)

    @classmethod
    def parse(cls, values: str | Iterable[str], *, option: str) -> Networks:
        """Parse addresses and networks separated by commas or white space (or a list of them)."""
        items = [values] if isinstance(values, str) else list(values)
        found: list[IPNetwork] = []
        for item in items:
            if not isinstance(item, str):
                raise TypeError(f"{option} must be IP addresses or networks, got {item!r}")
            for text in _SEPARATORS.split(item.strip()):
                if text:
                    found.append(_network(text, option))
        if not found:
            raise ValueError(f"{option}: expected IP addresses or CIDR networks, got nothing")
        return cls(found)

    def contains(self, address: str) -> bool:
        """Return whether ``address`` (a peer's address) is in one of the networks."""
        parsed = _parse(address)
        return parsed is not None and any(parsed in network for network in self._networks)

    def __bool__(self) -> bool:
        return bool(self._networks)

    def __iter__(self) -> Iterator[IPNetwork]:
        return iter(self._networks)

    def __repr__(self) -> str:
        return f"Networks({', '.join(str(n) for n in self._networks)})"


def _network(text: str, option: str) -> IPNetwork:
    if "%" in text:
        raise ValueError(f"{option}: {text!r}: a zone id names no network; give the address")
    try:
        # strict=False: "10.1.2.3/8" means the network 10.0.0.0/8, as
        # nginx's set_real_ip_from reads it.
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(
            f"{option}: {text!r} is not an IP address or CIDR network (host names and "
            "wildcards are refused: anyone could claim to be that proxy)"
        ) from None
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped:
        mapped = network.network_address.ipv4_mapped
        prefix = max(network.prefixlen - 96, 0)
        return ipaddress.IPv4Network((mapped, prefix), strict=False)
    return network
