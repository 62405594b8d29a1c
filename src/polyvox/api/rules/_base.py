"""What every rules module uses."""

from __future__ import annotations

from typing import Any

from polyvox.db.model import ENTITY


def table(name: str) -> Any:
    return ENTITY[name].table
