"""``python -m polyvox.workers``: the worker role with the environment's settings."""

from __future__ import annotations

import sys

from polyvox import config, workers

if __name__ == "__main__":
    sys.exit(workers.main(config.load()))
