"""The metrics tests' fixtures: a redis-server of a test's own."""

from redisserver import own_redis  # noqa: F401 (the fixture)
