"""Read models: what several roles read from storage, loaded once and returned as the domain's
objects, so that every role (API, proxies, application server, workers) decides on the same data.

Each loader takes ``run``, the statement runner to use: a ``Connection.execute`` or a
read-side repository's reconnecting ``_execute``; caching stays with the caller (a repository's
per-process cache, a worker's per-pass memo).
"""

from collections.abc import Callable
from typing import Any

Run = Callable[[Any], Any]
"""Runs a SQLAlchemy statement and returns its result (``Connection.execute``)."""
