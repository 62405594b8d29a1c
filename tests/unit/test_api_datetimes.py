"""Dates and times as IvozProvider's API accepts them (PHP DateTime), read in one place."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from polyvox.api import datetimes as d

MADRID = ZoneInfo("Europe/Madrid")  # UTC+1 in January, UTC+2 in July
D = dt.datetime


@pytest.mark.parametrize(("raw", "tz", "stored"), [
    ("2018-01-01 00:00:00.000", None, D(2018, 1, 1)),
    ("2018-01-01 00:00:00.999999", None, D(2018, 1, 1)),  # fractions dropped, as Doctrine's Y-m-d H:i:s
    ("2018-01-01 00:00:00", None, D(2018, 1, 1)),
    ("2018-01-01 10:30", None, D(2018, 1, 1, 10, 30)),
    ("2018-01-01T10:30:05", None, D(2018, 1, 1, 10, 30, 5)),
    ("  2018-01-01T10:30:05  ", None, D(2018, 1, 1, 10, 30, 5)),
    ("2018-01-01", None, D(2018, 1, 1)),
    ("01-02-2018", None, D(2018, 2, 1)),  # PHP: dashes are day first
    ("01.02.2018", None, D(2018, 2, 1)),
    ("02/01/2018", None, D(2018, 2, 1)),  # PHP: slashes are American, month first
    ("2018/02/01", None, D(2018, 2, 1)),
    # no offset: the request's timezone
    ("2018-01-01 00:00:00", MADRID, D(2017, 12, 31, 23)),
    ("2018-07-01 00:00:00", MADRID, D(2018, 6, 30, 22)),
    ("2018-01-01", MADRID, D(2017, 12, 31, 23)),
    # an offset in the value wins over the request's timezone
    ("2018-01-01T00:00:00+02:00", MADRID, D(2017, 12, 31, 22)),
    ("2018-01-01T00:00:00-0530", None, D(2018, 1, 1, 5, 30)),
    ("2018-01-01T00:00:00+02", None, D(2017, 12, 31, 22)),
    ("2018-01-01T00:00:00Z", MADRID, D(2018, 1, 1)),
    ("2018-01-01T00:00:00.000Z", MADRID, D(2018, 1, 1)),
    ("2018-01-01 00:00:00 +02:00", None, D(2017, 12, 31, 22)),
    ("2018-01-01 00:00:00 UTC", MADRID, D(2018, 1, 1)),
    ("2018-01-01 12:00:00 Europe/Madrid", None, D(2018, 1, 1, 11)),
    ("2018-01-01 12:00:00 europe/madrid", None, D(2018, 1, 1, 11)),
])
def test_datetimes_are_stored_in_utc(raw: str, tz: ZoneInfo | None, stored: dt.datetime) -> None:
    assert d.parse_datetime(raw, tz) == stored


@pytest.mark.parametrize("raw", [
    "", "garbage", "now", "+1 day", "12345", "2018-13-01", "2018-02-30", "2018-01-01 24:00:00",
    "2018-01-01 10:60", "18-01-01", "2018-01-01 10:00:00 Mars/Olympus", "2018-01-01T10:00:00+25:00",
    "10:00",  # a time alone: PHP would take today's date
    "2018-01-01 10:00:00 garbage",
])
def test_garbage_datetimes_are_refused(raw: str) -> None:
    with pytest.raises(d.DateTimeFormatError):
        d.parse_datetime(raw, MADRID)


def test_datetime_objects_from_python_callers() -> None:
    assert d.parse_datetime(D(2018, 1, 1, 10, 0, 0, 5), None) == D(2018, 1, 1, 10)
    assert d.parse_datetime(D(2018, 1, 1, 10, tzinfo=MADRID), None) == D(2018, 1, 1, 9)
    assert d.parse_datetime(dt.date(2018, 1, 1), None) == D(2018, 1, 1)
    with pytest.raises(d.DateTimeFormatError):
        d.parse_datetime(1514764800, None)


@pytest.mark.parametrize(("raw", "date"), [
    ("2018-01-01", dt.date(2018, 1, 1)),
    ("2018-1-2", dt.date(2018, 1, 2)),
    ("2018-01-01 23:30:00", dt.date(2018, 1, 1)),
    ("2018-01-01T23:30:00-05:00", dt.date(2018, 1, 1)),  # never shifted between timezones
    ("2018-01-01T00:30:00+02:00", dt.date(2018, 1, 1)),
    ("31-12-2018", dt.date(2018, 12, 31)),
    ("12/31/2018", dt.date(2018, 12, 31)),
])
def test_dates(raw: str, date: dt.date) -> None:
    assert d.parse_date(raw) == date


@pytest.mark.parametrize("raw", ["", "2018-02-29", "31/12/2018", "10:00:00", "yesterday", "2018"])
def test_garbage_dates_are_refused(raw: str) -> None:
    with pytest.raises(d.DateTimeFormatError):
        d.parse_date(raw)


@pytest.mark.parametrize(("raw", "time"), [
    ("08:00", dt.time(8)),
    ("8:05", dt.time(8, 5)),
    ("08:00:30", dt.time(8, 0, 30)),
    ("08:00:30.250", dt.time(8, 0, 30)),
    ("T08:00:30", dt.time(8, 0, 30)),
    ("08:00:30+02:00", dt.time(8, 0, 30)),  # the time as written, never shifted
    ("23:59:59", dt.time(23, 59, 59)),
    ("00:00:00", dt.time(0)),
    # a date for a time field: PHP's DateTime is that day at midnight, IvozProvider stores 00:00:00
    ("01-01-2018", dt.time(0)),
    ("2018-01-01", dt.time(0)),
    ("2018-01-01 10:15:00", dt.time(10, 15)),
    ("2018-01-01T10:15:00Z", dt.time(10, 15)),
])
def test_times(raw: str, time: dt.time) -> None:
    assert d.parse_time(raw) == time


@pytest.mark.parametrize("raw", ["", "25:00:00", "24:00", "10:61", "1000", "noon", "10", "10:00:00 pm"])
def test_garbage_times_are_refused(raw: str) -> None:
    with pytest.raises(d.DateTimeFormatError):
        d.parse_time(raw)


def test_time_objects() -> None:
    assert d.parse_time(dt.time(8, 0, 0, 500)) == dt.time(8)
    assert d.parse_time(D(2018, 1, 1, 9, 30)) == dt.time(9, 30)
    assert d.parse_time(dt.date(2018, 1, 1)) == dt.time(0)


def test_output_keeps_ivozprovider_formats() -> None:
    assert d.format_datetime(D(2018, 1, 1, 9, 5, 7), None) == "2018-01-01 09:05:07"
    assert d.format_datetime(D(2017, 12, 31, 23), MADRID) == "2018-01-01 00:00:00"
    assert d.format_datetime(D(2018, 6, 30, 22), MADRID) == "2018-07-01 00:00:00"
    assert d.format_date(dt.date(2018, 1, 2)) == "2018-01-02"
    assert d.format_time(dt.time(8, 5)) == "08:05:00"


def test_parse_reports_what_it_read() -> None:
    p = d.parse("2018-01-01T10:00:00+02:00")
    assert (p.date, p.time) == (dt.date(2018, 1, 1), dt.time(10))
    assert p.tz is not None and p.tz.utcoffset(None) == dt.timedelta(hours=2)
    assert d.parse("10:00") == d.Parsed(None, dt.time(10), None)
    assert d.parse("2018-01-01") == d.Parsed(dt.date(2018, 1, 1), None, None)


@pytest.mark.parametrize("raw", ["2018-01-01 10:00:00", "2018-01-01 00:00:00", "2018-12-31 23:59:59"])
def test_round_trip_in_the_request_timezone(raw: str) -> None:
    assert d.format_datetime(d.parse_datetime(raw, MADRID), MADRID) == raw
