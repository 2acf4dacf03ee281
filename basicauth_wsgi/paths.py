"""Request paths: normalisation and the ``exclude``/``include`` path lists.

Which paths need a password is a security decision, so it is made on every
way the application could read the path, not only on the tidy one::

    >>> normalize_path("/health/..;/private//x")
    '/private/x'
    >>> PathList(["/health", "/static/"], option="exclude").matches("/static/app.css")
    True
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote, unquote

from .grammar import has_ctl

__all__ = ["PathList", "normalize_path", "path_readings", "quote_path"]

# Spellings of a dot segment that survive one round of percent-decoding by
# the server: an application that decodes again would see "." or "..".
_DOTS = {".": ".", "%2e": ".", "..": "..", ".%2e": "..", "%2e.": "..", "%2e%2e": ".."}


def _dot(segment: str) -> str | None:
    """Return ``"."`` or ``".."`` if ``segment`` acts as a dot segment, else ``None``.

    Servlet containers (and proxies in front of them) drop ``;params`` before
    resolving dot segments, which made ``/public/..;/private`` a classic
    bypass: the part before ``;`` decides.
    """
    base = segment.split(";", 1)[0]
    if len(base) > 6:
        return None
    return _DOTS.get(base.lower())


def normalize_path(path: str) -> str:
    """Return ``path`` with duplicate slashes collapsed and dot segments resolved.

    Follows RFC 3986 §5.2.4 (remove_dot_segments), except that ``..`` above
    the root stays at the root, empty segments (``//``) are collapsed, and
    ``.``/``..`` are also recognised with a ``;params`` suffix or spelled as
    ``%2e``. A path resolving to a directory keeps its trailing slash
    (``/a/b/..`` is ``/a/``). The result always starts with ``/``.
    """
    out: list[str] = []
    directory = False
    for segment in path.split("/"):
        directory = False
        if not segment:
            directory = True
            continue
        dot = _dot(segment)
        if dot is None:
            out.append(segment)
        else:
            directory = True
            if dot == ".." and out:
                out.pop()
    if not out:
        return "/"
    return "/" + "/".join(out) + ("/" if directory else "")


def quote_path(path: str) -> str:
    """Return a WSGI path (latin-1 text of the raw bytes, PEP 3333) as a URI path.

    Anything outside RFC 3986's path characters is percent-encoded again, so
    the result is safe in a header or a log line: no space, CR or LF survives.
    """
    return quote(path.encode("latin-1", "replace"), safe="/;=:@!$&'()*+,~")


def _drop_params(path: str) -> str:
    return "/".join(segment.split(";", 1)[0] for segment in path.split("/"))


def path_readings(path: str) -> tuple[str, ...]:
    """Return every path the application might take ``path`` to mean.

    A clean path (no empty or dot segment, no ``;``, ``%`` or ``\\``) has
    one reading. Otherwise each of these spellings:

    - the path as given (what a router that does not normalise matches on);
    - the same after one more round of percent-decoding (an application that
      decodes ``PATH_INFO`` again sees ``%2f`` as ``/``, ``%5c`` as ``\\``,
      ``%3b`` as ``;``, ``%2e`` as ``.``);
    - each of those with ``\\`` read as ``/`` (as Windows servers and some
      routers do);

    is read three ways: literally, normalised (:func:`normalize_path`), and
    normalised with every ``;params`` suffix dropped. A request is public
    only if every reading is public, so a disagreement between this module
    and the application can cost a password prompt but never skip one.
    """
    if (
        "//" not in path
        and "/." not in path
        and ";" not in path
        and "%" not in path
        and "\\" not in path
    ):
        return (path or "/",)
    spellings = [path]
    if "%" in path:
        # WSGI paths are latin-1 text of the raw bytes (PEP 3333): decoding
        # as latin-1 keeps one character per byte.
        spellings.append(unquote(path, encoding="latin-1", errors="strict"))
    for spelling in list(spellings):
        if "\\" in spelling:
            spellings.append(spelling.replace("\\", "/"))
    readings: list[str] = []
    for spelling in spellings:
        readings += (spelling, normalize_path(spelling))
        if ";" in spelling:
            readings.append(normalize_path(_drop_params(spelling)))
    return tuple(dict.fromkeys(readings))


class PathList:
    """A compiled list of path patterns, as taken by ``exclude`` and ``include``.

    ``"/health"`` matches exactly that path; a pattern ending in ``/`` such as
    ``"/static/"`` matches that path and everything below it (not
    ``/static`` itself). Matching is case-sensitive, like URL paths
    (RFC 3986 §6.2.2.1). Invalid patterns raise ``ValueError`` (or
    ``TypeError``) naming ``option``.
    """

    __slots__ = ("_exact", "_prefixes", "patterns")

    def __init__(self, patterns: Iterable[str], *, option: str) -> None:
        if isinstance(patterns, (str, bytes)):
            raise TypeError(f"{option} must be a list of paths, not a single string: {patterns!r}")
        try:
            items = list(patterns)
        except TypeError:
            raise TypeError(f"{option} must be a list of paths, got {patterns!r}") from None
        for pattern in items:
            if not isinstance(pattern, str):
                raise TypeError(f"{option} entries must be str, got {pattern!r}")
            if not pattern.startswith("/"):
                raise ValueError(f"{option} entry {pattern!r} must start with '/'")
            if has_ctl(pattern) or ";" in pattern:
                raise ValueError(f"{option} entry {pattern!r} contains a control character or ';'")
            if normalize_path(pattern) != pattern:
                raise ValueError(
                    f"{option} entry {pattern!r} is not a normalised path "
                    f"(did you mean {normalize_path(pattern)!r}?)"
                )
        self.patterns: tuple[str, ...] = tuple(items)
        self._exact = frozenset(p for p in items if not p.endswith("/"))
        self._prefixes = tuple(p for p in items if p.endswith("/"))

    def matches(self, path: str) -> bool:
        """Return whether ``path`` (already normalised or literal) is in the list."""
        return path in self._exact or path.startswith(self._prefixes)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def __repr__(self) -> str:
        return f"PathList({list(self.patterns)!r})"
