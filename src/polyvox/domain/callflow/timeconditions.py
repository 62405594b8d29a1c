"""Schedules, calendars, holidays and calendar periods (spec 10.1.6).

All evaluation happens on a *local* wall-clock datetime in the client's
timezone; :func:`to_local` converts an aware instant using :mod:`zoneinfo`.

Semantics:

* A :class:`Schedule` is a time gap (``time_in``-``time_out``) active on some
  weekdays; the gap is half-open ``[time_in, time_out)``. When ``time_out`` is
  not later than ``time_in`` the gap crosses midnight: it starts on an enabled
  weekday and ends the next morning. A set of schedules is their union.
* A :class:`HolidayDate` marks one day; a whole-day event lasts all the day, a
  non-whole-day event only ``time_in``-``time_out`` (both ends included).
* A :class:`CalendarPeriod` covers ``start_date``-``end_date`` (both included) and
  brings its own schedules; outside them the period is *out of schedule*. A
  period without schedules is out of schedule all day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from .targets import ForwardTarget

__all__ = [
    "WEEKDAYS",
    "Calendar",
    "CalendarPeriod",
    "HolidayDate",
    "Schedule",
    "any_on_schedule",
    "find_calendar_period",
    "find_holiday",
    "is_holiday",
    "to_local",
]

#: Weekday numbers as used by :meth:`datetime.weekday` (Monday = 0).
WEEKDAYS: dict[str, int] = {
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}


def to_local(instant: datetime, timezone: str) -> datetime:
    """Convert an aware ``instant`` to the wall clock of ``timezone`` (IANA name)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("call-flow evaluation needs a timezone-aware datetime")
    return instant.astimezone(ZoneInfo(timezone))


@dataclass(frozen=True, slots=True)
class Schedule:
    """A named time gap active on a set of weekdays (0 = Monday ... 6 = Sunday)."""

    name: str
    time_in: time
    time_out: time
    weekdays: frozenset[int]
    id: int | None = None

    def __post_init__(self) -> None:
        if any(day not in range(7) for day in self.weekdays):
            raise ValueError(f"schedule weekdays must be 0..6, got {sorted(self.weekdays)}")

    @classmethod
    def on(cls, name: str, time_in: time, time_out: time, *days: str, id: int | None = None) -> Schedule:
        """Build a schedule from weekday names (``"monday"``, ``"friday"``...)."""
        return cls(name, time_in, time_out, frozenset(WEEKDAYS[day.lower()] for day in days), id)

    def is_on_schedule(self, local: datetime) -> bool:
        """Whether the local wall-clock ``local`` falls inside this gap."""
        now = local.time().replace(tzinfo=None)
        day = local.weekday()
        if self.time_in < self.time_out:
            return day in self.weekdays and self.time_in <= now < self.time_out
        # Gap crossing midnight: evening part today, morning part from yesterday.
        if day in self.weekdays and now >= self.time_in:
            return True
        return (day - 1) % 7 in self.weekdays and now < self.time_out


def any_on_schedule(schedules: tuple[Schedule, ...], local: datetime) -> bool:
    """Union of schedules: True when any of them contains ``local``."""
    return any(schedule.is_on_schedule(local) for schedule in schedules)


@dataclass(frozen=True, slots=True)
class HolidayDate:
    """A calendar event (holiday) with optional locution and routing overrides."""

    name: str
    event_date: date
    whole_day: bool = True
    time_in: time | None = None
    time_out: time | None = None
    locution_id: int | None = None
    target: ForwardTarget | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        if self.whole_day:
            return
        if self.time_in is None or self.time_out is None:
            raise ValueError("a non-whole-day event needs time_in and time_out")
        if self.time_out < self.time_in:
            raise ValueError("time out must be later than time in")

    def is_active(self, local: datetime) -> bool:
        """Whether this event applies at the local wall-clock ``local``."""
        if local.date() != self.event_date:
            return False
        if self.whole_day:
            return True
        assert self.time_in is not None and self.time_out is not None
        now = local.time().replace(tzinfo=None)
        return self.time_in <= now <= self.time_out


@dataclass(frozen=True, slots=True)
class CalendarPeriod:
    """A date range that overrides the filter schedules with its own ones."""

    start_date: date
    end_date: date
    schedules: tuple[Schedule, ...] = ()
    locution_id: int | None = None
    target: ForwardTarget | None = None
    name: str = ""
    id: int | None = None

    def __post_init__(self) -> None:
        if self.end_date < self.start_date:
            raise ValueError("end date must be later or equal than start date")

    def covers(self, day: date) -> bool:
        """Whether ``day`` is inside the period (both ends included)."""
        return self.start_date <= day <= self.end_date

    def is_out_of_schedule(self, local: datetime) -> bool:
        """True when ``local`` is outside every schedule of the period."""
        return not any_on_schedule(self.schedules, local)


@dataclass(frozen=True, slots=True)
class Calendar:
    """Holidays and calendar periods of a client; several calendars combine."""

    name: str
    holidays: tuple[HolidayDate, ...] = ()
    periods: tuple[CalendarPeriod, ...] = ()
    id: int | None = None

    def holiday_at(self, local: datetime) -> HolidayDate | None:
        """First holiday active at ``local`` (in declaration order)."""
        return next((holiday for holiday in self.holidays if holiday.is_active(local)), None)

    def period_on(self, day: date) -> CalendarPeriod | None:
        """First period covering ``day`` (in declaration order)."""
        return next((period for period in self.periods if period.covers(day)), None)


def find_holiday(calendars: tuple[Calendar, ...], local: datetime) -> HolidayDate | None:
    """First holiday of the first calendar that marks ``local`` as holiday."""
    for calendar in calendars:
        holiday = calendar.holiday_at(local)
        if holiday is not None:
            return holiday
    return None


def is_holiday(calendars: tuple[Calendar, ...], local: datetime) -> bool:
    """Whether any of ``calendars`` marks ``local`` as holiday."""
    return find_holiday(calendars, local) is not None


def find_calendar_period(calendars: tuple[Calendar, ...], day: date) -> CalendarPeriod | None:
    """First calendar period, in calendar order, that covers ``day``."""
    for calendar in calendars:
        period = calendar.period_on(day)
        if period is not None:
            return period
    return None
