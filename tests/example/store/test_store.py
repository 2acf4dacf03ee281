"""SubscriberStore: the data model, listing, uniqueness, SQL-looking text, validation.

Real SQLite files in tmp_path, no mocks.
"""

from __future__ import annotations

import dataclasses
import re
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from basicauth_wsgi.example.store import DuplicateEmail, Subscriber, SubscriberStore, email_key

from .support import PINNED

# -- round trip and the data model ----------------------------------------


def test_create_get_list_delete_round_trip(store: SubscriberStore) -> None:
    ada = store.create(name="Ada", email="ada@example.com")

    assert ada == Subscriber(
        id=ada.id, name="Ada", email="ada@example.com", created_at="2026-11-29T08:15:02Z"
    )
    assert store.get(ada.id) == ada
    assert store.list() == ([ada], 1)
    assert store.delete(ada.id) is True
    assert store.get(ada.id) is None
    assert store.delete(ada.id) is False
    assert store.list() == ([], 0)


def test_as_dict_is_the_api_json_shape(store: SubscriberStore) -> None:
    ada = store.create(name="Ada", email="ada@example.com")

    assert ada.as_dict() == {
        "id": ada.id,
        "name": "Ada",
        "email": "ada@example.com",
        "created_at": "2026-11-29T08:15:02Z",
    }


def test_subscriber_is_frozen(store: SubscriberStore) -> None:
    ada = store.create(name="Ada", email="ada@example.com")

    with pytest.raises(dataclasses.FrozenInstanceError):
        ada.name = "Eve"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        pytest.param(PINNED, "2026-11-29T08:15:02Z", id="utc"),
        pytest.param(PINNED.replace(microsecond=999_999), "2026-11-29T08:15:02Z", id="truncated"),
        pytest.param(
            datetime(2026, 11, 29, 10, 15, 2, tzinfo=timezone(timedelta(hours=2))),
            "2026-11-29T08:15:02Z",
            id="offset-converted-to-utc",
        ),
        pytest.param(
            datetime(2026, 11, 28, 23, 15, 2, tzinfo=timezone(timedelta(hours=-9))),
            "2026-11-29T08:15:02Z",
            id="offset-crossing-midnight",
        ),
    ],
)
def test_created_at_is_rfc3339_utc_seconds(db_path: Path, moment: datetime, expected: str) -> None:
    with SubscriberStore(db_path, clock=lambda: moment) as store:
        assert store.create(name="Ada", email="ada@example.com").created_at == expected


def test_naive_clock_is_rejected(db_path: Path) -> None:
    with SubscriberStore(db_path, clock=lambda: datetime(2026, 11, 29)) as store:
        with pytest.raises(ValueError, match="aware"):
            store.create(name="Ada", email="ada@example.com")
        assert store.list() == ([], 0)


def test_default_clock_is_current_utc(db_path: Path) -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    with SubscriberStore(db_path) as store:
        created = store.create(name="Ada", email="ada@example.com").created_at
    after = datetime.now(timezone.utc)

    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created)
    assert before <= datetime.fromisoformat(created.replace("Z", "+00:00")) <= after


def test_ids_are_not_reused_after_delete(store: SubscriberStore) -> None:
    first = store.create(name="A", email="a@example.com")
    second = store.create(name="B", email="b@example.com")
    store.delete(second.id)

    third = store.create(name="C", email="c@example.com")

    assert third.id > second.id > first.id


@pytest.mark.parametrize(
    "missing_id",
    [
        pytest.param(0, id="zero"),
        pytest.param(-1, id="negative"),
        pytest.param(10**30, id="beyond-64-bit"),
        pytest.param(-(10**30), id="below-64-bit"),
    ],
)
def test_missing_ids_are_not_found(store: SubscriberStore, missing_id: int) -> None:
    store.create(name="Ada", email="ada@example.com")

    assert store.get(missing_id) is None
    assert store.delete(missing_id) is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"name": None, "email": "a@example.com"}, "name", id="name-none"),
        pytest.param({"name": b"Ada", "email": "a@example.com"}, "name", id="name-bytes"),
        pytest.param({"name": "Ada", "email": None}, "email", id="email-none"),
        pytest.param({"name": "Ada", "email": 42}, "email", id="email-int"),
    ],
)
def test_create_rejects_non_str_fields(
    store: SubscriberStore, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        store.create(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad_id", [pytest.param("1", id="str"), pytest.param(True, id="bool")])
def test_get_and_delete_reject_non_int_ids(store: SubscriberStore, bad_id: object) -> None:
    with pytest.raises(TypeError, match="subscriber_id"):
        store.get(bad_id)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="subscriber_id"):
        store.delete(bad_id)  # type: ignore[arg-type]


# -- listing --------------------------------------------------------------


@pytest.fixture
def ten(store: SubscriberStore) -> list[Subscriber]:
    # Created in reverse alphabetical order so ordering by name would differ from by id.
    return [store.create(name=f"user {9 - i}", email=f"u{9 - i}@example.com") for i in range(10)]


def test_list_is_ordered_by_id(store: SubscriberStore, ten: list[Subscriber]) -> None:
    page, total = store.list()

    assert [s.id for s in page] == sorted(s.id for s in ten)
    assert page == ten
    assert total == 10


@pytest.mark.parametrize(
    ("limit", "offset", "expected"),
    [
        pytest.param(3, 0, slice(0, 3), id="first-page"),
        pytest.param(3, 3, slice(3, 6), id="second-page"),
        pytest.param(3, 9, slice(9, 10), id="short-last-page"),
        pytest.param(3, 10, slice(10, 10), id="offset-at-end"),
        pytest.param(3, 500, slice(10, 10), id="offset-past-end"),
        pytest.param(0, 0, slice(0, 0), id="limit-zero"),
        pytest.param(1000, 0, slice(0, 10), id="limit-above-count"),
    ],
)
def test_list_pages_with_limit_and_offset(
    store: SubscriberStore, ten: list[Subscriber], limit: int, offset: int, expected: slice
) -> None:
    page, total = store.list(limit=limit, offset=offset)

    assert page == ten[expected]
    assert total == 10


def test_list_total_counts_after_delete(store: SubscriberStore, ten: list[Subscriber]) -> None:
    store.delete(ten[4].id)

    page, total = store.list(limit=100)

    assert total == 9
    assert ten[4] not in page


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        pytest.param({"limit": -1}, "limit", id="negative-limit"),
        pytest.param({"offset": -1}, "offset", id="negative-offset"),
        pytest.param({"limit": 1.5}, "limit", id="float-limit"),
        pytest.param({"limit": "10"}, "limit", id="str-limit"),
        pytest.param({"offset": None}, "offset", id="none-offset"),
        pytest.param({"limit": True}, "limit", id="bool-limit"),
        pytest.param({"offset": 2**63}, "offset", id="offset-beyond-64-bit"),
    ],
)
def test_list_rejects_bad_limit_and_offset(
    store: SubscriberStore, kwargs: dict[str, object], name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        store.list(**kwargs)  # type: ignore[arg-type]


# -- uniqueness -----------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param("ada@example.com", "ada@example.com", id="identical"),
        pytest.param("ada@example.com", "ADA@Example.COM", id="ascii-case"),
        pytest.param("ÉVE@example.com", "éve@example.com", id="non-ascii-case"),
        pytest.param("ΣΟΦΙΑ@example.com", "σοφια@example.com", id="greek-case"),
        pytest.param("straße@example.com", "STRASSE@example.com", id="casefold-sharp-s"),
        pytest.param("\u00e9ve@example.com", "e\u0301ve@example.com", id="composed-vs-combining"),
    ],
)
def test_duplicate_email_is_case_insensitive(
    store: SubscriberStore, first: str, second: str
) -> None:
    original = store.create(name="First", email=first)

    with pytest.raises(DuplicateEmail) as raised:
        store.create(name="Second", email=second)

    assert isinstance(raised.value, ValueError)
    assert raised.value.email == second
    assert second in str(raised.value)
    assert store.list() == ([original], 1)


def test_failed_create_leaves_the_store_usable(store: SubscriberStore) -> None:
    store.create(name="Ada", email="ada@example.com")
    with pytest.raises(DuplicateEmail):
        store.create(name="Ada again", email="ADA@example.com")

    # The rolled-back transaction must not linger on this thread's connection.
    eve = store.create(name="Eve", email="eve@example.com")

    assert store.get(eve.id) == eve


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param("ada@example.com", "ada@example.org", id="different-domain"),
        pytest.param("eve@example.com", "ève@example.com", id="accent-is-not-case"),
    ],
)
def test_distinct_emails_are_accepted(store: SubscriberStore, first: str, second: str) -> None:
    store.create(name="One", email=first)
    store.create(name="Two", email=second)

    assert store.list()[1] == 2


def test_email_is_stored_as_given(store: SubscriberStore) -> None:
    created = store.create(name="Éve", email="ÉVE@Example.com")

    assert store.get(created.id) == created
    assert created.email == "ÉVE@Example.com"
    assert email_key(created.email) == email_key("éve@example.com")


# -- SQL-looking text -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "email"),
    [
        pytest.param("Robert'); DROP TABLE subscribers;--", "bobby@example.com", id="drop-table"),
        pytest.param("x", "' OR '1'='1@example.com", id="or-true"),
        pytest.param('"; DELETE FROM subscribers; --', "quote@example.com", id="double-quote"),
        pytest.param("100% _wild_ ? ?1 :name @x $y", "wild@example.com", id="placeholders"),
        pytest.param("x", "x@example.com' UNION SELECT 1,2,3,4--", id="union"),
    ],
)
def test_sql_looking_text_is_stored_literally(
    store: SubscriberStore, name: str, email: str
) -> None:
    created = store.create(name=name, email=email)
    other = store.create(name="Other", email="other@example.com")

    assert store.get(created.id) == Subscriber(created.id, name, email, created.created_at)
    assert store.list() == ([created, other], 2)


# -- constructor validation -----------------------------------------------


@pytest.mark.parametrize(
    ("timeout", "error"),
    [
        pytest.param(0, ValueError, id="zero"),
        pytest.param(-1.0, ValueError, id="negative"),
        pytest.param(float("nan"), ValueError, id="nan"),
        pytest.param(float("inf"), ValueError, id="infinite"),
        pytest.param("5", TypeError, id="str"),
        pytest.param(True, TypeError, id="bool"),
        pytest.param(None, TypeError, id="none"),
    ],
)
def test_bad_timeout_is_rejected(db_path: Path, timeout: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="timeout"):
        SubscriberStore(db_path, timeout=timeout)  # type: ignore[arg-type]
    assert not db_path.exists()


def test_non_callable_clock_is_rejected(db_path: Path) -> None:
    with pytest.raises(TypeError, match="clock"):
        SubscriberStore(db_path, clock=PINNED)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "error"),
    [
        pytest.param(":memory:", ValueError, id="memory"),
        pytest.param("", ValueError, id="empty"),
        pytest.param("file:subscribers.db?mode=memory", ValueError, id="uri"),
        pytest.param(b"subscribers.db", TypeError, id="bytes"),
        pytest.param(42, TypeError, id="int"),
    ],
)
def test_bad_path_option_is_rejected(path: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="path"):
        SubscriberStore(path)  # type: ignore[arg-type]


def test_non_sqlite_file_raises_value_error_naming_path(db_path: Path) -> None:
    junk = b"this is a text file, not a database\n" * 200
    db_path.write_bytes(junk)

    with pytest.raises(ValueError, match=re.escape(str(db_path))):
        SubscriberStore(db_path)
    assert db_path.read_bytes() == junk


@pytest.mark.parametrize(
    "make_path",
    [
        pytest.param(lambda tmp: tmp, id="directory"),
        pytest.param(lambda tmp: tmp / "missing" / "subscribers.db", id="missing-parent"),
    ],
)
def test_unopenable_path_raises_value_error_naming_path(
    tmp_path: Path, make_path: Callable[[Path], Path]
) -> None:
    path = make_path(tmp_path)

    with pytest.raises(ValueError, match=re.escape(str(path))):
        SubscriberStore(path)


def test_newer_schema_version_is_refused(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    try:
        conn.execute("PRAGMA user_version = 2")
        conn.commit()
    finally:
        conn.close()

    with pytest.raises(ValueError, match=f"{re.escape(str(db_path))}.*newer"):
        SubscriberStore(db_path)


def test_str_path_is_accepted(db_path: Path) -> None:
    with SubscriberStore(str(db_path)) as store:
        assert store.path == str(db_path)
        assert store.integrity_check() == "ok"
