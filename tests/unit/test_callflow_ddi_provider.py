"""DDI Provider detection — spec 9.6.3."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from polyvox.domain.callflow import (
    DdiProviderCandidate,
    DetectionOutcome,
    InboundDdi,
    detect_ddi_provider,
)

IP_SHARED = "192.0.2.10"
IP_OTHER = "198.51.100.7"

# Provider 1 (brand 1) adds "+34" to 9-digit numbers, provider 2 (brand 1) expects
# "0034" and replaces it, provider 3 (brand 2) adds "+34" too.
P1 = DdiProviderCandidate(1, 1, frozenset({IP_SHARED}))
P2 = DdiProviderCandidate(2, 1, frozenset({IP_SHARED, IP_OTHER}))
P3 = DdiProviderCandidate(3, 2, frozenset({IP_SHARED}))
P4 = DdiProviderCandidate(4, 1, frozenset({"203.0.113.1"}))


def transform(provider_id: int, number: str) -> str:
    if provider_id == 2:
        return "+" + number[2:] if number.startswith("00") else number
    return number if number.startswith("+") else "+34" + number


DDI_B1 = InboundDdi(10, "+34944000000", brand_id=1, company_id=100)
DDI_B2 = InboundDdi(20, "+34955000000", brand_id=2, company_id=200)


def test_9_6_3_step1_unknown_source_rejected() -> None:
    result = detect_ddi_provider("10.0.0.1", "944000000", (P1, P2), (DDI_B1,), transform)
    assert result.outcome is DetectionOutcome.UNKNOWN_SOURCE
    assert not result.accepted
    assert result.ddi_provider_id is None


def test_9_6_3_step2_lower_id_first() -> None:
    # Both P1 and P2 share the IP; P1 (lower id) transforms first and matches.
    result = detect_ddi_provider(IP_SHARED, "944000000", (P2, P1), (DDI_B1,), transform)
    assert result.accepted
    assert result.ddi_provider_id == 1
    assert result.ddi == DDI_B1
    assert result.transformed == "+34944000000"


def test_9_6_3_step3_loop_continues_until_match() -> None:
    # "0034944000000": P1 gives "+340034944000000" (no DDI), P2 gives "+34944000000".
    result = detect_ddi_provider(IP_SHARED, "0034944000000", (P1, P2), (DDI_B1,), transform)
    assert result.ddi_provider_id == 2
    assert result.ddi == DDI_B1


def test_9_6_3_ddi_must_belong_to_provider_brand() -> None:
    # "955000000" → "+34955000000" exists only in brand 2: P1 (brand 1) cannot match it, P3 can.
    result = detect_ddi_provider(IP_SHARED, "955000000", (P1, P3), (DDI_B1, DDI_B2), transform)
    assert result.ddi_provider_id == 3
    assert result.ddi == DDI_B2
    only_brand1 = detect_ddi_provider(IP_SHARED, "955000000", (P1,), (DDI_B1, DDI_B2), transform)
    assert only_brand1.outcome is DetectionOutcome.UNKNOWN_DDI


def test_9_6_3_no_match_rejected() -> None:
    result = detect_ddi_provider(IP_SHARED, "900000000", (P1, P2), (DDI_B1,), transform)
    assert result.outcome is DetectionOutcome.UNKNOWN_DDI
    assert result.ddi is None


def test_9_6_3_outbound_only_ddi_not_matched() -> None:
    out_only = InboundDdi(11, "+34944000000", brand_id=1, inbound=False)
    result = detect_ddi_provider(IP_SHARED, "944000000", (P1,), (out_only,), transform)
    assert result.outcome is DetectionOutcome.UNKNOWN_DDI


def test_9_6_3_linked_provider_matching_source_is_saved_instead() -> None:
    linked = InboundDdi(12, "+34944000000", brand_id=1, ddi_provider_id=2)
    result = detect_ddi_provider(IP_SHARED, "944000000", (P1, P2), (linked,), transform)
    assert result.ddi_provider_id == 2  # P1 allowed the match, DDI linked to P2 which matches the IP
    assert result.ddi == linked


def test_9_6_3_linked_provider_not_matching_source_keeps_matcher() -> None:
    linked = InboundDdi(12, "+34944000000", brand_id=1, ddi_provider_id=4)
    result = detect_ddi_provider(IP_SHARED, "944000000", (P1, P2, P4), (linked,), transform)
    assert result.ddi_provider_id == 1


def test_9_6_3_linked_to_matching_provider_itself() -> None:
    linked = InboundDdi(12, "+34944000000", brand_id=1, ddi_provider_id=1)
    result = detect_ddi_provider(IP_SHARED, "944000000", (P1, P2), (linked,), transform)
    assert result.ddi_provider_id == 1


def test_9_6_3_transform_called_in_id_order_and_stops() -> None:
    calls: list[int] = []

    def spy(provider_id: int, number: str) -> str:
        calls.append(provider_id)
        return transform(provider_id, number)

    detect_ddi_provider(IP_SHARED, "944000000", (P3, P2, P1), (DDI_B1,), spy)
    assert calls == [1]
    calls.clear()
    detect_ddi_provider(IP_SHARED, "900000000", (P3, P2, P1), (DDI_B1,), spy)
    assert calls == [1, 2, 3]


@given(st.lists(st.integers(1, 50), min_size=1, max_size=6, unique=True), st.integers(0, 5))
def test_property_lowest_matching_provider_wins(ids: list[int], winner_index: int) -> None:
    providers = [DdiProviderCandidate(i, 1, frozenset({IP_SHARED})) for i in ids]
    matching = sorted(ids)[winner_index % len(ids) :]

    def only_some(provider_id: int, number: str) -> str:
        return "+1000" if provider_id in matching else "+9999"

    ddi = InboundDdi(1, "+1000", brand_id=1)
    result = detect_ddi_provider(IP_SHARED, "1000", providers, (ddi,), only_some)
    assert result.ddi_provider_id == min(matching)
