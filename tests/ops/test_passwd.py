"""``basicauth-wsgi passwd`` as operators of Apache and nginx expect it (SPEC §8)."""

from __future__ import annotations

import grp
import logging
import os
from pathlib import Path

import pytest
import webtest
from helpers import Recorder, auth

from basicauth_wsgi import BasicAuth, HtpasswdFile
from basicauth_wsgi.hashes import verify_password

from .support import Prompt, tool


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# -- -n: print the line, touch no file -----------------------------------------------


def test_print_writes_the_line_to_stdout_and_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = tool(
        "passwd", "-n", "alice", "--scheme", "sha256-crypt", ask=Prompt("pw", "pw")
    )
    assert (code, err) == (0, "")
    user, hashed = out.rstrip("\n").split(":", 1)
    assert user == "alice" and out.count("\n") == 1
    assert verify_password("pw", hashed)
    assert list(tmp_path.iterdir()) == []


def test_print_output_feeds_basicauth_users() -> None:
    _, out, _ = tool("passwd", "-n", "bob", "--stdin", "--scheme", "sha256-crypt", stdin="bob-pw\n")
    app = webtest.TestApp(BasicAuth.from_environ(Recorder(), {"BASICAUTH_USERS": out}))
    app.get("/", status=401)
    assert app.get("/", headers=auth("bob")).json["remote_user"] == "bob"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["passwd", "-n", "{file}", "alice"], "-n takes USER only"),
        (["passwd", "-n", "-c", "alice"], "neither -c nor -D"),
        (["passwd", "-n", "-D", "alice"], "neither -c nor -D"),
        (["passwd", "alice"], "expected FILE USER"),
        (["passwd", "{file}", "alice", "extra"], "expected FILE USER"),
        (["passwd", "-n", "a", "-C", "3"], "-C/--cost: cost must be from 4 to 31"),
        (["passwd", "-n", "a", "-C", "8", "--scheme", "apr1"], "cost applies to bcrypt only"),
        (["passwd", "-n", "a", "--rounds", "999"], "--rounds: rounds must be from 1000"),
        (["passwd", "-n", "a", "--rounds", "5000", "--scheme", "bcrypt"], "rounds applies to"),
        (["passwd", "{file}", "alice"], "does not exist (-c creates it)"),
        (["passwd", "-D", "{file}", "alice"], "does not exist"),
        (["passwd", "-c", "{folder}/users", "alice"], "folder"),
        (["passwd", "-c", "{tmp}", "alice"], "is a folder"),
    ],
    ids=["n-with-file", "n-with-create", "n-with-delete", "no-file", "three-names",
         "cost-too-low", "cost-wrong-scheme", "rounds-too-low", "rounds-wrong-scheme",
         "missing-file-without-c", "delete-missing-file", "missing-folder", "a-folder"],
)  # fmt: skip
def test_usage_errors_are_one_line_exit_2_before_any_prompt(
    tmp_path: Path, argv: list[str], message: str
) -> None:
    filled = [
        a.format(file=tmp_path / "users", folder=tmp_path / "nope", tmp=tmp_path) for a in argv
    ]
    prompt = Prompt("pw", "pw")
    code, out, err = tool(*filled, ask=prompt)
    assert code == 2 and out == ""
    line = one_line(err)
    assert message in line
    assert ".htpasswd-" not in line
    assert prompt.prompts == []
    assert not (tmp_path / "users").exists() and not (tmp_path / "nope").exists()


def test_missing_folder_names_the_users_file(tmp_path: Path) -> None:
    target = tmp_path / "nope" / "users"
    code, _, err = tool("passwd", "-c", str(target), "alice", "--stdin", stdin="pw\n")
    assert code == 2
    assert str(target) in one_line(err)


# -- -c, -C, --rounds ------------------------------------------------------------------


def test_create_makes_a_0600_file(tmp_path: Path) -> None:
    path = tmp_path / "users"
    assert tool("passwd", "-c", str(path), "alice", "--stdin", stdin="pw\n")[0] == 0
    assert path.stat().st_mode & 0o777 == 0o600
    assert HtpasswdFile(path).verify("alice", "pw") == "alice"


def test_create_on_an_existing_file_keeps_its_users(tmp_path: Path) -> None:
    path = tmp_path / "users"
    path.write_text("# team\ncarol:{PLAIN}c\n")
    code, out, _ = tool("passwd", "-c", str(path), "alice", "--stdin", "--scheme", "apr1",
                        stdin="pw\n")  # fmt: skip
    assert code == 0 and "added" in out
    text = path.read_text()
    assert text.startswith("# team\ncarol:{PLAIN}c\nalice:$apr1$")


@pytest.mark.parametrize(
    ("flags", "prefix"),
    [
        (["-C", "5"], "$2y$05$"),
        (["--cost", "4", "--scheme", "bcrypt"], "$2y$04$"),
        (["--rounds", "6000"], "$6$rounds=6000$"),
        (["--rounds", "1000", "--scheme", "sha256-crypt"], "$5$rounds=1000$"),
        (["-r", "7000", "--scheme", "sha256-crypt"], "$5$rounds=7000$"),
    ],
    ids=[
        "cost-implies-bcrypt",
        "cost-with-scheme",
        "rounds-implies-sha512",
        "rounds-sha256",
        "r-as-apache",
    ],
)
def test_work_factor_flags(flags: list[str], prefix: str) -> None:
    code, out, _ = tool("passwd", "-n", "a", "--stdin", *flags, stdin="pw\n")
    assert code == 0
    hashed = out.strip().split(":", 1)[1]
    assert hashed.startswith(prefix)
    assert verify_password("pw", hashed)


# -- writes that keep what servers rely on -----------------------------------------------


def test_writes_through_a_symlink_to_its_target(tmp_path: Path) -> None:
    real_dir = tmp_path / "secret"
    real_dir.mkdir()
    real = real_dir / "users"
    real.write_text("carol:{PLAIN}c\n")
    link = tmp_path / "users"
    link.symlink_to(real)
    assert tool("passwd", str(link), "alice", "--stdin", "--scheme", "apr1", stdin="pw\n")[0] == 0
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert "alice:$apr1$" in real.read_text()
    assert sorted(p.name for p in real_dir.iterdir()) == ["users"]  # no temp file left
    assert HtpasswdFile(link).verify("alice", "pw") == "alice"


def test_create_through_a_dangling_symlink_creates_the_target(tmp_path: Path) -> None:
    real = tmp_path / "real"
    link = tmp_path / "users"
    link.symlink_to(real)
    assert tool("passwd", "-c", str(link), "a", "--stdin", stdin="pw\n")[0] == 0
    assert link.is_symlink() and real.stat().st_mode & 0o777 == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_keeps_owner_group_and_mode_of_a_root_www_data_0640_file(tmp_path: Path) -> None:
    www = grp.getgrnam("www-data").gr_gid
    path = tmp_path / "users"
    path.write_text("carol:{PLAIN}c\n")
    os.chown(path, 0, www)
    path.chmod(0o640)
    before = path.stat().st_ino
    assert tool("passwd", str(path), "alice", "--stdin", "--scheme", "apr1", stdin="pw\n")[0] == 0
    st = path.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, www, 0o640)
    assert st.st_ino != before  # replaced atomically, not rewritten in place
    assert tool("passwd", str(path), "carol", "-D")[0] == 0
    st = path.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, www, 0o640)


def test_crlf_stays_crlf(tmp_path: Path) -> None:
    path = tmp_path / "users"
    path.write_bytes(b"# windows\r\ncarol:{PLAIN}c\r\nbob:{PLAIN}b")
    assert tool("passwd", str(path), "alice", "--stdin", "--scheme", "apr1", stdin="pw\n")[0] == 0
    data = path.read_bytes()
    assert data.startswith(b"# windows\r\ncarol:{PLAIN}c\r\nbob:{PLAIN}b\r\nalice:$apr1$")
    assert data.endswith(b"\r\n") and data.count(b"\n") == data.count(b"\r\n") == 4
    assert tool("passwd", str(path), "carol", "-D")[0] == 0
    assert path.read_bytes().startswith(b"# windows\r\nbob:{PLAIN}b\r\nalice:")


@pytest.mark.parametrize("answers", [(KeyboardInterrupt(),), ("pw", KeyboardInterrupt())],
                         ids=["first-prompt", "confirmation"])  # fmt: skip
def test_ctrl_c_at_a_prompt_exits_130_file_untouched(
    tmp_path: Path, answers: tuple[str | BaseException, ...]
) -> None:
    path = tmp_path / "users"
    path.write_bytes(b"carol:{PLAIN}c\n")
    before = path.stat()
    code, out, err = tool("passwd", str(path), "alice", ask=Prompt(*answers))
    assert code == 130 and out == ""
    assert "interrupted; nothing was changed" in err and "Traceback" not in err
    assert path.read_bytes() == b"carol:{PLAIN}c\n"
    assert path.stat().st_ino == before.st_ino
    assert [p.name for p in tmp_path.iterdir()] == ["users"]


# -- a byte-order mark ------------------------------------------------------------------

BOM_FILE = b"\xef\xbb\xbfalice:{PLAIN}alice-pw\nbob:{PLAIN}bob-pw\n"


def bom_warnings(err: str, path: Path) -> list[str]:
    return [line for line in err.splitlines() if "byte-order mark" in line and str(path) in line]


@pytest.mark.parametrize(
    ("argv", "stdin", "code"),
    [
        (["check", "{file}", "alice", "--stdin"], "alice-pw\n", 0),
        (["audit", "{file}"], "", 1),
        (["passwd", "{file}", "alice", "--stdin", "--scheme", "apr1"], "new-pw\n", 0),
    ],
    ids=["check", "audit", "passwd"],
)
def test_every_command_reads_past_a_bom_with_one_warning(
    tmp_path: Path, argv: list[str], stdin: str, code: int
) -> None:
    path = tmp_path / "users"
    path.write_bytes(BOM_FILE)
    result, out, err = tool(*[a.format(file=path) for a in argv], stdin=stdin)
    assert result == code, (out, err)
    assert len(bom_warnings(err, path)) == 1
    assert "error" not in err
    if argv[0] == "audit":
        assert out.splitlines()[0].startswith("line 1: alice: ")  # not '\ufeffalice'


def test_passwd_on_a_bom_file_keeps_one_alice(tmp_path: Path) -> None:
    path = tmp_path / "users"
    path.write_bytes(BOM_FILE)
    code, out, _ = tool("passwd", str(path), "alice", "--stdin", "--scheme", "apr1", stdin="new\n")
    assert code == 0 and "updated" in out
    data = path.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    assert [line.split(b":")[0] for line in data.splitlines()] == [b"alice", b"bob"]
    assert tool("check", str(path), "alice", "--stdin", stdin="new\n")[0] == 0


def test_the_server_reads_past_a_bom_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "users"
    path.write_bytes(BOM_FILE)
    with caplog.at_level(logging.WARNING, logger="basicauth_wsgi"):
        users = HtpasswdFile(path, reload=False)
        assert users.verify("alice", "alice-pw") == "alice"
        assert users.verify("bob", "bob-pw") == "bob"
    found = [r for r in caplog.records if "byte-order mark" in r.getMessage()]
    assert len(found) == 1 and str(path) in found[0].getMessage()
    assert found[0].levelno == logging.WARNING


# -- Apache's -v and -b (SPEC §8, issue 19) --------------------------------------------


def apache_htpasswd(*argv: str) -> int:
    import subprocess

    from .support import HTPASSWD, need

    result = subprocess.run(
        [need(HTPASSWD), *argv], capture_output=True, text=True, timeout=30, check=False
    )
    return result.returncode


@pytest.mark.parametrize("scheme", ["bcrypt", "sha512-crypt", "apr1"])
def test_b_takes_the_password_from_the_command_line_with_a_warning(
    tmp_path: Path, scheme: str
) -> None:
    path = tmp_path / "users"
    flags = ["--scheme", scheme] + (["-C", "5"] if scheme == "bcrypt" else [])
    prompt = Prompt()
    code, out, err = tool("passwd", "-cb", str(path), "alice", "pass word", *flags, ask=prompt)
    assert (code, prompt.prompts) == (0, [])
    assert "added user 'alice'" in out
    warning = one_line(err)
    assert "WARNING" in warning and "visible to other users of this machine" in warning
    assert "pass word" not in err
    # Apache's own htpasswd reads the file back: 0 for the password, 3 for another.
    assert apache_htpasswd("-vb", str(path), "alice", "pass word") == 0
    assert apache_htpasswd("-vb", str(path), "alice", "pass") == 3


def test_nb_prints_the_line(tmp_path: Path) -> None:
    code, out, err = tool("passwd", "-nb", "erin", "erin-pw", "--scheme", "sha256-crypt")
    assert code == 0 and "WARNING" in one_line(err)
    user, hashed = out.strip().split(":", 1)
    assert user == "erin" and verify_password("erin-pw", hashed)


def test_v_checks_a_file_apache_wrote(tmp_path: Path) -> None:
    path = tmp_path / "users"
    assert apache_htpasswd("-cbB", "-C", "5", str(path), "bob", "bob-pw") == 0
    assert apache_htpasswd("-bm", str(path), "carol", "carol-pw") == 0
    # -v asks once, as Apache's does, and exits as `check` does.
    prompt = Prompt("bob-pw")
    assert tool("passwd", "-v", str(path), "bob", ask=prompt)[:2] == (0, "password ok\n")
    assert prompt.prompts == ["Password: "]
    assert tool("passwd", "-v", str(path), "bob", ask=Prompt("nope"))[0] == 1
    assert tool("passwd", "-v", str(path), "carol", "--stdin", stdin="carol-pw\n")[0] == 0
    code, _, err = tool("passwd", "-vb", str(path), "carol", "carol-pw")
    assert code == 0 and "WARNING" in one_line(err)
    assert tool("passwd", "-vb", str(path), "nobody", "x")[0] == 1
    assert path.read_text().count("\n") == 2  # -v changes nothing


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["passwd", "-b", "{file}", "alice"], "expected FILE USER PASSWORD"),
        (["passwd", "-b", "--stdin", "{file}", "alice", "pw"], "not with --stdin"),
        (["passwd", "-bD", "{file}", "alice", "pw"], "-D takes no password"),
        (["passwd", "-v", "-c", "{file}", "alice"], "neither -n, -c nor -D"),
        (["passwd", "-vn", "alice"], "neither -n, -c nor -D"),
        (["passwd", "-cb", "{file}", "alice", ""], "empty passwords are not allowed"),
    ],
    ids=["b-no-password", "b-and-stdin", "b-and-delete", "v-and-create", "v-and-print",
         "b-empty"],
)  # fmt: skip
def test_v_and_b_usage_errors(tmp_path: Path, argv: list[str], message: str) -> None:
    filled = [a.format(file=tmp_path / "users") for a in argv]
    code, _, err = tool(*filled, ask=Prompt())
    assert code == 2
    assert message in err.strip().splitlines()[-1]
    assert not (tmp_path / "users").exists()
