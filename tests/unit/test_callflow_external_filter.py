"""External call filters — spec 10.1.6 (vPBX) and 10.2.3 (residential)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyvox.domain.callflow import (
    DIVERSION_REASON_TIME_OF_DAY,
    DIVERSION_REASON_UNCONDITIONAL,
    Calendar,
    CalendarPeriod,
    Diversion,
    ExternalCallFilter,
    FilterAction,
    FilterDecision,
    FilterReason,
    ForwardKind,
    ForwardTarget,
    HolidayDate,
    MatchList,
    MatchListPattern,
    ResidentialCallFilter,
    Schedule,
    evaluate_external_call_filter,
    evaluate_residential_call_filter,
)

TZ = "Europe/Madrid"
MADRID = ZoneInfo(TZ)
MONDAY = date(2024, 7, 15)
DDI = "+34944000000"
CALLER = "+34600111222"
ALL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def at(hh: int, mm: int = 0, day: date = MONDAY) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=MADRID)


BLACK = MatchList("black", (MatchListPattern.regexp(r"^\+4"),))
WHITE = MatchList("white", (MatchListPattern.number("+34600999999"),))
OFFICE = Schedule.on("office", time(9), time(18), "monday", "tuesday", "wednesday", "thursday", "friday")
HOLIDAY_FWD = ForwardTarget.number("+34676676676")
OOS_FWD = ForwardTarget.voicemail(12)

BASE = ExternalCallFilter(
    name="main",
    welcome_locution_id=1,
    blacklist=(BLACK,),
    whitelist=(WHITE,),
    holiday_enabled=True,
    holiday_locution_id=2,
    holiday_target=HOLIDAY_FWD,
    out_of_schedule_enabled=True,
    out_of_schedule_locution_id=3,
    out_of_schedule_target=OOS_FWD,
    calendars=(Calendar("national", (HolidayDate("summer day", date(2024, 7, 16)),)),),
    schedules=(OFFICE,),
)


def evaluate(flt: ExternalCallFilter | None, moment: datetime, caller: str = CALLER) -> FilterDecision:
    return evaluate_external_call_filter(flt, caller, moment, TZ, called_ddi=DDI)


# ---- documented order: blacklist → whitelist → holiday → out of schedule → normal


def test_10_1_6_no_filter_continues() -> None:
    decision = evaluate(None, at(3))
    assert decision.action is FilterAction.CONTINUE
    assert decision.reason is FilterReason.NO_FILTER
    assert decision.locution_id is None


def test_10_1_6_blacklist_rejects_immediately() -> None:
    decision = evaluate(BASE, at(10), caller="+442071234567")
    assert decision.action is FilterAction.REJECT
    assert decision.reason is FilterReason.BLACKLIST


def test_10_1_6_blacklist_checked_before_whitelist() -> None:
    flt = ExternalCallFilter(blacklist=(WHITE,), whitelist=(WHITE,))
    assert evaluate(flt, at(10), caller="+34600999999").action is FilterAction.REJECT


@pytest.mark.parametrize("moment", [at(3), at(10, day=date(2024, 7, 16)), at(20)])
def test_10_1_6_whitelist_skips_holiday_and_schedule(moment: datetime) -> None:
    decision = evaluate(BASE, moment, caller="+34600999999")
    assert decision.action is FilterAction.CONTINUE
    assert decision.reason is FilterReason.WHITELIST
    assert decision.locution_id == 1  # normal routing: welcome locution


def test_10_1_6_holiday_forward_with_filter_locution() -> None:
    decision = evaluate(BASE, at(10, day=date(2024, 7, 16)))
    assert decision.action is FilterAction.FORWARD
    assert decision.reason is FilterReason.HOLIDAY
    assert decision.locution_id == 2
    assert decision.target == HOLIDAY_FWD
    assert decision.holiday is not None and decision.holiday.name == "summer day"
    assert decision.diversion == Diversion(DDI, DIVERSION_REASON_TIME_OF_DAY)
    assert decision.keep_caller_id


def test_10_1_6_holidays_processed_before_out_of_schedule() -> None:
    # 03:00 on a holiday is also out of schedule: holiday wins.
    decision = evaluate(BASE, at(3, day=date(2024, 7, 16)))
    assert decision.reason is FilterReason.HOLIDAY


def test_10_1_6_holiday_event_overrides_locution_and_routing() -> None:
    event = HolidayDate("special", MONDAY, locution_id=77, target=ForwardTarget.extension("200"), id=5)
    flt = ExternalCallFilter(
        holiday_enabled=True, holiday_locution_id=2, calendars=(Calendar("c", (event,)),)
    )
    decision = evaluate(flt, at(10))
    assert decision.locution_id == 77
    assert decision.target == ForwardTarget.extension("200")
    assert decision.target.kind is ForwardKind.EXTENSION


def test_10_1_6_holiday_without_forward_hangs_up() -> None:
    flt = ExternalCallFilter(
        holiday_enabled=True, holiday_locution_id=2, calendars=(Calendar("c", (HolidayDate("h", MONDAY),)),)
    )
    decision = evaluate(flt, at(10))
    assert decision.action is FilterAction.HANGUP
    assert decision.reason is FilterReason.HOLIDAY
    assert decision.locution_id == 2
    assert decision.target is None


def test_10_1_6_holiday_disabled_ignores_holidays() -> None:
    flt = ExternalCallFilter(
        welcome_locution_id=1,
        holiday_enabled=False,
        holiday_target=HOLIDAY_FWD,
        calendars=(Calendar("c", (HolidayDate("h", MONDAY),)),),
    )
    decision = evaluate(flt, at(10))
    assert decision.action is FilterAction.CONTINUE
    assert decision.reason is FilterReason.NORMAL
    assert decision.locution_id == 1


def test_10_1_6_out_of_schedule_forward() -> None:
    decision = evaluate(BASE, at(20))
    assert decision.action is FilterAction.FORWARD
    assert decision.reason is FilterReason.OUT_OF_SCHEDULE
    assert decision.locution_id == 3
    assert decision.target == OOS_FWD
    assert decision.calendar_period is None
    assert decision.diversion == Diversion(DDI, DIVERSION_REASON_TIME_OF_DAY)


def test_10_1_6_out_of_schedule_without_forward_hangs_up() -> None:
    flt = ExternalCallFilter(out_of_schedule_enabled=True, out_of_schedule_locution_id=3, schedules=(OFFICE,))
    decision = evaluate(flt, at(20))
    assert decision.action is FilterAction.HANGUP
    assert decision.locution_id == 3


def test_10_1_6_in_schedule_normal_route_with_welcome() -> None:
    decision = evaluate(BASE, at(10))
    assert decision.action is FilterAction.CONTINUE
    assert decision.reason is FilterReason.NORMAL
    assert decision.locution_id == 1
    assert decision.diversion is None


def test_10_1_6_out_of_schedule_disabled_ignores_schedules() -> None:
    flt = ExternalCallFilter(
        out_of_schedule_enabled=False, out_of_schedule_target=OOS_FWD, schedules=(OFFICE,)
    )
    assert evaluate(flt, at(20)).reason is FilterReason.NORMAL


def test_10_1_6_no_schedules_with_forward_is_always_out_of_schedule() -> None:
    flt = ExternalCallFilter(out_of_schedule_enabled=True, out_of_schedule_target=OOS_FWD)
    assert evaluate(flt, at(10)).reason is FilterReason.OUT_OF_SCHEDULE


def test_10_1_6_no_schedules_with_locution_only_is_out_of_schedule() -> None:
    flt = ExternalCallFilter(out_of_schedule_enabled=True, out_of_schedule_locution_id=3)
    decision = evaluate(flt, at(10))
    assert decision.action is FilterAction.HANGUP


def test_10_1_6_no_schedules_nothing_configured_is_ignored() -> None:
    flt = ExternalCallFilter(out_of_schedule_enabled=True)
    assert evaluate(flt, at(10)).reason is FilterReason.NORMAL


def test_10_1_6_schedule_evaluated_in_client_timezone() -> None:
    # 07:30 UTC is 09:30 in Madrid (summer): on schedule. In UTC it would be out.
    moment = datetime(2024, 7, 15, 7, 30, tzinfo=UTC)
    assert evaluate_external_call_filter(BASE, CALLER, moment, TZ).reason is FilterReason.NORMAL
    assert evaluate_external_call_filter(BASE, CALLER, moment, "UTC").reason is FilterReason.OUT_OF_SCHEDULE


def test_10_1_6_no_called_ddi_no_diversion() -> None:
    decision = evaluate_external_call_filter(BASE, CALLER, at(20), TZ)
    assert decision.diversion is None


# ---- calendar periods --------------------------------------------------------

PERIOD_SCHEDULE = Schedule.on("period", time(13), time(17), *ALL_DAYS)


def test_10_1_6_calendar_period_overrides_filter_schedules() -> None:
    period = CalendarPeriod(
        MONDAY, MONDAY, (PERIOD_SCHEDULE,), locution_id=9, target=ForwardTarget.number("+1")
    )
    flt = ExternalCallFilter(
        out_of_schedule_enabled=True,
        out_of_schedule_locution_id=3,
        out_of_schedule_target=OOS_FWD,
        calendars=(Calendar("c", periods=(period,)),),
        schedules=(OFFICE,),
    )
    # 10:00 is inside OFFICE but outside the period schedule.
    decision = evaluate(flt, at(10))
    assert decision.reason is FilterReason.OUT_OF_SCHEDULE
    assert decision.calendar_period is period
    assert decision.locution_id == 9
    assert decision.target == ForwardTarget.number("+1")
    # 16:30 is inside the period schedule: normal route
    assert evaluate(flt, at(16, 30)).reason is FilterReason.NORMAL
    # Next day the period no longer applies: filter schedules are back.
    assert evaluate(flt, at(10, day=date(2024, 7, 16))).reason is FilterReason.NORMAL


def test_10_1_6_calendar_period_falls_back_to_filter_locution_and_routing() -> None:
    period = CalendarPeriod(MONDAY, MONDAY, (PERIOD_SCHEDULE,))
    flt = ExternalCallFilter(
        out_of_schedule_enabled=True,
        out_of_schedule_locution_id=3,
        out_of_schedule_target=OOS_FWD,
        calendars=(Calendar("c", periods=(period,)),),
    )
    decision = evaluate(flt, at(10))
    assert decision.locution_id == 3
    assert decision.target == OOS_FWD
    assert decision.calendar_period is period


def test_10_1_6_calendar_period_ignored_when_out_of_schedule_disabled() -> None:
    period = CalendarPeriod(MONDAY, MONDAY, (PERIOD_SCHEDULE,))
    flt = ExternalCallFilter(out_of_schedule_enabled=False, calendars=(Calendar("c", periods=(period,)),))
    assert evaluate(flt, at(10)).reason is FilterReason.NORMAL


# ---- spec worked example: "Difference between non-whole day event and calendar period"

EXAMPLE_FILTER = ExternalCallFilter(
    name="example",
    welcome_locution_id=1,
    holiday_enabled=True,
    holiday_locution_id=2,
    holiday_target=HOLIDAY_FWD,
    out_of_schedule_enabled=True,
    out_of_schedule_locution_id=3,
    out_of_schedule_target=OOS_FWD,
    calendars=(
        Calendar(
            "example",
            holidays=(HolidayDate("event", MONDAY, whole_day=False, time_in=time(8), time_out=time(15)),),
            periods=(CalendarPeriod(MONDAY, MONDAY, (PERIOD_SCHEDULE,), name="period"),),
        ),
    ),
    schedules=(OFFICE,),
)


def _example(hour: int) -> tuple[FilterReason, bool]:
    decision = evaluate(EXAMPLE_FILTER, at(hour))
    return decision.reason, decision.calendar_period is not None


def test_10_1_6_calendar_period_example_7h() -> None:
    # "Call at 7:00: out of schedule due to calendar period."
    assert _example(7) == (FilterReason.OUT_OF_SCHEDULE, True)


def test_10_1_6_calendar_period_example_9h() -> None:
    # "Call at 9:00: holiday logic due to non-whole day event."
    assert _example(9) == (FilterReason.HOLIDAY, False)


def test_10_1_6_calendar_period_example_14h() -> None:
    # "Call at 14:00: holiday logic due to non-whole day event."
    assert _example(14) == (FilterReason.HOLIDAY, False)


def test_10_1_6_calendar_period_example_16h() -> None:
    # "Call at 16:00: normal logic."
    decision = evaluate(EXAMPLE_FILTER, at(16))
    assert decision.reason is FilterReason.NORMAL
    assert decision.action is FilterAction.CONTINUE
    assert decision.locution_id == 1


def test_10_1_6_calendar_period_example_18h() -> None:
    # "Call at 18:00: out of schedule due to calendar period."
    assert _example(18) == (FilterReason.OUT_OF_SCHEDULE, True)


@pytest.mark.parametrize(
    ("hour", "reason"),
    [
        (7, FilterReason.OUT_OF_SCHEDULE),
        (9, FilterReason.HOLIDAY),
        (14, FilterReason.HOLIDAY),
        (16, FilterReason.NORMAL),
        (18, FilterReason.OUT_OF_SCHEDULE),
    ],
)
def test_10_1_6_calendar_period_example_table(hour: int, reason: FilterReason) -> None:
    assert evaluate(EXAMPLE_FILTER, at(hour)).reason is reason


# ---- property: blacklist always wins, whitelist never redirects ------------------


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)))
def test_property_blacklisted_always_rejected(moment: datetime) -> None:
    decision = evaluate(BASE, moment.replace(tzinfo=UTC), caller="+442071234567")
    assert decision.action is FilterAction.REJECT


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)))
def test_property_whitelisted_always_continues(moment: datetime) -> None:
    decision = evaluate(BASE, moment.replace(tzinfo=UTC), caller="+34600999999")
    assert decision.action is FilterAction.CONTINUE


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)))
def test_property_disabled_filter_never_redirects(moment: datetime) -> None:
    flt = ExternalCallFilter(
        calendars=BASE.calendars,
        schedules=BASE.schedules,
        holiday_target=HOLIDAY_FWD,
        out_of_schedule_target=OOS_FWD,
    )
    assert evaluate(flt, moment.replace(tzinfo=UTC)).reason is FilterReason.NORMAL


# ---- 10.2.3 residential external call filters -----------------------------------

RESIDENTIAL = ResidentialCallFilter("res", blacklist=(BLACK,), forward_number="+34676676676")


def test_10_2_3_no_filter() -> None:
    assert evaluate_residential_call_filter(None, CALLER).reason is FilterReason.NO_FILTER


def test_10_2_3_blacklist_before_unconditional_forward() -> None:
    decision = evaluate_residential_call_filter(RESIDENTIAL, "+442071234567", DDI)
    assert decision.action is FilterAction.REJECT
    assert decision.reason is FilterReason.BLACKLIST


def test_10_2_3_unconditional_forward_keeps_caller_and_adds_diversion() -> None:
    decision = evaluate_residential_call_filter(RESIDENTIAL, CALLER, DDI)
    assert decision.action is FilterAction.FORWARD
    assert decision.reason is FilterReason.UNCONDITIONAL_FORWARD
    assert decision.target == ForwardTarget.number("+34676676676")
    assert decision.keep_caller_id
    assert decision.diversion == Diversion(DDI, DIVERSION_REASON_UNCONDITIONAL)


def test_10_2_3_forward_without_called_ddi_has_no_diversion() -> None:
    assert evaluate_residential_call_filter(RESIDENTIAL, CALLER).diversion is None


def test_10_2_3_blacklist_only_filter_continues() -> None:
    flt = ResidentialCallFilter("res", blacklist=(BLACK,))
    decision = evaluate_residential_call_filter(flt, CALLER, DDI)
    assert decision.action is FilterAction.CONTINUE
    assert decision.reason is FilterReason.NORMAL


def test_forward_target_needs_value() -> None:
    with pytest.raises(ValueError):
        ForwardTarget.number("")
    assert ForwardTarget.voicemail(3).value == "3"
