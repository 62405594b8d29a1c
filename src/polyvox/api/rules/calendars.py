"""Calendars, holidays, calendar periods and schedules (spec 10.1.6): IvozProvider's HolidayDate
and CalendarPeriod ``sanitizeValues()`` and HolidayDate/CheckEventDateCollision. Their routes
follow rules.targets."""

from __future__ import annotations

from sqlalchemy import select

from polyvox.api.errors import invalid
from polyvox.api.lifecycle import WriteContext, pre_persist
from polyvox.api.rules._base import table


@pre_persist("CalendarPeriod")
def calendar_period_dates(ctx: WriteContext) -> None:
    """The end date is not before the start date (IvozProvider CalendarPeriod::sanitizeValues)."""
    start, end = ctx.value("startDate"), ctx.value("endDate")
    if start is not None and end is not None and end < start:
        raise invalid("endDate", "End date must be later or equal than start date.")


@pre_persist("HolidayDate")
def holiday_times(ctx: WriteContext) -> None:
    """A whole-day holiday has no times; another one has both, the end not before the start
    (IvozProvider HolidayDate::sanitizeValues)."""
    if ctx.value("wholeDayEvent") is None:
        ctx.new["wholeDayEvent"] = True
    if ctx.value("wholeDayEvent"):
        ctx.new["timeIn"] = ctx.new["timeOut"] = None
        return
    for col in ("timeIn", "timeOut"):
        if ctx.value(col) is None:
            raise invalid(col, "This value should not be blank: a holiday that is not a whole day needs its times.")
    if ctx.value("timeOut") < ctx.value("timeIn"):
        raise invalid("timeOut", "Time out must be later than time in.")


@pre_persist("HolidayDate")
def holiday_collision(ctx: WriteContext) -> None:
    """One whole-day event per day and calendar; timed events of a day do not overlap
    (IvozProvider HolidayDate/CheckEventDateCollision)."""
    h = table("HolidayDate")
    q = select(h).where(h.c.calendarId == ctx.value("calendarId"), h.c.eventDate == ctx.value("eventDate"))
    if ctx.old is not None:
        q = q.where(h.c.id != ctx.old["id"])
    for other in ctx.conn.execute(q).all():
        if other.wholeDayEvent or ctx.value("wholeDayEvent") or other.timeIn is None or other.timeOut is None:
            raise invalid("eventDate", "Another event already exists for this day.")
        if other.timeIn <= ctx.value("timeIn") <= other.timeOut:
            raise invalid("timeIn", "Time In conflicts with existing calendar event.")
        if other.timeIn <= ctx.value("timeOut") <= other.timeOut:
            raise invalid("timeOut", "Time Out conflicts with existing calendar event.")


@pre_persist("Schedule")
def schedule_times(ctx: WriteContext) -> None:
    """A schedule has its start and end times (the call path ignores a schedule without them)."""
    for col in ("timeIn", "timeout"):
        if ctx.value(col) is None:
            raise invalid(col, "This value should not be blank.")
