"""Writing htpasswd files that other servers keep reading (SPEC §8)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from basicauth_wsgi.htpasswd import entry_line, update_htpasswd, write_htpasswd


def test_update_without_create_refuses_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "users"
    with pytest.raises(OSError, match=f"{path} does not exist"):
        update_htpasswd(path, "alice", "{PLAIN}a", create=False)
    assert not path.exists()


@pytest.mark.parametrize("create", [True, False], ids=["create", "no-create"])
def test_errors_name_the_users_file_never_a_temporary_one(tmp_path: Path, create: bool) -> None:
    path = tmp_path / "gone" / "users"
    with pytest.raises(OSError) as info:
        update_htpasswd(path, "alice", "{PLAIN}a", create=create)
    assert str(path) in str(info.value) and ".htpasswd-" not in str(info.value)


def test_write_through_a_symlink_keeps_the_link_and_mode(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.write_text("old:{PLAIN}o\n")
    real.chmod(0o644)
    link = tmp_path / "link"
    link.symlink_to(real.name)  # relative, as Kubernetes mounts are
    write_htpasswd(link, {"new": "{PLAIN}n"})
    assert link.is_symlink() and os.readlink(link) == "real"
    assert real.read_text() == "new:{PLAIN}n\n"
    assert real.stat().st_mode & 0o777 == 0o644


def test_a_failed_write_leaves_the_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "users"
    path.write_text("alice:{PLAIN}a\n")
    with pytest.raises(ValueError, match="newline"):
        update_htpasswd(path, "bob", "{PLAIN}b\nmallory:{PLAIN}m")
    assert path.read_text() == "alice:{PLAIN}a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["users"]


def test_a_last_line_without_newline_gets_the_files_ending(tmp_path: Path) -> None:
    path = tmp_path / "users"
    path.write_bytes(b"alice:{PLAIN}a")
    update_htpasswd(path, "bob", "{PLAIN}b")
    assert path.read_bytes() == b"alice:{PLAIN}a\nbob:{PLAIN}b\n"


@pytest.mark.parametrize(
    ("user", "hashed"), [("", "{PLAIN}x"), ("a:b", "{PLAIN}x"), ("a", "x\ny")],
    ids=["empty", "colon", "newline"],
)  # fmt: skip
def test_entry_line_refuses_what_a_file_cannot_hold(user: str, hashed: str) -> None:
    with pytest.raises(ValueError):
        entry_line(user, hashed)


def test_entry_line() -> None:
    assert entry_line("jürgen", "{PLAIN}x") == "jürgen:{PLAIN}x"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to set up another user's file")
def test_an_owner_that_cannot_be_kept_is_an_error_and_nothing_changes() -> None:
    import grp
    import pwd
    import shutil
    import subprocess
    import sys
    import tempfile

    nobody = pwd.getpwnam("nobody")
    www = grp.getgrnam("www-data").gr_gid
    folder = Path(tempfile.mkdtemp(prefix="basicauth-owner-"))
    try:
        folder.chmod(0o777)  # nobody may write a temporary file beside it
        path = folder / "users"
        path.write_text("carol:{PLAIN}c\n")
        os.chown(path, 0, www)
        path.chmod(0o666)  # and read and write it: only the owner cannot be kept
        # Import while still root (our tree may sit under a 0700 folder), then drop.
        code = (
            "import os, sys; import basicauth_wsgi.htpasswd as h\n"
            f"os.setgid({nobody.pw_gid}); os.setuid({nobody.pw_uid})\n"
            "try:\n"
            f"    h.update_htpasswd({str(path)!r}, 'alice', '{{PLAIN}}a')\n"
            "except OSError as exc:\n"
            "    print(exc); sys.exit(3)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 3, result.stderr
        assert f"cannot keep the owner and group of {path}" in result.stdout
        assert path.read_text() == "carol:{PLAIN}c\n"
        st = path.stat()
        assert (st.st_uid, st.st_gid) == (0, www)
        assert [p.name for p in folder.iterdir()] == ["users"]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
