"""The command line: ``serve`` options, environment, errors (SPEC §8)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import webtest
from helpers import ROOT, basic

from basicauth_wsgi import BasicAuth, HtpasswdFile
from basicauth_wsgi.accesslog import AccessLog
from basicauth_wsgi.cli import DEFAULT_THREADS, ServeConfig, main
from basicauth_wsgi.forwarded import TrustedProxies

from .support import Prompt, tool

if TYPE_CHECKING:
    pass


def test_serve_defaults(run: Any, tmp_path: Path) -> None:
    code, _, _, fake = run("serve")
    assert code == 0
    [(app, config)] = fake.calls
    assert config == ServeConfig()
    assert (config.host, config.port, config.threads) == ("127.0.0.1", 8080, DEFAULT_THREADS)
    assert (tmp_path / "subscribers.db").exists()
    # Outermost the forwarded-header guard, then the access log.
    assert isinstance(app, TrustedProxies) and app.trusted is None
    assert isinstance(app.app, AccessLog)


def test_generated_password_is_printed_once_and_works(run: Any) -> None:
    _, out, _, fake = run("serve", "--no-access-log")
    passwords = re.findall(r"^admin password: (\S+)$", out, re.M)
    assert len(passwords) == 1 and len(passwords[0]) >= 16
    app = webtest.TestApp(fake.calls[0][0])
    app.get("/api/v1/private", status=401)
    res = app.get("/api/v1/private", headers={"Authorization": basic("admin", passwords[0])})
    assert res.json == {"meaning_of_life": 42}
    assert app.get("/health").json == {"status": "ok"}


def test_each_start_generates_a_new_password(run: Any) -> None:
    first = run("serve")[1]
    second = run("serve")[1]
    assert first != second


def test_flags(run: Any, tmp_path: Path) -> None:
    _, _, _, fake = run(
        "serve", "--host", "192.0.2.1", "--port", "9090", "--db", "x.db", "--realm", "Ops",
        "--threads", "3", "--no-access-log",
    )  # fmt: skip
    config = fake.calls[0][1]
    assert config == ServeConfig("192.0.2.1", 9090, "x.db", "Ops", 3, access_log=False)
    middleware = fake.calls[0][0].app
    assert isinstance(middleware, BasicAuth)
    assert middleware.realm == "Ops"
    assert (tmp_path / "x.db").exists()


def test_environment_variables(run: Any) -> None:
    environ = {"HOST": "::1", "PORT": "1234", "BASICAUTH_DB": "e.db", "BASICAUTH_REALM": "Env"}
    config = run("serve", environ=environ)[3].calls[0][1]
    assert (config.host, config.port, config.db, config.realm) == ("::1", 1234, "e.db", "Env")


def test_flag_wins_over_environment(run: Any) -> None:
    config = run("serve", "--port", "5555", environ={"PORT": "1234"})[3].calls[0][1]
    assert config.port == 5555


@pytest.mark.parametrize(
    ("argv", "environ", "named"),
    [
        (["--port", "http"], {}, "--port"),
        (["--port", "70000"], {}, "--port"),
        ([], {"PORT": "eighty"}, "PORT"),
        ([], {"PORT": "-1"}, "PORT"),
        (["--threads", "0"], {}, "--threads"),
        (["--host", ""], {}, "--host"),
        (["--realm", "a\nb"], {}, "realm"),
        ([], {"BASICAUTH_REALM": "☃"}, "realm"),
    ],
    ids=["port-word", "port-range", "env-port-word", "env-port-negative", "threads-zero",
         "host-empty", "realm-newline", "env-realm-not-latin1"],
)  # fmt: skip
def test_bad_values_exit_2_naming_the_option(
    run: Any, argv: list[str], environ: dict[str, str], named: str
) -> None:
    code, _, err, fake = run("serve", *argv, environ=environ)
    assert code == 2
    assert fake.calls == []
    assert named in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_unknown_flag_exits_2(run: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        run("serve", "--prot", "1")
    assert info.value.code == 2
    assert "--prot" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "serve.py", "--help"],
        [sys.executable, "-m", "basicauth_wsgi", "serve", "--help"],
        ["basicauth-wsgi", "serve", "--help"],
    ],
    ids=["serve.py", "python-m", "console-script"],
)
def test_three_ways_to_start_share_one_cli(command: list[str]) -> None:
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "usage: basicauth-wsgi serve" in result.stdout
    assert "BASICAUTH_DB" in result.stdout


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from basicauth_wsgi import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert __version__ in capsys.readouterr().out


# -- passwd, check, audit ---------------------------------------------------------


def test_passwd_creates_the_file_0600_asking_twice(tmp_path: Path) -> None:
    path = tmp_path / "users.htpasswd"
    prompt = Prompt("s3cret", "s3cret")
    code, out, _ = tool("passwd", "-c", str(path), "alice", "--scheme", "apr1", ask=prompt)
    assert code == 0
    assert prompt.prompts == ["Password: ", "Again: "]
    assert path.stat().st_mode & 0o777 == 0o600
    assert "added user 'alice'" in out
    assert tool("check", str(path), "alice", ask=Prompt("s3cret"))[0] == 0


def test_passwd_mismatch_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "h"
    code, _, err = tool("passwd", "-c", str(path), "alice", ask=Prompt("one", "two"))
    assert code == 2
    assert "do not match" in err
    assert not path.exists()


def test_passwd_stdin_reads_one_line_without_confirmation(tmp_path: Path) -> None:
    path = tmp_path / "h"
    prompt = Prompt()
    code, _, _ = tool("passwd", "-c", str(path), "bob", "--stdin", "--scheme", "sha256-crypt",
                      stdin="pa:ss word\nignored\n", ask=prompt)  # fmt: skip
    assert code == 0 and prompt.prompts == []
    assert path.read_text().startswith("bob:$5$")
    assert tool("check", str(path), "bob", "--stdin", stdin="pa:ss word\n")[0] == 0
    assert tool("check", str(path), "bob", "--stdin", stdin="pa:ss word \n")[0] == 1


def test_passwd_updates_and_deletes_keeping_other_lines(tmp_path: Path) -> None:
    path = tmp_path / "h"
    path.write_text("# ops team\ncarol:{PLAIN}c\n")
    path.chmod(0o640)
    assert (
        tool("passwd", "-c", str(path), "alice", "--stdin", "--scheme", "apr1", stdin="a1\n")[0]
        == 0
    )
    code, out, _ = tool(
        "passwd", "-c", str(path), "alice", "--stdin", "--scheme", "apr1", stdin="a2\n"
    )
    assert code == 0 and "updated user 'alice'" in out
    assert tool("check", str(path), "alice", "--stdin", stdin="a2\n")[0] == 0
    assert path.stat().st_mode & 0o777 == 0o640
    assert tool("passwd", "-c", str(path), "alice", "-D")[0] == 0
    assert path.read_text() == "# ops team\ncarol:{PLAIN}c\n"
    code, out, _ = tool("passwd", "-c", str(path), "alice", "-D")
    assert code == 1 and "no user 'alice'" in out


def test_passwd_normalises_to_nfc(tmp_path: Path) -> None:
    path = tmp_path / "h"
    tool(
        "passwd",
        "-c",
        str(path),
        "ju\u0308rgen",
        "--stdin",
        "--scheme",
        "apr1",
        stdin="pa\u0308ss\n",
    )
    assert path.read_text().startswith("jürgen:")
    # What a client sends is NFC-normalised by the parser: the two meet.
    users = HtpasswdFile(path)
    assert users.verify("jürgen", "päss") == "jürgen"


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["passwd", "-c", "{file}", "a:b", "--stdin"], "pw\n", "not a valid username"),
        (["passwd", "-c", "{file}", "alice", "--stdin"], "\n", "empty passwords"),
        (["passwd", "-c", "{file}", "alice", "--stdin"], "tab\there\n", "control character"),
        (["passwd", "-c", "{file}", "alice", "-D", "--stdin"], "", "-D takes no password"),
        (["check", "{missing}", "alice", "--stdin"], "pw\n", "cannot read"),
        (["audit", "{missing}"], "", "cannot read"),
    ],
    ids=["colon-user", "empty-password", "control-password", "delete-with-stdin",
         "check-missing-file", "audit-missing-file"],
)  # fmt: skip
def test_tool_errors_exit_2(tmp_path: Path, argv: list[str], stdin: str, message: str) -> None:
    filled = [a.format(file=tmp_path / "h", missing=tmp_path / "missing") for a in argv]
    code, _, err = tool(*filled, stdin=stdin)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_check_exit_codes(tmp_path: Path) -> None:
    path = tmp_path / "h"
    path.write_text("alice:{PLAIN}right\nbroken:$6$nohash\n")
    assert tool("check", str(path), "alice", "--stdin", stdin="right\n")[:2] == (0, "password ok\n")
    assert tool("check", str(path), "alice", "--stdin", stdin="wrong\n")[0] == 1
    assert tool("check", str(path), "nobody", "--stdin", stdin="x\n")[0] == 1
    code, _, err = tool("check", str(path), "broken", "--stdin", stdin="x\n")
    assert code == 2 and "line 2" in err


def test_audit_lists_weak_hashes(tmp_path: Path) -> None:
    from basicauth_wsgi.hashes import hash_password

    path = tmp_path / "h"
    path.write_text(
        f"good:{hash_password('x', 'sha512-crypt')}\n"
        "# comment\n"
        "plain:{PLAIN}x\n"
        f"md5:{hash_password('x', 'apr1')}\n"
        "junk:not-a-hash\n"
    )
    code, out, _ = tool("audit", str(path))
    assert code == 1
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["line 3", "line 4", "line 5"]
    assert lines[0].startswith("line 3: plain: ")
    path.write_text(f"good:{hash_password('x', 'sha512-crypt')}\n")
    assert tool("audit", str(path)) == (0, "", "")


@pytest.mark.parametrize("command", ["passwd", "check", "audit", "serve"])
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: basicauth-wsgi {command}")


def test_serve_with_htpasswd(run: Any, tmp_path: Path) -> None:
    path = tmp_path / "users"
    tool("passwd", "-c", str(path), "ops", "--stdin", "--scheme", "apr1", stdin="opspw\n")
    code, out, _, fake = run("serve", "--htpasswd", str(path), "--no-access-log")
    assert code == 0
    assert "admin password" not in out
    app = webtest.TestApp(fake.calls[0][0])
    app.get("/api/v1/whoami", headers={"Authorization": basic("ops", "opspw")})
    code, _, _, fake = run("serve", environ={"BASICAUTH_HTPASSWD": str(path)})
    assert fake.calls[0][1].htpasswd == str(path)


def test_serve_with_a_bad_htpasswd_exits_2(run: Any, tmp_path: Path) -> None:
    (tmp_path / "bad").write_text("alice:plaintext\n")
    code, _, err, fake = run("serve", "--htpasswd", str(tmp_path / "bad"))
    assert code == 2 and fake.calls == []
    assert "line 1" in err and "'alice'" in err
    code, _, err, _ = run("serve", "--htpasswd", str(tmp_path / "missing"))
    assert code == 2 and "missing" in err


def test_serve_with_htgroup_protects_delete(run: Any, tmp_path: Path) -> None:
    users, groups = tmp_path / "users", tmp_path / "groups"
    for user in ("alice", "bob"):
        tool("passwd", "-c", str(users), user, "--stdin", "--scheme", "apr1", stdin=f"{user}-pw\n")
    groups.write_text("admin: alice\n")
    code, _, _, fake = run("serve", "--htpasswd", str(users), "--htgroup", str(groups))
    assert code == 0
    app = webtest.TestApp(fake.calls[0][0])
    alice = {"Authorization": basic("alice", "alice-pw")}
    bob = {"Authorization": basic("bob", "bob-pw")}
    for n, who in enumerate((alice, bob)):
        body = {"name": "X", "email": f"{n}@example.com"}
        assert app.post_json("/api/v1/subscribers", body, headers=who).json["id"] == n + 1
    app.delete("/api/v1/subscribers/1", headers=bob, status=403)
    app.delete("/api/v1/subscribers/1", headers=alice, status=204)
    app.get("/api/v1/subscribers/2", headers=bob, status=200)


def test_serve_htgroup_without_admin_group_exits_2(run: Any, tmp_path: Path) -> None:
    users, groups = tmp_path / "users", tmp_path / "groups"
    tool("passwd", "-c", str(users), "alice", "--stdin", "--scheme", "apr1", stdin="pw\n")
    groups.write_text("staff: alice\n")
    code, _, err, _ = run("serve", "--htpasswd", str(users), "--htgroup", str(groups))
    assert code == 2 and "admin" in err


@pytest.mark.parametrize(
    "argv",
    [["serve", "--prot", "1"], [], ["frobnicate"], ["passwd"], ["check", "f"], ["audit", "a", "b"]],
    ids=["unknown-flag", "no-command", "unknown-command", "passwd-no-args", "check-one-arg",
         "audit-two-args"],
)  # fmt: skip
def test_usage_errors_are_one_line_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("basicauth-wsgi") and "error:" in err and "--help" in err
