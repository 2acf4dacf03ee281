"""Rule, groups and HtgroupFile: who may do what once authenticated (SPEC §6)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from helpers import CLIENT, Clock, Recorder, auth, basic, call, make

from basicauth_wsgi import BasicAuth
from basicauth_wsgi.rules import HtgroupFile, Rule, parse_htgroup
from basicauth_wsgi.throttle import Throttle

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "jürgen": "pässwörd"}
GROUPS = {"admin": ["alice"]}
ADMIN_DELETE = Rule("/api/v1/subscribers/", methods=["DELETE"], groups=["admin"])
SUBSCRIBER = "/api/v1/subscribers/1"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- the rule of the example API --------------------------------------------


def test_group_member_may_delete(inner: Recorder) -> None:
    make(inner, PASSWORDS, rules=(ADMIN_DELETE,), groups=GROUPS).delete(
        SUBSCRIBER, headers=auth("alice"), status=200
    )
    assert inner.calls[0]["REMOTE_USER"] == "alice"
    assert inner.calls[0]["REQUEST_METHOD"] == "DELETE"


def test_others_get_403_without_a_challenge(inner: Recorder) -> None:
    res = make(inner, PASSWORDS, rules=(ADMIN_DELETE,), groups=GROUPS).delete(
        SUBSCRIBER, headers={**auth("bob"), "Accept": "application/json"}, status=403
    )
    assert res.json["error"] == "forbidden"
    assert res.json["message"]
    assert set(res.json) == {"error", "message"}
    assert "WWW-Authenticate" not in res.headers
    assert res.headers["Cache-Control"] == "no-store"
    assert inner.calls == []


def test_403_body_is_plain_text_for_curl(inner: Recorder) -> None:
    res = make(inner, PASSWORDS, rules=(ADMIN_DELETE,), groups=GROUPS).delete(
        SUBSCRIBER, headers={**auth("bob"), "Accept": "*/*"}, status=403
    )
    assert res.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert res.text.startswith("403 Forbidden: ")
    assert "WWW-Authenticate" not in res.headers


def test_rule_does_not_cover_other_methods(inner: Recorder) -> None:
    app = make(inner, PASSWORDS, rules=(ADMIN_DELETE,), groups=GROUPS)
    res = app.get(SUBSCRIBER, headers=auth("bob"), status=200)
    assert res.json["remote_user"] == "bob"
    app.post(SUBSCRIBER, params=b"", headers=auth("bob"), status=200)


def test_rules_apply_only_after_authentication(inner: Recorder) -> None:
    app = make(inner, PASSWORDS, rules=(ADMIN_DELETE,), groups=GROUPS)
    res = app.delete(SUBSCRIBER, status=401)
    assert "WWW-Authenticate" in res.headers
    app.delete(SUBSCRIBER, headers={"Authorization": basic("alice", "wrong")}, status=401)
    assert inner.calls == []


# -- which rule decides -----------------------------------------------------


PERMISSIVE_FIRST = [
    Rule("/api/v1/subscribers/", users=["bob"]),
    Rule("/api/v1/", groups=["admin"]),
]
RESTRICTIVE_FIRST = list(reversed(PERMISSIVE_FIRST))

ORDER = [
    (PERMISSIVE_FIRST, "bob", SUBSCRIBER, 200, "permissive-first-lets-bob-in"),
    (PERMISSIVE_FIRST, "alice", SUBSCRIBER, 403, "permissive-first-decides-for-alice-too"),
    (PERMISSIVE_FIRST, "bob", "/api/v1/private", 403, "second-rule-for-the-rest"),
    (PERMISSIVE_FIRST, "alice", "/api/v1/private", 200, "second-rule-lets-admin-in"),
    (RESTRICTIVE_FIRST, "bob", SUBSCRIBER, 403, "restrictive-first-refuses-bob"),
    (RESTRICTIVE_FIRST, "alice", SUBSCRIBER, 200, "restrictive-first-lets-admin-in"),
    (PERMISSIVE_FIRST, "bob", "/health", 200, "no-rule-matches"),
    (RESTRICTIVE_FIRST, "bob", "/api/v2/x", 200, "no-rule-matches-sibling"),
]


@pytest.mark.parametrize(
    ("rules", "user", "path", "status"),
    [o[:4] for o in ORDER],
    ids=[o[4] for o in ORDER],
)
def test_first_matching_rule_decides(
    inner: Recorder, rules: list[Rule], user: str, path: str, status: int
) -> None:
    make(inner, PASSWORDS, rules=rules, groups=GROUPS).get(path, headers=auth(user), status=status)
    assert len(inner.calls) == (status == 200)


def test_rule_without_users_or_groups_allows_any_authenticated_user(inner: Recorder) -> None:
    app = make(inner, PASSWORDS, rules=[Rule("/reports/")], groups=None)
    for user in PASSWORDS:
        app.get("/reports/q1", headers=auth(user), status=200)
    app.get("/reports/q1", status=401)


def test_users_alone(inner: Recorder) -> None:
    app = make(inner, PASSWORDS, rules=[Rule("/reports/", users=["bob"])], groups=None)
    app.get("/reports/q1", headers=auth("bob"), status=200)
    app.get("/reports/q1", headers=auth("alice"), status=403)


def test_users_and_groups_together(inner: Recorder) -> None:
    app = make(
        inner, PASSWORDS, rules=[Rule("/reports/", users=["bob"], groups=["admin"])], groups=GROUPS
    )
    app.get("/reports/q1", headers=auth("bob"), status=200)
    app.get("/reports/q1", headers=auth("alice"), status=200)
    app.get("/reports/q1", headers=auth("jürgen"), status=403)


def test_empty_group_refuses_everyone(inner: Recorder) -> None:
    app = make(
        inner, PASSWORDS, rules=[Rule("/reports/", groups=["auditors"])], groups={"auditors": []}
    )
    for user in PASSWORDS:
        app.get("/reports/q1", headers=auth(user), status=403)


NFC = [
    ({"users": ["j\u00fcrgen"]}, None, "ju\u0308rgen", "rule-composed-login-decomposed"),
    ({"users": ["ju\u0308rgen"]}, None, "j\u00fcrgen", "rule-decomposed-login-composed"),
    ({"groups": ["ops"]}, {"ops": ["ju\u0308rgen"]}, "j\u00fcrgen", "group-decomposed"),
]


@pytest.mark.parametrize(("rule", "groups", "login"), [n[:3] for n in NFC], ids=[n[3] for n in NFC])
def test_usernames_are_compared_after_nfc(
    inner: Recorder, rule: dict[str, list[str]], groups: object, login: str
) -> None:
    app = make(inner, PASSWORDS, rules=[Rule("/x/", **rule)], groups=groups)  # type: ignore[arg-type]
    headers = {"Authorization": basic(login, "pässwörd")}
    res = app.get("/x/1", headers=headers, status=200)
    assert res.json["remote_user"] == "j\u00fcrgen"
    app.get("/x/1", headers=auth("bob"), status=403)


# -- methods ----------------------------------------------------------------


def test_get_covers_head(inner: Recorder) -> None:
    app = make(inner, PASSWORDS, rules=[Rule("/x/", methods=["GET"], users=["alice"])], groups=None)
    app.head("/x/1", headers=auth("bob"), status=403)
    app.get("/x/1", headers=auth("bob"), status=403)
    app.post("/x/1", params=b"", headers=auth("bob"), status=200)
    app.head("/x/1", headers=auth("alice"), status=200)


def test_head_does_not_cover_get(inner: Recorder) -> None:
    app = make(
        inner, PASSWORDS, rules=[Rule("/x/", methods=["HEAD"], users=["alice"])], groups=None
    )
    app.head("/x/1", headers=auth("bob"), status=403)
    app.get("/x/1", headers=auth("bob"), status=200)


def test_rule_method_names_are_upper_cased() -> None:
    rule = Rule("/x/", methods=["delete", "Put"])
    assert rule.methods == frozenset({"DELETE", "PUT"})
    assert Rule("/x/", methods=["get"]).methods == frozenset({"GET", "HEAD"})
    assert rule.matches("/x/1", "DELETE")


def test_lower_case_rule_methods_apply(inner: Recorder) -> None:
    app = make(
        inner, PASSWORDS, rules=[Rule("/x/", methods=["delete"], users=["alice"])], groups=None
    )
    app.delete("/x/1", headers=auth("bob"), status=403)
    app.delete("/x/1", headers=auth("alice"), status=200)


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_omitted_methods_match_every_method(inner: Recorder, method: str) -> None:
    app = BasicAuth(inner, PASSWORDS, rules=[Rule("/x/", users=["alice"])])
    status, headers, _ = call(
        app, "/x/1", REQUEST_METHOD=method, HTTP_AUTHORIZATION=basic("bob", "bob-pw")
    )
    assert status == "403 Forbidden"
    assert "WWW-Authenticate" not in dict(headers)
    assert inner.calls == []


def flask_api() -> tuple[Any, list[int]]:
    """A Flask app with a DELETE route: werkzeug upper-cases REQUEST_METHOD."""
    flask = pytest.importorskip("flask")
    api = flask.Flask("rules-test")
    deleted: list[int] = []

    @api.route("/api/v1/subscribers/<int:sid>", methods=["GET", "DELETE"])
    def subscriber(sid: int) -> Any:
        if flask.request.method == "DELETE":
            deleted.append(sid)
            return {"deleted": sid}
        return {"id": sid}

    return api, deleted


def test_flask_delete_is_refused_to_non_admins() -> None:
    api, deleted = flask_api()
    app = BasicAuth(api, PASSWORDS, rules=[ADMIN_DELETE], groups=GROUPS)
    status, _, _ = call(
        app, SUBSCRIBER, REQUEST_METHOD="DELETE", HTTP_AUTHORIZATION=basic("bob", "bob-pw")
    )
    assert status == "403 Forbidden"
    status, _, _ = call(
        app, SUBSCRIBER, REQUEST_METHOD="DELETE", HTTP_AUTHORIZATION=basic("alice", "alice-pw")
    )
    assert status == "200 OK"
    assert deleted == [1]


@pytest.mark.filterwarnings("ignore:Unknown REQUEST_METHOD")
@pytest.mark.parametrize("method", ["delete", "Delete"])
def test_no_spelling_of_a_ruled_method_escapes_the_rule(method: str) -> None:
    api, deleted = flask_api()
    app = BasicAuth(api, PASSWORDS, rules=[ADMIN_DELETE], groups=GROUPS)
    status, _, _ = call(
        app, SUBSCRIBER, REQUEST_METHOD=method, HTTP_AUTHORIZATION=basic("bob", "bob-pw")
    )
    assert deleted == []
    assert status == "403 Forbidden"


# -- paths ------------------------------------------------------------------

PATHS = [
    ("/admin", "/admin", True, "exact"),
    ("/admin", "/admin/", False, "exact-not-slash"),
    ("/admin", "/adminx", False, "exact-not-prefix"),
    ("/admin", "/admin/x", False, "exact-not-below"),
    ("/admin", "/Admin", False, "case-sensitive"),
    ("/admin", "/admin;x", True, "exact-with-params"),
    ("/admin", "/x/../admin", True, "exact-via-dotdot"),
    ("/reports/", "/reports/", True, "subtree-root"),
    ("/reports/", "/reports/2024/q1", True, "subtree-child"),
    ("/reports/", "/reports", False, "subtree-not-bare"),
    ("/reports/", "/reportsx/a", False, "subtree-not-sibling"),
    ("/", "/anything", True, "root-subtree-is-everything"),
]


@pytest.mark.parametrize(
    ("pattern", "path", "ruled"), [p[:3] for p in PATHS], ids=[p[3] for p in PATHS]
)
def test_rule_paths_have_the_exclude_syntax(
    inner: Recorder, pattern: str, path: str, ruled: bool
) -> None:
    app = BasicAuth(inner, PASSWORDS, rules=[Rule(pattern, users=["alice"])])
    status, _, _ = call(app, path, HTTP_AUTHORIZATION=basic("bob", "bob-pw"))
    assert status == ("403 Forbidden" if ruled else "200 OK")
    status, _, _ = call(app, path, HTTP_AUTHORIZATION=basic("alice", "alice-pw"))
    assert status == "200 OK"


# Every way a server could hand the app bob's DELETE of a subscriber. Each
# path arrives as PATH_INFO, i.e. after the server's percent-decoding.
SPELLINGS = [
    (SUBSCRIBER, "", "plain"),
    ("/api/v1/subscribers/../subscribers/1", "", "dotdot-inside"),
    ("/api/v1/subscribers/./1", "", "dot-inside"),
    ("//api/v1/subscribers/1", "", "double-slash"),
    ("/api//v1///subscribers/1", "", "inner-slashes"),
    ("/x/../api/v1/subscribers/1", "", "dotdot-from-elsewhere"),
    ("/x/..;/api/v1/subscribers/1", "", "tomcat-params"),
    ("/x/..;jsessionid=1/api/v1/subscribers/1", "", "tomcat-params-value"),
    ("/api/v1/subscribers/%2e%2e/subscribers/1", "", "encoded-dotdot-inside"),
    ("/x/%2e%2e/api/v1/subscribers/1", "", "encoded-dotdot-from-elsewhere"),
    ("/x/%2E%2e/api/v1/subscribers/1", "", "encoded-dotdot-mixed-case"),
    ("/x/.%2e/api/v1/subscribers/1", "", "half-encoded-dotdot"),
    ("/api/v1/subscribers;x/1", "", "params-on-the-folder"),
    ("/api;x/v1/subscribers/1", "", "params-higher-up"),
    ("/v1/subscribers/1", "/api", "script-name-split"),
    ("/1", "/api/v1/subscribers", "script-name-is-the-folder"),
    ("", SUBSCRIBER, "script-name-only"),
    ("/api/v1/subscribers/1", "/x/..", "script-name-dotdot"),
    ("/../api/v1/subscribers/1", "/x", "path-info-climbs-out-of-script-name"),
    ("/%2e%2e/api/v1/subscribers/1", "/x", "path-info-encoded-climb"),
]


@pytest.mark.parametrize(
    ("path_info", "script_name"), [s[:2] for s in SPELLINGS], ids=[s[2] for s in SPELLINGS]
)
def test_no_spelling_of_a_ruled_path_escapes_the_rule(
    inner: Recorder, path_info: str, script_name: str
) -> None:
    app = BasicAuth(inner, PASSWORDS, rules=[ADMIN_DELETE], groups=GROUPS)
    status, headers, _ = call(
        app,
        path_info,
        SCRIPT_NAME=script_name,
        REQUEST_METHOD="DELETE",
        HTTP_AUTHORIZATION=basic("bob", "bob-pw"),
    )
    assert status == "403 Forbidden"
    assert "WWW-Authenticate" not in dict(headers)
    assert inner.calls == []
    # The same spelling from an admin goes through: the 403 is the rule's.
    status, _, _ = call(
        app,
        path_info,
        SCRIPT_NAME=script_name,
        REQUEST_METHOD="DELETE",
        HTTP_AUTHORIZATION=basic("alice", "alice-pw"),
    )
    assert status == "200 OK"
    assert inner.calls[0]["PATH_INFO"] == path_info


def test_a_permissive_reading_does_not_outvote_a_restrictive_one(inner: Recorder) -> None:
    # The literal path falls under the open rule, the normalised one under
    # the admin rule: every reading must allow the request.
    rules = [Rule("/public/"), Rule("/api/v1/subscribers/", groups=["admin"])]
    app = BasicAuth(inner, PASSWORDS, rules=rules, groups=GROUPS)
    bob = basic("bob", "bob-pw")
    status, _, _ = call(app, "/public/../api/v1/subscribers/1", HTTP_AUTHORIZATION=bob)
    assert status == "403 Forbidden"
    status, _, _ = call(app, "/public/x", HTTP_AUTHORIZATION=bob)
    assert status == "200 OK"


# -- 403 is not a failure ---------------------------------------------------


def test_403_is_not_a_throttle_failure(inner: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    throttle = Throttle(per_client=20, per_user=20, clock=Clock())
    app = make(inner, PASSWORDS, rules=(ADMIN_DELETE,), groups=GROUPS, throttle=throttle)
    with caplog.at_level(logging.DEBUG, logger="basicauth_wsgi"):
        for _ in range(30):
            app.delete(SUBSCRIBER, headers=auth("bob"), status=403)
    assert throttle.check_client(CLIENT) is None
    assert throttle.check_user(CLIENT, "bob") is None
    app.get(SUBSCRIBER, headers=auth("bob"), status=200)
    messages = [r.getMessage() for r in caplog.records]
    assert (
        messages
        == [
            "authorization refused: user='bob' client=192.0.2.10 method=DELETE "
            "path=/api/v1/subscribers/1"
        ]
        * 30
    )
    assert all(r.levelno == logging.WARNING for r in caplog.records)


def test_refusal_log_escapes_user_and_path(
    inner: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    app = BasicAuth(inner, {"b\u2028ob": "pw"}, rules=[Rule("/x/", users=["alice"])])
    with caplog.at_level(logging.WARNING, logger="basicauth_wsgi"):
        status, _, _ = call(app, "/x/a\r\nforged", HTTP_AUTHORIZATION=basic("b\u2028ob", "pw"))
    assert status == "403 Forbidden"
    [record] = caplog.records
    assert record.getMessage() == (
        "authorization refused: user='b\\u2028ob' client=192.0.2.10 method=GET "
        "path=/x/a%0D%0Aforged"
    )


def test_refused_request_is_stripped_of_its_credentials() -> None:
    seen: list[dict[str, Any]] = []

    def render(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        seen.append(dict(environ))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    app = BasicAuth(render, PASSWORDS, rules=[ADMIN_DELETE], groups=GROUPS)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "DELETE",
        "PATH_INFO": SUBSCRIBER,
        "HTTP_AUTHORIZATION": basic("bob", "bob-pw"),
    }
    app(environ, lambda status, headers, exc_info=None: lambda data: None)
    assert "HTTP_AUTHORIZATION" not in environ
    assert seen == []


# -- construction -----------------------------------------------------------


BAD_RULES = [
    (lambda: Rule("api/v1/"), ValueError, "must start with '/'", "relative-path"),
    (lambda: Rule("/a/../b"), ValueError, "not a normalised path", "dotdot-path"),
    (lambda: Rule("/a//b"), ValueError, "not a normalised path", "double-slash-path"),
    (lambda: Rule("/a/./b"), ValueError, "not a normalised path", "dot-path"),
    (lambda: Rule("/a;b"), ValueError, "';'", "params-path"),
    (lambda: Rule("/a\nb"), ValueError, "control character", "control-path"),
    (lambda: Rule(b"/a"), TypeError, "path", "bytes-path"),  # type: ignore[arg-type]
    (lambda: Rule("/a", methods=[]), ValueError, "empty", "no-methods"),
    (lambda: Rule("/a", methods=["GET POST"]), ValueError, "not an HTTP method", "method-space"),
    (lambda: Rule("/a", methods=["DÉLETE"]), ValueError, "not an HTTP method", "method-non-ascii"),
    (lambda: Rule("/a", methods=["GET/"]), ValueError, "not an HTTP method", "method-separator"),
    (lambda: Rule("/a", methods="DELETE"), TypeError, "single string", "methods-str"),
    (lambda: Rule("/a", methods=[None]), TypeError, "methods", "method-none"),  # type: ignore[list-item]
    (lambda: Rule("/a", users="alice"), TypeError, "single string", "users-str"),
    (lambda: Rule("/a", users=[1]), TypeError, "users", "users-int"),  # type: ignore[list-item]
    (lambda: Rule("/a", users=[""]), ValueError, "empty name", "users-empty-name"),
    (lambda: Rule("/a", users=[]), ValueError, "omit both", "users-empty-list"),
    (lambda: Rule("/a", users=[], groups=[]), ValueError, "omit both", "both-empty-lists"),
    (lambda: Rule("/a", groups="admin"), TypeError, "single string", "groups-str"),
]


@pytest.mark.parametrize(
    ("build", "error", "match"), [b[:3] for b in BAD_RULES], ids=[b[3] for b in BAD_RULES]
)
def test_bad_rules_are_refused(build: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        build()


BAD_OPTIONS = [
    (
        {"rules": [ADMIN_DELETE]},
        ValueError,
        r"groups \['admin'\] but no groups were given",
        "group-without-groups",
    ),
    (
        {"rules": [ADMIN_DELETE, Rule("/x", groups=["ops", "audit"])], "groups": GROUPS},
        ValueError,
        r"do not exist: \['audit', 'ops'\]",
        "unknown-groups-listed",
    ),
    ({"rules": ADMIN_DELETE, "groups": GROUPS}, TypeError, "rules", "rules-not-a-list"),
    ({"rules": "/admin"}, TypeError, "rules", "rules-str"),
    ({"rules": ["/admin"]}, TypeError, "rules", "rules-of-str"),
    ({"rules": [ADMIN_DELETE], "groups": {"admin": "alice"}}, TypeError, "admin", "members-str"),
    (
        {"rules": [ADMIN_DELETE], "groups": {"admin": ["alice", 7]}},
        TypeError,
        "admin",
        "member-int",
    ),
    (
        {"rules": [ADMIN_DELETE], "groups": {"": ["alice"]}},
        ValueError,
        "groups",
        "group-empty-name",
    ),
    ({"rules": [ADMIN_DELETE], "groups": "admin"}, TypeError, "groups", "groups-str"),
    ({"rules": [ADMIN_DELETE], "groups": ["admin"]}, TypeError, "groups", "groups-list"),
]


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [b[:3] for b in BAD_OPTIONS],
    ids=[b[3] for b in BAD_OPTIONS],
)
def test_bad_rule_options_name_themselves(
    inner: Recorder, options: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        BasicAuth(inner, PASSWORDS, **options)


def test_rules_accept_any_iterable(inner: Recorder) -> None:
    app = BasicAuth(inner, PASSWORDS, rules=(r for r in [ADMIN_DELETE]), groups=GROUPS)
    status, _, _ = call(
        app, SUBSCRIBER, REQUEST_METHOD="DELETE", HTTP_AUTHORIZATION=basic("bob", "bob-pw")
    )
    assert status == "403 Forbidden"


def test_rule_repr_shows_what_it_covers() -> None:
    assert repr(ADMIN_DELETE) == (
        "Rule('/api/v1/subscribers/', methods=['DELETE'], groups=['admin'])"
    )
    assert repr(Rule("/x", users=["b", "a"])) == "Rule('/x', users=['a', 'b'])"


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
    clock = Clock()
    path = write(tmp_path / "groups", "admin: alice\n")
    groups = HtgroupFile(path, check_interval=1.0, clock=clock)
    write(path, "admin: alice bob\n")
    clock.now += 0.5
    assert groups.members("admin") == {"alice"}  # not checked yet
    clock.now += 0.5
    assert groups.members("admin") == {"alice", "bob"}


def test_htgroup_replacement_by_rename_is_picked_up(tmp_path: Path) -> None:
    clock = Clock()
    path = write(tmp_path / "groups", "admin: alice\n")
    groups = HtgroupFile(path, clock=clock)
    os.replace(write(tmp_path / "groups.new", "admin: bob\n"), path)
    clock.now += 1
    assert groups.members("admin") == {"bob"}


def test_broken_htgroup_edit_keeps_the_last_good_groups(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    path = write(tmp_path / "groups", "admin: alice\n")
    groups = HtgroupFile(path, clock=clock)
    write(path, "admin: alice bob\nops carol\n")
    with caplog.at_level(logging.ERROR, logger="basicauth_wsgi"):
        for _ in range(5):
            clock.now += 1
            assert groups.members("admin") == {"alice"}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1  # once, not once per check
    assert "line 2" in errors[0].getMessage()
    assert "keeping the last good version" in errors[0].getMessage()
    write(path, "admin: bob\n")
    clock.now += 1
    assert groups.members("admin") == {"bob"}


def test_deleted_htgroup_file_keeps_the_last_good_groups(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    path = write(tmp_path / "groups", "admin: alice\n")
    groups = HtgroupFile(path, clock=clock)
    path.unlink()
    with caplog.at_level(logging.ERROR, logger="basicauth_wsgi"):
        for _ in range(3):
            clock.now += 1
            assert groups.members("admin") == {"alice"}
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1


def test_htgroup_reload_false_never_rereads(tmp_path: Path) -> None:
    clock = Clock()
    path = write(tmp_path / "groups", "admin: alice\n")
    groups = HtgroupFile(path, reload=False, clock=clock)
    write(path, "admin: bob\n")
    clock.now += 3600
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
    clock = Clock()
    path = write(tmp_path / "groups", "admin: alice bob\n")
    app = make(inner, PASSWORDS, rules=(ADMIN_DELETE,), groups=HtgroupFile(path, clock=clock))
    app.delete(SUBSCRIBER, headers=auth("alice"), status=200)
    app.delete(SUBSCRIBER, headers=auth("bob"), status=200)
    app.delete(SUBSCRIBER, headers=auth("jürgen"), status=403)
    write(path, "# alice left the team\nadmin: bob\n")
    app.delete(SUBSCRIBER, headers=auth("alice"), status=200)  # not checked yet
    clock.now += 1
    app.delete(SUBSCRIBER, headers=auth("alice"), status=403)
    app.delete(SUBSCRIBER, headers=auth("bob"), status=200)


def test_group_removed_from_the_file_refuses_everyone(tmp_path: Path, inner: Recorder) -> None:
    clock = Clock()
    path = write(tmp_path / "groups", "admin: alice\n")
    app = make(inner, PASSWORDS, rules=(ADMIN_DELETE,), groups=HtgroupFile(path, clock=clock))
    write(path, "ops: alice\n")
    clock.now += 1
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
