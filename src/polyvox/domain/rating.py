"""Call rating: rate decks, rating plans, rating profiles and call cost.

Implements IvozProvider 3.4 documentation §9.4.2 "Price and cost", §9.4.3
"Rating plans" / "Destination Rates" / "Deductible Connection Fee (Minimal
Cost)" / "How it works" / "CSV format", §8.6 "Currencies" and §7.5 "No rating
plan, no call", plus the reseller margin of the Sipwise C5 concepts document.

Everything here is pure: values in, values out. Time is always a parameter and
datetimes must be timezone-aware.

Money
-----
Amounts are :class:`decimal.Decimal` with 4 decimals ("4 decimals precision is
used", §9.4.3). All arithmetic is exact (integers counted in units of 0.0001)
and the result is rounded **once**, by :func:`round_money`, with
``ROUND_HALF_UP`` (commercial rounding: a half ten-thousandth goes up). We do
not use banker's rounding because each call is rounded once and independently;
banker's rounding only pays off when many already-rounded values are summed,
whereas a customer reading an invoice line expects 0.00005 to become 0.0001.
(CGRateS, used by IvozProvider, rounds ``*up``; this is a documented
deviation, at most 0.0001 per call.)
"""

from __future__ import annotations

import csv
import enum
import io
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, tzinfo
from decimal import Decimal, InvalidOperation

from polyvox.domain.numbering import is_e164

__all__ = [
    "MONEY_DECIMALS",
    "RATE_CSV_COLUMNS",
    "CallCost",
    "CannotRate",
    "CannotRateReason",
    "CurrencyMismatchError",
    "DestinationRateGroup",
    "PrefixIndex",
    "Rate",
    "RateLine",
    "RateMatch",
    "RatedCall",
    "RatesCsvError",
    "RatingAccount",
    "RatingPlan",
    "RatingPlanGroup",
    "RatingProfile",
    "ResellerSplit",
    "Timing",
    "UncoveredInterval",
    "Weekday",
    "active_profile",
    "call_cost",
    "find_rate",
    "format_seconds",
    "max_affordable_duration",
    "merge_rates",
    "money_from_units",
    "money_to_units",
    "parse_rates_csv",
    "parse_seconds",
    "rate_call",
    "reseller_split",
    "round_money",
    "simulate_call",
    "uncovered_intervals",
    "validate_currencies",
]

MONEY_DECIMALS = 4
_SCALE: int = 10**MONEY_DECIMALS
_DAY = 86_400


# --------------------------------------------------------------------------- money


def _round_half_up(numerator: int, denominator: int) -> int:
    """numerator/denominator rounded to the nearest integer, halves away from zero.

    This is THE rounding rule of the module; every money rounding goes through it.
    """
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    sign = -1 if numerator < 0 else 1
    q, r = divmod(abs(numerator), denominator)
    if 2 * r >= denominator:
        q += 1
    return sign * q


def round_money(value: Decimal) -> Decimal:
    """Round an amount to 4 decimals, ROUND_HALF_UP (the module's only rounding rule)."""
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {value}")
    num, den = value.as_integer_ratio()
    return money_from_units(_round_half_up(num * _SCALE, den))


def money_from_units(units: int) -> Decimal:
    """Integer count of 0.0001 units -> Decimal with exactly 4 decimals."""
    return Decimal(units).scaleb(-MONEY_DECIMALS)


def money_to_units(value: Decimal) -> int:
    """Exact count of 0.0001 units; raises if ``value`` has more than 4 decimals."""
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {value}")
    num, den = value.as_integer_ratio()
    units, rest = divmod(num * _SCALE, den)
    if rest:
        raise ValueError(f"{value} has more than {MONEY_DECIMALS} decimals")
    return units


def _floor_units(value: Decimal) -> int:
    num, den = value.as_integer_ratio()
    return (num * _SCALE) // den


# ------------------------------------------------------------------ durations


_DURATION_RE = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def parse_seconds(text: str) -> int:
    """Parse an IvozProvider/CGRateS duration string ("60s", "0s", "1m", "1h30m", "60").

    Only whole seconds are supported (sub-second units are rejected).
    """
    raw = text.strip()
    if raw.isascii() and raw.isdigit():
        return int(raw)
    match = _DURATION_RE.fullmatch(raw)
    if not raw or match is None:
        raise ValueError(f"invalid duration {text!r}: expected e.g. '60s', '1m', '0s'")
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def format_seconds(seconds: int) -> str:
    """Inverse of :func:`parse_seconds` in the form IvozProvider stores ("60s")."""
    if seconds < 0:
        raise ValueError("duration cannot be negative")
    return f"{seconds}s"


_PREFIX_RE = re.compile(r"\+[0-9]{1,23}")


# ------------------------------------------------------------------ rates


@dataclass(frozen=True, slots=True)
class Rate:
    """One row of a destination rate (§9.4.3 "Add rates manually").

    ``interval_start`` ("groupIntervalStart") seconds are free; afterwards every
    started ``increment`` ("rateIncrement", charge period) costs
    ``per_minute / 60 * increment``.
    """

    prefix: str
    destination: str
    per_minute: Decimal
    connection_fee: Decimal = Decimal("0")
    increment: int = 1
    interval_start: int = 0
    fee_units: int = field(init=False, repr=False, compare=False)
    rate_units: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _PREFIX_RE.fullmatch(self.prefix):
            raise ValueError(f"prefix {self.prefix!r} must be '+' followed by digits")
        if self.increment < 1:
            raise ValueError(f"{self.prefix}: charge period must be an integer >= 1")
        if self.interval_start < 0:
            raise ValueError(f"{self.prefix}: interval start cannot be negative")
        fee = money_to_units(self.connection_fee)
        rate = money_to_units(self.per_minute)
        if fee < 0 or rate < 0:
            raise ValueError(f"{self.prefix}: rates and fees cannot be negative")
        object.__setattr__(self, "fee_units", fee)
        object.__setattr__(self, "rate_units", rate)

    @classmethod
    def from_ivoz(
        cls,
        prefix: str,
        destination: str,
        rate: Decimal,
        connect_fee: Decimal,
        rate_increment: str,
        group_interval_start: str = "0s",
    ) -> Rate:
        """Build from the IvozProvider ``DestinationRates`` columns (strings like "60s")."""
        return cls(
            prefix=prefix,
            destination=destination,
            per_minute=rate,
            connection_fee=connect_fee,
            increment=parse_seconds(rate_increment),
            interval_start=parse_seconds(group_interval_start),
        )

    def periods(self, duration: int) -> int:
        """Charge periods started after the interval start (0 if ``duration <= interval_start``)."""
        if duration < 0:
            raise ValueError("duration cannot be negative")
        billable = duration - self.interval_start
        if billable <= 0:
            return 0
        return -(-billable // self.increment)

    def gross_units(self, duration: int) -> int:
        """Connection fee + started periods, rounded once, in 0.0001 units."""
        numerator = self.fee_units * 60 + self.periods(duration) * self.increment * self.rate_units
        return _round_half_up(numerator, 60)


class PrefixIndex:
    """Longest-prefix lookup over a rate deck.

    Built once: one dict keyed by prefix plus the distinct prefix lengths,
    longest first. A lookup probes at most one dict entry per distinct length,
    i.e. O(len(number)) probes regardless of the deck size.
    """

    __slots__ = ("_by_prefix", "_lengths")

    def __init__(self, rates: Iterable[Rate]) -> None:
        by_prefix: dict[str, Rate] = {}
        for rate in rates:
            if rate.prefix in by_prefix:
                raise ValueError(f"duplicated prefix {rate.prefix}")
            by_prefix[rate.prefix] = rate
        self._by_prefix = by_prefix
        self._lengths = tuple(sorted({len(p) for p in by_prefix}, reverse=True))

    def __len__(self) -> int:
        return len(self._by_prefix)

    def lookup(self, number: str) -> Rate | None:
        """Rate with the longest prefix of ``number``, or None."""
        get = self._by_prefix.get
        size = len(number)
        for length in self._lengths:
            if length <= size:
                rate = get(number[:length])
                if rate is not None:
                    return rate
        return None


@dataclass(frozen=True, slots=True)
class DestinationRateGroup:
    """A *Destination rate* (§9.4.3): rates in one currency, optional deductible fee."""

    name: str
    currency: str
    rates: tuple[Rate, ...]
    deductible_connection_fee: bool = False
    index: PrefixIndex = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", PrefixIndex(self.rates))

    def lookup(self, number: str) -> Rate | None:
        return self.index.lookup(number)


class RatesCsvError(ValueError):
    """A rates CSV violates the §9.4.3 "CSV format" rules; ``line`` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


_AMOUNT_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?")

#: The rate fields of a rates CSV, in the recommended column order (§9.4.3 "CSV format"); every
#: one is required. A column layout may also hold ``groupIntervalStart`` and ``ignore`` columns.
RATE_CSV_COLUMNS: tuple[str, ...] = ("name", "prefix", "cost", "connectFee", "rateIncrement")


@dataclass(frozen=True, slots=True)
class RateLine:
    """A rate read from a rates CSV and its physical line number (1-based)."""

    number: int
    rate: Rate


def parse_rates_csv(
    text: str,
    *,
    columns: Sequence[str] = RATE_CSV_COLUMNS,
    skip_header: bool = False,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 1000,
) -> tuple[list[RateLine], int]:
    """Every rate of a rates CSV, checked (§9.4.3 "CSV format"); raises :class:`RatesCsvError`
    naming the first bad line. Returns the rates and the number of physical lines.

    ``columns`` says what each column holds (:data:`RATE_CSV_COLUMNS` plus optional
    ``groupIntervalStart`` and ``ignore``). Comma is the only separator, double quotes are the only
    quoting, amounts use a point and are rounded to 4 decimals, a repeated prefix fails the whole
    import, blank lines are skipped, a file without any rate is refused. Interval start is 0 unless
    a column holds it. ``progress`` is called with the line number every ``progress_every`` lines.
    """
    if "\x00" in text:
        raise RatesCsvError(1, "this is not a CSV text file")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=",", quotechar='"', doublequote=True, strict=True)
    out: list[RateLine] = []
    seen: dict[str, int] = {}
    width = len(columns)
    first = True
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise RatesCsvError(start, f"malformed CSV: {e}") from e
        number = start
        if first:
            first = False
            if skip_header:
                continue
        if progress is not None and number % progress_every == 0:
            progress(number)
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != width:
            raise RatesCsvError(number, f"expected {width} comma-separated columns, got {len(row)} "
                                        "(names containing commas must be quoted with double quotes)")
        cells = {name: cell.strip() for name, cell in zip(columns, row, strict=True) if name != "ignore"}
        if any(v.startswith("'") for v in cells.values()):
            raise RatesCsvError(number, "single quotes are not supported, use double quotes")
        name, prefix = cells["name"], cells["prefix"]
        if not name:
            raise RatesCsvError(number, "the destination name is empty")
        if len(name) > 100:
            raise RatesCsvError(number, "the destination name is longer than 100 characters")
        if not _PREFIX_RE.fullmatch(prefix):
            raise RatesCsvError(number, f"prefix {prefix!r} must start with + followed by digits (at most 23)")
        if prefix in seen:
            raise RatesCsvError(number, f"prefix {prefix} already used on line {seen[prefix]}")
        seen[prefix] = number
        amounts: dict[str, Decimal] = {}
        for key, label in (("cost", "per minute rate"), ("connectFee", "connection charge")):
            value = cells[key]
            if not _AMOUNT_RE.fullmatch(value):
                raise RatesCsvError(number, f"{label} {value!r} must be a number with a point as decimal separator")
            try:
                amounts[key] = round_money(Decimal(value))
            except InvalidOperation as e:
                raise RatesCsvError(number, f"{label} {value!r} is not a number") from e
        period = cells["rateIncrement"]
        if not (period.isascii() and period.isdigit()) or int(period) < 1:
            raise RatesCsvError(number, f"charge period {period!r} must be an integer >= 1 (seconds)")
        start_s = cells.get("groupIntervalStart", "0") or "0"
        if not (start_s.isascii() and start_s.isdigit()):
            raise RatesCsvError(number, f"interval start {start_s!r} must be an integer >= 0 (seconds)")
        try:
            rate = Rate(prefix=prefix, destination=name, per_minute=amounts["cost"],
                        connection_fee=amounts["connectFee"], increment=int(period), interval_start=int(start_s))
        except ValueError as e:
            raise RatesCsvError(number, str(e)) from e
        out.append(RateLine(number, rate))
    if not out:
        raise RatesCsvError(max(1, reader.line_num), "the file holds no rate")
    return out, reader.line_num


def merge_rates(existing: Iterable[Rate], imported: Iterable[Rate]) -> tuple[Rate, ...]:
    """Re-import semantics (§9.4.3 "Re-importing a CSV file").

    Prefixes in both are updated with the imported rate, prefixes only in the
    existing deck are kept, new prefixes are added (in import order, after).
    """
    merged: dict[str, Rate] = {rate.prefix: rate for rate in existing}
    for rate in imported:
        merged[rate.prefix] = rate
    return tuple(merged.values())


# ------------------------------------------------------------------ cost


@dataclass(frozen=True, slots=True)
class CallCost:
    """Breakdown of the cost of one call.

    ``total`` is what is debited while the call is up (connection fee + started
    periods). ``charged`` is the final price/cost after the deductible
    connection fee adjustment, ``refund = total - charged`` goes back to the
    balance at hang-up. Without deductible fee ``charged == total``.
    """

    duration: int
    periods: int
    fee_units: int
    total_units: int
    charged_units: int
    final_fee_units: int

    # Amounts are kept as exact integer counts of 0.0001 and exposed as Decimals
    # (4 decimals) on access, so rating a call allocates no Decimal at all.
    @property
    def connection_fee(self) -> Decimal:
        return money_from_units(self.fee_units)

    @property
    def cost_without_connection_fee(self) -> Decimal:
        return money_from_units(self.total_units - self.fee_units)

    @property
    def total(self) -> Decimal:
        return money_from_units(self.total_units)

    @property
    def charged(self) -> Decimal:
        return money_from_units(self.charged_units)

    @property
    def refund(self) -> Decimal:
        return money_from_units(self.total_units - self.charged_units)

    @property
    def final_connection_fee(self) -> Decimal:
        return money_from_units(self.final_fee_units)


def call_cost(rate: Rate, duration: int, *, deductible_connection_fee: bool = False) -> CallCost:
    """Cost of a call of ``duration`` whole seconds (§9.4.3 "How it works").

    connection fee + (per minute rate / 60) × charge period for every charge
    period started after the interval start; a call not longer than the interval
    start costs the connection fee only. With a deductible connection fee
    (§9.4.3 "Deductible Connection Fee (Minimal Cost)") the fee is a minimum:
    charged = max(fee, cost without fee), the difference is refunded.
    """
    periods = rate.periods(duration)
    fee = rate.fee_units
    total = _round_half_up(fee * 60 + periods * rate.increment * rate.rate_units, 60)
    without = total - fee
    if not deductible_connection_fee:
        charged, final_fee = total, fee
    elif without >= fee:
        charged, final_fee = without, 0
    else:
        charged, final_fee = fee, fee - without
    return CallCost(duration, periods, fee, total, charged, final_fee)


def max_affordable_duration(rate: Rate, balance: Decimal, *, cap: int | None = None) -> int | None:
    """Largest duration (seconds) whose ``call_cost(...).total`` is <= ``balance``.

    Returns 0 when not even the connection fee (or, with no free interval, the
    first charge period) is affordable, ``None`` when the call is free forever
    and no ``cap`` is given. Uses ``total`` (what prepaid debits while the call
    is up), which is >= the deductible-fee ``charged`` amount.
    """
    balance_units = _floor_units(balance)
    # round_half_up(n / 60) <= B  <=>  n < 30 * (2B + 1)  (n >= 0)
    room = 30 * (2 * balance_units + 1) - 60 * rate.fee_units
    if room <= 0:
        return 0
    per_period = rate.increment * rate.rate_units
    if per_period == 0:
        return cap
    periods = (room - 1) // per_period
    seconds = rate.interval_start + periods * rate.increment
    if cap is not None and seconds > cap:
        return cap
    return seconds


# ------------------------------------------------------------------ timings and plans


class Weekday(enum.IntEnum):
    """ISO-like weekday numbering matching :meth:`datetime.weekday` (Monday = 0)."""

    MONDAY = 0
    TUESDAY = 1
    WEDNESDAY = 2
    THURSDAY = 3
    FRIDAY = 4
    SATURDAY = 5
    SUNDAY = 6


ALL_WEEKDAYS: frozenset[Weekday] = frozenset(Weekday)


@dataclass(frozen=True, slots=True)
class Timing:
    """Timing type of a rating plan: *always*, or *custom* (weekdays + time in).

    As in IvozProvider/CGRateS (``tp_timings.time`` = ``time_in``), a custom
    timing applies on its weekdays from ``time_in`` until the end of the day.
    """

    weekdays: frozenset[Weekday] = ALL_WEEKDAYS
    time_in: time = time(0)
    always: bool = True

    @classmethod
    def custom(cls, weekdays: Iterable[int], time_in: time = time(0)) -> Timing:
        days = frozenset(Weekday(d) for d in weekdays)
        if time_in.tzinfo is not None:
            raise ValueError("time_in is a wall-clock time, without tzinfo")
        return cls(weekdays=days, time_in=time_in.replace(microsecond=0), always=False)

    @property
    def start_second(self) -> int:
        return self.time_in.hour * 3600 + self.time_in.minute * 60 + self.time_in.second

    def applies(self, local: datetime) -> bool:
        """Whether this timing covers the wall-clock moment ``local``."""
        if self.always:
            return True
        return local.weekday() in self.weekdays and local.time() >= self.time_in


@dataclass(frozen=True, slots=True)
class RatingPlan:
    """One destination rate inside a rating plan (group), with weight and timing."""

    destination_rate_group: DestinationRateGroup
    weight: Decimal = Decimal("10")
    timing: Timing = Timing()


@dataclass(frozen=True, slots=True)
class RatingPlanGroup:
    """A *Rating plan* (§9.4.3): named, one currency, list of weighted/timed destination rates."""

    name: str
    currency: str
    plans: tuple[RatingPlan, ...]


@dataclass(frozen=True, slots=True)
class UncoveredInterval:
    """[start_second, end_second) of ``weekday`` not covered by any plan (end 86400 = midnight)."""

    weekday: Weekday
    start_second: int
    end_second: int

    def __str__(self) -> str:
        def hms(s: int) -> str:
            return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"

        return f"{self.weekday.name.title()} {hms(self.start_second)}-{hms(self.end_second)}"


def uncovered_intervals(plan_group: RatingPlanGroup) -> tuple[UncoveredInterval, ...]:
    """Moments of the week no plan can rate (§9.4.3: a rating plan MUST rate 24x7).

    Empty tuple = fully covered. The API refuses a plan group for which this is
    non-empty.
    """
    earliest: dict[Weekday, int] = {}
    for plan in plan_group.plans:
        start = 0 if plan.timing.always else plan.timing.start_second
        days = ALL_WEEKDAYS if plan.timing.always else plan.timing.weekdays
        for day in days:
            earliest[day] = min(earliest.get(day, _DAY), start)
    gaps = [
        UncoveredInterval(day, 0, earliest.get(day, _DAY)) for day in Weekday if earliest.get(day, _DAY) > 0
    ]
    return tuple(gaps)


class CurrencyMismatchError(ValueError):
    """Currencies are never converted (§8.6); ``item`` names the offending element."""

    def __init__(self, item: str, expected: str, found: str) -> None:
        super().__init__(f"{item}: currency {found} differs from {expected} (no currency conversion)")
        self.item = item
        self.expected = expected
        self.found = found


# ------------------------------------------------------------------ profiles


@dataclass(frozen=True, slots=True)
class RatingProfile:
    """A rating plan assigned to a client or carrier from ``activation_time`` on."""

    activation_time: datetime
    plan_group: RatingPlanGroup
    routing_tag: str | None = None

    def __post_init__(self) -> None:
        _require_aware(self.activation_time, "activation_time")


@dataclass(frozen=True, slots=True)
class RatingAccount:
    """Something rated through rating profiles: a client (price), a carrier (cost) or,
    at platform level, a brand (wholesale price, see :func:`reseller_split`)."""

    name: str
    currency: str
    profiles: tuple[RatingProfile, ...] = ()


def validate_currencies(plan_group: RatingPlanGroup, account: RatingAccount | None = None) -> None:
    """§8.6: destination rates of a plan group use its currency; a client/carrier
    only uses plan groups in its currency. Raises :class:`CurrencyMismatchError`
    naming the first offending item."""
    for plan in plan_group.plans:
        group = plan.destination_rate_group
        if group.currency != plan_group.currency:
            raise CurrencyMismatchError(
                f"destination rate {group.name!r} in rating plan {plan_group.name!r}",
                plan_group.currency,
                group.currency,
            )
    if account is not None and account.currency != plan_group.currency:
        raise CurrencyMismatchError(
            f"{account.name!r} using rating plan {plan_group.name!r}", account.currency, plan_group.currency
        )


def _require_aware(moment: datetime, label: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{label} must be timezone-aware")


def active_profile(
    profiles: Sequence[RatingProfile], at: datetime, routing_tag: str | None = None
) -> RatingProfile | None:
    """The profile with the latest ``activation_time <= at`` (§9.4.3).

    Untagged calls only see untagged profiles. A call with a routing tag uses
    the active profile for that tag and, when there is none, falls back to the
    active untagged profile. Equal activation times: the later one in
    ``profiles`` wins.
    """
    _require_aware(at, "at")
    best_tagged: RatingProfile | None = None
    best_plain: RatingProfile | None = None
    for profile in profiles:
        if profile.activation_time > at:
            continue
        if profile.routing_tag is None:
            if best_plain is None or profile.activation_time >= best_plain.activation_time:
                best_plain = profile
        elif profile.routing_tag == routing_tag and (
            best_tagged is None or profile.activation_time >= best_tagged.activation_time
        ):
            best_tagged = profile
    return best_tagged if best_tagged is not None else best_plain


# ------------------------------------------------------------------ rating


class CannotRateReason(enum.Enum):
    INVALID_NUMBER = "invalid_number"
    NO_ACTIVE_PROFILE = "no_active_rating_profile"
    NO_PLAN_AT_TIME = "no_rating_plan_applies_at_this_time"
    NO_DESTINATION = "no_destination_rate_for_number"
    CURRENCY_MISMATCH = "currency_mismatch"


@dataclass(frozen=True, slots=True)
class CannotRate:
    """A call that cannot be billed; §7.5: such a call must not be established."""

    reason: CannotRateReason
    detail: str


@dataclass(frozen=True, slots=True)
class RateMatch:
    plan_group: RatingPlanGroup
    plan: RatingPlan
    rate: Rate

    @property
    def currency(self) -> str:
        return self.plan_group.currency

    @property
    def deductible_connection_fee(self) -> bool:
        return self.plan.destination_rate_group.deductible_connection_fee


@dataclass(frozen=True, slots=True)
class RatedCall:
    """Result of rating/simulating a call: destination, plan, price."""

    number: str
    start: datetime
    match: RateMatch
    cost: CallCost

    @property
    def destination(self) -> str:
        return self.match.rate.destination

    @property
    def prefix(self) -> str:
        return self.match.rate.prefix

    @property
    def plan_name(self) -> str:
        return self.match.plan_group.name

    @property
    def price(self) -> Decimal:
        return self.cost.charged

    @property
    def currency(self) -> str:
        return self.match.currency


def find_rate(
    plan_group: RatingPlanGroup, number: str, start: datetime, *, tz: tzinfo | None = None
) -> RateMatch | CannotRate:
    """Select the rate for ``number`` at ``start`` (§9.4.3 weights).

    Candidates are the plans whose timing applies at the start time (evaluated
    in ``tz`` if given, else in ``start``'s own zone) and whose destination
    rate matches the number (longest prefix within that destination rate).
    The highest weight wins; ties go to the longer prefix, then to the plan
    listed first.
    """
    _require_aware(start, "start")
    if not is_e164(number):
        return CannotRate(
            CannotRateReason.INVALID_NUMBER, f"{number!r} is not an E.164 number"
        )
    local = start.astimezone(tz) if tz is not None else start
    best: tuple[Decimal, int] | None = None
    chosen: tuple[RatingPlan, Rate] | None = None
    any_plan = False
    for plan in plan_group.plans:
        if not plan.timing.applies(local):
            continue
        any_plan = True
        rate = plan.destination_rate_group.index.lookup(number)
        if rate is None:
            continue
        key = (plan.weight, len(rate.prefix))
        if best is None or key > best:
            best, chosen = key, (plan, rate)
    if chosen is not None:
        return RateMatch(plan_group, chosen[0], chosen[1])
    if not any_plan:
        return CannotRate(
            CannotRateReason.NO_PLAN_AT_TIME,
            f"rating plan {plan_group.name!r} has no destination rate applying at {local.isoformat()}",
        )
    return CannotRate(
        CannotRateReason.NO_DESTINATION, f"rating plan {plan_group.name!r} has no rate for {number}"
    )


def rate_call(
    plan_group: RatingPlanGroup, number: str, start: datetime, duration: int, *, tz: tzinfo | None = None
) -> RatedCall | CannotRate:
    """Rate a call with one rating plan group (whole rate chosen at the start time)."""
    match = find_rate(plan_group, number, start, tz=tz)
    if isinstance(match, CannotRate):
        return match
    cost = call_cost(match.rate, duration, deductible_connection_fee=match.deductible_connection_fee)
    return RatedCall(number=number, start=start, match=match, cost=cost)


def simulate_call(
    target: RatingPlanGroup | RatingAccount,
    number: str,
    start: datetime,
    duration: int,
    *,
    routing_tag: str | None = None,
    tz: tzinfo | None = None,
) -> RatedCall | CannotRate:
    """§9.4.3 "Simulate a call" for a plan group, or for a client/carrier (its
    active rating profile at ``start``, optionally per routing tag)."""
    if isinstance(target, RatingPlanGroup):
        return rate_call(target, number, start, duration, tz=tz)
    profile = active_profile(target.profiles, start, routing_tag)
    if profile is None:
        return CannotRate(
            CannotRateReason.NO_ACTIVE_PROFILE,
            f"{target.name!r} has no rating plan active at {start.isoformat()}",
        )
    if profile.plan_group.currency != target.currency:
        return CannotRate(
            CannotRateReason.CURRENCY_MISMATCH,
            f"{target.name!r} uses {target.currency} but rating plan "
            f"{profile.plan_group.name!r} uses {profile.plan_group.currency}",
        )
    return rate_call(profile.plan_group, number, start, duration, tz=tz)


# ------------------------------------------------------------------ resellers


@dataclass(frozen=True, slots=True)
class ResellerSplit:
    """Money of one call sold through a reseller (brand): what the end client pays,
    what the platform earns from the brand, what the brand keeps."""

    client_price: Decimal
    platform_revenue: Decimal
    reseller_margin: Decimal
    currency: str
    retail: RatedCall
    wholesale: RatedCall


def reseller_split(
    client: RatingAccount,
    brand: RatingAccount,
    number: str,
    start: datetime,
    duration: int,
    *,
    routing_tag: str | None = None,
    tz: tzinfo | None = None,
) -> ResellerSplit | CannotRate:
    """Reseller model (Sipwise C5 "Resellers"): the platform rates the brand with
    wholesale plans (``brand`` profiles), the brand rates its client with retail
    plans (``client`` profiles). margin = client price - brand cost (may be
    negative if the reseller sells below cost). Both sides must use the same
    currency (no conversion)."""
    retail = simulate_call(client, number, start, duration, routing_tag=routing_tag, tz=tz)
    if isinstance(retail, CannotRate):
        return retail
    wholesale = simulate_call(brand, number, start, duration, tz=tz)
    if isinstance(wholesale, CannotRate):
        return wholesale
    if retail.currency != wholesale.currency:
        raise CurrencyMismatchError(
            f"brand {brand.name!r} wholesale rating", retail.currency, wholesale.currency
        )
    return ResellerSplit(
        client_price=retail.price,
        platform_revenue=wholesale.price,
        reseller_margin=retail.price - wholesale.price,
        currency=retail.currency,
        retail=retail,
        wholesale=wholesale,
    )
