"""What every rules module uses."""

from __future__ import annotations

import re
from typing import Any

from polyvox.api.errors import invalid
from polyvox.db.model import ENTITY

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
E164_PREFIX = re.compile(r"\+[0-9]+")  # destinations and routing patterns


def table(name: str) -> Any:
    return ENTITY[name].table


def check_regexp(field: str, pattern: str | None, what: str = "a regular expression") -> None:
    """A pattern the call path matches numbers against: an invalid one would silently match
    nothing, so it is refused when written."""
    if not pattern:
        raise invalid(field, f"This value should not be blank: {what} is needed.")
    try:
        re.compile(pattern)
    except re.error as e:
        raise invalid(field, f"This is not a valid regular expression ({e}).") from e


def is_email(value: str) -> bool:
    return EMAIL.fullmatch(value) is not None
