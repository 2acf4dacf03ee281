"""How costs grow: htpasswd size, throttle attackers, cache fill."""

from __future__ import annotations

import base64
import gc
import os
import statistics
import tempfile
import time
import timeit
import tracemalloc

from basicauth_wsgi import HtpasswdFile, Throttle, VerificationCache
from basicauth_wsgi.hashes import hash_password

from . import apps


def htpasswd_load(
    sizes: list[int], repeat: int = 3
) -> list[tuple[int, float, float, float, float]]:
    """(users, median s, min s, max s, MB retained) per file size; bcrypt lines."""
    # Distinct users, a few real bcrypt hashes reused: load checks syntax,
    # not passwords, so the cost is the same as 100,000 different hashes.
    samples = [hash_password(f"pw{i}", "bcrypt") for i in range(8)]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            path = os.path.join(folder, f"users-{size}")
            with open(path, "w") as handle:
                handle.writelines(f"user{i}:{samples[i % 8]}\n" for i in range(size))
            times = []
            for _ in range(repeat):
                gc.collect()
                start = time.perf_counter()
                HtpasswdFile(path)
                times.append(time.perf_counter() - start)
            gc.collect()
            tracemalloc.start()
            users = HtpasswdFile(path)
            current, _ = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            del users
            rows.append((size, statistics.median(times), min(times), max(times), current / 1e6))
    return rows


def throttle_memory(
    attackers: list[int], max_entries: int = 100_000
) -> list[tuple[int, int, float]]:
    """(distinct failing addresses, entries kept, MB traced) after each total."""
    throttle = Throttle(max_entries=max_entries, clock=lambda: 1_000_000.0)
    rows = []
    done = 0
    gc.collect()
    tracemalloc.start()
    try:
        for total in attackers:
            for n in range(done, total):
                throttle.failure(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", None)
            done = total
            current, _ = tracemalloc.get_traced_memory()
            rows.append((total, len(throttle.store), current / 1e6))  # type: ignore[arg-type]
    finally:
        tracemalloc.stop()
    return rows


def cache_fill(fills: list[int], number: int = 20_000) -> list[tuple[int, float]]:
    """(entries in the cache, µs per hit: key + lookup) as the cache fills."""
    rows = []
    header = "Basic " + base64.b64encode(f"{apps.USER}:{apps.PASSWORD}".encode()).decode()
    for fill in fills:
        cache = VerificationCache(max_entries=max(fill, 1) + 1)
        for i in range(fill):
            cache.put(cache.key(f"Basic filler-{i}"), f"user{i}", f"user{i}")
        key = cache.key(header)
        cache.put(key, apps.USER, apps.USER)

        def hit(cache: VerificationCache = cache) -> None:
            cache.get(cache.key(header))

        rows.append((fill, min(timeit.repeat(hit, number=number, repeat=5)) / number * 1e6))
    return rows
