"""Bad configuration: one line, exit 2, naming the option, never a secret (SPEC §8, issue 19).

Every option of the table and of the server gets a wrong value here, as a
flag and as a variable (a new row without a case fails
``test_every_option_has_a_wrong_value``); every option backed by an extra
is given without its package.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from basicauth_wsgi.hashes import hash_password
from basicauth_wsgi.htpasswd import write_htpasswd
from basicauth_wsgi.options import EXTRA_MODULES, MIDDLEWARE, STRING_OPTIONS, from_environ
from basicauth_wsgi.serving import SERVER_OPTIONS

from .support import child_env

SECRET = "S3CRET"
#: What serve takes for an application (forward-auth's own rows: tests/forward).
OPTIONS = tuple(o for o in STRING_OPTIONS if o.takes(MIDDLEWARE))
APP = "tests.ops.apps:app"

#: option name -> wrong values ("{dir}" is the test's folder). Each must be
#: refused; none of them may appear in the error where it holds SECRET.
WRONG: dict[str, list[str]] = {
    "htpasswd": ["{dir}/missing", "{dir}/bad.htpasswd", "{dir}"],
    "users": [
        f"alice:{{PLAIN}}{SECRET}-1 bob:{SECRET}-2",
        f"alice:{{PLAIN}}{SECRET} word",
        f"alice:$2y$12$abc {SECRET}",
        f"alice:y2.{SECRET}o0MabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP",
        f":{SECRET}",
        "alice:",
    ],
    "realm": ["a\nb", "☃"],
    "exclude": ["health"],
    "include": ["api"],
    "allow_cors_preflight": ["maybe"],
    "require_https": ["maybe"],
    "strip_authorization": ["maybe"],
    "max_concurrent_checks": ["0", "lots"],
    "htgroup": ["{dir}/missing"],
    "rules": ["/x", "/x GET @"],
    "throttle": ["maybe"],
    "throttle_per_client": ["many", "70000"],
    "throttle_per_user": ["-1"],
    "throttle_window": ["soon"],
    "throttle_per_password": ["many", "-1"],
    "throttle_max_entries": ["1e6"],
    "throttle_redis_url": [
        f"redis://:{SECRET}@127.0.0.1:{SECRET}/0",
        f"redis://user:{SECRET}/x@127.0.0.1/0",
        f"redis://user:{SECRET}@[::1/0",
        f"http://user:{SECRET}@127.0.0.1/0",
        f"not a url {SECRET}",
    ],
    "ldap_url": ["{dir}", "http://127.0.0.1/"],
    "ldap_user_dn": ["uid=someone"],
    "ldap_search_base": ["ou=people"],
    "ldap_search_filter": ["(uid=x)"],
    "ldap_bind_dn": ["cn=service"],
    "ldap_bind_password_file": ["{dir}/missing"],
    "ldap_bind_password": [SECRET],
    "ldap_group_base": ["ou=groups"],
    "ldap_group_filter": ["(member={dn})"],
    "ldap_nested_groups": ["maybe"],
    "ldap_memberof_attribute": ["memberOf"],
    "ldap_start_tls": ["maybe"],
    "ldap_ca_file": ["{dir}/missing"],
    "ldap_timeout": ["soon"],
    "cache": ["maybe"],
    "cache_max_entries": ["none"],
    "cache_ttl": ["-1"],
    # The server's own options.
    "host": [""],
    "port": ["http", "70000"],
    "metrics_port": ["http", "70000"],
    "app": ["tests.ops.apps", "tests.ops.nothere:app"],
    "db": [""],
    "threads": ["0"],
    "trusted_proxy": ["*", "localhost", "10.0.0.0/33"],
    "connection_limit": ["0"],
    "channel_timeout": ["never"],
    "max_request_body_size": ["-1"],
}

#: A value that works, for each option backed by an extra.
WORKING = {
    "throttle_redis_url": "redis://127.0.0.1:6379/0",
    "ldap_url": "ldap://127.0.0.1:1",
}


def test_every_option_has_a_wrong_value() -> None:
    names = {o.name for o in OPTIONS} | {o.name for o in SERVER_OPTIONS}
    assert set(WRONG) == names
    assert set(WORKING) == {o.name for o in OPTIONS if o.extra}


def _cases() -> list[Any]:
    cases = []
    for option in (*OPTIONS, *SERVER_OPTIONS):
        flag = option.flag
        envs = [option.env] if option.env else []
        envs += list(getattr(option, "env_aliases", ()))
        for n, value in enumerate(WRONG[option.name]):
            if getattr(option, "arity", "one") != "bool":
                cases.append(pytest.param(option.name, flag, value, id=f"{flag}-{n}"))
            for env in envs:
                cases.append(pytest.param(option.name, env, value, id=f"{env}-{n}"))
    return cases


@pytest.fixture
def users(tmp_path: Path) -> Path:
    path = tmp_path / "users"
    write_htpasswd(path, {"ops": hash_password("ops-pw", "sha256-crypt")})
    (tmp_path / "bad.htpasswd").write_text(f"alice:{SECRET}\n")
    return path


@pytest.mark.parametrize(("name", "where", "value"), _cases())
def test_a_wrong_value_is_one_line_exit_2_naming_it_without_secrets(
    run: Any, users: Path, tmp_path: Path, name: str, where: str, value: str
) -> None:
    value = value.replace("{dir}", str(tmp_path))
    argv = ["serve"]
    if name != "app":
        argv += ["--app", APP]
    if name not in ("htpasswd", "users"):
        argv += ["--htpasswd", str(users)]
    environ = {}
    if where.startswith("--"):
        argv += [where, value]
    else:
        environ[where] = value
    code, out, err, fake = run(*argv, environ=environ)
    assert (code, fake.calls) == (2, []), err
    [line] = err.strip().splitlines()
    assert line.startswith("basicauth-wsgi serve: error: "), line
    assert where in line, line
    assert SECRET not in line and SECRET not in out
    assert "Traceback" not in err


def test_an_alias_is_named_as_spelled(run: Any, users: Path) -> None:
    bad = "redis://127.0.0.1:x/0"
    for where in ("--redis", "BASICAUTH_REDIS_URL"):
        argv = ["serve", "--app", APP, "--htpasswd", str(users)]
        environ = {}
        if where.startswith("--"):
            argv += [where, bad]
        else:
            environ[where] = bad
        code, _, err, _ = run(*argv, environ=environ)
        assert code == 2 and where in err and "THROTTLE_REDIS_URL" not in err, err
        assert "--throttle-redis-url" not in err


def test_a_variable_and_its_alias_together_are_refused(run: Any, users: Path) -> None:
    environ = {
        "BASICAUTH_REDIS_URL": "redis://127.0.0.1:6379/0",
        "BASICAUTH_THROTTLE_REDIS_URL": "redis://127.0.0.1:6380/0",
    }
    code, _, err, _ = run("serve", "--app", APP, "--htpasswd", str(users), environ=environ)
    assert code == 2
    [line] = err.strip().splitlines()
    assert "BASICAUTH_REDIS_URL and BASICAUTH_THROTTLE_REDIS_URL are both set" in line


@pytest.mark.parametrize("option", [o for o in OPTIONS if o.extra], ids=lambda o: o.name)
def test_an_option_without_its_extra_names_the_extra(
    run: Any, users: Path, monkeypatch: pytest.MonkeyPatch, option: Any
) -> None:
    # The package hidden in process: importing it raises ImportError.
    monkeypatch.setitem(sys.modules, EXTRA_MODULES[option.extra], None)
    for where in (option.flag, option.env):
        argv = ["serve", "--app", APP, "--htpasswd", str(users)]
        environ = {}
        if where.startswith("--"):
            argv += [where, WORKING[option.name]]
        else:
            environ[where] = WORKING[option.name]
        code, _, err, fake = run(*argv, environ=environ)
        assert (code, fake.calls) == (2, [])
        [line] = err.strip().splitlines()
        assert where in line
        assert f"pip install 'basicauth-wsgi[{option.extra}]'" in line


def test_redis_without_redis_py_in_a_child_process(tmp_path: Path, users: Path) -> None:
    # A stub package that fails to import, first on the path: what a
    # machine without redis-py does (today: a traceback and exit 1).
    stub = tmp_path / "stub" / "redis"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('No module named redis')\n")
    env = {**os.environ, **child_env()}
    env["PYTHONPATH"] = os.pathsep.join([str(stub.parent), env["PYTHONPATH"]])
    result = subprocess.run(
        [sys.executable, "-m", "basicauth_wsgi", "serve", "--port", "0", "--app", APP,
         "--htpasswd", str(users)],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={**env, "BASICAUTH_REDIS_URL": f"redis://:{SECRET}@127.0.0.1:6379/0"},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "basicauth-wsgi serve: error: BASICAUTH_REDIS_URL needs the 'redis' extra, which is "
        "not installed: pip install 'basicauth-wsgi[redis]' (or '.[redis]' from a checkout)"
    ]


@pytest.mark.parametrize("value", WRONG["users"])
def test_from_environ_never_quotes_a_hash(value: str) -> None:
    with pytest.raises(ValueError, match=r"^BASICAUTH_USERS") as info:
        from_environ({"BASICAUTH_USERS": value})
    assert SECRET not in str(info.value)
    assert "{PLAIN}" not in str(info.value) or "y2." not in value
