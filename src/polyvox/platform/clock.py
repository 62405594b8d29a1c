"""The clock the roles' stored timestamps are taken from."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """Now in UTC, naive and to the second: the form of the ``DateTime`` columns the proxies, the
    trunks agent and the rate import write and compare."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
