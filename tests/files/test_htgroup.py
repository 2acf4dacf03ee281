"""Group files: parse_htgroup and HtgroupFile, loading and reloading (SPEC §6)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
from helpers import Recorder, auth, make

from basicauth_wsgi import BasicAuth
from basicauth_wsgi.htpasswd import HtgroupFile, parse_htgroup
from basicauth_wsgi.rules import Rule

PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "jürgen": "pässwörd"}
ADMIN_DELETE = Rule("/api/v1/subscribers/", methods=["DELETE"], groups=["admin"])
SUBSCRIBER = "/api/v1/subscribers/1"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- parse_htgroup ----------------------------------------------------------

HTGROUP = [
    (b"admin: alice bob\n", {"admin": {"alice", "bob"}}, "one-line"),
    (b"admin: alice bob", {"admin": {"alice", "bob"}}, "no-final-newline"),
    (b"admin: alice\r\nops: carol\r\n", {"admin": {"alice"}, "ops": {"carol"}}, "crlf"),
    (b"admin:\talice\t\tbob \n", {"admin": {"alice", "bob"}}, "tabs"),
    (b"admin:alice", {"admin": {"alice"}}, "no-space"),
    (b"  admin  :  alice  \n", {"admin": {"alice"}}, "padded"),
    (b"# groups\n\n   \nadmin: alice\n  # indented\n", {"admin": {"alice"}}, "comments-blanks"),
    (
        b"admin: alice\nops: bob\nadmin: carol\n",
        {"admin": {"alice", "carol"}, "ops": {"bob"}},
        "merge",
    ),
    (b"admin: alice alice\n", {"admin": {"alice"}}, "duplicate-member"),
    (b"empty:\n", {"empty": set()}, "empty-group"),
    (b"admin: j\xfcrgen\n", {"admin": {"j\u00fcrgen"}}, "latin1-line"),
    ("admin: jürgen\n".encode(), {"admin": {"j\u00fcrgen"}}, "utf8-line"),
    ("admin: ju\u0308rgen\n".encode(), {"admin": {"j\u00fcrgen"}}, "utf8-decomposed-to-nfc"),
    (b"a: j\xfcrgen\nb: \xc3\xbc\n", {"a": {"j\u00fcrgen"}, "b": {"\u00fc"}}, "latin1-per-line"),
    (b"", {}, "empty-file"),
]


@pytest.mark.parametrize(
    ("data", "expected"), [h[:2] for h in HTGROUP], ids=[h[2] for h in HTGROUP]
)
def test_parse_htgroup(data: bytes, expected: dict[str, set[str]]) -> None:
    assert parse_htgroup(data, "groups") == {g: frozenset(m) for g, m in expected.items()}


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"admin alice bob\n", 1),
        (b"admin: alice\n\n# ok\nops carol\n", 4),
        (b"admin: alice\n: bob\n", 2),
        (b"admin: alice\r\n   :\r\n", 2),
    ],
    ids=["no-colon", "later-line", "no-group-name", "crlf-no-group-name"],
)
def test_parse_htgroup_refuses_malformed_lines(data: bytes, line: int) -> None:
    with pytest.raises(ValueError, match=rf"^/etc/groups, line {line}: expected 'group: user"):
        parse_htgroup(data, "/etc/groups")


# -- HtgroupFile ------------------------------------------------------------


def test_htgroup_file_loads(tmp_path: Path) -> None:
    path = write(tmp_path / "groups", "# staff\nadmin: alice bob\n\nops: carol\nadmin: dave\n")
    groups = HtgroupFile(path)
    assert groups.members("admin") == {"alice", "bob", "dave"}
    assert groups.members("ops") == {"carol"}
    assert groups.members("nobody") == frozenset()
    assert "admin" in groups and "nobody" not in groups
    assert groups.path == str(path)
    assert "2 groups" in repr(groups)


def test_malformed_htgroup_file_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "groups", "admin: alice\nops carol\n")
    with pytest.raises(ValueError, match="groups, line 2") as excinfo:
        HtgroupFile(path)
    assert str(path) in str(excinfo.value)


def test_missing_htgroup_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "nope"
    with pytest.raises(ValueError, match="cannot be read") as excinfo:
        HtgroupFile(path)
    assert str(path) in str(excinfo.value)


def test_htgroup_rewrite_in_place_is_picked_up(tmp_path: Path) -> None:
    path = write(tmp_path / "groups", "admin: alice\n")
    groups = HtgroupFile(path, check_interval=60)
    write(path, "admin: alice bob\n")
    assert groups.members("admin") == {"alice"}  # not checked yet
    groups.refresh()
    assert groups.members("admin") == {"alice", "bob"}


def test_htgroup_replacement_by_rename_is_picked_up(tmp_path: Path) -> None:
    path = write(tmp_path / "groups", "admin: alice\n")
    groups = HtgroupFile(path, check_interval=60)
    os.replace(write(tmp_path / "groups.new", "admin: bob\n"), path)
    groups.refresh()
    assert groups.members("admin") == {"bob"}


def test_broken_htgroup_edit_keeps_the_last_good_groups(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "groups", "admin: alice\n")
    groups = HtgroupFile(path, check_interval=60)
    write(path, "admin: alice bob\nops carol\n")
    with caplog.at_level(logging.ERROR, logger="basicauth_wsgi"):
        for _ in range(5):
            groups.refresh()
            assert groups.members("admin") == {"alice"}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1  # once, not once per check
    assert "line 2" in errors[0].getMessage()
    assert "keeping the last good version" in errors[0].getMessage()
    write(path, "admin: bob\n")
    groups.refresh()
    assert groups.members("admin") == {"bob"}


def test_deleted_htgroup_file_keeps_the_last_good_groups(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "groups", "admin: alice\n")
    groups = HtgroupFile(path, check_interval=60)
    path.unlink()
    with caplog.at_level(logging.ERROR, logger="basicauth_wsgi"):
        for _ in range(3):
            groups.refresh()
            assert groups.members("admin") == {"alice"}
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1


def test_htgroup_reload_false_never_rereads(tmp_path: Path) -> None:
    path = write(tmp_path / "groups", "admin: alice\n")
    groups = HtgroupFile(path, reload=False)
    write(path, "admin: bob\n")
    groups.refresh()
    assert groups.members("admin") == {"alice"}


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"reload": "yes"}, TypeError, "reload"),
        ({"check_interval": 0}, ValueError, "check_interval"),
        ({"check_interval": 61}, ValueError, "check_interval"),
    ],
    ids=["reload-str", "interval-zero", "interval-too-long"],
)
def test_bad_htgroup_options(
    tmp_path: Path, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    path = write(tmp_path / "groups", "admin: alice\n")
    with pytest.raises(error, match=match):
        HtgroupFile(path, **options)


def test_htgroup_file_through_the_middleware(tmp_path: Path, inner: Recorder) -> None:
    path = write(tmp_path / "groups", "admin: alice bob\n")
    watched = HtgroupFile(path, check_interval=60)
    app = make(inner, PASSWORDS, rules=(ADMIN_DELETE,), groups=watched)
    app.delete(SUBSCRIBER, headers=auth("alice"), status=200)
    app.delete(SUBSCRIBER, headers=auth("bob"), status=200)
    app.delete(SUBSCRIBER, headers=auth("jürgen"), status=403)
    write(path, "# alice left the team\nadmin: bob\n")
    app.delete(SUBSCRIBER, headers=auth("alice"), status=200)  # not checked yet
    watched.refresh()
    app.delete(SUBSCRIBER, headers=auth("alice"), status=403)
    app.delete(SUBSCRIBER, headers=auth("bob"), status=200)


def test_group_removed_from_the_file_refuses_everyone(tmp_path: Path, inner: Recorder) -> None:
    path = write(tmp_path / "groups", "admin: alice\n")
    watched = HtgroupFile(path, check_interval=60)
    app = make(inner, PASSWORDS, rules=(ADMIN_DELETE,), groups=watched)
    write(path, "ops: alice\n")
    watched.refresh()
    app.delete(SUBSCRIBER, headers=auth("alice"), status=403)


def test_rules_naming_a_group_missing_from_the_file_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "groups", "ops: alice\n")
    with pytest.raises(ValueError, match=r"do not exist: \['admin'\]"):
        BasicAuth(Recorder(), PASSWORDS, rules=[ADMIN_DELETE], groups=HtgroupFile(path))


def test_a_rule_for_a_public_path_is_refused() -> None:
    with pytest.raises(ValueError, match="public path"):
        BasicAuth(
            Recorder(), PASSWORDS, exclude=["/health"], rules=[Rule("/health", users=["alice"])]
        )
    with pytest.raises(ValueError, match="public path"):
        BasicAuth(
            Recorder(), PASSWORDS, exclude=["/static/"], rules=[Rule("/static/x", users=["a"])]
        )


def test_a_byte_order_mark_is_not_part_of_the_first_group() -> None:
    assert parse_htgroup(b"\xef\xbb\xbfadmin: alice\n", "g") == {"admin": frozenset({"alice"})}


def test_htgroup_file_names_a_users_groups_and_follows_reloads(tmp_path: Path) -> None:
    # For forward-auth's Remote-Groups: one lookup, kept per version.
    path = write(tmp_path / "groups", "admin: alice\nops: alice bob\n")
    groups = HtgroupFile(path, check_interval=60)
    assert groups.groups_of("alice") == {"admin", "ops"}
    assert groups.groups_of("bob") == {"ops"}
    assert groups.groups_of("carol") == frozenset()
    write(path, "ops: bob carol\n")
    groups.refresh()
    assert groups.groups_of("alice") == frozenset()
    assert groups.groups_of("carol") == {"ops"}
