"""Caller identity presented to internal targets (polyvox.domain.pbx.caller_id), as IvozProvider
3.4 shows it: terminal endpoints' ``callerid = "Name Lastname <extension>"``, KamUsers' callerout
of non-internal numbers towards the endpoint (From and PAI)."""

from __future__ import annotations

import pytest

from polyvox.domain.callflow import ClidSource
from polyvox.domain.numbering import RuleSet, TransformationRule
from polyvox.domain.pbx import CallerId, caller_for_endpoint, endpoint_clid, full_name, presented_caller

#: callerout of a Spanish client: national numbers without +34, the rest with 00
SPAIN_OUT = RuleSet([
    TransformationRule(type="callerout", priority=1, match_expr=r"^\+34([0-9]{9})$", replace_expr=r"\1"),
    TransformationRule(type="callerout", priority=2, match_expr=r"^\+([0-9]+)$", replace_expr=r"00\1"),
])
RECEIVED = CallerId("alice", "Alice's phone")


@pytest.mark.parametrize(("kind", "kwargs", "expected"), [
    # a user: screen extension and full name, whatever the phone sent
    ("user", {"extension": "101", "user_name": "Alice Smith"}, CallerId("101", "Alice Smith")),
    ("user", {"extension": "101", "user_name": None}, CallerId("101", None)),
    # a user without extension ("Alice Smith <>"): number and name from the From header
    ("user", {"extension": None, "user_name": "Alice Smith"}, RECEIVED),
    ("user", {"extension": "", "user_name": "Alice Smith"}, RECEIVED),
    # friends and residential devices: as received
    ("friend", {}, RECEIVED),
    ("residential", {}, RECEIVED),
    # external callers: E.164 and the DDI display name; no display name when the DDI has none
    ("external", {"e164": "+34666777888", "ddi_display_name": "Sales line"}, CallerId("+34666777888", "Sales line")),
    ("external", {"e164": "+34666777888"}, CallerId("+34666777888", None)),
    ("external", {"e164": None, "ddi_display_name": ""}, CallerId("alice", None)),
])
def test_presented_caller(kind: str, kwargs: dict[str, str | None], expected: CallerId) -> None:
    assert presented_caller(kind, RECEIVED, **kwargs) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("number", "expected"), [
    ("101", "101"),  # internal numbers (extensions) are never transformed
    ("alice", "alice"),
    ("+34666777888", "666777888"),
    ("+441234567890", "00441234567890"),
])
def test_caller_for_endpoint_formats_only_e164_numbers(number: str, expected: str) -> None:
    assert caller_for_endpoint(CallerId(number, "Sales line"), SPAIN_OUT) == CallerId(expected, "Sales line")
    assert caller_for_endpoint(CallerId(number), RuleSet(())) == CallerId(number)  # no rules: unchanged


@pytest.mark.parametrize(("name", "lastname", "expected"), [
    ("Alice", "Smith", "Alice Smith"), ("Alice", "", "Alice"), ("", " Smith ", "Smith"), (None, None, None),
    ("  ", "", None),
])
def test_full_name(name: str | None, lastname: str | None, expected: str | None) -> None:
    assert full_name(name, lastname) == expected


DDIS = frozenset({"+34944000001", "+34944000002"})


@pytest.mark.parametrize(("presented", "endpoint_ddi", "client_ddi", "diversion", "number", "source"), [
    ("+34944000002", "+34944000001", None, None, "+34944000002", ClidSource.PRESENTED),
    ("+34600111222", "+34944000001", "+34944000002", None, "+34944000001", ClidSource.FALLBACK),
    ("+34600111222", None, "+34944000002", None, "+34944000002", ClidSource.FALLBACK),  # the client's
    (None, "+34944000001", None, None, "+34944000001", ClidSource.FALLBACK),
    ("+34600111222", "+34944000001", None, "+34944000002", "+34944000002", ClidSource.DIVERSION),
    ("+34600111222", "+34944000001", None, "+34600000000", "+34944000001", ClidSource.FALLBACK),
    ("+34600111222", None, None, None, None, ClidSource.NONE),  # rejected
])
def test_10_3_endpoint_clid(presented: str | None, endpoint_ddi: str | None, client_ddi: str | None,
                            diversion: str | None, number: str | None, source: ClidSource) -> None:
    decision = endpoint_clid(presented, DDIS, endpoint_ddi=endpoint_ddi, client_ddi=client_ddi, diversion=diversion)
    assert (decision.number, decision.source) == (number, source)
