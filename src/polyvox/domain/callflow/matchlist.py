"""Match lists (spec 10.1.6 "Match Lists", 9.7.7 "Generic Match Lists").

A match list groups well-known numbers and number patterns. It has no behaviour
of its own: external call filters match the call *origin* against it, call ACLs
and outgoing DDI rules match the *destination*. Every number handed to
:meth:`MatchList.matches` must already be in E.164 form with a leading ``+``.

Two kinds of entries exist:

* ``number``: one E.164 number, compared for equality;
* ``regexp``: an E.164 regular expression in which the plus sign is escaped
  (``^\\+34`` for all Spanish numbers). It is searched anywhere in the number,
  like the reference implementation's ``preg_match('/<regexp>/')``; anchor it
  with ``^``/``$`` to pin it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "MatchList",
    "MatchListPattern",
    "PatternType",
    "any_list_matches",
    "validate_match_regexp",
]

_E164_RE = re.compile(r"^\+[0-9]{1,20}$")


class PatternType(StrEnum):
    """Kind of a match list entry."""

    NUMBER = "number"
    REGEXP = "regexp"


def validate_match_regexp(expression: str) -> str:
    """Check a match-list regular expression and return it unchanged.

    Rejects empty expressions and expressions that do not compile. A plus sign
    left unescaped where an E.164 ``+`` is meant (``^+34``) is a "nothing to
    repeat" error, reported with a hint to write ``\\+``.
    """
    if not expression:
        raise ValueError("match list regular expression must not be empty")
    try:
        re.compile(expression)
    except re.error as exc:
        hint = " (plus symbol must be escaped: use \\+)" if "+" in expression else ""
        raise ValueError(f"invalid match list regular expression {expression!r}: {exc}{hint}") from exc
    return expression


@dataclass(frozen=True, slots=True)
class MatchListPattern:
    """One entry of a match list: an E.164 number or an E.164 regular expression."""

    type: PatternType
    value: str

    def __post_init__(self) -> None:
        if self.type is PatternType.NUMBER:
            if not _E164_RE.match(self.value):
                raise ValueError(f"match list number must be E.164 with leading '+': {self.value!r}")
        else:
            validate_match_regexp(self.value)

    @classmethod
    def number(cls, e164: str) -> MatchListPattern:
        """An exact E.164 number entry (``+34944000000``)."""
        return cls(PatternType.NUMBER, e164)

    @classmethod
    def regexp(cls, expression: str) -> MatchListPattern:
        """A regular-expression entry (``^\\+34``)."""
        return cls(PatternType.REGEXP, expression)

    def matches(self, number: str) -> bool:
        """Whether the E.164 ``number`` matches this entry."""
        if self.type is PatternType.NUMBER:
            return number == self.value
        return re.search(self.value, number) is not None


@dataclass(frozen=True, slots=True)
class MatchList:
    """A named group of numbers and patterns (client or brand level)."""

    name: str
    patterns: tuple[MatchListPattern, ...] = ()
    id: int | None = None

    def matches(self, number: str) -> bool:
        """True when any entry matches the E.164 ``number``."""
        return any(pattern.matches(number) for pattern in self.patterns)


def any_list_matches(lists: tuple[MatchList, ...], number: str) -> bool:
    """True when ``number`` matches at least one of ``lists`` (OR across lists)."""
    return any(match_list.matches(number) for match_list in lists)
