"""Schedules, calendars, holidays, calendar periods — spec 10.1.6."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyvox.domain.callflow import (
    WEEKDAYS,
    Calendar,
    CalendarPeriod,
    HolidayDate,
    Schedule,
    any_on_schedule,
    find_calendar_period,
    find_holiday,
    is_holiday,
    to_local,
)

MADRID = ZoneInfo("Europe/Madrid")
MONDAY = date(2024, 7, 15)


def at(day: date, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=MADRID)


MORNING = Schedule.on("morning", time(8), time(14), "monday", "tuesday", "wednesday", "thursday")
AFTERNOON = Schedule.on("afternoon", time(16), time(19), "monday", "tuesday", "wednesday", "thursday")
FRIDAY = Schedule.on("friday", time(8), time(15), "friday")
OFFICE = (MORNING, AFTERNOON, FRIDAY)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (at(MONDAY, 7, 59, 59), False),
        (at(MONDAY, 8), True),  # time in included
        (at(MONDAY, 13, 59, 59), True),
        (at(MONDAY, 14), False),  # time out excluded
        (at(MONDAY, 15), False),  # gap between morning and afternoon
        (at(MONDAY, 17), True),
        (at(date(2024, 7, 19), 14, 30), True),  # friday gap
        (at(date(2024, 7, 19), 17), False),  # friday afternoon not scheduled
        (at(date(2024, 7, 20), 10), False),  # saturday
    ],
)
def test_10_1_6_schedules_combined_time_gaps(moment: datetime, expected: bool) -> None:
    assert any_on_schedule(OFFICE, moment) is expected


def test_10_1_6_schedule_weekday_names() -> None:
    assert MORNING.weekdays == frozenset({0, 1, 2, 3})
    assert WEEKDAYS["sunday"] == 6
    assert Schedule.on("x", time(1), time(2), "Sunday").weekdays == frozenset({6})


def test_10_1_6_schedule_rejects_bad_weekday() -> None:
    with pytest.raises(ValueError):
        Schedule("bad", time(8), time(9), frozenset({7}))


def test_10_1_6_no_schedules_is_never_on_schedule() -> None:
    assert not any_on_schedule((), at(MONDAY, 10))


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (at(MONDAY, 21, 59), False),
        (at(MONDAY, 22), True),
        (at(MONDAY, 23, 59), True),
        (at(date(2024, 7, 16), 5, 59), True),  # tuesday morning, started monday
        (at(date(2024, 7, 16), 6), False),
        (at(date(2024, 7, 16), 23), False),  # tuesday not enabled
        (at(date(2024, 7, 14), 3), False),  # sunday early: saturday not enabled
    ],
)
def test_schedule_crossing_midnight(moment: datetime, expected: bool) -> None:
    night = Schedule.on("night", time(22), time(6), "monday")
    assert night.is_on_schedule(moment) is expected


def test_schedule_equal_times_is_24h_from_time_in() -> None:
    allday = Schedule.on("all", time(0), time(0), "monday")
    assert allday.is_on_schedule(at(MONDAY, 0))
    assert allday.is_on_schedule(at(MONDAY, 23, 59, 59))
    assert not allday.is_on_schedule(at(date(2024, 7, 16), 0))


def test_to_local_converts_to_client_timezone() -> None:
    utc = datetime(2024, 7, 15, 6, 30, tzinfo=UTC)
    local = to_local(utc, "Europe/Madrid")
    assert (local.hour, local.minute) == (8, 30)
    assert MORNING.is_on_schedule(local)
    assert not MORNING.is_on_schedule(to_local(utc, "UTC"))


def test_to_local_rejects_naive() -> None:
    with pytest.raises(ValueError):
        to_local(datetime(2024, 7, 15, 8), "Europe/Madrid")


def test_to_local_day_change_by_timezone() -> None:
    utc = datetime(2024, 12, 31, 23, 30, tzinfo=UTC)
    assert to_local(utc, "Europe/Madrid").date() == date(2025, 1, 1)


# ---- holidays --------------------------------------------------------------

XMAS = HolidayDate("xmas", date(2024, 12, 25))
PARTIAL = HolidayDate("partial", MONDAY, whole_day=False, time_in=time(8), time_out=time(15))


@pytest.mark.parametrize(
    ("holiday", "moment", "expected"),
    [
        (XMAS, at(date(2024, 12, 25), 0), True),
        (XMAS, at(date(2024, 12, 25), 23, 59), True),
        (XMAS, at(date(2024, 12, 26), 0), False),
        (PARTIAL, at(MONDAY, 7, 59), False),
        (PARTIAL, at(MONDAY, 8), True),
        (PARTIAL, at(MONDAY, 15), True),  # both ends included
        (PARTIAL, at(MONDAY, 15, 0, 1), False),
        (PARTIAL, at(date(2024, 7, 16), 10), False),
    ],
)
def test_10_1_6_calendar_holidays(holiday: HolidayDate, moment: datetime, expected: bool) -> None:
    assert holiday.is_active(moment) is expected


def test_10_1_6_non_whole_day_event_needs_times() -> None:
    with pytest.raises(ValueError):
        HolidayDate("x", MONDAY, whole_day=False, time_in=time(8))
    with pytest.raises(ValueError):
        HolidayDate("x", MONDAY, whole_day=False, time_in=time(15), time_out=time(8))


def test_10_1_6_calendars_combined() -> None:
    cal_a = Calendar("a", (XMAS,))
    cal_b = Calendar("b", (PARTIAL,))
    assert find_holiday((cal_a, cal_b), at(MONDAY, 9)) is PARTIAL
    assert find_holiday((cal_a, cal_b), at(date(2024, 12, 25), 9)) is XMAS
    assert find_holiday((cal_a, cal_b), at(MONDAY, 16)) is None
    assert is_holiday((cal_a, cal_b), at(MONDAY, 9))
    assert not is_holiday((), at(MONDAY, 9))


def test_10_1_6_first_holiday_in_calendar_order_wins() -> None:
    other = HolidayDate("other", MONDAY)
    assert find_holiday((Calendar("b", (other, PARTIAL)),), at(MONDAY, 9)) is other


# ---- calendar periods ------------------------------------------------------

SUMMER = CalendarPeriod(
    date(2024, 7, 1),
    date(2024, 8, 31),
    schedules=(Schedule.on("summer", time(8), time(15), "monday", "friday"),),
)


def test_10_1_6_calendar_period_covers_both_ends() -> None:
    assert SUMMER.covers(date(2024, 7, 1))
    assert SUMMER.covers(date(2024, 8, 31))
    assert not SUMMER.covers(date(2024, 6, 30))
    assert not SUMMER.covers(date(2024, 9, 1))


def test_10_1_6_calendar_period_out_of_schedule() -> None:
    assert not SUMMER.is_out_of_schedule(at(MONDAY, 9))
    assert SUMMER.is_out_of_schedule(at(MONDAY, 16))
    assert SUMMER.is_out_of_schedule(at(date(2024, 7, 16), 9))  # tuesday


def test_10_1_6_calendar_period_without_schedules_is_always_out() -> None:
    empty = CalendarPeriod(MONDAY, MONDAY)
    assert empty.is_out_of_schedule(at(MONDAY, 10))


def test_10_1_6_calendar_period_end_before_start_rejected() -> None:
    with pytest.raises(ValueError):
        CalendarPeriod(date(2024, 8, 1), date(2024, 7, 1))


def test_10_1_6_find_calendar_period() -> None:
    cals = (Calendar("none"), Calendar("summer", periods=(SUMMER,)))
    assert find_calendar_period(cals, MONDAY) is SUMMER
    assert find_calendar_period(cals, date(2024, 10, 1)) is None


@given(
    st.lists(
        st.tuples(
            st.times(),
            st.times(),
            st.frozensets(st.integers(0, 6)),
        ),
        max_size=4,
    ),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)),
)
def test_property_schedule_set_is_union(
    specs: list[tuple[time, time, frozenset[int]]], moment: datetime
) -> None:
    schedules = tuple(Schedule(str(i), t_in, t_out, days) for i, (t_in, t_out, days) in enumerate(specs))
    local = moment.replace(tzinfo=MADRID)
    assert any_on_schedule(schedules, local) == any(s.is_on_schedule(local) for s in schedules)
    for schedule in schedules:
        if schedule.time_in < schedule.time_out and local.weekday() not in schedule.weekdays:
            assert not schedule.is_on_schedule(local)
