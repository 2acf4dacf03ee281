"""Client addresses: canonical text, ``invalid`` for anything else, trusted networks."""

from __future__ import annotations

import pytest

from basicauth_wsgi.addresses import INVALID, Networks, canonical, is_loopback, shown


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("::FFFF:C000:0207", "192.0.2.7"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("fe80::1%25eth0", "fe80::1"),
        ("192.0.2.7 reason=wrong_password", None),
        ("localhost", None),
        ("", None),
        ("-", None),
        ("1" * 60_000, None),
    ],
    ids=[
        "ipv4",
        "ipv4-mapped",
        "ipv4-mapped-hex",
        "ipv6-compressed",
        "zone-id",
        "zone-id-encoded",
        "forged-log-text",
        "host-name",
        "empty",
        "dash",
        "huge",
    ],
)
def test_canonical_text(given: str, expected: str | None) -> None:
    assert canonical(given) == expected
    assert shown(given) == (INVALID if expected is None else expected)


def test_loopback_includes_the_mapped_form() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("::ffff:127.0.0.2")
    assert not is_loopback("192.0.2.1") and not is_loopback("not an address")


def test_networks_take_addresses_and_cidr_separated_by_commas_or_spaces() -> None:
    networks = Networks.parse(["127.0.0.1, 10.0.0.0/8", "2001:db8::/32"], option="--trusted-proxy")
    assert [str(n) for n in networks] == ["127.0.0.1/32", "10.0.0.0/8", "2001:db8::/32"]
    assert networks.contains("10.200.0.1") and networks.contains("::ffff:10.0.0.1")
    assert networks.contains("2001:db8::5") and not networks.contains("192.0.2.1")
    assert not networks.contains("invalid text")


@pytest.mark.parametrize(
    "given",
    ["*", "localhost", "proxy.example.org", "10.0.0.0/33", "fe80::1%eth0", "", " , "],
    ids=["wildcard", "localhost", "host-name", "bad-prefix", "zone-id", "empty", "commas"],
)
def test_networks_refuse_anything_but_addresses(given: str) -> None:
    with pytest.raises(ValueError, match="--trusted-proxy"):
        Networks.parse(given, option="--trusted-proxy")
