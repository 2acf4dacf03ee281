"""The API's POST: create and read back, validation (422), duplicates (409), bad bodies.

Every request goes through ``webtest.TestApp`` with its WSGI lint on, against a
real SQLite file in ``tmp_path``. Each error is checked for its status, its
snake_case ``error`` code and a non-empty ``message`` (SPEC §7).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
import webtest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from basicauth_wsgi.example.api import MAX_EMAIL, MAX_NAME

from .support import (
    ADA,
    EMAIL_254,
    EMAIL_255,
    JSON,
    RFC3339_UTC,
    SUBSCRIBERS,
    assert_error,
    create,
    encode,
    post_json,
    total,
)

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
