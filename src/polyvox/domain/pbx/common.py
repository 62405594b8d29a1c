"""Values shared by the vPBX engines (hunt groups, queues, IVRs, call forwards, friends)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

__all__ = [
    "CallType",
    "DialOutcome",
    "Target",
    "TargetKind",
    "generates_missed_call",
    "regex_search",
]

CallType = Literal["internal", "external"]
"""Type of the call being delivered (IvozProvider ``__CALL_TYPE``)."""

TargetKind = Literal["number", "extension", "voicemail", "retail", "conditional"]
"""Where a call is sent by a no-answer/timeout/full/no-input/error process or a call forward."""

DialOutcome = Literal["answer", "noanswer", "busy", "unavailable", "rejected", "cancel"]
"""Result of one Dial attempt (Asterisk ``DIALSTATUS``, with the device rejection made explicit).

``cancel`` is the caller hanging up while the attempt was ringing.
"""


@dataclass(frozen=True, slots=True)
class Target:
    """A routing target: ``kind`` plus its value (E.164 number, extension number, voicemail id...).

    ``locution`` is the locution (by id or name) played before routing, if any.
    """

    kind: TargetKind
    value: str
    locution: str | None = None


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


def regex_search(pattern: str, subject: str) -> bool:
    """Unanchored regular-expression search (PHP ``preg_match('/'.pattern.'/')`` semantics).

    An invalid pattern never matches (it is a configuration error, not a crash of the call).
    """
    compiled = _compile(pattern)
    return compiled is not None and compiled.search(subject) is not None


def generates_missed_call(
    *,
    ring_all: bool,
    prevent_missed_calls: bool,
    member_answered: bool,
    anyone_answered: bool,
) -> bool:
    """Whether a member called by a hunt group or queue gets a missed call.

    * ``prevent_missed_calls`` → never.
    * otherwise, ring-all strategies → only if nobody answered the call;
      remaining strategies → every called member that did not answer.
    """
    if member_answered or prevent_missed_calls:
        return False
    if ring_all:
        return not anyone_answered
    return True
