"""The per-process read cache shared by the proxies' and the app server's repositories."""

from __future__ import annotations

from polyvox.db.readcache import VersionedCache


def test_values_are_cached_until_the_configuration_version_changes() -> None:
    cache = VersionedCache(10)
    version = [1]
    loads: list[str] = []

    def load(v: str) -> str | None:
        loads.append(v)
        return None if v == "missing" else v.upper()

    cache.refresh(lambda: version[0])
    assert cache.cached(("k", 1), lambda: load("a")) == "A"
    assert cache.cached(("k", 1), lambda: load("a")) == "A"
    assert cache.cached("missing", lambda: load("missing")) is None
    assert cache.cached("missing", lambda: load("missing")) is None  # negative answers are cached too
    assert loads == ["a", "missing"]
    cache.refresh(lambda: version[0])  # same version: entries kept
    assert cache.cached(("k", 1), lambda: load("a")) == "A" and loads == ["a", "missing"]
    version[0] = 2
    cache.refresh(lambda: version[0])
    assert cache.cached(("k", 1), lambda: load("a")) == "A"
    assert loads == ["a", "missing", "a"]
    assert cache.stats == {"queries": 3, "invalidations": 1}


def test_bounded_size_and_check_interval() -> None:
    now = [0.0]
    reads: list[int] = []
    cache = VersionedCache(2, check_interval=1.0, clock=lambda: now[0])

    def version() -> int:
        reads.append(1)
        return len(reads)

    cache.refresh(version)
    cache.refresh(version)  # within the interval: not read again
    assert len(reads) == 1
    for k in range(3):
        cache.cached(k, lambda k=k: k)
    assert list(cache.entries) == [2]  # full at 2 entries: emptied before the third was stored
    now[0] = 1.5
    cache.refresh(version)
    assert len(reads) == 2 and cache.entries == {}
    cache.cached("x", lambda: 1)
    cache.invalidate()
    assert cache.entries == {} and cache.version is None
