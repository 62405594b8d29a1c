"""Per-process read cache invalidated by ``config_version`` (ARCHITECTURE §3).

Shared by the read-side repositories of the SIP proxies (:mod:`polyvox.sip.repository`) and of
the application server (:mod:`polyvox.appserver.repository`). Values are whatever ``load``
returns, negative answers (``None``) included. The API bumps ``config_version`` in the same
transaction as any configuration change; :meth:`VersionedCache.refresh` reads it (through the
caller's ``read_version``) and drops every entry when it changed, so a change applies to the
next request or call without any reload.

- ``check_interval == 0`` (default): every :meth:`~VersionedCache.refresh` reads the version;
- ``check_interval > 0``: it is read at most once every ``check_interval`` seconds (``clock``).

The cache is bounded: once it holds ``max_entries`` values it is emptied before the next one is
stored (simple and enough for a configuration that rarely exceeds it).

``stats`` counts ``queries`` (loads, i.e. misses) and ``invalidations`` (version changes seen
after the first read); the owner may add its own counters (``version_reads``...) to that dict.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any


class VersionedCache:
    def __init__(self, max_entries: int, *, check_interval: float = 0.0,
                 clock: Callable[[], float] = time.monotonic, stats: dict[str, int] | None = None) -> None:
        self.max_entries = max_entries
        self.check_interval = check_interval
        self.clock = clock
        self.entries: dict[Hashable, Any] = {}
        self.version: int | None = None
        self.checked_at = float("-inf")
        self.stats: dict[str, int] = {"queries": 0, "invalidations": 0} if stats is None else stats
        self.stats.setdefault("queries", 0)
        self.stats.setdefault("invalidations", 0)

    def refresh(self, read_version: Callable[[], int]) -> None:
        """Drop every entry when the version ``read_version`` returns differs from the one seen
        last (not read again before ``check_interval`` seconds have passed since the last read)."""
        if self.check_interval > 0:
            now = self.clock()
            if now - self.checked_at < self.check_interval:
                return
            self.checked_at = now
        v = read_version()
        if v != self.version:
            if self.version is not None:
                self.stats["invalidations"] += 1
            self.entries.clear()
            self.version = v

    def invalidate(self) -> None:
        """Drop every entry and forget the version (the next read of it does not count as an
        invalidation). The check interval's timer is left as it is."""
        self.entries.clear()
        self.version = None

    def cached(self, key: Hashable, load: Callable[[], Any]) -> Any:
        """The value stored under ``key``, else ``load()`` (stored, even when ``None``)."""
        try:
            return self.entries[key]
        except KeyError:
            pass
        if len(self.entries) >= self.max_entries:
            self.entries.clear()
        self.stats["queries"] += 1
        value = load()
        self.entries[key] = value
        return value
