"""Call ACLs (spec 10.1.7 "Call ACLs").

A call ACL decides whether a user or friend may call an *external* number.
Internal numbers (client extensions, friend extensions) never traverse ACLs.
Rules pair a match list with ``allow``/``deny`` and are evaluated by ascending
metric (equal metrics keep input order); the first rule whose match list
matches the E.164 destination decides, else the ACL's default policy. An
endpoint without ACL may call anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .matchlist import MatchList

__all__ = ["AclDecision", "AclPolicy", "CallAcl", "CallAclRule", "evaluate_call_acl", "is_call_allowed"]


class AclPolicy(StrEnum):
    ALLOW = "allow"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class CallAclRule:
    """One ACL rule: a destination match list and its policy."""

    priority: int
    match_list: MatchList
    policy: AclPolicy


@dataclass(frozen=True, slots=True)
class CallAcl:
    name: str
    default_policy: AclPolicy
    rules: tuple[CallAclRule, ...] = ()
    id: int | None = None


@dataclass(frozen=True, slots=True)
class AclDecision:
    """Whether the call is allowed and why (``rule`` None = internal/no ACL/default)."""

    allowed: bool
    rule: CallAclRule | None = None
    internal: bool = False
    default_policy_applied: bool = False


def evaluate_call_acl(acl: CallAcl | None, destination: str, *, internal: bool = False) -> AclDecision:
    """Evaluate ``acl`` for ``destination`` (E.164 unless ``internal``)."""
    if internal:
        return AclDecision(True, internal=True)
    if acl is None:
        return AclDecision(True)
    for rule in sorted(acl.rules, key=lambda item: item.priority):
        if rule.match_list.matches(destination):
            return AclDecision(rule.policy is AclPolicy.ALLOW, rule)
    return AclDecision(acl.default_policy is AclPolicy.ALLOW, default_policy_applied=True)


def is_call_allowed(acl: CallAcl | None, destination: str, *, internal: bool = False) -> bool:
    """Shortcut for ``evaluate_call_acl(...).allowed``."""
    return evaluate_call_acl(acl, destination, internal=internal).allowed
