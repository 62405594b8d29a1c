"""Billing decisions tests, named after the IvozProvider 3.4 documentation sections."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyvox.domain.billing import (
    BillingAccount,
    BillingMethod,
    ClientType,
    DecisionReason,
    Direction,
    HangupReason,
    IpFilter,
    LimitReason,
    SourceReason,
    check_concurrent_calls,
    check_source,
    daily_limit_reached,
    ip_filter_allows,
    max_call_duration,
    may_start_call,
    prepaid_debit,
    settle_call,
)
from polyvox.domain.rating import (
    CannotRateReason,
    DestinationRateGroup,
    Rate,
    RatingAccount,
    RatingPlan,
    RatingPlanGroup,
    RatingProfile,
    call_cost,
    money_from_units,
)

D = Decimal
NOW = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
SPAIN = Rate("+34", "Spain", D("0.6000"), D("0.1000"), 60, 0)  # 0.10 + 0.60 per started minute
PLAN = RatingPlanGroup("Retail", "EUR", (RatingPlan(DestinationRateGroup("base", "EUR", (SPAIN,))),))
RATING = RatingAccount("Acme", "EUR", (RatingProfile(NOW - timedelta(days=1), PLAN),))


def account(
    method: BillingMethod = BillingMethod.POSTPAID,
    balance: str = "0",
    usage: str = "0",
    max_usage: str | None = None,
    rating: RatingAccount = RATING,
) -> BillingAccount:
    return BillingAccount(rating, method, D(balance), D(usage), None if max_usage is None else D(max_usage))


# ------------------------------------------------------------------ §9.4.1 billing methods


def test_9_4_1_postpaid_no_balance_involved() -> None:
    decision = may_start_call(account(BillingMethod.POSTPAID, balance="-50"), "+34911", NOW)
    assert decision.allowed and decision.reason is DecisionReason.ALLOWED
    assert decision.rated and not decision.disable_cdr
    assert decision.max_duration is None
    assert decision.match is not None and decision.match.rate.prefix == "+34"


def test_9_4_1_postpaid_max_duration_cap_is_passed_through() -> None:
    decision = may_start_call(account(), "+34911", NOW, max_duration_cap=10800)
    assert decision.max_duration == 10800


@pytest.mark.parametrize("method", [BillingMethod.PREPAID, BillingMethod.PSEUDOPREPAID])
@pytest.mark.parametrize("balance", ["0", "-0.0001", "-10"])
def test_9_4_1_no_new_calls_with_zero_or_negative_balance(method: BillingMethod, balance: str) -> None:
    decision = may_start_call(account(method, balance=balance), "+34911", NOW)
    assert not decision.allowed and decision.reason is DecisionReason.NO_BALANCE


@pytest.mark.parametrize("method", [BillingMethod.PREPAID, BillingMethod.PSEUDOPREPAID])
def test_9_4_1_duration_limited_to_what_balance_pays(method: BillingMethod) -> None:
    decision = may_start_call(account(method, balance="1.3000"), "+34911", NOW)
    assert decision.allowed and decision.max_duration == 120
    capped = may_start_call(account(method, balance="100"), "+34911", NOW, max_duration_cap=3600)
    assert capped.max_duration == 3600


def test_9_4_1_balance_not_enough_for_first_period_refuses() -> None:
    decision = may_start_call(account(BillingMethod.PREPAID, balance="0.5000"), "+34911", NOW)
    assert not decision.allowed and decision.reason is DecisionReason.INSUFFICIENT_BALANCE
    assert decision.match is not None and "Spain" in decision.detail


def test_9_4_1_billing_method_none_skips_rating() -> None:
    no_plans = RatingAccount("Acme", "EUR", ())
    decision = may_start_call(
        account(BillingMethod.NONE, rating=no_plans, usage="5", max_usage="1"), "+1", NOW
    )
    assert decision.allowed and decision.reason is DecisionReason.BILLING_DISABLED
    assert not decision.rated and decision.max_duration is None


def test_9_4_1_max_call_duration_by_method() -> None:
    assert max_call_duration(D("1.3"), SPAIN) == 120
    assert max_call_duration(D("1.3"), SPAIN, BillingMethod.PSEUDOPREPAID) == 120
    assert max_call_duration(D("0"), SPAIN, BillingMethod.POSTPAID) is None
    assert max_call_duration(D("0"), SPAIN, BillingMethod.NONE, cap=60) == 60


@given(
    balance_units=st.integers(0, 500_000),
    per_minute=st.integers(0, 20_000),
    fee=st.integers(0, 2_000),
    increment=st.integers(1, 90),
    start=st.integers(0, 30),
)
def test_9_4_1_max_call_duration_is_largest_affordable(
    balance_units: int, per_minute: int, fee: int, increment: int, start: int
) -> None:
    r = Rate("+1", "X", money_from_units(per_minute), money_from_units(fee), increment, start)
    balance = money_from_units(balance_units)
    limit = max_call_duration(balance, r, BillingMethod.PREPAID, cap=10**7)
    assert limit is not None
    if limit < 10**7:
        assert call_cost(r, limit + 1).total > balance
    if limit > 0:
        assert call_cost(r, limit).total <= balance


# ------------------------------------------------------------------ §7.5 No rating plan, no call


def test_7_5_no_rating_plan_no_call() -> None:
    no_plans = RatingAccount("Acme", "EUR", ())
    decision = may_start_call(account(rating=no_plans), "+34911", NOW)
    assert not decision.allowed and decision.reason is DecisionReason.CANNOT_RATE
    assert decision.cannot_rate is not None
    assert decision.cannot_rate.reason is CannotRateReason.NO_ACTIVE_PROFILE


def test_7_5_destination_not_in_rating_plan_no_call() -> None:
    decision = may_start_call(account(BillingMethod.PREPAID, balance="10"), "+44207", NOW)
    assert not decision.allowed and decision.reason is DecisionReason.CANNOT_RATE
    assert decision.cannot_rate is not None and decision.cannot_rate.reason is CannotRateReason.NO_DESTINATION


def test_7_5_rating_plan_in_other_currency_no_call() -> None:
    usd_client = RatingAccount("Acme", "USD", RATING.profiles)
    decision = may_start_call(account(rating=usd_client), "+34911", NOW)
    assert decision.cannot_rate is not None
    assert decision.cannot_rate.reason is CannotRateReason.CURRENCY_MISMATCH


def test_9_4_3_routing_tag_rating_profile_used_for_tagged_calls() -> None:
    cheap = RatingPlanGroup(
        "Tagged", "EUR", (RatingPlan(DestinationRateGroup("t", "EUR", (Rate("+34", "S", D("0"), D("0")),))),)
    )
    tagged = RatingAccount(
        "Acme", "EUR", (*RATING.profiles, RatingProfile(NOW - timedelta(hours=1), cheap, "7#"))
    )
    decision = may_start_call(
        account(BillingMethod.PREPAID, "1", rating=tagged), "+34911", NOW, routing_tag="7#"
    )
    assert decision.allowed and decision.max_duration is None  # free rate, no cap
    assert decision.match is not None and decision.match.plan_group.name == "Tagged"


# ------------------------------------------------------------------ §8.9.1 Disable CDR


def test_8_9_1_disable_cdr_number_allowed_without_rating() -> None:
    no_plans = RatingAccount("Acme", "EUR", ())
    broke = account(BillingMethod.PREPAID, balance="-5", usage="9", max_usage="1", rating=no_plans)
    decision = may_start_call(broke, "+34112", NOW, special_numbers=frozenset({"+34112"}))
    assert decision.allowed and decision.reason is DecisionReason.DISABLE_CDR
    assert decision.disable_cdr and not decision.rated
    other = may_start_call(broke, "+34911", NOW, special_numbers=frozenset({"+34112"}))
    assert not other.allowed


# ------------------------------------------------------------------ §12.6 / §9.4.3 current day usage


def test_12_6_current_day_max_usage_reached_refuses() -> None:
    decision = may_start_call(account(usage="100", max_usage="100"), "+34911", NOW)
    assert not decision.allowed and decision.reason is DecisionReason.MAX_DAILY_USAGE
    below = may_start_call(account(usage="99.9999", max_usage="100"), "+34911", NOW)
    assert below.allowed


def test_9_4_3_current_day_usage_raising_max_reenables() -> None:
    assert daily_limit_reached(D("100"), D("100"))
    assert not daily_limit_reached(D("100"), D("100.0001"))
    assert not daily_limit_reached(D("1e9"), None)


# ------------------------------------------------------------------ prepaid interim debits


def test_9_4_1_prepaid_debits_during_call() -> None:
    first = prepaid_debit(SPAIN, 0, D("0"), D("2"))
    assert first.amount == D("0.1000")  # connection fee on establishment
    assert first.paid_until == 0 and not first.hangup
    second = prepaid_debit(SPAIN, 1, first.amount, first.balance_after)
    assert second.amount == D("0.6000") and second.paid_until == 60
    again = prepaid_debit(SPAIN, 59, D("0.7000"), second.balance_after)
    assert again.amount == D("0") and again.balance_after == second.balance_after


def test_9_4_1_prepaid_balance_reaching_zero_hangs_up() -> None:
    debit = prepaid_debit(SPAIN, 61, D("0.7000"), D("0.6000"))
    assert debit.amount == D("0.6000") and debit.balance_after == D("0")
    assert debit.hangup and debit.reason is HangupReason.BALANCE_EXHAUSTED
    assert debit.paid_until == 120


def test_12_6_prepaid_max_daily_usage_reached_during_call_hangs_up() -> None:
    debit = prepaid_debit(
        SPAIN, 61, D("0.7000"), D("50"), current_day_usage=D("9.5"), max_daily_usage=D("10")
    )
    assert debit.current_day_usage_after == D("10.1")
    assert debit.hangup and debit.reason is HangupReason.MAX_DAILY_USAGE


def test_prepaid_debit_never_negative() -> None:
    debit = prepaid_debit(SPAIN, 10, D("5"), D("1"))
    assert debit.amount == D("0") and debit.balance_after == D("1")


@given(
    steps=st.lists(st.integers(0, 400), min_size=1, max_size=20),
    per_minute=st.integers(0, 20_000),
    increment=st.integers(1, 60),
)
def test_9_4_1_interim_debits_sum_to_call_cost(steps: list[int], per_minute: int, increment: int) -> None:
    r = Rate("+1", "X", money_from_units(per_minute), D("0.0100"), increment, 5)
    debited = D("0")
    balance = D("1000")
    for elapsed in sorted(steps):
        debit = prepaid_debit(r, elapsed, debited, balance)
        assert debit.amount >= 0
        debited += debit.amount
        balance = debit.balance_after
    assert debited == call_cost(r, max(steps)).total
    assert balance == D("1000") - debited


# ------------------------------------------------------------------ after the call


def test_9_4_1_postpaid_settlement_counts_usage_only() -> None:
    cost = call_cost(SPAIN, 90)
    result = settle_call(account(balance="3"), cost)
    assert result.balance == D("3") and result.movement == D("0")
    assert result.current_day_usage == D("1.3") and not result.hangup_all_calls


def test_12_6_postpaid_threshold_exceeded_on_hangup_hangs_up_all_calls() -> None:
    result = settle_call(account(usage="9", max_usage="10"), call_cost(SPAIN, 90))
    assert result.hangup_all_calls and result.reason is HangupReason.MAX_DAILY_USAGE


def test_12_6_pseudoprepaid_balance_decreased_after_call() -> None:
    result = settle_call(account(BillingMethod.PSEUDOPREPAID, balance="1"), call_cost(SPAIN, 90))
    assert result.balance == D("-0.3") and result.movement == D("-1.3")
    assert not result.hangup_all_calls  # pseudo-prepaid only blocks new calls


def test_9_4_3_prepaid_settlement_refunds_deductible_fee() -> None:
    r = Rate("+1", "X", D("0.2000"), D("0.0100"), 60)
    cost = call_cost(r, 60, deductible_connection_fee=True)
    result = settle_call(
        account(BillingMethod.PREPAID, balance="0.79", usage="0.21"), cost, debited_during_call=cost.total
    )
    assert result.movement == D("0.01")
    assert result.balance == D("0.80") and result.current_day_usage == D("0.20")
    assert not result.hangup_all_calls


def test_9_4_1_prepaid_settlement_at_zero_hangs_up_all() -> None:
    cost = call_cost(SPAIN, 60)
    result = settle_call(account(BillingMethod.PREPAID, balance="0"), cost, debited_during_call=cost.total)
    assert result.hangup_all_calls and result.reason is HangupReason.BALANCE_EXHAUSTED


def test_9_4_1_none_settlement_changes_nothing() -> None:
    result = settle_call(account(BillingMethod.NONE, balance="1", usage="2"), call_cost(SPAIN, 90))
    assert (result.balance, result.current_day_usage, result.movement) == (D("1"), D("2"), D("0"))


# ------------------------------------------------------------------ §12.5 concurrent call limit


def limits(
    direction: Direction = Direction.OUTBOUND,
    client_type: ClientType = ClientType.VPBX,
    brand: tuple[int, int] = (0, 0),
    client: tuple[int, int] = (0, 0),
    external: bool = True,
) -> tuple[bool, LimitReason, bool, int | None]:
    d = check_concurrent_calls(
        direction=direction,
        client_type=client_type,
        brand_max_calls=brand[0],
        brand_active_calls=brand[1],
        client_max_calls=client[0],
        client_active_calls=client[1],
        external=external,
    )
    return d.allowed, d.reason, d.counted, d.sip_status


def test_12_5_zero_disables_the_mechanism() -> None:
    assert limits(brand=(0, 10_000), client=(0, 10_000)) == (True, LimitReason.WITHIN_LIMITS, True, None)


def test_12_5_client_limit() -> None:
    assert limits(client=(2, 1)) == (True, LimitReason.WITHIN_LIMITS, True, None)
    assert limits(client=(2, 2)) == (False, LimitReason.CLIENT_LIMIT, False, 403)
    assert limits(Direction.INBOUND, client=(2, 2)) == (False, LimitReason.CLIENT_LIMIT, False, 486)


def test_12_5_counters_are_independent_brand_limit_denies() -> None:
    assert limits(brand=(10, 10), client=(5, 0)) == (False, LimitReason.BRAND_LIMIT, False, 403)
    assert limits(Direction.INBOUND, brand=(10, 10)) == (False, LimitReason.BRAND_LIMIT, False, 486)


def test_12_5_internal_calls_not_limited() -> None:
    assert limits(brand=(1, 1), client=(1, 1), external=False) == (True, LimitReason.NOT_COUNTED, False, None)


def test_9_1_4_wholesale_max_calls_limits_outgoing_only() -> None:
    inbound = limits(Direction.INBOUND, ClientType.WHOLESALE, client=(1, 1))
    assert inbound == (True, LimitReason.NOT_COUNTED, False, None)
    outbound = limits(Direction.OUTBOUND, ClientType.WHOLESALE, client=(1, 1))
    assert outbound == (False, LimitReason.CLIENT_LIMIT, False, 403)


def test_12_5_negative_values_rejected() -> None:
    with pytest.raises(ValueError):
        limits(client=(-1, 0))


# ------------------------------------------------------------------ §12.3 / §12.4 IP filter


def test_12_4_disabled_filter_allows_everything() -> None:
    assert ip_filter_allows(IpFilter(False), "203.0.113.9")
    assert ip_filter_allows(IpFilter(False), "garbage")


def test_12_4_enabled_filter_with_empty_lists_prevents_all_calls() -> None:
    assert not ip_filter_allows(IpFilter(True), "203.0.113.9", "ES")


def test_12_4_authorized_ranges_cidr() -> None:
    f = IpFilter.build(True, ["192.0.2.0/24", " 198.51.100.7 ", "2001:db8::/32", "10.1.2.3/8"])
    assert ip_filter_allows(f, "192.0.2.200")
    assert ip_filter_allows(f, "198.51.100.7")
    assert not ip_filter_allows(f, "198.51.100.8")
    assert ip_filter_allows(f, "2001:db8::1")
    assert ip_filter_allows(f, "10.200.0.1")  # host bits ignored: 10.0.0.0/8
    assert ip_filter_allows(f, "::ffff:192.0.2.1")  # IPv4-mapped IPv6
    assert not ip_filter_allows(f, "not-an-ip")
    with pytest.raises(ValueError):
        IpFilter.build(True, ["999.1.1.1/24"])


@pytest.mark.parametrize(
    "source", ["192.0.2.256", "192.000.2.1", "192.0.2", "192.0.2.1.5", "192.0.2.x", "", "192.0.2.1234"]
)
def test_12_4_malformed_ipv4_sources_are_refused(source: str) -> None:
    assert not ip_filter_allows(IpFilter.build(True, ["0.0.0.0/0", "::/0"]), source)


@given(
    address=st.integers(0, 2**32 - 1),
    network=st.integers(0, 2**32 - 1),
    prefix_len=st.integers(0, 32),
)
def test_12_4_ipv4_fast_path_agrees_with_ipaddress(address: int, network: int, prefix_len: int) -> None:
    net = ipaddress.ip_network((network, prefix_len), strict=False)
    f = IpFilter(True, (net, ipaddress.ip_network("2001:db8::/32")))
    text = str(ipaddress.IPv4Address(address))
    assert ip_filter_allows(f, text) == (ipaddress.IPv4Address(address) in net)
    assert ip_filter_allows(f, "::ffff:" + text) == (ipaddress.IPv4Address(address) in net)


def test_12_3_geoip_countries() -> None:
    f = IpFilter.build(True, countries=["es", "PT "])
    assert ip_filter_allows(f, "203.0.113.9", "ES")
    assert ip_filter_allows(f, "203.0.113.9", "pt")
    assert not ip_filter_allows(f, "203.0.113.9", "FR")
    assert not ip_filter_allows(f, "203.0.113.9", None)


# ------------------------------------------------------------------ §12.4.1 roadwarrior users

FILTER = IpFilter.build(True, ["192.0.2.0/24"])


def test_12_4_1_example_1_client_without_ip_check() -> None:
    d = check_source(IpFilter(False), "203.0.113.9", external_ip_calls=0, active_non_granted_calls=50)
    assert d.allowed and d.reason is SourceReason.FILTER_DISABLED and not d.counted


def test_12_4_1_example_2_granted_ip_not_counted_nor_limited() -> None:
    d = check_source(FILTER, "192.0.2.10", external_ip_calls=1, active_non_granted_calls=1)
    assert d.allowed and d.reason is SourceReason.GRANTED and not d.counted


def test_12_4_1_example_2_non_granted_ip_none_must_fulfil_ip_policy() -> None:
    d = check_source(FILTER, "203.0.113.9", external_ip_calls=0)
    assert not d.allowed and d.reason is SourceReason.NOT_GRANTED
    assert not check_source(FILTER, "203.0.113.9", is_call=False).allowed


@pytest.mark.parametrize("n", [1, 2, 3])
def test_12_4_1_example_2_non_granted_calls_counted_and_limited(n: int) -> None:
    for active in range(n):
        d = check_source(FILTER, "203.0.113.9", "FR", external_ip_calls=n, active_non_granted_calls=active)
        assert d.allowed and d.counted and d.reason is SourceReason.ROADWARRIOR
    refused = check_source(FILTER, "203.0.113.9", external_ip_calls=n, active_non_granted_calls=n)
    assert not refused.allowed and refused.reason is SourceReason.ROADWARRIOR_LIMIT


def test_12_4_1_only_generated_calls_are_limited() -> None:
    d = check_source(FILTER, "203.0.113.9", external_ip_calls=1, active_non_granted_calls=1, is_call=False)
    assert d.allowed and not d.counted and d.reason is SourceReason.ROADWARRIOR_NOT_A_CALL


def test_10_1_1_external_ip_calls_values() -> None:
    with pytest.raises(ValueError, match="0, 1, 2 or 3"):
        check_source(FILTER, "203.0.113.9", external_ip_calls=4)
    with pytest.raises(ValueError):
        check_source(FILTER, "203.0.113.9", external_ip_calls=1, active_non_granted_calls=-1)
