"""Redis URLs of the throttle store: one server, Sentinel or Cluster, parsed without redis-py.

:meth:`~basicauth_wsgi.throttle.redis.RedisStore.from_url` takes every shape
a deployment has, in the spellings ``limits`` (Flask-Limiter) made common::

    redis://[[user]:password@]host[:port][/db]        one server; rediss:// over TLS; unix://path
    valkey://... and valkeys://...                     the same protocol (Valkey)
    redis+sentinel://[[user]:password@]host:port[,host:port...]/service_name[/db]
    redis+cluster://[[user]:password@]host:port[,host:port...]

    parse("redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2/mymaster/2")
    # Target(kind='sentinel', nodes=(('10.0.0.1', 26379), ('10.0.0.2', 26379)),
    #        service='mymaster', db=2, ...)

The query string carries connection options for redis-py (``ssl_ca_certs``,
``ssl_cert_reqs``, ...) plus, for Sentinel, ``sentinel_password`` and
``sentinel_username`` (the sentinels' own AUTH; the URL's password is the
master's). No error message shows the URL's password.
"""

from __future__ import annotations

import dataclasses
import urllib.parse

__all__ = ["Target", "parse"]

#: Where the data lives: one server, the master a Sentinel names, or a Cluster.
KINDS = {
    "redis": "single",
    "rediss": "single",
    "unix": "single",
    "valkey": "single",
    "valkeys": "single",
    "redis+sentinel": "sentinel",
    "valkey+sentinel": "sentinel",
    "redis+cluster": "cluster",
    "valkey+cluster": "cluster",
}
#: Valkey speaks the Redis protocol: redis-py reads its URLs as these.
_SAME_AS = {"valkey": "redis", "valkeys": "rediss"}
DEFAULT_PORTS = {"single": 6379, "sentinel": 26379, "cluster": 6379}


@dataclasses.dataclass(frozen=True)
class Target:
    """A parsed Redis URL: what to connect to, and how.

    ``url`` is, for one server, the URL as redis-py reads it (``valkey``
    spelled ``redis``); ``options`` the query's connection options.
    """

    kind: str  # "single", "sentinel" or "cluster"
    nodes: tuple[tuple[str, int], ...] = ()
    service: str | None = None
    db: int = 0
    username: str | None = dataclasses.field(default=None, repr=False)
    password: str | None = dataclasses.field(default=None, repr=False)
    tls: bool = False
    url: str | None = dataclasses.field(default=None, repr=False)
    options: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:  # the fields' own repr, the secrets left out
        shown = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self) if f.repr
        )
        return f"Target({shown}, ...)"


def parse(url: str) -> Target:
    """Parse a Redis URL; a ``ValueError`` (never showing the password) if it is not one."""
    if not isinstance(url, str):
        raise TypeError(f"a Redis URL must be a str, got {type(url).__name__}")
    scheme, sep, rest = url.partition("://")
    kind = KINDS.get(scheme.lower()) if sep else None
    if kind is None:
        raise ValueError(
            f"unsupported URL scheme {scheme.lower()[:20]!r}: expected one of "
            + ", ".join(f"{name}://" for name in KINDS)
        )
    scheme = scheme.lower()
    if kind == "single":
        return _single(scheme, rest)
    userinfo, hosts, path, query = _split(rest)
    username, password = _credentials(userinfo)
    nodes = tuple(_node(text, DEFAULT_PORTS[kind]) for text in hosts.split(","))
    options = tuple(urllib.parse.parse_qsl(query, keep_blank_values=True))
    parts = [p for p in path.split("/") if p]
    if kind == "cluster":
        if parts:
            raise ValueError("a Redis Cluster URL has no path (a cluster has one database)")
        return Target("cluster", nodes, username=username, password=password, options=options)
    if not parts or len(parts) > 2:
        raise ValueError("a Sentinel URL needs the service name: .../service_name[/db]")
    return Target(
        "sentinel",
        nodes,
        service=urllib.parse.unquote(parts[0]),
        db=_db(parts[1]) if len(parts) == 2 else 0,
        username=username,
        password=password,
        options=options,
    )


def _single(scheme: str, rest: str) -> Target:
    scheme = _SAME_AS.get(scheme, scheme)
    url = f"{scheme}://{rest}"
    if scheme != "unix":
        _, hosts, path, _ = _split(rest)
        if "," in hosts:
            raise ValueError(
                "several hosts need redis+sentinel:// or redis+cluster://, not one server's URL"
            )
        if hosts:
            _node(hosts, DEFAULT_PORTS["single"])
        db = [p for p in path.split("/") if p]
        if len(db) > 1 or (db and not db[0].isdigit()):
            raise ValueError("the path of a Redis URL is the database number: /0, /1, ...")
    return Target("single", tls=scheme == "rediss", url=url)


def _split(rest: str) -> tuple[str, str, str, str]:
    """``[userinfo@]hosts[/path][?query]`` -> its four parts (``urlsplit`` refuses host lists)."""
    rest, _, query = rest.partition("?")
    rest, _, _fragment = rest.partition("#")
    authority, slash, path = rest.partition("/")
    userinfo, at, hosts = authority.rpartition("@")
    if not hosts:
        raise ValueError("the URL names no host")
    return (userinfo if at else ""), hosts, slash + path, query


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    if not userinfo:
        return None, None
    user, colon, password = userinfo.partition(":")
    return (
        urllib.parse.unquote(user) or None,
        urllib.parse.unquote(password) if colon else None,
    )


def _node(text: str, default_port: int) -> tuple[str, int]:
    """``host[:port]``, ``[v6]:port``: one node's address."""
    host, port = text, ""
    if text.startswith("["):
        host, bracket, after = text[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise ValueError(f"bad host {text[:80]!r}: expected [address]:port")
        port = after[1:]
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    if not host:
        raise ValueError(f"bad host {text[:80]!r}: expected host:port")
    if not port:
        return host, default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad port in {text[:80]!r}: expected 1 to 65535")
    return host, int(port)


def _db(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"the database must be a number, got {text[:20]!r}")
    return int(text)
