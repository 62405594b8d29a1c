"""Call ACLs — spec 10.1.7 "Call ACLs" (users and friends, 10.1.1 / Friends)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyvox.domain.callflow import (
    AclPolicy,
    CallAcl,
    CallAclRule,
    MatchList,
    MatchListPattern,
    evaluate_call_acl,
    is_call_allowed,
)

SPAIN = MatchList("spain", (MatchListPattern.regexp(r"^\+34"),))
SPAIN_PREMIUM = MatchList("premium", (MatchListPattern.regexp(r"^\+34(803|806|807)"),))
FRANCE = MatchList("france", (MatchListPattern.regexp(r"^\+33"),))

# Deny premium numbers, allow Spain, deny everything else.
NATIONAL = CallAcl(
    "national",
    AclPolicy.DENY,
    (
        CallAclRule(20, SPAIN, AclPolicy.ALLOW),
        CallAclRule(10, SPAIN_PREMIUM, AclPolicy.DENY),
    ),
)


@pytest.mark.parametrize(
    ("destination", "allowed"),
    [
        ("+34944000000", True),
        ("+34806123456", False),  # metric 10 (deny) evaluated before metric 20 (allow)
        ("+33144000000", False),  # default policy
    ],
)
def test_10_1_7_call_acl_rules_by_metric(destination: str, allowed: bool) -> None:
    assert is_call_allowed(NATIONAL, destination) is allowed


def test_10_1_7_call_acl_default_allow() -> None:
    acl = CallAcl("no-france", AclPolicy.ALLOW, (CallAclRule(1, FRANCE, AclPolicy.DENY),))
    decision = evaluate_call_acl(acl, "+4930123456")
    assert decision.allowed
    assert decision.default_policy_applied
    assert decision.rule is None
    denied = evaluate_call_acl(acl, "+33144000000")
    assert not denied.allowed
    assert denied.rule is not None and denied.rule.match_list is FRANCE


def test_10_1_7_internal_numbers_always_allowed() -> None:
    deny_all = CallAcl("deny", AclPolicy.DENY)
    decision = evaluate_call_acl(deny_all, "101", internal=True)
    assert decision.allowed and decision.internal
    assert not is_call_allowed(deny_all, "+34944000000")


def test_10_1_7_no_acl_allows() -> None:
    decision = evaluate_call_acl(None, "+34806123456")
    assert decision.allowed
    assert not decision.default_policy_applied


def test_10_1_7_equal_metrics_keep_order() -> None:
    acl = CallAcl(
        "tie",
        AclPolicy.ALLOW,
        (CallAclRule(1, SPAIN, AclPolicy.DENY), CallAclRule(1, SPAIN, AclPolicy.ALLOW)),
    )
    assert not is_call_allowed(acl, "+34944000000")


@given(st.sampled_from(list(AclPolicy)), st.from_regex(r"\+[1-9][0-9]{5,12}", fullmatch=True))
def test_property_no_rules_applies_default(policy: AclPolicy, number: str) -> None:
    assert is_call_allowed(CallAcl("x", policy), number) is (policy is AclPolicy.ALLOW)
