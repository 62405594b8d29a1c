"""Conditional routes — spec 10.1.5 "Evaluating conditional routes", "Calendar criteria"."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyvox.domain.callflow import (
    Calendar,
    CalendarPeriod,
    ConditionalRoute,
    ConditionalRouteCondition,
    HolidayDate,
    MatchList,
    MatchListPattern,
    Route,
    Schedule,
    evaluate_conditional_route,
)

TZ = "Europe/Madrid"
MADRID = ZoneInfo(TZ)
MONDAY = date(2024, 7, 15)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")


def at(hh: int, mm: int = 0, day: date = MONDAY) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=MADRID)


JAPAN = MatchList("japan", (MatchListPattern.regexp(r"^\+81"),))
GERMANY = MatchList("germany", (MatchListPattern.regexp(r"^\+49"),))
MORNING = Schedule.on("morning", time(8), time(14), *WEEKDAYS)
AFTERNOON = Schedule.on("afternoon", time(14), time(20), *WEEKDAYS)
SUMMER = Calendar("summer", (HolidayDate("summer day", MONDAY),))

USER_A = Route("user", 1)
USER_B = Route("user", 2)
SUMMER_IVR = Route("ivr", 7)
DEFAULT = Route("ivr", 1, locution_id=4)

# Spec example: Japan+Germany mornings → user A, afternoons → user B,
# override the reception IVR for summer days.
EXAMPLE = ConditionalRoute(
    "reception",
    DEFAULT,
    (
        ConditionalRouteCondition(3, SUMMER_IVR, calendars=(SUMMER,)),
        ConditionalRouteCondition(1, USER_A, match_lists=(JAPAN, GERMANY), schedules=(MORNING,)),
        ConditionalRouteCondition(2, USER_B, match_lists=(JAPAN, GERMANY), schedules=(AFTERNOON,)),
    ),
)


@pytest.mark.parametrize(
    ("caller", "moment", "route"),
    [
        ("+81312345678", at(9, day=date(2024, 7, 16)), USER_A),
        ("+4930123456", at(9, day=date(2024, 7, 16)), USER_A),
        ("+4930123456", at(15, day=date(2024, 7, 16)), USER_B),
        ("+34944000000", at(9, day=date(2024, 7, 16)), DEFAULT),
        ("+34944000000", at(9), SUMMER_IVR),
        ("+4930123456", at(21, day=date(2024, 7, 16)), DEFAULT),
    ],
)
def test_10_1_5_conditional_route_example_rules(caller: str, moment: datetime, route: Route) -> None:
    assert evaluate_conditional_route(EXAMPLE, caller, moment, TZ, {}).route == route


def test_10_1_5_rules_evaluated_by_metric() -> None:
    # On a summer day a German caller in the morning matches metric 1 before metric 3.
    decision = evaluate_conditional_route(EXAMPLE, "+4930123456", at(9), TZ, {})
    assert decision.route == USER_A
    assert decision.condition is not None and decision.condition.priority == 1
    assert not decision.is_default


def test_10_1_5_no_match_default_route() -> None:
    decision = evaluate_conditional_route(EXAMPLE, "+34944000000", at(22, day=date(2024, 7, 16)), TZ, {})
    assert decision.route == DEFAULT
    assert decision.is_default
    assert decision.condition is None


def test_10_1_5_equal_metrics_keep_input_order() -> None:
    route = ConditionalRoute(
        "r", DEFAULT, (ConditionalRouteCondition(1, USER_A), ConditionalRouteCondition(1, USER_B))
    )
    assert evaluate_conditional_route(route, "+1", at(9), TZ, {}).route == USER_A


def test_10_1_5_criteria_are_anded() -> None:
    cond = ConditionalRouteCondition(
        1, USER_A, match_lists=(JAPAN,), schedules=(MORNING,), calendars=(SUMMER,), route_lock_ids=(5,)
    )
    route = ConditionalRoute("r", DEFAULT, (cond,))
    jp = "+81312345678"
    assert evaluate_conditional_route(route, jp, at(9), TZ, {5: True}).route == USER_A
    # each criterion failing alone breaks the match
    assert evaluate_conditional_route(route, "+4930123456", at(9), TZ, {5: True}).is_default
    assert evaluate_conditional_route(route, jp, at(15), TZ, {5: True}).is_default
    assert evaluate_conditional_route(route, jp, at(9, day=date(2024, 7, 16)), TZ, {5: True}).is_default
    assert evaluate_conditional_route(route, jp, at(9), TZ, {5: False}).is_default


def test_10_1_5_matchlist_criteria_or_within() -> None:
    cond = ConditionalRouteCondition(1, USER_A, match_lists=(JAPAN, GERMANY))
    assert cond.matches_origin("+81312345678")
    assert cond.matches_origin("+4930123456")
    assert not cond.matches_origin("+34944000000")


def test_10_1_5_schedule_criteria_or_within() -> None:
    cond = ConditionalRouteCondition(1, USER_A, schedules=(MORNING, AFTERNOON))
    assert cond.matches_schedule(at(9))
    assert cond.matches_schedule(at(15))
    assert not cond.matches_schedule(at(21))


def test_10_1_5_calendar_criteria_whole_day_and_non_whole_day() -> None:
    partial = Calendar("p", (HolidayDate("p", MONDAY, whole_day=False, time_in=time(8), time_out=time(15)),))
    cond = ConditionalRouteCondition(1, USER_A, calendars=(Calendar("empty"), partial))
    assert cond.matches_calendar(at(10))
    assert not cond.matches_calendar(at(16))
    whole = ConditionalRouteCondition(1, USER_A, calendars=(SUMMER,))
    assert whole.matches_calendar(at(0))
    assert whole.matches_calendar(at(23, 59))


def test_10_1_5_calendar_periods_not_taken_into_account() -> None:
    period_cal = Calendar(
        "periods", periods=(CalendarPeriod(MONDAY, MONDAY, (Schedule.on("p", time(0), time(1), "monday"),)),)
    )
    cond = ConditionalRouteCondition(1, USER_A, calendars=(period_cal,))
    route = ConditionalRoute("r", DEFAULT, (cond,))
    # a period covering today does not make the calendar criterion true, whatever the time
    for hour in (0, 10, 23):
        assert evaluate_conditional_route(route, "+1", at(hour), TZ, {}).is_default


def test_10_1_5_lock_criteria_any_open() -> None:
    cond = ConditionalRouteCondition(1, USER_A, route_lock_ids=(1, 2))
    assert cond.matches_route_lock({1: False, 2: True})
    assert not cond.matches_route_lock({1: False, 2: False})
    assert not cond.matches_route_lock({})  # unknown locks count as closed


def test_10_1_5_condition_evaluated_in_client_timezone() -> None:
    route = ConditionalRoute("r", DEFAULT, (ConditionalRouteCondition(1, USER_A, schedules=(MORNING,)),))
    utc_0630 = datetime(2024, 7, 15, 6, 30, tzinfo=ZoneInfo("UTC"))
    assert evaluate_conditional_route(route, "+1", utc_0630, TZ, {}).route == USER_A
    assert evaluate_conditional_route(route, "+1", utc_0630, "UTC", {}).is_default


def test_10_1_5_condition_without_criteria_always_matches() -> None:
    route = ConditionalRoute("r", DEFAULT, (ConditionalRouteCondition(1, USER_B),))
    assert evaluate_conditional_route(route, "+1", at(3), TZ, {}).route == USER_B


@given(
    st.lists(st.booleans(), min_size=1, max_size=5),
    st.dictionaries(st.integers(0, 5), st.booleans()),
)
def test_property_lock_criterion_is_or_of_open_locks(ids: list[bool], states: dict[int, bool]) -> None:
    lock_ids = tuple(i for i, used in enumerate(ids) if used)
    cond = ConditionalRouteCondition(1, USER_A, route_lock_ids=lock_ids)
    expected = not lock_ids or any(states.get(i, False) for i in lock_ids)
    assert cond.matches_route_lock(states) == expected


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)))
def test_property_no_conditions_default_route(moment: datetime) -> None:
    route = ConditionalRoute("r", DEFAULT)
    assert evaluate_conditional_route(route, "+1", moment.replace(tzinfo=MADRID), TZ, {}).route == DEFAULT
