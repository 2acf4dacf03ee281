"""ForwardAuth in process (WSGI, under wsgiref.validate): options, facts, answers (SPEC §11).

The same requests go through the real waitress, nginx and Caddy in the
other files of this folder; here every answer is pinned exactly.
"""

from __future__ import annotations

import logging
from typing import Any
from wsgiref.validate import validator

import pytest
import webtest
from helpers import Clock, basic

from basicauth_wsgi import HtgroupFile, Rule, Throttle
from basicauth_wsgi.addresses import Networks
from basicauth_wsgi.forward import ForwardAuth
from basicauth_wsgi.options import FORWARD_KEYWORDS, STRING_OPTIONS, from_environ
from basicauth_wsgi.settings import ForwardKeywords
from basicauth_wsgi.verifiers import BackendUnavailable

from ..ops.support import fail2ban_regex
from ..ops.test_attacks import PRIVATE_SPELLINGS

USERS = {"alice": "alice-pw", "bob": "bob-pw", "jürgen": "pässwörd"}
PROXY = "127.0.0.1"
CLIENT = "203.0.113.9"


def service(**options: Any) -> webtest.TestApp:
    options.setdefault("trusted_proxies", [PROXY])
    users = options.pop("users", USERS)
    app = ForwardAuth(users, **options)
    return webtest.TestApp(validator(app), extra_environ={"REMOTE_ADDR": PROXY})


def nginx(uri: str, method: str = "GET", client: str = CLIENT, **headers: str) -> dict[str, str]:
    """An auth subrequest as the shipped nginx recipe sends it."""
    return {"X-Original-URI": uri, "X-Original-Method": method, "X-Forwarded-For": client,
            "X-Forwarded-Proto": "https", **headers}  # fmt: skip


def traefik(uri: str, method: str = "GET", client: str = CLIENT, **headers: str) -> dict[str, str]:
    """A ForwardAuth request as Traefik's documentation lists it (Caddy's is the same)."""
    return {"X-Forwarded-Method": method, "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "app.example", "X-Forwarded-Uri": uri,
            "X-Forwarded-For": client, **headers}  # fmt: skip


ALICE = basic("alice", "alice-pw")


def identity(response: webtest.TestResponse) -> tuple[str | None, ...]:
    return tuple(response.headers.get(n) for n in ("Remote-User", "X-Forwarded-User",
                                                   "Remote-Groups"))  # fmt: skip


# -- options ------------------------------------------------------------------------


def test_the_typed_keywords_and_the_option_table_name_the_same_options() -> None:
    assert set(ForwardKeywords.__annotations__) | {"trusted_proxies"} == set(FORWARD_KEYWORDS)


@pytest.mark.parametrize(
    ("options", "error", "named"),
    [
        ({"trusted_proxies": "*"}, ValueError, "trusted_proxies"),
        ({"trusted_proxies": ["proxy.example"]}, ValueError, "trusted_proxies"),
        ({"trusted_proxies": []}, ValueError, "trusted_proxies"),
        ({"trusted_proxies": None}, TypeError, "trusted_proxies"),
        ({"style": "haproxy"}, ValueError, "style"),
        ({"user_headers": "Remote-User"}, TypeError, "user_headers"),
        ({"user_headers": ["Remote User"]}, ValueError, "user_headers"),
        ({"user_headers": ["Remote-User", "remote-user"]}, ValueError, "user_headers"),
        ({"groups_header": "Remote:Groups"}, ValueError, "groups_header"),
        ({"path_prefix": "/auth"}, ValueError, "path_prefix"),
        ({"style": "envoy", "path_prefix": "auth"}, ValueError, "path_prefix"),
        ({"style": "envoy", "path_prefix": "/auth/"}, ValueError, "path_prefix"),
        ({"allow_cors_preflight": True}, TypeError, "allow_cors_preflight"),
        ({"strip_authorization": False}, TypeError, "strip_authorization"),
        ({"unauthorized": lambda e, s: []}, TypeError, "unauthorized"),
        ({"realm": "a\nb"}, ValueError, "realm"),
        ({"exclude": ["health"]}, ValueError, "exclude"),
    ],
)
def test_a_bad_option_is_an_error_naming_it(
    options: dict[str, Any], error: type[Exception], named: str
) -> None:
    options.setdefault("trusted_proxies", [PROXY])
    with pytest.raises(error, match=named):
        ForwardAuth(USERS, **options)


def test_trusted_proxies_is_required() -> None:
    with pytest.raises(TypeError, match="trusted_proxies"):
        ForwardAuth(USERS)  # type: ignore[call-arg]


def test_from_environ_reads_every_forward_auth_variable(tmp_path: Any) -> None:
    users = tmp_path / "users"
    users.write_text("alice:{PLAIN}alice-pw\n")
    app = ForwardAuth.from_environ(
        {"BASICAUTH_HTPASSWD": str(users), "BASICAUTH_TRUSTED_PROXIES": "10.0.0.0/8 127.0.0.1",
         "BASICAUTH_FORWARD_AUTH_STYLE": "envoy", "BASICAUTH_FORWARD_AUTH_PATH_PREFIX": "/auth",
         "BASICAUTH_FORWARD_AUTH_USER_HEADERS": "X-User", "BASICAUTH_FORWARD_AUTH_GROUPS_HEADER":
         "off", "BASICAUTH_EXCLUDE": "/public/"}
    )  # fmt: skip
    assert (app.style, app.path_prefix, app.user_headers, app.groups_header) == (
        "envoy", "/auth", ("X-User",), None
    )  # fmt: skip
    assert app.trusted.contains("10.9.8.7") and not app.trusted.contains("192.0.2.1")
    with pytest.raises(ValueError, match="BASICAUTH_TRUSTED_PROXIES"):
        ForwardAuth.from_environ({"BASICAUTH_HTPASSWD": str(users)})
    with pytest.raises(ValueError, match="BASICAUTH_ALLOW_CORS_PREFLIGHT"):
        ForwardAuth.from_environ(
            {"BASICAUTH_HTPASSWD": str(users), "BASICAUTH_TRUSTED_PROXIES": "127.0.0.1",
             "BASICAUTH_ALLOW_CORS_PREFLIGHT": "true"}
        )  # fmt: skip


def test_the_middleware_refuses_the_forward_auth_options() -> None:
    from basicauth_wsgi import BasicAuth

    with pytest.raises(TypeError, match="trusted_proxies is an option of ForwardAuth"):
        BasicAuth(lambda e, s: [], USERS, trusted_proxies=["127.0.0.1"])  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="BASICAUTH_FORWARD_AUTH_STYLE is an option of Forward"):
        from_environ({"BASICAUTH_USERS": "a:{PLAIN}b", "BASICAUTH_FORWARD_AUTH_STYLE": "nginx"})


def test_every_forward_auth_row_is_a_flag_and_a_variable() -> None:
    rows = {o.name: (o.flag, o.env) for o in STRING_OPTIONS if o.door == "forward"}
    assert rows == {
        "trusted_proxies": ("--trusted-proxies", "BASICAUTH_TRUSTED_PROXIES"),
        "style": ("--forward-auth-style", "BASICAUTH_FORWARD_AUTH_STYLE"),
        "user_headers": ("--forward-auth-user-headers", "BASICAUTH_FORWARD_AUTH_USER_HEADERS"),
        "groups_header": ("--forward-auth-groups-header", "BASICAUTH_FORWARD_AUTH_GROUPS_HEADER"),
        "path_prefix": ("--forward-auth-path-prefix", "BASICAUTH_FORWARD_AUTH_PATH_PREFIX"),
    }


# -- who may ask ------------------------------------------------------------------------


def test_a_peer_that_is_not_a_trusted_proxy_gets_403_and_one_line_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    app = webtest.TestApp(ForwardAuth(USERS, trusted_proxies=["10.0.0.0/8"], clock=clock))
    # Even the right password, even on a path that would be public: nothing is believed.
    for _ in range(3):
        answer = app.get("/", headers=traefik("/private", Authorization=ALICE),
                         extra_environ={"REMOTE_ADDR": "192.0.2.66"}, status=403)  # fmt: skip
        assert answer.headers["X-Basicauth-Status"] == "403"
        assert identity(answer) == (None, None, None)
    lines = [r.getMessage() for r in caplog.records if "trusted_proxies" in r.getMessage()]
    assert lines == [
        "forward-auth request from 192.0.2.66 refused (403): not one of trusted_proxies "
        "(10.0.0.0/8)"
    ]
    clock.now += 61
    app.get("/", headers=traefik("/x"), extra_environ={"REMOTE_ADDR": "192.0.2.66"}, status=403)
    app.get("/", headers=traefik("/x"), extra_environ={"REMOTE_ADDR": "192.0.2.67"}, status=403)
    assert sum("trusted_proxies" in r.getMessage() for r in caplog.records) == 3
    granted = app.get("/", headers=traefik("/x", Authorization=ALICE),
                      extra_environ={"REMOTE_ADDR": "10.1.2.3"})  # fmt: skip
    assert granted.headers["Remote-User"] == "alice"


# -- answers --------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [nginx, traefik], ids=["nginx", "traefik"])
def test_a_public_path_is_200_with_the_identity_headers_present_and_empty(shape: Any) -> None:
    answer = service(exclude=["/public/"]).get("/", headers=shape("/public/x?y=1"))
    assert answer.status_int == 200 and answer.body == b""
    assert identity(answer) == ("", "", "")
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["X-Basicauth-Status"] == "200"


@pytest.mark.parametrize("shape", [nginx, traefik], ids=["nginx", "traefik"])
def test_a_granted_request_names_the_user_and_groups(shape: Any) -> None:
    app = service(groups={"admin": ["alice"], "staff": ["alice", "bob"], "ops": ["bob"]})
    answer = app.get("/", headers=shape("/private", Authorization=ALICE))
    assert identity(answer) == ("alice", "alice", "admin,staff")
    assert answer.headers["Cache-Control"] == "no-store" and answer.body == b""
    bob = app.get("/", headers=shape("/private", Authorization=basic("bob", "bob-pw")))
    assert identity(bob) == ("bob", "bob", "ops,staff")


def test_groups_come_from_a_group_file_and_follow_its_reloads(tmp_path: Any) -> None:
    path = tmp_path / "groups"
    path.write_text("admin: alice\nstaff: alice bob\n")
    groups = HtgroupFile(path, check_interval=60)
    assert groups.groups_of("alice") == {"admin", "staff"}
    assert groups.groups_of("nobody") == frozenset()
    app = service(groups=groups)
    assert identity(app.get("/", headers=traefik("/x", Authorization=ALICE)))[2] == "admin,staff"
    path.write_text("staff: alice bob\n# admin went\n")
    groups.refresh()
    assert identity(app.get("/", headers=traefik("/x", Authorization=ALICE)))[2] == "staff"


class Member:
    def __init__(self, name: str, groups: list[str]) -> None:
        self.name, self.groups = name, groups


class Directory:
    """A verifier whose principals carry their groups (as an LDAP directory's would)."""

    provides_groups = True

    def verify(self, username: str, password: str) -> Member | None:
        groups = ["ops", "a,b", "x\ny", "Domain Admins"]
        return Member(username, groups) if password == f"{username}-pw" else None


def test_groups_from_a_principal_that_carries_them_and_unsafe_names_left_out() -> None:
    app = service(users=Directory(), groups_header="X-Groups")
    answer = app.get("/", headers=traefik("/x", Authorization=ALICE))
    # A comma or a line break would let an upstream read another group out of one.
    assert answer.headers["X-Groups"] == "Domain Admins,ops"
    assert "Remote-Groups" not in answer.headers


class OwnGroups:
    """A Groups of one's own, without groups_of: rules work, Remote-Groups cannot."""

    def members(self, group: str) -> frozenset[str]:
        return frozenset({"alice"}) if group == "admin" else frozenset()

    def __contains__(self, group: object) -> bool:
        return group == "admin"


def test_groups_without_groups_of_are_said_once_and_sent_empty(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = service(groups=OwnGroups(), rules=[Rule("/admin/", groups=["admin"])])
    [line] = [r.getMessage() for r in caplog.records if "groups_of" in r.getMessage()]
    assert "Remote-Groups is sent empty" in line
    answer = app.get("/", headers=traefik("/admin/x", Authorization=ALICE))
    assert identity(answer) == ("alice", "alice", "")
    app.get("/", headers=traefik("/admin/x", Authorization=basic("bob", "bob-pw")), status=403)


def test_without_groups_the_header_is_sent_empty() -> None:
    # Caddy 2.6.2's copy_headers writes its placeholder's text for a missing header.
    answer = service().get("/", headers=traefik("/x", Authorization=ALICE))
    assert identity(answer) == ("alice", "alice", "")


def test_other_identity_header_names() -> None:
    app = service(user_headers=["X-Auth-Request-User"], groups_header=None)
    answer = app.get("/", headers=traefik("/x", Authorization=ALICE))
    assert answer.headers["X-Auth-Request-User"] == "alice"
    assert identity(answer) == (None, None, None)


def test_a_unicode_username_goes_out_as_its_utf8_bytes() -> None:
    app = service()
    answer = app.get("/", headers=traefik("/x", Authorization=basic("jürgen", "pässwörd")))
    raw = answer.headers["Remote-User"].encode("latin-1")
    assert raw.decode("utf-8") == "jürgen"


@pytest.mark.parametrize("shape", [nginx, traefik], ids=["nginx", "traefik"])
def test_401_carries_the_challenge_and_the_negotiated_page(shape: Any) -> None:
    app = service(realm="Grafana")
    answer = app.get("/", headers=shape("/private", Accept="application/json"), status=401)
    assert answer.headers["WWW-Authenticate"] == 'Basic realm="Grafana", charset="UTF-8"'
    assert answer.json["error"] == "unauthorized"
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["X-Basicauth-Status"] == "401"
    assert identity(answer) == (None, None, None)
    html = app.get("/", headers=shape("/private", Accept="text/html"), status=401)
    assert html.content_type == "text/html"
    # The asking request's own method decides the body: nginx and Traefik
    # ask with GET for a HEAD, and must get the body Content-Length names.
    head = app.get("/", headers=shape("/private", "HEAD"), status=401)
    assert len(head.body) == int(head.headers["Content-Length"]) > 0
    own = app.head("/", headers=shape("/private"), status=401)
    assert own.body == b"" and int(own.headers["Content-Length"]) > 0


def test_429_keeps_its_status_for_traefik_and_goes_as_403_for_nginx() -> None:
    app = service(throttle=Throttle(per_client=2, per_user=0))
    for n in range(2):
        app.get("/", headers=traefik("/x", Authorization=basic("alice", f"no{n}")), status=401)
    blocked = app.get("/", headers=traefik("/x", Authorization=ALICE), status=429)
    assert int(blocked.headers["Retry-After"]) >= 1
    assert blocked.headers["X-Basicauth-Status"] == "429"
    assert blocked.headers["Cache-Control"] == "no-store"
    # nginx makes a 500 of a 429; its recipe makes a 429 again of this.
    as_nginx = app.get("/", headers=nginx("/x", Authorization=ALICE), status=403)
    assert as_nginx.headers["X-Basicauth-Status"] == "429"
    assert as_nginx.headers["Retry-After"] == blocked.headers["Retry-After"]
    assert b"Too many failed login attempts" in as_nginx.body


class Down:
    def verify(self, username: str, password: str) -> str | None:
        raise BackendUnavailable("directory down", retry_after=7)


class Broken:
    def verify(self, username: str, password: str) -> str | None:
        raise RuntimeError("a bug")


def test_503_and_500_keep_their_status_for_traefik_and_go_as_403_for_nginx() -> None:
    down = service(users=Down())
    assert (
        down.get("/", headers=traefik("/x", Authorization=ALICE), status=503).headers["Retry-After"]
        == "7"
    )
    as_nginx = down.get("/", headers=nginx("/x", Authorization=ALICE), status=403)
    assert (as_nginx.headers["X-Basicauth-Status"], as_nginx.headers["Retry-After"]) == ("503", "7")
    broken = service(users=Broken())
    broken.get("/", headers=traefik("/x", Authorization=ALICE), status=500)
    crashed = broken.get("/", headers=nginx("/x", Authorization=ALICE), status=403)
    assert crashed.headers["X-Basicauth-Status"] == "500"


def test_style_nginx_answers_in_nginx_shape_whatever_arrives() -> None:
    app = service(style="nginx")
    refused = app.get("/", headers=traefik("/x"), status=403)  # no X-Original-URI: 400 as 403
    assert refused.headers["X-Basicauth-Status"] == "400"


# -- facts --------------------------------------------------------------------------------


@pytest.mark.parametrize("target", PRIVATE_SPELLINGS)
@pytest.mark.parametrize("shape", [nginx, traefik], ids=["nginx", "traefik"])
def test_no_spelling_of_a_protected_path_is_public(shape: Any, target: str) -> None:
    app = service(exclude=["/health", "/static/", "/public/"])
    answer = app.get("/", headers=shape(target), expect_errors=True)
    assert answer.headers["X-Basicauth-Status"] in ("400", "401"), answer
    assert answer.headers.get("Remote-User") is None
    # The same spelling with credentials is let through: the refusal was the path's.
    granted = app.get("/", headers=shape(target, Authorization=ALICE), expect_errors=True)
    assert granted.headers["X-Basicauth-Status"] in ("200", answer.headers["X-Basicauth-Status"])


def test_rules_see_the_original_method_and_path() -> None:
    app = service(
        rules=[Rule("/admin/", methods=["DELETE"], groups=["admin"])],
        groups={"admin": ["alice"]},
    )
    bob = basic("bob", "bob-pw")
    app.get("/", headers=traefik("/admin/x", "DELETE", Authorization=bob), status=403)
    app.get("/", headers=traefik("/admin/%2e/x", "delete", Authorization=bob), status=403)
    app.get("/", headers=traefik("/public/../admin/x", "DELETE", Authorization=bob), status=403)
    app.get("/", headers=traefik("/admin/x", "GET", Authorization=bob), status=200)
    app.get("/", headers=traefik("/admin/x", "DELETE", Authorization=ALICE), status=200)


def test_require_https_reads_the_forwarded_scheme_and_client() -> None:
    app = service(require_https=True)
    plain = {**traefik("/x", Authorization=ALICE), "X-Forwarded-Proto": "http"}
    app.get("/", headers=plain, status=403)
    # The client's address decides the loopback exemption, not the proxy's.
    app.get("/", headers={**plain, "X-Forwarded-For": "127.0.0.1"}, status=200)
    app.get("/", headers=traefik("/x", Authorization=ALICE), status=200)


@pytest.mark.parametrize(
    "headers",
    [
        {**traefik("/private"), "X.Forwarded.Uri": "/public/"},
        {**traefik("/private"), "Remote.User": "admin"},
        {**nginx("/private"), "X.Original.URI": "/public/"},
        {**traefik("/private"), "X-Forwarded+Method": "GET"},
    ],
    ids=["dotted-uri", "dotted-user", "dotted-nginx", "plus-method"],
)
def test_an_alias_of_a_fact_or_identity_header_is_400(headers: dict[str, str]) -> None:
    # webtest builds the environ as a server would: HTTP_ + upper case, "-" as "_".
    answer = service(exclude=["/public/"]).get(
        "/", headers={**headers, "Authorization": ALICE}, expect_errors=True
    )
    nginx_shape = "X-Original-URI" in headers
    assert answer.status_int == (403 if nginx_shape else 400)
    assert answer.headers["X-Basicauth-Status"] == "400"
    assert identity(answer) == (None, None, None)


def test_the_throttle_counts_the_forwarded_client_and_the_lines_name_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "basicauth_wsgi")
    app = service(throttle=Throttle(per_client=2, per_user=0))
    for n in range(2):
        wrong = nginx("/x", client="203.0.113.7", Authorization=basic("alice", f"{n}"))
        app.get("/", headers=wrong, status=401)
    app.get("/", headers=nginx("/x", client="203.0.113.7", Authorization=ALICE), status=403)
    # Another client behind the same proxy is not blocked by it.
    app.get("/", headers=nginx("/x", client="203.0.113.8", Authorization=ALICE), status=200)
    # An IPv4-mapped address counts as its IPv4 address; text is "invalid".
    app.get("/", headers=nginx("/x", client="::ffff:203.0.113.7", Authorization=ALICE), status=403)
    app.get("/", headers=nginx("/x", client="evil", Authorization=basic("alice", "x")), status=401)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("authentication")]
    regex = fail2ban_regex()
    hosts = [m["host"] for m in map(regex.search, lines) if m]
    assert hosts == ["203.0.113.7", "203.0.113.7", "203.0.113.7"]
    assert "client=invalid " in lines[-1]


def test_the_service_networks_accept_a_networks_object() -> None:
    networks = Networks.parse("127.0.0.0/8", option="trusted_proxies")
    app = webtest.TestApp(ForwardAuth(USERS, trusted_proxies=networks),
                          extra_environ={"REMOTE_ADDR": "127.0.0.5"})  # fmt: skip
    app.get("/", headers=traefik("/x", Authorization=ALICE), status=200)
