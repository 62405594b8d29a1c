"""Outgoing DDI selection (spec 7.4, 10.1.1, 10.1.7 "Outgoing DDI Rules").

* Fallback chain: an endpoint's own outgoing DDI (user, fax, friend,
  residential device, retail account) else the client's outgoing DDI. The same
  holds for outgoing DDI rules (user's rule, else client's rule). A call that
  ends without any DDI is rejected by the platform.
* Outgoing DDI rules: the default action (``keep`` the endpoint DDI or
  ``force`` the rule's forced DDI) applies unless a pattern matches; patterns
  are evaluated by ascending metric and are either *destination* patterns (a
  match list against the E.164 destination) or *prefix* patterns (1-3 digits
  followed by ``*``, dialled before the number and stripped from it). The first
  matching pattern applies its own keep/force action. A forced DDI left empty
  means the client's outgoing DDI.
* CLID validation (retail, residential, friends): the presented number is
  kept only when it is one of the client's DDIs; otherwise a forwarded call
  whose Diversion number is a client DDI presents that DDI; otherwise the
  fallback DDI is used; without any, the call is rejected.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from .matchlist import MatchList

__all__ = [
    "ClidDecision",
    "ClidSource",
    "OutgoingDdiAction",
    "OutgoingDdiRule",
    "OutgoingDdiRulePattern",
    "OutgoingDdiSelection",
    "apply_outgoing_ddi_rule",
    "fallback_outgoing_ddi",
    "is_valid_ddi_prefix",
    "select_outgoing_ddi",
    "split_ddi_prefix",
    "validate_clid",
    "validate_ddi_prefix",
]

_PREFIX_RE = re.compile(r"^[0-9]{1,3}\*$")


def is_valid_ddi_prefix(prefix: str) -> bool:
    """Prefix format: from 1 to 3 digits ended by ``*`` (``111*``)."""
    return _PREFIX_RE.fullmatch(prefix) is not None


def validate_ddi_prefix(prefix: str) -> str:
    """Return ``prefix`` or raise :class:`ValueError` when its format is wrong."""
    if not is_valid_ddi_prefix(prefix):
        raise ValueError(f"outgoing DDI prefix must be 1 to 3 digits ended by '*', got {prefix!r}")
    return prefix


class OutgoingDdiAction(StrEnum):
    KEEP = "keep"
    FORCE = "force"


@dataclass(frozen=True, slots=True)
class OutgoingDdiRulePattern:
    """A rule pattern: exactly one of ``match_list`` (destination) or ``prefix``."""

    priority: int
    action: OutgoingDdiAction
    match_list: MatchList | None = None
    prefix: str | None = None
    forced_ddi: str | None = None

    def __post_init__(self) -> None:
        if (self.match_list is None) == (self.prefix is None):
            raise ValueError("an outgoing DDI rule pattern needs either a match list or a prefix")
        if self.prefix is not None:
            validate_ddi_prefix(self.prefix)

    @classmethod
    def destination(
        cls, priority: int, match_list: MatchList, action: OutgoingDdiAction, forced_ddi: str | None = None
    ) -> OutgoingDdiRulePattern:
        return cls(priority, action, match_list=match_list, forced_ddi=forced_ddi)

    @classmethod
    def with_prefix(
        cls, priority: int, prefix: str, action: OutgoingDdiAction, forced_ddi: str | None = None
    ) -> OutgoingDdiRulePattern:
        return cls(priority, action, prefix=prefix, forced_ddi=forced_ddi)

    def matches(self, destination: str, prefix: str) -> bool:
        if self.prefix is not None:
            return self.prefix == prefix
        assert self.match_list is not None
        return self.match_list.matches(destination)


@dataclass(frozen=True, slots=True)
class OutgoingDdiRule:
    name: str
    default_action: OutgoingDdiAction
    forced_ddi: str | None = None
    patterns: tuple[OutgoingDdiRulePattern, ...] = ()
    id: int | None = None

    def ordered_patterns(self) -> tuple[OutgoingDdiRulePattern, ...]:
        return tuple(sorted(self.patterns, key=lambda pattern: pattern.priority))


@dataclass(frozen=True, slots=True)
class OutgoingDdiSelection:
    """Chosen outgoing DDI; ``pattern`` is the rule pattern that decided (if any)."""

    ddi: str | None
    rule: OutgoingDdiRule | None = None
    pattern: OutgoingDdiRulePattern | None = None

    @property
    def rejected(self) -> bool:
        """Calls without an outgoing DDI are rejected."""
        return self.ddi is None


def fallback_outgoing_ddi(endpoint_ddi: str | None, client_ddi: str | None) -> str | None:
    """Endpoint (user, fax, friend, device, account) DDI, else the client's."""
    return endpoint_ddi if endpoint_ddi is not None else client_ddi


def split_ddi_prefix(rule: OutgoingDdiRule | None, dialled: str) -> tuple[str, str]:
    """Detect and strip an outgoing DDI prefix from a dialled number.

    Returns ``(prefix, rest)``; ``prefix`` is ``""`` when no prefix pattern of
    ``rule`` starts ``dialled`` (patterns tried by ascending metric).
    """
    if rule is not None:
        for pattern in rule.ordered_patterns():
            if pattern.prefix is not None and dialled.startswith(pattern.prefix):
                return pattern.prefix, dialled[len(pattern.prefix) :]
    return "", dialled


def apply_outgoing_ddi_rule(
    rule: OutgoingDdiRule,
    original_ddi: str | None,
    destination: str,
    prefix: str = "",
    client_ddi: str | None = None,
) -> OutgoingDdiSelection:
    """Apply ``rule`` to a call towards the E.164 ``destination``.

    ``original_ddi`` is the DDI the endpoint would present, ``prefix`` the DDI
    prefix dialled (see :func:`split_ddi_prefix`) and ``client_ddi`` the
    client's outgoing DDI, used when a forced DDI is left empty.
    """

    def resolve(action: OutgoingDdiAction, forced: str | None) -> str | None:
        if action is OutgoingDdiAction.KEEP:
            return original_ddi
        return forced if forced is not None else client_ddi

    for pattern in rule.ordered_patterns():
        if pattern.matches(destination, prefix):
            return OutgoingDdiSelection(resolve(pattern.action, pattern.forced_ddi), rule, pattern)
    return OutgoingDdiSelection(resolve(rule.default_action, rule.forced_ddi), rule)


def select_outgoing_ddi(
    destination: str,
    *,
    endpoint_ddi: str | None,
    client_ddi: str | None,
    endpoint_rule: OutgoingDdiRule | None = None,
    client_rule: OutgoingDdiRule | None = None,
    prefix: str = "",
) -> OutgoingDdiSelection:
    """Full outgoing DDI selection for a user (or a DDI re-originating a call).

    DDI = endpoint DDI else client DDI; rule = endpoint rule else client rule;
    then the rule (if any) may keep or force it.
    """
    ddi = fallback_outgoing_ddi(endpoint_ddi, client_ddi)
    rule = endpoint_rule if endpoint_rule is not None else client_rule
    if rule is None:
        return OutgoingDdiSelection(ddi)
    return apply_outgoing_ddi_rule(rule, ddi, destination, prefix, client_ddi)


class ClidSource(StrEnum):
    PRESENTED = "presented"
    DIVERSION = "diversion"
    FALLBACK = "fallback"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class ClidDecision:
    """Number to present on an external call and where it came from."""

    number: str | None
    source: ClidSource

    @property
    def presented_valid(self) -> bool:
        return self.source is ClidSource.PRESENTED

    @property
    def rejected(self) -> bool:
        """No valid CLID and no fallback DDI: the call must be rejected."""
        return self.number is None


def validate_clid(
    presented: str | None,
    client_ddis: Collection[str],
    fallback_ddi: str | None,
    diversion: str | None = None,
) -> ClidDecision:
    """CLID validation for retail/residential accounts and friends.

    ``presented`` is the caller number sent by the endpoint (E.164),
    ``client_ddis`` the client's DDIs (E.164), ``fallback_ddi`` the result of
    :func:`fallback_outgoing_ddi` for the endpoint and ``diversion`` the
    Diversion number of a forwarded call, if any.
    """
    if presented is not None and presented in client_ddis:
        return ClidDecision(presented, ClidSource.PRESENTED)
    if diversion is not None and diversion in client_ddis:
        return ClidDecision(diversion, ClidSource.DIVERSION)
    if fallback_ddi is not None:
        return ClidDecision(fallback_ddi, ClidSource.FALLBACK)
    return ClidDecision(None, ClidSource.NONE)
