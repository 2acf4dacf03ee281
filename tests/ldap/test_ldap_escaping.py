"""Escaping for filters (RFC 4515) and DNs (RFC 4514), and the templates they fill."""

from __future__ import annotations

import ldap.dn  # python-ldap, of the test extra: its own parser and escaping
import ldap.filter
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basicauth_wsgi.ldap import _check_filter, _Template, escape_dn_value, escape_filter_value

FILTER_CASES = [
    ("alice", "alice", "plain"),
    ("*", r"\2a", "star"),
    ("(", r"\28", "open"),
    (")", r"\29", "close"),
    ("\\", r"\5c", "backslash"),
    ("\x00", r"\00", "nul"),
    ("a*)(uid=*", r"a\2a\29\28uid=\2a", "injection"),
    ("jürgen", "jürgen", "utf-8 stays"),
    ("a\nb", r"a\0ab", "newline"),
]


@pytest.mark.parametrize(("value", "expected"), [c[:2] for c in FILTER_CASES],
                         ids=[c[2] for c in FILTER_CASES])  # fmt: skip
def test_filter_escaping(value: str, expected: str) -> None:
    assert escape_filter_value(value) == expected


DN_CASES = [
    ("alice", "alice", "plain"),
    ("a,b", r"a\,b", "comma"),
    ("a+cn=b", r"a\+cn\=b", "plus and equals"),
    ('"q"', r"\"q\"", "quotes"),
    ("a;b<c>d", r"a\;b\<c\>d", "semicolon and angles"),
    ("a\\b", r"a\\b", "backslash"),
    ("#x", r"\#x", "leading hash"),
    ("x#", "x#", "inner hash"),
    (" x ", r"\ x\ ", "outer spaces"),
    ("a b", "a b", "inner space"),
    (" ", r"\ ", "one space"),
    ("a\x00b", r"a\00b", "nul"),
    ("jürgen", "jürgen", "utf-8 stays"),
]


@pytest.mark.parametrize(("value", "expected"), [c[:2] for c in DN_CASES],
                         ids=[c[2] for c in DN_CASES])  # fmt: skip
def test_dn_escaping(value: str, expected: str) -> None:
    assert escape_dn_value(value) == expected


@given(st.text(min_size=1, max_size=40))
def test_an_escaped_dn_value_parses_back_as_one_value(value: str) -> None:
    # python-ldap's own parser (libldap's ldap_str2dn) reads our escaping
    # back as exactly one RDN of one attribute holding exactly the value.
    rdns = ldap.dn.str2dn(f"uid={escape_dn_value(value)},ou=people,dc=example,dc=org")
    assert len(rdns) == 4
    [(attribute, parsed, _)] = rdns[0]
    assert (attribute, parsed) == ("uid", value)


@given(st.text(max_size=40))
def test_an_escaped_filter_value_has_no_special_character_left(value: str) -> None:
    escaped = escape_filter_value(value)
    assert not set(escaped) & set("*()\x00")
    # Every backslash starts one of our two-hex-digit escapes.
    assert all(escaped[i + 1 : i + 3].isalnum() for i, c in enumerate(escaped) if c == "\\")


#: Text with the characters that matter to a filter, and no other control character.
FILTER_TEXT = st.text(
    alphabet=st.one_of(st.sampled_from("*()\\\x00="), st.characters(blacklist_categories=["Cc"])),
    max_size=40,
)


@given(FILTER_TEXT)
def test_filter_escaping_agrees_with_python_ldap(value: str) -> None:
    # python-ldap escapes the five characters of RFC 4515 §3 as we do (we
    # escape the other control characters too, which it leaves alone).
    assert escape_filter_value(value) == ldap.filter.escape_filter_chars(value)


BAD_TEMPLATES = [
    ("(uid=x)", "must contain {username}", "no placeholder"),
    ("(uid={user})", "unknown placeholder", "wrong name"),
    ("(uid={username}", "not one parenthesised", "unbalanced"),
    ("uid={username}", "not one parenthesised", "no parentheses"),
    ("(uid={username})(cn=x)", "not one parenthesised", "two filters"),
    ("(uid={username}})", "brace", "stray brace"),
]


@pytest.mark.parametrize(("text", "message"), [b[:2] for b in BAD_TEMPLATES],
                         ids=[b[2] for b in BAD_TEMPLATES])  # fmt: skip
def test_bad_filter_templates_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        template = _Template("search_filter", text, ("username",))
        _check_filter("search_filter", template)


def test_a_template_is_filled_in_one_pass() -> None:
    template = _Template("search_filter", "(uid={username})", ("username",))
    # A value that spells a placeholder is text, not a second round of filling.
    assert template.fill(username="{username}") == "(uid={username})"
