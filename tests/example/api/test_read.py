"""The API's fixed routes, listing, get and delete, HEAD/405 and persistence.

Every request goes through ``webtest.TestApp`` with its WSGI lint on, against a
real SQLite file in ``tmp_path``. Each error is checked for its status, its
snake_case ``error`` code and a non-empty ``message`` (SPEC §7).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import webtest
from helpers import basic

from basicauth_wsgi import BasicAuth
from basicauth_wsgi.example.api import MAX_LIMIT, create_app

from .support import ADA, JSON, SUBSCRIBERS, assert_error, create, encode, post_json, total

# --- the fixed routes --------------------------------------------------------


def test_health(app: webtest.TestApp) -> None:
    res = app.get("/health", status=200)
    assert res.content_type == JSON
    assert res.json == {"status": "ok"}


def test_private(app: webtest.TestApp) -> None:
    res = app.get("/api/v1/private", status=200)
    assert res.json == {"meaning_of_life": 42}


def test_whoami_unprotected_is_null(app: webtest.TestApp) -> None:
    res = app.get("/api/v1/whoami", status=200)
    assert res.json == {"user": None}


@pytest.mark.parametrize(
    ("username", "password"),
    [("admin", "pw"), ("jürgen", "pässwörd")],
    ids=["ascii", "utf8"],
)
def test_whoami_behind_basic_auth_names_the_user(
    db_path: Path, username: str, password: str
) -> None:
    protected = webtest.TestApp(BasicAuth(create_app(db_path), {username: password}))
    res = protected.get(
        "/api/v1/whoami", headers={"Authorization": basic(username, password)}, status=200
    )
    assert res.json == {"user": username}


def test_whoami_behind_basic_auth_without_credentials_is_401(db_path: Path) -> None:
    protected = webtest.TestApp(BasicAuth(create_app(db_path), {"admin": "pw"}))
    res = protected.get("/api/v1/whoami", status=401)
    assert res.headers["WWW-Authenticate"].startswith("Basic ")


# --- listing ---------------------------------------------------------------------


def test_empty_list(app: webtest.TestApp) -> None:
    res = app.get(SUBSCRIBERS, status=200)
    assert res.json == {"subscribers": [], "total": 0, "limit": 100, "offset": 0}


def test_list_is_ordered_by_id(app: webtest.TestApp) -> None:
    made = [create(app, name=f"User {i}", email=f"user{i}@example.com") for i in range(5)]
    res = app.get(SUBSCRIBERS).json
    assert res["subscribers"] == sorted(made, key=lambda s: s["id"])
    assert res["total"] == 5


@pytest.mark.parametrize(
    ("query", "expected_indexes", "limit", "offset"),
    [
        ("limit=2", [0, 1], 2, 0),
        ("limit=2&offset=2", [2, 3], 2, 2),
        ("limit=2&offset=4", [4], 2, 4),
        ("offset=3", [3, 4], 100, 3),
        ("offset=5", [], 100, 5),
        ("limit=0", [], 0, 0),
        (f"limit={MAX_LIMIT}", [0, 1, 2, 3, 4], MAX_LIMIT, 0),
        ("offset=9223372036854775807", [], 100, 2**63 - 1),
    ],
    ids=[
        "first-page",
        "second-page",
        "last-partial-page",
        "offset-only",
        "offset-at-end",
        "limit-zero",
        "limit-max",
        "offset-max",
    ],
)
def test_list_pages_with_limit_and_offset(
    app: webtest.TestApp, query: str, expected_indexes: list[int], limit: int, offset: int
) -> None:
    made = [create(app, name=f"User {i}", email=f"user{i}@example.com") for i in range(5)]
    res = app.get(f"{SUBSCRIBERS}?{query}", status=200)
    assert res.json == {
        "subscribers": [made[i] for i in expected_indexes],
        "total": 5,
        "limit": limit,
        "offset": offset,
    }


@pytest.mark.parametrize(
    "query",
    [
        "limit=1001",
        "limit=-1",
        "limit=abc",
        "limit=",
        "limit",
        "limit=1.5",
        "limit=+5",
        "limit=%205",
        "limit=%EF%BC%95",  # fullwidth digit five
        "limit=99999999999999999999999",
        "offset=-1",
        "offset=1.5",
        "offset=",
        "offset=9223372036854775808",
        "limit=5&limit=5",
        "offset=0&offset=1",
    ],
    ids=[
        "limit-over-max",
        "limit-negative",
        "limit-not-a-number",
        "limit-blank",
        "limit-no-value",
        "limit-fraction",
        "limit-plus-sign",
        "limit-leading-space",
        "limit-fullwidth-digit",
        "limit-huge",
        "offset-negative",
        "offset-fraction",
        "offset-blank",
        "offset-past-int64",
        "limit-repeated",
        "offset-repeated",
    ],
)
def test_bad_paging_query_is_400(app: webtest.TestApp, query: str) -> None:
    res = app.get(f"{SUBSCRIBERS}?{query}", status=400)
    assert_error(res, 400, "invalid_query")


def test_unrelated_query_parameters_are_ignored(app: webtest.TestApp) -> None:
    res = app.get(f"{SUBSCRIBERS}?sort=name&limit=5", status=200)
    assert res.json == {"subscribers": [], "total": 0, "limit": 5, "offset": 0}


# --- one subscriber: get and delete -------------------------------------------------


def test_get_missing_subscriber_is_404(app: webtest.TestApp) -> None:
    assert_error(app.get(f"{SUBSCRIBERS}/1", status=404), 404, "not_found")


def test_delete_missing_subscriber_is_404(app: webtest.TestApp) -> None:
    assert_error(app.delete(f"{SUBSCRIBERS}/1", status=404), 404, "not_found")


def test_delete_is_204_then_gone(app: webtest.TestApp) -> None:
    created = create(app, **ADA)
    url = f"{SUBSCRIBERS}/{created['id']}"
    res = app.delete(url, status=204)
    assert res.body == b""
    assert "Content-Type" not in res.headers
    assert_error(app.get(url, status=404), 404, "not_found")
    assert_error(app.delete(url, status=404), 404, "not_found")
    assert total(app) == 0


def test_delete_leaves_the_others(app: webtest.TestApp) -> None:
    ada = create(app, **ADA)
    bob = create(app, name="Bob", email="bob@example.com")
    app.delete(f"{SUBSCRIBERS}/{ada['id']}", status=204)
    assert app.get(SUBSCRIBERS).json["subscribers"] == [bob]


def test_ids_are_not_reused_after_delete(app: webtest.TestApp) -> None:
    create(app, **ADA)
    last = create(app, name="Bob", email="bob@example.com")
    app.delete(f"{SUBSCRIBERS}/{last['id']}", status=204)
    newer = create(app, name="Cy", email="cy@example.com")
    assert newer["id"] > last["id"]
    assert_error(app.get(f"{SUBSCRIBERS}/{last['id']}", status=404), 404, "not_found")


@pytest.mark.parametrize(
    "segment",
    ["abc", "-1", "1.0", "0x1", "%201", "%D9%A3"],
    ids=["letters", "negative", "decimal", "hex", "leading-space", "arabic-indic-digit"],
)
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_non_numeric_id_is_404(app: webtest.TestApp, method: str, segment: str) -> None:
    create(app, **ADA)  # id 1 exists, so a lax int() parse would find it
    res = app.request(f"{SUBSCRIBERS}/{segment}", method=method, expect_errors=True)
    assert_error(res, 404, "not_found")
    assert total(app) == 1


@pytest.mark.parametrize(
    "subscriber_id",
    ["0", "9223372036854775807", "9223372036854775808", "1" * 30],
    ids=["zero", "int64-max", "int64-max-plus-one", "30-digits"],
)
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_out_of_range_id_is_404_not_500(
    app: webtest.TestApp, method: str, subscriber_id: str
) -> None:
    res = app.request(f"{SUBSCRIBERS}/{subscriber_id}", method=method, expect_errors=True)
    assert_error(res, 404, "not_found")


def test_id_with_leading_zeros_names_the_same_subscriber(app: webtest.TestApp) -> None:
    created = create(app, **ADA)
    assert app.get(f"{SUBSCRIBERS}/000{created['id']}", status=200).json == created


# --- HEAD, 405 and unknown paths ------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/health", "/api/v1/private", "/api/v1/whoami", SUBSCRIBERS, f"{SUBSCRIBERS}/1"],
    ids=["health", "private", "whoami", "subscribers", "subscriber"],
)
def test_head_mirrors_get_without_body(app: webtest.TestApp, path: str) -> None:
    create(app, **ADA)  # so /api/v1/subscribers/1 exists and the list is non-empty
    got = app.get(path, status=200)
    head = app.head(path, status=200)
    assert head.body == b""
    assert head.headers["Content-Type"] == got.headers["Content-Type"]
    assert head.headers["Content-Length"] == got.headers["Content-Length"] == str(len(got.body))


def test_head_of_missing_subscriber_is_404_without_body(app: webtest.TestApp) -> None:
    got = app.get(f"{SUBSCRIBERS}/1", status=404)
    head = app.head(f"{SUBSCRIBERS}/1", status=404)
    assert head.body == b""
    assert head.headers["Content-Length"] == got.headers["Content-Length"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", SUBSCRIBERS, "GET, HEAD, POST"),
        ("DELETE", SUBSCRIBERS, "GET, HEAD, POST"),
        ("PATCH", SUBSCRIBERS, "GET, HEAD, POST"),
        ("POST", f"{SUBSCRIBERS}/1", "DELETE, GET, HEAD"),
        ("PUT", f"{SUBSCRIBERS}/1", "DELETE, GET, HEAD"),
        ("POST", "/health", "GET, HEAD"),
        ("DELETE", "/api/v1/whoami", "GET, HEAD"),
    ],
    ids=[
        "put-collection",
        "delete-collection",
        "patch-collection",
        "post-item",
        "put-item",
        "post-health",
        "delete-whoami",
    ],
)
def test_wrong_method_is_405_with_allow(
    app: webtest.TestApp, method: str, path: str, allow: str
) -> None:
    res = app.request(path, method=method, expect_errors=True)
    assert_error(res, 405, "method_not_allowed")
    assert res.headers["Allow"] == allow


def test_post_to_item_does_not_create(app: webtest.TestApp) -> None:
    res = app.post(f"{SUBSCRIBERS}/1", params=encode(ADA), content_type=JSON, status=405)
    assert_error(res, 405, "method_not_allowed")
    assert total(app) == 0


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/nope",
        "/api/v1",
        "/api/v1/subscribers/",
        "/api/v1/subscribers/1/",
        "/api/v1/subscribers/1/extra",
        "/API/V1/SUBSCRIBERS",
        "/api/v2/subscribers",
        "/healthz",
    ],
    ids=[
        "root",
        "unknown",
        "prefix",
        "collection-trailing-slash",
        "item-trailing-slash",
        "item-subpath",
        "upper-case",
        "other-version",
        "health-prefix",
    ],
)
def test_unknown_path_is_json_404(app: webtest.TestApp, path: str) -> None:
    assert_error(app.get(path, status=404), 404, "not_found")


# --- persistence -------------------------------------------------------------------


def test_data_persists_across_app_instances(db_path: Path) -> None:
    first = webtest.TestApp(create_app(db_path))
    ada = create(first, **ADA)
    bob = create(first, name="Bob", email="bob@example.com")
    first.delete(f"{SUBSCRIBERS}/{bob['id']}", status=204)

    second = webtest.TestApp(create_app(db_path))
    assert second.get(SUBSCRIBERS).json["subscribers"] == [ada]
    assert second.get(f"{SUBSCRIBERS}/{ada['id']}").json == ada
    assert_error(
        post_json(second, {"name": "Ada again", "email": "ADA@example.com"}, status=409),
        409,
        "duplicate_email",
    )
    newer = create(second, name="Cy", email="cy@example.com")
    assert newer["id"] > bob["id"]


def test_two_apps_on_one_file_see_each_others_writes(db_path: Path) -> None:
    one = webtest.TestApp(create_app(db_path))
    two = webtest.TestApp(create_app(db_path))
    ada = create(one, **ADA)
    assert two.get(f"{SUBSCRIBERS}/{ada['id']}").json == ada
    two.delete(f"{SUBSCRIBERS}/{ada['id']}", status=204)
    assert_error(one.get(f"{SUBSCRIBERS}/{ada['id']}", status=404), 404, "not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Ada\x1f", "email": "ada@example.com"},
        {"name": "Ada\x85", "email": "ada@example.com"},
        {"name": "Ada\nLovelace", "email": "ada@example.com"},
    ],
    ids=["unit-separator", "nel", "inner-newline"],
)
def test_controls_are_refused_not_trimmed(app: webtest.TestApp, body: dict[str, str]) -> None:
    res = post_json(app, body, expect_errors=True)
    assert assert_error(res, 422, "validation_failed")["fields"] == {
        "name": "must not contain control characters"
    }
    assert total(app) == 0


@pytest.mark.parametrize("email", ["ada@example.com\x1f", "\x85ada@example.com"], ids=["us", "nel"])
def test_controls_around_an_email_are_refused(app: webtest.TestApp, email: str) -> None:
    res = post_json(app, {"name": "Ada", "email": email}, expect_errors=True)
    assert "email" in assert_error(res, 422, "validation_failed")["fields"]


def test_invisible_name_is_blank(app: webtest.TestApp) -> None:
    res = post_json(app, {"name": "\u200b \u2060", "email": "ada@example.com"}, expect_errors=True)
    assert assert_error(res, 422, "validation_failed")["fields"] == {"name": "must not be blank"}


@pytest.mark.parametrize(
    "email",
    ["ad\u202ea@example.com", "ada\u200b@example.com"],
    ids=["bidi-override", "zero-width-space"],
)
def test_invisible_characters_in_email_are_422(app: webtest.TestApp, email: str) -> None:
    res = post_json(app, {"name": "Ada", "email": email}, expect_errors=True)
    assert "email" in assert_error(res, 422, "validation_failed")["fields"]


@pytest.mark.parametrize(
    ("query", "limit"),
    [("limit=0100", 100), ("limit=01000", 1000), ("limit=" + "0" * 5000 + "7", 7)],
    ids=["leading-zero", "leading-zero-at-max", "five-thousand-zeros"],
)
def test_leading_zeros_are_the_same_number(app: webtest.TestApp, query: str, limit: int) -> None:
    assert app.get(f"{SUBSCRIBERS}?{query}").json["limit"] == limit
