"""Tests for basicauth_wsgi.app: the mailing-list API over HTTP (SPEC §7).

Every request goes through ``webtest.TestApp`` with its WSGI lint on, against a
real SQLite file in ``tmp_path``. Each error is checked for its status, its
snake_case ``error`` code and a non-empty ``message``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import webtest
from helpers import basic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from basicauth_wsgi import BasicAuth
from basicauth_wsgi.app import MAX_EMAIL, MAX_LIMIT, MAX_NAME, create_app

SUBSCRIBERS = "/api/v1/subscribers"
JSON = "application/json"
ADA = {"name": "Ada Lovelace", "email": "ada@example.com"}
RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")

# Address-length boundaries: a 64-character local part (the maximum) and a
# domain of three full-length labels plus ".com", padded to the wanted total.
LOCAL_64 = "a" * 64


def email_of_length(length: int) -> str:
    pad = length - len(LOCAL_64) - len("@") - len("b" * 63 + "." + "c" * 63 + "." + ".com")
    return f"{LOCAL_64}@{'b' * 63}.{'c' * 63}.{'d' * pad}.com"


EMAIL_254 = email_of_length(MAX_EMAIL)
EMAIL_255 = email_of_length(MAX_EMAIL + 1)


# --- helpers -----------------------------------------------------------------


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "api.db"


@pytest.fixture
def app(db_path: Path) -> webtest.TestApp:
    return webtest.TestApp(create_app(db_path))  # lint is on by default


def encode(data: object) -> bytes:
    return json.dumps(data).encode()


def post_json(
    app: webtest.TestApp, data: object, *, status: int = 201, **kwargs: Any
) -> webtest.TestResponse:
    return app.post(SUBSCRIBERS, params=encode(data), content_type=JSON, status=status, **kwargs)


def create(app: webtest.TestApp, name: str, email: str) -> dict[str, Any]:
    body: dict[str, Any] = post_json(app, {"name": name, "email": email}).json
    return body


def assert_error(res: webtest.TestResponse, status: int, error: str) -> dict[str, Any]:
    """Check an error response's status, type and JSON shape; return the body."""
    assert res.status_int == status
    assert res.content_type == JSON
    body: dict[str, Any] = res.json
    assert body["error"] == error
    assert isinstance(body["message"], str)
    assert body["message"].strip()
    return body


def total(app: webtest.TestApp) -> int:
    count: int = app.get(SUBSCRIBERS).json["total"]
    return count


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


# --- create and read back ----------------------------------------------------


def test_create_returns_201_location_and_the_subscriber(app: webtest.TestApp) -> None:
    res = post_json(app, ADA)
    body = res.json
    assert res.content_type == JSON
    assert set(body) == {"id", "name", "email", "created_at"}
    assert isinstance(body["id"], int)
    assert body["name"] == ADA["name"]
    assert body["email"] == ADA["email"]
    assert res.headers["Location"] == f"{SUBSCRIBERS}/{body['id']}"


def test_created_subscriber_can_be_read_back(app: webtest.TestApp) -> None:
    created = create(app, **ADA)
    res = app.get(f"{SUBSCRIBERS}/{created['id']}", status=200)
    assert res.json == created


def test_location_follows_the_mount_point(app: webtest.TestApp) -> None:
    res = post_json(app, ADA, extra_environ={"SCRIPT_NAME": "/mount"})
    assert res.headers["Location"] == f"/mount{SUBSCRIBERS}/{res.json['id']}"


@pytest.mark.parametrize(
    ("script_name", "quoted"),
    [("/my mount", "/my%20mount"), ("/caf\xc3\xa9", "/caf%C3%A9")],
    ids=["space", "utf8-bytes"],
)
def test_location_percent_encodes_the_mount_point(
    app: webtest.TestApp, script_name: str, quoted: str
) -> None:
    # PEP 3333: SCRIPT_NAME is latin-1 text of the raw (percent-decoded) bytes.
    res = post_json(app, ADA, extra_environ={"SCRIPT_NAME": script_name})
    assert res.headers["Location"] == f"{quoted}{SUBSCRIBERS}/{res.json['id']}"


def test_created_at_is_rfc3339_utc_now(app: webtest.TestApp) -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    created_at = create(app, **ADA)["created_at"]
    after = datetime.now(timezone.utc)
    assert RFC3339_UTC.fullmatch(created_at), created_at
    stamp = datetime.strptime(created_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert before <= stamp <= after


def test_charset_parameter_on_json_content_type_is_accepted(app: webtest.TestApp) -> None:
    res = app.post(
        SUBSCRIBERS, params=encode(ADA), content_type="application/json; charset=utf-8", status=201
    )
    assert res.json["email"] == ADA["email"]


def test_surrounding_whitespace_is_trimmed(app: webtest.TestApp) -> None:
    created = create(app, name="  \tAda Lovelace \n", email="  ada@example.com\t ")
    assert created["name"] == "Ada Lovelace"
    assert created["email"] == "ada@example.com"
    stored = app.get(f"{SUBSCRIBERS}/{created['id']}").json
    assert (stored["name"], stored["email"]) == ("Ada Lovelace", "ada@example.com")


def test_unicode_name_round_trips(app: webtest.TestApp) -> None:
    created = create(app, name="Zoë 李", email="zoe@example.com")
    assert created["name"] == "Zoë 李"
    res = app.get(f"{SUBSCRIBERS}/{created['id']}")
    assert res.json["name"] == "Zoë 李"
    assert "Zoë 李".encode() in res.body  # UTF-8 on the wire, not only \u escapes


def test_sql_looking_text_is_stored_literally(app: webtest.TestApp) -> None:
    name = "Robert'); DROP TABLE subscribers;--"
    email = "robert'--@example.com"
    created = create(app, name=name, email=email)
    assert app.get(f"{SUBSCRIBERS}/{created['id']}").json == created
    assert (created["name"], created["email"]) == (name, email)
    later = create(app, name="Alice", email="alice@example.com")
    listing = app.get(SUBSCRIBERS).json
    assert [s["id"] for s in listing["subscribers"]] == [created["id"], later["id"]]
    assert listing["total"] == 2


@pytest.mark.parametrize(
    "subscriber",
    [
        {"name": "n" * MAX_NAME, "email": "long.name@example.com"},
        {"name": "Long Email", "email": EMAIL_254},
        {"name": "Short TLD", "email": "x@example.c"},
        {"name": "IDN", "email": "éve@bücher.example"},
    ],
    ids=["name-200-chars", "email-254-chars", "one-letter-tld", "non-ascii-email"],
)
def test_boundary_values_are_accepted(app: webtest.TestApp, subscriber: dict[str, str]) -> None:
    created = post_json(app, subscriber).json
    assert (created["name"], created["email"]) == (subscriber["name"], subscriber["email"])


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    name=st.text(min_size=1, max_size=MAX_NAME).filter(
        lambda s: s == s.strip() and not re.search(r"[\x00-\x1f\x7f-\x9f]", s)
    )
)
def test_any_trimmed_printable_name_round_trips(app: webtest.TestApp, name: str) -> None:
    # One database for all examples: a fresh email per example avoids 409s.
    email = f"user{total(app)}@example.com"
    created = create(app, name=name, email=email)
    assert created["name"] == name
    assert app.get(f"{SUBSCRIBERS}/{created['id']}").json["name"] == name


# --- validation (422) --------------------------------------------------------

VALIDATION_CASES: dict[str, tuple[object, set[str]]] = {
    "missing-name": ({"email": "ada@example.com"}, {"name"}),
    "missing-email": ({"name": "Ada"}, {"email"}),
    "both-missing": ({}, {"name", "email"}),
    "blank-name": ({"name": "", "email": "ada@example.com"}, {"name"}),
    "whitespace-only-name": ({"name": " \t\n ", "email": "ada@example.com"}, {"name"}),
    "name-201-chars": ({"name": "n" * (MAX_NAME + 1), "email": "ada@example.com"}, {"name"}),
    "name-with-nul": ({"name": "Ada\x00Lovelace", "email": "ada@example.com"}, {"name"}),
    "name-with-escape": ({"name": "Ada\x1b[31m", "email": "ada@example.com"}, {"name"}),
    "name-with-c1-control": ({"name": "Ada\x9bLovelace", "email": "ada@example.com"}, {"name"}),
    "name-number": ({"name": 42, "email": "ada@example.com"}, {"name"}),
    "name-null": ({"name": None, "email": "ada@example.com"}, {"name"}),
    "name-list": ({"name": ["Ada"], "email": "ada@example.com"}, {"name"}),
    "name-bool": ({"name": True, "email": "ada@example.com"}, {"name"}),
    "blank-email": ({"name": "Ada", "email": "  "}, {"email"}),
    "email-without-at": ({"name": "Ada", "email": "ada.example.com"}, {"email"}),
    "email-without-dot-in-domain": ({"name": "Ada", "email": "ada@localhost"}, {"email"}),
    "email-with-space": ({"name": "Ada", "email": "ada lovelace@example.com"}, {"email"}),
    "email-with-space-in-domain": ({"name": "Ada", "email": "ada@exa mple.com"}, {"email"}),
    "email-empty-local-part": ({"name": "Ada", "email": "@example.com"}, {"email"}),
    "email-two-ats": ({"name": "Ada", "email": "ada@home@example.com"}, {"email"}),
    "email-255-chars": ({"name": "Ada", "email": EMAIL_255}, {"email"}),
    "email-local-part-65-chars": ({"name": "Ada", "email": "a" * 65 + "@example.com"}, {"email"}),
    "email-numeric-tld": ({"name": "Ada", "email": "ada@192.168.0.1"}, {"email"}),
    "email-number": ({"name": "Ada", "email": 12345}, {"email"}),
    "email-list": ({"name": "Ada", "email": ["ada@example.com"]}, {"email"}),
    "email-object": ({"name": "Ada", "email": {"addr": "ada@example.com"}}, {"email"}),
    "both-invalid": ({"name": "", "email": "nope"}, {"name", "email"}),
    "unknown-field": ({**ADA, "admin": True}, {"admin"}),
    "unknown-field-and-missing-email": ({"name": "Ada", "id": 7}, {"id", "email"}),
    "body-list": ([ADA], {"body"}),
    "body-string": ("ada@example.com", {"body"}),
    "body-number": (42, {"body"}),
    "body-null": (None, {"body"}),
}


@pytest.mark.parametrize(
    ("payload", "bad_fields"), list(VALIDATION_CASES.values()), ids=list(VALIDATION_CASES)
)
def test_invalid_subscriber_is_422_with_field_errors(
    app: webtest.TestApp, payload: object, bad_fields: set[str]
) -> None:
    body = assert_error(post_json(app, payload, status=422), 422, "validation_failed")
    fields = body["fields"]
    assert set(fields) == bad_fields
    for message in fields.values():
        assert isinstance(message, str)
        assert message.strip()
    assert total(app) == 0  # nothing stored


@pytest.mark.parametrize(
    "email",
    ["ada\x80@example.com", "ada\x9b31m@example.com"],
    ids=["u0080", "u009b-csi"],
)
def test_email_with_c1_control_is_422(app: webtest.TestApp, email: str) -> None:
    res = post_json(app, {"name": "Ada", "email": email}, expect_errors=True)
    body = assert_error(res, 422, "validation_failed")
    assert set(body["fields"]) == {"email"}


def test_email_length_boundary_helper_is_exact() -> None:
    # Guards the table above: the 254/255 cases must sit exactly on the limit.
    assert (len(EMAIL_254), len(EMAIL_255)) == (MAX_EMAIL, MAX_EMAIL + 1)


# --- duplicates (409) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("ada@example.com", "ada@example.com"),
        ("ada@example.com", "ADA@EXAMPLE.COM"),
        ("ada@example.com", "  Ada@Example.com  "),
        ("éve@example.com", "ÉVE@example.com"),
    ],
    ids=["same", "upper-case", "mixed-case-padded", "non-ascii-case"],
)
def test_duplicate_email_is_409(app: webtest.TestApp, first: str, second: str) -> None:
    original = create(app, name="First", email=first)
    res = post_json(app, {"name": "Second", "email": second}, status=409)
    assert_error(res, 409, "duplicate_email")
    listing = app.get(SUBSCRIBERS).json
    assert listing["subscribers"] == [original]
    assert listing["total"] == 1


def test_email_is_free_again_after_delete(app: webtest.TestApp) -> None:
    first = create(app, **ADA)
    app.delete(f"{SUBSCRIBERS}/{first['id']}", status=204)
    again = create(app, **ADA)
    assert again["id"] != first["id"]


# --- request body errors -------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [b'{"name": "Ada", "email": ', b"{name: 'Ada'}", b"not json", b"", b"\xff\xfe{}"],
    ids=["truncated", "single-quotes", "plain-text", "empty", "not-utf8"],
)
def test_malformed_json_is_400(app: webtest.TestApp, payload: bytes) -> None:
    res = app.post(SUBSCRIBERS, params=payload, content_type=JSON, status=400)
    assert_error(res, 400, "malformed_json")
    assert total(app) == 0


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/jsonp"],
    ids=["text-plain", "form-encoded", "jsonp"],
)
def test_wrong_content_type_is_415(app: webtest.TestApp, content_type: str) -> None:
    res = app.post(SUBSCRIBERS, params=encode(ADA), content_type=content_type, status=415)
    assert_error(res, 415, "unsupported_media_type")
    assert total(app) == 0


def test_missing_content_type_is_415(app: webtest.TestApp) -> None:
    res = app.request(SUBSCRIBERS, method="POST", body=encode(ADA), expect_errors=True)
    assert "CONTENT_TYPE" not in res.request.environ
    assert_error(res, 415, "unsupported_media_type")
    assert total(app) == 0


def test_body_over_one_mebibyte_is_413(app: webtest.TestApp) -> None:
    payload = encode({"name": "Ada", "email": "ada@example.com", "pad": "x" * (1 << 20)})
    assert len(payload) > 1 << 20
    res = app.post(SUBSCRIBERS, params=payload, content_type=JSON, expect_errors=True)
    assert_error(res, 413, "payload_too_large")
    assert total(app) == 0


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
