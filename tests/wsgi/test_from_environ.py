"""``BasicAuth.from_environ``: the middleware from ``BASICAUTH_*`` variables (SPEC §3)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import webtest
from helpers import CHALLENGE, Recorder, auth, basic

from basicauth_wsgi import BasicAuth, HashedUsers, HtpasswdFile
from basicauth_wsgi.hashes import hash_password
from basicauth_wsgi.hashes.crypt import APR1
from basicauth_wsgi.htpasswd import write_htpasswd
from basicauth_wsgi.options import OPTIONS


def client(environ: dict[str, str], **options: object) -> webtest.TestApp:
    app = BasicAuth.from_environ(Recorder(), environ, **options)
    return webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "192.0.2.10"})


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "users"
    write_htpasswd(path, {"alice": hash_password("alice-pw", "sha256-crypt")})
    return path


def test_users_variable_holds_passwd_n_lines() -> None:
    lines = "\n".join(
        f"{u}:{hash_password(p, 'sha256-crypt')}"
        for u, p in (("alice", "alice-pw"), ("bob", "bob-pw"))
    )
    for spelled in (lines, lines.replace("\n", " ")):
        app = client({"BASICAUTH_USERS": spelled})
        app.get("/", status=401)
        assert app.get("/", headers=auth("alice")).json["remote_user"] == "alice"
        assert app.get("/", headers=auth("bob")).json["remote_user"] == "bob"


def test_htpasswd_variable_names_a_file(users_file: Path) -> None:
    middleware = BasicAuth.from_environ(Recorder(), {"BASICAUTH_HTPASSWD": str(users_file)})
    app = webtest.TestApp(middleware)
    assert app.get("/", headers=auth("alice")).json["remote_user"] == "alice"
    assert app.get("/", headers=auth("alice", "wrong"), status=401)


def test_one_variable_per_option(users_file: Path) -> None:
    app = client(
        {
            "BASICAUTH_HTPASSWD": str(users_file),
            "BASICAUTH_REALM": "Ops",
            "BASICAUTH_EXCLUDE": "/health, /static/",
            "BASICAUTH_REQUIRE_HTTPS": "yes",
            "BASICAUTH_THROTTLE_PER_CLIENT": "2",
            "BASICAUTH_STRIP_AUTHORIZATION": "0",
        }
    )
    app.get("/health", status=200)
    app.get("/static/app.css", status=200)
    denied = app.get("/private", status=403, extra_environ={"REMOTE_ADDR": "192.0.2.1"})
    assert "HTTPS" in denied.text
    https = {"wsgi.url_scheme": "https"}
    challenge = app.get("/private", status=401, extra_environ=https)
    assert challenge.headers["WWW-Authenticate"] == 'Basic realm="Ops", charset="UTF-8"'
    for n in range(2):
        app.get("/private", headers=auth("alice", f"bad{n}"), extra_environ=https, status=401)
    app.get("/private", headers=auth("alice"), extra_environ=https, status=429)
    seen = client(
        {"BASICAUTH_HTPASSWD": str(users_file), "BASICAUTH_STRIP_AUTHORIZATION": "false"}
    ).get("/", headers=auth("alice"))
    assert seen.json["authorization"] == auth("alice")["Authorization"]


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"BASICAUTH_REALMM": "x"}, "BASICAUTH_REALMM"),
        ({"BASICAUTH_THROTTLE_PER_CLIENT": "many"}, "BASICAUTH_THROTTLE_PER_CLIENT"),
        ({"BASICAUTH_REQUIRE_HTTPS": "maybe"}, "BASICAUTH_REQUIRE_HTTPS"),
        ({"BASICAUTH_CACHE_TTL": "-1"}, "BASICAUTH_CACHE_TTL"),
        ({"BASICAUTH_USERS": "alice"}, "BASICAUTH_USERS"),
        ({"BASICAUTH_USERS": "alice:not-a-hash"}, "BASICAUTH_USERS"),
        ({"BASICAUTH_HTPASSWD": "/nonexistent/users"}, "/nonexistent/users"),
        ({"BASICAUTH_REALM": "x"}, "BASICAUTH_HTPASSWD"),
        ({"BASICAUTH_THROTTLE": "no", "BASICAUTH_THROTTLE_WINDOW": "9"}, "THROTTLE_WINDOW"),
        ({"BASICAUTH_MAX_CONCURRENT_CHECKS": "0"}, "BASICAUTH_MAX_CONCURRENT_CHECKS"),
        ({"BASICAUTH_REALM": "bad\x01realm"}, "BASICAUTH_REALM"),
        ({"BASICAUTH_REALM": "snow \u2603"}, "BASICAUTH_REALM"),
        ({"BASICAUTH_EXCLUDE": "/health health"}, "BASICAUTH_EXCLUDE"),
        ({"BASICAUTH_INCLUDE": "/a/../b"}, "BASICAUTH_INCLUDE"),
        ({"BASICAUTH_RULES": "/x"}, "BASICAUTH_RULES"),
    ],
    ids=["unknown", "bad-int", "bad-bool", "bad-number", "user-without-hash", "bad-hash",
         "missing-file", "no-users", "throttle-off-with-limit", "slots-zero", "realm-control",
         "realm-not-latin1", "exclude-relative", "include-not-normal", "rule-without-methods"],
)  # fmt: skip
def test_bad_or_unknown_variable_is_a_value_error_naming_it(
    environ: dict[str, str], named: str
) -> None:
    env = {"BASICAUTH_USERS": f"a:{hash_password('b', 'apr1')}", **environ}
    if "BASICAUTH_HTPASSWD" in environ or named == "BASICAUTH_HTPASSWD":
        env.pop("BASICAUTH_USERS")
    with pytest.raises(ValueError, match=named):
        BasicAuth.from_environ(Recorder(), env)


def test_htpasswd_and_users_together_is_an_error(users_file: Path) -> None:
    with pytest.raises(ValueError, match="BASICAUTH_HTPASSWD and BASICAUTH_USERS"):
        BasicAuth.from_environ(
            Recorder(),
            {"BASICAUTH_HTPASSWD": str(users_file), "BASICAUTH_USERS": "a:{PLAIN}b"},
        )


def test_other_variables_are_left_alone(users_file: Path) -> None:
    # BASICAUTH_DB belongs to serve; anything without the prefix is not ours.
    environ = {"BASICAUTH_HTPASSWD": str(users_file), "BASICAUTH_DB": "x.db", "HOME": "/root"}
    client(environ).get("/", headers=auth("alice"), status=200)


def test_keywords_win_over_the_environment(users_file: Path) -> None:
    app = client(
        {"BASICAUTH_HTPASSWD": str(users_file), "BASICAUTH_REALM": "From env"},
        realm="From code",
        users={"carol": "carol-pw"},
    )
    assert app.get("/", status=401).headers["WWW-Authenticate"] == (
        'Basic realm="From code", charset="UTF-8"'
    )
    app.get("/", headers={"Authorization": basic("carol", "carol-pw")}, status=200)
    app.get("/", headers=auth("alice"), status=401)


def test_users_keyword_means_no_users_variable_needed() -> None:
    app = client({}, users={"carol": "carol-pw"})
    assert app.get("/", status=401).headers["WWW-Authenticate"] == CHALLENGE


def test_every_option_has_its_variable() -> None:
    for option in OPTIONS:
        # The keyword in capitals; forward-auth's own rows under its name.
        stem = option.name if option.spelling is None else option.spelling
        assert option.spelling is None or option.spelling == "forward_auth_" + option.name
        assert option.env == "BASICAUTH_" + stem.upper()


# -- raw latin-1 bytes (SPEC §4) -------------------------------------------------------


def test_a_latin1_password_hashed_from_its_raw_bytes_verifies() -> None:
    # What Apache's htpasswd writes for a password typed on a latin-1 terminal,
    # and what a latin-1 client then sends: the same bytes, not valid UTF-8.
    hashed = APR1.make("päss".encode("latin-1"), "s4lt5alt")
    app = client({}, users=HashedUsers({"jürgen": hashed}))
    token = base64.b64encode("jürgen:päss".encode("latin-1")).decode("ascii")
    ok = app.get("/", headers={"Authorization": f"Basic {token}"})
    assert ok.json["remote_user"] == "jürgen"
    wrong = base64.b64encode("jürgen:pass".encode("latin-1")).decode("ascii")
    app.get("/", headers={"Authorization": f"Basic {wrong}"}, status=401)


def test_utf8_hashes_still_verify_from_utf8_and_latin1_clients(tmp_path: Path) -> None:
    path = tmp_path / "users"
    write_htpasswd(path, {"jürgen": hash_password("päss", "sha256-crypt")})
    app = client({}, users=HtpasswdFile(path))
    app.get("/", headers={"Authorization": basic("jürgen", "päss")}, status=200)
