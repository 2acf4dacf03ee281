"""HtpasswdFile, HashedUsers and the htpasswd format (SPEC §4)."""

from __future__ import annotations

import logging
import os
import shutil
import statistics
import subprocess
import threading
import time
from pathlib import Path

import pytest
import webtest
from helpers import Recorder, basic

from basicauth_wsgi import BasicAuth, HashedUsers, HtpasswdFile
from basicauth_wsgi.hashes import hash_password
from basicauth_wsgi.htpasswd import parse_htpasswd, update_htpasswd, write_htpasswd

HTPASSWD = shutil.which("htpasswd")
needs_htpasswd = pytest.mark.skipif(HTPASSWD is None, reason="Apache's htpasswd is not installed")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def apr1(password: str) -> str:
    return hash_password(password, "apr1")


# -- the format -----------------------------------------------------------


def test_parse_skips_comments_and_blank_lines() -> None:
    data = b"# users\n\nalice:{PLAIN}a\r\n  # indented comment\nbob:pbkdf2:sha256:1$s$h  \n"
    entries = list(parse_htpasswd(data, "f"))
    assert [(e.username, e.hashed, e.line) for e in entries] == [
        ("alice", "{PLAIN}a", 3),
        ("bob", "pbkdf2:sha256:1$s$h", 5),
    ]


def test_parse_reads_latin1_lines_that_are_not_utf8() -> None:
    [entry] = parse_htpasswd("jürgen:{PLAIN}x\n".encode("latin-1"), "f")
    assert entry.username == "jürgen"


@pytest.mark.parametrize("line", ["no colon here", ":{PLAIN}x"], ids=["no-colon", "empty-user"])
def test_parse_refuses_malformed_lines(line: str) -> None:
    with pytest.raises(ValueError, match=r"users\.htpasswd, line 2"):
        list(parse_htpasswd(f"ok:{{PLAIN}}x\n{line}\n".encode(), "users.htpasswd"))


# -- loading ------------------------------------------------------------------


def test_loads_and_verifies(tmp_path: Path) -> None:
    users = HtpasswdFile(write(tmp_path / "h", f"alice:{apr1('wonder')}\nbob:{apr1('builder')}\n"))
    assert len(users) == 2
    assert users.verify("alice", "wonder") == "alice"
    assert users.verify("alice", "builder") is None
    assert users.verify("carol", "wonder") is None


def test_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"nope\.htpasswd"):
        HtpasswdFile(tmp_path / "nope.htpasswd")


@pytest.mark.parametrize(
    "hashed",
    ["plaintext-password", "$6$salt", "$2y$12$tooShort", "{SSHA}!!!", "abcdefghijklm"],
    ids=["plaintext", "sha512-no-hash", "bcrypt-truncated", "ssha-bad-base64", "des-crypt"],
)
def test_bad_hash_is_an_error_naming_file_line_and_user(tmp_path: Path, hashed: str) -> None:
    path = write(tmp_path / "users.htpasswd", f"# team\nalice:{apr1('x')}\nbob:{hashed}\n")
    with pytest.raises(ValueError) as info:
        HtpasswdFile(path)
    message = str(info.value)
    assert str(path) in message and "line 3" in message and "'bob'" in message


def test_duplicate_user_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "h", f"alice:{apr1('a')}\nalice:{apr1('b')}\n")
    with pytest.raises(ValueError, match=r"line 2.*listed twice"):
        HtpasswdFile(path)


def test_empty_file_refuses_everyone_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="basicauth_wsgi"):
        users = HtpasswdFile(write(tmp_path / "h", "# nobody yet\n"))
    assert "no users" in caplog.text
    app = webtest.TestApp(BasicAuth(Recorder(), users))
    app.get("/", headers={"Authorization": basic("admin", "")}, status=401)
    app.get("/", headers={"Authorization": basic("admin", "admin")}, status=401)


def test_weak_hashes_are_warned_about_once_at_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    strong = hash_password("x", "sha512-crypt")
    path = write(tmp_path / "h", f"old:{{SHA}}qUqP5cyxm6YcTAhz05Hph5gvu9M=\nnew:{strong}\n")
    with caplog.at_level(logging.WARNING, logger="basicauth_wsgi"):
        app = webtest.TestApp(BasicAuth(Recorder(), HtpasswdFile(path)))
        loaded = len(caplog.records)
        for _ in range(5):
            app.get("/", headers={"Authorization": basic("old", "test")})
    assert loaded >= 1
    assert "'old'" in caplog.text and "'new'" not in caplog.text
    assert len(caplog.records) == loaded  # nothing more per request


def test_hashed_users_from_a_mapping() -> None:
    users = HashedUsers({"alice": apr1("wonder"), "ju\u0308rgen": apr1("x")})
    assert users.verify("alice", "wonder") == "alice"
    assert users.verify("jürgen", "x") == "jürgen"  # usernames NFC-normalised
    with pytest.raises(ValueError, match="empty"):
        HashedUsers({})
    with pytest.raises(ValueError, match="'bob'"):
        HashedUsers({"bob": "not a hash"})


def test_usernames_with_non_ascii_over_the_middleware(tmp_path: Path) -> None:
    users = HtpasswdFile(write(tmp_path / "h", f"jürgen:{apr1('pässwörd')}\n"))
    res = webtest.TestApp(BasicAuth(Recorder(), users)).get(
        "/", headers={"Authorization": basic("jürgen", "pässwörd")}
    )
    assert res.json["remote_user"] == "jürgen"


# -- reloading ----------------------------------------------------------------


def test_rewrite_in_place_is_picked_up(tmp_path: Path) -> None:
    path = write(tmp_path / "h", f"alice:{apr1('one')}\n")
    users = HtpasswdFile(path, check_interval=60)
    write(path, f"alice:{apr1('two')}\nbob:{apr1('three')}\n")
    assert users.verify("alice", "one") == "alice"  # not checked yet
    users.refresh()
    assert users.verify("alice", "two") == "alice"
    assert users.verify("bob", "three") == "bob"
    assert users.verify("alice", "one") is None


def test_replacement_by_rename_is_picked_up(tmp_path: Path) -> None:
    path = write(tmp_path / "h", f"alice:{apr1('one')}\n")
    users = HtpasswdFile(path, check_interval=60)
    os.replace(write(tmp_path / "new", f"alice:{apr1('two')}\n"), path)
    users.refresh()
    assert users.verify("alice", "two") == "alice"


def test_broken_new_version_keeps_the_last_good_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "h", f"alice:{apr1('one')}\n")
    users = HtpasswdFile(path, check_interval=60)
    write(path, f"alice:{apr1('two')}\nbob:garbage\n")
    with caplog.at_level(logging.ERROR, logger="basicauth_wsgi"):
        for _ in range(5):
            users.refresh()
            assert users.verify("alice", "one") == "alice"
            assert users.verify("alice", "two") is None
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1  # logged once, not once per check
    assert "line 2" in caplog.text and "keeping the last good version" in caplog.text
    write(path, f"alice:{apr1('three')}\n")
    users.refresh()
    assert users.verify("alice", "three") == "alice"


def test_deleted_file_keeps_the_last_good_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "h", f"alice:{apr1('one')}\n")
    users = HtpasswdFile(path, check_interval=60)
    path.unlink()
    with caplog.at_level(logging.ERROR, logger="basicauth_wsgi"):
        for _ in range(3):
            users.refresh()
            assert users.verify("alice", "one") == "alice"
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1


def test_reload_false_never_rereads(tmp_path: Path) -> None:
    path = write(tmp_path / "h", f"alice:{apr1('one')}\n")
    users = HtpasswdFile(path, reload=False)
    write(path, f"alice:{apr1('two')}\n")
    users.refresh()
    assert users.verify("alice", "one") == "alice"


def test_reload_drops_the_verification_cache(tmp_path: Path) -> None:
    path = write(tmp_path / "h", f"alice:{apr1('one')}\n")
    watched = HtpasswdFile(path, check_interval=60)
    app = webtest.TestApp(BasicAuth(Recorder(), watched))
    app.get("/", headers={"Authorization": basic("alice", "one")})
    write(path, f"alice:{apr1('two')}\n")
    watched.refresh()
    app.get("/", headers={"Authorization": basic("alice", "one")}, status=401)
    app.get("/", headers={"Authorization": basic("alice", "two")})


def test_requests_keep_flowing_while_the_file_changes(tmp_path: Path) -> None:
    # A tiny check interval: the watcher thread reloads again and again
    # while requests verify. alice is in every version.
    alice = f"alice:{apr1('stays')}\n"
    path = write(tmp_path / "h", alice)
    users = HtpasswdFile(path, check_interval=0.001)
    stop = threading.Event()
    results: list[bool] = []

    def client() -> None:
        while not stop.is_set():
            results.append(users.verify("alice", "stays") == "alice")

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for i in range(60):
            extra = "".join(f"user{j}:{apr1(str(j))}\n" for j in range(i % 7))
            os.replace(write(tmp_path / f"next{i}", alice + extra), path)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert results and all(results)
    assert users.generation > 0


def test_the_watcher_thread_reloads_without_any_request(tmp_path: Path) -> None:
    path = write(tmp_path / "h", f"alice:{apr1('one')}\n")
    users = HtpasswdFile(path, check_interval=0.05)
    os.replace(write(tmp_path / "new", f"alice:{apr1('two')}\n"), path)
    deadline = time.monotonic() + 10
    while users.generation == 0 and time.monotonic() < deadline:
        time.sleep(0.01)  # polling the watcher's result, with a deadline
    assert users.verify("alice", "two") == "alice"
    users.close()


def test_a_reload_reuses_the_dummy_hashes_of_kinds_it_still_holds(tmp_path: Path) -> None:
    from basicauth_wsgi import hashes

    path = write(tmp_path / "h", f"alice:{apr1('one')}\n")
    users = HtpasswdFile(path, check_interval=60)
    made: list[str] = []
    real = hashes.dummy_hash

    def counting(hashed: str) -> str:
        made.append(hashed)
        return real(hashed)

    hashes.dummy_hash = counting  # type: ignore[assignment]
    try:
        write(path, f"alice:{apr1('two')}\nbob:{apr1('three')}\n")
        assert users.refresh()
        assert made == []  # the same kind: nothing hashed
        write(path, f"alice:{apr1('two')}\ncarol:{hashes.hash_password('x', 'sha256-crypt')}\n")
        assert users.refresh()
        assert len(made) == 1  # only the new kind's pad
    finally:
        hashes.dummy_hash = real  # type: ignore[assignment]


# -- writing ------------------------------------------------------------------


def test_write_is_atomic_and_keeps_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "h"
    write_htpasswd(path, {"alice": apr1("a")})
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o640)
    write_htpasswd(path, {"alice": apr1("b")})
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["h"]  # no temporary left behind


def test_update_keeps_other_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "h", "# team\nalice:{PLAIN}a\n\nbob:{PLAIN}b")
    assert update_htpasswd(path, "carol", "{PLAIN}c") is True
    assert update_htpasswd(path, "alice", "{PLAIN}A") is False
    assert update_htpasswd(path, "bob", None) is True
    assert update_htpasswd(path, "bob", None) is False
    assert path.read_text() == "# team\nalice:{PLAIN}A\n\ncarol:{PLAIN}c\n"


@needs_htpasswd
def test_files_we_write_are_read_by_apache(tmp_path: Path) -> None:
    path = tmp_path / "h"
    write_htpasswd(path, {"alice": hash_password("wonder", "bcrypt"), "bob": apr1("builder")})
    for user, password in (("alice", "wonder"), ("bob", "builder")):
        ok = subprocess.run(
            [str(HTPASSWD), "-vb", str(path), user, password], capture_output=True, timeout=30
        )
        assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [str(HTPASSWD), "-vb", str(path), "bob", "x"], capture_output=True, timeout=30
    )
    assert bad.returncode != 0


@needs_htpasswd
def test_files_apache_writes_are_read_by_us(tmp_path: Path) -> None:
    path = tmp_path / "h"
    for flag, user in (("-B", "b"), ("-m", "m"), ("-s", "s"), ("-2", "two"), ("-5", "five")):
        create = ["-c"] if not path.exists() else []
        subprocess.run(
            [str(HTPASSWD), *create, "-b", flag, str(path), user, f"pw-{user}-ä"],
            check=True,
            capture_output=True,
            timeout=30,
        )
    users = HtpasswdFile(path)
    for user in ("b", "m", "s", "two", "five"):
        assert users.verify(user, f"pw-{user}-ä") == user
        assert users.verify(user, "wrong") is None


# -- timing -------------------------------------------------------------------


def test_unknown_user_costs_the_same_as_a_wrong_password() -> None:
    # A ratio of medians measured side by side in one run, not a time
    # target: an unknown user must not answer measurably faster than a
    # known user with a wrong password (SPEC §4).
    users = HashedUsers({f"user{i}": hash_password(f"pw{i}", "bcrypt") for i in range(3)})
    app = webtest.TestApp(BasicAuth(Recorder(), users, cache=None, throttle=None))

    def timed(username: str) -> float:
        start = time.perf_counter()
        app.get("/", headers={"Authorization": basic(username, "wrong")}, status=401)
        return time.perf_counter() - start

    known, unknown = [], []
    for _ in range(15):
        known.append(timed("user1"))
        unknown.append(timed("nobody"))
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.85 <= ratio <= 1.15, f"unknown/known = {ratio:.3f}"
