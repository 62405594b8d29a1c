"""Rating engine tests, named after the IvozProvider 3.4 documentation sections."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyvox.domain.rating import (
    CallCost,
    CannotRate,
    CannotRateReason,
    CurrencyMismatchError,
    DestinationRateGroup,
    PrefixIndex,
    Rate,
    RatedCall,
    RatesCsvError,
    RatingAccount,
    RatingPlan,
    RatingPlanGroup,
    RatingProfile,
    ResellerSplit,
    Timing,
    UncoveredInterval,
    Weekday,
    _round_half_up,
    active_profile,
    call_cost,
    find_rate,
    format_seconds,
    max_affordable_duration,
    merge_rates,
    money_from_units,
    money_to_units,
    parse_rates_csv,
    parse_seconds,
    rate_call,
    reseller_split,
    round_money,
    simulate_call,
    uncovered_intervals,
    validate_currencies,
)

D = Decimal
MONDAY_NOON = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)  # a Monday
SATURDAY_NOON = datetime(2024, 5, 11, 12, 0, tzinfo=UTC)


def rate(
    prefix: str = "+34",
    per_minute: str = "0.0600",
    fee: str = "0",
    increment: int = 1,
    start: int = 0,
    name: str = "Spain",
) -> Rate:
    return Rate(prefix, name, D(per_minute), D(fee), increment, start)


def drg(
    *rates: Rate, name: str = "base", currency: str = "EUR", deductible: bool = False
) -> DestinationRateGroup:
    return DestinationRateGroup(name, currency, tuple(rates), deductible)


def group(*plans: RatingPlan, name: str = "Retail", currency: str = "EUR") -> RatingPlanGroup:
    return RatingPlanGroup(name, currency, tuple(plans))


# ------------------------------------------------------------------ money / rounding


def test_money_rounding_is_half_up_at_4_decimals() -> None:
    assert round_money(D("0.00005")) == D("0.0001")
    assert round_money(D("0.000049999")) == D("0.0000")
    assert round_money(D("0.00015")) == D("0.0002")  # banker's would give 0.0002 too
    assert round_money(D("0.00025")) == D("0.0003")  # banker's would give 0.0002
    assert round_money(D("-0.00005")) == D("-0.0001")
    assert str(round_money(D("1"))) == "1.0000"


def test_money_units_roundtrip_and_errors() -> None:
    assert money_to_units(D("0.2100")) == 2100
    assert money_to_units(D("0.21000000")) == 2100
    assert money_from_units(2100) == D("0.2100")
    with pytest.raises(ValueError, match="more than 4 decimals"):
        money_to_units(D("0.00001"))
    with pytest.raises(ValueError, match="finite"):
        money_to_units(D("NaN"))
    with pytest.raises(ValueError, match="finite"):
        round_money(D("Infinity"))
    with pytest.raises(ValueError):
        _round_half_up(1, 0)


# ------------------------------------------------------------------ durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("60s", 60), ("0s", 0), ("1s", 1), ("1m", 60), ("1h30m", 5400), ("1m30s", 90), ("90", 90), (" 5s ", 5)],
)
def test_rate_increment_strings_are_parsed(text: str, seconds: int) -> None:
    assert parse_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "1.5s", "60ms", "abc", "-1s", "s"])
def test_rate_increment_invalid_strings_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_seconds(text)


def test_format_seconds() -> None:
    assert format_seconds(60) == "60s"
    assert parse_seconds(format_seconds(7)) == 7
    with pytest.raises(ValueError):
        format_seconds(-1)


@pytest.mark.parametrize("number", ["34911222333", "+", "+34 911", "+1234567890123456", "+３４", "+0034911", "+3"])
def test_only_e164_numbers_are_rated(number: str) -> None:
    """A number is rated only when it is E.164 as numbering defines it (ITU-T: country code
    first digit 1-9, 2..15 digits), even if some rate's prefix starts it."""
    pg = group(RatingPlan(drg(rate("+0"), rate("+3"))))
    found = find_rate(pg, number, MONDAY_NOON)
    assert isinstance(found, CannotRate) and found.reason is CannotRateReason.INVALID_NUMBER
    assert not isinstance(find_rate(pg, "+34911222333", MONDAY_NOON), CannotRate)


# ------------------------------------------------------------------ rates


def test_9_4_3_rate_from_ivozprovider_columns() -> None:
    r = Rate.from_ivoz("+34", "Spain", D("0.06"), D("0.01"), "60s", "10s")
    assert (r.increment, r.interval_start, r.fee_units, r.rate_units) == (60, 10, 100, 600)
    assert Rate.from_ivoz("+34", "Spain", D("0.06"), D("0"), "1s").interval_start == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prefix": "34"}, "must be '\\+' followed by digits"),
        ({"prefix": "+3a"}, "must be '\\+' followed by digits"),
        ({"increment": 0}, "charge period"),
        ({"start": -1}, "interval start"),
        ({"fee": "-0.01"}, "negative"),
        ({"per_minute": "-1"}, "negative"),
        ({"per_minute": "0.00001"}, "4 decimals"),
    ],
)
def test_9_4_3_rate_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rate(**kwargs)  # type: ignore[arg-type]


def test_periods_rejects_negative_duration() -> None:
    with pytest.raises(ValueError):
        rate().periods(-1)


def test_prefix_index_longest_prefix_wins() -> None:
    index = PrefixIndex([rate("+34"), rate("+346", name="Spain mobile"), rate("+3491", name="Madrid")])
    assert len(index) == 3
    found = index.lookup("+34600111222")
    assert found is not None and found.destination == "Spain mobile"
    found = index.lookup("+34911222333")
    assert found is not None and found.destination == "Madrid"
    found = index.lookup("+34811222333")
    assert found is not None and found.prefix == "+34"
    assert index.lookup("+33123") is None
    assert index.lookup("+3") is None


def test_destination_rate_group_lookup() -> None:
    group_ = drg(rate("+34"), rate("+346", name="mobile"))
    found = group_.lookup("+34612")
    assert found is not None and found.destination == "mobile"


def test_9_4_3_duplicated_prefix_in_destination_rate_is_rejected() -> None:
    with pytest.raises(ValueError, match="duplicated prefix"):
        drg(rate("+34"), rate("+34"))


@given(
    prefixes=st.sets(st.text(alphabet="0123", min_size=1, max_size=5), min_size=1, max_size=30),
    number=st.text(alphabet="0123", min_size=1, max_size=8),
)
def test_prefix_index_matches_brute_force(prefixes: set[str], number: str) -> None:
    index = PrefixIndex([rate("+" + p, name=p) for p in prefixes])
    candidates = [p for p in prefixes if number.startswith(p)]
    found = index.lookup("+" + number)
    if not candidates:
        assert found is None
    else:
        assert found is not None and found.destination == max(candidates, key=len)


# ------------------------------------------------------------------ cost (§9.4.3 How it works)


def test_9_4_3_how_it_works_billing_period_1_bills_by_seconds() -> None:
    r = rate(per_minute="0.0600", increment=1)
    assert call_cost(r, 1).total == D("0.0010")
    assert call_cost(r, 61).total == D("0.0610")


def test_9_4_3_how_it_works_billing_period_60_bills_by_minutes() -> None:
    r = rate(per_minute="0.0600", increment=60)
    assert call_cost(r, 1).total == D("0.0600")
    assert call_cost(r, 60).total == D("0.0600")
    assert call_cost(r, 61).total == D("0.1200")


def test_9_4_3_charge_period_10_seconds() -> None:
    r = rate(per_minute="0.0600", increment=10)
    assert call_cost(r, 11).periods == 2
    assert call_cost(r, 11).total == D("0.0200")


def test_9_4_3_connection_charge_is_added_at_establishment() -> None:
    r = rate(per_minute="0.0600", fee="0.0150", increment=60)
    cost = call_cost(r, 90)
    assert cost.total == D("0.1350")
    assert cost.charged == cost.total
    assert cost.refund == D("0")
    assert cost.final_connection_fee == D("0.0150")


def test_9_4_3_interval_start_first_seconds_are_free() -> None:
    r = rate(per_minute="0.0600", fee="0.0100", increment=1, start=10)
    assert call_cost(r, 11).total == D("0.0110")
    assert call_cost(r, 11).periods == 1


def test_9_4_3_call_shorter_than_interval_start_costs_connection_fee() -> None:
    r = rate(per_minute="0.6000", fee="0.0100", increment=60, start=10)
    assert call_cost(r, 5).total == D("0.0100")
    assert call_cost(r, 10).total == D("0.0100")  # not longer than the interval start
    assert call_cost(r, 0).total == D("0.0100")
    assert call_cost(r, 11).total == D("0.6100")  # one started period after the start
    assert call_cost(r, 70).total == D("0.6100")
    assert call_cost(r, 71).total == D("1.2100")


def test_9_4_3_four_decimals_precision_rounding_applied_once() -> None:
    r = rate(per_minute="0.0100", increment=1)  # 0.000166.. per second
    assert call_cost(r, 1).total == D("0.0002")
    assert call_cost(r, 3).total == D("0.0005")  # 0.0005 exactly, not 3 x 0.0002
    assert call_cost(r, 60).total == D("0.0100")


# ------------------------------------------------------------------ §9.4.3 Deductible Connection Fee


def test_9_4_3_deductible_fee_total_021() -> None:
    """Connection fee 0.01 - Total cost 0.21: 0.20 charged, 0.01 refunded."""
    r = rate(per_minute="0.2000", fee="0.0100", increment=60)
    cost = call_cost(r, 60, deductible_connection_fee=True)
    assert cost.total == D("0.21")
    assert cost.cost_without_connection_fee == D("0.20")
    assert cost.charged == D("0.20")
    assert cost.refund == D("0.01")
    assert cost.final_connection_fee == D("0")


def test_9_4_3_deductible_fee_total_0013() -> None:
    """Connection fee 0.01 - Total cost 0.013: 0.01 charged, 0.003 refunded."""
    r = rate(per_minute="0.1800", fee="0.0100", increment=1)
    cost = call_cost(r, 1, deductible_connection_fee=True)
    assert cost.total == D("0.013")
    assert cost.cost_without_connection_fee == D("0.003")
    assert cost.charged == D("0.01")
    assert cost.refund == D("0.003")
    assert cost.final_connection_fee == D("0.007")


def test_9_4_3_deductible_fee_guarantees_minimal_cost() -> None:
    r = rate(per_minute="0.6000", fee="0.0100", increment=1)
    cost = call_cost(r, 1, deductible_connection_fee=True)  # without fee 0.01 == fee
    assert (cost.charged, cost.refund, cost.final_connection_fee) == (D("0.01"), D("0.01"), D("0"))
    assert call_cost(r, 0, deductible_connection_fee=True).charged == D("0.01")


def test_9_4_3_deductible_fee_used_when_destination_rate_says_so() -> None:
    r = rate(per_minute="0.2000", fee="0.0100", increment=60)
    pg = group(RatingPlan(drg(r, deductible=True)))
    rated = rate_call(pg, "+34911", MONDAY_NOON, 60)
    assert isinstance(rated, RatedCall)
    assert rated.price == D("0.20")
    assert rated.cost.refund == D("0.01")


# ------------------------------------------------------------------ cost properties

rates_st = st.builds(
    Rate,
    prefix=st.just("+1"),
    destination=st.just("X"),
    per_minute=st.integers(0, 100_000).map(money_from_units),
    connection_fee=st.integers(0, 1_000).map(money_from_units),
    increment=st.integers(1, 120),
    interval_start=st.integers(0, 120),
)


@given(r=rates_st, d1=st.integers(0, 10_000), d2=st.integers(0, 10_000), deductible=st.booleans())
def test_9_4_3_cost_is_monotonic_in_duration(r: Rate, d1: int, d2: int, deductible: bool) -> None:
    lo, hi = sorted((d1, d2))
    a = call_cost(r, lo, deductible_connection_fee=deductible)
    b = call_cost(r, hi, deductible_connection_fee=deductible)
    assert a.total <= b.total
    assert a.charged <= b.charged
    assert b.charged + b.refund == b.total
    assert b.charged >= (b.connection_fee if deductible else b.total)


@given(r=rates_st, balance_units=st.integers(-100, 200_000))
def test_9_4_1_max_duration_is_consistent_with_cost(r: Rate, balance_units: int) -> None:
    balance = money_from_units(balance_units)
    limit = max_affordable_duration(r, balance)
    if limit is None:
        assert r.rate_units == 0
        assert call_cost(r, 10**6).total <= balance
        return
    if limit > 0:
        assert call_cost(r, limit).total <= balance
        assert all(call_cost(r, d).total <= balance for d in (0, limit // 2, limit - 1))
    else:
        assert call_cost(r, max(r.interval_start, 1)).total > balance or call_cost(r, 0).total > balance
    assert call_cost(r, limit + 1).total > balance


def test_9_4_1_max_duration_examples() -> None:
    r = rate(per_minute="0.6000", fee="0.1000", increment=60)  # 0.10 + 0.60/min
    assert max_affordable_duration(r, D("1.3000")) == 120
    assert max_affordable_duration(r, D("1.2999")) == 60
    assert max_affordable_duration(r, D("0.6999")) == 0  # only the fee fits, first minute does not
    assert max_affordable_duration(r, D("0.0999")) == 0
    assert max_affordable_duration(r, D("100"), cap=3600) == 3600
    assert max_affordable_duration(rate(per_minute="0", fee="0.01"), D("1")) is None
    assert max_affordable_duration(rate(per_minute="0", fee="0.01"), D("1"), cap=60) == 60
    free_start = rate(per_minute="0.6000", fee="0", increment=60, start=30)
    assert max_affordable_duration(free_start, D("0.5")) == 30
    assert max_affordable_duration(rate(per_minute="0.0100", increment=1), D("0.0002")) == 1  # HALF_UP


# ------------------------------------------------------------------ CSV format


SAMPLE_CSV = """Destination,Prefix,Rate,Fee,Period
"Spain, mobile",+346,0.0500,0.0100,1
Spain,+34,0.02,0,60

"Argentina",+54,0.12345,0.00004,1
"""


def _rates(text: str, **kwargs: Any) -> tuple[Rate, ...]:
    return tuple(line.rate for line in parse_rates_csv(text, **kwargs)[0])


def test_9_4_3_csv_import_recommended_format() -> None:
    lines, total = parse_rates_csv(SAMPLE_CSV, skip_header=True)
    assert [line.number for line in lines] == [2, 3, 5] and total == 5  # physical lines, blank skipped
    rates = tuple(line.rate for line in lines)
    assert [r.prefix for r in rates] == ["+346", "+34", "+54"]
    assert rates[0].destination == "Spain, mobile"
    assert rates[1].increment == 60 and rates[1].interval_start == 0
    assert rates[2].per_minute == D("0.1235")  # 4 decimals precision, HALF_UP
    assert rates[2].connection_fee == D("0.0000")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("Spain, mobile,+346,0.05,0.01,1", "5 comma-separated columns"),
        ("Spain;+34;0.05;0.01;1", "5 comma-separated columns"),
        ("'Spain',+34,0.05,0.01,1", "single quotes"),
        ("Spain,'+34',0.05,0.01,1", "single quotes"),
        ("Spain,34,0.05,0.01,1", "must start with \\+"),
        ("Spain,+123456789012345678901234,0.05,0.01,1", "at most 23"),
        (",+34,0.05,0.01,1", "destination name is empty"),
        (f"{'x' * 101},+34,0.05,0.01,1", "longer than 100 characters"),
        ("Spain,+34,0.05,0.01,1\x00", "not a CSV text file"),
        ('Spain,+34,"0,05",0.01,1', "point as decimal separator"),
        ("Spain,+34,0.05,1e-2,1", "point as decimal separator"),
        ("Spain,+34,0.05,0.01,0", "integer >= 1"),
        ("Spain,+34,0.05,0.01,1.5", "integer >= 1"),
        ('"Spain"x,+34,0.05,0.01,1', "malformed CSV"),
    ],
)
def test_9_4_3_csv_format_errors(line: str, message: str) -> None:
    with pytest.raises(RatesCsvError, match=message) as err:
        parse_rates_csv(line + "\n")
    assert err.value.line == 1


def test_9_4_3_csv_same_prefix_twice_fails_import() -> None:
    with pytest.raises(RatesCsvError, match=r"line 2: prefix \+34 already used on line 1"):
        parse_rates_csv("A,+34,0.01,0,1\nB,+34,0.02,0,1\n")


@pytest.mark.parametrize("text", ["", "\n\n", "Destination,Prefix,Rate,Fee,Period\n"])
def test_9_4_3_csv_without_rates_is_refused(text: str) -> None:
    with pytest.raises(RatesCsvError, match="holds no rate"):
        parse_rates_csv(text, skip_header=text.startswith("D"))


def test_9_4_3_csv_column_layout_and_interval_start() -> None:
    text = 'x,+34,"Spain",0.02,0.01,60,30\n'
    columns = ("ignore", "prefix", "name", "cost", "connectFee", "rateIncrement", "groupIntervalStart")
    (line,), total = parse_rates_csv(text, columns=columns)
    assert (line.number, total) == (1, 1)
    assert line.rate == Rate("+34", "Spain", D("0.0200"), D("0.0100"), 60, 30)
    with pytest.raises(RatesCsvError, match="interval start"):
        parse_rates_csv(text.replace(",30", ",-1"), columns=columns)
    with pytest.raises(RatesCsvError, match="expected 7 comma-separated columns"):
        parse_rates_csv("Spain,+34,0.02,0.01,60\n", columns=columns)


def test_9_4_3_csv_progress_is_reported() -> None:
    text = "".join(f"D{i},+{100 + i},0.01,0,1\n" for i in range(10))
    seen: list[int] = []
    parse_rates_csv(text, progress=seen.append, progress_every=4)
    assert seen == [4, 8]


def test_9_4_3_csv_reimport_updates_keeps_and_adds() -> None:
    first = _rates("A,+34,0.01,0,1\nB,+33,0.02,0,1\n")
    second = _rates("A2,+34,0.05,0,1\nC,+54,0.03,0,1\n")
    merged = {r.prefix: r for r in merge_rates(first, second)}
    assert merged["+34"].per_minute == D("0.05")  # updated
    assert merged["+33"].per_minute == D("0.02")  # kept
    assert "+54" in merged  # added
    assert merge_rates(first, first) == first


# ------------------------------------------------------------------ plans, timings, weights


def test_9_4_3_weight_highest_wins_free_cell_phone_calls() -> None:
    general = drg(rate("+34", "0.0200"), rate("+346", "0.0800"), name="general")
    free_mobiles = drg(rate("+346", "0"), name="free mobiles")
    pg = group(RatingPlan(general, D("10")), RatingPlan(free_mobiles, D("20")))
    match = find_rate(pg, "+34600111222", MONDAY_NOON)
    assert not isinstance(match, CannotRate)
    assert match.plan.destination_rate_group.name == "free mobiles"
    landline = find_rate(pg, "+34911222333", MONDAY_NOON)
    assert not isinstance(landline, CannotRate)
    assert landline.rate.per_minute == D("0.02")


def test_9_4_3_weight_beats_longer_prefix_of_lower_weight_plan() -> None:
    general = drg(rate("+3461", "0.0800"), name="general")
    special = drg(rate("+34", "0.0100"), name="special")
    pg = group(RatingPlan(general, D("10")), RatingPlan(special, D("20")))
    match = find_rate(pg, "+34611", MONDAY_NOON)
    assert not isinstance(match, CannotRate) and match.rate.prefix == "+34"


def test_equal_weights_longer_prefix_then_first_listed() -> None:
    a = drg(rate("+34", "0.0100"), name="a")
    b = drg(rate("+346", "0.0200"), name="b")
    c = drg(rate("+346", "0.0300"), name="c")
    pg = group(RatingPlan(a), RatingPlan(b), RatingPlan(c))
    match = find_rate(pg, "+34611", MONDAY_NOON)
    assert not isinstance(match, CannotRate) and match.plan.destination_rate_group.name == "b"


def test_9_4_3_timing_custom_applies_from_time_in_on_weekdays() -> None:
    weekdays = Timing.custom(range(5), time(18, 0))
    assert weekdays.applies(datetime(2024, 5, 6, 18, 0, tzinfo=UTC))
    assert weekdays.applies(datetime(2024, 5, 6, 23, 59, 59, tzinfo=UTC))
    assert not weekdays.applies(datetime(2024, 5, 6, 17, 59, 59, tzinfo=UTC))
    assert not weekdays.applies(datetime(2024, 5, 11, 19, 0, tzinfo=UTC))
    assert Timing().applies(SATURDAY_NOON)
    assert weekdays.start_second == 18 * 3600
    with pytest.raises(ValueError):
        Timing.custom([7])
    with pytest.raises(ValueError, match="tzinfo"):
        Timing.custom([0], time(8, tzinfo=UTC))


def test_9_4_3_timing_selects_evening_rate() -> None:
    day = drg(rate("+34", "0.0500"), name="day")
    evening = drg(rate("+34", "0.0100"), name="evening")
    pg = group(RatingPlan(day, D("10")), RatingPlan(evening, D("20"), Timing.custom(range(5), time(18))))
    at_noon = find_rate(pg, "+3491", MONDAY_NOON)
    at_night = find_rate(pg, "+3491", MONDAY_NOON + timedelta(hours=7))
    at_weekend_night = find_rate(pg, "+3491", SATURDAY_NOON + timedelta(hours=7))
    assert not isinstance(at_noon, CannotRate) and at_noon.rate.per_minute == D("0.05")
    assert not isinstance(at_night, CannotRate) and at_night.rate.per_minute == D("0.01")
    assert not isinstance(at_weekend_night, CannotRate) and at_weekend_night.rate.per_minute == D("0.05")


def test_timings_are_evaluated_in_given_timezone() -> None:
    evening = drg(rate("+34", "0.0100"), name="evening")
    pg = group(RatingPlan(evening, timing=Timing.custom(range(7), time(18))))
    start = datetime(2024, 5, 6, 17, 0, tzinfo=UTC)  # 19:00 in Madrid (CEST)
    assert isinstance(find_rate(pg, "+34", start), CannotRate)
    assert not isinstance(find_rate(pg, "+34", start, tz=ZoneInfo("Europe/Madrid")), CannotRate)
    madrid = start.astimezone(ZoneInfo("Europe/Madrid"))
    assert not isinstance(find_rate(pg, "+34", madrid), CannotRate)


def test_7_5_cannot_rate_reasons() -> None:
    pg = group(RatingPlan(drg(rate("+34")), timing=Timing.custom([0])))
    no_time = find_rate(pg, "+3491", SATURDAY_NOON)
    assert isinstance(no_time, CannotRate) and no_time.reason is CannotRateReason.NO_PLAN_AT_TIME
    no_dest = find_rate(pg, "+3391", MONDAY_NOON)
    assert isinstance(no_dest, CannotRate) and no_dest.reason is CannotRateReason.NO_DESTINATION
    bad = find_rate(pg, "003491", MONDAY_NOON)
    assert isinstance(bad, CannotRate) and bad.reason is CannotRateReason.INVALID_NUMBER
    assert isinstance(rate_call(pg, "+3391", MONDAY_NOON, 60), CannotRate)
    with pytest.raises(ValueError, match="timezone-aware"):
        find_rate(pg, "+34", datetime(2024, 5, 6, 12))


def test_9_4_3_rating_plan_must_cover_24x7() -> None:
    always = group(RatingPlan(drg(rate())))
    assert uncovered_intervals(always) == ()
    weekdays_8 = group(RatingPlan(drg(rate()), timing=Timing.custom(range(5), time(8))))
    gaps = uncovered_intervals(weekdays_8)
    assert gaps[0] == UncoveredInterval(Weekday.MONDAY, 0, 8 * 3600)
    assert gaps[-1] == UncoveredInterval(Weekday.SUNDAY, 0, 86400)
    assert len(gaps) == 7
    assert str(gaps[0]) == "Monday 00:00:00-08:00:00"
    assert str(gaps[-1]) == "Sunday 00:00:00-24:00:00"
    covered = group(
        RatingPlan(drg(rate()), timing=Timing.custom(range(5), time(8))),
        RatingPlan(drg(rate()), timing=Timing.custom(range(7), time(0))),
    )
    assert uncovered_intervals(covered) == ()
    assert len(uncovered_intervals(group())) == 7


# ------------------------------------------------------------------ §8.6 currencies


def test_8_6_rating_plan_groups_destination_rates_of_its_currency() -> None:
    pg = group(RatingPlan(drg(rate(), name="usd rates", currency="USD")), name="Retail")
    with pytest.raises(CurrencyMismatchError, match="destination rate 'usd rates'") as err:
        validate_currencies(pg)
    assert (err.value.expected, err.value.found) == ("EUR", "USD")


def test_8_6_client_and_carrier_use_rating_plans_of_their_currency() -> None:
    pg = group(RatingPlan(drg(rate())))
    validate_currencies(pg, RatingAccount("Acme", "EUR"))
    with pytest.raises(CurrencyMismatchError, match="'Carrier X' using rating plan 'Retail'") as err:
        validate_currencies(pg, RatingAccount("Carrier X", "GBP"))
    assert err.value.item.startswith("'Carrier X'")


# ------------------------------------------------------------------ profiles


def profile(days_ago: int, pg: RatingPlanGroup, tag: str | None = None) -> RatingProfile:
    return RatingProfile(MONDAY_NOON - timedelta(days=days_ago), pg, tag)


def test_9_4_3_active_rating_plan_is_latest_activation_in_the_past() -> None:
    old, new, future = group(name="old"), group(name="new"), group(name="future")
    profiles = (profile(10, old), profile(1, new), profile(-1, future))
    chosen = active_profile(profiles, MONDAY_NOON)
    assert chosen is not None and chosen.plan_group.name == "new"
    reversed_order = active_profile(tuple(reversed(profiles)), MONDAY_NOON)
    assert reversed_order is not None and reversed_order.plan_group.name == "new"
    exact = active_profile((profile(0, new),), MONDAY_NOON)
    assert exact is not None  # activation time == call start counts
    assert active_profile((profile(-1, future),), MONDAY_NOON) is None
    assert active_profile((), MONDAY_NOON) is None


def test_equal_activation_times_later_listed_wins() -> None:
    a, b = group(name="a"), group(name="b")
    chosen = active_profile((profile(1, a), profile(1, b)), MONDAY_NOON)
    assert chosen is not None and chosen.plan_group.name == "b"


def test_routing_tag_profiles_and_fallback() -> None:
    plain, tagged, tagged_old = group(name="plain"), group(name="tagged"), group(name="tagged old")
    profiles = (
        profile(5, plain),
        profile(3, tagged_old, "1#"),
        profile(2, tagged, "1#"),
        profile(1, plain, "2#"),
    )
    untagged_call = active_profile(profiles, MONDAY_NOON)
    assert untagged_call is not None and untagged_call.routing_tag is None
    tagged_call = active_profile(profiles, MONDAY_NOON, "1#")
    assert tagged_call is not None and tagged_call.plan_group.name == "tagged"
    fallback = active_profile(profiles, MONDAY_NOON, "3#")
    assert fallback is not None and fallback.routing_tag is None
    future_tag = (profile(5, plain), profile(-1, tagged, "1#"))
    fallback2 = active_profile(future_tag, MONDAY_NOON, "1#")
    assert fallback2 is not None and fallback2.plan_group.name == "plain"


def test_profiles_require_aware_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        RatingProfile(datetime(2024, 1, 1), group())
    with pytest.raises(ValueError, match="timezone-aware"):
        active_profile((), datetime(2024, 1, 1))


# ------------------------------------------------------------------ simulate a call


def test_9_4_3_simulate_call_on_rating_plan() -> None:
    pg = group(RatingPlan(drg(rate("+34", "0.0600", "0.0100", 60))))
    result = simulate_call(pg, "+34911222333", MONDAY_NOON, 90)
    assert isinstance(result, RatedCall)
    assert (result.destination, result.prefix, result.plan_name) == ("Spain", "+34", "Retail")
    assert result.price == D("0.1300")
    assert result.currency == "EUR"
    assert isinstance(result.cost, CallCost)


def test_9_4_3_simulate_call_of_client_and_carrier() -> None:
    pg = group(RatingPlan(drg(rate("+34", "0.0600", increment=60))))
    client = RatingAccount("Acme", "EUR", (profile(1, pg),))
    result = simulate_call(client, "+34911", MONDAY_NOON, 60)
    assert isinstance(result, RatedCall) and result.price == D("0.06")
    carrier_no_plan = RatingAccount("Carrier", "EUR", ())
    none = simulate_call(carrier_no_plan, "+34911", MONDAY_NOON, 60)
    assert isinstance(none, CannotRate) and none.reason is CannotRateReason.NO_ACTIVE_PROFILE
    wrong = simulate_call(RatingAccount("Acme", "USD", (profile(1, pg),)), "+34911", MONDAY_NOON, 60)
    assert isinstance(wrong, CannotRate) and wrong.reason is CannotRateReason.CURRENCY_MISMATCH
    unknown = simulate_call(client, "+1555", MONDAY_NOON, 60)
    assert isinstance(unknown, CannotRate) and unknown.reason is CannotRateReason.NO_DESTINATION


# ------------------------------------------------------------------ Sipwise C5 resellers


def test_c5_resellers_cheap_call_argentina_5_minutes() -> None:
    wholesale = group(
        RatingPlan(drg(rate("+54", "0.0300", increment=60, name="Argentina"))), name="Wholesale"
    )
    retail = group(RatingPlan(drg(rate("+54", "0.0400", increment=60, name="Argentina"))), name="Cheap Call")
    brand = RatingAccount("Cheap Call", "EUR", (profile(30, wholesale),))
    client = RatingAccount("subscriber", "EUR", (profile(30, retail),))
    split = reseller_split(client, brand, "+541112345678", MONDAY_NOON, 300)
    assert isinstance(split, ResellerSplit)
    assert split.client_price == D("0.20")
    assert split.platform_revenue == D("0.15")
    assert split.reseller_margin == D("0.05")
    assert split.currency == "EUR"
    assert split.retail.plan_name == "Cheap Call" and split.wholesale.plan_name == "Wholesale"


def test_c5_resellers_cannot_rate_and_currency() -> None:
    wholesale = group(RatingPlan(drg(rate("+54", "0.0300"))), name="Wholesale")
    retail = group(RatingPlan(drg(rate("+54", "0.0400"), rate("+34", "0.01"))), name="Retail")
    brand = RatingAccount("Cheap Call", "EUR", (profile(30, wholesale),))
    client = RatingAccount("subscriber", "EUR", (profile(30, retail),))
    assert isinstance(reseller_split(client, brand, "+44", MONDAY_NOON, 60), CannotRate)
    no_wholesale = reseller_split(client, brand, "+34911", MONDAY_NOON, 60)
    assert isinstance(no_wholesale, CannotRate) and no_wholesale.reason is CannotRateReason.NO_DESTINATION
    usd_wholesale = group(RatingPlan(drg(rate("+54", "0.0300"), currency="USD")), currency="USD")
    usd_brand = RatingAccount("Cheap Call", "USD", (profile(30, usd_wholesale),))
    with pytest.raises(CurrencyMismatchError, match="brand 'Cheap Call'"):
        reseller_split(client, usd_brand, "+5411", MONDAY_NOON, 60)


def test_other_offsets_are_accepted() -> None:
    start = datetime(2024, 5, 6, 12, tzinfo=timezone(timedelta(hours=-3)))
    pg = group(RatingPlan(drg(rate("+54"))))
    assert isinstance(rate_call(pg, "+54", start, 1), RatedCall)
