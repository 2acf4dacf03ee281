"""What the API tests share: paths, sample subscribers and request helpers."""

from __future__ import annotations

import json
import re
from typing import Any

import webtest

from basicauth_wsgi.example.api import MAX_EMAIL

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
