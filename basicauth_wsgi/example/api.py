"""The example: the mailing-list JSON API of the "REST API best practices" tutorial.

``create_app(db_path)`` returns the API unprotected; ``from_env()`` returns it
behind :class:`~basicauth_wsgi.BasicAuth`, configured from the environment,
for ``waitress-serve --call basicauth_wsgi.app:from_env``::

    app = BasicAuth(create_app("subscribers.db"), users, exclude=["/health"])
"""

from __future__ import annotations

import os
import re
import unicodedata
from typing import cast

from ..grammar import CTL_OR_C1
from ..paths import quote_path
from .http import HTTPError, Request, Response, json_response
from .router import Router
from .store import DuplicateEmail, SubscriberStore

__all__ = ["MAX_EMAIL", "MAX_LIMIT", "MAX_NAME", "create_app", "validate_subscriber"]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_NAME = 200
# RFC 5321 §4.5.3.1: a path is at most 256 octets including "<" and ">",
# which leaves 254 for the address; the local part is at most 64.
MAX_EMAIL = 254
MAX_LOCAL_PART = 64

# A plausible address, not RFC 5322's full grammar (quoted local parts,
# comments and IP literals are not for a mailing list): a local part without
# spaces, "@", controls or quotes, and a domain of at least two dot-separated
# labels of letters (any script), digits and inner hyphens.
_LOCAL = re.compile(r"[^\s@\"(),:;<>\[\]\\\x00-\x1f\x7f-\x9f]+")
_LABEL = re.compile(r"(?!-)[^\W_](?:[^\W_]|-){0,62}(?<!-)")
_CONTROL = CTL_OR_C1


def _invisible(text: str) -> bool:
    # Format characters (Cf: bidi overrides, zero-width spaces) render as
    # nothing, so they can disguise an address or blank out a name.
    return any(unicodedata.category(c) == "Cf" for c in text)


def _trim(text: str) -> str:
    # Copy-paste leaves spaces, tabs and line ends around a value: trim
    # those, and refuse every other control (str.strip() alone would
    # quietly eat U+001C-U+001F and U+0085 too).
    return text.strip(" \t\r\n")


def _check_email(email: str) -> str | None:
    """Return why ``email`` is not a plausible address, or ``None``."""
    if len(email) > MAX_EMAIL:
        return f"must be at most {MAX_EMAIL} characters"
    if _CONTROL.search(email) or _invisible(email):
        return "must not contain control or invisible characters"
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        return "must be an email address like name@example.com"
    if len(local) > MAX_LOCAL_PART or _LOCAL.fullmatch(local) is None:
        return "has an invalid part before the @"
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return "has an invalid part before the @"
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return "has an invalid domain after the @"
    if labels[-1].isdigit():
        return "has an invalid domain after the @"
    return None


def validate_subscriber(body: object) -> tuple[str, str]:
    """Return ``(name, email)`` from a create body, or raise HTTPError 422.

    The body must be a JSON object with exactly ``name`` (text, not blank,
    at most 200 characters, no control characters) and ``email`` (a
    plausible address, at most 254 characters). Surrounding whitespace is
    trimmed from both. Every problem is reported, one message per field.
    """
    if not isinstance(body, dict):
        raise HTTPError(
            422,
            "validation_failed",
            "The request body must be a JSON object with name and email.",
            extra={"fields": {"body": "must be a JSON object"}},
        )
    fields: dict[str, str] = {}
    for key in body:
        if key not in ("name", "email"):
            fields[str(key)] = "unknown field"
    name = body.get("name")
    email = body.get("email")
    if name is None:
        fields["name"] = "is required"
    elif not isinstance(name, str):
        fields["name"] = "must be a string"
    elif _CONTROL.search(name := _trim(name)):
        fields["name"] = "must not contain control characters"
    else:
        name = name.strip()
        if not name or all(c.isspace() or unicodedata.category(c) == "Cf" for c in name):
            fields["name"] = "must not be blank"
        elif len(name) > MAX_NAME:
            fields["name"] = f"must be at most {MAX_NAME} characters"
    if email is None:
        fields["email"] = "is required"
    elif not isinstance(email, str):
        fields["email"] = "must be a string"
    else:
        email = _trim(email)
        problem = "must not be blank" if not email else _check_email(email)
        if problem:
            fields["email"] = problem
    if fields:
        raise HTTPError(
            422,
            "validation_failed",
            "The subscriber is invalid: " + "; ".join(f"{k} {v}" for k, v in fields.items()) + ".",
            extra={"fields": fields},
        )
    return cast(str, name), cast(str, email)


def _count(request: Request, name: str, default: int, maximum: int) -> int:
    values = request.query.get(name)
    if not values:
        return default
    if len(values) > 1:
        raise HTTPError(400, "invalid_query", f"{name} must be given at most once.")
    text = values[0]
    digits = text.lstrip("0") or "0"
    # The length check first: int() of a huge digit string is slow (and
    # refused past 4300 digits).
    if (
        len(digits) > len(str(maximum))
        or not (text.isascii() and text.isdigit())
        or int(digits) > maximum
    ):
        raise HTTPError(
            400,
            "invalid_query",
            f"{name} must be a whole number from 0 to {maximum}, got {text!r}.",
        )
    return int(digits)


def create_app(db_path: str | os.PathLike[str]) -> Router:
    """Return the mailing-list API (unprotected) storing subscribers in ``db_path``.

    The SQLite file and its schema are created on first use; see
    :class:`~basicauth_wsgi.example.store.SubscriberStore` for durability.
    """
    store = SubscriberStore(db_path)
    router = Router()

    @router.route("/health")
    def health(request: Request) -> Response:
        return json_response({"status": "ok"})

    @router.route("/api/v1/private")
    def private(request: Request) -> Response:
        return json_response({"meaning_of_life": 42})

    @router.route("/api/v1/whoami")
    def whoami(request: Request) -> Response:
        return json_response({"user": request.remote_user})

    @router.route("/api/v1/subscribers", methods=["GET", "POST"])
    def subscribers(request: Request) -> Response:
        if request.method == "POST":
            name, email = validate_subscriber(request.json())
            try:
                subscriber = store.create(name=name, email=email)
            except DuplicateEmail:
                raise HTTPError(
                    409, "duplicate_email", f"A subscriber with email {email!r} already exists."
                ) from None
            # SCRIPT_NAME is decoded latin-1 text; a header needs a URI
            # reference (RFC 9110 §10.2.2), so percent-encode its bytes again.
            mount = quote_path(request.script_name)
            location = f"{mount}/api/v1/subscribers/{subscriber.id}"
            return json_response(subscriber.as_dict(), 201, [("Location", location)])
        limit = _count(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        offset = _count(request, "offset", 0, 2**63 - 1)
        page, total = store.list(limit=limit, offset=offset)
        return json_response(
            {
                "subscribers": [s.as_dict() for s in page],
                "total": total,
                "limit": limit,
                "offset": offset,
            }
        )

    @router.route("/api/v1/subscribers/<int:id>", methods=["GET", "DELETE"])
    def subscriber(request: Request) -> Response:
        subscriber_id: int = request.params["id"]
        if request.method == "DELETE":
            if store.delete(subscriber_id):
                return Response(204)
        else:
            found = store.get(subscriber_id)
            if found is not None:
                return json_response(found.as_dict())
        raise HTTPError(404, "not_found", f"No subscriber with id {subscriber_id}.")

    return router
