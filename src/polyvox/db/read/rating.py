"""Rating plans and their destination rates (spec 9.4) as :mod:`polyvox.domain.rating` objects.

One loader for every role that prices a call: the API's call simulation and price checks,
proxy-trunks' "no rating plan, no call" check and LCR costs, the billing worker. A call is
thus checked at setup, simulated and billed with the same plan.

Stored rows the API would refuse to write are data faults; each is logged and left out, and
the rest of the plan still prices:

* a malformed destination rate (cost, connection fee, increments) prices nothing: its prefix
  falls back to a shorter one, or the call cannot be rated;
* a rating plan row whose destination rate group is gone, or whose timing cannot be read,
  is left out of its group.

Refusing the whole plan would instead stop every call of the client over one bad row (and
the worker would silently bill with an older rating profile). Names fall back from English
to Spanish (IvozProvider requires both), then to ``#id``; ``timeIn`` is a ``time`` or an ISO
``HH:MM[:SS]`` text (how SQLite may hand it back).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from polyvox.db.read import Run
from polyvox.domain.rating import DestinationRateGroup, Rate, RatingPlan, RatingPlanGroup, Timing, round_money

log = logging.getLogger(__name__)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

RatesLoader = Callable[[int, int | None], DestinationRateGroup | None]
"""(destination rate group id, brand id) -> the group; lets a caller cache the groups."""


def _t(name: str) -> Any:
    # imported on use: the proxies' scripts load the model only when they first read
    from polyvox.db.model import ENTITY

    return ENTITY[name].table


def _name(row: Any, default: str) -> str:
    return str(row.nameEn or row.nameEs or default)


def money(value: Any) -> Decimal:
    """A stored amount as money (empty = 0)."""
    return round_money(Decimal(str(value if value is not None else 0)))


def currency(run: Run, currency_id: int | None, brand_id: int | None) -> tuple[str, str]:
    """(iden, symbol) of a currency; none set means the brand's (spec 8.6); unknown = ("", "")."""
    if currency_id is None and brand_id is not None:
        b = _t("Brand")
        currency_id = run(select(b.c.currencyId).where(b.c.id == brand_id)).scalar()
    if currency_id is None:
        return "", ""
    cur = _t("Currency")
    row = run(select(cur.c.iden, cur.c.symbol).where(cur.c.id == currency_id)).first()
    return (row.iden or "", row.symbol or "") if row is not None else ("", "")


def zone(run: Run, timezone_id: int | None) -> ZoneInfo:
    """The zone of a ``Timezone`` row; none, unknown or unreadable means UTC."""
    tz = _t("Timezone")
    name = run(select(tz.c.tz).where(tz.c.id == timezone_id)).scalar() if timezone_id else None
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return ZoneInfo("UTC")


def destination_rate_group(run: Run, drg_id: int, brand_id: int | None) -> DestinationRateGroup | None:
    """The destination rate group ``drg_id`` with its rates (None if it does not exist)."""
    drg_t, dr, dest = _t("DestinationRateGroup"), _t("DestinationRate"), _t("Destination")
    g = run(select(drg_t).where(drg_t.c.id == drg_id)).first()
    if g is None:
        return None
    rows = run(select(dr, dest.c.prefix, dest.c.nameEn, dest.c.nameEs).join(dest, dest.c.id == dr.c.destinationId)
               .where(dr.c.destinationRateGroupId == drg_id).order_by(dr.c.id)).all()
    rates = []
    for r in rows:
        try:
            rates.append(Rate.from_ivoz(
                prefix=r.prefix, destination=_name(r, r.prefix), rate=money(r.cost), connect_fee=money(r.connectFee),
                rate_increment=str(r.rateIncrement or "1s"), group_interval_start=str(r.groupIntervalStart or "0s")))
        except (ValueError, InvalidOperation) as e:
            log.warning("destination rate #%s of destination rate group #%s left out: %s", r.id, drg_id, e)
    return DestinationRateGroup(name=_name(g, f"#{g.id}"), currency=currency(run, g.currencyId, brand_id)[0],
                                rates=tuple(rates), deductible_connection_fee=bool(g.deductibleConnectionFee))


def plan_timing(m: Any) -> Timing:
    """The timing of a ``RatingPlan`` row (its mapping): always, or custom weekdays from ``timeIn``."""
    if (m["timingType"] or "always") != "custom":
        return Timing()
    days = [i for i, d in enumerate(WEEKDAYS) if m[d] is None or bool(m[d])]
    t_in = m["timeIn"] or time(0)
    if isinstance(t_in, str):
        t_in = time.fromisoformat(t_in)
    return Timing.custom(days, t_in)


def plan_group(run: Run, group_id: int, rates: RatesLoader | None = None) -> RatingPlanGroup | None:
    """The rating plan group ``group_id`` with its rating plans (None if it does not exist).
    ``rates`` loads a destination rate group (default: :func:`destination_rate_group`)."""
    load_rates: RatesLoader = rates or (lambda drg_id, brand_id: destination_rate_group(run, drg_id, brand_id))
    g_t, rp = _t("RatingPlanGroup"), _t("RatingPlan")
    g = run(select(g_t).where(g_t.c.id == group_id)).first()
    if g is None:
        return None
    plans = []
    for row in run(select(rp).where(rp.c.ratingPlanGroupId == group_id).order_by(rp.c.id)).all():
        drg = load_rates(row.destinationRateGroupId, g.brandId) if row.destinationRateGroupId is not None else None
        if drg is None:
            log.warning("rating plan #%s of rating plan group #%s left out: no destination rate group #%s",
                        row.id, group_id, row.destinationRateGroupId)
            continue
        m = row._mapping
        try:
            weight = Decimal(str(m["weight"])) if m["weight"] is not None else Decimal("10")
            plans.append(RatingPlan(drg, weight=weight, timing=plan_timing(m)))
        except (ValueError, InvalidOperation) as e:
            log.warning("rating plan #%s of rating plan group #%s left out: %s", row.id, group_id, e)
    return RatingPlanGroup(name=_name(g, f"#{g.id}"), currency=currency(run, g.currencyId, g.brandId)[0],
                           plans=tuple(plans))


def plan_group_symbol(run: Run, group_id: int) -> str:
    """The currency symbol of a rating plan group's prices ("" when unknown)."""
    g = _t("RatingPlanGroup")
    row = run(select(g.c.currencyId, g.c.brandId).where(g.c.id == group_id)).first()
    return currency(run, row.currencyId, row.brandId)[1] if row is not None else ""
