"""BasicAuth in front of real frameworks: Flask + Flask-RESTful, Django, Pyramid.

SPEC §0: a developer protects any WSGI application "without touching the
application's code". Each app here has no auth code in it and is wrapped from
outside; the tests check what the framework then sees (the user, never the
password), and that what it answers reaches the client unchanged, ``close()``
included (PEP 3333). Requests go through webtest with its lint on (and for
the tutorial's app also through Flask's own test client); the framework side
of the middleware runs under ``wsgiref.validate``.

Django's settings are process-global: they are configured once, by the
module-scoped ``django_wsgi`` fixture, with this module as the URLconf.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from wsgiref.validate import validator

import django
import pytest
import webtest
from django.conf import settings
from django.core.management import call_command
from django.core.signals import request_finished
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from flask import Flask, Response, request
from flask_restful import Api, Resource
from helpers import ClosingBody, basic, call
from pyramid.config import Configurator
from pyramid.request import Request as PyramidRequest
from pyramid.response import Response as PyramidResponse
from werkzeug.test import EnvironBuilder

from basicauth_wsgi import BasicAuth

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

USER_DATA = {"admin": "SuperSecretPwd"}  # the tutorial's users, used as they are
ADMIN = {"Authorization": basic("admin", "SuperSecretPwd")}
WRONG = {"Authorization": basic("admin", "NotThePassword")}
CHALLENGE = 'Basic realm="Restricted area", charset="UTF-8"'


def protect(app: WSGIApplication, users: Mapping[str, str] = USER_DATA) -> webtest.TestApp:
    """``app`` behind BasicAuth, as a client sees it; webtest lints the outer side."""
    return webtest.TestApp(BasicAuth(app, users, exclude=["/health"]))


class _TeeBody:
    """Passes a response iterable through, recording its chunks and forwarding close()."""

    def __init__(self, result: Iterable[bytes], chunks: list[bytes]) -> None:
        self.result = result
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.result:
            self.chunks.append(chunk)
            yield chunk

    def close(self) -> None:
        close = getattr(self.result, "close", None)
        if close is not None:
            close()


class Tap:
    """Sits between BasicAuth and the framework and records what the framework sent."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self.started: list[tuple[str, list[tuple[str, str]]]] = []
        self.chunks: list[bytes] = []

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            self.started.append((status, list(headers)))
            return start_response(status, headers, exc_info)

        return _TeeBody(self.app(environ, start), self.chunks)


# -- Flask: the tutorial's own stack -------------------------------------------


def tutorial_app() -> Flask:
    """The "REST API best practices" tutorial's Flask-RESTful API, minus its auth code."""
    app = Flask(__name__)
    api = Api(app, prefix="/api/v1")

    class PrivateResource(Resource):
        def get(self) -> dict[str, int]:
            return {"meaning_of_life": 42}

    api.add_resource(PrivateResource, "/private")
    return app


def add_flask_probes(app: Flask, closed: list[str]) -> None:
    """Views the tests read: who the app thinks is calling, and a response to compare."""

    @app.get("/whoami")
    def whoami() -> dict[str, Any]:
        return {
            "user": request.remote_user,
            "environ_user": request.environ.get("REMOTE_USER"),
            "auth_type": request.environ.get("AUTH_TYPE"),
            "authorization": request.headers.get("Authorization"),
        }

    @app.get("/brew")
    def brew() -> Response:
        response = Response(b"brewed by flask", status=202, mimetype="text/plain")
        response.headers["X-Brewed-By"] = "flask"
        response.set_cookie("brew", "flask")
        response.call_on_close(lambda: closed.append("flask"))
        return response


@pytest.fixture
def tutorial() -> Flask:
    app = tutorial_app()
    app.wsgi_app = BasicAuth(app.wsgi_app, USER_DATA)  # type: ignore[method-assign]
    return app


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Any  # werkzeug's Headers or webob's ResponseHeaders: both case-insensitive
    body: bytes


@pytest.fixture(params=["flask-test-client", "webtest"])
def get(request: pytest.FixtureRequest, tutorial: Flask) -> Callable[..., Reply]:
    """GET through one of the two clients a Flask developer would test with."""
    if request.param == "webtest":
        client = webtest.TestApp(tutorial)

        def via_webtest(path: str, headers: dict[str, str] | None = None) -> Reply:
            response = client.get(path, headers=headers or {}, expect_errors=True)
            return Reply(response.status_int, response.headers, response.body)

        return via_webtest

    test_client = tutorial.test_client()

    def via_test_client(path: str, headers: dict[str, str] | None = None) -> Reply:
        with test_client.get(path, headers=headers or {}) as response:
            return Reply(response.status_code, response.headers, response.get_data())

    return via_test_client


def test_tutorial_private_without_credentials_is_challenged(get: Callable[..., Reply]) -> None:
    reply = get("/api/v1/private")
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"] == CHALLENGE
    assert b"meaning_of_life" not in reply.body


def test_tutorial_private_with_credentials_answers_meaning_of_life(
    get: Callable[..., Reply],
) -> None:
    reply = get("/api/v1/private", ADMIN)
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert json.loads(reply.body) == {"meaning_of_life": 42}


def test_tutorial_private_with_wrong_password_is_challenged(get: Callable[..., Reply]) -> None:
    reply = get("/api/v1/private", WRONG)
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"] == CHALLENGE
    assert b"meaning_of_life" not in reply.body


def test_flask_view_sees_remote_user_and_no_password() -> None:
    app = tutorial_app()
    add_flask_probes(app, [])
    app.wsgi_app = BasicAuth(app.wsgi_app, USER_DATA)  # type: ignore[method-assign]
    seen = webtest.TestApp(app).get("/whoami", headers=ADMIN).json
    assert seen == {
        "user": "admin",
        "environ_user": "admin",
        "auth_type": "Basic",
        "authorization": None,
    }


def test_flask_streamed_response_is_not_buffered() -> None:
    app = tutorial_app()
    produced: list[str] = []

    @app.get("/api/v1/stream")
    def stream() -> Response:
        def chunks() -> Iterator[bytes]:
            for word in ("one", "two"):
                produced.append(word)
                yield word.encode()

        response = Response(chunks(), mimetype="text/plain")
        response.call_on_close(lambda: produced.append("closed"))
        return response

    app.wsgi_app = BasicAuth(app.wsgi_app, USER_DATA)  # type: ignore[method-assign]
    environ = EnvironBuilder(path="/api/v1/stream", headers=ADMIN).get_environ()
    started: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append(status)
        return lambda data: None

    result = validator(app)(environ, start_response)
    chunks = iter(result)
    assert started == ["200 OK"]
    assert next(chunks) == b"one"
    assert produced == ["one"]  # the second chunk is made only when asked for
    assert next(chunks) == b"two"
    assert next(chunks, None) is None
    result.close()  # type: ignore[attr-defined]
    assert produced == ["one", "two", "closed"]


# -- Django: RemoteUserMiddleware picks up REMOTE_USER -------------------------


def django_whoami(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "user": request.user.username,
            "authenticated": request.user.is_authenticated,
            "authorization": request.META.get("HTTP_AUTHORIZATION"),
        }
    )


def django_health(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "status": "ok",
            "user": request.user.username,
            "authenticated": request.user.is_authenticated,
        }
    )


def django_brew(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(b"brewed by django", status=202, content_type="text/plain")
    response["X-Brewed-By"] = "django"
    response.set_cookie("brew", "django")
    return response


urlpatterns = [  # ROOT_URLCONF is this module
    path("whoami", django_whoami),
    path("health", django_health),
    path("brew", django_brew),
]

DJANGO_SETTINGS: dict[str, Any] = {
    "DEBUG": False,
    "SECRET_KEY": "test-only-not-a-secret",
    "ALLOWED_HOSTS": ["localhost", "127.0.0.1"],  # webtest, wsgiref defaults
    "ROOT_URLCONF": __name__,
    "INSTALLED_APPS": [
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
    ],
    "MIDDLEWARE": [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.auth.middleware.RemoteUserMiddleware",
    ],
    "AUTHENTICATION_BACKENDS": ["django.contrib.auth.backends.RemoteUserBackend"],
    "DATABASES": {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    "DEFAULT_AUTO_FIELD": "django.db.models.AutoField",
    "USE_TZ": True,
    # Django would otherwise reconfigure the process's logging under the
    # other tests' feet (caplog on the basicauth_wsgi logger).
    "LOGGING_CONFIG": None,
}


@pytest.fixture(scope="module")
def django_wsgi() -> WSGIApplication:
    """Django's WSGI handler, configured once per process (settings are global)."""
    if not settings.configured:
        settings.configure(**DJANGO_SETTINGS)
    elif __name__ != settings.ROOT_URLCONF:
        pytest.skip("Django was already configured by something else in this process")
    django.setup()
    # The in-memory database lives as long as its connection, which Django
    # never closes for ":memory:"; all requests run in this thread.
    call_command("migrate", run_syncdb=True, verbosity=0)
    return get_wsgi_application()


@pytest.fixture
def django_app(django_wsgi: WSGIApplication) -> webtest.TestApp:
    return protect(validator(django_wsgi))


def test_django_without_credentials_is_challenged(django_app: webtest.TestApp) -> None:
    response = django_app.get("/whoami", status=401)
    assert response.headers["WWW-Authenticate"] == CHALLENGE


def test_django_remote_user_middleware_logs_the_user_in(django_app: webtest.TestApp) -> None:
    from django.contrib.auth import get_user_model

    seen = django_app.get("/whoami", headers=ADMIN).json
    assert seen == {"user": "admin", "authenticated": True, "authorization": None}
    # RemoteUserBackend created the account on first sight.
    assert get_user_model().objects.filter(username="admin").exists()


def test_django_excluded_health_is_public_and_anonymous(django_app: webtest.TestApp) -> None:
    seen = django_app.get("/health").json
    assert seen == {"status": "ok", "user": "", "authenticated": False}


def test_django_excluded_health_ignores_the_login_session(django_app: webtest.TestApp) -> None:
    django_app.get("/whoami", headers=ADMIN)
    assert "sessionid" in django_app.cookies  # the login above made a session
    # No REMOTE_USER on an excluded path: RemoteUserMiddleware logs the
    # session out instead of serving the public path as "admin".
    seen = django_app.get("/health", headers=ADMIN).json
    assert seen == {"status": "ok", "user": "", "authenticated": False}


# -- Pyramid: request.remote_user reads REMOTE_USER ----------------------------


def pyramid_whoami(request: PyramidRequest) -> dict[str, Any]:
    return {"user": request.remote_user, "authorization": request.headers.get("Authorization")}


def pyramid_app(closed: list[str]) -> WSGIApplication:
    def brew(request: PyramidRequest) -> PyramidResponse:
        body = ClosingBody([b"brewed ", b"by pyramid"])
        real_close = body.close

        def close() -> None:
            real_close()
            closed.append("pyramid")

        body.close = close  # type: ignore[method-assign]
        response = PyramidResponse(status=202, content_type="text/plain", app_iter=body)
        response.headers["X-Brewed-By"] = "pyramid"
        response.set_cookie("brew", "pyramid")
        return response

    config = Configurator()
    config.add_route("whoami", "/whoami")
    config.add_view(pyramid_whoami, route_name="whoami", renderer="json")
    config.add_route("brew", "/brew")
    config.add_view(brew, route_name="brew")
    return config.make_wsgi_app()


def test_pyramid_without_credentials_is_challenged() -> None:
    response = protect(validator(pyramid_app([]))).get("/whoami", status=401)
    assert response.headers["WWW-Authenticate"] == CHALLENGE


def test_pyramid_view_sees_the_user() -> None:
    seen = protect(validator(pyramid_app([]))).get("/whoami", headers=ADMIN).json
    assert seen == {"user": "admin", "authorization": None}


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("jürgen", "Grüße-aus-Köln"),
        ("Łukasz", "zażółć-gęślą"),
        ("管理者", "パスワード"),
    ],
    ids=["latin-1-range", "beyond-latin-1", "cjk"],
)
def test_pyramid_utf8_username_round_trips(username: str, password: str) -> None:
    client = protect(validator(pyramid_app([])), {username: password})
    seen = client.get("/whoami", headers={"Authorization": basic(username, password)}).json
    assert seen["user"] == username


# -- Every framework: wrapping costs nothing the client can see ----------------


@dataclass
class Stack:
    """An unprotected framework app with ``/whoami`` and ``/brew``."""

    name: str
    app: WSGIApplication
    closed: list[str] = field(default_factory=list)


@pytest.fixture(params=["flask", "django", "pyramid"])
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    closed: list[str] = []
    if request.param == "flask":
        app = tutorial_app()
        add_flask_probes(app, closed)
        yield Stack("flask", app, closed)
    elif request.param == "django":
        django_wsgi = request.getfixturevalue("django_wsgi")

        def finished(**kwargs: Any) -> None:
            # HttpResponse.close() is what sends request_finished.
            closed.append("django")

        request_finished.connect(finished, weak=False)
        try:
            yield Stack("django", django_wsgi, closed)
        finally:
            request_finished.disconnect(finished)
    else:
        yield Stack("pyramid", pyramid_app(closed), closed)


def test_framework_is_not_called_without_credentials(stack: Stack) -> None:
    tap = Tap(stack.app)
    response = protect(validator(tap)).get("/brew", status=401)
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert tap.started == []
    assert stack.closed == []


def test_framework_sees_the_user_not_the_password(stack: Stack) -> None:
    seen = protect(validator(stack.app)).get("/whoami", headers=ADMIN).json
    assert seen["user"] == "admin"
    assert seen["authorization"] is None


def test_framework_response_reaches_the_client_unchanged(stack: Stack) -> None:
    # Raw WSGI on both sides: webtest would add a Content-Length of its own.
    tap = Tap(stack.app)
    protected = BasicAuth(validator(tap), USER_DATA)
    status, headers, body = call(protected, "/brew", HTTP_AUTHORIZATION=ADMIN["Authorization"])
    assert status.startswith("202 ")
    assert ("X-Brewed-By", stack.name) in headers
    cookies = [value.strip() for name, value in headers if name == "Set-Cookie"]
    assert any(cookie.startswith(f"brew={stack.name};") for cookie in cookies)
    assert tap.started == [(status, headers)]
    assert body == b"".join(tap.chunks) == f"brewed by {stack.name}".encode()


def test_close_reaches_the_framework(stack: Stack) -> None:
    client = protect(validator(stack.app))
    client.get("/brew", headers=ADMIN, status=202)
    assert stack.closed == [stack.name]
