"""Billing and anti-fraud decisions taken around an external call.

IvozProvider 3.4 documentation: §9.4.1 billing methods, §9.4.3 "Prepaid
balances" / "Current day usages", §7.5 "No rating plan, no call", §8.9.1
"Disable CDR", §12.3 GeoIP filter, §12.4 authorized IP ranges, §12.4.1
roadwarrior users (users' *Calls from non-granted IPs*, ``externalIpCalls``),
§12.5 concurrent call limit, §12.6 current day max usage.

Pure functions over frozen values: the caller reads balances, counters and
configuration and passes them in; nothing here reads a clock or a database.
Money rounding is the one of :mod:`polyvox.domain.rating` (4 decimals,
ROUND_HALF_UP).
"""

from __future__ import annotations

import enum
import functools
import ipaddress
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import Decimal

from polyvox.domain.rating import (
    CallCost,
    CannotRate,
    CannotRateReason,
    Rate,
    RateMatch,
    RatingAccount,
    active_profile,
    find_rate,
    max_affordable_duration,
    money_from_units,
    money_to_units,
    round_money,
)

__all__ = [
    "BillingAccount",
    "BillingMethod",
    "CallDecision",
    "ClientType",
    "DecisionReason",
    "Direction",
    "HangupReason",
    "InterimDebit",
    "IpFilter",
    "LimitDecision",
    "LimitReason",
    "Settlement",
    "SourceDecision",
    "SourceReason",
    "check_concurrent_calls",
    "check_source",
    "daily_limit_reached",
    "ip_filter_allows",
    "max_call_duration",
    "may_start_call",
    "prepaid_debit",
    "settle_call",
]

ZERO = Decimal("0.0000")


class BillingMethod(enum.StrEnum):
    """``Companies.billingMethod`` (§9.4.1)."""

    POSTPAID = "postpaid"
    PREPAID = "prepaid"
    PSEUDOPREPAID = "pseudoprepaid"
    NONE = "none"

    @property
    def uses_balance(self) -> bool:
        return self in (BillingMethod.PREPAID, BillingMethod.PSEUDOPREPAID)


class ClientType(enum.StrEnum):
    VPBX = "vpbx"
    RETAIL = "retail"
    RESIDENTIAL = "residential"
    WHOLESALE = "wholesale"


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


@dataclass(frozen=True)
class BillingAccount:
    """Billing state of a client as read just before the decision.

    ``balance`` and ``current_day_usage`` are the current values (for prepaid
    clients, interim debits of running calls already applied).
    ``max_daily_usage`` None = no limit.
    """

    rating: RatingAccount
    billing_method: BillingMethod = BillingMethod.POSTPAID
    balance: Decimal = ZERO
    current_day_usage: Decimal = ZERO
    max_daily_usage: Decimal | None = None


def daily_limit_reached(current_day_usage: Decimal, max_daily_usage: Decimal | None) -> bool:
    """§9.4.3 "Current day usages": the account is disabled when usage reaches the threshold."""
    return max_daily_usage is not None and current_day_usage >= max_daily_usage


# ------------------------------------------------------------------ max duration


def max_call_duration(
    balance: Decimal,
    rate: Rate,
    billing_method: BillingMethod = BillingMethod.PREPAID,
    *,
    cap: int | None = None,
) -> int | None:
    """Longest duration (seconds) a call may last with ``balance`` at call setup.

    §9.4.1: prepaid and pseudo-prepaid calls are limited to the maximum duration
    the balance pays for: the largest duration whose cost (connection fee + started
    charge periods, as debited during the call) is <= balance. 0 = the call cannot
    be afforded. None = no limit (postpaid, none, or free rate without ``cap``).
    """
    if not billing_method.uses_balance:
        return cap
    return max_affordable_duration(rate, balance, cap=cap)


# ------------------------------------------------------------------ call start


class DecisionReason(enum.StrEnum):
    ALLOWED = "allowed"
    DISABLE_CDR = "special_number_disable_cdr"
    BILLING_DISABLED = "billing_method_none"
    MAX_DAILY_USAGE = "max_daily_usage_reached"
    NO_BALANCE = "zero_or_negative_balance"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    CANNOT_RATE = "cannot_rate"


@dataclass(frozen=True)
class CallDecision:
    """Outcome of :func:`may_start_call`.

    ``rated``: the call goes through rating (CGRateS in IvozProvider).
    ``disable_cdr``: §8.9.1 special number: no CDR listing, no invoice, no recording.
    ``max_duration``: seconds the call may last (None = unlimited).
    """

    allowed: bool
    reason: DecisionReason
    rated: bool = False
    disable_cdr: bool = False
    max_duration: int | None = None
    match: RateMatch | None = None
    cannot_rate: CannotRate | None = None
    detail: str = ""


def may_start_call(
    account: BillingAccount,
    callee: str,
    start: datetime,
    *,
    routing_tag: str | None = None,
    special_numbers: Collection[str] = frozenset(),
    tz: tzinfo | None = None,
    max_duration_cap: int | None = None,
) -> CallDecision:
    """Authorise an external outgoing call of ``account`` to ``callee`` at ``start``.

    Order: §8.9.1 disable-CDR special number (allowed, never rated, no balance
    checks) → billing method none (allowed, not rated) → §12.6 max daily usage
    → §9.4.1 zero or negative balance (prepaid, pseudo-prepaid) → §7.5 the call
    must be rateable by the active rating profile → §9.4.1 duration limited to
    what the balance pays for (0 seconds = refused).
    """
    if callee in special_numbers:
        return CallDecision(True, DecisionReason.DISABLE_CDR, disable_cdr=True, max_duration=max_duration_cap)
    method = account.billing_method
    if method is BillingMethod.NONE:
        return CallDecision(True, DecisionReason.BILLING_DISABLED, max_duration=max_duration_cap)
    if daily_limit_reached(account.current_day_usage, account.max_daily_usage):
        return CallDecision(
            False,
            DecisionReason.MAX_DAILY_USAGE,
            detail=f"today's usage {account.current_day_usage} reached {account.max_daily_usage}",
        )
    if method.uses_balance and account.balance <= 0:
        return CallDecision(False, DecisionReason.NO_BALANCE, detail=f"balance {account.balance}")
    match = _rate(account.rating, callee, start, routing_tag, tz)
    if isinstance(match, CannotRate):
        return CallDecision(False, DecisionReason.CANNOT_RATE, cannot_rate=match, detail=match.detail)
    limit = max_call_duration(account.balance, match.rate, method, cap=max_duration_cap)
    if limit == 0:
        return CallDecision(
            False,
            DecisionReason.INSUFFICIENT_BALANCE,
            match=match,
            detail=f"balance {account.balance} does not pay for the call to {match.rate.destination}",
        )
    return CallDecision(True, DecisionReason.ALLOWED, rated=True, max_duration=limit, match=match)


def _rate(
    rating: RatingAccount, callee: str, start: datetime, routing_tag: str | None, tz: tzinfo | None
) -> RateMatch | CannotRate:
    profile = active_profile(rating.profiles, start, routing_tag)
    if profile is None:
        return CannotRate(CannotRateReason.NO_ACTIVE_PROFILE, f"{rating.name!r} has no active rating plan")
    if profile.plan_group.currency != rating.currency:
        return CannotRate(
            CannotRateReason.CURRENCY_MISMATCH,
            f"{rating.name!r} uses {rating.currency}, rating plan uses {profile.plan_group.currency}",
        )
    return find_rate(profile.plan_group, callee, start, tz=tz)


# ------------------------------------------------------------------ during / after the call


class HangupReason(enum.StrEnum):
    BALANCE_EXHAUSTED = "balance_exhausted"
    MAX_DAILY_USAGE = "max_daily_usage_reached"


@dataclass(frozen=True)
class InterimDebit:
    """One prepaid debit step.

    ``amount`` is debited now; ``paid_until`` is the second up to which the
    call is paid. ``hangup``: the client's calls must be hung up (§9.4.1:
    balance reached zero; §12.6: prepaid usage reached max daily usage).
    """

    amount: Decimal
    balance_after: Decimal
    current_day_usage_after: Decimal
    paid_until: int
    hangup: bool
    reason: HangupReason | None


def prepaid_debit(
    rate: Rate,
    elapsed: int,
    already_debited: Decimal,
    balance: Decimal,
    *,
    current_day_usage: Decimal = ZERO,
    max_daily_usage: Decimal | None = None,
) -> InterimDebit:
    """Prepaid interim debit at ``elapsed`` seconds into the call.

    Debits, in advance, every charge period started so far (plus the connection
    fee on the first debit): amount = cost(elapsed) - already_debited, never
    negative. The total debited therefore always equals the cost function,
    whatever the debit cadence. The full amount is debited even if it makes the
    balance negative (concurrent calls); the deductible-fee refund happens at
    :func:`settle_call`.
    """
    cost_units = rate.gross_units(elapsed)
    amount = max(0, cost_units - money_to_units(round_money(already_debited)))
    debit = money_from_units(amount)
    balance_after = balance - debit
    usage_after = current_day_usage + debit
    paid_until = rate.interval_start + rate.periods(elapsed) * rate.increment
    reason: HangupReason | None = None
    if balance_after <= 0:
        reason = HangupReason.BALANCE_EXHAUSTED
    elif daily_limit_reached(usage_after, max_daily_usage):
        reason = HangupReason.MAX_DAILY_USAGE
    return InterimDebit(
        amount=debit,
        balance_after=balance_after,
        current_day_usage_after=usage_after,
        paid_until=paid_until,
        hangup=reason is not None,
        reason=reason,
    )


@dataclass(frozen=True)
class Settlement:
    """Account after a call ended. ``movement`` is added to the balance (negative = debit)."""

    balance: Decimal
    current_day_usage: Decimal
    movement: Decimal
    hangup_all_calls: bool
    reason: HangupReason | None


def settle_call(
    account: BillingAccount, cost: CallCost, *, debited_during_call: Decimal = ZERO
) -> Settlement:
    """Apply the final price of a finished call (§9.4.1, §12.6).

    - none: nothing changes.
    - postpaid: balance untouched, today's usage += price; reaching max daily
      usage hangs up all the client's calls.
    - pseudo-prepaid: balance -= price after the call, usage as postpaid.
    - prepaid: debits already applied during the call; the difference
      (deductible connection fee refund, or a last partial period) is applied
      to balance and usage; zero balance or max daily usage hangs up all calls.
    """
    method = account.billing_method
    if method is BillingMethod.NONE:
        return Settlement(account.balance, account.current_day_usage, ZERO, False, None)
    delta = cost.charged - debited_during_call if method is BillingMethod.PREPAID else cost.charged
    movement = ZERO if method is BillingMethod.POSTPAID else -delta
    balance = account.balance + movement
    usage = account.current_day_usage + delta
    reason: HangupReason | None = None
    if method is BillingMethod.PREPAID and balance <= 0:
        reason = HangupReason.BALANCE_EXHAUSTED
    elif daily_limit_reached(usage, account.max_daily_usage):
        reason = HangupReason.MAX_DAILY_USAGE
    return Settlement(balance, usage, movement, reason is not None, reason)


# ------------------------------------------------------------------ concurrent calls


class LimitReason(enum.StrEnum):
    NOT_COUNTED = "not_counted"
    WITHIN_LIMITS = "within_limits"
    CLIENT_LIMIT = "client_max_calls_reached"
    BRAND_LIMIT = "brand_max_calls_reached"


@dataclass(frozen=True)
class LimitDecision:
    """``counted``: once established the call increments both counters.
    ``sip_status`` on refusal: 486 for inbound, 403 for outbound (KamTrunks)."""

    allowed: bool
    reason: LimitReason
    counted: bool
    sip_status: int | None = None


def check_concurrent_calls(
    *,
    direction: Direction,
    client_type: ClientType,
    brand_max_calls: int,
    brand_active_calls: int,
    client_max_calls: int,
    client_active_calls: int,
    external: bool = True,
) -> LimitDecision:
    """§12.5: independent brand and client counters of concurrent external calls.

    Inbound and outbound external calls count; internal calls do not; wholesale
    clients count outbound calls only (§9.1.4). 0 = unlimited. ``*_active_calls``
    are the calls already up (this one excluded); a counter at its limit refuses.
    """
    if min(brand_max_calls, brand_active_calls, client_max_calls, client_active_calls) < 0:
        raise ValueError("call limits and counters cannot be negative")
    if not external or (client_type is ClientType.WHOLESALE and direction is Direction.INBOUND):
        return _NOT_COUNTED
    inbound = direction is Direction.INBOUND
    if 0 < client_max_calls <= client_active_calls:
        return _CLIENT_LIMIT_INBOUND if inbound else _CLIENT_LIMIT_OUTBOUND
    if 0 < brand_max_calls <= brand_active_calls:
        return _BRAND_LIMIT_INBOUND if inbound else _BRAND_LIMIT_OUTBOUND
    return _WITHIN_LIMITS


# Decisions are immutable values: the few possible outcomes are built once.
_NOT_COUNTED = LimitDecision(True, LimitReason.NOT_COUNTED, counted=False)
_WITHIN_LIMITS = LimitDecision(True, LimitReason.WITHIN_LIMITS, counted=True)
_CLIENT_LIMIT_INBOUND = LimitDecision(False, LimitReason.CLIENT_LIMIT, counted=False, sip_status=486)
_CLIENT_LIMIT_OUTBOUND = LimitDecision(False, LimitReason.CLIENT_LIMIT, counted=False, sip_status=403)
_BRAND_LIMIT_INBOUND = LimitDecision(False, LimitReason.BRAND_LIMIT, counted=False, sip_status=486)
_BRAND_LIMIT_OUTBOUND = LimitDecision(False, LimitReason.BRAND_LIMIT, counted=False, sip_status=403)


# ------------------------------------------------------------------ IP filter / roadwarriors


_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class IpFilter:
    """Client *Filter by IP address* with authorized sources (CIDR) and GeoIP countries."""

    enabled: bool
    ranges: tuple[_Network, ...] = ()
    countries: frozenset[str] = frozenset()
    ipv4_masks: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        masks = tuple(
            (int(net.network_address), int(net.netmask))
            for net in self.ranges
            if isinstance(net, ipaddress.IPv4Network)
        )
        object.__setattr__(self, "ipv4_masks", masks)

    @classmethod
    def build(cls, enabled: bool, ranges: Iterable[str] = (), countries: Iterable[str] = ()) -> IpFilter:
        """Parse CIDR strings (a bare address is a /32 or /128; host bits are ignored)."""
        networks = tuple(ipaddress.ip_network(r.strip(), strict=False) for r in ranges)
        return cls(enabled, networks, frozenset(c.strip().upper() for c in countries))


@functools.lru_cache(maxsize=4096)
def _ipv4_int(text: str) -> int | None:
    """Fast path for a canonical dotted quad; None = let :mod:`ipaddress` decide.

    Memoised (bounded): a platform sees the same few source addresses over and over.
    """
    parts = text.split(".")
    if len(parts) != 4:
        return None
    value = 0
    for part in parts:
        if not (0 < len(part) <= 3 and part.isascii() and part.isdigit()) or (
            len(part) > 1 and part[0] == "0"
        ):
            return None
        octet = int(part)
        if octet > 255:
            return None
        value = value << 8 | octet
    return value


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def ip_filter_allows(ip_filter: IpFilter, source_ip: str, source_country: str | None = None) -> bool:
    """§12.3/§12.4: a disabled filter allows everything; an enabled one allows a
    source in an authorized range or from a GeoIP-allowed country (ISO code, as
    resolved by the caller). Enabled with both lists empty refuses everything;
    an unparseable source address is refused."""
    if not ip_filter.enabled:
        return True
    if source_country is not None and source_country.upper() in ip_filter.countries:
        return True
    fast = _ipv4_int(source_ip)
    if fast is not None:
        return any(fast & mask == net for net, mask in ip_filter.ipv4_masks)
    address = _parse_ip(source_ip)
    if address is None:
        return False
    return any(address in network for network in ip_filter.ranges)


class SourceReason(enum.StrEnum):
    FILTER_DISABLED = "ip_filter_disabled"
    GRANTED = "granted_source"
    ROADWARRIOR = "roadwarrior_call"
    ROADWARRIOR_NOT_A_CALL = "roadwarrior_non_call_request"
    NOT_GRANTED = "source_not_granted"
    ROADWARRIOR_LIMIT = "roadwarrior_limit_reached"


@dataclass(frozen=True)
class SourceDecision:
    """``counted``: the call uses one of the user's non-granted-IP call slots."""

    allowed: bool
    reason: SourceReason
    counted: bool = False


def check_source(
    ip_filter: IpFilter,
    source_ip: str,
    source_country: str | None = None,
    *,
    external_ip_calls: int = 0,
    active_non_granted_calls: int = 0,
    is_call: bool = True,
) -> SourceDecision:
    """§12.4.1 roadwarrior users: a request of a user from ``source_ip``.

    Filter disabled or source granted: allowed, not counted. Otherwise the user
    needs *Calls from non-granted IPs* (``external_ip_calls`` 1..3, 0 = None =
    must fulfil the IP policy): generated calls (``is_call``) are allowed while
    fewer than N of them are up from non-granted addresses, and counted; other
    requests (e.g. REGISTER, needed to receive calls) are allowed uncounted.
    """
    if external_ip_calls not in (0, 1, 2, 3):
        raise ValueError("externalIpCalls must be 0, 1, 2 or 3")
    if active_non_granted_calls < 0:
        raise ValueError("active_non_granted_calls cannot be negative")
    if not ip_filter.enabled:
        return _FILTER_DISABLED
    if ip_filter_allows(ip_filter, source_ip, source_country):
        return _GRANTED
    if external_ip_calls == 0:
        return _NOT_GRANTED
    if not is_call:
        return _ROADWARRIOR_NOT_A_CALL
    if active_non_granted_calls >= external_ip_calls:
        return _ROADWARRIOR_LIMIT
    return _ROADWARRIOR


_FILTER_DISABLED = SourceDecision(True, SourceReason.FILTER_DISABLED)
_GRANTED = SourceDecision(True, SourceReason.GRANTED)
_NOT_GRANTED = SourceDecision(False, SourceReason.NOT_GRANTED)
_ROADWARRIOR_NOT_A_CALL = SourceDecision(True, SourceReason.ROADWARRIOR_NOT_A_CALL)
_ROADWARRIOR_LIMIT = SourceDecision(False, SourceReason.ROADWARRIOR_LIMIT)
_ROADWARRIOR = SourceDecision(True, SourceReason.ROADWARRIOR, counted=True)
