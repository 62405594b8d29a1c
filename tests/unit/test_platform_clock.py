"""The shared clock: the stored timestamps' form (naive UTC, whole seconds)."""

from __future__ import annotations

import datetime as dt

from polyvox.platform.clock import utcnow


def test_utcnow_is_naive_utc_to_the_second() -> None:
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    now = utcnow()
    after = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert now.tzinfo is None and now.microsecond == 0
    assert before <= now <= after
