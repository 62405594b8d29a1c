"""Dates and times in the API, read and written as IvozProvider reads and writes them.

IvozProvider hands every date or time it receives to PHP's ``new DateTime($value, $tz)``
(ivoz-api ``DateTimeNormalizer``) and Doctrine stores the result with the column's format.
This module accepts the same spellings (the ones API clients actually send) and nothing
looser; it is pure: the request's timezone is a parameter, nothing reads the clock.

Accepted (case-insensitive, surrounding blanks ignored):

- a date: ``YYYY-MM-DD``, ``YYYY/MM/DD``, ``DD-MM-YYYY``, ``DD.MM.YYYY`` (European day
  first, as PHP reads dashes and dots) or ``MM/DD/YYYY`` (American month first, as PHP
  reads slashes);
- a time of day: ``HH:MM``, ``HH:MM:SS``, ``HH:MM:SS.ffffff`` (fraction with ``.`` or ``,``),
  optionally preceded by ``T``;
- a date and a time separated by ``T`` or blanks, optionally followed by an offset:
  ``Z``, ``UTC``, ``GMT``, ``+HH``, ``+HHMM``, ``+HH:MM`` (or ``-``), or an IANA zone name
  (``Europe/Madrid``), with or without a blank before it.

How each kind of field uses what was read (PHP DateTime, then the Doctrine column type):

- date-time: the time defaults to midnight; an offset in the value wins, otherwise the
  value is in the request's timezone; stored as naive UTC, whole seconds (fractions are
  dropped, as Doctrine's ``Y-m-d H:i:s`` does). A time without a date is refused (PHP
  would take today's date: non-deterministic, and a mistake every time we have seen it).
- date: the calendar date as written; a time or an offset that follows is ignored (the
  value is never shifted between timezones).
- time: the time of day as written (offset ignored, fraction dropped); a date alone gives
  midnight (``"01-01-2018"`` for a rating plan's ``timeIn`` is PHP's 2018-01-01 00:00:00,
  stored by IvozProvider as ``00:00:00``), a date and a time give that time.

Refused where PHP silently rolls over: impossible calendar dates (``2018-02-30``, which
PHP turns into 2 March), hour 24, two-digit years, relative formats (``now``,
``+1 day``) and timestamps.

Output keeps IvozProvider's formats: ``YYYY-MM-DD HH:MM:SS`` (in the request's timezone),
``YYYY-MM-DD`` and ``HH:MM:SS``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DATE_FORMAT = "%Y-%m-%d"
TIME_FORMAT = "%H:%M:%S"

DATETIME_HINT = "YYYY-MM-DD HH:MM:SS"
DATE_HINT = "YYYY-MM-DD"
TIME_HINT = "HH:MM:SS"


class DateTimeFormatError(ValueError):
    """The value is not a date, time or date-time this API accepts."""


@dataclass(frozen=True)
class Parsed:
    date: dt.date | None
    time: dt.time | None
    tz: dt.tzinfo | None


_DATE_PATTERNS: tuple[tuple[str, tuple[str, str, str]], ...] = (
    (r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})", ("y", "m", "d")),
    (r"(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})", ("y", "m", "d")),
    (r"(?P<d>\d{1,2})[-.](?P<m>\d{1,2})[-.](?P<y>\d{4})", ("y", "m", "d")),
    (r"(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})", ("y", "m", "d")),
)
_TIME = r"(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?)?"
_TZ = r"(?P<tz>z|utc|gmt|[+-]\d{2}(?::?\d{2})?|[a-z][a-z_+-]*(?:/[a-z0-9_+-]+){1,2})"
_TAIL = rf"(?:\s*{_TZ})?"
_FULL = [re.compile(rf"{d}(?:(?:t|\s+){_TIME})?{_TAIL}", re.IGNORECASE) for d, _ in _DATE_PATTERNS]
_TIME_ONLY = re.compile(rf"t?{_TIME}{_TAIL}", re.IGNORECASE)


def _tzinfo(token: str) -> dt.tzinfo:
    low = token.lower()
    if low in ("z", "utc", "gmt"):
        return dt.UTC
    if low[0] in "+-":
        digits = token[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
        if hours > 23 or minutes > 59:
            raise DateTimeFormatError(f"invalid UTC offset '{token}'")
        delta = dt.timedelta(hours=hours, minutes=minutes)
        return dt.timezone(-delta if low[0] == "-" else delta)
    # IANA names are case-sensitive on disk; accept europe/madrid for Europe/Madrid too
    for name in (token, "/".join("_".join(w[:1].upper() + w[1:].lower() for w in part.split("_"))
                                 for part in token.split("/"))):
        try:
            return zone(name)
        except DateTimeFormatError:
            continue
    raise DateTimeFormatError(f"unknown timezone '{token}'")


# The longest IANA zone name is 32 characters; longer input is refused before it reaches the
# file system (a 5,000-character name is an OSError "file name too long" there).
MAX_ZONE_NAME = 64


def zone(name: str) -> ZoneInfo:
    """The IANA timezone ``name`` (request ``_timezone``, principal's timezone, offsets in values)."""
    if not name or len(name) > MAX_ZONE_NAME or "\x00" in name:
        raise DateTimeFormatError(f"unknown timezone '{name[:MAX_ZONE_NAME]}'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as e:
        raise DateTimeFormatError(f"unknown timezone '{name}'") from e


def _time(m: re.Match[str]) -> dt.time | None:
    if m.group("H") is None:
        return None
    frac = (m.group("f") or "").ljust(6, "0")[:6]
    try:
        return dt.time(int(m.group("H")), int(m.group("M")), int(m.group("S") or 0), int(frac))
    except ValueError as e:
        raise DateTimeFormatError(str(e)) from e


def parse(value: str) -> Parsed:
    """Read a date, a time, or both, and an optional timezone (see the module docstring)."""
    s = value.strip()
    for rx in _FULL:
        m = rx.fullmatch(s)
        if m is None:
            continue
        try:
            date = dt.date(int(m.group("y")), int(m.group("m")), int(m.group("d")))
        except ValueError as e:
            raise DateTimeFormatError(str(e)) from e
        tz = _tzinfo(m.group("tz")) if m.group("tz") else None
        return Parsed(date, _time(m), tz)
    m = _TIME_ONLY.fullmatch(s)
    if m is not None:
        return Parsed(None, _time(m), _tzinfo(m.group("tz")) if m.group("tz") else None)
    raise DateTimeFormatError(f"unrecognised date/time '{value}'")


def parse_datetime(value: object, tz: dt.tzinfo | None) -> dt.datetime:
    """A date-time as stored: naive UTC, whole seconds. ``tz``: the request's timezone
    (None = UTC), used when the value carries no offset."""
    if isinstance(value, dt.datetime):
        d = value
    elif isinstance(value, dt.date):
        d = dt.datetime.combine(value, dt.time())
    elif isinstance(value, str):
        p = parse(value)
        if p.date is None:
            raise DateTimeFormatError("a date-time needs a date")
        d = dt.datetime.combine(p.date, p.time or dt.time())
        if p.tz is not None:
            d = d.replace(tzinfo=p.tz)
        elif tz is not None:
            d = d.replace(tzinfo=tz)
    else:
        raise DateTimeFormatError(f"not a date-time: {value!r}")
    if d.tzinfo is not None:
        try:
            d = d.astimezone(dt.UTC).replace(tzinfo=None)
        except OverflowError as e:  # 9999-12-31 23:00 -05:00 is past year 9999 in UTC
            raise DateTimeFormatError("the date-time is out of range in UTC") from e
    return d.replace(microsecond=0)


def parse_date(value: object) -> dt.date:
    """A calendar date, never shifted between timezones."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        p = parse(value)
        if p.date is None:
            raise DateTimeFormatError("a date is required")
        return p.date
    raise DateTimeFormatError(f"not a date: {value!r}")


def parse_time(value: object) -> dt.time:
    """A time of day (whole seconds, no timezone); a date alone is midnight."""
    if isinstance(value, dt.datetime):
        t = value.time()
    elif isinstance(value, dt.time):
        t = value.replace(tzinfo=None)
    elif isinstance(value, dt.date):
        t = dt.time()
    elif isinstance(value, str):
        p = parse(value)
        t = p.time or dt.time()
    else:
        raise DateTimeFormatError(f"not a time: {value!r}")
    return t.replace(microsecond=0)


def format_datetime(value: dt.datetime, tz: dt.tzinfo | None) -> str:
    """A stored (naive UTC) date-time as IvozProvider shows it, in the request's timezone."""
    if tz is not None:
        value = (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(tz)
    return value.strftime(DATETIME_FORMAT)


def format_date(value: dt.date) -> str:
    return value.strftime(DATE_FORMAT)


def format_time(value: dt.time) -> str:
    return value.strftime(TIME_FORMAT)


__all__ = ["DATETIME_HINT", "DATE_HINT", "TIME_HINT", "DateTimeFormatError", "Parsed", "format_date",
           "format_datetime", "format_time", "parse", "parse_date", "parse_datetime", "parse_time"]
