"""Which rule decides a request: the example API's rule, methods and paths (SPEC §6)."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import Recorder, auth, basic, call, make

from basicauth_wsgi import BasicAuth
from basicauth_wsgi.rules import Rule

from .support import ADMIN_DELETE, GROUPS, PASSWORDS, SUBSCRIBER

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


def test_every_built_in_groups_names_a_users_groups() -> None:
    # rules.GroupLookup: what forward-auth's Remote-Groups reads.
    from basicauth_wsgi.rules import GroupLookup, as_groups, principal_groups

    static = as_groups({"admin": ["alice"], "ops": ["alice", "bob"], "empty": []})
    assert isinstance(static, GroupLookup)
    assert static.groups_of("alice") == {"admin", "ops"}
    assert static.groups_of("carol") == frozenset()

    class Principal:
        groups = ("ops", "dev")

    carried = principal_groups("alice", Principal())
    assert isinstance(carried, GroupLookup)
    assert carried.groups_of("alice") == {"ops", "dev"}
    assert carried.groups_of("bob") == frozenset()
