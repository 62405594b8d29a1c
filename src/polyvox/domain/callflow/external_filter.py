"""External call filters for DDIs (spec 10.1.6 vPBX, 10.2.3 residential).

vPBX order of evaluation (``DdiAction`` in the reference implementation):

1. **Black list**: origin matches → reject the call immediately.
2. **White list**: origin matches → skip holiday and schedule checks, continue
   with the DDI's normal route (the welcome locution is still played).
3. **Holiday**: the day (or, for non-whole-day events, the time) is marked in
   any calendar → holiday logic: event locution/routing, else the filter's.
4. **Out of schedule**: if a calendar period covers today its schedules replace
   the filter's; outside them → out-of-schedule logic: period
   locution/routing, else the filter's.
5. Otherwise continue with the normal route after the welcome locution.

A holiday or out-of-schedule outcome without a forward target plays its
locution and hangs up. Residential filters only have a black list and an
unconditional forward to an external number, keeping the original caller and
adding a Diversion.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .matchlist import MatchList, any_list_matches
from .targets import ForwardTarget
from .timeconditions import (
    Calendar,
    CalendarPeriod,
    HolidayDate,
    Schedule,
    any_on_schedule,
    find_calendar_period,
    find_holiday,
    to_local,
)

__all__ = [
    "DIVERSION_REASON_TIME_OF_DAY",
    "DIVERSION_REASON_UNCONDITIONAL",
    "Diversion",
    "ExternalCallFilter",
    "FilterAction",
    "FilterDecision",
    "FilterReason",
    "ResidentialCallFilter",
    "evaluate_external_call_filter",
    "evaluate_residential_call_filter",
]

#: Diversion reason set for holiday / out-of-schedule forwards (RFC 5806).
DIVERSION_REASON_TIME_OF_DAY = "time-of-day"
#: Diversion reason set for residential unconditional forwards (RFC 5806).
DIVERSION_REASON_UNCONDITIONAL = "unconditional"


class FilterAction(StrEnum):
    """What the application server must do with the call."""

    REJECT = "reject"  # hang up with "call rejected" (cause 21)
    FORWARD = "forward"  # play locution (if any), then route to ``target``
    HANGUP = "hangup"  # play locution (if any), then hang up: no forward configured
    CONTINUE = "continue"  # play welcome locution (if any), then the DDI's normal route


class FilterReason(StrEnum):
    """Why the filter took its decision."""

    NO_FILTER = "no_filter"
    BLACKLIST = "blacklist"
    WHITELIST = "whitelist"
    HOLIDAY = "holiday"
    OUT_OF_SCHEDULE = "out_of_schedule"
    UNCONDITIONAL_FORWARD = "unconditional_forward"
    NORMAL = "normal"


@dataclass(frozen=True, slots=True)
class Diversion:
    """Forwarding information to add as a SIP Diversion header."""

    number: str  # the called DDI (E.164)
    reason: str


@dataclass(frozen=True, slots=True)
class FilterDecision:
    """Outcome of an external call filter.

    ``holiday`` / ``calendar_period`` tell which calendar entry caused a holiday
    or out-of-schedule outcome (``None`` when the filter's own schedules did).
    ``keep_caller_id`` is always true: forwards keep the original caller.
    """

    action: FilterAction
    reason: FilterReason
    locution_id: int | None = None
    target: ForwardTarget | None = None
    holiday: HolidayDate | None = None
    calendar_period: CalendarPeriod | None = None
    diversion: Diversion | None = None
    keep_caller_id: bool = True


@dataclass(frozen=True, slots=True)
class ExternalCallFilter:
    """vPBX external call filter."""

    name: str = ""
    welcome_locution_id: int | None = None
    blacklist: tuple[MatchList, ...] = ()
    whitelist: tuple[MatchList, ...] = ()
    holiday_enabled: bool = False
    holiday_locution_id: int | None = None
    holiday_target: ForwardTarget | None = None
    out_of_schedule_enabled: bool = False
    out_of_schedule_locution_id: int | None = None
    out_of_schedule_target: ForwardTarget | None = None
    calendars: tuple[Calendar, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    id: int | None = None


@dataclass(frozen=True, slots=True)
class ResidentialCallFilter:
    """Residential external call filter: black list + unconditional forward."""

    name: str = ""
    blacklist: tuple[MatchList, ...] = ()
    forward_number: str | None = None  # E.164 external number
    id: int | None = None


def _diversion(called_ddi: str | None, reason: str) -> Diversion | None:
    return Diversion(called_ddi, reason) if called_ddi else None


def _redirect(
    reason: FilterReason,
    locution_id: int | None,
    target: ForwardTarget | None,
    called_ddi: str | None,
    *,
    holiday: HolidayDate | None = None,
    period: CalendarPeriod | None = None,
) -> FilterDecision:
    return FilterDecision(
        action=FilterAction.FORWARD if target is not None else FilterAction.HANGUP,
        reason=reason,
        locution_id=locution_id,
        target=target,
        holiday=holiday,
        calendar_period=period,
        diversion=_diversion(called_ddi, DIVERSION_REASON_TIME_OF_DAY),
    )


def _filter_out_of_schedule(flt: ExternalCallFilter, local: datetime) -> bool:
    if not flt.schedules:
        # No schedule at all: out of schedule, unless nothing would happen then.
        return flt.out_of_schedule_locution_id is not None or flt.out_of_schedule_target is not None
    return not any_on_schedule(flt.schedules, local)


def evaluate_external_call_filter(
    flt: ExternalCallFilter | None,
    caller: str,
    now: datetime,
    timezone: str,
    called_ddi: str | None = None,
) -> FilterDecision:
    """Apply a vPBX external call filter to an incoming DDI call.

    ``caller`` is the origin in E.164, ``now`` an aware datetime, ``timezone`` the
    client's IANA timezone (calendars and schedules are local to it) and
    ``called_ddi`` the E.164 DDI, used as Diversion number for forwards.
    """
    if flt is None:
        return FilterDecision(FilterAction.CONTINUE, FilterReason.NO_FILTER)
    if any_list_matches(flt.blacklist, caller):
        return FilterDecision(FilterAction.REJECT, FilterReason.BLACKLIST)
    if any_list_matches(flt.whitelist, caller):
        return FilterDecision(FilterAction.CONTINUE, FilterReason.WHITELIST, flt.welcome_locution_id)

    local = to_local(now, timezone)

    if flt.holiday_enabled:
        holiday = find_holiday(flt.calendars, local)
        if holiday is not None:
            locution = holiday.locution_id if holiday.locution_id is not None else flt.holiday_locution_id
            target = holiday.target if holiday.target is not None else flt.holiday_target
            return _redirect(FilterReason.HOLIDAY, locution, target, called_ddi, holiday=holiday)

    if flt.out_of_schedule_enabled:
        period = find_calendar_period(flt.calendars, local.date())
        if period is not None:
            if period.is_out_of_schedule(local):
                locution = (
                    period.locution_id if period.locution_id is not None else flt.out_of_schedule_locution_id
                )
                target = period.target if period.target is not None else flt.out_of_schedule_target
                return _redirect(FilterReason.OUT_OF_SCHEDULE, locution, target, called_ddi, period=period)
        elif _filter_out_of_schedule(flt, local):
            return _redirect(
                FilterReason.OUT_OF_SCHEDULE,
                flt.out_of_schedule_locution_id,
                flt.out_of_schedule_target,
                called_ddi,
            )

    return FilterDecision(FilterAction.CONTINUE, FilterReason.NORMAL, flt.welcome_locution_id)


def evaluate_residential_call_filter(
    flt: ResidentialCallFilter | None,
    caller: str,
    called_ddi: str | None = None,
) -> FilterDecision:
    """Apply a residential external call filter (spec 10.2.3).

    Black list first (rejects, even when a forward is configured), then the
    unconditional forward to ``forward_number`` keeping the caller identity and
    adding a Diversion with ``called_ddi``; else the DDI's normal route.
    """
    if flt is None:
        return FilterDecision(FilterAction.CONTINUE, FilterReason.NO_FILTER)
    if any_list_matches(flt.blacklist, caller):
        return FilterDecision(FilterAction.REJECT, FilterReason.BLACKLIST)
    if flt.forward_number:
        return FilterDecision(
            FilterAction.FORWARD,
            FilterReason.UNCONDITIONAL_FORWARD,
            target=ForwardTarget.number(flt.forward_number),
            diversion=_diversion(called_ddi, DIVERSION_REASON_UNCONDITIONAL),
        )
    return FilterDecision(FilterAction.CONTINUE, FilterReason.NORMAL)
