"""Service codes — spec 8.5 "Services", 9.7.6 "Generic Services", 10.1.10, route lock codes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyvox.domain.callflow import (
    DEFAULT_SERVICE_CODES,
    RESIDENTIAL_SERVICES,
    SERVICES_WITH_ARGUMENT,
    VPBX_SERVICES,
    CallForwardChange,
    CallForwardOperation,
    CallForwardType,
    CheckVoicemail,
    ClientType,
    DirectPickup,
    GroupPickup,
    InvalidServiceCall,
    LockOperation,
    QueuePauseChange,
    RecordLocution,
    RouteLockChange,
    Service,
    ServiceCall,
    effective_service_codes,
    parse_service_code,
    validate_service_code,
)

VPBX = effective_service_codes(ClientType.VPBX, DEFAULT_SERVICE_CODES)
RESIDENTIAL = effective_service_codes(ClientType.RESIDENTIAL, DEFAULT_SERVICE_CODES)


@pytest.mark.parametrize(
    ("dialled", "expected"),
    [
        ("*94101", DirectPickup("101")),
        ("*95", GroupPickup()),
        ("*93", CheckVoicemail()),
        ("*93101", CheckVoicemail("101")),
        ("*0012", RecordLocution(12)),
        ("*715", RouteLockChange(LockOperation.OPEN, 5, Service.OPEN_LOCK)),
        ("*7012", RouteLockChange(LockOperation.CLOSE, 12, Service.CLOSE_LOCK)),
        ("*723", RouteLockChange(LockOperation.TOGGLE, 3, Service.TOGGLE_LOCK)),
        ("*73", QueuePauseChange(True, Service.QUEUE_PAUSE)),
        ("*74", QueuePauseChange(False, Service.QUEUE_UNPAUSE)),
    ],
)
def test_8_5_vpbx_service_codes(dialled: str, expected: ServiceCall) -> None:
    assert parse_service_code(dialled, VPBX) == expected


def test_10_1_7_direct_pickup_spec_example() -> None:
    # "if the direct pickup code is *95, the user must dial *95101 to capture ... extension 101"
    codes = effective_service_codes(
        ClientType.VPBX, DEFAULT_SERVICE_CODES, {Service.DIRECT_PICKUP: "95", Service.GROUP_PICKUP: "96"}
    )
    assert parse_service_code("*95101", codes) == DirectPickup("101")
    assert parse_service_code("*96", codes) == GroupPickup()


@pytest.mark.parametrize(
    ("dialled", "forward_type", "operation", "number"),
    [
        ("*80944000000", CallForwardType.INCONDITIONAL, CallForwardOperation.ENABLE_NUMBER, "944000000"),
        ("*81*", CallForwardType.BUSY, CallForwardOperation.ENABLE_VOICEMAIL, None),
        ("*82", CallForwardType.NO_ANSWER, CallForwardOperation.DISABLE, None),
        (
            "*83600111222",
            CallForwardType.USER_NOT_REGISTERED,
            CallForwardOperation.ENABLE_NUMBER,
            "600111222",
        ),
        ("*83*", CallForwardType.USER_NOT_REGISTERED, CallForwardOperation.ENABLE_VOICEMAIL, None),
        ("*80", CallForwardType.INCONDITIONAL, CallForwardOperation.DISABLE, None),
    ],
)
def test_9_7_6_call_forward_services(
    dialled: str, forward_type: CallForwardType, operation: CallForwardOperation, number: str | None
) -> None:
    result = parse_service_code(dialled, RESIDENTIAL)
    assert isinstance(result, CallForwardChange)
    assert result.forward_type is forward_type
    assert result.operation is operation
    assert result.number == number


def test_9_7_6_call_forward_codes_only_for_residential() -> None:
    assert parse_service_code("*80944000000", VPBX) is None
    assert Service.CALL_FORWARD_BUSY not in VPBX
    assert set(RESIDENTIAL) == RESIDENTIAL_SERVICES


def test_9_7_6_residential_uses_brand_codes_ignoring_overrides() -> None:
    brand = {**DEFAULT_SERVICE_CODES, Service.CALL_FORWARD_BUSY: "61"}
    codes = effective_service_codes(ClientType.RESIDENTIAL, brand, {Service.CALL_FORWARD_BUSY: "99"})
    assert codes[Service.CALL_FORWARD_BUSY] == "61"
    assert parse_service_code("*61*", codes) == CallForwardChange(
        CallForwardType.BUSY, CallForwardOperation.ENABLE_VOICEMAIL, Service.CALL_FORWARD_BUSY
    )


def test_10_1_10_client_overrides_and_deletions() -> None:
    codes = effective_service_codes(
        ClientType.VPBX, DEFAULT_SERVICE_CODES, {Service.VOICEMAIL: "5", Service.GROUP_PICKUP: None}
    )
    assert codes[Service.VOICEMAIL] == "5"
    assert Service.GROUP_PICKUP not in codes  # deleted by client admin: not available
    assert parse_service_code("*95", codes) is None
    assert parse_service_code("*5", codes) == CheckVoicemail()
    assert parse_service_code("*93", codes) is None


def test_9_7_6_brand_codes_missing_service() -> None:
    brand = {Service.VOICEMAIL: "93"}
    assert effective_service_codes(ClientType.VPBX, brand) == {Service.VOICEMAIL: "93"}


@pytest.mark.parametrize("client_type", [ClientType.RETAIL, ClientType.WHOLESALE])
def test_services_not_available_to_retail_wholesale(client_type: ClientType) -> None:
    assert effective_service_codes(client_type, DEFAULT_SERVICE_CODES) == {}


def test_8_5_vpbx_available_services() -> None:
    assert set(VPBX) == VPBX_SERVICES


def test_8_5_default_codes() -> None:
    assert DEFAULT_SERVICE_CODES[Service.DIRECT_PICKUP] == "94"
    assert DEFAULT_SERVICE_CODES[Service.GROUP_PICKUP] == "95"
    assert DEFAULT_SERVICE_CODES[Service.VOICEMAIL] == "93"
    assert DEFAULT_SERVICE_CODES[Service.CALL_FORWARD_UNREACHABLE] == "83"
    assert Service.GROUP_PICKUP not in SERVICES_WITH_ARGUMENT


@pytest.mark.parametrize("code", ["94", "*9", "#1", "0"])
def test_service_code_format_valid(code: str) -> None:
    assert validate_service_code(code) == code


@pytest.mark.parametrize("code", ["", "9a", " 9", "9\n"])
def test_service_code_format_invalid(code: str) -> None:
    with pytest.raises(ValueError):
        validate_service_code(code)
    with pytest.raises(ValueError):
        effective_service_codes(ClientType.VPBX, {Service.VOICEMAIL: code})


@pytest.mark.parametrize("dialled", ["94101", "", "*", "*99", "*9"])
def test_8_5_not_a_service(dialled: str) -> None:
    assert parse_service_code(dialled, VPBX) is None


def test_8_5_group_pickup_requires_exact_code() -> None:
    assert parse_service_code("*951", VPBX) is None


@pytest.mark.parametrize(
    ("dialled", "service", "reason"),
    [
        ("*94", Service.DIRECT_PICKUP, "extension missing"),
        ("*94ab", Service.DIRECT_PICKUP, "extension must be digits"),
        ("*93x", Service.VOICEMAIL, "extension must be digits"),
        ("*00", Service.RECORD_LOCUTION, "locution id missing"),
        ("*71", Service.OPEN_LOCK, "route lock id missing"),
        ("*72x", Service.TOGGLE_LOCK, "route lock id must be digits"),
    ],
)
def test_8_5_invalid_arguments(dialled: str, service: Service, reason: str) -> None:
    result = parse_service_code(dialled, VPBX)
    assert isinstance(result, InvalidServiceCall)
    assert result.service is service
    assert result.reason == reason


@pytest.mark.parametrize("dialled", ["*80+34944000000", "*81**", "*8212a"])
def test_9_7_6_call_forward_invalid_number(dialled: str) -> None:
    result = parse_service_code(dialled, RESIDENTIAL)
    assert isinstance(result, InvalidServiceCall)
    assert result.reason == "national number must be digits"


def test_8_5_longest_code_wins_among_argument_services() -> None:
    codes = {Service.VOICEMAIL: "9", Service.DIRECT_PICKUP: "94"}
    assert parse_service_code("*94101", codes) == DirectPickup("101")
    assert parse_service_code("*9101", codes) == CheckVoicemail("101")


def test_8_5_exact_service_before_prefix_service() -> None:
    codes = {Service.VOICEMAIL: "9", Service.GROUP_PICKUP: "95"}
    assert parse_service_code("*95", codes) == GroupPickup()
    assert parse_service_code("*96", codes) == CheckVoicemail("6")


def test_8_5_empty_codes_ignored() -> None:
    assert parse_service_code("*123", {Service.VOICEMAIL: ""}) is None


@pytest.mark.parametrize(
    ("operation", "before", "after"),
    [
        (LockOperation.OPEN, False, True),
        (LockOperation.OPEN, True, True),
        (LockOperation.CLOSE, True, False),
        (LockOperation.CLOSE, False, False),
        (LockOperation.TOGGLE, True, False),
        (LockOperation.TOGGLE, False, True),
    ],
)
def test_10_1_6_route_lock_service_operations(operation: LockOperation, before: bool, after: bool) -> None:
    assert operation.apply(before) is after


codes_strategy = st.from_regex(r"[0-9]{2,3}", fullmatch=True)


@given(codes_strategy, st.from_regex(r"[0-9]{1,6}", fullmatch=True))
def test_property_lock_code_roundtrip(code: str, lock_id: str) -> None:
    codes = {Service.TOGGLE_LOCK: code}
    assert parse_service_code(f"*{code}{lock_id}", codes) == RouteLockChange(
        LockOperation.TOGGLE, int(lock_id), Service.TOGGLE_LOCK
    )


@given(
    codes_strategy,
    st.from_regex(r"[0-9]{6,12}", fullmatch=True),
    st.sampled_from(sorted(RESIDENTIAL_SERVICES - {Service.VOICEMAIL})),
)
def test_property_call_forward_roundtrip(code: str, number: str, service: Service) -> None:
    result = parse_service_code(f"*{code}{number}", {service: code})
    assert isinstance(result, CallForwardChange)
    assert result.number == number
    assert result.service is service
