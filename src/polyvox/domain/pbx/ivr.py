"""IVRs (spec 10.1.5 "IVRs", "IVR Entries", "Entries are regular expressions")."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from polyvox.domain.pbx.common import Target, regex_search

__all__ = [
    "Ivr",
    "IvrEntry",
    "IvrOutcome",
    "evaluate_ivr_input",
    "ivr_entry_matches",
]

_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True)
class IvrEntry:
    """``entry``: digits (exact match) or a regular expression. ``locution`` replaces the IVR
    success locution for this entry."""

    entry: str
    target: Target
    locution: str | None = None


@dataclass(frozen=True, slots=True)
class Ivr:
    """``no_input_target``/``error_target`` carry their locution in ``Target.locution``;
    a ``None`` target means hang up after the locution (``*_locution`` fields)."""

    timeout: int
    max_digits: int
    entries: tuple[IvrEntry, ...] = ()
    allow_extensions: bool = False
    excluded_extensions: frozenset[str] = frozenset()
    welcome_locution: str | None = None
    success_locution: str | None = None
    no_input_target: Target | None = None
    no_input_locution: str | None = None
    error_target: Target | None = None
    error_locution: str | None = None

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError("IVR timeout must be positive")
        if self.max_digits < 0:
            raise ValueError("IVR max_digits cannot be negative")


@dataclass(frozen=True, slots=True)
class IvrOutcome:
    """``kind``: ``entry`` (an IVR entry matched), ``extension`` (dial-by-extension),
    ``no_input``, ``error``. ``target`` is where the call goes (``None`` → hang up) after
    playing ``locution``."""

    kind: Literal["entry", "extension", "no_input", "error"]
    target: Target | None
    locution: str | None
    entry: IvrEntry | None = None


def ivr_entry_matches(entry: str, pressed: str) -> bool:
    """A numeric entry is compared as a digit sequence; anything else is an unanchored regex."""
    if _DIGITS.fullmatch(entry):
        return entry == pressed
    return regex_search(entry, pressed)


def evaluate_ivr_input(
    ivr: Ivr,
    pressed: str | None,
    extension_exists: Callable[[str], bool],
) -> IvrOutcome:
    """Decide what happens with the digits the caller entered (``None``/empty → no input).

    Input longer than ``max_digits`` is cut (the digit reader stops there). Entries are tried in
    order; then, with ``allow_extensions``, a client extension not in ``excluded_extensions``;
    anything else triggers the error process.
    """
    if not pressed:
        return IvrOutcome(
            "no_input", ivr.no_input_target, _locution(ivr.no_input_target, ivr.no_input_locution)
        )
    if ivr.max_digits:
        pressed = pressed[: ivr.max_digits]
    for entry in ivr.entries:
        if ivr_entry_matches(entry.entry, pressed):
            locution = entry.locution if entry.locution is not None else ivr.success_locution
            return IvrOutcome("entry", entry.target, locution, entry)
    if ivr.allow_extensions and pressed not in ivr.excluded_extensions and extension_exists(pressed):
        return IvrOutcome("extension", Target("extension", pressed), ivr.success_locution)
    return IvrOutcome("error", ivr.error_target, _locution(ivr.error_target, ivr.error_locution))


def _locution(target: Target | None, fallback: str | None) -> str | None:
    if fallback is not None:
        return fallback
    return target.locution if target is not None else None
