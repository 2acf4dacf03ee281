"""Configuring LdapUsers: keywords, ini keys, BASICAUTH_LDAP_* variables, serve flags, errors."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import webtest
from helpers import ROOT, auth
from ldapserver import GROUPS, PEOPLE, SERVICE_DN, SERVICE_PASSWORD, USER_DN, Slapd

from basicauth_wsgi.cli import main
from basicauth_wsgi.ldap import LdapUsers
from basicauth_wsgi.options import from_environ, from_strings

URL = "ldap://127.0.0.1:1"

BAD = [
    ({}, ValueError, "user_dn or search_base", "neither"),
    ({"user_dn": USER_DN, "search_base": PEOPLE}, ValueError, "exactly one", "both"),
    ({"url": "http://x", "user_dn": USER_DN}, ValueError, "^url: ", "scheme"),
    ({"url": "ldap://x/dc=org?uid?sub", "user_dn": USER_DN}, ValueError, "search_base", "apache"),
    ({"url": " ", "user_dn": USER_DN}, ValueError, "^url is empty", "empty url"),
    ({"user_dn": "uid=x,ou=people"}, ValueError, "must contain {username}", "no placeholder"),
    ({"user_dn": "uid={username},,=="}, ValueError, "not a DN", "bad dn"),
    ({"search_base": "not a dn"}, ValueError, "^search_base: .* not a DN", "bad base"),
    ({"search_base": PEOPLE, "search_filter": "uid={username}"}, ValueError, "parenthesised",
     "bare filter"),
    ({"search_base": PEOPLE, "bind_dn": SERVICE_DN}, ValueError, "unauthenticated bind",
     "no service password"),
    ({"search_base": PEOPLE, "bind_password": "pw"}, ValueError, "^bind_password is set",
     "password without dn"),
    ({"user_dn": USER_DN, "group_filter": "(cn={dn})"}, ValueError, "^group_filter is set",
     "filter without base"),
    ({"user_dn": USER_DN, "nested_groups": True}, ValueError, "^nested_groups needs group_base",
     "nested without base"),
    ({"user_dn": USER_DN, "group_base": GROUPS, "group_filter": "(x={user})"}, ValueError,
     "unknown placeholder", "group placeholder"),
    ({"user_dn": "{username}@corp.example.com", "group_base": GROUPS}, ValueError,
     "needs {dn}", "upn and groups by dn"),
    ({"user_dn": USER_DN, "start_tls": True, "url": "ldaps://x"}, ValueError, "^start_tls",
     "starttls on ldaps"),
    ({"user_dn": USER_DN, "ca_file": "/etc/hostname"}, ValueError, "^ca_file is set but no URL",
     "ca without tls"),
    ({"user_dn": USER_DN, "url": "ldaps://x", "ca_file": "/nonexistent"}, ValueError,
     "^ca_file: cannot read", "missing ca"),
    ({"user_dn": USER_DN, "timeout": 0}, ValueError, "^timeout", "zero timeout"),
    ({"user_dn": USER_DN, "timeout": "2"}, TypeError, "^timeout", "string timeout"),
    ({"user_dn": USER_DN, "pool_size": 0}, ValueError, "^pool_size", "no pool"),
    ({"user_dn": USER_DN, "start_tls": "yes"}, TypeError, "^start_tls", "string flag"),
    ({"user_dn": USER_DN, "memberof_attribute": "member Of"}, ValueError, "^memberof_attribute",
     "attribute"),
]  # fmt: skip


@pytest.mark.parametrize(("options", "error", "message"), [b[:3] for b in BAD],
                         ids=[b[3] for b in BAD])  # fmt: skip
def test_bad_configuration_is_refused_naming_the_keyword(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    url = options.pop("url", URL)
    with pytest.raises(error, match=message):
        LdapUsers(url, **options)


def test_an_ad_bind_name_template_binds_but_reads_no_groups() -> None:
    users = LdapUsers(URL, user_dn="{username}@corp.example.com")
    assert users.provides_groups is False
    assert LdapUsers(URL, user_dn=USER_DN).provides_groups is True


def test_the_service_password_is_in_no_repr() -> None:
    users = LdapUsers(URL, search_base=PEOPLE, bind_dn=SERVICE_DN, bind_password="s3cret-pw")
    assert "s3cret-pw" not in repr(users) and URL in repr(users)


def test_the_capabilities() -> None:
    users = LdapUsers(URL, user_dn=USER_DN)
    assert users.cache_by_default is True and users.releases_gil is False
    assert users.check_kind("anyone") == "ldap"


# -- the option table: ini keys and variables --------------------------------------------


def test_ini_keys(slapd: Slapd, tmp_path: Path) -> None:
    secret = tmp_path / "bind-password"
    secret.write_text(SERVICE_PASSWORD + "\n")  # as `echo pw > file` writes it
    kwargs = from_strings(
        {
            "ldap_url": slapd.url,
            "ldap_search_base": PEOPLE,
            "ldap_bind_dn": SERVICE_DN,
            "ldap_bind_password_file": str(secret),
            "ldap_group_base": GROUPS,
            "ldap_timeout": "1.5",
        }
    )
    users = kwargs["users"]
    assert isinstance(users, LdapUsers) and users.timeout == 1.5
    bob = users.verify("bob", "bob-pw")
    assert bob is not None and "devs" in bob.groups


def test_variables_with_the_password_in_its_own(slapd: Slapd) -> None:
    kwargs = from_environ(
        {
            "BASICAUTH_LDAP_URL": slapd.url,
            "BASICAUTH_LDAP_SEARCH_BASE": PEOPLE,
            "BASICAUTH_LDAP_BIND_DN": SERVICE_DN,
            "BASICAUTH_LDAP_BIND_PASSWORD": SERVICE_PASSWORD,
            "BASICAUTH_LDAP_START_TLS": "false",
        }
    )
    assert kwargs["users"].verify("alice", "alice-pw") is not None


SECRET = "never-shown-pw"

OPTION_ERRORS = [
    ({"ldap_url": URL, "ldap_user_dn": USER_DN, "htpasswd": "/x"}, r"ldap_url and htpasswd",
     "with htpasswd"),
    ({"ldap_url": URL, "ldap_user_dn": USER_DN, "users": "a:{PLAIN}b"}, "ldap_url and users",
     "with users"),
    ({"ldap_user_dn": USER_DN}, "ldap_user_dn is set but ldap_url is not", "no url"),
    ({"ldap_url": URL}, "give one of ldap_user_dn", "neither"),
    ({"ldap_url": URL, "ldap_search_base": PEOPLE, "ldap_bind_password": SECRET},
     "ldap_bind_password is set but ldap_bind_dn is not", "password without dn"),
    ({"ldap_url": URL, "ldap_search_base": PEOPLE, "ldap_bind_dn": SERVICE_DN,
      "ldap_bind_password": SECRET, "ldap_bind_password_file": "/etc/hostname"},
     "both set", "two passwords"),
    ({"ldap_url": URL, "ldap_search_base": PEOPLE, "ldap_bind_dn": SERVICE_DN,
      "ldap_bind_password_file": "/nonexistent"}, "cannot read /nonexistent", "missing file"),
    ({"ldap_url": "gopher://x", "ldap_user_dn": USER_DN}, "^ldap_url: url: ", "bad url"),
    ({"ldap_url": URL, "ldap_user_dn": USER_DN, "ldap_timeout": "0"}, "^ldap_timeout: ",
     "zero timeout"),
    ({"ldap_url": URL, "ldap_search_base": PEOPLE, "ldap_bind_dn": "",
      "ldap_bind_password": SECRET}, "^ldap_bind_dn: ", "empty dn"),
]  # fmt: skip


@pytest.mark.parametrize(("settings", "message"), [e[:2] for e in OPTION_ERRORS],
                         ids=[e[2] for e in OPTION_ERRORS])  # fmt: skip
def test_option_errors_name_the_options_and_never_the_password(
    settings: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        from_strings(settings)
    assert SECRET not in str(caught.value)


def test_an_empty_password_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("\n")
    with pytest.raises(ValueError, match=r"ldap_bind_password_file: .* is empty"):
        from_strings({"ldap_url": URL, "ldap_search_base": PEOPLE, "ldap_bind_dn": SERVICE_DN,
                      "ldap_bind_password_file": str(tmp_path / "pw")})  # fmt: skip


# -- serve -------------------------------------------------------------------------------


class Served:
    """Stands in for waitress: keeps the application serve would have served."""

    def __init__(self) -> None:
        self.apps: list[Any] = []

    def __call__(self, app: Any, config: Any, stdout: Any) -> None:
        self.apps.append(app)


@pytest.fixture
def serve() -> Iterator[Callable[..., tuple[int, str, Served]]]:
    """``basicauth-wsgi serve ARGV`` in process: exit code, output, what it would serve."""

    def run(*argv: str, environ: dict[str, str] | None = None) -> tuple[int, str, Served]:
        out, err, served = io.StringIO(), io.StringIO(), Served()
        code = main(
            ["serve", "--port", "0", "--no-access-log", *argv],
            environ=environ or {},
            stdout=out,
            stderr=err,
            serve=served,
        )
        return code, out.getvalue() + err.getvalue(), served

    yield run
    # main() configures the library's loggers, as a program does; undo it.
    for name in ("basicauth_wsgi", "waitress", "basicauth_wsgi.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)


def test_serve_flags_build_the_directory_users(slapd: Slapd, tmp_path: Path, serve: Any) -> None:
    secret = tmp_path / "pw"
    secret.write_text(SERVICE_PASSWORD)
    code, output, served = serve(
        "--db", str(tmp_path / "api.db"), "--ldap-url", slapd.url, "--ldap-search-base", PEOPLE,
        "--ldap-bind-dn", SERVICE_DN, "--ldap-bind-password-file", str(secret),
    )  # fmt: skip
    assert code == 0, output
    assert "admin password" not in output  # the directory's users, not a generated one
    app = webtest.TestApp(served.apps[0], extra_environ={"REMOTE_ADDR": "192.0.2.10"})
    assert app.get("/api/v1/whoami", headers=auth("alice")).json == {"user": "alice"}
    app.get("/api/v1/whoami", headers=auth("alice", "wrong"), status=401)
    assert SERVICE_PASSWORD not in output


def test_serve_takes_the_password_from_its_variable(
    slapd: Slapd, tmp_path: Path, serve: Any
) -> None:
    code, output, served = serve(
        "--db", str(tmp_path / "api.db"), "--ldap-url", slapd.url, "--ldap-search-base", PEOPLE,
        environ={"BASICAUTH_LDAP_BIND_DN": SERVICE_DN,
                 "BASICAUTH_LDAP_BIND_PASSWORD": SERVICE_PASSWORD},
    )  # fmt: skip
    assert code == 0, output
    app = webtest.TestApp(served.apps[0], extra_environ={"REMOTE_ADDR": "192.0.2.10"})
    app.get("/api/v1/private", headers=auth("bob"))


@pytest.mark.parametrize(
    "given", [["--ldap-bind-password", SECRET], [f"--ldap-bind-password={SECRET}"]]
)
def test_a_password_flag_is_refused_without_being_shown(given: list[str], serve: Any) -> None:
    code, output, served = serve("--ldap-url", URL, "--ldap-user-dn", USER_DN, *given)
    assert code == 2 and served.apps == []
    assert output.count("\n") == 1 and SECRET not in output


def test_a_password_flag_error_names_the_variable(serve: Any) -> None:
    code, output, _ = serve(
        "--ldap-url", URL, "--ldap-user-dn", USER_DN, "--ldap-bind-password", SECRET
    )
    assert code == 2
    assert "BASICAUTH_LDAP_BIND_PASSWORD" in output and SECRET not in output


def test_serve_errors_are_one_line_and_exit_2(tmp_path: Path, serve: Any) -> None:
    (tmp_path / "users").write_text("")
    code, output, served = serve(
        "--ldap-url", URL, "--ldap-user-dn", USER_DN, "--htpasswd", str(tmp_path / "users"),
        environ={"BASICAUTH_LDAP_BIND_PASSWORD": SECRET},
    )  # fmt: skip
    assert code == 2 and served.apps == []
    assert output.count("\n") == 1 and "--ldap-url and --htpasswd" in output
    assert SECRET not in output


def test_without_python_ldap_serve_says_which_extra_to_install() -> None:
    # A child in which `import ldap` fails, as where python-ldap is not installed.
    program = (
        "import sys; sys.modules['ldap'] = None\n"
        "from basicauth_wsgi.cli import main\n"
        f"raise SystemExit(main(['serve', '--port', '0', '--ldap-url', {URL!r}, "
        f"'--ldap-user-dn', {USER_DN!r}]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'basicauth-wsgi[ldap]'" in lines[0], done.stderr
    assert "--ldap-url" in lines[0] and "Traceback" not in done.stderr
