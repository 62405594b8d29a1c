"""Calendars (rules.calendars): IvozProvider CalendarPeriod/HolidayDate::sanitizeValues and
HolidayDate/CheckEventDateCollision."""

from __future__ import annotations

from tests.api.write_path.conftest import W


def test_period_end_not_before_start(w: W) -> None:
    cal = w.calendar()
    w.refused("/calendar_periods", "endDate", calendar=cal["id"], startDate="2031-02-02", endDate="2031-02-01")


def test_whole_day_holiday_has_no_times(w: W) -> None:
    cal = w.calendar()
    h = w.create("/holiday_dates", calendar=cal["id"], name="h", eventDate="2031-03-01", wholeDayEvent=True,
                 timeIn="10:00:00", timeOut="11:00:00")
    assert h["timeIn"] is None and h["timeOut"] is None


def test_timed_holiday_needs_ordered_times(w: W) -> None:
    cal = w.calendar()
    w.refused("/holiday_dates", "timeIn", calendar=cal["id"], name="h", eventDate="2031-03-02", wholeDayEvent=False)
    w.refused("/holiday_dates", "timeOut", calendar=cal["id"], name="h", eventDate="2031-03-02", wholeDayEvent=False,
              timeIn="12:00:00", timeOut="11:00:00")


def test_holiday_collisions(w: W) -> None:
    cal = w.calendar()
    w.create("/holiday_dates", calendar=cal["id"], name="a", eventDate="2031-04-01", wholeDayEvent=False,
             timeIn="10:00:00", timeOut="12:00:00")
    w.refused("/holiday_dates", "timeIn", calendar=cal["id"], name="b", eventDate="2031-04-01", wholeDayEvent=False,
              timeIn="11:00:00", timeOut="13:00:00")
    w.refused("/holiday_dates", "eventDate", calendar=cal["id"], name="c", eventDate="2031-04-01", wholeDayEvent=True)
    w.create("/holiday_dates", calendar=cal["id"], name="d", eventDate="2031-04-01", wholeDayEvent=False,
             timeIn="13:00:00", timeOut="14:00:00")


def test_schedule_needs_its_times(w: W) -> None:
    w.refused("/schedules", "timeout", name=f"s{w.n()}", timeIn="08:00:00")
