"""The worker role (``polyvox worker``): call records -> billable calls, balances, daily usages,
notifications (see ``docs/billing.md``)."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any


def argv() -> list[str]:
    """Command line of the worker role, for ``polyvox up``'s supervisor."""
    return [sys.executable, "-m", "polyvox.workers"]


def main(settings: Any) -> int:
    """Run the worker role until SIGTERM/SIGINT (``settings``: :class:`polyvox.config.Settings`)."""
    from polyvox.db.engine import make_engine
    from polyvox.workers.runner import WorkerOptions, run_forever

    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    engine = make_engine(settings.database_url)  # migrated first (``polyvox up`` / ``polyvox db upgrade``)
    interval = float(os.environ.get("POLYVOX_WORKER_INTERVAL", "1"))
    return run_forever(engine, settings, WorkerOptions(interval=interval))
