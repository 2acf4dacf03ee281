"""README "Quoting hashes": each recipe run as an operator would, with a real bcrypt hash.

The shell and ``.env`` recipes run in real shells (``sh``, and ``bash`` when
installed); docker-compose's through ``docker compose config`` when it is
installed, else by compose's documented interpolation rule; the Kubernetes
Secret is parsed as YAML, as kubectl reads it. And the trap itself: the same
hash in double quotes reaches ``serve``, which says what happened.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from helpers import ROOT

from basicauth_wsgi.hashes import hash_password, verify_password
from basicauth_wsgi.options import from_environ

from .support import child_env

README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("## Quoting hashes") : README.index("## Clients")]
BLOCKS = [(m[1], m[2]) for m in re.finditer(r"^```(\w+)\n(.*?)^```$", SECTION, re.M | re.S)]
PASSWORD = "alice-pw"
PLACEHOLDER = "alice:$2y$12$..."
SHELLS = [s for s in ("sh", "bash") if shutil.which(s)]


def block(lang: str, containing: str) -> str:
    [code] = [c for kind, c in BLOCKS if kind == lang and containing in c]
    return code


@pytest.fixture(scope="module")
def line() -> str:
    """A real bcrypt line, as ``passwd -n`` prints it (the default cost, 12)."""
    hashed = hash_password(PASSWORD, "bcrypt")
    assert hashed.startswith("$2y$12$")
    return f"alice:{hashed}"


@pytest.fixture
def bin_dir(tmp_path: Path) -> Iterator[Path]:
    """Stand-ins on PATH: ``basicauth-wsgi`` runs ours with the password on stdin
    (a recipe's prompt has nobody to answer it here); ``kubectl`` prints its arguments."""
    folder = tmp_path / "bin"
    folder.mkdir()
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    tool = folder / "basicauth-wsgi"
    tool.write_text(
        f'#!/bin/sh\nexec {sys.executable} -m basicauth_wsgi "$@" --stdin < {tmp_path / "pw"}\n'
    )
    kubectl = folder / "kubectl"
    kubectl.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    for stub in (tool, kubectl):
        stub.chmod(0o755)
    yield folder


def sh(shell: str, script: str, cwd: Path, bin_dir: Path) -> str:
    env = {**os.environ, **child_env(), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("BASICAUTH_USERS", None)
    result = subprocess.run(
        [shell, "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def recipes() -> dict[str, list[str]]:
    """The shell block's recipes, by the comment above each."""
    found: dict[str, list[str]] = {}
    for text in block("sh", "export BASICAUTH_USERS").splitlines():
        if text.startswith("# "):
            found[text[2:].split(":")[0]] = current = []
        elif text:
            current.append(text)
    assert set(found) == {
        "Shell",
        "A .env file read by a shell (set -a; . ./.env)",
        'docker-compose reads "$" in compose.yaml itself',
        "Kubernetes",
    }
    return found


def valid(text: str) -> bool:
    user, _, hashed = text.partition(":")
    return user == "alice" and verify_password(PASSWORD, hashed)


@pytest.mark.parametrize("shell", SHELLS)
def test_shell_recipes_keep_every_dollar(
    shell: str, line: str, tmp_path: Path, bin_dir: Path
) -> None:
    quoted, substituted = recipes()["Shell"]
    assert PLACEHOLDER in quoted
    show = '; printf "%s" "$BASICAUTH_USERS"'
    assert sh(shell, quoted.replace(PLACEHOLDER, line) + show, tmp_path, bin_dir) == line
    assert valid(sh(shell, substituted + show, tmp_path, bin_dir))


@pytest.mark.parametrize("shell", SHELLS)
def test_dotenv_recipe_keeps_every_dollar(shell: str, tmp_path: Path, bin_dir: Path) -> None:
    script = "\n".join(recipes()["A .env file read by a shell (set -a; . ./.env)"])
    out = sh(shell, script + '\nprintf "%s" "$BASICAUTH_USERS"', tmp_path, bin_dir)
    assert valid(out)
    assert (tmp_path / ".env").read_text().startswith("BASICAUTH_USERS='alice:$2y$")


@pytest.mark.parametrize("shell", SHELLS)
def test_double_quotes_eat_the_dollars_and_serve_says_so(
    shell: str, line: str, tmp_path: Path, bin_dir: Path
) -> None:
    # The trap the section is about, for real: the shell expands $2, $0 ... inside "".
    mangled = sh(shell, f'printf "%s" "{line}"', tmp_path, bin_dir)
    assert mangled.startswith("alice:y2")
    (tmp_path / ".env").write_text(f'BASICAUTH_USERS="{line}"\n')
    from_env = sh(shell, 'set -a; . ./.env; set +a; printf "%s" "$BASICAUTH_USERS"', tmp_path,
                  bin_dir)  # fmt: skip
    assert from_env == mangled
    assert_diagnosed(mangled, tmp_path)


# A hash body's first characters decide what a shell leaves of it: a letter
# starts a variable name, a digit a positional parameter, "." or "/" ends
# "$" (kept); all of them must be diagnosed.
_FILL = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
BODIES = {
    name: (start + _FILL)[:53]
    for name, start in {
        "letters": "o0M",
        "letters-then-dot": "o0Mabcdef.",
        "digit": "5bcdefghi/",
        "dot": ".",
        "slash": "/",
    }.items()
}


@pytest.mark.parametrize("body", BODIES.values(), ids=list(BODIES))
@pytest.mark.parametrize("cost", ["12", "10"])
def test_every_shape_of_eaten_bcrypt_is_diagnosed(
    body: str, cost: str, tmp_path: Path, bin_dir: Path
) -> None:
    line = f"alice:$2y${cost}${body}"
    assert len(body) == 53
    mangled = sh("sh", f'printf "%s" "{line}"', tmp_path, bin_dir)
    assert mangled != line
    with pytest.raises(ValueError) as info:
        from_environ({"BASICAUTH_USERS": mangled})
    assert_diagnosis(str(info.value), mangled)


def assert_diagnosed(mangled: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "basicauth_wsgi", "serve", "--port", "0", "--app",
         "tests.ops.apps:app"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={**os.environ, **child_env(), "BASICAUTH_USERS": mangled},
    )  # fmt: skip
    assert result.returncode == 2
    [error] = result.stderr.strip().splitlines()
    assert_diagnosis(error, mangled)


def assert_diagnosis(error: str, mangled: str) -> None:
    assert "BASICAUTH_USERS, entry 1: user 'alice'" in error
    assert "'$' signs were removed by a shell" in error and "Quoting hashes" in error
    assert "{PLAIN}" not in error  # following that hint would make the remains a password
    remains = mangled.split(":", 1)[1]
    assert len(remains) < 8 or remains not in error  # not even the remains of the hash
    assert "## Quoting hashes" in README


# -- docker-compose ------------------------------------------------------------------


def compose_interpolate(value: str, environ: dict[str, str]) -> str:
    """Compose's interpolation (compose-spec "Interpolation"): ``$$`` is ``$``;
    ``$NAME`` and ``${NAME}`` are variables; any other ``$`` is an error."""

    def one(match: re.Match[str]) -> str:
        text = match[0]
        if text == "$$":
            return "$"
        name = match["name"] or match["braced"]
        if name is None:
            raise ValueError(f"Invalid interpolation format for {value!r}")
        return environ.get(name, "")

    return re.sub(
        r"\$\$|\$\{(?P<braced>[_A-Za-z][_A-Za-z0-9]*)\}|\$(?P<name>[_A-Za-z][_A-Za-z0-9]*)|\$",
        one,
        value,
    )


def compose_config(folder: Path) -> dict[str, object] | None:
    """``docker compose config`` of ``folder``, if the compose plugin is installed."""
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, timeout=30
    )
    if probe.returncode != 0:
        return None  # the docker client without its compose plugin
    result = subprocess.run(
        [docker, "compose", "config", "--format", "json"], cwd=folder, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config: dict[str, object] = json.loads(result.stdout)
    return config


def test_compose_recipe_doubles_every_dollar(line: str, tmp_path: Path, bin_dir: Path) -> None:
    [command] = recipes()['docker-compose reads "$" in compose.yaml itself']
    doubled = sh("sh", command, tmp_path, bin_dir).strip()
    assert "$$" in doubled and valid(compose_interpolate(doubled, {}))
    # The compose.yaml of the README, with that line where its placeholder is.
    compose = block("yaml", "services:")
    assert "alice:$$2y$$12$$..." in compose
    (tmp_path / "compose.yaml").write_text(compose.replace("alice:$$2y$$12$$...", doubled))
    config = compose_config(tmp_path)
    if config is None:
        raw = yaml.safe_load((tmp_path / "compose.yaml").read_text())
        value = compose_interpolate(raw["services"]["app"]["environment"]["BASICAUTH_USERS"], {})
    else:
        value = config["services"]["app"]["environment"]["BASICAUTH_USERS"]  # type: ignore[index]
    assert valid(value)
    # The single "$" that the section warns about is refused, not eaten.
    with pytest.raises(ValueError, match="Invalid interpolation format"):
        compose_interpolate(line, {})


# -- Kubernetes --------------------------------------------------------------------------


def test_kubectl_recipe_passes_the_line_intact(tmp_path: Path, bin_dir: Path) -> None:
    [command] = recipes()["Kubernetes"]
    argv = json.loads(sh("sh", command, tmp_path, bin_dir))
    assert argv[:4] == ["create", "secret", "generic", "basicauth-users"]
    [literal] = [a for a in argv if a.startswith("--from-literal=")]
    name, _, value = literal.removeprefix("--from-literal=").partition("=")
    assert name == "BASICAUTH_USERS" and valid(value)


def test_secret_manifest_holds_the_line_as_written(line: str) -> None:
    manifest = block("yaml", "kind: Secret")
    assert PLACEHOLDER in manifest
    secret = yaml.safe_load(manifest.replace(PLACEHOLDER, line))
    assert (secret["apiVersion"], secret["kind"]) == ("v1", "Secret")
    # kubectl sends YAML as JSON to the API server: the same value either way.
    assert json.loads(json.dumps(secret))["stringData"]["BASICAUTH_USERS"] == line
    assert valid(secret["stringData"]["BASICAUTH_USERS"])
