"""Redis URLs: every deployment shape parsed, bad ones refused by name, no password ever shown."""

from __future__ import annotations

import os

import pytest

from basicauth_wsgi.throttle.redisurl import Target, parse

GOOD = [
    ("redis://127.0.0.1:6379/0", Target("single", url="redis://127.0.0.1:6379/0"), "redis"),
    (
        "rediss://:s3cret@cache.example:6380/2?ssl_ca_certs=/etc/ca.pem",
        Target(
            "single", tls=True, url="rediss://:s3cret@cache.example:6380/2?ssl_ca_certs=/etc/ca.pem"
        ),
        "rediss",
    ),
    ("valkey://10.0.0.5", Target("single", url="redis://10.0.0.5"), "valkey"),
    (
        "valkeys://10.0.0.5:6390/1",
        Target("single", tls=True, url="rediss://10.0.0.5:6390/1"),
        "valkeys",
    ),
    ("unix:///run/redis.sock?db=1", Target("single", url="unix:///run/redis.sock?db=1"), "unix"),
    (
        "redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2/mymaster/2",
        Target(
            "sentinel",
            (("10.0.0.1", 26379), ("10.0.0.2", 26379)),
            service="mymaster",
            db=2,
            password="s3cret",
        ),
        "sentinel",
    ),
    (
        "redis+sentinel://app:pw@[::1]:26380/cache?sentinel_password=x",
        Target(
            "sentinel",
            (("::1", 26380),),
            service="cache",
            username="app",
            password="pw",
            options=(("sentinel_password", "x"),),
        ),
        "sentinel-ipv6-user",
    ),
    (
        "redis+cluster://10.0.0.1:7000,10.0.0.2:7001,10.0.0.3",
        Target("cluster", (("10.0.0.1", 7000), ("10.0.0.2", 7001), ("10.0.0.3", 6379))),
        "cluster",
    ),
    ("valkey+cluster://h:7000/", Target("cluster", (("h", 7000),)), "valkey-cluster"),
]


@pytest.mark.parametrize(("url", "target"), [g[:2] for g in GOOD], ids=[g[2] for g in GOOD])
def test_parse(url: str, target: Target) -> None:
    assert parse(url) == target


BAD = [
    ("http://127.0.0.1:6379", "unsupported URL scheme 'http'", "http"),
    ("127.0.0.1:6379", "unsupported URL scheme", "no-scheme"),
    ("redis://:s3cret@h1:1,h2:2/0", "several hosts need redis+sentinel://", "two-hosts"),
    ("redis://:s3cret@h:1/zero", "database number", "bad-db"),
    ("redis://:s3cret@h:99999/0", "bad port", "bad-port"),
    ("redis+sentinel://:s3cret@h:26379", "needs the service name", "no-service"),
    ("redis+sentinel://:s3cret@h:26379/svc/x", "must be a number", "bad-sentinel-db"),
    ("redis+sentinel://:s3cret@/svc", "names no host", "no-host"),
    ("redis+cluster://:s3cret@h:7000/1", "has no path", "cluster-db"),
    ("redis+cluster://:s3cret@h:x", "bad port", "cluster-port"),
    ("redis+cluster://:s3cret@[::1:7000", "expected [address]:port", "open-bracket"),
]


@pytest.mark.parametrize(("url", "message"), [b[:2] for b in BAD], ids=[b[2] for b in BAD])
def test_bad_urls_are_refused_without_their_password(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("+", r"\+")) as info:
        parse(url)
    assert "s3cret" not in str(info.value)


def test_the_repr_shows_no_password() -> None:
    target = parse("redis+sentinel://user:s3cret@h:26379/svc")
    assert "s3cret" not in repr(target) and "user" not in repr(target)
    assert "sentinel" in repr(target)


redis = pytest.importorskip("redis") if not os.environ.get("CI") else __import__("redis")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://:s3cret@127.0.0.1:1/0?bogus=1", "unknown connection option"),
        ("redis+sentinel://:s3cret@127.0.0.1:1/svc?bogus=1", "unknown connection option"),
        ("redis+cluster://:s3cret@127.0.0.1:1", "no node of the Redis Cluster answered"),
        ("ftp://:s3cret@127.0.0.1:1", "unsupported URL scheme"),
    ],
    ids=["unknown-option", "sentinel-unknown-option", "cluster-down-at-start", "scheme"],
)
def test_from_url_names_the_option_and_hides_the_password(url: str, message: str) -> None:
    from basicauth_wsgi.throttle.redis import RedisStore

    with pytest.raises(ValueError, match=message) as info:
        RedisStore.from_url(url)
    assert str(info.value).startswith("throttle_redis_url: ")
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize("prefix", ["{app}:", "a}b", "x{"])
def test_a_prefix_cannot_bring_its_own_hash_tag(prefix: str) -> None:
    from basicauth_wsgi.throttle.redis import RedisStore

    with pytest.raises(ValueError, match=r"without \{ or \}"):
        RedisStore.from_url("redis://127.0.0.1:1/0", prefix=prefix)


def test_sentinel_and_cluster_urls_make_their_clients() -> None:
    from basicauth_wsgi.throttle.redis import RedisStore

    store = RedisStore.from_url("valkey+sentinel://127.0.0.1:1,127.0.0.1:2/svc/3?on_error=closed")
    pool = store.client.connection_pool
    assert isinstance(pool, redis.sentinel.SentinelConnectionPool)
    assert (pool.service_name, pool.connection_kwargs["db"], store.on_error) == ("svc", 3, "closed")
    assert pool.connection_kwargs["socket_timeout"] == 0.25
    assert [
        (s.connection_pool.connection_kwargs["port"]) for s in pool.sentinel_manager.sentinels
    ] == [1, 2]
    store.close()
