"""PasteDeploy and the string options table (basicauth_wsgi.config, basicauth_wsgi.paste)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import webtest
from helpers import ROOT, Recorder, basic
from paste.deploy import loadapp, loadfilter

from basicauth_wsgi import BasicAuth, HtgroupFile, HtpasswdFile, Throttle, VerificationCache
from basicauth_wsgi.config import OPTIONS, options_from_strings
from basicauth_wsgi.hashes import hash_password
from basicauth_wsgi.htpasswd import write_htpasswd

INI = Path(__file__).parent / "paste" / "protected.ini"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """The example .ini next to a users file and a group file."""
    shutil.copy(INI, tmp_path / "protected.ini")
    write_htpasswd(
        tmp_path / "users.htpasswd",
        {
            "alice": hash_password("alice-pw", "sha512-crypt"),
            "bob": hash_password("bob-pw", "sha512-crypt"),
        },
    )
    (tmp_path / "groups").write_text("admin: alice\n")
    return tmp_path


def test_ini_pipeline_protects_the_api(site: Path) -> None:
    app = webtest.TestApp(loadapp(f"config:{site / 'protected.ini'}"))
    denied = app.get("/api/v1/private", status=401)
    assert denied.headers["WWW-Authenticate"] == 'Basic realm="Mailing list", charset="UTF-8"'
    alice = {"Authorization": basic("alice", "alice-pw")}
    bob = {"Authorization": basic("bob", "bob-pw")}
    assert app.get("/api/v1/private", headers=alice).json == {"meaning_of_life": 42}
    assert app.get("/health").json == {"status": "ok"}
    created = app.post_json(
        "/api/v1/subscribers", {"name": "A", "email": "a@example.com"}, headers=bob
    )
    app.delete(created.headers["Location"], headers=bob, status=403)
    app.delete(created.headers["Location"], headers=alice, status=204)
    assert (site / "api.db").exists()


def test_ini_values_are_converted(site: Path) -> None:
    auth = loadfilter(f"config:{site / 'protected.ini'}", name="auth")(Recorder())
    assert isinstance(auth, BasicAuth)
    assert isinstance(auth.verifier, HtpasswdFile)
    assert isinstance(auth.groups, HtgroupFile)
    assert auth.exclude.patterns == ("/health",)
    assert auth.require_https is False
    assert isinstance(auth.throttle, Throttle)
    assert (auth.throttle.per_client, auth.throttle.per_user, auth.throttle.window) == (
        3,
        100,
        60.0,
    )
    assert isinstance(auth.cache, VerificationCache) and auth.cache.ttl == 120.0
    assert [r.path for r in auth.rules] == ["/api/v1/subscribers/"]


def test_ini_throttle_applies(site: Path) -> None:
    app = webtest.TestApp(loadapp(f"config:{site / 'protected.ini'}"))
    for n in range(3):
        app.get("/api/v1/private", headers={"Authorization": basic("bob", f"nope{n}")}, status=401)
    res = app.get("/api/v1/private", headers={"Authorization": basic("bob", "bob-pw")}, status=429)
    assert int(res.headers["Retry-After"]) >= 1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("realms = x", "unknown option 'realms'"),
        ("require_https = perhaps", "require_https = 'perhaps': expected true or false"),
        ("throttle_per_client = many", "throttle_per_client"),
        ("throttle_window = -5", "throttle_window"),
        ("exclude = health", "exclude entry 'health' must start with '/'"),
        ("realm = a\\u2603", "realm"),
        ("htgroup = %(here)s/missing", "missing"),
        ("rules = /admin/", "expected 'PATH METHODS"),
    ],
    ids=["unknown-key", "bad-bool", "bad-int", "negative-window", "relative-exclude",
         "realm-not-latin1", "missing-group-file", "rule-without-methods"],
)  # fmt: skip
def test_bad_ini_stops_start_up_naming_the_option(site: Path, line: str, message: str) -> None:
    ini = site / "protected.ini"
    line = line.replace("\\u2603", "\u2603")
    key = line.split(" = ")[0]
    lines = ini.read_text().splitlines()
    # Replace the key's own line if the .ini has it, else the realm line.
    at = next((i for i, old in enumerate(lines) if old.startswith(f"{key} =")), None)
    if at is None:
        at = lines.index("realm = Mailing list")
    lines[at] = line
    ini.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(
        (ValueError, TypeError), match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        loadapp(f"config:{ini}")


def test_htpasswd_is_required() -> None:
    with pytest.raises(ValueError, match="'htpasswd' is required"):
        options_from_strings({"realm": "x"})


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"exclude": "/health, /static/\n /metrics"},
            {"exclude": ["/health", "/static/", "/metrics"]},
        ),
        ({"require_https": "YES"}, {"require_https": True}),
        ({"strip_authorization": "off"}, {"strip_authorization": False}),
        ({"throttle": "false"}, {"throttle": None}),
        ({"cache": "no"}, {"cache": None}),
    ],
    ids=["path-list", "bool-yes", "bool-off", "throttle-off", "cache-off"],
)
def test_string_conversions(
    tmp_path: Path, settings: dict[str, str], expected: dict[str, Any]
) -> None:
    users = tmp_path / "u"
    write_htpasswd(users, {"a": hash_password("b", "sha256-crypt")})
    kwargs = options_from_strings({"htpasswd": str(users), **settings})
    for key, value in expected.items():
        assert kwargs[key] == value


@pytest.mark.parametrize(
    "settings",
    [{"throttle": "false", "throttle_per_client": "5"}, {"cache": "false", "cache_ttl": "5"}],
    ids=["throttle", "cache"],
)
def test_contradictions_are_errors(tmp_path: Path, settings: dict[str, str]) -> None:
    users = tmp_path / "u"
    write_htpasswd(users, {"a": hash_password("b", "sha256-crypt")})
    with pytest.raises(ValueError, match="= false, but"):
        options_from_strings({"htpasswd": str(users), **settings})


def test_every_option_is_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    for name, option in OPTIONS.items():
        assert option.help
        assert f"`{name}`" in readme, f"ini key {name} is missing from the README"
