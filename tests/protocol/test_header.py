"""parse_authorization, quote_string and build_challenge (RFC 7617, RFC 9110 §11)."""

from __future__ import annotations

import base64
import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from basicauth_wsgi import Credentials, build_challenge, parse_authorization
from basicauth_wsgi.header import MAX_HEADER_LENGTH, quote_string


def basic(raw: bytes, scheme: str = "Basic") -> str:
    """An Authorization value as a WSGI server hands it (latin-1 text)."""
    return f"{scheme} {base64.b64encode(raw).decode('ascii')}"


ACCEPTED = [
    ("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", ("Aladdin", "open sesame"), "rfc7617-aladdin"),
    ("Basic dGVzdDoxMjPCow==", ("test", "123£"), "rfc7617-utf8-pound"),
    (basic("test:123£".encode("latin-1")), ("test", "123£"), "latin1-fallback"),
    (basic("jürgen:pässwörd".encode()), ("jürgen", "pässwörd"), "utf8-both-parts"),
    ("basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", ("Aladdin", "open sesame"), "scheme-lower"),
    ("BASIC QWxhZGRpbjpvcGVuIHNlc2FtZQ==", ("Aladdin", "open sesame"), "scheme-upper"),
    ("bAsIc QWxhZGRpbjpvcGVuIHNlc2FtZQ==", ("Aladdin", "open sesame"), "scheme-mixed"),
    ("Basic    QWxhZGRpbjpvcGVuIHNlc2FtZQ==", ("Aladdin", "open sesame"), "many-spaces"),
    ("  Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\t ", ("Aladdin", "open sesame"), "surrounding-ows"),
    ("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ", ("Aladdin", "open sesame"), "padding-missing"),
    ("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=", ("Aladdin", "open sesame"), "padding-partial"),
    (basic(b"user:pa:ss:word"), ("user", "pa:ss:word"), "password-with-colons"),
    (basic(b"user:"), ("user", ""), "empty-password"),
    (basic(b"user::"), ("user", ":"), "password-is-colon"),
    (basic("us\u0085er:p\u009fw".encode()), ("us\u0085er", "p\u009fw"), "c1-accepted"),
    (basic("cafe\u0301:e\u0301".encode()), ("caf\u00e9", "\u00e9"), "nfc-both-parts"),
    (basic("\u212b:x".encode()), ("\u00c5", "x"), "nfc-angstrom-sign"),
    (basic(b"a b:c d"), ("a b", "c d"), "spaces-inside"),
]

REJECTED = [
    (None, "absent"),
    ("", "empty"),
    ("Basic", "scheme-only"),
    ("Basic ", "scheme-and-space"),
    ("Basic\tQWxhZGRpbjpvcGVuIHNlc2FtZQ==", "tab-separator"),
    ("BasicQWxhZGRpbjpvcGVuIHNlc2FtZQ==", "no-separator"),
    ("Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "bearer-scheme"),
    ("Digest QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "digest-scheme"),
    ("Basicx QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "scheme-prefix"),
    ("QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "token-only"),
    ("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==!", "invalid-char"),
    ("Basic QWxhZGRp bjpvcGVuIHNlc2FtZQ==", "space-inside-token"),
    ("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==  QQ==", "two-tokens"),
    ("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ-_", "base64url-alphabet"),
    ("Basic QWxh=ZGRpbjpvcGVuIHNlc2FtZQ==", "padding-in-middle"),
    ("Basic YTpiYw===", "excess-padding"),
    ("Basic YTpi=", "padding-on-full-quantum"),
    ("Basic YTpiY", "impossible-length"),
    ("Basic ====", "padding-only"),
    ("Basic realm=x", "auth-param-form"),
    (basic(b"nocolon"), "no-colon"),
    (basic(b":password"), "empty-user"),
    (basic(b":"), "colon-only"),
    (basic(b""), "empty-credentials"),
    (basic(b"us\x00er:pw"), "nul-in-user"),
    (basic(b"user:p\x00w"), "nul-in-password"),
    (basic(b"us\ner:pw"), "lf-in-user"),
    (basic(b"user:pw\r\n"), "crlf-in-password"),
    (basic(b"user:p\tw"), "tab-in-password"),
    (basic(b"user:p\x7fw"), "del-in-password"),
    (basic(b"user:p\x1fw"), "us-in-password"),
    ("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==é", "non-ascii-token"),
    ("Basic " + "QUFB" * (MAX_HEADER_LENGTH // 4), "over-8192"),
]


@pytest.mark.parametrize(
    ("value", "expected"), [a[:2] for a in ACCEPTED], ids=[a[2] for a in ACCEPTED]
)
def test_accepted(value: str, expected: tuple[str, str]) -> None:
    assert parse_authorization(value) == Credentials(*expected)


@pytest.mark.parametrize("value", [r[0] for r in REJECTED], ids=[r[1] for r in REJECTED])
def test_rejected(value: str | None) -> None:
    assert parse_authorization(value) is None


@pytest.mark.parametrize(
    "value",
    [b"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", 42, ["Basic"], object()],
    ids=["bytes", "int", "list", "object"],
)
def test_non_str_input_is_none(value: object) -> None:
    assert parse_authorization(value) is None


def test_length_limit_is_on_the_whole_value() -> None:
    token = base64.b64encode(b"u:" + b"p" * 6000).decode()
    value = "Basic " + token
    assert len(value) <= MAX_HEADER_LENGTH
    assert parse_authorization(value) == ("u", "p" * 6000)
    assert parse_authorization(value + " " * (MAX_HEADER_LENGTH - len(value) + 1)) is None


def test_credentials_is_a_named_tuple_of_str() -> None:
    creds = parse_authorization("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
    assert creds is not None
    assert (creds.username, creds.password) == ("Aladdin", "open sesame")
    user, password = creds
    assert isinstance(user, str) and isinstance(password, str)


@given(st.text())
@example("Basic " + "=" * 5)
@example("Basic \udcff")
def test_never_raises_on_any_text(value: str) -> None:
    result = parse_authorization(value)
    assert result is None or isinstance(result, Credentials)


@given(st.text(max_size=200))
def test_never_raises_on_any_basic_token(tail: str) -> None:
    result = parse_authorization("Basic " + tail)
    assert result is None or isinstance(result, Credentials)


_no_ctl = st.characters(
    blacklist_categories=("Cs",), blacklist_characters=[chr(c) for c in [*range(0x20), 0x7F]]
)


@given(
    st.text(_no_ctl, min_size=1).filter(lambda u: ":" not in u),
    st.text(_no_ctl),
)
def test_round_trips_every_valid_pair(username: str, password: str) -> None:
    username = unicodedata.normalize("NFC", username)
    password = unicodedata.normalize("NFC", password)
    value = basic(f"{username}:{password}".encode())
    if len(value) <= MAX_HEADER_LENGTH:
        assert parse_authorization(value) == (username, password)


@given(st.binary(max_size=100))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    result = parse_authorization(basic(raw))
    if result is not None:
        assert result.username and ":" not in result.username


QUOTED = [
    ("Restricted area", '"Restricted area"', "plain"),
    ('say "hi"', '"say \\"hi\\""', "double-quote"),
    ("back\\slash", '"back\\\\slash"', "backslash"),
    ("", '""', "empty"),
    ("Café", '"Café"', "latin-1"),
]


@pytest.mark.parametrize(("realm", "quoted"), [q[:2] for q in QUOTED], ids=[q[2] for q in QUOTED])
def test_quote_string(realm: str, quoted: str) -> None:
    assert quote_string(realm) == quoted


@pytest.mark.parametrize(
    "realm",
    ["a\r\nSet-Cookie: x=1", "tab\there", "nul\x00", "del\x7f", "c1\x85", "snow ☃"],
    ids=["crlf", "tab", "nul", "del", "c1", "non-latin-1"],
)
def test_quote_string_refuses_what_a_header_cannot_carry(realm: str) -> None:
    with pytest.raises(ValueError, match=r"control character|latin-1"):
        quote_string(realm)


def test_challenge_names_realm_and_charset() -> None:
    assert build_challenge('Staff "only"') == 'Basic realm="Staff \\"only\\"", charset="UTF-8"'


@pytest.mark.parametrize(
    ("value", "expected"),
    [(a[0], a[1]) for a in ACCEPTED] + [(r[0], None) for r in REJECTED if isinstance(r[0], str)],
    ids=[a[2] for a in ACCEPTED] + [r[1] for r in REJECTED if isinstance(r[0], str)],
)
def test_python_310_decoder_agrees(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: tuple[str, str] | None
) -> None:
    # Python 3.10's a2b_base64 has no strict_mode; the regex check stands in.
    from basicauth_wsgi import header

    monkeypatch.setattr(header, "_b64decode", header._b64decode_checked)
    assert parse_authorization(value) == expected
