"""Regenerate tests/hashes/vectors/ with the real tools (not run by the test suite).

Every vector file is an htpasswd-style list of ``variant@password-key:hash``
lines; the password of each line is ``passwords.json[password-key]``. The
header of each file records the tool versions and, per section, the exact
command that made its lines. Salts are random, so a rerun rewrites every
hash; the tests only need each one to verify with its password.

Usage: ``python tests/hashes/make_vectors.py`` (needs htpasswd, openssl, perl with
Digest::SHA, Werkzeug and argon2-cffi).
"""

from __future__ import annotations

import importlib.metadata
import json
import secrets
import shlex
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

VECTORS = Path(__file__).resolve().parent / "vectors"
TIMEOUT = 60

PASSWORDS = {
    "ascii": "correct horse battery staple",
    "umlaut": "pässwörd",
    "cjk": "日本語",
    "emoji": "emoji 🔐",
    "colon": "pass:word:with:colons",
    "empty": "",
    # 72 ASCII bytes, then a tail that bcrypt never reads.
    "long": "0123456789abcdef" * 4 + "ABCDEFGH" + " and this tail is past byte 72",
    # "é" is bytes 71 and 72: bcrypt's 72-byte cut falls inside a character.
    "long-split": "x" * 71 + "é and the rest is past byte 72",
}

# The password keys each kind of vector is made for; the slow ones get fewer.
ALL = list(PASSWORDS)
NON_EMPTY = [key for key in PASSWORDS if PASSWORDS[key]]
FEW = ["ascii", "umlaut", "emoji"]

BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
CRYPT_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

PERL_SCRIPT = r"""
use strict; use warnings; use Digest::SHA qw(sha1); use MIME::Base64;
while (my $line = <STDIN>) {
    chomp $line;
    my ($user, $setting, $password) = split /\t/, $line, 3;
    if ($setting =~ /^ssha:([0-9a-f]*)$/) {
        my $salt = pack("H*", $1);
        print "$user:{SSHA}", encode_base64(sha1($password . $salt) . $salt, ""), "\n";
    } else {
        print "$user:", crypt($password, $setting), "\n";
    }
}
"""


def run(args: list[str], stdin: str | None = None) -> str:
    result = subprocess.run(
        args,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=TIMEOUT,
        check=True,
    )
    return result.stdout


def version(package: str) -> str:
    out = run(["dpkg-query", "-W", "-f", "${Version}", package])
    return f"{package} {out}"


def random_from(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def write(name: str, header: list[str], sections: Iterable[tuple[str, list[str]]]) -> None:
    lines = [f"# {line}" if line else "#" for line in header]
    for command, entries in sections:
        lines.append("")
        lines.append(f"# {command}")
        lines.extend(entries)
    (VECTORS / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {VECTORS / name}")


COMMON_HEADER = [
    "Test vectors: lines are VARIANT@KEY:HASH; the password is passwords.json[KEY].",
    "Regenerate with: python tests/hashes/make_vectors.py",
]


def htpasswd_section(variant: str, options: list[str], keys: list[str]) -> tuple[str, list[str]]:
    entries = []
    for key in keys:
        user = f"{variant}@{key}"
        out = run(["htpasswd", "-nb", *options, user, PASSWORDS[key]])
        entries.append(out.splitlines()[0])
    return shlex.join(["htpasswd", "-nb", *options, "USER", "PASSWORD"]), entries


def make_htpasswd() -> None:
    versions = [f"Made by Apache htpasswd ({version('apache2-utils')}, {version('libcrypt1')})."]
    sections = [
        htpasswd_section("bcrypt", ["-B"], ALL),
        htpasswd_section("bcrypt-C4", ["-B", "-C", "4"], ALL),
        htpasswd_section("bcrypt-C10", ["-B", "-C", "10"], ["ascii"]),
        htpasswd_section("md5", ["-m"], ALL),
        htpasswd_section("sha1", ["-s"], ALL),
        htpasswd_section("sha256", ["-2"], ALL),
        htpasswd_section("sha512", ["-5"], ALL),
        htpasswd_section("sha256-r10000", ["-2", "-r", "10000"], FEW),
        htpasswd_section("sha512-r1000", ["-5", "-r", "1000"], FEW),
    ]
    write("htpasswd-apache.txt", [*COMMON_HEADER, *versions], sections)
    # Formats we refuse, as Apache writes them: each line must raise ValueError.
    refused = [
        htpasswd_section("plain", ["-p"], NON_EMPTY),
        htpasswd_section("des", ["-d"], ["ascii", "umlaut"]),
    ]
    header = [
        *COMMON_HEADER,
        *versions,
        "Formats basicauth_wsgi refuses (plaintext, DES crypt): each must raise ValueError.",
    ]
    write("htpasswd-refused.txt", header, refused)


def openssl_section(variant: str, options: list[str], keys: list[str]) -> tuple[str, list[str]]:
    entries = []
    for key in keys:
        out = run(["openssl", "passwd", *options, PASSWORDS[key]])
        entries.append(f"{variant}@{key}:{out.strip()}")
    return shlex.join(["openssl", "passwd", *options, "PASSWORD"]), entries


def make_openssl() -> None:
    header = [
        *COMMON_HEADER,
        f"Made by {run(['openssl', 'version']).strip()}.",
        "openssl passwd -5/-6 prints <NULL> for an empty password, so those sections skip it.",
    ]
    sections = [
        openssl_section("md5", ["-1"], ALL),
        openssl_section("apr1", ["-apr1"], ALL),
        openssl_section("sha256", ["-5"], NON_EMPTY),
        openssl_section("sha512", ["-6"], NON_EMPTY),
        openssl_section("md5-salt", ["-1", "-salt", "saltsalt"], FEW),
        openssl_section("apr1-salt", ["-apr1", "-salt", "saltsalt"], FEW),
        openssl_section("sha256-salt", ["-5", "-salt", "saltstring"], FEW),
        openssl_section("sha512-salt", ["-6", "-salt", "saltstring"], FEW),
        openssl_section("sha256-rounds", ["-5", "-salt", "rounds=1000$short"], FEW),
        openssl_section("sha512-rounds", ["-6", "-salt", "rounds=10000$saltstringsaltst"], FEW),
    ]
    write("openssl.txt", header, sections)


def python_section(
    variant: str, call: str, make: Callable[[str], str], keys: list[str]
) -> tuple[str, list[str]]:
    return call, [f"{variant}@{key}:{make(PASSWORDS[key])}" for key in keys]


def make_werkzeug() -> None:
    from werkzeug.security import generate_password_hash

    header = [
        *COMMON_HEADER,
        f"Made by Werkzeug {importlib.metadata.version('werkzeug')} (Python).",
    ]
    sections = [
        python_section(
            "pbkdf2-sha256",
            'werkzeug.security.generate_password_hash(PASSWORD, "pbkdf2:sha256")',
            lambda pw: generate_password_hash(pw, "pbkdf2:sha256"),
            FEW,
        ),
        python_section(
            "pbkdf2-sha512-1000",
            'werkzeug.security.generate_password_hash(PASSWORD, "pbkdf2:sha512:1000")',
            lambda pw: generate_password_hash(pw, "pbkdf2:sha512:1000"),
            ALL,
        ),
        python_section(
            "scrypt",
            'werkzeug.security.generate_password_hash(PASSWORD, "scrypt")',
            lambda pw: generate_password_hash(pw, "scrypt"),
            ALL,
        ),
    ]
    write("werkzeug.txt", header, sections)


def make_argon2() -> None:
    from argon2 import PasswordHasher, Type
    from argon2.low_level import hash_secret

    def v16(password: str) -> str:
        encoded = hash_secret(
            password.encode(), secrets.token_bytes(16), 1, 1024, 1, 32, Type.ID, version=16
        )
        return encoded.decode("ascii")

    header = [
        *COMMON_HEADER,
        f"Made by argon2-cffi {importlib.metadata.version('argon2-cffi')} (Python).",
    ]
    sections = [
        python_section(
            "t1-m8192-p1",
            "argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)",
            PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash,
            ALL,
        ),
        python_section(
            "t2-m19456-p1",
            "argon2.PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash(PASSWORD)",
            PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash,
            FEW,
        ),
        python_section(
            "v16",
            "argon2.low_level.hash_secret(PASSWORD, SALT16, 1, 1024, 1, 32, Type.ID, version=16)",
            v16,
            FEW,
        ),
    ]
    write("argon2.txt", header, sections)


def make_perl() -> None:
    def bcrypt_setting(ident: str) -> str:
        # The 22nd character carries 2 bits of salt: only .Oeu are canonical.
        return f"${ident}$04${random_from(BCRYPT_ALPHABET, 21)}{secrets.choice('.Oeu')}"

    kinds: list[tuple[str, str, Callable[[], str], list[str]]] = [
        ("bcrypt-2a", "crypt(PASSWORD, '$2a$04$' . SALT22)", lambda: bcrypt_setting("2a"), ALL),
        ("bcrypt-2b", "crypt(PASSWORD, '$2b$04$' . SALT22)", lambda: bcrypt_setting("2b"), ALL),
        ("bcrypt-2y", "crypt(PASSWORD, '$2y$04$' . SALT22)", lambda: bcrypt_setting("2y"), FEW),
        (
            "md5",
            "crypt(PASSWORD, '$1$' . SALT8)",
            lambda: "$1$" + random_from(CRYPT_ALPHABET, 8),
            FEW,
        ),
        (
            "sha256",
            "crypt(PASSWORD, '$5$' . SALT16)",
            lambda: "$5$" + random_from(CRYPT_ALPHABET, 16),
            FEW,
        ),
        (
            "sha512-r6000",
            "crypt(PASSWORD, '$6$rounds=6000$' . SALT16)",
            lambda: "$6$rounds=6000$" + random_from(CRYPT_ALPHABET, 16),
            FEW,
        ),
        (
            "ssha4",
            '"{SSHA}" . encode_base64(sha1(PASSWORD . SALT4) . SALT4, "")',
            lambda: "ssha:" + secrets.token_hex(4),
            ALL,
        ),
        (
            "ssha8",
            '"{SSHA}" . encode_base64(sha1(PASSWORD . SALT8) . SALT8, "")',
            lambda: "ssha:" + secrets.token_hex(8),
            FEW,
        ),
    ]
    sections = []
    for variant, command, setting, keys in kinds:
        stdin = "".join(f"{variant}@{key}\t{setting()}\t{PASSWORDS[key]}\n" for key in keys)
        sections.append((command, run(["perl", "-e", PERL_SCRIPT], stdin=stdin).splitlines()))
    perl_version = run(["perl", "-e", "print $^V"])
    header = [
        *COMMON_HEADER,
        f"Made by perl {perl_version}: crypt() is {version('libcrypt1')} (libxcrypt),",
        "{SSHA} is Digest::SHA + MIME::Base64. Passwords are fed as UTF-8 bytes by this script:",
        *(f"  {line}" if line else "" for line in PERL_SCRIPT.strip().splitlines()),
    ]
    write("perl.txt", header, sections)


def main() -> None:
    VECTORS.mkdir(exist_ok=True)
    (VECTORS / "passwords.json").write_text(
        json.dumps(PASSWORDS, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    make_htpasswd()
    make_openssl()
    make_werkzeug()
    make_argon2()
    make_perl()


if __name__ == "__main__":
    main()
