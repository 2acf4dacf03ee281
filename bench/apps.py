"""The applications the benchmark compares: ours, the peers', and the bare ones.

Every builder returns a WSGI application; the peers are imported only when
their builder runs, so a missing ``bench`` extra fails one variant, loudly,
not the module.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable, Iterable
from typing import Any

from basicauth_wsgi import BasicAuth, HashedUsers, Rule, Throttle
from basicauth_wsgi.hashes import hash_password

USER, PASSWORD = "admin", "SuperSecretPwd"
USERS = {USER: PASSWORD}

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def bare_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """The smallest useful application: the JSON the tutorial's route returns."""
    body = b'{"meaning_of_life":42}'
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def lean(app: WSGIApp, users: dict[str, str]) -> WSGIApp:
    """A lean hand-written check: what a careful engineer writes in 30 lines.

    The reference point of SPEC §9: standard library, constant-time compare,
    no path rules, no throttle, no negotiation.
    """
    challenge = [("WWW-Authenticate", 'Basic realm="Restricted area"'), ("Content-Length", "0")]

    def wrapper(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        header = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(token, validate=True).decode().partition(":")
            except ValueError:
                user = password = ""
            expected = users.get(user)
            if expected is not None and hmac.compare_digest(expected.encode(), password.encode()):
                environ["REMOTE_USER"] = user
                return app(environ, start_response)
        start_response("401 Unauthorized", list(challenge))
        return [b""]

    return wrapper


def ours_plain(app: WSGIApp = bare_app) -> WSGIApp:
    return BasicAuth(app, USERS)


def ours_plain_unthrottled(app: WSGIApp = bare_app) -> WSGIApp:
    # For the wrong-password case: with the throttle on, the benchmark's
    # one client would be measuring 429s after 20 tries.
    return BasicAuth(app, USERS, throttle=None)


def ours_bcrypt(app: WSGIApp = bare_app) -> WSGIApp:
    return BasicAuth(app, HashedUsers({USER: hash_password(PASSWORD, "bcrypt")}))


def ours_everything(app: WSGIApp = bare_app) -> WSGIApp:
    return BasicAuth(
        app,
        USERS,
        exclude=["/health", "/static/"],
        rules=[
            Rule("/admin/", groups=["admin"]),
            Rule("/api/v1/subscribers/", methods=["DELETE"], groups=["admin"]),
        ],
        groups={"admin": [USER]},
        throttle=Throttle(),
    )


def wsgi_basic_auth(app: WSGIApp = bare_app) -> WSGIApp:
    from wsgi_basic_auth import BasicAuth as PeerBasicAuth

    return PeerBasicAuth(app, users=dict(USERS))  # type: ignore[no-any-return]


def paste_basic(app: WSGIApp = bare_app) -> WSGIApp:
    from paste.auth.basic import AuthBasicHandler

    def check(environ: Any, username: str, password: str) -> bool:
        return USERS.get(username) == password

    return AuthBasicHandler(app, "Restricted area", check)  # type: ignore[no-any-return]


def flask_app() -> Any:
    """The tutorial's route in plain Flask, no auth."""
    from flask import Flask, jsonify

    app = Flask("bench")

    @app.get("/api/v1/private")
    def private() -> Any:
        return jsonify(meaning_of_life=42)

    return app


def flask_ours() -> Any:
    app = flask_app()
    app.wsgi_app = BasicAuth(app.wsgi_app, USERS)  # type: ignore[method-assign]
    return app


def flask_httpauth(hashed: bool = False) -> Any:
    """Flask + Flask-HTTPAuth, as its documentation shows (bcrypt when ``hashed``)."""
    from flask import Flask, jsonify
    from flask_httpauth import HTTPBasicAuth

    app = Flask("bench")
    auth = HTTPBasicAuth()
    stored = hash_password(PASSWORD, "bcrypt") if hashed else PASSWORD

    @auth.verify_password
    def verify(username: str, password: str) -> str | None:
        if username != USER:
            return None
        if hashed:
            import bcrypt

            return username if bcrypt.checkpw(password.encode(), stored.encode()) else None
        return username if hmac.compare_digest(password.encode(), stored.encode()) else None

    @app.get("/api/v1/private")
    @auth.login_required
    def private() -> Any:
        return jsonify(meaning_of_life=42)

    return app


def tutorial_stack() -> Any:
    """The tutorial's own stack: Flask-RESTful with Flask-HTTPAuth."""
    from flask import Flask
    from flask_httpauth import HTTPBasicAuth
    from flask_restful import Api, Resource

    app = Flask("tutorial")
    api = Api(app, prefix="/api/v1")
    auth = HTTPBasicAuth()

    @auth.verify_password
    def verify(username: str, password: str) -> str | None:
        return username if USERS.get(username) == password else None

    class PrivateResource(Resource):  # type: ignore[misc]
        @auth.login_required  # type: ignore[misc]
        def get(self) -> dict[str, int]:
            return {"meaning_of_life": 42}

    api.add_resource(PrivateResource, "/private")
    return app


def tutorial_ours() -> Any:
    """The same Flask-RESTful app with no auth code, wrapped in BasicAuth."""
    from flask import Flask
    from flask_restful import Api, Resource

    app = Flask("tutorial")
    api = Api(app, prefix="/api/v1")

    class PrivateResource(Resource):  # type: ignore[misc]
        def get(self) -> dict[str, int]:
            return {"meaning_of_life": 42}

    api.add_resource(PrivateResource, "/private")
    app.wsgi_app = BasicAuth(app.wsgi_app, USERS)  # type: ignore[method-assign]
    return app
