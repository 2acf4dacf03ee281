"""normalize_path, path_readings and PathList."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from basicauth_wsgi.paths import PathList, normalize_path, path_readings

NORMALISED = [
    ("/", "/", "root"),
    ("", "/", "empty"),
    ("/a/b", "/a/b", "clean"),
    ("/a/b/", "/a/b/", "trailing-slash-kept"),
    ("//a///b", "/a/b", "duplicate-slashes"),
    ("/a/./b", "/a/b", "dot"),
    ("/a/../b", "/b", "dotdot"),
    ("/a/b/..", "/a/", "dotdot-at-end-is-directory"),
    ("/a/b/.", "/a/b/", "dot-at-end-is-directory"),
    ("/../../a", "/a", "above-root"),
    ("/a/..;/b", "/b", "dotdot-with-params"),
    ("/a/.;x=1/b", "/a/b", "dot-with-params"),
    ("/a/%2e%2e/b", "/b", "encoded-dotdot"),
    ("/a/%2E%2e/b", "/b", "encoded-dotdot-mixed-case"),
    ("/a/.%2e/b", "/b", "half-encoded-dotdot"),
    ("/a/%2e/b", "/a/b", "encoded-dot"),
    ("/a/.../b", "/a/.../b", "three-dots-is-a-name"),
    ("/a/..b/c", "/a/..b/c", "dotdot-prefix-is-a-name"),
    ("/a;x/b", "/a;x/b", "params-on-names-kept"),
    ("/Private", "/Private", "case-kept"),
]


@pytest.mark.parametrize(
    ("path", "expected"), [n[:2] for n in NORMALISED], ids=[n[2] for n in NORMALISED]
)
def test_normalize_path(path: str, expected: str) -> None:
    assert normalize_path(path) == expected


@given(st.text(alphabet="/.;%2eax", max_size=30))
def test_normalize_is_idempotent_and_rooted(path: str) -> None:
    once = normalize_path(path)
    assert once.startswith("/")
    assert "//" not in once
    assert normalize_path(once) == once


def test_clean_path_has_one_reading() -> None:
    assert path_readings("/api/v1/private") == ("/api/v1/private",)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("//private", ("//private", "/private")),
        ("/health/../private", ("/health/../private", "/private")),
        ("/private;a/x", ("/private;a/x", "/private/x")),
    ],
    ids=["double-slash", "dotdot", "params-dropped"],
)
def test_readings_include_literal_and_normalised(path: str, expected: tuple[str, ...]) -> None:
    assert path_readings(path) == expected


def test_pathlist_exact_and_subtree() -> None:
    paths = PathList(["/health", "/static/"], option="exclude")
    assert paths.matches("/health")
    assert not paths.matches("/health/")
    assert not paths.matches("/healthz")
    assert paths.matches("/static/")
    assert paths.matches("/static/css/app.css")
    assert not paths.matches("/static")
    assert not paths.matches("/staticfiles")
    assert not paths.matches("/Health")


@pytest.mark.parametrize(
    ("patterns", "error", "match"),
    [
        ("/health", TypeError, "not a single string"),
        (None, TypeError, "list of paths"),
        ([b"/health"], TypeError, "must be str"),
        (["health"], ValueError, "must start with '/'"),
        (["/a//b"], ValueError, "not a normalised path"),
        (["/a/../b"], ValueError, "not a normalised path"),
        (["/a/\n"], ValueError, "control character"),
        (["/a;b"], ValueError, "';'"),
    ],
    ids=["bare-string", "none", "bytes", "relative", "double-slash", "dotdot", "newline", "params"],
)
def test_pathlist_rejects_bad_patterns(
    patterns: object, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match) as info:
        PathList(patterns, option="exclude")  # type: ignore[arg-type]
    assert "exclude" in str(info.value)
