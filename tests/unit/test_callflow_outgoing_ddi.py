"""Outgoing DDI — spec 7.4, 10.1.1, 10.1.7 "Outgoing DDI Rules"; CLID validation for
retail (10.3) and residential (001 residential page, 10.2) clients and friends."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyvox.domain.callflow import (
    ClidSource,
    MatchList,
    MatchListPattern,
    OutgoingDdiAction,
    OutgoingDdiRule,
    OutgoingDdiRulePattern,
    apply_outgoing_ddi_rule,
    fallback_outgoing_ddi,
    is_valid_ddi_prefix,
    select_outgoing_ddi,
    split_ddi_prefix,
    validate_clid,
    validate_ddi_prefix,
)

KEEP = OutgoingDdiAction.KEEP
FORCE = OutgoingDdiAction.FORCE

# ---- Example 1: "Outgoing DDI based on destination" ----------------------------
# Default action: force the main client DDI (666666666). Rule: corporate mobiles → keep.
# "the User will present 77777777 DDI when calling corporate mobiles and 666666666
# when calling the rest of the external numbers."
CORPORATE_MOBILES = MatchList(
    "corporate mobiles",
    (MatchListPattern.number("+34600000001"), MatchListPattern.number("+34600000002")),
)
DESTINATION_RULE = OutgoingDdiRule(
    "destination based",
    FORCE,
    forced_ddi="666666666",
    patterns=(OutgoingDdiRulePattern.destination(1, CORPORATE_MOBILES, KEEP),),
)


@pytest.mark.parametrize(
    ("destination", "presented"),
    [
        ("+34600000001", "77777777"),
        ("+34600000002", "77777777"),
        ("+34944000000", "666666666"),
        ("+33144000000", "666666666"),
    ],
)
def test_10_1_7_outgoing_ddi_destination_example(destination: str, presented: str) -> None:
    selection = select_outgoing_ddi(
        destination, endpoint_ddi="77777777", client_ddi="666666666", endpoint_rule=DESTINATION_RULE
    )
    assert selection.ddi == presented
    assert selection.rule is DESTINATION_RULE


# ---- Example 2: "Outgoing DDI based on prefix" ----------------------------------
# Default action: keep. Rule: prefix 111* → force 6666666666.
# "the User will present 6666666666 DDI when calling any destination with 111 prefix
# and 7777777777 when not using any prefix."
PREFIX_RULE = OutgoingDdiRule(
    "prefix based",
    KEEP,
    patterns=(OutgoingDdiRulePattern.with_prefix(1, "111*", FORCE, forced_ddi="6666666666"),),
)


@pytest.mark.parametrize(
    ("dialled", "e164", "presented", "rest"),
    [
        ("111*944000000", "+34944000000", "6666666666", "944000000"),
        ("111*0033144000000", "+33144000000", "6666666666", "0033144000000"),
        ("944000000", "+34944000000", "7777777777", "944000000"),
    ],
)
def test_10_1_7_outgoing_ddi_prefix_example(dialled: str, e164: str, presented: str, rest: str) -> None:
    prefix, stripped = split_ddi_prefix(PREFIX_RULE, dialled)
    assert stripped == rest
    selection = select_outgoing_ddi(
        e164, endpoint_ddi="7777777777", client_ddi="5555555555", endpoint_rule=PREFIX_RULE, prefix=prefix
    )
    assert selection.ddi == presented


def test_10_1_7_prefix_pattern_decides_with_pattern_reference() -> None:
    selection = apply_outgoing_ddi_rule(PREFIX_RULE, "7777777777", "+34944000000", "111*")
    assert selection.pattern is PREFIX_RULE.patterns[0]
    no_prefix = apply_outgoing_ddi_rule(PREFIX_RULE, "7777777777", "+34944000000")
    assert no_prefix.pattern is None
    assert no_prefix.ddi == "7777777777"


def test_10_1_7_split_prefix_without_rule_or_match() -> None:
    assert split_ddi_prefix(None, "111*944000000") == ("", "111*944000000")
    assert split_ddi_prefix(DESTINATION_RULE, "111*944000000") == ("", "111*944000000")
    assert split_ddi_prefix(PREFIX_RULE, "112*944000000") == ("", "112*944000000")


def test_10_1_7_split_prefix_by_metric() -> None:
    rule = OutgoingDdiRule(
        "two",
        KEEP,
        patterns=(
            OutgoingDdiRulePattern.with_prefix(2, "1*", FORCE, "+2"),
            OutgoingDdiRulePattern.with_prefix(1, "1*", FORCE, "+1"),
        ),
    )
    assert split_ddi_prefix(rule, "1*944") == ("1*", "944")
    assert apply_outgoing_ddi_rule(rule, "+0", "+34944", "1*").ddi == "+1"


def test_10_1_7_patterns_by_metric_first_match_wins() -> None:
    everything = MatchList("all", (MatchListPattern.regexp(r"^\+"),))
    rule = OutgoingDdiRule(
        "r",
        KEEP,
        patterns=(
            OutgoingDdiRulePattern.destination(5, everything, FORCE, "+B"),
            OutgoingDdiRulePattern.destination(1, CORPORATE_MOBILES, FORCE, "+A"),
        ),
    )
    assert apply_outgoing_ddi_rule(rule, "+O", "+34600000001").ddi == "+A"
    assert apply_outgoing_ddi_rule(rule, "+O", "+34944000000").ddi == "+B"


def test_10_1_7_forced_ddi_empty_means_client_ddi() -> None:
    rule = OutgoingDdiRule(
        "r", FORCE, patterns=(OutgoingDdiRulePattern.destination(1, CORPORATE_MOBILES, FORCE),)
    )
    assert apply_outgoing_ddi_rule(rule, "+U", "+34600000001", client_ddi="+C").ddi == "+C"
    assert apply_outgoing_ddi_rule(rule, "+U", "+34944000000", client_ddi="+C").ddi == "+C"


def test_10_1_1_client_rule_used_when_user_has_none() -> None:
    selection = select_outgoing_ddi(
        "+34944000000", endpoint_ddi="77777777", client_ddi="666666666", client_rule=DESTINATION_RULE
    )
    assert selection.ddi == "666666666"
    assert selection.rule is DESTINATION_RULE


def test_10_1_1_user_rule_overrides_client_rule() -> None:
    selection = select_outgoing_ddi(
        "+34944000000",
        endpoint_ddi="7777777777",
        client_ddi="1",
        endpoint_rule=PREFIX_RULE,
        client_rule=DESTINATION_RULE,
    )
    assert selection.ddi == "7777777777"


@pytest.mark.parametrize(
    ("endpoint", "client", "expected"),
    [("+U", "+C", "+U"), (None, "+C", "+C"), ("+U", None, "+U"), (None, None, None)],
)
def test_7_4_outgoing_ddi_fallback_chain(
    endpoint: str | None, client: str | None, expected: str | None
) -> None:
    # user, fax, friend, residential device, retail account → client
    assert fallback_outgoing_ddi(endpoint, client) == expected
    selection = select_outgoing_ddi("+34944000000", endpoint_ddi=endpoint, client_ddi=client)
    assert selection.ddi == expected
    assert selection.rule is None


def test_7_4_calls_without_outgoing_ddi_rejected() -> None:
    assert select_outgoing_ddi("+34944000000", endpoint_ddi=None, client_ddi=None).rejected
    assert not select_outgoing_ddi("+34944000000", endpoint_ddi="+U", client_ddi=None).rejected


@pytest.mark.parametrize("prefix", ["1*", "12*", "123*", "0*"])
def test_10_1_7_prefix_format_valid(prefix: str) -> None:
    assert is_valid_ddi_prefix(prefix)
    assert validate_ddi_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["", "*", "1234*", "111", "11#", "a1*", "1*1", "111*\n"])
def test_10_1_7_prefix_format_invalid(prefix: str) -> None:
    assert not is_valid_ddi_prefix(prefix)
    with pytest.raises(ValueError):
        validate_ddi_prefix(prefix)
    with pytest.raises(ValueError):
        OutgoingDdiRulePattern.with_prefix(1, prefix, KEEP)


def test_10_1_7_pattern_needs_exactly_one_kind() -> None:
    with pytest.raises(ValueError):
        OutgoingDdiRulePattern(1, KEEP)
    with pytest.raises(ValueError):
        OutgoingDdiRulePattern(1, KEEP, match_list=CORPORATE_MOBILES, prefix="1*")


@given(st.from_regex(r"[0-9]{1,3}\*", fullmatch=True), st.from_regex(r"[0-9]{3,12}", fullmatch=True))
def test_property_prefix_split_roundtrip(prefix: str, number: str) -> None:
    rule = OutgoingDdiRule("r", KEEP, patterns=(OutgoingDdiRulePattern.with_prefix(1, prefix, FORCE, "+F"),))
    assert split_ddi_prefix(rule, prefix + number) == (prefix, number)
    assert split_ddi_prefix(rule, number) == ("", number)


@given(st.lists(st.booleans(), max_size=5), st.from_regex(r"\+[0-9]{6,12}", fullmatch=True))
def test_property_keep_only_rules_never_change_ddi(kinds: list[bool], destination: str) -> None:
    patterns = tuple(
        OutgoingDdiRulePattern.destination(i, CORPORATE_MOBILES, KEEP)
        if is_dest
        else OutgoingDdiRulePattern.with_prefix(i, "9*", KEEP)
        for i, is_dest in enumerate(kinds)
    )
    rule = OutgoingDdiRule("keep", KEEP, patterns=patterns)
    assert apply_outgoing_ddi_rule(rule, "+ORIG", destination, "9*").ddi == "+ORIG"


# ---- CLID validation (retail / residential / friends) ------------------------

CLIENT_DDIS = frozenset({"+34944000001", "+34944000002"})


def test_residential_clid_valid_when_client_ddi() -> None:
    decision = validate_clid("+34944000002", CLIENT_DDIS, "+34944000001")
    assert decision.number == "+34944000002"
    assert decision.source is ClidSource.PRESENTED
    assert decision.presented_valid
    assert not decision.rejected


@pytest.mark.parametrize("presented", ["+34600111222", None, ""])
def test_residential_clid_invalid_uses_fallback(presented: str | None) -> None:
    decision = validate_clid(presented, CLIENT_DDIS, "+34944000001")
    assert decision.number == "+34944000001"
    assert decision.source is ClidSource.FALLBACK
    assert not decision.presented_valid


def test_retail_clid_forwarded_call_uses_diversion_ddi() -> None:
    decision = validate_clid("+34600111222", CLIENT_DDIS, "+34944000001", diversion="+34944000002")
    assert decision.number == "+34944000002"
    assert decision.source is ClidSource.DIVERSION


def test_retail_clid_foreign_diversion_ignored() -> None:
    decision = validate_clid("+34600111222", CLIENT_DDIS, "+34944000001", diversion="+34600000000")
    assert decision.source is ClidSource.FALLBACK


def test_retail_clid_no_fallback_rejected() -> None:
    decision = validate_clid("+34600111222", CLIENT_DDIS, None)
    assert decision.rejected
    assert decision.source is ClidSource.NONE


@given(
    st.from_regex(r"\+[0-9]{6,12}", fullmatch=True),
    st.frozensets(st.from_regex(r"\+[0-9]{6,12}", fullmatch=True)),
)
def test_property_clid_is_client_ddi_or_fallback(presented: str, ddis: frozenset[str]) -> None:
    decision = validate_clid(presented, ddis, "+FALLBACK")
    assert decision.number in ddis or decision.number == "+FALLBACK"
    assert decision.presented_valid == (presented in ddis)
